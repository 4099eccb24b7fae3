"""GWP100 sets and re-basing of gas contributions (DOMAIN.md: IPCC AR5 / AR6 via GHG Protocol)."""

from __future__ import annotations

import math

# "ch4" is methane of unstated origin (IPCC's single value: AR5 28, AR6 27.9); it is used only for
# gas *masses* whose publisher does not split fossil / biogenic CH4 (US EPA Hub, whose own GWP table
# lists CH4 28 and N2O 265). Where the split is known, ch4_fossil / ch4_biogenic are used instead.
GWP = {
    "AR4": {"co2_fossil": 1.0, "ch4_fossil": 25.0, "ch4_biogenic": 25.0, "ch4": 25.0, "n2o": 298.0, "sf6": 22800.0},
    "AR5": {"co2_fossil": 1.0, "ch4_fossil": 30.0, "ch4_biogenic": 28.0, "ch4": 28.0, "n2o": 265.0, "sf6": 23500.0},
    "AR6": {"co2_fossil": 1.0, "ch4_fossil": 29.8, "ch4_biogenic": 27.0, "ch4": 27.9, "n2o": 273.0, "sf6": 25200.0},
}
GASES = ("co2_fossil", "ch4_fossil", "ch4_biogenic", "n2o")
MASS_GASES_UNSPLIT = ("co2_fossil", "ch4", "n2o")


def _present(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def rebase(gases: dict, basis: str | None, from_set: str | None, to_set: str) -> float | None:
    """CO2e of the gas split under ``to_set``, or None when the split cannot be re-based.

    ``basis`` = "mass" (kg of each gas) or "co2e" (kg CO2e contributions under ``from_set``).
    Re-basing needs every gas column present in the split (``other`` GHGs, if any, are kept as
    published because their GWPs are not known per gas).
    """
    if basis == "mass" and not any(_present(gases.get(g)) for g in ("ch4_fossil", "ch4_biogenic")):
        return co2e_of_masses(gases, to_set)  # CH4 origin not published: IPCC's unsplit value
    if basis not in ("mass", "co2e") or not all(_present(gases.get(g)) for g in GASES):
        return None
    if basis == "co2e" and from_set not in GWP:
        return None
    total = 0.0
    for g in GASES:
        mass = gases[g] if basis == "mass" else gases[g] / GWP[from_set][g]
        total += mass * GWP[to_set][g]
    other = gases.get("other")
    return total + (other if _present(other) else 0.0)


def co2e_of_masses(gases: dict, gwp_set: str | None) -> float | None:
    """kg CO2e of CO2 + CH4 (origin not split) + N2O masses in kg; None unless all three are given."""
    if gwp_set not in GWP or not all(_present(gases.get(g)) for g in MASS_GASES_UNSPLIT):
        return None
    return sum(gases[g] * GWP[gwp_set][g] for g in MASS_GASES_UNSPLIT)
