"""Emission factors per namespace, and the unpartitioned factor snapshot."""


import dagster as dg
import polars as pl

from carbon_assets import settings
from carbon_assets.defs.partitions import namespace_partitions
from carbon_assets.defs.resources import ProjectFiles
from carbon_assets.defs.versioning import markdown_table, versioned
from carbon_assets.engine import factors, lineage


@dg.asset(partitions_def=namespace_partitions, group_name="factors", kinds={"polars", "delta"},
          code_version=settings.asset_code_version())
def emission_factors(context: dg.AssetExecutionContext, files: ProjectFiles) -> dg.Output[pl.DataFrame]:
    """Normalised factor rows of one namespace, read from its sources through their YAML mappings."""
    df, hashes = factors.read_namespace(files.mappings, files.factors, context.partition_key)
    return versioned(df, source_hashes=dg.MetadataValue.json(hashes),
                     lineage_sha256=lineage.signature(inputs=hashes, factor_snapshot=None, mappings={},
                                                      code_version=settings.full_code_version(), parameters={}),
                     preview=markdown_table(df.select("factor_id", "activity_key", "unit", "value_kgco2e", "dist")))


@dg.asset(group_name="factors", kinds={"polars", "delta"}, code_version=settings.asset_code_version())
def factor_snapshot(emission_factors: pl.DataFrame) -> dg.Output[pl.DataFrame]:
    """Union of every namespace's factors with a snapshot_id (content hash); ids unique across sources."""
    snap = factors.build_snapshot([emission_factors])
    snapshot_id = "fs-" + lineage.frame_sha256(snap)[:16]
    snap = snap.with_columns(pl.lit(snapshot_id).alias("snapshot_id"))
    by_ns = dict(snap.group_by("namespace").len().sort("namespace").rows())
    return versioned(snap, snapshot_id=snapshot_id, factors_by_namespace=dg.MetadataValue.json(by_ns))
