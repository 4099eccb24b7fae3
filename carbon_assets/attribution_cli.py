"""`carbon-assets attribute`: the change between two calculations of a tenant, as a waterfall.

Each side (A, B) is a tenant-year read from the lake: its activity lines (the ``activities`` table,
optionally at a Delta version: two calculations of one tenant-year before and after new files
landed), a factor snapshot (the ``factor_snapshot`` table at a Delta version; by default the
version holding the snapshot id that the side's ``emissions`` record), parameters (CARBON_* env
vars, then the side's flags) and the tie-break (data/selection.yaml, or the side's flag).

A side may instead be a recorded calculation (``--signature-a/-b``): its inputs are rebuilt from the
`calculations` table through engine/replay.py (the raw activities and factor snapshot at their recorded
Delta versions, hash-checked; the recorded config files and parameters); the side's flags then
override the recorded parameters. Spend lines are converted with the current data folder's money
tables, not the recorded copies.

    carbon-assets attribute --tenant acme-fr --year-a 2024 --year-b 2025
    carbon-assets attribute --tenant acme-fr --year-a 2024 --gwp-a AR5 --gwp-b AR6
    carbon-assets attribute --tenant acme-fr --year-a 2024 --snapshot-version-a 3 --json
    carbon-assets attribute --signature-a sha256-... --signature-b sha256-...

Exit codes: 0 done, 2 invalid request (missing table, slice, version or signature, bad parameter).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import polars as pl
from deltalake.exceptions import DeltaError

from carbon_assets import settings
from carbon_assets.engine import attribution, delta_io
from carbon_assets.engine.emissions import DEFAULT_TIE_BREAK, TIE_BREAK_CRITERIA, load_tie_break
from carbon_assets.engine.errors import InputError
from carbon_assets.engine.params import NAMESPACES, CalcParams, ParameterError, validate_tenant_slug

EXIT_OK, EXIT_INVALID = 0, 2


class RequestError(ValueError):
    """The request names something the lake does not hold (table, slice, version)."""


@dataclasses.dataclass(frozen=True)
class Side:
    inputs: attribution.CalcInputs
    description: dict


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "attribute", help="split the change between two calculations of a tenant into activity data, factor "
                          "release, GWP set and method (Shapley waterfall)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tenant", help="the tenant (required unless both sides are given by signature)")
    p.add_argument("--year-a", help="year of calculation A (required unless --signature-a)")
    p.add_argument("--year-b", help="year of calculation B (default: --year-a)")
    p.add_argument("--lake", help="lake root URI (default: CARBON_LAKE_URI, else <data>/lake)")
    for s in ("a", "b"):
        S = s.upper()
        g = p.add_argument_group(f"calculation {S}")
        g.add_argument(f"--signature-{s}", help=f"a recorded calculation's signature (sha256-...) as {S}")
        g.add_argument(f"--activities-version-{s}", type=int, help=f"Delta version of the activities table for {S}")
        g.add_argument(f"--snapshot-version-{s}", type=int,
                       help=f"Delta version of factor_snapshot for {S} (default: the one {S}'s emissions used)")
        g.add_argument(f"--gwp-{s}", help="AR5 or AR6")
        g.add_argument(f"--primary-fe-namespace-{s}", help=f"one of {', '.join(NAMESPACES)}")
        g.add_argument(f"--fe-namespace-priority-{s}", help="comma-separated namespaces")
        g.add_argument(f"--tie-break-{s}", help=f"comma-separated criteria among {', '.join(TIE_BREAK_CRITERIA)}")
    p.add_argument("--split-year", action="store_true",
                   help="a fifth driver 'reporting year' (factor editions, fallbacks, exchange rates of the year)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--png", help="also write the waterfall chart to this PNG file")
    p.set_defaults(func=run)
    return p


def _param_flags(args: argparse.Namespace, s: str) -> dict:
    """The side's explicit parameter flags (None when not given)."""
    prio = getattr(args, f"fe_namespace_priority_{s}")
    return {"default_gwp": getattr(args, f"gwp_{s}"),
            "primary_fe_namespace": getattr(args, f"primary_fe_namespace_{s}"),
            "fe_namespace_priority": tuple(x.strip() for x in prio.split(",") if x.strip()) if prio else None}


def _params(args: argparse.Namespace, s: str) -> CalcParams:
    return CalcParams.from_env(**_param_flags(args, s))


def _tie_break(args: argparse.Namespace, s: str) -> tuple[str, ...]:
    given = getattr(args, f"tie_break_{s}")
    if given:
        order = tuple(x.strip() for x in given.split(",") if x.strip())
        unknown = [c for c in order if c not in TIE_BREAK_CRITERIA]
        if unknown or not order or order[-1] != "factor_id":
            raise ParameterError(f"parameter --tie-break-{s}={given!r} is invalid; allowed values: criteria among "
                                 f"{', '.join(TIE_BREAK_CRITERIA)}, ending with factor_id")
        return order
    path = settings.data_dir() / "selection.yaml"
    return load_tie_break(path) if path.exists() else DEFAULT_TIE_BREAK


def _table(lake: str, name: str) -> str:
    uri = f"{lake.rstrip('/')}/{name}"
    if delta_io.table_version(uri, settings.lake_storage_options(lake)) is None:
        raise RequestError(f"no Delta table {uri}: materialize the tenant-years first (carbon-assets demo or "
                           "materialize)")
    return uri


def _read(uri: str, lake: str, where: dict | None, version: int | None) -> pl.DataFrame:
    try:
        return delta_io.read_slices(uri, where, storage_options=settings.lake_storage_options(lake), version=version)
    except (OSError, DeltaError) as exc:  # an unknown or vacuumed version: name it
        if version is None:
            raise
        raise RequestError(f"cannot read {uri} at Delta version {version}: {exc}") from exc


def snapshot_version_of(lake: str, snapshot_id: str) -> int | None:
    """The newest Delta version of factor_snapshot whose rows carry ``snapshot_id`` (None if none does)."""
    uri = _table(lake, "factor_snapshot")
    opts = settings.lake_storage_options(lake)
    for v in range(delta_io.table_version(uri, opts), -1, -1):
        try:
            ids = pl.scan_delta(uri, version=v, storage_options=opts).select("snapshot_id").head(1).collect()
        except (OSError, DeltaError):  # a version whose files were vacuumed: older ones are gone too
            return None
        if ids.height and ids["snapshot_id"][0] == snapshot_id:
            return v
    return None


def _snapshot(lake: str, tenant: str, year: str, version: int | None) -> tuple[pl.DataFrame, int, str]:
    """(snapshot, its Delta version, how it was chosen)."""
    uri = _table(lake, "factor_snapshot")
    if version is not None:
        return _read(uri, lake, None, version), version, "given"
    em_uri = f"{lake.rstrip('/')}/emissions"
    opts = settings.lake_storage_options(lake)
    if delta_io.table_version(em_uri, opts) is not None:
        ids = (pl.scan_delta(em_uri, storage_options=opts).filter(delta_io.polars_filter(
            {"tenant": [tenant], "year": [year]})).select("snapshot_id").unique().collect())
        ids = ids["snapshot_id"].drop_nulls().to_list()
        if len(ids) == 1:
            v = snapshot_version_of(lake, ids[0])
            if v is None:
                raise RequestError(f"the emissions of {tenant} {year} used factor snapshot {ids[0]}, which no "
                                   f"version of {uri} holds any more; pass --snapshot-version")
            return _read(uri, lake, None, v), v, f"used by the emissions of {tenant} {year}"
    latest = delta_io.table_version(uri, opts)
    return _read(uri, lake, None, latest), latest, f"latest (no emissions recorded for {tenant} {year})"


def inputs_from_signature(lake: str, signature: str, tenant: str | None = None, year: str | None = None
                          ) -> tuple[attribution.CalcInputs, dict]:
    """The inputs of a recorded calculation, rebuilt as engine/replay.py does (recorded Delta versions of
    raw_activities and factor_snapshot, hash-checked; recorded config files and parameters)."""
    import tempfile

    from carbon_assets.engine import calculation, replay

    opts = settings.lake_storage_options(lake)
    lake = lake.rstrip("/")
    try:
        rec = replay.find_record(lake, signature, opts, tenant, year)
        where = {"tenant": [rec.tenant], "year": [rec.year]}
        raw = replay.read_version(lake, "raw_activities", rec.raw_activities.delta_version, where, opts)
        replay._check_hash("raw_activities", raw, rec.raw_activities)
        snap = replay.read_version(lake, "factor_snapshot", rec.factor_snapshot.delta_version, None, opts)
        replay._check_hash("factor_snapshot", snap, rec.factor_snapshot)
        config_data = replay._config_bytes(rec)
        params = replay._params(rec)
    except (replay.ValidationError, replay.CorruptRecord) as exc:
        raise RequestError(str(exc)) from exc
    with tempfile.TemporaryDirectory(prefix="carbon-attribute-") as tmp:
        config = calculation.ConfigFiles(Path(tmp), rec.tenant)
        for role, (path, data) in config_data.items():
            config.write(role, path, data)
        acts = calculation.activity_tables(raw, config)[0]
        tie_break = load_tie_break(config.path("selection"))
    desc = {"tenant": rec.tenant, "year": rec.year, "signature": rec.signature,
            "raw_activities_version": rec.raw_activities.delta_version, "activity_lines": acts.height,
            "snapshot_version": rec.factor_snapshot.delta_version, "snapshot_chosen": "recorded",
            "snapshot_id": rec.factor_snapshot_id}
    label = f"{rec.tenant} {rec.year} ({rec.signature[:15]}...)"
    return attribution.CalcInputs(acts, snap, params, tie_break, label), desc


def _describe(inputs: attribution.CalcInputs, desc: dict) -> dict:
    return {**desc, "default_gwp": inputs.params.default_gwp,
            "namespace_order": list(inputs.params.namespace_order()), "tie_break": list(inputs.tie_break)}


def _side_from_signature(args: argparse.Namespace, s: str, lake: str) -> Side:
    inputs, desc = inputs_from_signature(lake, getattr(args, f"signature_{s}"), args.tenant)
    flags = {k: v for k, v in _param_flags(args, s).items() if v is not None}
    if getattr(args, f"tie_break_{s}"):
        inputs = dataclasses.replace(inputs, tie_break=_tie_break(args, s))
    if flags:  # the side's flags override the recorded parameters
        inputs = dataclasses.replace(inputs, params=dataclasses.replace(inputs.params, **flags))
    for flag in ("activities_version", "snapshot_version"):
        if getattr(args, f"{flag}_{s}") is not None:
            raise ParameterError(f"--{flag.replace('_', '-')}-{s} cannot be combined with --signature-{s}: the "
                                 "record names its own versions")
    return Side(inputs, _describe(inputs, desc))


def load_side(args: argparse.Namespace, s: str, lake: str) -> Side:
    if getattr(args, f"signature_{s}"):
        return _side_from_signature(args, s, lake)
    if not args.tenant or not getattr(args, f"year_{s}"):
        raise ParameterError(f"calculation {s.upper()} needs --tenant and --year-{s} (or --signature-{s})")
    tenant = validate_tenant_slug(args.tenant)
    year = str(getattr(args, f"year_{s}"))
    acts_version = getattr(args, f"activities_version_{s}")
    acts = _read(_table(lake, "activities"), lake, {"tenant": [tenant], "year": [year]}, acts_version)
    if acts.height == 0:
        raise RequestError(f"no activity lines for {tenant} {year} in {lake.rstrip('/')}/activities"
                           + (f" at version {acts_version}" if acts_version is not None else ""))
    snap, snap_version, chosen = _snapshot(lake, tenant, year, getattr(args, f"snapshot_version_{s}"))
    params, tie_break = _params(args, s), _tie_break(args, s)
    sort_cols = [c for c in ("source_file", "source_row", "activity_id") if c in acts.columns]
    acts = acts.sort(sort_cols)  # Delta gives no row order: fix one
    label = f"{tenant} {year}"
    desc = {"tenant": tenant, "year": year, "activities_version": acts_version, "activity_lines": acts.height,
            "snapshot_version": snap_version, "snapshot_chosen": chosen,
            "snapshot_id": snap["snapshot_id"][0] if "snapshot_id" in snap.columns and snap.height else None}
    inputs = attribution.CalcInputs(acts, snap, params, tie_break, label)
    return Side(inputs, _describe(inputs, desc))


def _print_table(frame: pl.DataFrame, out) -> None:
    head = f"{'step':<16} {'change tCO2e':>13} {'running tCO2e':>14} {'share':>8}  detail"
    print(head, file=out)
    print("-" * len(head), file=out)
    for r in frame.iter_rows(named=True):
        delta = "" if r["delta_kgco2e"] is None else f"{r['delta_kgco2e'] / 1000:+,.3f}"
        share = "" if r["share_of_change"] is None else f"{100 * r['share_of_change']:.1f}%"
        print(f"{r['step']:<16} {delta:>13} {r['cumulative_kgco2e'] / 1000:>14,.3f} {share:>8}  {r['detail']}",
              file=out)


def run(args: argparse.Namespace, out=None, err=None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    if args.year_b is None and not args.signature_b:
        args.year_b = args.year_a
    lake = args.lake or settings.lake_uri()
    try:
        a, b = load_side(args, "a", lake), load_side(args, "b", lake)
        frame = attribution.waterfall(a.inputs, b.inputs, split_year=args.split_year)
    except (RequestError, ParameterError, InputError) as exc:
        print(f"carbon-assets attribute: {exc}", file=err)
        return EXIT_INVALID
    if args.png:
        Path(args.png).write_bytes(attribution.render_waterfall_png(
            frame, f"{a.inputs.label} -> {b.inputs.label}: change attribution"))
    if args.json:
        print(json.dumps({"a": a.description, "b": b.description, "waterfall": frame.to_dicts()}, indent=2),
              file=out)
    else:
        for name, side in (("A", a), ("B", b)):
            d = side.description
            print(f"{name}: {side.inputs.label}, snapshot v{d['snapshot_version']}, {d['default_gwp']}", file=out)
        _print_table(frame, out)
    return EXIT_OK
