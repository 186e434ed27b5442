"""Webhooks: ESP endpoints that receive the change feed, signed per Standard Webhooks."""
