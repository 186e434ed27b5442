"""Budgets shared by every process: API rate limits, login, registration and token-endpoint
throttles, counted in Redis (``DATAHUB_REDIS_URL``) or else in PostgreSQL."""
