"""The inbox layout ``<root>/<tenant>/<year>/<file>``: listing, validation and the sensor cursor."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from carbon_assets.engine.lineage import file_sha256
from carbon_assets.engine.params import ParameterError, validate_tenant_slug

YEAR = re.compile(r"(19|20)\d\d")
# "energie_v2.csv", "energie (1).csv", "energie-corrige.xlsx", "energy_final.csv": versions of "energie"/"energy"
_VERSION = re.compile(r"(?i)[\s_.-]*(?:\((\d+)\)|v(\d+)|version[\s_-]*(\d+)|rev[\s_-]*(\d+)|"
                      r"corrig[eé]e?s?|corrected|correction|final|fixed|updated|maj)$")


@dataclass(frozen=True)
class InboxFile:
    tenant: str
    year: str
    name: str  # path relative to <root>/<tenant>/<year>/
    path: Path
    sha256: str
    mtime_ns: int

    @property
    def content_id(self) -> str:
        return self.sha256


@dataclass(frozen=True)
class Refused:
    path: str
    reason: str


def tenant_dir(root: Path, tenant: str) -> Path:
    """The tenant's folder; the slug is validated so the path never escapes ``root``."""
    validate_tenant_slug(tenant)
    d = (root / tenant).resolve()
    if d.parent != root.resolve():
        raise ParameterError(f"tenant {tenant!r} resolves outside the inbox")
    return d


def files_for(root: Path, tenant: str, year: str) -> list[tuple[str, Path]]:
    """(name, path) of a tenant-year's files, sorted by name; hidden files ignored."""
    if not YEAR.fullmatch(year):
        raise ParameterError(f"year {year!r} is not a 4-digit year")
    td = tenant_dir(root, tenant)
    d = td / year
    if not d.is_dir():
        return []
    return [(p.name, p) for p in sorted(d.iterdir())
            if p.is_file() and not p.name.startswith(".") and _inside(p, td)]


def _inside(path: Path, folder: Path) -> bool:
    """False for a file (e.g. a symlink) that resolves outside the tenant's folder."""
    return path.resolve().is_relative_to(folder.resolve())


def scan(root: Path) -> tuple[list[InboxFile], list[Refused]]:
    """Every well-placed file, and every misplaced one with the reason it is refused (never deleted)."""
    found: list[InboxFile] = []
    refused: list[Refused] = []
    if not root.is_dir():
        return found, refused
    for tdir in sorted(root.iterdir()):
        if tdir.name.startswith("."):
            continue
        try:
            validate_tenant_slug(tdir.name)
        except ParameterError as exc:
            refused.append(Refused(str(tdir), str(exc)))
            continue
        if not tdir.is_dir():
            refused.append(Refused(str(tdir), "not a folder: expected <tenant>/<year>/<file>"))
            continue
        for ydir in sorted(tdir.iterdir()):
            if ydir.name.startswith("."):
                continue
            if not (ydir.is_dir() and YEAR.fullmatch(ydir.name)):
                refused.append(Refused(str(ydir), "expected a 4-digit year folder: <tenant>/<year>/<file>"))
                continue
            for f in sorted(ydir.iterdir()):
                if f.is_file() and not f.name.startswith(".") and not _inside(f, tdir):
                    refused.append(Refused(str(f), "resolves outside the tenant's folder (symlink?)"))
                elif f.is_file() and not f.name.startswith("."):
                    found.append(InboxFile(tdir.name, ydir.name, f.name, f, file_sha256(f), f.stat().st_mtime_ns))
    return found, refused


@dataclass
class InboxCursor:
    """Content hashes already handed to a run, per tenant-year (so the same bytes never run twice)."""

    seen: dict[str, list[str]]

    @classmethod
    def parse(cls, text: str | None) -> InboxCursor:
        return cls(seen=json.loads(text)["seen"] if text else {})

    def is_new(self, f) -> bool:
        return f.content_id not in self.seen.get(f"{f.tenant}|{f.year}", [])

    def advance(self, files: list) -> InboxCursor:
        """Files are InboxFile or S3 objects: anything with tenant, year and content_id."""
        seen = {k: list(v) for k, v in self.seen.items()}
        for f in files:
            key = f"{f.tenant}|{f.year}"
            if f.content_id not in seen.setdefault(key, []):
                seen[key].append(f.content_id)
        return InboxCursor({k: sorted(v) for k, v in seen.items()})

    def dump(self) -> str:
        return json.dumps({"seen": self.seen}, sort_keys=True)


def logical_name(name: str) -> tuple[str, int]:
    """(document name without extension and version suffixes, version rank) of a file name.

    ``energie_2024.csv`` -> (``energie_2024``, 0); ``energie_2024_v3.xlsx`` -> (``energie_2024``, 3);
    ``energie_2024 (1).csv`` -> (..., 1); ``energie_2024_corrige.csv`` -> (..., 1).
    """
    stem = name.rsplit("/", 1)[-1]
    if "." in stem:
        stem = stem[: stem.rfind(".")]
    rank = 0
    while True:
        m = _VERSION.search(stem)
        if not m or m.start() == 0:
            break
        nums = [int(g) for g in m.groups() if g]
        rank = max(rank, nums[0] if nums else 1)
        stem = stem[: m.start()]
    return stem.lower(), rank


def current_versions(files: list[tuple[str, Path]]) -> tuple[list[tuple[str, Path]], dict[str, str]]:
    """The latest version of each document, and {superseded name: name that replaces it}.

    A corrected file replaces its previous version for the tenant-year: highest version suffix wins,
    then the most recently modified, then the name.
    """
    groups: dict[str, list[tuple[int, int, str, Path]]] = {}
    for name, path in files:
        doc, rank = logical_name(name)
        groups.setdefault(doc, []).append((rank, path.stat().st_mtime_ns, name, path))
    kept: list[tuple[str, Path]] = []
    superseded: dict[str, str] = {}
    for versions in groups.values():
        versions.sort()
        _, _, win_name, win_path = versions[-1]
        kept.append((win_name, win_path))
        for _, _, name, _ in versions[:-1]:
            superseded[name] = win_name
    return sorted(kept), superseded
