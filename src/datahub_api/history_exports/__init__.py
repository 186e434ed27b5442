"""Yearly one-off history exports."""
