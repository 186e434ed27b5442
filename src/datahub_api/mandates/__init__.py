"""Consent and mandates. Importing the service subscribes it to grid-user changes."""
