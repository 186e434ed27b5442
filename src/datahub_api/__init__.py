"""datahub-api: a DSO's metering-data hub for energy service providers."""
