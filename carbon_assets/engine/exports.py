"""Latest-only JSON documents for the web front end (/app/bilan, /app/strategy, /app/esg) and their
all-or-nothing publication under ``<exports>/<tenant>/<year>/``.

The page builders are pure: frames in, JSON-ready dicts out (kgCO2e for the bilan and strategy pages as in
the client note's calculation result, tCO2eq for ESRS). They refuse incomplete inputs with an ``ExportError``
naming what is missing, so a page is never built from half the data; ``publish`` then switches the whole
set of files of a tenant-year at once, so a reader never sees a partial or mixed publication.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

import polars as pl

from carbon_assets.engine import reports
from carbon_assets.engine.params import ParameterError, validate_tenant_slug

VIEW_COLUMNS = ["tenant", "year", "view", "basis", "key", "label", "deterministic_kgco2e", "mean_kgco2e",
                "median_kgco2e", "p2_5_kgco2e", "p5_kgco2e", "p95_kgco2e", "p97_5_kgco2e", "n_lines"]
TRAJECTORY_COLUMNS = ["tenant", "year", "deterministic_kgco2e", "mean_kgco2e", "p5_kgco2e", "p95_kgco2e"]
TRAJECTORY_DELTA_COLUMNS = ["delta_mean_kgco2e", "delta_p5_kgco2e", "delta_p95_kgco2e", "pct_change_deterministic"]
ESRS_COLUMNS = ["tenant", "year", "element", "member", "label", "value_tco2e", "mean_tco2e", "p5_tco2e",
                "p95_tco2e", "unit", "taxonomy_confirmed"]
# E1-6 datapoints without which the ESG page would be wrong rather than incomplete (names from the
# EFRAG ESRS XBRL taxonomy 2023-12-22, as quoted in DOMAIN.md)
ESRS_REQUIRED = ("esrs:GrossScope1GreenhouseGasEmissions", "esrs:GrossLocationBasedScope2GreenhouseGasEmissions",
                 "esrs:GrossMarketBasedScope2GreenhouseGasEmissions", "esrs:GrossScope3GreenhouseGasEmissions")
BASES = ("location", "market")
# the files of one tenant-year publication, as the report glue publishes them
DOCUMENTS = ("bilan.json", "strategy.json", "esg.json", "inventory.json", "report.html", "provenance.json")
MANIFEST = "manifest.json"
_DOC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_YEAR = re.compile(r"^[0-9]{4}$")


class ExportError(ValueError):
    """A page or publication cannot be built: the message names the input and what is missing."""


# ---- values ----------------------------------------------------------------------------------------

def _num(v) -> float | None:
    """A JSON number, or null for a missing value (JSON has no NaN)."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _clean(obj):
    """``obj`` with every non-finite float replaced by None (recursively)."""
    if isinstance(obj, float):
        return _num(obj)
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def json_bytes(doc: dict) -> bytes:
    """The canonical serialisation of a page (sorted keys, UTF-8, final newline): same doc, same bytes."""
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def _stats(r: dict) -> dict:
    """Deterministic value and Monte-Carlo summary of a view row (kgCO2e), in the client note's names."""
    return {"deterministic": _num(r["deterministic_kgco2e"]), "mean": _num(r["mean_kgco2e"]),
            "median": _num(r["median_kgco2e"]), "ci_90": [_num(r["p5_kgco2e"]), _num(r["p95_kgco2e"])],
            "ci_95": [_num(r["p2_5_kgco2e"]), _num(r["p97_5_kgco2e"])], "n_lines": r["n_lines"]}


def _need_columns(frame: pl.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ExportError(f"{what}: missing column(s) {missing} (has {frame.columns})")


def _slice(frame: pl.DataFrame, tenant: str, year: str, what: str) -> pl.DataFrame:
    out = frame.filter((pl.col("tenant") == tenant) & (pl.col("year") == year))
    if out.height == 0:
        raise ExportError(f"{what}: no rows for tenant {tenant!r} year {year!r} (upstream not materialized?)")
    return out


def _int_key(key: str, what: str) -> int:
    try:
        return int(key)
    except (TypeError, ValueError):
        raise ExportError(f"{what}: key {key!r} is not a number") from None


# ---- /app/bilan ------------------------------------------------------------------------------------

def _one(rows: pl.DataFrame, what: str) -> dict:
    if rows.height != 1:
        raise ExportError(f"{what}: expected exactly one row, found {rows.height}")
    return rows.row(0, named=True)


def _factor_shares(emissions: pl.DataFrame) -> dict[tuple[str, str], list[dict]]:
    """(scope, category) -> the factors its matched lines used, largest share of the emissions first."""
    used = (reports.matched_lines(emissions)
            .group_by("scope", "category", "factor_id")
            .agg(pl.col("factor_value").first(), pl.col("factor_unit").first(),
                 pl.col("em_kgco2e").sum().alias("kgco2e"), pl.len().alias("n_lines"))
            .with_columns(pl.col("kgco2e").abs().alias("_abs"))
            .sort(["scope", "category", "_abs", "factor_id"], descending=[False, False, True, False]))
    out: dict[tuple[str, str], list[dict]] = {}
    for r in used.iter_rows(named=True):
        out.setdefault((r["scope"], r["category"]), []).append(
            {"id": r["factor_id"], "value": _num(r["factor_value"]), "unit": r["factor_unit"],
             "kgco2e": _num(r["kgco2e"]), "n_lines": r["n_lines"]})
    return out


def _breakdown(base: list[dict], emissions: pl.DataFrame) -> list[dict]:
    """The export's breakdown in the client note's shape: scope a number, ``fe_used`` one factor {id,
    value, unit} (the one carrying the largest share of the line's emissions); all of them in ``fe_used_all``."""
    shares = _factor_shares(emissions)
    out = []
    for b in base:
        used = shares.get((b["scope"], b["category"]), [])
        out.append({**b, "scope": _int_key(b["scope"], "inventory scope"),
                    "fe_used": {k: used[0][k] for k in ("id", "value", "unit")} if used else None,
                    "fe_used_all": used})
    return out


def _poste_key(key: str) -> int | str:
    """A poste number ("1".."23") as a number; another key (postes.UNASSIGNED) as it is."""
    return int(key) if key.isdigit() else key


def _poste_order(r: dict) -> tuple:
    return (0, int(r["key"]), "", r["basis"]) if r["key"].isdigit() else (1, 0, r["key"], r["basis"])


def bilan_page(inventory: pl.DataFrame, views: pl.DataFrame, emissions: pl.DataFrame, rejects_count: int,
               provenance_summary: dict, mc_samples_location: str | None = None) -> dict:
    """The /app/bilan document of one tenant-year: the client note's calculation result (section 4.3:
    calculation_id, signature, tenant_id, period, summary, breakdown, provenance, mc_samples_location),
    extended with the deterministic value and 95% interval beside the MC summary, and:

    - ``totals``: {"location"|"market": stats} from the views' total rows;
    - ``scopes_by_basis``: {"location"|"market": {"1"|"2"|"3": stats}} (scopes 1 and 3 are the same rows
      under both bases; ``scopes`` keeps the inventory's scope subtotals, location-based);
    - ``scope3_categories``: [{category: 1..15, label, stats}] and ``postes``: [{poste: 1..23, basis, label,
      stats}] (Bilan Carbone / BEGES postes, numbered, then a text key for lines without a poste, e.g.
      "unassigned"; poste 6 under both bases);
    - ``breakdown`` rows per (scope, category), ``fe_used`` the main factor and ``fe_used_all`` every factor.

    stats = {deterministic, mean, median, ci_90: [p5, p95], ci_95: [p2.5, p97.5], n_lines}, kgCO2e.
    ``summary`` is the location-based total (the inventory's). Raises ExportError when the inventory or
    the views lack a row the page needs, or when the two disagree on the total.
    """
    if inventory.height == 0:
        raise ExportError("inventory report: no rows (no matched emission lines?)")
    _need_columns(inventory, reports.REPORT_COLUMNS, "inventory report")
    tenant, year = inventory["tenant"][0], inventory["year"][0]
    if inventory.select("tenant", "year").n_unique() != 1:
        raise ExportError("inventory report: holds several tenant-years, expected one")
    _need_columns(views, VIEW_COLUMNS, "report views")
    v = _slice(views, tenant, year, "report views")
    base = _clean(reports.export_json(inventory, emissions, rejects_count, provenance_summary))

    totals = {b: _one(v.filter((pl.col("view") == "total") & (pl.col("basis") == b)),
                      f"report views {tenant} {year}: total row with basis {b!r}") for b in BASES}
    inv_total = base["summary"]["total_deterministic_kgCO2e"]
    view_total = totals["location"]["deterministic_kgco2e"]
    if not math.isclose(inv_total, view_total, rel_tol=1e-9, abs_tol=1e-6):
        raise ExportError(f"report views {tenant} {year}: location total {view_total!r} kgCO2e differs from the "
                          f"inventory total {inv_total!r} (views from another calculation?)")
    scope_rows = v.filter(pl.col("view") == "scope")
    scopes_by_basis = {}
    for b in BASES:
        rows = scope_rows.filter(pl.col("basis").is_in([b, "both"])).sort("key")
        if rows["key"].n_unique() != rows.height:
            raise ExportError(f"report views {tenant} {year}: several scope rows for one scope under basis {b!r}")
        if rows.height == 0:
            raise ExportError(f"report views {tenant} {year}: no scope row for basis {b!r}")
        scopes_by_basis[b] = {r["key"]: {"label": r["label"], **_stats(r)} for r in rows.iter_rows(named=True)}
    cats = sorted(v.filter(pl.col("view") == "scope3_category").iter_rows(named=True),
                  key=lambda r: _int_key(r["key"], "scope3_category view"))
    postes = sorted(v.filter(pl.col("view") == "poste").iter_rows(named=True), key=_poste_order)
    return {
        **base,
        "page": "bilan",
        "unit": "kgCO2e",
        "summary": {**base["summary"], "basis": "location",
                    "ci_95": [_num(totals["location"]["p2_5_kgco2e"]), _num(totals["location"]["p97_5_kgco2e"])]},
        "breakdown": _breakdown(base["breakdown"], emissions),
        "totals": {b: _stats(r) for b, r in totals.items()},
        "scopes_by_basis": scopes_by_basis,
        "scope3_categories": [{"category": int(r["key"]), "label": r["label"], **_stats(r)} for r in cats],
        "postes": [{"poste": _poste_key(r["key"]), "basis": r["basis"], "label": r["label"], **_stats(r)}
                   for r in postes],
        "mc_samples_location": mc_samples_location,
    }


# ---- /app/strategy ---------------------------------------------------------------------------------

IMPROVE_NEXT_METHOD = ("inputs ranked by their first-order Sobol index S1 for the total (the expected share of "
                       "the total's variance removed if that input were known exactly), then by their total index ST")


def strategy_page(trajectory: pl.DataFrame, tenant: str, year: str, sensitivity: pl.DataFrame,
                  n_improve: int = 10) -> dict:
    """The /app/strategy document of one tenant-year: the trajectory of the tenant's inventory up to
    ``year`` (later years would make this year's page change when they land) with each year's change from
    the previous one (its interval from shared factor draws), and the "improve next" ranking of the inputs
    for ``year`` (``reports.improve_next``).

    trajectory: tenant, year, deterministic_kgco2e, mean_kgco2e, p5_kgco2e, p95_kgco2e and, when the year
    has a previous one, delta_mean_kgco2e, delta_p5_kgco2e, delta_p95_kgco2e, pct_change_deterministic
    (passed through as given: engine/trajectory.py gives a ratio, -0.10 for a 10% fall); the columns
    median_kgco2e, p2_5_kgco2e/p97_5_kgco2e, n_lines, prev_year, delta_deterministic_kgco2e and
    prob_decrease are passed through when present. The trajectory asset's slices (``year`` the as-of
    partition, ``point_year`` the year a row describes) are accepted too: the rows as of ``year`` are used.
    sensitivity: reports.SENSITIVITY_COLUMNS.
    Each point: {year, deterministic, mean, ci_90, [median, ci_95, n_lines], delta_vs_previous: null |
    {mean, ci_90, pct_change_deterministic, [prev_year, deterministic, prob_decrease]}}.
    """
    if "point_year" in trajectory.columns:  # the stored slices: one trajectory per as-of year
        trajectory = trajectory.filter(pl.col("year") == year).drop("year").rename({"point_year": "year"})
    _need_columns(trajectory, TRAJECTORY_COLUMNS, "trajectory")
    _need_columns(sensitivity, reports.SENSITIVITY_COLUMNS, "sensitivity")
    own = trajectory.filter(pl.col("tenant") == tenant)
    bad = [y for y in own["year"].to_list() if not _YEAR.match(str(y))]
    if bad:
        raise ExportError(f"trajectory of {tenant!r}: year {bad[0]!r} is not a 4-digit year")
    own = own.filter(pl.col("year").cast(pl.Int64) <= int(year)).sort("year")
    if own.filter(pl.col("year") == year).height == 0:
        raise ExportError(f"trajectory: no row for tenant {tenant!r} year {year!r} (upstream not materialized?)")
    if own["year"].n_unique() != own.height:
        raise ExportError(f"trajectory of {tenant!r}: several rows for one year")
    has_delta = all(c in own.columns for c in TRAJECTORY_DELTA_COLUMNS)
    cols = set(own.columns)
    points = []
    for r in own.iter_rows(named=True):
        delta = None
        if has_delta and r["delta_mean_kgco2e"] is not None:
            delta = {"mean": _num(r["delta_mean_kgco2e"]),
                     "ci_90": [_num(r["delta_p5_kgco2e"]), _num(r["delta_p95_kgco2e"])],
                     "pct_change_deterministic": _num(r["pct_change_deterministic"])}
            if "prev_year" in cols:
                delta["prev_year"] = r["prev_year"]
            if "delta_deterministic_kgco2e" in cols:
                delta["deterministic"] = _num(r["delta_deterministic_kgco2e"])
            if "prob_decrease" in cols:
                delta["prob_decrease"] = _num(r["prob_decrease"])
        point = {"year": r["year"], "deterministic": _num(r["deterministic_kgco2e"]),
                 "mean": _num(r["mean_kgco2e"]), "ci_90": [_num(r["p5_kgco2e"]), _num(r["p95_kgco2e"])]}
        if "median_kgco2e" in cols:
            point["median"] = _num(r["median_kgco2e"])
        if {"p2_5_kgco2e", "p97_5_kgco2e"} <= cols:
            point["ci_95"] = [_num(r["p2_5_kgco2e"]), _num(r["p97_5_kgco2e"])]
        if "n_lines" in cols:
            point["n_lines"] = r["n_lines"]
        points.append({**point, "delta_vs_previous": delta})
    sens = _slice(sensitivity, tenant, year, "sensitivity")
    ranking = reports.improve_next(sens, n_improve)
    return {
        "page": "strategy", "tenant_id": tenant, "period": year, "unit": "kgCO2e",
        "trajectory": points,
        "improve_next": [{"rank": r["rank"], "input": r["input"], "input_kind": r["input_kind"],
                          "s1": _num(r["s1"]), "st": _num(r["st"])} for r in ranking.iter_rows(named=True)],
        "improve_next_method": IMPROVE_NEXT_METHOD,
    }


# ---- /app/esg --------------------------------------------------------------------------------------

def _revenue(company: Mapping | None, year: str) -> float | None:
    """Net revenue of ``year`` from company.yaml's ``net_revenue`` mapping (year -> amount, keys 2024 or "2024")."""
    if not company:
        return None
    by_year = company.get("net_revenue") or {}
    if not isinstance(by_year, Mapping):
        raise ExportError(f"company: net_revenue must map year -> amount, got {by_year!r}")
    value = by_year.get(year, by_year.get(int(year)) if _YEAR.match(year) else None)
    return _num(value)


def esg_page(esrs: pl.DataFrame, company: Mapping | None, tenant: str | None = None,
             year: str | None = None) -> dict:
    """The /app/esg document: ESRS E1-6 datapoints of one tenant-year in tCO2eq keyed by EFRAG taxonomy
    element. Each element: {label, unit, taxonomy_confirmed, value (deterministic), mean, ci_90: [p5, p95],
    members: {member: {label, taxonomy_confirmed, value, mean, ci_90}}}; value fields are null when the element only has
    member rows (e.g. Scope 3 by category). ``company``: the parsed company.yaml (name, currency,
    net_revenue: {year: amount}) or None. ``esrs`` must hold one tenant-year, or give ``tenant`` and ``year``.
    """
    _need_columns(esrs, ESRS_COLUMNS, "ESRS E1-6 datapoints")
    if tenant is not None and year is not None:
        rows = _slice(esrs, tenant, year, "ESRS E1-6 datapoints")
    else:
        if esrs.height == 0:
            raise ExportError("ESRS E1-6 datapoints: no rows (upstream not materialized?)")
        if esrs.select("tenant", "year").n_unique() != 1:
            raise ExportError("ESRS E1-6 datapoints: several tenant-years, pass tenant and year")
        rows, tenant, year = esrs, esrs["tenant"][0], esrs["year"][0]
    missing = [e for e in ESRS_REQUIRED if e not in set(rows["element"].to_list())]
    if missing:
        raise ExportError(f"ESRS E1-6 datapoints {tenant} {year}: missing element(s) {missing}")
    if rows.select("element", "member").n_unique() != rows.height:
        raise ExportError(f"ESRS E1-6 datapoints {tenant} {year}: several rows for one (element, member)")
    points: dict[str, dict] = {}
    for r in rows.sort("element", "member", nulls_last=False).iter_rows(named=True):
        p = points.setdefault(r["element"], {"label": None, "unit": r["unit"], "taxonomy_confirmed": None,
                                             "value": None, "mean": None, "ci_90": [None, None], "members": {}})
        values = {"value": _num(r["value_tco2e"]), "mean": _num(r["mean_tco2e"]),
                  "ci_90": [_num(r["p5_tco2e"]), _num(r["p95_tco2e"])]}
        if r["member"] is None:
            p.update(label=r["label"], unit=r["unit"], taxonomy_confirmed=bool(r["taxonomy_confirmed"]), **values)
        else:
            p["members"][r["member"]] = {"label": r["label"], "taxonomy_confirmed": bool(r["taxonomy_confirmed"]),
                                         **values}
            if p["taxonomy_confirmed"] is None:
                p["taxonomy_confirmed"] = bool(r["taxonomy_confirmed"])
    revenue = _revenue(company, year)
    return {
        "page": "esg", "tenant_id": tenant, "period": year, "standard": "ESRS E1-6", "unit": "tCO2eq",
        "taxonomy": "EFRAG ESRS XBRL taxonomy 2023-12-22",
        "signature": rows["signature"][0] if "signature" in rows.columns else None,
        "datapoints": points,
        "company": {"name": (company or {}).get("name"), "currency": (company or {}).get("currency"),
                    "net_revenue": revenue},
    }


# ---- one tenant-year's documents ------------------------------------------------------------------

def documents(*, tenant: str, year: str, inventory: pl.DataFrame, views: pl.DataFrame, emissions: pl.DataFrame,
              rejects_count: int, provenance_summary: dict, trajectory: pl.DataFrame, sensitivity: pl.DataFrame,
              esrs: pl.DataFrame, company: Mapping | None, total_samples,
              provenance_doc: dict | str | bytes | None = None,
              tornado: pl.DataFrame | None = None, mc_samples_location: str | None = None) -> dict[str, bytes]:
    """Every file of one tenant-year's publication, built in memory: bilan.json, strategy.json, esg.json,
    inventory.json (the existing calculation export, reports.export_json), report.html and, when given,
    provenance.json (a dict is serialised with ``json_bytes``; text or bytes, e.g. provenance.dumps(doc), are
    published as they are). total_samples: the location-based total's Monte-Carlo samples, or (counts, edges);
    tornado: optional ``sensitivity.tornado`` rows of the total. Any missing input raises here, before anything
    is written, so that ``publish`` only ever receives a complete set."""
    from carbon_assets.engine import html_report  # html_report imports this module

    if inventory.height and (inventory["tenant"][0], inventory["year"][0]) != (tenant, year):
        raise ExportError(f"inventory report is for {inventory['tenant'][0]} {inventory['year'][0]}, "
                          f"not {tenant} {year}")
    inv = inventory.filter((pl.col("tenant") == tenant) & (pl.col("year") == year))
    bilan = bilan_page(inv, views, emissions, rejects_count, provenance_summary, mc_samples_location)
    docs = {
        "bilan.json": json_bytes(bilan),
        "strategy.json": json_bytes(strategy_page(trajectory, tenant, year, sensitivity)),
        "esg.json": json_bytes(esg_page(esrs, company, tenant, year)),
        "inventory.json": json_bytes(_clean(reports.export_json(inv, emissions, rejects_count, provenance_summary))),
        "report.html": html_report.render(tenant, year, views, total_samples, sensitivity, esrs,
                                          signature=bilan["signature"], provenance=provenance_summary,
                                          tornado=tornado).encode("utf-8"),
    }
    if isinstance(provenance_doc, dict):
        docs["provenance.json"] = json_bytes(provenance_doc)
    elif isinstance(provenance_doc, str):
        docs["provenance.json"] = provenance_doc.encode("utf-8")
    elif provenance_doc is not None:
        docs["provenance.json"] = bytes(provenance_doc)
    return docs


# ---- publication -----------------------------------------------------------------------------------

def _check_publication(exports_dir, tenant: str, year: str, documents: Mapping, required: Iterable[str]
                       ) -> dict[str, bytes]:
    try:
        validate_tenant_slug(tenant)
    except ParameterError as e:
        raise ExportError(f"publish: {e}") from None
    if not _YEAR.match(str(year)):
        raise ExportError(f"publish: year {year!r} is not a 4-digit year")
    if not documents:
        raise ExportError(f"publish {tenant} {year}: no document to publish")
    missing = sorted(set(required) - set(documents))
    if missing:
        raise ExportError(f"publish {tenant} {year}: missing document(s) {missing}; nothing published")
    payload = {}
    for name, content in documents.items():
        if not isinstance(name, str) or not _DOC_NAME.match(name) or name == MANIFEST:
            raise ExportError(f"publish {tenant} {year}: bad document name {name!r} (plain file name, not "
                              f"{MANIFEST!r})")
        if isinstance(content, str):
            content = content.encode("utf-8")
        if not isinstance(content, (bytes, bytearray)):
            raise ExportError(f"publish {tenant} {year}: document {name!r} is {type(content).__name__}, "
                              "expected bytes or str")
        payload[name] = bytes(content)
    return payload


def manifest_bytes(tenant: str, year: str, payload: Mapping[str, bytes]) -> bytes:
    """The publication's table of contents: every file with its size and SHA-256 (no date: deterministic)."""
    files = {n: {"bytes": len(b), "sha256": hashlib.sha256(b).hexdigest()} for n, b in sorted(payload.items())}
    return json_bytes({"tenant": tenant, "year": year, "files": files})


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _locked(path: Path):
    """One publisher per tenant-year at a time (the stale-directory sweep must not race a stager)."""
    with open(path, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


def publish(exports_dir: str | Path, tenant: str, year: str, documents: Mapping[str, bytes | str],
            required: Iterable[str] = ()) -> Path:
    """Publish one tenant-year's documents all at once, latest only; returns ``<exports>/<tenant>/<year>``.

    Layout: ``<exports>/<tenant>/<year>`` is a symbolic link to a hidden sibling directory
    ``.<year>-<content hash>`` holding the documents and ``manifest.json`` (each file's size and SHA-256).
    The documents are written and fsynced into a fresh hidden directory, then the link is swapped onto it
    with one ``os.replace`` (atomic rename of a symlink), then the previous directory is removed. A failure
    (or a crash) before the swap leaves the previous publication in place; hidden leftovers of a crashed
    publisher are removed by the next one. Publishing the same documents again changes nothing.
    ``required``: names that must all be in ``documents`` (else ExportError, nothing written).
    A ``<year>`` that is a plain directory (the layout before this function) is moved aside once, which
    leaves the path briefly missing during that first publication.

    Reading contract: ``<exports>/<tenant>/<year>/<file>`` is always a complete file of the latest
    publication (paths such as ``.../2024/inventory.json`` stay valid). To read SEVERAL files of one
    publication consistently, resolve the link once (``os.path.realpath``) and read every file from the
    resolved directory; if a file is then missing, a newer publication replaced it: resolve again and
    restart (``read_publication`` does this and checks the manifest's hashes). Never list or read the
    hidden ``.<year>-*`` directories directly.
    """
    payload = _check_publication(exports_dir, tenant, year, documents, required)
    manifest = manifest_bytes(tenant, year, payload)
    token = hashlib.sha256(manifest).hexdigest()[:16]
    parent = Path(exports_dir) / tenant
    parent.mkdir(parents=True, exist_ok=True)
    link = parent / year
    with _locked(parent / f".{year}.lock"):
        current = os.readlink(link) if link.is_symlink() else None
        stage = parent / f".{year}-{token}"
        if current == stage.name and stage.is_dir():
            return link  # the same documents are already the latest publication
        for stale in parent.glob(f".{year}-*"):  # leftovers of a crashed publisher
            if stale.name != current:
                _remove(stale)
        tmp_link = parent / f".{year}-{token}.link"
        legacy = parent / f".{year}-{token}.legacy"
        moved_legacy = False
        try:
            stage.mkdir()
            for name in sorted(payload):
                _write_file(stage / name, payload[name])
            _write_file(stage / MANIFEST, manifest)
            _fsync_dir(stage)
            os.symlink(stage.name, tmp_link)  # relative: the tree can be moved or mounted elsewhere
            if link.is_dir() and not link.is_symlink():
                os.rename(link, legacy)  # the old layout: a real directory cannot be replaced by a link
                moved_legacy = True
            os.replace(tmp_link, link)  # the switch: readers see the old set or the new set
        except BaseException:
            if moved_legacy and not link.exists():
                os.rename(legacy, link)
            _remove(tmp_link)
            _remove(stage)
            raise
        _fsync_dir(parent)  # after the switch: a failure here must not remove the live directory
        if current is not None:
            _remove(parent / current)
        if moved_legacy:
            _remove(legacy)
    return link


def read_publication(exports_dir: str | Path, tenant: str, year: str, attempts: int = 5) -> dict[str, bytes]:
    """Every document of the latest publication of a tenant-year, all from the same publication, checked
    against its manifest (the reading contract of ``publish``)."""
    link = Path(exports_dir) / tenant / year
    last: Exception | None = None
    for _ in range(attempts):
        real = Path(os.path.realpath(link))
        try:
            manifest = json.loads((real / MANIFEST).read_bytes())
            out = {name: (real / name).read_bytes() for name in manifest["files"]}
        except FileNotFoundError as e:  # replaced between the resolution and the reads: resolve again
            last = e
            continue
        for name, meta in manifest["files"].items():
            if hashlib.sha256(out[name]).hexdigest() != meta["sha256"]:
                raise ExportError(f"publication {real}: {name} does not match its manifest hash")
        return out
    raise FileNotFoundError(f"no complete publication at {link}: {last}")
