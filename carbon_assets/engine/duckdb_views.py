"""DuckDB over the lake: each Delta report table as a view, plus convenience views for the reports.

``connect(lake_uri)`` returns an in-memory DuckDB connection where every table of TABLES found under
the lake root (``<lake_uri>/<table>``, local path or s3:// with delta-rs storage options) is a view,
read through ``DeltaTable(uri).to_pyarrow_dataset()``: no DuckDB extension is needed (the delta and
httpfs extensions would be downloaded, which an offline machine cannot do). Each view reads the
table's latest version as of ``connect``; reconnect to see later commits.

Convenience views (created when their source table exists): inventory_by_scope,
inventory_by_scope3_category, inventory_by_poste (rows of report_views), scope2_location_vs_market
(one row per tenant-year, both Scope 2 figures side by side) and esrs_e1_6_datapoints.
"""

from __future__ import annotations

import duckdb
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

TABLES = ("report_views", "esrs_e1_6", "inventory_report", "emission_distributions", "emissions",
          "trajectory", "calculations")
_STATS = ("deterministic_kgco2e, mean_kgco2e, median_kgco2e, p2_5_kgco2e, p5_kgco2e, p95_kgco2e, "
          "p97_5_kgco2e, n_lines, signature")
_KEY_ORDER = "TRY_CAST(key AS INTEGER) NULLS LAST, key"


def _by_view(view: str, key_name: str) -> str:
    return (f"SELECT tenant, year, basis, key AS {key_name}, label, {_STATS} FROM report_views "
            f"WHERE view = '{view}' ORDER BY tenant, year, {_KEY_ORDER}, basis")


# name -> (source table, SQL)
CONVENIENCE_VIEWS = {
    "inventory_by_scope": ("report_views", _by_view("scope", "scope")),
    "inventory_by_scope3_category": ("report_views", _by_view("scope3_category", "scope3_category")),
    "inventory_by_poste": ("report_views", _by_view("poste", "poste")),
    "scope2_location_vs_market": ("report_views", """
        SELECT tenant, year,
               max(deterministic_kgco2e) FILTER (WHERE basis = 'location') AS location_kgco2e,
               max(deterministic_kgco2e) FILTER (WHERE basis = 'market') AS market_kgco2e,
               max(deterministic_kgco2e) FILTER (WHERE basis = 'market')
                 - max(deterministic_kgco2e) FILTER (WHERE basis = 'location')
                 AS market_minus_location_kgco2e,
               max(mean_kgco2e) FILTER (WHERE basis = 'location') AS location_mean_kgco2e,
               max(mean_kgco2e) FILTER (WHERE basis = 'market') AS market_mean_kgco2e,
               max(signature) AS signature
        FROM report_views WHERE view = 'scope' AND key = '2'
        GROUP BY tenant, year ORDER BY tenant, year"""),
    "esrs_e1_6_datapoints": ("esrs_e1_6", """
        SELECT tenant, year, element, member, label, value_tco2e, mean_tco2e, p5_tco2e, p95_tco2e, unit,
               taxonomy_confirmed, signature
        FROM esrs_e1_6 ORDER BY tenant, year, element, TRY_CAST(member AS INTEGER) NULLS FIRST"""),
}


def table_uri(lake_uri: str, name: str) -> str:
    return f"{lake_uri.rstrip('/')}/{name}"


def connect(lake_uri: str, storage_options: dict[str, str] | None = None,
            tables: tuple[str, ...] = TABLES) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with a view per existing Delta table and the convenience views."""
    con = duckdb.connect()
    found = []
    for name in tables:
        try:
            dt = DeltaTable(table_uri(lake_uri, name), storage_options=storage_options)
        except TableNotFoundError:
            continue
        con.register(name, dt.to_pyarrow_dataset())
        found.append(name)
    for name, (source, sql) in CONVENIENCE_VIEWS.items():
        if source in found:
            con.execute(f"CREATE VIEW {name} AS {sql}")
    return con
