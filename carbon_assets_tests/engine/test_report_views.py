"""Report views: one Monte-Carlo model for every row (scope, Scope 3 category, BEGES poste, category,
totals; location- and market-based).

Emissions are built by the real engine from the demo inbox (activities + emissions against a snapshot
of the shipped factor samples). Hand checks, acme-fr 2024: electricity 120,000 kWh x ADEME 0.052 =
6,240 kg location-based; with the 60 MWh hydro GO and no residual mix, 60,000 x 0.052 = 3,120 kg
market-based.
"""

import datetime
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from carbon_assets import bench
from carbon_assets.engine import (
    activities,
    emissions,
    factors,
    lineage,
    montecarlo,
    postes,
    report_views,
    reports,
    scope2_market,
)
from carbon_assets.engine.activities import ACTIVITY_SCHEMA
from carbon_assets.engine.errors import InputError
from carbon_assets.engine.params import CalcParams

DATA = Path(__file__).resolve().parents[2] / "data"
PARAMS = CalcParams(mc_samples=2000, mc_seed=42)
SIGNATURE = "sha256-" + "cd" * 32


@cache
def demo_snapshot() -> pl.DataFrame:
    """Every shipped factor sample, as the factor_snapshot asset unions them."""
    nss = sorted({m.namespace for m in factors.discover_mappings(DATA / "mappings")})
    return factors.build_snapshot([factors.read_namespace(DATA / "mappings", DATA / "factors", ns)[0]
                                   for ns in nss])


@cache
def vocabulary() -> dict:
    return activities.load_vocabulary(DATA / "activity_keys.yaml")


@cache
def demo_emissions(tenant: str, year: str) -> pl.DataFrame:
    files = sorted((DATA / "inbox" / tenant / year).glob("*.csv"))
    mapping = activities.ColumnMapping.load(activities.tenant_mapping_path(DATA / "tenants", tenant))
    acts, _ = activities.normalise(activities.read_raw([(f.name, f) for f in files], tenant, year, mapping),
                                   mapping, vocabulary())
    em = emissions.compute(acts, demo_snapshot(), PARAMS, emissions.load_tie_break(DATA / "selection.yaml"))
    return em.with_columns(pl.lit(SIGNATURE).alias("signature"))


def instruments(tenant: str) -> pl.DataFrame:
    return scope2_market.load_instruments(DATA / "tenants" / tenant / "scope2_instruments.csv")


def demo_views(tenant: str, year: str, **kw):
    return report_views.views(demo_emissions(tenant, year), demo_snapshot(), instruments(tenant),
                              vocabulary(), tenant, year, PARAMS, **kw)


def _row(v: pl.DataFrame, view: str, basis: str, key: str) -> dict:
    out = v.filter((pl.col("view") == view) & (pl.col("basis") == basis) & (pl.col("key") == key))
    assert out.height == 1, (view, basis, key)
    return out.row(0, named=True)


def _em(em: pl.DataFrame, **eq) -> float:
    m = em.filter(pl.col("match_status") == "matched")
    for c, val in eq.items():
        m = m.filter(pl.col(c) == val)
    return m["em_kgco2e"].sum()


# ------------------------------------------------------------------------------------------------ postes


def test_poste_table_and_vocabulary():
    table = postes.load()
    assert sorted(table.labels) == list(range(1, 24))
    assert table.labels[6] == "Émissions indirectes liées à la consommation d'électricité"
    assert table.labels[13] == "Déplacements professionnels"
    assert [table.scopes[p] for p in (1, 5, 6, 7, 8, 23)] == ["1", "1", "2", "2", "3", "3"]
    assert table.by_scope3_category[6] == 13 and table.by_scope3_category[7] == 22
    declared = postes.declared_postes(vocabulary(), table)
    assert set(declared) == set(vocabulary())  # every shipped activity key declares its poste
    keys = ("electricity.grid", "electricity.td_losses", "fuel.natural_gas", "fuel.diesel",
            "freight.hgv.average", "travel.taxi")
    assert [declared[k] for k in keys] == [6, 8, 1, 2, 12, 13]


def test_vocabulary_with_poste_still_normalises(tmp_path):
    """activities.load_vocabulary / normalise accept the extra key and keep scope, category as before."""
    f = tmp_path / "a.csv"
    f.write_text("date,activity_key,quantity,unit\n2024-03-31,fuel.diesel,10,litres\n", encoding="utf-8")
    mapping = activities.ColumnMapping.load(DATA / "tenants" / "default_mapping.yaml")
    acts, rej = activities.normalise(activities.read_raw([("a.csv", f)], "t", "2024"), mapping, vocabulary())
    assert rej.height == 0 and acts.select("scope", "category").row(0) == ("1", "Mobile combustion")


@pytest.mark.parametrize(("entry", "value"), [
    ({"scope": "1", "poste": 13}, 13), ({"scope": "3", "poste": 24}, 24),
    ({"scope": "2", "poste": "6"}, "6")])
def test_bad_declared_poste_names_the_key(entry, value):
    with pytest.raises(InputError) as err:
        postes.declared_postes({"my.key": entry}, postes.load())
    assert err.value.column == "my.key.poste" and err.value.value == value


def test_bad_poste_table(tmp_path):
    p = tmp_path / "postes.yaml"
    spec = yaml.safe_load((DATA / "postes.yaml").read_text(encoding="utf-8"))
    spec["scope3_category_to_poste"][6] = 1  # a scope 1 poste for business travel
    p.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    with pytest.raises(InputError, match="Scope 3 poste") as err:
        postes.load(p)
    assert err.value.file == str(p) and err.value.column == "scope3_category_to_poste.6"


# ------------------------------------------------------------------------------------------------- views


def test_acme_2024_hand_checked():
    em = demo_emissions("acme-fr", "2024")
    v, problem, totals = demo_views("acme-fr", "2024")
    assert v.schema == pl.Schema(report_views.VIEW_SCHEMA)
    assert totals.shape == (problem.n_groups, PARAMS.mc_samples)
    # ADEME gas (AR5 gas split re-based to AR6: CH4 fossil 30 -> 29.8, N2O 265 -> 273), 85,000 kWh PCS
    gas = 85000 * (0.205 + 0.0101 * 29.8 / 30)
    diesel = 4200 * (3.04 + 0.00622 * 29.8 / 30 + 0.0537 * 273 / 265)  # ADEME gazole B7, 4,200 L
    s1 = gas + diesel
    s3 = 22000 * 0.20011 + 2750 * 0.18287 + 12 * 10.4  # DESNZ 2024 long/short haul economy, hotel night
    assert _em(em, scope="1") == pytest.approx(s1, rel=1e-12)
    assert _em(em, scope="3") == pytest.approx(s3, rel=1e-12)
    expected = {
        ("scope", "both", "1"): s1, ("scope", "location", "2"): 6240.0, ("scope", "market", "2"): 3120.0,
        ("scope", "both", "3"): s3, ("scope3_category", "both", "6"): s3,
        ("poste", "location", "1"): gas, ("poste", "location", "2"): diesel,
        ("poste", "location", "6"): 6240.0, ("poste", "market", "6"): 3120.0, ("poste", "location", "13"): s3,
        ("category", "both", "1|Stationary combustion"): gas,
        ("category", "both", "1|Mobile combustion"): diesel,
        ("category", "location", "2|Purchased electricity"): 6240.0,
        ("category", "market", "2|Purchased electricity"): 3120.0,
        ("category", "both", "3|Business travel"): s3,
        ("total", "location", "total"): s1 + 6240.0 + s3, ("total", "market", "total"): s1 + 3120.0 + s3}
    got = {(r["view"], r["basis"], r["key"]): r["deterministic_kgco2e"] for r in v.iter_rows(named=True)}
    assert got.keys() == expected.keys()
    for k, val in expected.items():
        assert got[k] == pytest.approx(val, rel=1e-12), k
    assert got[("total", "location", "total")] == pytest.approx(42574.19, abs=0.005)  # the demo's 42.57 t
    assert _row(v, "poste", "location", "6")["label"] == \
        "Émissions indirectes liées à la consommation d'électricité"
    assert _row(v, "scope", "market", "2")["label"] == "Scope 2 (market-based)"
    assert _row(v, "scope3_category", "both", "6")["label"] == "Business travel"
    # lines: 4 bills (split in 5 market pieces, counted once), 3 scope 1 lines, 3 matched travel lines
    n = {(r["view"], r["basis"], r["key"]): r["n_lines"] for r in v.iter_rows(named=True)}
    assert n[("scope", "market", "2")] == 4 and n[("scope", "both", "1")] == 3
    assert n[("total", "market", "total")] == 10
    assert set(v["signature"]) == {SIGNATURE}
    assert set(v["tenant"]) == {"acme-fr"} and set(v["year"]) == {"2024"}


def test_row_order_is_sorted():
    v = demo_views("globex-uk", "2024")[0]
    rank = [(report_views.VIEWS.index(r["view"]), int(r["key"]) if r["key"].isdigit() else 10**6, r["key"],
             report_views.BASES.index(r["basis"])) for r in v.iter_rows(named=True)]
    assert rank == sorted(rank)
    assert v.filter(pl.col("view") == "scope3_category")["key"].to_list() == ["1", "3", "4", "6"]
    assert v.filter(pl.col("view") == "poste")["key"].to_list() == ["1", "2", "6", "6", "8", "9", "12", "13"]


@pytest.mark.parametrize("tenant", ["acme-fr", "globex-uk"])
def test_parts_add_up_to_totals_in_every_sample(tenant):
    """Postes, scopes and categories of a basis sum to that basis' total, deterministic and sample by sample
    (all rows share the factor draws); Scope 3 categories sum to Scope 3."""
    v, problem, totals = demo_views(tenant, "2025")
    rows = report_views.group_rows(problem)
    assert rows.height == v.height
    idx = {(r["view"], r["basis"], r["key"]): r["group_index"] for r in rows.iter_rows(named=True)}
    det = problem.deterministic()

    for basis in ("location", "market"):
        t = idx[("total", basis, "total")]
        for view in ("scope", "category"):
            members = [i for (vw, b, k), i in idx.items() if vw == view and (b == basis or b == "both")]
            np.testing.assert_allclose(totals[members].sum(axis=0), totals[t], rtol=1e-12)
            assert det[members].sum() == pytest.approx(det[t], rel=1e-12)
        # postes: the location postes; on the market basis the market rows replace their location twins
        loc = {k: i for (vw, b, k), i in idx.items() if vw == "poste" and b == "location"}
        mkt = {k: i for (vw, b, k), i in idx.items() if vw == "poste" and b == "market"}
        members = list({**loc, **mkt}.values()) if basis == "market" else list(loc.values())
        np.testing.assert_allclose(totals[members].sum(axis=0), totals[t], rtol=1e-12)
    cats = [i for (vw, _, _), i in idx.items() if vw == "scope3_category"]
    np.testing.assert_allclose(totals[cats].sum(axis=0), totals[idx[("scope", "both", "3")]], rtol=1e-12)
    # the two totals differ by exactly the two Scope 2 figures in every sample
    diff = totals[idx[("total", "market", "total")]] - totals[idx[("total", "location", "total")]]
    s2 = totals[idx[("scope", "market", "2")]] - totals[idx[("scope", "location", "2")]]
    np.testing.assert_allclose(diff, s2, rtol=1e-9, atol=1e-9 * det[idx[("total", "location", "total")]])
    # the frame's summaries are those of the returned samples
    for r in v.iter_rows(named=True):
        i = idx[(r["view"], r["basis"], r["key"])]
        assert r["mean_kgco2e"] == pytest.approx(totals[i].mean(), rel=1e-12)
        assert r["p95_kgco2e"] == pytest.approx(np.percentile(totals[i], 95), rel=1e-12)


@pytest.mark.parametrize("tenant", ["acme-fr", "globex-uk"])
def test_location_total_equals_reports_simulate(tenant):
    v = demo_views(tenant, "2024")[0]
    dist, _, _ = reports.simulate(demo_emissions(tenant, "2024"), tenant, "2024", PARAMS)
    ref = dist.filter(pl.col("scope") == reports.TOTAL).row(0, named=True)
    mine = _row(v, "total", "location", "total")
    assert mine["deterministic_kgco2e"] == ref["deterministic_kgco2e"]
    for c in ("mean_kgco2e", "median_kgco2e", "p2_5_kgco2e", "p5_kgco2e", "p95_kgco2e", "p97_5_kgco2e"):
        assert mine[c] == pytest.approx(ref[c], rel=1e-9), c
    assert mine["n_lines"] == ref["n_lines"]


def test_location_total_equals_simulate_with_activity_uncertainty_and_heat():
    """2,000 synthetic lines (30% with activity uncertainty, scope 2 electricity and heat in 6 regions):
    the location total still equals reports.simulate's; heat keeps its factor on the market basis."""
    em = bench.synthetic_emissions(2000, 60, seed=3)
    voc = {k: {"scope": s, "scope3_category": c, "category": cat} for s, c, cat, k, _ in bench.CATEGORIES}
    for key, poste in (("fuel.stationary", 1), ("fuel.mobile", 2), ("refrigerant", 4),
                       ("electricity.grid", 6), ("heat.network", 7)):
        voc[key]["poste"] = poste
    params = CalcParams(mc_samples=3000, mc_seed=11)
    v = report_views.views(em, demo_snapshot(), instruments("acme-fr").clear(), voc, "bench", "2025", params,
                           backend="numpy")[0]
    ref = reports.simulate(em, "bench", "2025", params, backend="numpy")[0].filter(pl.col("scope") == "total")
    mine = _row(v, "total", "location", "total")
    assert mine["deterministic_kgco2e"] == ref["deterministic_kgco2e"][0]
    for c in ("mean_kgco2e", "median_kgco2e", "p2_5_kgco2e", "p97_5_kgco2e"):
        assert mine[c] == pytest.approx(ref[c][0], rel=1e-9), c
    # no instruments, no residual mix: market-based = location-based, row by row
    assert _row(v, "total", "market", "total")["deterministic_kgco2e"] == pytest.approx(
        mine["deterministic_kgco2e"], rel=1e-12)
    assert _row(v, "poste", "market", "7")["deterministic_kgco2e"] == pytest.approx(
        _row(v, "poste", "location", "7")["deterministic_kgco2e"], rel=1e-12)
    postes_loc = v.filter((pl.col("view") == "poste") & (pl.col("basis") == "location"))
    assert postes_loc["deterministic_kgco2e"].sum() == pytest.approx(mine["deterministic_kgco2e"], rel=1e-12)
    assert postes_loc["n_lines"].sum() == 2000


def test_residual_mix_in_the_views():
    """Synthetic residual mix r = 0.4: market Scope 2 = 60,000 x 0.4 = 24,000 kg, total market moves by
    24,000 - 6,240 against the location total."""
    from carbon_assets_tests.engine.test_scope2_market import with_residual_mix

    snap = with_residual_mix(demo_snapshot(), 0.4)
    v = report_views.views(demo_emissions("acme-fr", "2024"), snap, instruments("acme-fr"), vocabulary(),
                           "acme-fr", "2024", PARAMS)[0]
    assert _row(v, "scope", "market", "2")["deterministic_kgco2e"] == pytest.approx(24000.0, rel=1e-12)
    loc, mkt = _row(v, "total", "location", "total"), _row(v, "total", "market", "total")
    assert mkt["deterministic_kgco2e"] - loc["deterministic_kgco2e"] == pytest.approx(24000.0 - 6240.0,
                                                                                      rel=1e-9)


def test_line_without_declared_poste_is_unassigned_not_dropped():
    """An explicit factor_id line has no activity key: scope 1 from its factor, no poste to infer."""
    line = {c: None for c in ACTIVITY_SCHEMA} | {
        "tenant": "acme-fr", "year": "2024", "activity_id": "x-1", "date": datetime.date(2024, 5, 1),
        "requested_factor_id": "DEFRA:1_101_1011_8", "quantity": 100.0, "unit": "L", "source_file": "x.csv",
        "source_sha256": "0" * 64, "source_row": 2}
    acts = pl.DataFrame([line], schema=ACTIVITY_SCHEMA, orient="row")
    extra = emissions.compute(acts, demo_snapshot(), PARAMS).with_columns(signature=pl.lit(SIGNATURE))
    assert extra["match_status"][0] == "matched" and extra["scope"][0] == "1"
    em = pl.concat([demo_emissions("acme-fr", "2024"), extra])
    v = report_views.views(em, demo_snapshot(), instruments("acme-fr"), vocabulary(), "acme-fr", "2024",
                           PARAMS)[0]
    un = _row(v, "poste", "location", postes.UNASSIGNED)
    assert un["deterministic_kgco2e"] == pytest.approx(100 * 2.51279, rel=1e-12)  # 100 L x DESNZ diesel
    assert un["n_lines"] == 1 and un["label"] == postes.UNASSIGNED_LABEL
    loc = v.filter((pl.col("view") == "poste") & (pl.col("basis") == "location"))
    loc = loc["deterministic_kgco2e"].sum()
    assert loc == pytest.approx(_row(v, "total", "location", "total")["deterministic_kgco2e"], rel=1e-12)


def test_deterministic_output_and_backends():
    a = demo_views("globex-uk", "2025")[0]
    b = report_views.views(demo_emissions("globex-uk", "2025").reverse(), demo_snapshot(),
                           instruments("globex-uk"), vocabulary(), "globex-uk", "2025", PARAMS)[0]
    assert lineage.frame_bytes(a) == lineage.frame_bytes(b) and a.equals(b)
    if montecarlo.kernel_available():
        rust = demo_views("globex-uk", "2025", backend="rust")[0]
        numpy = demo_views("globex-uk", "2025", backend="numpy")[0]
        np.testing.assert_allclose(rust["p97_5_kgco2e"].to_numpy(), numpy["p97_5_kgco2e"].to_numpy(),
                                   rtol=1e-12)


def test_signature_absent_and_no_matched_lines():
    em = demo_emissions("acme-fr", "2024").drop("signature")
    v = report_views.views(em, demo_snapshot(), instruments("acme-fr"), vocabulary(), "acme-fr", "2024",
                           PARAMS)[0]
    assert v["signature"].null_count() == v.height > 0
    none = em.with_columns(pl.lit("no_factor").alias("match_status"))
    out, problem, totals = report_views.views(none, demo_snapshot(), instruments("acme-fr"), vocabulary(),
                                              "acme-fr", "2024", PARAMS)
    assert out.height == 0 and out.schema == pl.Schema(report_views.VIEW_SCHEMA)
    assert problem is None and totals is None


def test_callable_rollups_equal_dict_rollups_and_none_skips():
    """build_problem: a callable roll-up gives the same model as the equivalent dict; None leaves a finest
    group out of that level."""
    lines = reports.model_lines(bench.synthetic_emissions(500, 30, seed=1))
    as_dict = montecarlo.build_problem(lines, reports.GROUP_COLS, with_total=False, rollups=reports.ROLLUPS)
    as_call = montecarlo.build_problem(lines, reports.GROUP_COLS, with_total=False, rollups=(
        lambda g: (g[0], reports.ALL), lambda g: (reports.TOTAL, reports.TOTAL)))
    assert as_call.groups == as_dict.groups
    for name in ("coef_group", "coef_factor", "coef_value", "coef_q2", "n_lines", "atom_p1", "atom_line_hash"):
        np.testing.assert_array_equal(getattr(as_call, name), getattr(as_dict, name), err_msg=name)
    only_s1 = montecarlo.build_problem(lines, reports.GROUP_COLS, with_total=False,
                                       rollups=(lambda g: ("1", reports.ALL) if g[0] == "1" else None,))
    det = dict(zip(only_s1.groups, only_s1.deterministic()))
    assert ("2", reports.ALL) not in det and ("3", reports.ALL) not in det
    s1 = lines.filter(pl.col("scope") == "1")
    assert det[("1", reports.ALL)] == pytest.approx((s1["quantity_in_factor_unit"] * s1["dist_p1"]).sum(), rel=1e-12)
