"""The optional emission_samples asset: every Monte-Carlo sample of a tenant-year as a Delta table,
the same draws as emission_distributions (its percentiles recomputed from the samples are equal)."""

import dagster as dg
import numpy as np
import polars as pl
import pytest

from carbon_assets import runner
from carbon_assets.engine import montecarlo
from carbon_assets.engine.params import CalcParams

PARAMS = CalcParams(mc_samples=1000)


def test_samples_table_matches_the_distribution_summary(factors_ready):
    tmp, d, inst = factors_ready
    assert runner.materialize_tenant_year(d, inst, "acme-fr", "2024", PARAMS).success
    job = d.get_implicit_global_asset_job_def()
    res = job.execute_in_process(instance=inst, asset_selection=[dg.AssetKey("emission_samples")],
                                 partition_key=dg.MultiPartitionKey({"tenant": "acme-fr", "year": "2024"}),
                                 run_config=runner.params_run_config(PARAMS))
    assert res.success
    samples = pl.read_delta(str(tmp / "lake" / "emission_samples"))
    dist = pl.read_delta(str(tmp / "lake" / "emission_distributions"))
    groups = dist.select("scope", "category").rows()
    assert samples.height == len(groups) * 1000 and samples["signature"].n_unique() == 1
    for scope, category in groups:
        s = samples.filter((pl.col("scope") == scope) & pl.col("category").eq_missing(category)).sort("sample")
        assert s["sample"].to_list() == list(range(1000))
        row = dist.filter((pl.col("scope") == scope) & pl.col("category").eq_missing(category)).row(0, named=True)
        p = np.percentile(s["kgco2e"].to_numpy(), montecarlo.PERCENTILES)
        assert [row["p2_5_kgco2e"], row["p5_kgco2e"], row["median_kgco2e"], row["p95_kgco2e"],
                row["p97_5_kgco2e"]] == p.tolist()
        assert row["mean_kgco2e"] == pytest.approx(s["kgco2e"].mean(), rel=1e-14)  # summation order only
