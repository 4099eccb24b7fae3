"""Year-over-year trajectory: one Monte-Carlo problem over the years, shared factor draws, YoY threshold."""

import math

import numpy as np
import polars as pl
import pytest

from carbon_assets.engine import activities, emissions, factors, montecarlo
from carbon_assets.engine import trajectory as tr
from carbon_assets.engine.errors import InputError
from carbon_assets.engine.params import CalcParams

BACKENDS = ["numpy"] + (["rust"] if montecarlo.kernel_available() else [])


@pytest.fixture(scope="module")
def demo_snapshot(data_dir):
    """Every shipped namespace, as the demo's factor_snapshot asset builds it."""
    nss = sorted({m.namespace for m in factors.discover_mappings(data_dir / "mappings")})
    return factors.build_snapshot([factors.read_namespace(data_dir / "mappings", data_dir / "factors", ns)[0]
                                   for ns in nss])


@pytest.fixture(scope="module")
def acme_acts(data_dir):
    """acme-fr's demo activity lines per year, through the real reader and normaliser."""
    vocab = activities.load_vocabulary(data_dir / "activity_keys.yaml")
    mapping = activities.ColumnMapping.load(data_dir / "tenants" / "default_mapping.yaml")
    out = {}
    for year in ("2024", "2025"):
        folder = data_dir / "inbox" / "acme-fr" / year
        files = sorted((p.name, p) for p in folder.iterdir())
        out[year] = activities.ingest_files(files, "acme-fr", year, mapping, vocab)[0]
    return out


@pytest.fixture(scope="module")
def acme_em(acme_acts, demo_snapshot):
    return {y: emissions.compute(a, demo_snapshot, CalcParams()) for y, a in acme_acts.items()}


def _relabel(acts: pl.DataFrame, year: str) -> pl.DataFrame:
    """The same activity lines (same ids, quantities, units) reported for another year."""
    shift = int(year) - int(acts["year"][0])
    return acts.with_columns(pl.lit(year).alias("year"),
                             pl.col("date").map_elements(lambda d: d.replace(year=d.year + shift), return_dtype=pl.Date))


def _lognormal_var(q: float, p1: float, sigma: float) -> float:
    return (q * p1) ** 2 * math.exp(sigma**2) * math.expm1(sigma**2)


def test_demo_totals_and_shared_draw_delta_is_much_narrower_than_independent(acme_em):
    params = CalcParams(mc_samples=20_000, mc_seed=11)
    traj = tr.trajectory(acme_em, "acme-fr", params, backend="numpy")
    assert traj["year"].to_list() == ["2024", "2025"] and traj["prev_year"].to_list() == [None, "2024"]
    r24, r25 = traj.rows(named=True)
    assert r24["deterministic_kgco2e"] == pytest.approx(42_574.19, abs=0.01)  # the demo figure, 42.57 t
    assert r25["deterministic_kgco2e"] == pytest.approx(acme_em["2025"]["em_kgco2e"].sum(), rel=1e-12)
    assert r25["delta_deterministic_kgco2e"] == pytest.approx(
        r25["deterministic_kgco2e"] - r24["deterministic_kgco2e"], rel=1e-12)
    assert r25["pct_change_deterministic"] == pytest.approx(
        r25["deterministic_kgco2e"] / r24["deterministic_kgco2e"] - 1, rel=1e-12)
    assert r24["n_lines"] == acme_em["2024"].filter(pl.col("match_status") == "matched").height

    # analytic moments of the change: every acme-fr factor is lognormal (median p1, sigma p2) and shared,
    # so delta = sum_f (Q25_f - Q24_f) p1_f exp(sigma_f z_f); drawn independently the years' variances add up
    per_f = {}
    for year, em in acme_em.items():
        for r in em.filter(pl.col("match_status") == "matched").iter_rows(named=True):
            assert r["dist"] == "lognormal" and r["quantity_uncertainty_pct"] is None
            f = per_f.setdefault(r["factor_id"], {"p1": r["dist_p1"], "s": r["dist_p2"], "2024": 0.0, "2025": 0.0})
            f[year] += r["quantity_in_factor_unit"]
    assert len(per_f) >= 5 and all(f["2024"] > 0 and f["2025"] > 0 for f in per_f.values())  # factors unchanged
    mean_shared = sum((f["2025"] - f["2024"]) * f["p1"] * math.exp(f["s"] ** 2 / 2) for f in per_f.values())
    sd_shared = math.sqrt(sum(_lognormal_var(f["2025"] - f["2024"], f["p1"], f["s"]) for f in per_f.values()))
    sd_indep = math.sqrt(sum(_lognormal_var(f["2024"], f["p1"], f["s"]) + _lognormal_var(f["2025"], f["p1"], f["s"])
                             for f in per_f.values()))
    samples = tr.simulate_years(acme_em, "acme-fr", params, backend="numpy")
    diff = samples.totals[1] - samples.totals[0]
    assert diff.std(ddof=1) == pytest.approx(sd_shared, rel=0.03)
    assert r25["delta_mean_kgco2e"] == pytest.approx(mean_shared, abs=4 * sd_shared / math.sqrt(20_000))
    assert sd_shared < 0.15 * sd_indep  # the quantities barely moved: most factor uncertainty cancels

    # the same model drawn independently per year (a different seed per year): a ~10x wider 90% interval
    a = tr.simulate_years({"2024": acme_em["2024"]}, "acme-fr", CalcParams(mc_samples=20_000, mc_seed=1)).totals[0]
    b = tr.simulate_years({"2025": acme_em["2025"]}, "acme-fr", CalcParams(mc_samples=20_000, mc_seed=2)).totals[0]
    lo, hi = np.percentile(b - a, [5.0, 95.0])
    shared_width = r25["delta_p95_kgco2e"] - r25["delta_p5_kgco2e"]
    assert (hi - lo) == pytest.approx(2 * 1.6449 * sd_indep, rel=0.05)
    assert shared_width == pytest.approx(2 * 1.6449 * sd_shared, rel=0.05)
    assert shared_width < 0.15 * (hi - lo)
    # the independent interval straddles a much wider range; the shared one says the fall is real
    assert r25["delta_p95_kgco2e"] < 0 and r25["prob_decrease"] == 1.0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("activity_u", [None, 20.0])
def test_identical_activity_data_gives_exactly_zero_delta_in_every_sample(acme_acts, demo_snapshot, backend,
                                                                          activity_u):
    acts = acme_acts["2024"].with_columns(pl.lit(activity_u, pl.Float64).alias("quantity_uncertainty_pct"))
    em = {y: emissions.compute(_relabel(acts, y), demo_snapshot, CalcParams()) for y in ("2024", "2025")}
    assert em["2024"]["factor_id"].to_list() == em["2025"]["factor_id"].to_list()
    params = CalcParams(mc_samples=3000, mc_seed=5)
    s = tr.simulate_years(em, "acme-fr", params, backend=backend)
    assert s.years == ("2024", "2025")
    assert (s.problem.n_atoms > 0) == (activity_u is not None)  # the activity streams take part when asked
    assert np.array_equal(s.totals[0], s.totals[1])  # bit for bit, every sample
    assert s.totals[0].std() > 0
    r = tr.trajectory(em, "acme-fr", params, backend=backend).row(1, named=True)
    assert (r["delta_p5_kgco2e"], r["delta_p95_kgco2e"], r["delta_mean_kgco2e"]) == (0.0, 0.0, 0.0)
    assert r["pct_change_deterministic"] == 0.0 and r["prob_decrease"] == 0.0
    assert tr.yoy_check(tr.trajectory(em, "acme-fr", params, backend=backend), "2025", threshold=0.0)[0]


def test_a_factor_revised_between_years_keeps_its_stream(acme_acts, demo_snapshot):
    """2025 computed against a release where diesel B7 (ADEME 25775, AR5 3.1 kg/L) became 3.41: one factor id,
    two parameter sets -> two model factors on the id's stream, so 2025 / 2024 = 1.1 in every sample."""
    diesel = acme_acts["2024"].filter(pl.col("activity_key") == "fuel.diesel")
    assert diesel.height == 1
    revised = demo_snapshot.with_columns(
        pl.when(pl.col("factor_id") == "ADEME:25775").then(3.41).otherwise(pl.col("value_kgco2e")).alias("value_kgco2e"))
    p = CalcParams(default_gwp="AR5", mc_samples=2000)  # AR5: the published total, no re-basing
    em = {"2024": emissions.compute(diesel, demo_snapshot, p),
          "2025": emissions.compute(_relabel(diesel, "2025"), revised, p)}
    assert em["2024"]["factor_value"][0] == 3.1 and em["2025"]["factor_value"][0] == 3.41
    s = tr.simulate_years(em, "acme-fr", p, backend="numpy")
    assert s.problem.factor_ids == ("ADEME:25775", "ADEME:25775@1")
    assert s.problem.stream_ids == ("ADEME:25775", "ADEME:25775")
    np.testing.assert_allclose(s.totals[1] / s.totals[0], 1.1, rtol=1e-13)
    # the single-year model draws the same numbers: same stream, same seed
    alone = tr.simulate_years({"2024": em["2024"]}, "acme-fr", p, backend="numpy")
    assert np.array_equal(alone.totals[0], s.totals[0])
    if montecarlo.kernel_available():
        rust = tr.simulate_years(em, "acme-fr", p, backend="rust").totals  # same streams, kernel's own libm
        np.testing.assert_allclose(rust, s.totals, rtol=1e-12)
        np.testing.assert_allclose(rust[1] / rust[0], 1.1, rtol=1e-13)


def test_trajectory_matches_the_single_year_report_and_is_deterministic(acme_em):
    from carbon_assets.engine import reports

    params = CalcParams(mc_samples=1000, mc_seed=3)
    traj = tr.trajectory(acme_em, "acme-fr", params, backend="numpy")
    for year in ("2024", "2025"):  # same streams: the year's own report draws the same total
        dist = reports.distributions(acme_em[year], "acme-fr", year, params, backend="numpy")
        tot = dist.filter(pl.col("scope") == reports.TOTAL).row(0, named=True)
        row = traj.filter(pl.col("year") == year).row(0, named=True)
        for k in ("deterministic_kgco2e", "mean_kgco2e", "p5_kgco2e", "p97_5_kgco2e", "n_lines"):
            assert row[k] == pytest.approx(tot[k], rel=1e-12), k
    again = tr.trajectory({y: acme_em[y] for y in ("2025", "2024")}, "acme-fr", params, backend="numpy")
    assert again.write_ipc(None).getvalue() == traj.write_ipc(None).getvalue()
    assert traj.schema == pl.Schema(tr.TRAJECTORY_SCHEMA)


def test_previous_available_year_and_years_without_matched_lines(acme_acts, demo_snapshot):
    acts = acme_acts["2024"]
    em = {y: emissions.compute(_relabel(acts, y), demo_snapshot, CalcParams()) for y in ("2021", "2023")}
    # 2022: every line unmatched (no factor in an empty snapshot): not an available year
    em["2022"] = emissions.compute(_relabel(acts, "2022"), demo_snapshot.head(0), CalcParams())
    assert em["2022"]["match_status"].unique().to_list() == ["no_factor"]
    traj = tr.trajectory(em, "acme-fr", CalcParams(mc_samples=200))
    assert traj["year"].to_list() == ["2021", "2023"] and traj["prev_year"].to_list() == [None, "2021"]


def test_bad_input_names_what_is_wrong(acme_em):
    with pytest.raises(InputError, match="another year") as err:
        tr.trajectory({"2023": acme_em["2024"]}, "acme-fr", CalcParams(mc_samples=10))
    assert (err.value.column, err.value.value) == ("year", "2024")
    assert err.value.file == "deplacements_2024.csv" and err.value.row is not None
    with pytest.raises(InputError, match="another tenant"):
        tr.trajectory({"2024": acme_em["2024"]}, "globex-uk", CalcParams(mc_samples=10))
    with pytest.raises(InputError, match="4-digit"):
        tr.trajectory({"FY24": acme_em["2024"]}, "acme-fr", CalcParams(mc_samples=10))
    assert tr.trajectory({}, "acme-fr", CalcParams(mc_samples=10)).height == 0


def test_yoy_check_threshold(acme_em):
    traj = tr.trajectory(acme_em, "acme-fr", CalcParams(mc_samples=2000), backend="numpy")
    t24, t25 = traj["deterministic_kgco2e"].to_list()
    change = t25 / t24 - 1
    assert change == pytest.approx(-0.1037, abs=1e-4)  # 38,159.87 / 42,574.19 - 1
    passed, meta = tr.yoy_check(traj, "2025")  # default 5%
    assert not passed
    assert meta["threshold"] == 0.05 and meta["prev_year"] == "2024"
    assert meta["total_kgco2e"] == t25 and meta["prev_total_kgco2e"] == t24
    assert meta["pct_change"] == pytest.approx(change, rel=1e-12)
    assert meta["change_kgco2e"] == pytest.approx(t25 - t24, rel=1e-12)
    assert meta["delta_p5_kgco2e"] < meta["delta_p95_kgco2e"] < 0 and meta["change_exceeds_mc_noise"]
    assert tr.yoy_check(traj, "2025", threshold=0.11)[0]
    assert not tr.yoy_check(traj, "2025", threshold=0.10)[0]
    first, meta = tr.yoy_check(traj, "2024")
    assert first and meta["prev_year"] is None and "no previous year" in meta["reason"]
    with pytest.raises(InputError, match="2026"):
        tr.yoy_check(traj, "2026")
    with pytest.raises(ValueError, match="threshold"):
        tr.yoy_check(traj, "2025", threshold=-0.1)


def test_yoy_check_with_a_zero_previous_total():
    traj = pl.DataFrame({"year": ["2024", "2025"], "prev_year": [None, "2024"], "deterministic_kgco2e": [0.0, 5.0],
                         "delta_deterministic_kgco2e": [None, 5.0], "pct_change_deterministic": [None, None],
                         "delta_mean_kgco2e": [None, 5.0], "delta_p5_kgco2e": [None, 4.0],
                         "delta_p95_kgco2e": [None, 6.0], "prob_decrease": [None, 0.0]})
    passed, meta = tr.yoy_check(traj, "2025", threshold=10.0)
    assert not passed and meta["pct_change"] is None  # from nothing to something: no ratio, always flagged



def test_lake_slices_split_by_year_with_their_signatures(acme_em):
    lake = pl.concat([acme_em[y].with_columns(pl.lit(f"sha256-{y}").alias("signature")) for y in ("2025", "2024")])
    assert set(tr.NEEDED_COLUMNS) - {"data_quality_tier"} <= set(lake.columns)
    upto = tr.split_by_year(lake.select([c for c in tr.NEEDED_COLUMNS if c in lake.columns]), up_to="2024")
    assert list(upto) == ["2024"] and upto["2024"].height == acme_em["2024"].height
    traj = tr.trajectory(tr.split_by_year(lake), "acme-fr", CalcParams(mc_samples=100))
    assert traj.select("year", "signature").rows() == [("2024", "sha256-2024"), ("2025", "sha256-2025")]
    assert tr.trajectory(acme_em, "acme-fr", CalcParams(mc_samples=100))["signature"].null_count() == 2
