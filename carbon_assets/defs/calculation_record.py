"""The calculations record of a tenant-year, from the Dagster instance and the lake.

The instance knows, per asset and partition, the last materialization's content sha256, Delta version and
lineage signature (defs/versioning.py, the Delta IO manager); the lake holds the slices at those versions.
``build_record`` gathers them, re-derives the signature from what it found and refuses to record anything
that does not give back the signature the emissions carry. ``write_record`` adds the row to the tenant-year's
slice of the `calculations` table, keeping the rows of earlier signatures (so they stay replayable).
"""

from collections.abc import Iterable
from pathlib import Path

import dagster as dg
import polars as pl

from carbon_assets.engine import calculation, calculations, delta_io, lineage, replay
from carbon_assets.engine.params import CalcParams

TABLE = replay.CALCULATIONS_TABLE


class RecordError(RuntimeError):
    """The instance and the lake do not describe one consistent calculation (nothing is recorded)."""


def partition_key(tenant: str, year: str) -> str:
    return str(dg.MultiPartitionKey({"tenant": tenant, "year": year}))


def latest_materialization(instance: dg.DagsterInstance, asset: str,
                           partition: str | None = None) -> dg.AssetMaterialization | None:
    flt = dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition] if partition else None)
    recs = instance.fetch_materializations(flt, limit=1).records
    return recs[0].asset_materialization if recs else None


def _meta(mat: dg.AssetMaterialization, key: str):
    v = mat.metadata.get(key)
    return None if v is None else getattr(v, "value", v)


def _table_version(mat: dg.AssetMaterialization) -> calculations.TableVersion:
    version = _meta(mat, "delta_version")
    return calculations.TableVersion(_meta(mat, "content_sha256"), None if version is None else int(version))


def _read(lake_uri: str, table: str, version: int, tenant: str | None, year: str | None,
          storage_options: dict | None) -> pl.DataFrame:
    where = {"tenant": [tenant], "year": [year]} if tenant else None
    return delta_io.read_slices(f"{lake_uri.rstrip('/')}/{table}", where, storage_options=storage_options,
                                version=version)


def _snapshot_version(instance: dg.DagsterInstance, lake_uri: str, snapshot_id: str,
                      storage_options: dict | None) -> tuple[int, pl.DataFrame]:
    """A Delta version of factor_snapshot holding ``snapshot_id``: the newest materialization that says so,
    else the newest version in the table's history (materialized outside this instance)."""
    flt = dg.AssetRecordsFilter(asset_key=dg.AssetKey("factor_snapshot"))
    candidates = [int(_meta(r.asset_materialization, "delta_version"))
                  for r in instance.fetch_materializations(flt, limit=50).records
                  if _meta(r.asset_materialization, "snapshot_id") == snapshot_id
                  and _meta(r.asset_materialization, "delta_version") is not None]
    uri = f"{lake_uri.rstrip('/')}/factor_snapshot"
    latest = delta_io.table_version(uri, storage_options)
    if latest is None:
        raise RecordError(f"no factor_snapshot table at {uri}")
    for v in [*candidates, *range(latest, -1, -1)]:
        snap = _read(lake_uri, "factor_snapshot", v, None, None, storage_options)
        if calculation.snapshot_id(snap) == snapshot_id:
            return v, snap
    raise RecordError(f"factor snapshot {snapshot_id} is in no version of {uri}")


def build_record(instance: dg.DagsterInstance, lake_uri: str, storage_options: dict | None, data_dir: str | Path,
                 tenant: str, year: str, params: CalcParams, code_version: str,
                 outputs: Iterable[str] = replay.REPLAYABLE) -> dict:
    """The calculations row of the tenant-year's latest calculation (see the module docstring)."""
    part = partition_key(tenant, year)
    em_mat = latest_materialization(instance, "emissions", part)
    if em_mat is None:
        raise RecordError(f"emissions of {part} were never materialized: nothing to record")
    sig, snapshot_id = _meta(em_mat, "lineage_sha256"), _meta(em_mat, "snapshot_id")
    found: dict[str, calculations.TableVersion] = {}
    backend = None
    for table in outputs:
        mat = latest_materialization(instance, table, part)
        if mat is None:
            continue
        lineage_sig = _meta(mat, "lineage_sha256")
        if lineage_sig is not None and lineage_sig != sig:  # left over from another calculation
            continue
        found[table] = _table_version(mat)
        if table == "emission_distributions":
            backend = _meta(mat, "mc_backend") or None
    for needed in ("activities", "activity_rejects", "emissions"):
        if needed not in found:
            raise RecordError(f"{needed} of {part} has no materialization for signature {sig}")

    raw_mat = latest_materialization(instance, "raw_activities", part)
    if raw_mat is None:
        raise RecordError(f"raw_activities of {part} were never materialized")
    raw_ref = _table_version(raw_mat)
    raw = _read(lake_uri, "raw_activities", raw_ref.delta_version, tenant, year, storage_options)
    if lineage.frame_sha256(raw) != raw_ref.content_sha256:
        raise RecordError(f"raw_activities of {part} at Delta version {raw_ref.delta_version} is not the content "
                          "its materialization recorded (rewritten since?)")
    frames = {}
    for table in ("activities", "activity_rejects"):
        ref = found[table]
        frames[table] = _read(lake_uri, table, ref.delta_version, tenant, year, storage_options)
        if lineage.frame_sha256(frames[table]) != ref.content_sha256:
            raise RecordError(f"{table} of {part} at Delta version {ref.delta_version} does not hash to its "
                              "materialization's content_sha256")
    inputs = lineage.input_files(frames["activities"], frames["activity_rejects"])
    snap_version, snap = _snapshot_version(instance, lake_uri, snapshot_id, storage_options)
    snap_sha = lineage.frame_sha256(snap)

    config = calculation.ConfigFiles(Path(data_dir), tenant)
    entries = calculations.config_entries(config)
    parameters = params.for_tenant(tenant).signature_dict()
    derived = calculation.signature_from(inputs, snap_sha, year, {r: e["sha256"] for r, e in entries.items()},
                                         code_version, parameters)
    if derived != sig:
        raise RecordError(f"the inputs, factor snapshot {snapshot_id}, config files, code version and parameters "
                          f"found now give signature {derived}, not the emissions' {sig}: a config file or a "
                          "parameter changed since the calculation; rematerialize the tenant-year")
    return calculations.record(
        tenant=tenant, year=year, signature=sig, parameters=parameters, code_version=code_version, inputs=inputs,
        raw_activities=raw_ref, factor_snapshot_id=snapshot_id,
        factor_snapshot=calculations.TableVersion(snap_sha, snap_version), config_files=entries, outputs=found,
        mc_backend=backend)


def existing_rows(lake_uri: str, tenant: str, year: str, storage_options: dict | None) -> pl.DataFrame | None:
    """The tenant-year's slice of the calculations table (None before the first record)."""
    uri = f"{lake_uri.rstrip('/')}/{TABLE}"
    if delta_io.table_version(uri, storage_options) is None:
        return None
    return delta_io.read_slices(uri, {"tenant": [tenant], "year": [year]}, storage_options=storage_options)


def write_record(lake_uri: str, row: dict, storage_options: dict | None) -> int:
    """Add ``row`` to its tenant-year's slice of the calculations table; returns the new Delta version."""
    tenant, year = row["tenant"], row["year"]
    merged = calculations.merge(existing_rows(lake_uri, tenant, year, storage_options), row)
    return delta_io.write_slice(merged, f"{lake_uri.rstrip('/')}/{TABLE}", {"tenant": tenant, "year": year},
                                storage_options=storage_options)
