"""The change feed: what happened to an ESP organisation's mandates, data and exports."""
