"""Activity-data uncertainty from Bilan Carbone data-quality scores (DOMAIN.md, "Uncertainty conventions").

Five criteria scored 1-5 map to multiplicative factors U (score 5 = best, U = 1); the combined
multiplicative 95% factor is s = exp(sqrt(sum_i ln(U_i)^2)), read as an uncertainty of (s - 1) x 100 %
(the same reading as a published "+X%"), which the Monte Carlo turns into a lognormal with
sigma_ln = ln(s) / 1.96. A single data-quality *tier* t applies score t to all five criteria.

Used when an activity line has no ``quantity_uncertainty_pct`` but has a ``data_quality_tier``
(integer 1-5): an explicit percentage always wins.
"""

from __future__ import annotations

import math

import polars as pl

CRITERIA = {
    "reliability": (1.5, 1.2, 1.1, 1.05, 1.0),
    "technical": (2.0, 1.5, 1.2, 1.1, 1.0),
    "geographic": (1.1, 1.05, 1.02, 1.01, 1.0),
    "temporal": (1.5, 1.2, 1.1, 1.03, 1.0),
    "completeness": (1.2, 1.1, 1.05, 1.02, 1.0),
}
TIER_COLUMN = "data_quality_tier"


def combined_factor(scores: dict[str, int]) -> float:
    """s = exp(sqrt(sum ln(U_i)^2)) over the five criteria (each scored 1-5; all five required)."""
    if set(scores) != set(CRITERIA):
        raise ValueError(f"scores must give exactly the criteria {sorted(CRITERIA)}, got {sorted(scores)}")
    total = 0.0
    for name, score in scores.items():
        if score not in (1, 2, 3, 4, 5):
            raise ValueError(f"criterion {name} must be scored 1-5, got {score!r}")
        total += math.log(CRITERIA[name][score - 1]) ** 2
    return math.exp(math.sqrt(total))


def uncertainty_pct(scores: dict[str, int]) -> float:
    """The scores' uncertainty as a percentage (half-width of the ~95% interval): (s - 1) x 100."""
    return (combined_factor(scores) - 1.0) * 100.0


def tier_uncertainty_pct(tier: int) -> float:
    return uncertainty_pct(dict.fromkeys(CRITERIA, tier))


def fill_from_tier(lines: pl.DataFrame) -> pl.DataFrame:
    """``quantity_uncertainty_pct`` filled from ``data_quality_tier`` where the percentage is null."""
    if TIER_COLUMN not in lines.columns:
        return lines
    table = pl.DataFrame({TIER_COLUMN: [1, 2, 3, 4, 5], "__tier_pct": [tier_uncertainty_pct(t) for t in range(1, 6)]},
                         schema={TIER_COLUMN: lines.schema[TIER_COLUMN], "__tier_pct": pl.Float64})
    pct = pl.col("quantity_uncertainty_pct") if "quantity_uncertainty_pct" in lines.columns else pl.lit(None, pl.Float64)
    return (lines.join(table, on=TIER_COLUMN, how="left", maintain_order="left")
            .with_columns(pl.coalesce(pct.cast(pl.Float64), pl.col("__tier_pct")).alias("quantity_uncertainty_pct"))
            .drop("__tier_pct"))
