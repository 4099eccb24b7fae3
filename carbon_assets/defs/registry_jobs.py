"""The registry step of the factor refresh: publish the current factor snapshot to SQL."""

import dagster as dg

from carbon_assets.defs.jobs import JSON_LOGS

factor_registry_job = dg.define_asset_job(
    "factor_registry_job", selection=dg.AssetSelection.assets("factor_registry"),
    description="Publish the factor snapshot to the SQL registry and make it current.", config=JSON_LOGS,
)
