"""Test inputs for the export and HTML report tests: the demo tenants' real emission lines (computed
from data/inbox with the shipped factor samples) and the report frames the pipeline derives from them:
report views (engine/report_views.py, market basis from data/tenants/<tenant>/scope2_instruments.csv),
ESRS E1-6 datapoints (engine/esrs.py, revenue from company.yaml), the trajectory (engine/trajectory.py),
the inventory and sensitivity (engine/reports.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl

from carbon_assets.engine import activities, emissions, esrs, factors, report_views, reports, scope2_market
from carbon_assets.engine import trajectory as trajectory_mod
from carbon_assets.engine.params import CalcParams

DATA = Path(__file__).resolve().parents[2] / "data"
PARAMS = CalcParams(mc_samples=2000, mc_seed=42)
SIGNATURE = "sha256-" + "ab" * 32


@cache
def snapshot() -> pl.DataFrame:
    nss = sorted({m.namespace for m in factors.discover_mappings(DATA / "mappings")})
    return factors.build_snapshot([factors.read_namespace(DATA / "mappings", DATA / "factors", ns)[0] for ns in nss])


@cache
def demo_emissions(tenant: str, year: str) -> tuple[pl.DataFrame, int]:
    """(emission lines, rejected rows) of a demo tenant-year, as the pipeline computes them."""
    files = sorted((DATA / "inbox" / tenant / year).glob("*.csv"))
    mapping = activities.ColumnMapping.load(activities.tenant_mapping_path(DATA / "tenants", tenant))
    raw = activities.read_raw([(f.name, f) for f in files], tenant, year, mapping)
    acts, rej = activities.normalise(raw, mapping, activities.load_vocabulary(DATA / "activity_keys.yaml"))
    em = emissions.compute(acts, snapshot(), PARAMS, emissions.load_tie_break(DATA / "selection.yaml"))
    return em.with_columns(pl.lit(SIGNATURE).alias("signature")), rej.height


@dataclass(frozen=True)
class Inputs:
    tenant: str
    year: str
    emissions: pl.DataFrame
    rejects: int
    inventory: pl.DataFrame
    views: pl.DataFrame
    esrs: pl.DataFrame
    company: dict | None
    sensitivity: pl.DataFrame
    total_samples: np.ndarray  # location-based total, kgCO2e


@cache
def inputs(tenant: str = "acme-fr", year: str = "2024") -> Inputs:
    em, n_rej = demo_emissions(tenant, year)
    loc = reports.simulate(em, tenant, year, PARAMS, backend="numpy")[0]
    instruments = scope2_market.load_instruments(DATA / "tenants" / tenant / "scope2_instruments.csv")
    vocabulary = activities.load_vocabulary(DATA / "activity_keys.yaml")
    views, problem, totals = report_views.views(em, snapshot(), instruments, vocabulary, tenant, year, PARAMS,
                                                backend="numpy",
                                                tie_break=emissions.load_tie_break(DATA / "selection.yaml"))
    rows = report_views.group_rows(problem).filter((pl.col("view") == "total") & (pl.col("basis") == "location"))
    company = esrs.load_company(DATA / "tenants" / tenant / "company.yaml")
    return Inputs(tenant, year, em, n_rej, reports.inventory(loc, SIGNATURE), views,
                  esrs.datapoints(views, company, tenant, year), company, reports.sensitivity(em, tenant, year),
                  totals[rows["group_index"][0]].copy())


@cache
def trajectory(tenant: str = "acme-fr", years: tuple[str, ...] = ("2024", "2025")) -> pl.DataFrame:
    """The trajectory frame: each year's total and its change from the previous year (shared factor draws)."""
    return trajectory_mod.trajectory({y: demo_emissions(tenant, y)[0] for y in years}, tenant, PARAMS,
                                     backend="numpy")
