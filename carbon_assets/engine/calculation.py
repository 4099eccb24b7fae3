"""The calculation of one tenant-year as pure functions, shared by the assets and by replay.

Everything the assets do to frames lives here, so that a replay recomputes a past calculation with the
very functions that produced it: normalise activities, compute emissions and stamp them with the factor
snapshot id and the lineage signature, Monte-Carlo distributions, Sobol sensitivity, the inventory, and
(when their modules exist) the report views and ESRS datapoints.

Config files: every file the calculation reads besides its inputs (CONFIG_ROLES) is named by a role and
enters the lineage signature by its SHA-256, so a file that can change a number changes the signature.
A replay rebuilds the same layout from the recorded texts (:func:`ConfigFiles.write`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from carbon_assets.engine import activities, lineage, reports
from carbon_assets.engine import emissions as emissions_mod
from carbon_assets.engine.params import CalcParams

# role -> path under the data folder ({tenant} filled in); column_mapping is the tenant's own template
# or the default one (activities.tenant_mapping_path). Optional roles enter the signature when present.
CONFIG_ROLES = {
    "column_mapping": None,
    "activity_keys": "activity_keys.yaml",
    "selection": "selection.yaml",
    "money_eur_rates": "money/ecb_eur_reference_rates_annual.csv",  # spend lines (engine/money.py)
    "money_price_index": "money/us_cpi_u_annual.csv",
    "money_price_index_eur": "money/eurostat_hicp_ea_annual.csv",
    "money_price_index_gbp": "money/ons_cpi_d7bt_annual.csv",
    "scope2_instruments": "tenants/{tenant}/scope2_instruments.csv",  # market-based Scope 2
    "company": "tenants/{tenant}/company.yaml",  # net revenue for the ESRS intensity
    "postes": "postes.yaml",  # Bilan Carbone postes of the report views (engine/postes.py)
}
REQUIRED_ROLES = ("column_mapping", "activity_keys", "selection")


@dataclass(frozen=True)
class ConfigFiles:
    """The config files one tenant's calculation reads, under a data folder."""

    data_dir: Path
    tenant: str

    def path(self, role: str) -> Path:
        """Where the role's file lives (optional ones may not exist)."""
        if role == "column_mapping":
            return activities.tenant_mapping_path(Path(self.data_dir) / "tenants", self.tenant)
        return Path(self.data_dir) / CONFIG_ROLES[role].format(tenant=self.tenant)

    def present(self) -> dict[str, Path]:
        """role -> path of every file that exists; a missing required one is an error naming it."""
        out = {}
        for role in CONFIG_ROLES:
            p = self.path(role)
            if p.is_file():
                out[role] = p
            elif role in REQUIRED_ROLES:
                raise FileNotFoundError(f"config file {p} ({role}) not found")
        return out

    def relative(self, role: str) -> str:
        """The role's path relative to the data folder (posix), as recorded."""
        return self.path(role).resolve().relative_to(Path(self.data_dir).resolve()).as_posix()

    def sha256(self) -> dict[str, str]:
        return {role: lineage.file_sha256(p) for role, p in self.present().items()}

    def write(self, role: str, relative_path: str, data: bytes) -> Path:
        """Put a recorded file back at its place under this data folder (replay)."""
        target = (Path(self.data_dir) / relative_path).resolve()
        if not target.is_relative_to(Path(self.data_dir).resolve()):
            raise ValueError(f"config {role} path {relative_path!r} escapes the data folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return target


def signature(acts: pl.DataFrame, rejects: pl.DataFrame, snapshot: pl.DataFrame, year: str,
              config_sha256: dict[str, str], code_version: str, params: CalcParams) -> str:
    """Lineage signature of a tenant-year: input files, factor snapshot content, config files, code version,
    parameters and the partition year (the same files filed under another year give other rows)."""
    return signature_from(lineage.input_files(acts, rejects), lineage.frame_sha256(snapshot), year,
                          config_sha256, code_version, params.signature_dict())


def signature_from(inputs: dict[str, str], snapshot_sha256: str, year: str, config_sha256: dict[str, str],
                   code_version: str, parameters: dict) -> str:
    """The same signature from recorded hashes (replay re-derives it without recomputing anything)."""
    return lineage.signature(inputs=dict(sorted(inputs.items())), factor_snapshot=snapshot_sha256,
                             mappings=dict(sorted(config_sha256.items())), code_version=code_version,
                             parameters={**parameters, "year": year})


def activity_tables(raw: pl.DataFrame, config: ConfigFiles
                    ) -> tuple[pl.DataFrame, pl.DataFrame, list[dict], activities.ColumnMapping]:
    """(activities, rejects, per-file mapping reports, the column mapping) from bronze rows."""
    mapping = activities.ColumnMapping.load(config.path("column_mapping"))
    acts, rejects, per_file = activities.normalise_with_report(
        raw, mapping, activities.load_vocabulary(config.path("activity_keys")))
    return acts, rejects, per_file, mapping


def snapshot_id(snapshot: pl.DataFrame) -> str | None:
    return snapshot["snapshot_id"][0] if snapshot.height else None


def emissions(acts: pl.DataFrame, snapshot: pl.DataFrame, params: CalcParams, config: ConfigFiles,
              sig: str) -> pl.DataFrame:
    """Emission lines stamped with the factor snapshot id and the lineage signature."""
    em = emissions_mod.compute(acts, snapshot, params, emissions_mod.load_tie_break(config.path("selection")))
    return em.with_columns(pl.lit(snapshot_id(snapshot), pl.String).alias("snapshot_id"),
                           pl.lit(sig).alias("signature"))


def signature_of(frame: pl.DataFrame) -> str | None:
    return frame["signature"][0] if frame.height and "signature" in frame.columns else None


def stamp(frame: pl.DataFrame, sig: str | None) -> pl.DataFrame:
    """Every row of a derived table carries the signature of the calculation that made it."""
    return frame.with_columns(pl.lit(sig, pl.String).alias("signature"))


def distributions(em: pl.DataFrame, tenant: str, year: str, params: CalcParams, backend: str = "auto"):
    """(summary stamped with the signature, model, totals): reports.simulate on the emission lines."""
    dist, problem, totals = reports.simulate(em, tenant, year, params, backend)
    return stamp(dist, signature_of(em)), problem, totals


def sensitivity(em: pl.DataFrame, tenant: str, year: str):
    """(Sobol indices stamped with the signature, model)."""
    sens, problem = reports.sensitivity_with_problem(em, tenant, year)
    return stamp(sens, signature_of(em)), problem


def samples(em: pl.DataFrame, tenant: str, year: str, params: CalcParams, backend: str = "auto") -> pl.DataFrame:
    """Every Monte-Carlo sample per report line (the optional emission_samples table)."""
    _, problem, totals = reports.simulate(em, tenant, year, params, backend)
    out = (reports.samples_frame(problem, totals, tenant, year) if problem is not None
           else pl.DataFrame(schema=reports.SAMPLES_SCHEMA))
    return stamp(out, signature_of(em))


def inventory(dist: pl.DataFrame) -> pl.DataFrame:
    return reports.inventory(dist, dist["signature"][0])


def report_views(em: pl.DataFrame, snapshot: pl.DataFrame, config: ConfigFiles, tenant: str, year: str,
                 params: CalcParams, backend: str = "auto") -> pl.DataFrame:
    """The report views (engine/report_views.py): scope, Scope 3 category, poste, category, total; the
    tenant's Scope 2 instruments, the declared tie-break and the poste table all come from ``config``."""
    from carbon_assets.engine import postes, scope2_market
    from carbon_assets.engine import report_views as views_mod

    instruments = scope2_market.load_instruments(config.path("scope2_instruments"))
    vocabulary = activities.load_vocabulary(config.path("activity_keys"))
    tie_break = emissions_mod.load_tie_break(config.path("selection"))
    table = postes.load(config.path("postes"))
    return views_mod.views(em, snapshot, instruments, vocabulary, tenant, year, params, backend=backend,
                           tie_break=tie_break, poste_table=table)[0]


def esrs_datapoints(views: pl.DataFrame, config: ConfigFiles, tenant: str, year: str) -> pl.DataFrame:
    """ESRS E1-6 datapoints (engine/esrs.py) from the report views and the tenant's company.yaml."""
    from carbon_assets.engine import esrs

    return esrs.datapoints(views, esrs.load_company(config.path("company")), tenant, year)
