"""Resources and the Delta IO manager, defined once."""


from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field
from sqlalchemy import exc as sa_exc

from carbon_assets import settings
from carbon_assets.defs.config import CarbonParams
from carbon_assets.engine import delta_io, registry
from carbon_assets.engine.params import CalcParams, validate_tenant_slug


class ProjectFiles(dg.ConfigurableResource):
    """The data folder: factor mappings and files, tenant mappings, activity vocabulary, inbox, exports."""

    data_dir: str
    exports_dir: str

    @property
    def root(self) -> Path:
        return Path(self.data_dir)

    @property
    def mappings(self) -> Path:
        return self.root / "mappings"

    @property
    def factors(self) -> Path:
        return self.root / "factors"

    @property
    def tenants(self) -> Path:
        return self.root / "tenants"

    @property
    def vocabulary(self) -> Path:
        return self.root / "activity_keys.yaml"

    @property
    def selection(self) -> Path:
        """The declared factor-selection tie-break (engine.emissions.load_tie_break)."""
        return self.root / "selection.yaml"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    def tenant_file(self, tenant: str, name: str) -> Path:
        """A per-tenant input (scope2_instruments.csv, company.yaml...): data/tenants/<tenant>/<name>; the
        tenant is a validated slug, so the path stays inside the tenant's folder. May not exist."""
        return self.tenants / validate_tenant_slug(tenant) / name


class ReportPolicy(dg.ConfigurableResource):
    """Reporting thresholds that flag, never change, a number (so they are not in the lineage signature)."""

    yoy_threshold: float = Field(default=0.05, ge=0.0, description="Warn when a year's total moves more than "
                                                                     "this fraction from the previous year")


class LakeStorage(dg.ConfigurableResource):
    """Where Delta tables live: a local path or an s3:// URI (credentials and endpoint from the
    environment at run time, never in the resource config: settings.lake_storage_options)."""

    root_uri: str

    def table_uri(self, name: str) -> str:
        return f"{self.root_uri.rstrip('/')}/{name}"

    def storage_options(self) -> dict[str, str] | None:
        return settings.lake_storage_options(self.root_uri)


class RegistryResource(dg.ConfigurableResource):
    """The SQL factor registry (engine/registry.py): a SQLAlchemy URL, SQLite or postgresql+psycopg://."""

    db_url: str

    def publish(self, snapshot: pl.DataFrame, snapshot_id: str, content_sha256: str,
                delta_version: int | None) -> registry.PublishResult:
        engine = registry.make_engine(self.db_url)
        try:
            return registry.publish_snapshot(engine, snapshot, snapshot_id, content_sha256, delta_version)
        except sa_exc.OperationalError as exc:  # server down or unreachable: the transaction never committed
            raise dg.Failure(description=f"factor registry {self.display_url()} unreachable: "
                                         f"{str(exc.orig).strip().splitlines()[0]}; nothing was published") from exc
        finally:
            engine.dispose()

    def display_url(self) -> str:
        return registry.redacted(self.db_url)


def _slice(partition_key, dims: list[str]) -> dict[str, str]:
    if isinstance(partition_key, dg.MultiPartitionKey):
        return dict(partition_key.keys_by_dimension)
    return {dims[0]: partition_key}


def _dims(context) -> list[str]:
    pdef = context.asset_partitions_def
    if isinstance(pdef, dg.MultiPartitionsDefinition):
        return [d.name for d in pdef.partitions_defs]
    return ["namespace"] if pdef is not None else []


def _require_materialized(context: dg.InputContext, keys: list[dict[str, str]]) -> None:
    """An empty slice is a valid result (no rejects, say); a slice never written is missing upstream data.
    Only the instance knows the difference: fail naming the asset and partitions, never report on nothing."""
    done = context.instance.get_materialized_partitions(context.asset_key)
    missing = [k for k, where in zip(context.asset_partition_keys, keys) if k not in done]
    if missing:
        names = "; ".join(", ".join(f"{c}={v}" for c, v in sorted(w.items()))
                          for k, w in zip(context.asset_partition_keys, keys) if k in missing)
        raise dg.Failure(description=f"missing upstream data: {context.asset_key.to_user_string()} has never been "
                                     f"materialized for {names}; materialize it first (nothing was published)",
                         metadata={"asset": context.asset_key.to_user_string(), "partitions": names})


class DeltaIOManager(dg.ConfigurableIOManager):
    """polars frames <-> Delta tables, one table per asset, one slice per partition (idempotent)."""

    storage: dg.ResourceDependency[LakeStorage]

    def _uri(self, context) -> str:
        return self.storage.table_uri("/".join(context.asset_key.path))

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame) -> None:
        where = _slice(context.asset_partition_key, _dims(context)) if context.has_asset_partitions else {}
        uri = self._uri(context)
        try:
            version = delta_io.write_slice(obj, uri, where, storage_options=self.storage.storage_options(),
                                           custom_metadata={"dagster_run_id": context.run_id})
        except OSError as exc:  # storage unreachable: no commit happened, the table keeps its version
            raise dg.Failure(description=f"cannot write Delta table {uri}: {exc}; the table is left at its "
                                         "previous version") from exc
        context.add_output_metadata({"table_uri": uri, "delta_version": version, "rows": obj.height,
                                     **({"partition_columns": ", ".join(sorted(where))} if where else {})})

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        uri = self._uri(context)
        if delta_io.table_version(uri, self.storage.storage_options()) is None:
            raise dg.Failure(description=f"missing upstream data: table {uri} does not exist yet; materialize "
                                         f"{context.asset_key.to_user_string()} first (nothing was published)")
        lf = pl.scan_delta(uri, storage_options=self.storage.storage_options())
        if context.has_asset_partitions:
            dims = _dims(context)
            keys = [_slice(k, dims) for k in context.asset_partition_keys]
            _require_materialized(context, keys)
            expr = pl.lit(False)
            for k in keys:
                expr = expr | pl.all_horizontal([pl.col(c) == v for c, v in k.items()])
            lf = lf.filter(expr)
        return lf.collect()


@dg.definitions
def resources() -> dg.Definitions:
    lake = LakeStorage(root_uri=settings.lake_uri())
    return dg.Definitions(resources={
        "io_manager": DeltaIOManager(storage=lake),
        "lake": lake,
        "files": ProjectFiles(data_dir=str(settings.data_dir()), exports_dir=str(settings.exports_dir())),
        "registry": RegistryResource(db_url=settings.db_url()),
        "params": CarbonParams.from_domain(CalcParams.from_env()),
        "policy": ReportPolicy(yoy_threshold=settings.yoy_threshold()),
    })
