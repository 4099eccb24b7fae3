"""The inbox layout ``<root>/<tenant>/<year>/<file>``: listing, validation and the sensor cursor."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from carbon_assets.engine.lineage import file_sha256
from carbon_assets.engine.params import ParameterError, validate_tenant_slug

YEAR = re.compile(r"(19|20)\d\d")


@dataclass(frozen=True)
class InboxFile:
    tenant: str
    year: str
    name: str  # path relative to <root>/<tenant>/<year>/
    path: Path
    sha256: str
    mtime_ns: int


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
    d = tenant_dir(root, tenant) / year
    if not d.is_dir():
        return []
    return [(p.name, p) for p in sorted(d.iterdir()) if p.is_file() and not p.name.startswith(".")]


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
                if f.is_file() and not f.name.startswith("."):
                    found.append(InboxFile(tdir.name, ydir.name, f.name, f, file_sha256(f), f.stat().st_mtime_ns))
    return found, refused


@dataclass
class InboxCursor:
    """Content hashes already handed to a run, per tenant-year (so the same bytes never run twice)."""

    seen: dict[str, list[str]]

    @classmethod
    def parse(cls, text: str | None) -> InboxCursor:
        return cls(seen=json.loads(text)["seen"] if text else {})

    def is_new(self, f: InboxFile) -> bool:
        return f.sha256 not in self.seen.get(f"{f.tenant}|{f.year}", [])

    def advance(self, files: list[InboxFile]) -> InboxCursor:
        seen = {k: list(v) for k, v in self.seen.items()}
        for f in files:
            key = f"{f.tenant}|{f.year}"
            if f.sha256 not in seen.setdefault(key, []):
                seen[key].append(f.sha256)
        return InboxCursor({k: sorted(v) for k, v in seen.items()})

    def dump(self) -> str:
        return json.dumps({"seen": self.seen}, sort_keys=True)
