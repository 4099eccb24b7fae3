"""Front-end pages (/app/bilan, /app/strategy, /app/esg) built from the report frames, and the
all-or-nothing, latest-only publication of a tenant-year's files."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import polars as pl
import pytest

from carbon_assets.engine import exports, reports
from carbon_assets.engine.exports import ExportError
from carbon_assets_tests.engine import report_inputs as ri

PROVENANCE = {"raw_inputs_hash": "sha256-" + "0" * 64, "fe_snapshot_id": "fs-0123456789abcdef",
              "git_commit": "abcd1234", "code_version": "0.1.0+git-abcd1234",
              "github_repo_url": "https://github.com/incubateur-ademe/nosgestesclimat"}


@pytest.fixture(scope="module")
def acme():
    return ri.inputs("acme-fr", "2024")


def _bilan(i, views=None):
    return exports.bilan_page(i.inventory, i.views if views is None else views, i.emissions, i.rejects, PROVENANCE)


def _view(i, view: str, basis: str, key: str) -> dict:
    return i.views.filter((pl.col("view") == view) & (pl.col("basis") == basis) & (pl.col("key") == key)).row(
        0, named=True)


def _stats(r: dict) -> dict:
    return {"deterministic": r["deterministic_kgco2e"], "mean": r["mean_kgco2e"], "median": r["median_kgco2e"],
            "ci_90": [r["p5_kgco2e"], r["p95_kgco2e"]], "ci_95": [r["p2_5_kgco2e"], r["p97_5_kgco2e"]],
            "n_lines": r["n_lines"]}


# ---- /app/bilan ------------------------------------------------------------------------------------

def test_bilan_page_follows_the_client_result_shape(acme):
    doc = _bilan(acme)
    total = acme.inventory.filter(pl.col("scope") == "total").row(0, named=True)
    # the client note's section 4.3 keys, with their values
    assert doc["calculation_id"] == "calc-" + "ab" * 8 and doc["signature"] == ri.SIGNATURE
    assert (doc["tenant_id"], doc["period"]) == ("acme-fr", "2024")
    assert doc["summary"]["total_mean_kgCO2e"] == total["mean_kgco2e"]
    assert doc["summary"]["total_median_kgCO2e"] == total["median_kgco2e"]
    assert doc["summary"]["ci_90"] == [total["p5_kgco2e"], total["p95_kgco2e"]]
    assert round(doc["summary"]["total_deterministic_kgCO2e"] / 1000, 2) == 42.57  # the demo's published total
    assert doc["provenance"] == PROVENANCE and doc["mc_samples_location"] is None
    # breakdown: one row per (scope, category), scope a number, fe_used one factor {id, value, unit}
    elec = next(b for b in doc["breakdown"] if b["category"] == "Purchased electricity")
    assert elec["scope"] == 2 and elec["n_lines"] == 4
    assert elec["fe_used"] == {"id": "ADEME:42513", "value": 0.052, "unit": "kWh"}  # ADEME French grid mix
    # 31250 + 28400 + 26900 + 33450 = 120000 kWh x 0.052 = 6240 kgCO2e
    assert elec["fe_used_all"] == [{"id": "ADEME:42513", "value": 0.052, "unit": "kWh",
                                    "kgco2e": pytest.approx(6240.0, rel=1e-12), "n_lines": 4}]
    travel = next(b for b in doc["breakdown"] if b["category"] == "Business travel")
    # long haul 22000 pkm x 0.20011 = 4402.42 dominates short haul 502.89 and hotel 124.8
    assert travel["fe_used"]["id"] == "DEFRA:21_316_3170_11"
    assert [f["id"] for f in travel["fe_used_all"]] == ["DEFRA:21_316_3170_11", "DEFRA:21_316_3164_11",
                                                        "DEFRA:29_600_4000_13"]
    assert {(b["scope"], b["category"]) for b in doc["breakdown"]} == {
        (1, "Mobile combustion"), (1, "Stationary combustion"), (2, "Purchased electricity"), (3, "Business travel")}
    for b in doc["breakdown"]:
        r = acme.inventory.filter((pl.col("scope") == str(b["scope"])) & (pl.col("category") == b["category"])).row(
            0, named=True)
        assert (b["mean"], b["ci_90"], b["n_lines"]) == (r["mean_kgco2e"], [r["p5_kgco2e"], r["p95_kgco2e"]],
                                                         r["n_lines"])
    assert doc["lines"] == {"by_match_status": {"matched": 10, "no_factor": 1}, "rejected_rows": 3}


def test_bilan_page_location_and_market_views(acme):
    doc = _bilan(acme)
    for basis in ("location", "market"):
        assert doc["totals"][basis] == _stats(_view(acme, "total", basis, "total"))
    loc2, mkt2 = (_view(acme, "scope", b, "2") for b in ("location", "market"))
    assert doc["scopes_by_basis"]["location"]["2"] == {"label": loc2["label"], **_stats(loc2)}
    assert doc["scopes_by_basis"]["market"]["2"] == {"label": mkt2["label"], **_stats(mkt2)}
    # acme's 2024 guarantee of origin covers 60 of its 120 MWh: the market-based Scope 2 is below the
    # location-based one, and only Scope 2 differs between the two totals
    assert loc2["deterministic_kgco2e"] == pytest.approx(6240.0, rel=1e-12)
    assert 0 < mkt2["deterministic_kgco2e"] < loc2["deterministic_kgco2e"]
    assert doc["totals"]["market"]["deterministic"] == pytest.approx(
        doc["totals"]["location"]["deterministic"] - 6240.0 + mkt2["deterministic_kgco2e"], rel=1e-12)
    for scope in ("1", "3"):  # the same rows under both bases
        r = _view(acme, "scope", "both", scope)
        assert doc["scopes_by_basis"]["location"][scope] == doc["scopes_by_basis"]["market"][scope] \
            == {"label": r["label"], **_stats(r)}
    assert doc["scope3_categories"] == [{"category": 6, "label": "Business travel",
                                         **_stats(_view(acme, "scope3_category", "both", "6"))}]
    assert [(p["poste"], p["basis"]) for p in doc["postes"]] == [(1, "location"), (2, "location"), (6, "location"),
                                                                 (6, "market"), (13, "location")]
    for p in doc["postes"]:
        r = _view(acme, "poste", p["basis"], str(p["poste"]))
        assert p == {"poste": int(r["key"]), "basis": r["basis"], "label": r["label"], **_stats(r)}
    assert doc["postes"][4]["label"] == "Déplacements professionnels"
    # the existing scopes block (inventory, location-based) is kept
    assert set(doc["scopes"]) == {"1", "2", "3"}
    assert doc["scopes"]["2"]["deterministic"] == pytest.approx(6240.0, rel=1e-12)


def test_bilan_page_keeps_a_poste_without_number(acme):
    row = acme.views.filter((pl.col("view") == "poste") & (pl.col("key") == "13"))
    views = pl.concat([acme.views, row.with_columns(pl.lit("unassigned").alias("key"))])
    assert [(p["poste"], p["basis"]) for p in _bilan(acme, views)["postes"]][-2:] == [(13, "location"),
                                                                                      ("unassigned", "location")]


def test_bilan_json_is_deterministic_and_valid_json(acme):
    a, b = exports.json_bytes(_bilan(acme)), exports.json_bytes(_bilan(acme))
    assert a == b
    assert b"NaN" not in a and json.loads(a)["summary"]["basis"] == "location"


def test_bilan_page_refuses_incomplete_or_foreign_views(acme):
    no_market = acme.views.filter(~((pl.col("view") == "total") & (pl.col("basis") == "market")))
    with pytest.raises(ExportError, match="total row with basis 'market': expected exactly one row, found 0"):
        _bilan(acme, no_market)
    with pytest.raises(ExportError, match="report views: no rows for tenant 'acme-fr' year '2024'"):
        _bilan(acme, acme.views.with_columns(pl.lit("2023").alias("year")))
    shifted = acme.views.with_columns(pl.col("deterministic_kgco2e") * 1.01)
    with pytest.raises(ExportError, match="location total .* differs from the inventory total"):
        _bilan(acme, shifted)
    with pytest.raises(ExportError, match=r"report views: missing column\(s\) \['label'\]"):
        _bilan(acme, acme.views.drop("label"))
    with pytest.raises(ExportError, match="inventory report: no rows"):
        exports.bilan_page(acme.inventory.clear(), acme.views, acme.emissions, 0, PROVENANCE)


# ---- /app/strategy ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trajectory():
    return ri.trajectory("acme-fr", ("2024", "2025"))


@pytest.fixture(scope="module")
def sens_2025():
    em, _ = ri.demo_emissions("acme-fr", "2025")
    return reports.sensitivity(em, "acme-fr", "2025")


def test_strategy_page_trajectory_and_improve_next(trajectory, sens_2025):
    doc = exports.strategy_page(trajectory, "acme-fr", "2025", sens_2025)
    assert (doc["page"], doc["tenant_id"], doc["period"]) == ("strategy", "acme-fr", "2025")
    t24, t25 = trajectory.row(0, named=True), trajectory.row(1, named=True)

    def point(t):
        return {"year": t["year"], "deterministic": t["deterministic_kgco2e"], "mean": t["mean_kgco2e"],
                "ci_90": [t["p5_kgco2e"], t["p95_kgco2e"]], "median": t["median_kgco2e"],
                "ci_95": [t["p2_5_kgco2e"], t["p97_5_kgco2e"]], "n_lines": t["n_lines"]}

    assert doc["trajectory"] == [
        {**point(t24), "delta_vs_previous": None},
        {**point(t25), "delta_vs_previous": {
            "mean": t25["delta_mean_kgco2e"], "ci_90": [t25["delta_p5_kgco2e"], t25["delta_p95_kgco2e"]],
            "pct_change_deterministic": t25["pct_change_deterministic"], "prev_year": "2024",
            "deterministic": t25["delta_deterministic_kgco2e"], "prob_decrease": t25["prob_decrease"]}}]
    # the demo's total fell from 42.57 t (2024) to 38.16 t (2025); the change's interval, from shared
    # factor draws, excludes 0
    assert round(t24["deterministic_kgco2e"] / 1000, 2) == 42.57
    assert doc["trajectory"][1]["delta_vs_previous"]["deterministic"] == pytest.approx(
        t25["deterministic_kgco2e"] - t24["deterministic_kgco2e"], rel=1e-12)
    lo, hi = doc["trajectory"][1]["delta_vs_previous"]["ci_90"]
    assert lo < hi < 0
    expected = reports.improve_next(sens_2025)
    assert [(r["rank"], r["input"], r["s1"], r["st"]) for r in doc["improve_next"]] == \
        [(r["rank"], r["input"], r["s1"], r["st"]) for r in expected.iter_rows(named=True)]
    s1 = [r["s1"] for r in doc["improve_next"]]
    assert s1 == sorted(s1, reverse=True) and doc["improve_next"][0]["rank"] == 1


def test_strategy_page_stops_at_its_year_and_tolerates_a_first_year_without_deltas(trajectory, acme):
    only_2024 = trajectory.filter(pl.col("year") == "2024").select(exports.TRAJECTORY_COLUMNS)
    doc = exports.strategy_page(only_2024, "acme-fr", "2024", acme.sensitivity)
    t = only_2024.row(0, named=True)
    assert doc["trajectory"] == [{"year": "2024", "deterministic": t["deterministic_kgco2e"], "mean": t["mean_kgco2e"],
                                  "ci_90": [t["p5_kgco2e"], t["p95_kgco2e"]], "delta_vs_previous": None}]
    doc = exports.strategy_page(trajectory.filter(pl.col("year") == "2024"), "acme-fr", "2024", acme.sensitivity)
    # a later year already in the frame does not change this year's page
    assert exports.strategy_page(trajectory, "acme-fr", "2024", acme.sensitivity)["trajectory"] == doc["trajectory"]


def test_strategy_page_reads_the_stored_as_of_slices(trajectory, sens_2025):
    """The trajectory asset stores one slice per as-of year: ``year`` the partition, ``point_year`` the row's."""
    as_of_2024 = trajectory.filter(pl.col("year") == "2024")
    stored = pl.concat([t.rename({"year": "point_year"}).with_columns(pl.lit(y).alias("year"))
                        for y, t in (("2024", as_of_2024), ("2025", trajectory))])
    assert exports.strategy_page(stored, "acme-fr", "2025", sens_2025) == \
        exports.strategy_page(trajectory, "acme-fr", "2025", sens_2025)
    with pytest.raises(ExportError, match="trajectory: no row for tenant 'acme-fr' year '2025'"):
        exports.strategy_page(stored.filter(pl.col("year") == "2024"), "acme-fr", "2025", sens_2025)


def test_strategy_page_refuses_missing_inputs(trajectory, acme):
    with pytest.raises(ExportError, match="trajectory: no row for tenant 'acme-fr' year '2026'"):
        exports.strategy_page(trajectory, "acme-fr", "2026", acme.sensitivity)
    with pytest.raises(ExportError, match=r"trajectory: missing column\(s\) \['p95_kgco2e'\]"):
        exports.strategy_page(trajectory.drop("p95_kgco2e"), "acme-fr", "2024", acme.sensitivity)
    with pytest.raises(ExportError, match="sensitivity: no rows for tenant 'acme-fr' year '2025'"):
        exports.strategy_page(trajectory, "acme-fr", "2025", acme.sensitivity)  # 2024's sensitivity only


# ---- /app/esg --------------------------------------------------------------------------------------

def test_esg_page_keyed_by_taxonomy_element(acme):
    doc = exports.esg_page(acme.esrs, acme.company)
    assert (doc["page"], doc["tenant_id"], doc["period"], doc["unit"]) == ("esg", "acme-fr", "2024", "tCO2eq")
    p = doc["datapoints"]
    assert set(exports.ESRS_REQUIRED) <= set(p)
    assert len(p) == acme.esrs.select("element").n_unique()
    for r in acme.esrs.iter_rows(named=True):  # every datapoint, with its input values
        got = p[r["element"]] if r["member"] is None else p[r["element"]]["members"][r["member"]]
        assert (got["label"], got["value"], got["mean"], got["ci_90"], got["taxonomy_confirmed"]) == (
            r["label"], r["value_tco2e"], r["mean_tco2e"], [r["p5_tco2e"], r["p95_tco2e"]], r["taxonomy_confirmed"])
    s1 = p["esrs:GrossScope1GreenhouseGasEmissions"]
    # 13026.30 (diesel) + 11181.70 + 7096.08 (natural gas) kgCO2e = 31.30 t
    assert s1["value"] == pytest.approx(31.304075261, rel=1e-9) and s1["members"] == {}
    assert p["esrs:GrossLocationBasedScope2GreenhouseGasEmissions"]["value"] == pytest.approx(6.24, rel=1e-12)
    s3 = p["esrs:GrossScope3GreenhouseGasEmissions"]
    assert s3["value"] == pytest.approx(5.0301125, rel=1e-9) and s3["taxonomy_confirmed"] is True
    assert list(s3["members"]) == ["6"] and s3["members"]["6"]["value"] == pytest.approx(5.0301125, rel=1e-9)
    assert doc["company"] == {"name": "Acme France SAS", "currency": "EUR", "net_revenue": 8_400_000.0}
    assert exports.esg_page(acme.esrs, None)["company"] == {"name": None, "currency": None, "net_revenue": None}
    # a company.yaml read by hand (integer years) gives the same revenue
    assert exports.esg_page(acme.esrs, {"net_revenue": {2024: 8_400_000}})["company"]["net_revenue"] == 8_400_000.0


def test_esg_page_refuses_missing_datapoints(acme):
    without = acme.esrs.filter(pl.col("element") != "esrs:GrossMarketBasedScope2GreenhouseGasEmissions")
    with pytest.raises(ExportError, match="missing element.*GrossMarketBasedScope2"):
        exports.esg_page(without, None)
    with pytest.raises(ExportError, match="no rows for tenant 'acme-fr' year '2025'"):
        exports.esg_page(acme.esrs, None, tenant="acme-fr", year="2025")
    with pytest.raises(ExportError, match="several rows for one"):
        exports.esg_page(pl.concat([acme.esrs, acme.esrs.head(1)]), None)


# ---- publication -----------------------------------------------------------------------------------

def _docs(tag: str, names=("bilan.json", "inventory.json", "report.html")) -> dict[str, bytes]:
    return {n: f"{tag}:{n}".encode() for n in names}


def _entries(parent: Path) -> set[str]:
    return {p.name for p in parent.iterdir()}


def test_publish_latest_only(tmp_path):
    link = exports.publish(tmp_path, "acme-fr", "2024", _docs("v1", ("bilan.json", "inventory.json", "old.json")))
    assert link == tmp_path / "acme-fr" / "2024" and link.is_symlink()
    assert (link / "inventory.json").read_bytes() == b"v1:inventory.json"  # the path readers already use
    first_dir = os.readlink(link)
    exports.publish(tmp_path, "acme-fr", "2024", _docs("v2"))
    assert exports.read_publication(tmp_path, "acme-fr", "2024") == _docs("v2")
    assert not (link / "old.json").exists()  # a file the new publication lacks is gone with the old one
    entries = _entries(tmp_path / "acme-fr")
    assert first_dir not in entries
    assert entries == {"2024", os.readlink(link), ".2024.lock"}
    manifest = json.loads((link / exports.MANIFEST).read_bytes())
    assert sorted(manifest["files"]) == ["bilan.json", "inventory.json", "report.html"]
    assert manifest["files"]["bilan.json"]["bytes"] == len(b"v2:bilan.json")
    # the same documents again: nothing moves; other years and tenants untouched
    target = os.readlink(link)
    exports.publish(tmp_path, "acme-fr", "2024", _docs("v2"))
    assert os.readlink(link) == target
    exports.publish(tmp_path, "acme-fr", "2025", _docs("y25"))
    exports.publish(tmp_path, "globex-uk", "2024", _docs("g"))
    assert exports.read_publication(tmp_path, "acme-fr", "2024") == _docs("v2")


def test_failure_mid_publication_leaves_the_previous_one(tmp_path, monkeypatch):
    exports.publish(tmp_path, "acme-fr", "2024", _docs("v1"))
    before = _entries(tmp_path / "acme-fr")
    real_write, written = exports._write_file, []

    def failing_write(path, data):
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        written.append(path.name)
        real_write(path, data)

    monkeypatch.setattr(exports, "_write_file", failing_write)
    with pytest.raises(OSError, match="No space left"):
        exports.publish(tmp_path, "acme-fr", "2024", _docs("v2"))
    assert len(written) == 2  # the failure came after two of the three files
    assert exports.read_publication(tmp_path, "acme-fr", "2024") == _docs("v1")
    assert _entries(tmp_path / "acme-fr") == before  # no partial directory left behind


def test_failure_at_the_switch_leaves_the_previous_one(tmp_path, monkeypatch):
    exports.publish(tmp_path, "acme-fr", "2024", _docs("v1"))
    before = _entries(tmp_path / "acme-fr")

    def no_replace(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(exports.os, "replace", no_replace)
    with pytest.raises(PermissionError):
        exports.publish(tmp_path, "acme-fr", "2024", _docs("v2"))
    monkeypatch.undo()
    assert exports.read_publication(tmp_path, "acme-fr", "2024") == _docs("v1")
    assert _entries(tmp_path / "acme-fr") == before


CRASH = """
import os, sys
from carbon_assets.engine import exports
real, n = exports._write_file, []
def write_then_die(path, data):
    if n:
        os._exit(9)  # killed mid-publication: no cleanup runs
    n.append(path)
    real(path, data)
exports._write_file = write_then_die
exports.publish(sys.argv[1], "acme-fr", "2024", {"bilan.json": b"v2", "inventory.json": b"v2", "report.html": b"v2"})
"""


def test_crash_mid_publication_then_next_publication_cleans_up(tmp_path):
    exports.publish(tmp_path, "acme-fr", "2024", _docs("v1"))
    target = os.readlink(tmp_path / "acme-fr" / "2024")
    proc = subprocess.run([sys.executable, "-c", CRASH, str(tmp_path)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 9, proc.stderr
    leftovers = _entries(tmp_path / "acme-fr") - {"2024", target, ".2024.lock"}
    assert len(leftovers) == 1 and next(iter(leftovers)).startswith(".2024-")  # hidden, never the read path
    assert os.readlink(tmp_path / "acme-fr" / "2024") == target
    assert exports.read_publication(tmp_path, "acme-fr", "2024") == _docs("v1")
    exports.publish(tmp_path, "acme-fr", "2024", _docs("v3"))
    assert _entries(tmp_path / "acme-fr") == {"2024", os.readlink(tmp_path / "acme-fr" / "2024"), ".2024.lock"}
    assert exports.read_publication(tmp_path, "acme-fr", "2024") == _docs("v3")


def test_readers_never_see_a_mixed_publication(tmp_path):
    names = ("bilan.json", "strategy.json", "esg.json", "inventory.json", "report.html")
    exports.publish(tmp_path, "acme-fr", "2024", _docs("v0", names))
    stop, seen, errors = threading.Event(), set(), []

    def reader():
        while not stop.is_set():
            try:
                got = exports.read_publication(tmp_path, "acme-fr", "2024", attempts=50)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
                return
            tags = {v.split(b":")[0] for v in got.values()}
            if len(tags) != 1 or set(got) != set(names):
                errors.append(AssertionError(f"mixed publication: {sorted(got)} {tags}"))
                return
            seen.add(tags.pop())

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for k in range(1, 60):
        exports.publish(tmp_path, "acme-fr", "2024", _docs(f"v{k}", names))
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert len(seen) > 1  # the readers did read across publications


def test_publish_refuses_bad_requests_without_writing(tmp_path):
    with pytest.raises(ExportError, match=r"missing document\(s\) \['esg.json', 'provenance.json'"):
        exports.publish(tmp_path, "acme-fr", "2024", _docs("v1"), required=exports.DOCUMENTS)
    with pytest.raises(ExportError, match="bad document name '../x.json'"):
        exports.publish(tmp_path, "acme-fr", "2024", {"../x.json": b"x"})
    with pytest.raises(ExportError, match="bad document name 'manifest.json'"):
        exports.publish(tmp_path, "acme-fr", "2024", {"manifest.json": b"x"})
    with pytest.raises(ExportError, match="not a valid tenant slug"):
        exports.publish(tmp_path, "../acme", "2024", _docs("v1"))
    with pytest.raises(ExportError, match="year '24' is not a 4-digit year"):
        exports.publish(tmp_path, "acme-fr", "24", _docs("v1"))
    with pytest.raises(ExportError, match="no document to publish"):
        exports.publish(tmp_path, "acme-fr", "2024", {})
    assert not (tmp_path / "acme-fr").exists()


def test_publish_over_the_previous_plain_directory_layout(tmp_path):
    old = tmp_path / "acme-fr" / "2024"
    old.mkdir(parents=True)
    (old / "inventory.json").write_text("{}")
    exports.publish(tmp_path, "acme-fr", "2024", _docs("v1"))
    assert old.is_symlink() and (old / "inventory.json").read_bytes() == b"v1:inventory.json"
    assert _entries(tmp_path / "acme-fr") == {"2024", os.readlink(old), ".2024.lock"}


# ---- a tenant-year's documents, built then published --------------------------------------------------

def _documents(i, trajectory, **over):
    kw = {"tenant": i.tenant, "year": i.year, "inventory": i.inventory, "views": i.views, "emissions": i.emissions,
          "rejects_count": i.rejects, "provenance_summary": PROVENANCE, "trajectory": trajectory,
          "sensitivity": i.sensitivity, "esrs": i.esrs, "company": i.company, "total_samples": i.total_samples,
          "provenance_doc": {"prefix": {"prov": "http://www.w3.org/ns/prov#"}, "entity": {}}}
    return exports.documents(**(kw | over))


def test_documents_published_together(acme, trajectory, tmp_path):
    docs = _documents(acme, trajectory)
    assert sorted(docs) == sorted(exports.DOCUMENTS)
    assert _documents(acme, trajectory) == docs  # same inputs, same bytes
    exports.publish(tmp_path, "acme-fr", "2024", docs, required=exports.DOCUMENTS)
    got = exports.read_publication(tmp_path, "acme-fr", "2024")
    assert got == docs
    bilan, inventory = json.loads(got["bilan.json"]), json.loads(got["inventory.json"])
    # the existing calculation export is unchanged in shape, and agrees with the bilan page
    assert inventory["signature"] == bilan["signature"] == ri.SIGNATURE
    assert inventory["summary"]["total_deterministic_kgCO2e"] == bilan["summary"]["total_deterministic_kgCO2e"]
    # diesel: ADEME 25775 publishes 3.1015 kgCO2e/L, recomputed from its gases under AR6
    assert inventory["breakdown"][0]["fe_used"] == [{"id": "ADEME:25775", "value": pytest.approx(3.1015, rel=1e-6),
                                                    "unit": "L"}]
    assert json.loads(got["strategy.json"])["trajectory"][-1]["year"] == "2024"
    assert json.loads(got["esg.json"])["company"]["net_revenue"] == 8_400_000.0
    assert '<span id="total-location">42.57</span>' in got["report.html"].decode()


def test_missing_upstream_fails_before_anything_is_published(acme, trajectory, tmp_path):
    exports.publish(tmp_path, "acme-fr", "2024", _documents(acme, trajectory), required=exports.DOCUMENTS)
    before = exports.read_publication(tmp_path, "acme-fr", "2024")
    no_market = acme.views.filter(pl.col("basis") != "market")
    with pytest.raises(ExportError, match="total row with basis 'market'"):
        _documents(acme, trajectory, views=no_market)
    with pytest.raises(ExportError, match="ESRS E1-6 datapoints: no rows for tenant 'acme-fr' year '2024'"):
        _documents(acme, trajectory, esrs=acme.esrs.clear())
    with pytest.raises(ExportError, match="trajectory: no row for tenant 'acme-fr' year '2024'"):
        _documents(acme, trajectory.filter(pl.col("year") != "2024"))
    assert exports.read_publication(tmp_path, "acme-fr", "2024") == before
