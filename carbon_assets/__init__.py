"""carbon_assets: a carbon-accounting engine built as a Dagster asset graph."""

__version__ = "0.1.0"
