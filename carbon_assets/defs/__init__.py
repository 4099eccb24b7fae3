"""Dagster glue only (autoloaded by carbon_assets.definitions)."""
