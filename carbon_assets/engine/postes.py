"""Bilan Carbone / BEGES postes (ADEME method v4, postes 1-23) and the poste of each emission line.

The table (``data/postes.yaml``) gives each poste's French label and scope, and the default poste of
each GHG Protocol Scope 3 category. A line's poste is, in order: the ``poste`` its activity key
declares in the vocabulary (``data/activity_keys.yaml``), else for a Scope 3 line the default of its
category. Scope 1 and 2 lines have no default (a fuel is poste 1 in a boiler, 2 in a vehicle): a
line without a declared poste (e.g. an explicit factor_id line with no activity key) is reported
under UNASSIGNED, so the postes still sum to the total and the gap is visible.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl
import yaml

from carbon_assets.engine.errors import InputError

POSTES_FILE = "postes.yaml"
UNASSIGNED = "unassigned"
UNASSIGNED_LABEL = "Poste non déterminé (ligne de scope 1 ou 2 sans poste déclaré)"
N_POSTES = 23
SCOPE3_CATEGORIES = range(1, 16)


def default_path() -> Path:
    base = os.environ.get("CARBON_DATA_DIR")
    root = Path(base) if base else Path(__file__).resolve().parents[2] / "data"
    return root / POSTES_FILE


@dataclass(frozen=True)
class PosteTable:
    labels: dict[int, str]  # poste -> French label
    scopes: dict[int, str]  # poste -> "1", "2" or "3"
    by_scope3_category: dict[int, int]  # GHG Protocol Scope 3 category -> default poste

    def label(self, poste: str) -> str:
        return UNASSIGNED_LABEL if poste == UNASSIGNED else self.labels[int(poste)]


def _int_key(value: object, file: str, column: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise InputError("expected a whole number", file=file, column=column, value=value)
    return int(value)


@lru_cache(maxsize=4)
def _load(path: str) -> PosteTable:
    spec = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    raw = spec.get("postes") or {}
    labels, scopes = {}, {}
    for k, v in raw.items():
        n = _int_key(k, path, "postes")
        if not isinstance(v, dict) or not v.get("label") or str(v.get("scope")) not in ("1", "2", "3"):
            raise InputError("each poste needs a label and a scope 1, 2 or 3", file=path,
                             column=f"postes.{k}", value=v)
        labels[n], scopes[n] = str(v["label"]), str(v["scope"])
    if sorted(labels) != list(range(1, N_POSTES + 1)):
        raise InputError(f"postes must be numbered 1..{N_POSTES}", file=path, column="postes",
                         value=sorted(labels))
    by_cat = {}
    for k, v in (spec.get("scope3_category_to_poste") or {}).items():
        cat = _int_key(k, path, "scope3_category_to_poste")
        poste = _int_key(v, path, f"scope3_category_to_poste.{k}")
        if scopes.get(poste) != "3":
            raise InputError("a Scope 3 category must map to a Scope 3 poste (8..23)", file=path,
                             column=f"scope3_category_to_poste.{k}", value=v)
        by_cat[cat] = poste
    if sorted(by_cat) != list(SCOPE3_CATEGORIES):
        raise InputError("scope3_category_to_poste must map every category 1..15", file=path,
                         column="scope3_category_to_poste", value=sorted(by_cat))
    return PosteTable(labels=labels, scopes=scopes, by_scope3_category=by_cat)


def load(path: Path | None = None) -> PosteTable:
    return _load(str(path or default_path()))


def declared_postes(vocabulary: dict[str, dict], table: PosteTable, file: str = "activity_keys.yaml"
                    ) -> dict[str, int]:
    """activity_key -> the poste it declares; a poste outside 1..23 or of another scope than the key's
    is an InputError naming the key (``file`` names the vocabulary in the message)."""
    out = {}
    for key, entry in vocabulary.items():
        entry = entry or {}
        if entry.get("poste") is None:
            continue
        poste = entry["poste"]
        if isinstance(poste, bool) or not isinstance(poste, int) or poste not in table.labels:
            raise InputError(f"poste must be a whole number 1..{N_POSTES}", file=file, column=f"{key}.poste",
                             value=poste)
        scope = str(entry.get("scope")) if entry.get("scope") is not None else None
        if scope is not None and table.scopes[poste] != scope:
            raise InputError(f"poste {poste} is a Scope {table.scopes[poste]} poste but the key is Scope "
                             f"{scope}", file=file, column=f"{key}.poste", value=poste)
        out[key] = poste
    return out


def poste_for(scope: str | None, scope3_category: int | None, declared: int | None, table: PosteTable) -> str:
    """The poste of one line (as a string key "1".."23", or UNASSIGNED)."""
    if declared is not None:
        return str(declared)
    if scope == "3" and scope3_category in table.by_scope3_category:
        return str(table.by_scope3_category[scope3_category])
    return UNASSIGNED


def assign(lines: pl.DataFrame, vocabulary: dict[str, dict], table: PosteTable) -> pl.DataFrame:
    """``lines`` (scope, scope3_category, activity_key) with a ``poste`` String column added."""
    declared = declared_postes(vocabulary, table)
    by_cat = {c: str(p) for c, p in table.by_scope3_category.items()}
    decl = pl.lit(None, pl.String)
    if declared:
        decl = pl.col("activity_key").replace_strict({k: str(v) for k, v in declared.items()}, default=None,
                                                     return_dtype=pl.String)
    default = pl.when(pl.col("scope") == "3").then(
        pl.col("scope3_category").replace_strict(by_cat, default=None, return_dtype=pl.String))
    return lines.with_columns(pl.coalesce(decl, default, pl.lit(UNASSIGNED)).alias("poste"))
