"""Calculation parameters, validated once, shared by run config, CLI flags and env vars."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field

NAMESPACES = ("ADEME", "DEFRA", "EPA", "EXIOBASE", "Ecoinvent", "custom")
GWP_SETS = ("AR5", "AR6")
COMPUTE_MODES = ("local", "cluster", "serverless")
DEFAULT_REPO_URL = "https://github.com/incubateur-ademe/nosgestesclimat"
TENANT_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_URL = re.compile(r"https?://[^\s/$.?#][^\s]*")

# env var name for each parameter (CARBON_<NAME>); lists are comma-separated
ENV_PREFIX = "CARBON_"


class ParameterError(ValueError):
    """A parameter value outside its allowed set; the message names parameter and allowed values."""


def validate_tenant_slug(slug: str, what: str = "tenant") -> str:
    if not isinstance(slug, str) or not TENANT_SLUG.fullmatch(slug):
        raise ParameterError(
            f"{what} {slug!r} is not a valid tenant slug: it must match [a-z0-9][a-z0-9_-]{{0,62}} "
            "(lower-case letters, digits, '_' and '-', starting with a letter or digit, at most 63 chars)"
        )
    return slug


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ParameterError(f"parameter {name}={value!r} is invalid; allowed values: {', '.join(allowed)}")
    return value


@dataclass(frozen=True)
class CalcParams:
    """Every parameter that can change a number is part of the lineage signature."""

    github_repo_url: str = DEFAULT_REPO_URL
    tenant_name: str | None = None
    primary_fe_namespace: str = "ADEME"
    default_gwp: str = "AR6"
    compute_mode: str = "local"
    fe_namespace_priority: tuple[str, ...] = field(default=NAMESPACES)
    mc_samples: int = 10_000
    mc_seed: int = 42

    def __post_init__(self) -> None:
        if not isinstance(self.github_repo_url, str) or not _URL.fullmatch(self.github_repo_url):
            raise ParameterError(
                f"parameter github_repo_url={self.github_repo_url!r} is invalid; allowed values: an http(s) URL"
            )
        if self.tenant_name is not None:
            validate_tenant_slug(self.tenant_name, "parameter tenant_name")
        _one_of("primary_fe_namespace", self.primary_fe_namespace, NAMESPACES)
        _one_of("default_gwp", self.default_gwp, GWP_SETS)
        _one_of("compute_mode", self.compute_mode, COMPUTE_MODES)
        object.__setattr__(self, "fe_namespace_priority", tuple(self.fe_namespace_priority))
        for ns in self.fe_namespace_priority:
            _one_of("fe_namespace_priority", ns, NAMESPACES)
        if not isinstance(self.mc_samples, int) or not 2 <= self.mc_samples <= 1_000_000:
            raise ParameterError(
                f"parameter mc_samples={self.mc_samples!r} is invalid; allowed values: integers 2..1000000"
            )
        if not isinstance(self.mc_seed, int) or not 0 <= self.mc_seed < 2**63:
            raise ParameterError(f"parameter mc_seed={self.mc_seed!r} is invalid; allowed values: integers 0..2^63-1")

    def namespace_order(self) -> tuple[str, ...]:
        """primary_fe_namespace first, then fe_namespace_priority, without repeats."""
        order = [self.primary_fe_namespace]
        order += [ns for ns in self.fe_namespace_priority if ns not in order]
        return tuple(order)

    def for_tenant(self, tenant: str) -> CalcParams:
        """The partition's tenant unless tenant_name was given explicitly."""
        if self.tenant_name is not None and self.tenant_name != tenant:
            raise ParameterError(
                f"parameter tenant_name={self.tenant_name!r} does not match the partition's tenant {tenant!r}"
            )
        return CalcParams(**{**asdict(self), "tenant_name": tenant})

    def signature_dict(self) -> dict:
        """The parameters that enter the lineage signature (compute_mode changes no number)."""
        d = asdict(self)
        d.pop("compute_mode")
        d["fe_namespace_priority"] = list(self.namespace_order())
        return d

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> CalcParams:
        """Defaults, overridden by CARBON_* env vars, overridden by explicit (non-None) values."""
        env = os.environ if env is None else env
        values: dict = {}
        for name in cls.__dataclass_fields__:
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is None or raw == "":
                continue
            values[name] = _coerce(name, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _coerce(name: str, raw: str):
    if name in ("mc_samples", "mc_seed"):
        try:
            return int(raw)
        except ValueError:
            raise ParameterError(f"parameter {name}={raw!r} is invalid; allowed values: an integer") from None
    if name == "fe_namespace_priority":
        return tuple(s.strip() for s in raw.split(",") if s.strip())
    return raw
