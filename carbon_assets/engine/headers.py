"""Recognising the columns of a client file: French and English header synonyms.

A header is compared after normalisation: lower case, accents removed, anything between
parentheses or brackets dropped (``Quantité (kWh)`` -> ``quantite``), and every run of
non-alphanumeric characters turned into ``_``.
"""

from __future__ import annotations

import re
import unicodedata

# canonical field -> accepted headers (normalised with `normalise_header` before comparison)
SYNONYMS: dict[str, tuple[str, ...]] = {
    "date": ("date", "activity_date", "date_activite", "date_d_activite", "date_facture", "date_de_facture",
             "invoice_date", "transaction_date", "date_operation", "date_de_l_operation", "period_end",
             "fin_de_periode", "jour", "day", "posting_date", "date_comptable"),
    "activity_key": ("activity_key", "activite", "activity", "code_activite", "activity_code", "cle_activite",
                     "type_activite", "activity_type"),
    "factor_id": ("factor_id", "fe_id", "id_facteur", "facteur_id", "emission_factor_id", "id_fe",
                  "identifiant_facteur"),
    "quantity": ("quantity", "quantite", "qty", "qte", "volume", "consommation", "consumption", "quantite_consommee",
                 "nombre", "usage"),
    "unit": ("unit", "unite", "uom", "units", "unite_de_mesure", "unit_of_measure", "unites"),
    "amount": ("amount", "montant", "montant_ht", "montant_hors_taxe", "spend", "spend_amount", "cost", "depense",
               "depenses", "net_amount", "amount_excl_vat", "total_ht"),
    "currency": ("currency", "devise", "monnaie", "ccy", "currency_code", "code_devise"),
    "site": ("site", "location", "lieu", "etablissement", "facility", "site_name", "nom_du_site"),
    "region": ("region", "country", "pays", "country_code", "code_pays", "zone"),
    "description": ("description", "libelle", "label", "designation", "commentaire", "comment", "memo",
                    "intitule", "details", "detail", "narrative"),
    "quantity_uncertainty_pct": ("quantity_uncertainty_pct", "uncertainty_pct", "uncertainty", "incertitude",
                                 "incertitude_pct", "incertitude_quantite"),
}

_PAREN = re.compile(r"[(\[][^)\]]*[)\]]")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def normalise_header(text: str | None) -> str:
    if text is None:
        return ""
    s = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii").lower()
    s = _PAREN.sub(" ", s)
    s = s.replace("%", " pct ")
    return _NON_ALNUM.sub("_", s).strip("_")


def _norm_synonyms(columns: dict[str, list[str]] | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for field, accepted in (columns or {}).items():
        out[field] = [normalise_header(a) for a in accepted]
    return out


def resolve(headers: list[str], template: dict[str, list[str]] | None,
            auto: bool = True) -> tuple[dict[str, str], dict[str, str]]:
    """(field -> header, field -> how it was found: "template" or "synonym").

    Template headers win; then, when ``auto`` is on, the built-in synonyms fill the fields the
    template does not find. A header is used for one field only.
    """
    by_norm: dict[str, str] = {}
    for h in headers:
        by_norm.setdefault(normalise_header(h), h)
    used: set[str] = set()
    fmap: dict[str, str] = {}
    how: dict[str, str] = {}
    for source, table in (("template", _norm_synonyms(template)),
                          ("synonym", {k: list(v) for k, v in SYNONYMS.items()} if auto else {})):
        for field, accepted in table.items():
            if field in fmap:
                continue
            hit = next((by_norm[a] for a in accepted if a in by_norm and by_norm[a] not in used), None)
            if hit is not None:
                fmap[field] = hit
                how[field] = source
                used.add(hit)
    return fmap, how


def header_score(cells: list[str | None], template: dict[str, list[str]] | None) -> int:
    """How many cells of a candidate header row are recognised field headers."""
    fmap, _ = resolve([c for c in cells if c], template)
    return len(fmap)


def find_header_row(rows: list[list[str | None]], template: dict[str, list[str]] | None) -> int:
    """Index (in ``rows``) of the header row among the first rows of a file.

    The row that names the most known fields wins (earliest on ties); when no row names two
    fields, the first row with as many non-empty cells as the widest of the candidate rows.
    """
    best, best_i = 0, None
    for i, cells in enumerate(rows):
        score = header_score(cells, template)
        if score > best:
            best, best_i = score, i
    if best_i is not None and best >= 2:
        return best_i
    widths = [sum(1 for c in cells if c not in (None, "")) for cells in rows]
    if not widths:
        return 0
    widest = max(widths)
    return next(i for i, w in enumerate(widths) if w == widest)
