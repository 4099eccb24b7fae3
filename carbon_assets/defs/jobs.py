"""Jobs: the tenant-year calculation and the factor refresh."""

import dagster as dg

from carbon_assets.defs.partitions import namespace_partitions, tenant_year_partitions

# The console logger is the JSON one (json_logs.py); naming it in the jobs' default config makes
# Dagster use it rather than its built-in coloured console (a run may still set another level).
JSON_LOGS = {"loggers": {"console": {"config": {"log_level": "DEBUG"}}}}

TENANT_YEAR_ASSETS = ["raw_activities", "activities", "activity_rejects", "emissions", "emission_distributions",
                      "sensitivity", "inventory_report", "report_views", "esrs_e1_6", "trajectory", "calculations",
                      "exports"]

tenant_year_job = dg.define_asset_job(
    "tenant_year_job", selection=dg.AssetSelection.assets(*TENANT_YEAR_ASSETS), partitions_def=tenant_year_partitions,
    description="Everything of one tenant-year, from its inbox files to its published reports.", config=JSON_LOGS,
)
emission_factors_job = dg.define_asset_job(
    "emission_factors_job", selection=dg.AssetSelection.assets("emission_factors"),
    partitions_def=namespace_partitions, description="Re-read one factor namespace from its mappings.",
    config=JSON_LOGS,
)
factor_snapshot_job = dg.define_asset_job(
    "factor_snapshot_job", selection=dg.AssetSelection.assets("factor_snapshot"),
    description="Rebuild the factor snapshot from every namespace.", config=JSON_LOGS,
)
