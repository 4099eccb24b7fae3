"""DuckDB views over a Delta lake: the views return the Delta tables' rows, and the convenience views
the matching subsets."""

import duckdb
import polars as pl
import pytest

from carbon_assets.engine import delta_io, duckdb_views, esrs
from carbon_assets_tests.engine.test_report_views import DATA, demo_views


def _sorted(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort(df.columns, nulls_last=True)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    for tenant in ("acme-fr", "globex-uk"):
        company = esrs.load_company(DATA / "tenants" / tenant / "company.yaml")
        for year in ("2024", "2025"):
            v = demo_views(tenant, year)[0]
            delta_io.write_slice(v, str(root / "report_views"), {"tenant": tenant, "year": year})
            delta_io.write_slice(esrs.datapoints(v, company, tenant, year), str(root / "esrs_e1_6"),
                                 {"tenant": tenant, "year": year})
    return str(root)


def test_tables_read_back_as_written(lake):
    con = duckdb_views.connect(lake)
    for name in ("report_views", "esrs_e1_6"):
        got = con.sql(f"SELECT * FROM {name}").pl()
        want = delta_io.read_slices(f"{lake}/{name}")
        assert got.height == want.height > 0
        assert _sorted(got.select(want.columns)).equals(_sorted(want))
    names = {r[0] for r in con.sql("SHOW TABLES").fetchall()}
    assert names == {"report_views", "esrs_e1_6", "inventory_by_scope", "inventory_by_scope3_category",
                     "inventory_by_poste", "scope2_location_vs_market", "esrs_e1_6_datapoints"}
    with pytest.raises(duckdb.CatalogException):  # no trajectory table in this lake: no view
        con.sql("SELECT * FROM trajectory")


def test_convenience_views_match_the_report_rows(lake):
    con = duckdb_views.connect(lake)
    rv = delta_io.read_slices(f"{lake}/report_views")
    for view, col in (("scope", "scope"), ("scope3_category", "scope3_category"), ("poste", "poste")):
        got = con.sql(f"SELECT * FROM inventory_by_{view}").pl()
        want = rv.filter(pl.col("view") == view).drop("view").rename({"key": col})
        assert _sorted(got.select(want.columns)).equals(_sorted(want))
    postes = con.sql("SELECT poste, basis FROM inventory_by_poste WHERE tenant = 'globex-uk' "
                     "AND year = '2024'")
    assert postes.fetchall() == [("1", "location"), ("2", "location"), ("6", "location"), ("6", "market"),
                                 ("8", "location"), ("9", "location"), ("12", "location"), ("13", "location")]
    # Scope 2 side by side: acme-fr 2024 6,240 kg location, 3,120 kg market (60 MWh GO of 120 MWh)
    row = con.execute("SELECT location_kgco2e, market_kgco2e, market_minus_location_kgco2e "
                      "FROM scope2_location_vs_market WHERE tenant = 'acme-fr' AND year = '2024'").fetchone()
    assert row == pytest.approx((6240.0, 3120.0, -3120.0), rel=1e-12)
    assert con.execute("SELECT count(*) FROM scope2_location_vs_market").fetchone()[0] == 4


def test_esrs_view_and_sum_of_postes(lake):
    con = duckdb_views.connect(lake)
    got = con.sql("SELECT * FROM esrs_e1_6_datapoints").pl()
    assert _sorted(got).equals(_sorted(delta_io.read_slices(f"{lake}/esrs_e1_6").select(got.columns)))
    # BEGES postes (location) sum to the location total, in SQL
    rows = con.sql("""
        SELECT p.tenant, p.year, sum(p.deterministic_kgco2e) AS postes,
               any_value(t.deterministic_kgco2e) AS total
        FROM inventory_by_poste p JOIN report_views t
          ON t.tenant = p.tenant AND t.year = p.year AND t.view = 'total' AND t.basis = 'location'
        WHERE p.basis = 'location' GROUP BY p.tenant, p.year""").fetchall()
    assert len(rows) == 4
    for _, _, postes, total in rows:
        assert postes == pytest.approx(total, rel=1e-12)


def test_latest_version_at_connect_and_empty_lake(lake, tmp_path):
    con = duckdb_views.connect(str(tmp_path))
    assert con.sql("SHOW TABLES").fetchall() == []
    before = duckdb_views.connect(lake)
    n = before.execute("SELECT count(*) FROM report_views").fetchone()[0]
    uri = f"{lake}/report_views"
    slice_ = delta_io.read_slices(uri, {"tenant": ["acme-fr"], "year": ["2025"]})
    delta_io.write_slice(slice_.head(3), uri, {"tenant": "acme-fr", "year": "2025"})
    try:
        assert before.execute("SELECT count(*) FROM report_views").fetchone()[0] == n  # pinned at connect
        after = duckdb_views.connect(lake)
        assert after.execute("SELECT count(*) FROM report_views").fetchone()[0] == n - slice_.height + 3
    finally:
        delta_io.write_slice(slice_, uri, {"tenant": "acme-fr", "year": "2025"})
