"""Run parameters as a Dagster resource: set once per run, validated at launch."""


from typing import Literal

import dagster as dg
from pydantic import Field

from carbon_assets.engine.params import CalcParams

Namespace = Literal["ADEME", "DEFRA", "EPA", "EXIOBASE", "Ecoinvent", "custom"]


class CarbonParams(dg.ConfigurableResource):
    """Calculation parameters (README: 'Parameters'); every one that changes a number is in the lineage."""

    github_repo_url: str = Field(default=CalcParams.github_repo_url, description="Source repository of the method")
    tenant_name: str | None = Field(default=None, description="Tenant slug; defaults to the partition's tenant")
    primary_fe_namespace: Namespace = "ADEME"
    default_gwp: Literal["AR5", "AR6"] = "AR6"
    compute_mode: Literal["local", "cluster", "serverless"] = "local"
    # list[Literal] is not a Dagster config type: validated by CalcParams when the run starts
    fe_namespace_priority: list[str] = Field(default_factory=lambda: list(CalcParams().fe_namespace_priority))
    mc_samples: int = 10_000
    mc_seed: int = 42

    def to_domain(self, tenant: str | None = None) -> CalcParams:
        p = CalcParams(
            github_repo_url=self.github_repo_url, tenant_name=self.tenant_name,
            primary_fe_namespace=self.primary_fe_namespace, default_gwp=self.default_gwp,
            compute_mode=self.compute_mode, fe_namespace_priority=tuple(self.fe_namespace_priority),
            mc_samples=self.mc_samples, mc_seed=self.mc_seed,
        )
        return p.for_tenant(tenant) if tenant else p

    @classmethod
    def from_domain(cls, p: CalcParams) -> "CarbonParams":
        return cls(github_repo_url=p.github_repo_url, tenant_name=p.tenant_name,
                   primary_fe_namespace=p.primary_fe_namespace, default_gwp=p.default_gwp,
                   compute_mode=p.compute_mode, fe_namespace_priority=list(p.fe_namespace_priority),
                   mc_samples=p.mc_samples, mc_seed=p.mc_seed)
