"""Emission factors per namespace, the unpartitioned factor snapshot (with its checks), and the SQL registry."""


import dagster as dg
import polars as pl

from carbon_assets import settings
from carbon_assets.defs.partitions import namespace_partitions
from carbon_assets.defs.resources import LakeStorage, ProjectFiles, RegistryResource
from carbon_assets.defs.versioning import markdown_table, versioned
from carbon_assets.engine import delta_io, factor_checks, factors, lineage, snapshot_diff


@dg.asset(partitions_def=namespace_partitions, group_name="factors", kinds={"polars", "delta"},
          code_version=settings.asset_code_version())
def emission_factors(context: dg.AssetExecutionContext, files: ProjectFiles) -> dg.Output[pl.DataFrame]:
    """Normalised factor rows of one namespace, read from its sources through their YAML mappings."""
    df, hashes = factors.read_namespace(files.mappings, files.factors, context.partition_key)
    return versioned(df, source_hashes=dg.MetadataValue.json(hashes),
                     lineage_sha256=lineage.signature(inputs=hashes, factor_snapshot=None, mappings={},
                                                      code_version=settings.full_code_version(), parameters={}),
                     preview=markdown_table(df.select("factor_id", "activity_key", "unit", "value_kgco2e", "dist")))


_SNAPSHOT_CHECKS = [dg.AssetCheckSpec(name, asset="factor_snapshot", blocking=True,
                                     description=desc)
                    for name, desc in zip(factor_checks.CHECK_NAMES, (
                        "factor_id, namespace, unit, value_kgco2e, source_file, source_row present on every factor",
                        "factor_ids unique across sources",
                        "every unit parseable (engine.units.parse_unit)",
                        "no negative value unless the source's mapping declares allow_negative"), strict=True)]


def _previous_snapshot(lake: LakeStorage) -> pl.DataFrame | None:
    uri = lake.table_uri("factor_snapshot")
    if delta_io.table_version(uri, lake.storage_options()) is None:
        return None
    return delta_io.read_slices(uri, storage_options=lake.storage_options())


@dg.asset(group_name="factors", kinds={"polars", "delta"}, code_version=settings.asset_code_version(),
          check_specs=_SNAPSHOT_CHECKS)
def factor_snapshot(emission_factors: pl.DataFrame, files: ProjectFiles, lake: LakeStorage):
    """Union of every namespace's factors with a snapshot_id (content hash); ids unique across sources.

    Blocking checks (engine/factor_checks.py) gate the downstream registry; the metadata carries a
    diff against the previous snapshot in the lake (engine/snapshot_diff.py)."""
    snap = factors.build_snapshot([emission_factors])
    snapshot_id = "fs-" + lineage.frame_sha256(snap)[:16]
    snap = snap.with_columns(pl.lit(snapshot_id).alias("snapshot_id"))
    by_ns = dict(snap.group_by("namespace").len().sort("namespace").rows())
    outcomes = factor_checks.check_snapshot(snap, factors.discover_mappings(files.mappings))
    diff = snapshot_diff.diff_snapshots(_previous_snapshot(lake), snap)
    yield versioned(snap, snapshot_id=snapshot_id, factors_by_namespace=dg.MetadataValue.json(by_ns),
                    diff=dg.MetadataValue.json(diff), diff_summary=dg.MetadataValue.json(
                        {k: diff[k] for k in ("previous_snapshot_id", "n_added", "n_removed", "n_changed")}))
    for o in outcomes:
        yield dg.AssetCheckResult(check_name=o.name, passed=o.passed, description=o.description,
                                  severity=dg.AssetCheckSeverity.ERROR, metadata=_check_metadata(o.metadata))


def _check_metadata(meta: dict) -> dict:
    return {k: (dg.MetadataValue.json(v) if isinstance(v, (list, dict)) else
                dg.MetadataValue.text("" if v is None else str(v)) if not isinstance(v, (int, float, bool)) else v)
            for k, v in meta.items()}


@dg.asset(group_name="factors", kinds={"sql"}, code_version=settings.asset_code_version())
def factor_registry(context: dg.AssetExecutionContext, factor_snapshot: pl.DataFrame, files: ProjectFiles,
                    lake: LakeStorage, registry: RegistryResource) -> dg.MaterializeResult:
    """Publish the factor snapshot to the SQL registry and make it current (one transaction)."""
    if factor_snapshot.height == 0 or "snapshot_id" not in factor_snapshot.columns:
        raise dg.Failure(description="the factor snapshot is empty: nothing to publish")
    failed = [o for o in factor_checks.check_snapshot(factor_snapshot, factors.discover_mappings(files.mappings))
              if not o.passed]
    if failed:  # the snapshot's blocking checks only gate their own run: re-check before publishing
        raise dg.Failure(description=f"factor snapshot fails {', '.join(o.name for o in failed)}; not published",
                         metadata=_check_metadata(failed[0].metadata))
    snapshot_id = factor_snapshot["snapshot_id"][0]
    content = lineage.frame_sha256(factor_snapshot)
    version = delta_io.table_version(lake.table_uri("factor_snapshot"), lake.storage_options())
    res = registry.publish(factor_snapshot, snapshot_id, content, version)
    context.log.info(f"registry {registry.display_url()}: {snapshot_id} current "
                     f"({'published' if res.inserted else 'already published'}; previous {res.previous_snapshot_id})")
    return dg.MaterializeResult(metadata={
        "snapshot_id": snapshot_id, "content_sha256": content, "snapshot_delta_version": version,
        "n_factors": res.snapshot.n_factors, "inserted": res.inserted,
        "previous_snapshot_id": res.previous_snapshot_id or "", "db_url": registry.display_url(),
    }, data_version=dg.DataVersion(content))
