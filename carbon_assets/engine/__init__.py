"""Pure domain code: no Dagster, no partitions, no lake layout."""
