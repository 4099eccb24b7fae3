"""Materialize the graph through the code location's own jobs (used by the CLI and the tests)."""

from __future__ import annotations

import dagster as dg

from carbon_assets.defs.jobs import emission_factors_job, factor_snapshot_job, tenant_year_job
from carbon_assets.defs.partitions import TENANTS, namespace_partitions
from carbon_assets.defs.registry_jobs import factor_registry_job
from carbon_assets.engine.params import CalcParams, validate_tenant_slug


def params_run_config(params: CalcParams, log_level: str | None = None) -> dict:
    """Run config that sets the `params` resource for one run (and the console log level if given)."""
    cfg = {
        "github_repo_url": params.github_repo_url, "primary_fe_namespace": params.primary_fe_namespace,
        "default_gwp": params.default_gwp, "compute_mode": params.compute_mode,
        "fe_namespace_priority": list(params.fe_namespace_priority), "mc_samples": params.mc_samples,
        "mc_seed": params.mc_seed,
    }
    if params.tenant_name:
        cfg["tenant_name"] = params.tenant_name
    return {"resources": {"params": {"config": cfg}}, **_log_config(log_level)}


def _job(defs: dg.Definitions, job: dg.UnresolvedAssetJobDefinition) -> dg.JobDefinition:
    return defs.resolve_job_def(job.name)


def _log_config(log_level: str | None) -> dict:
    """The JSON console logger (defs/json_logs.py) at ``log_level`` (default: the jobs' own, DEBUG)."""
    return {"loggers": {"console": {"config": {"log_level": log_level or "DEBUG"}}}}


def materialize_factors(defs: dg.Definitions, instance: dg.DagsterInstance, log_level: str | None = None,
                        raise_on_error: bool = True) -> list[dg.ExecuteInProcessResult]:
    """Every factor namespace, then the snapshot, then its publication to the SQL registry."""
    cfg = _log_config(log_level)
    results = [
        _job(defs, emission_factors_job).execute_in_process(instance=instance, partition_key=ns, run_config=cfg,
                                                            raise_on_error=raise_on_error)
        for ns in namespace_partitions.get_partition_keys()
    ]
    for job in (factor_snapshot_job, factor_registry_job):
        results.append(_job(defs, job).execute_in_process(instance=instance, run_config=cfg,
                                                          raise_on_error=raise_on_error))
    return results


def materialize_tenant_year(defs: dg.Definitions, instance: dg.DagsterInstance, tenant: str, year: str,
                            params: CalcParams, raise_on_error: bool = True,
                            log_level: str | None = None) -> dg.ExecuteInProcessResult:
    validate_tenant_slug(tenant)
    if tenant not in instance.get_dynamic_partitions(TENANTS):
        instance.add_dynamic_partitions(TENANTS, [tenant])
    key = dg.MultiPartitionKey({"tenant": tenant, "year": year})
    return _job(defs, tenant_year_job).execute_in_process(
        instance=instance, partition_key=key, run_config=params_run_config(params, log_level),
        tags={"carbon/tenant": tenant}, raise_on_error=raise_on_error)
