"""The single instances of every partitions definition."""

import dagster as dg

from carbon_assets import settings
from carbon_assets.engine.factors import discover_mappings
from carbon_assets.engine.params import validate_tenant_slug

TENANTS = "tenants"
tenant_partitions = dg.DynamicPartitionsDefinition(name=TENANTS)
# end_offset=1: the open year has a partition, so files for the current year can land.
year_partitions = dg.TimeWindowPartitionsDefinition(cron_schedule="0 0 1 1 *", start="2020", fmt="%Y", end_offset=1)
tenant_year_partitions = dg.MultiPartitionsDefinition({"tenant": tenant_partitions, "year": year_partitions})

# One partition per factor namespace that has at least one mapping: a new YAML mapping adds it.
namespace_partitions = dg.StaticPartitionsDefinition(
    sorted({m.namespace for m in discover_mappings(settings.data_dir() / "mappings")})
)


def tenant_year(context) -> tuple[str, str]:
    """(tenant, year) of the run; a tenant added by hand with a bad slug fails here, before any read."""
    keys = context.partition_key.keys_by_dimension
    return validate_tenant_slug(keys["tenant"]), keys["year"]
