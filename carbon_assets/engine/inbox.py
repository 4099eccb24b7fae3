"""The inbox layout ``<root>/<tenant>/<year>/<file>``: listing, validation, corrections and the sensor cursor.

A corrected file replaces earlier ones for its tenant-year in two ways: declared in ``replaces.yaml``
next to the files (``new.csv: [old.csv, older.csv]``, whatever the names), or, for files that
declaration does not name, recognised by a version suffix (``_v2``, ``(1)``, ``_corrige``...).
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from carbon_assets.engine.lineage import bytes_sha256, file_sha256
from carbon_assets.engine.params import ParameterError, validate_tenant_slug

YEAR = re.compile(r"(19|20)\d\d")
REPLACES_FILE = "replaces.yaml"  # the declared corrections of a tenant-year folder; never an activity file
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
    """Content ids already handed to a run, per tenant-year (so the same bytes never run twice).

    ``s3_sha256`` remembers the SHA-256 of each S3 object as ``{key: [etag, sha256]}``, so an object
    is downloaded once per (key, ETag), not at every tick. Cursors written before it existed
    (``{"seen": ...}`` only) still parse.
    """

    seen: dict[str, list[str]]
    s3_sha256: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> InboxCursor:
        data = json.loads(text) if text else {}
        return cls(seen=data.get("seen", {}), s3_sha256=data.get("s3_sha256", {}))

    def is_new(self, f) -> bool:
        """New unless its content id, or an id it had in an older cursor format, was seen for its tenant-year."""
        seen = self.seen.get(f"{f.tenant}|{f.year}", [])
        return not any(i in seen for i in (f.content_id, *getattr(f, "former_ids", ())))

    def advance(self, files: list) -> InboxCursor:
        """Files are InboxFile or S3 objects: anything with tenant, year and content_id."""
        seen = {k: list(v) for k, v in self.seen.items()}
        for f in files:
            key = f"{f.tenant}|{f.year}"
            if f.content_id not in seen.setdefault(key, []):
                seen[key].append(f.content_id)
        return InboxCursor({k: sorted(v) for k, v in seen.items()}, self.s3_sha256)

    def with_s3_sha256(self, hashes: dict[str, list[str]]) -> InboxCursor:
        return InboxCursor(self.seen, hashes)

    def dump(self) -> str:
        data: dict = {"seen": self.seen}
        if self.s3_sha256:
            data["s3_sha256"] = self.s3_sha256
        return json.dumps(data, sort_keys=True)


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


def current_versions(files: list[tuple[str, Path]], replaces: Replaces | None = None
                     ) -> tuple[list[tuple[str, Path]], dict[str, str]]:
    """The latest version of each document, and {superseded name: name(s) that replace it}.

    Declared replacements (``replaces.yaml``) apply first. Among the files the declaration does not
    name, a corrected file replaces its previous version: highest version suffix wins, then the most
    recently modified, then the name. ``replaces.yaml`` itself is never an activity file.
    """
    declared = replaces.declared if replaces else {}
    named = set(declared) | {old for olds in declared.values() for old in olds}
    replaced_by: dict[str, list[str]] = {}
    for new, olds in declared.items():
        for old in olds:
            replaced_by.setdefault(old, []).append(new)
    superseded: dict[str, str] = {old: ", ".join(sorted(news)) for old, news in replaced_by.items()}
    kept: list[tuple[str, Path]] = [(n, p) for n, p in files if n in named and n not in replaced_by]
    groups: dict[str, list[tuple[int, int, str, Path]]] = {}
    for name, path in files:
        if name in named or name == REPLACES_FILE:
            continue
        doc, rank = logical_name(name)
        groups.setdefault(doc, []).append((rank, path.stat().st_mtime_ns, name, path))
    for versions in groups.values():
        versions.sort()
        _, _, win_name, win_path = versions[-1]
        kept.append((win_name, win_path))
        for _, _, name, _ in versions[:-1]:
            superseded[name] = win_name
    return sorted(kept), dict(sorted(superseded.items()))


class ReplacesError(ParameterError):
    """``replaces.yaml`` cannot be applied; the message names the file, the entry and the value."""


@dataclass(frozen=True)
class Replaces:
    """A tenant-year's declared corrections: {replacing file: [files it replaces]}, and the file's hash."""

    declared: dict[str, list[str]]
    sha256: str


def read_replaces(files: list[tuple[str, Path]]) -> tuple[list[tuple[str, Path]], Replaces | None]:
    """(the activity files, the validated ``replaces.yaml`` declaration or None if there is none)."""
    activity = [(n, p) for n, p in files if n != REPLACES_FILE]
    decl = [p for n, p in files if n == REPLACES_FILE]
    if not decl:
        return activity, None
    raw = decl[0].read_bytes()
    return activity, Replaces(parse_replaces(raw, [n for n, _ in activity]), bytes_sha256(raw))


def parse_replaces(raw: bytes, names: list[str]) -> dict[str, list[str]]:
    """Validate a ``replaces.yaml`` against the folder's file ``names``; an empty file declares nothing."""
    try:
        spec = yaml.safe_load(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ReplacesError(f"{REPLACES_FILE}: not readable as UTF-8 YAML ({exc})") from exc
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise ReplacesError(f"{REPLACES_FILE}: expected a mapping 'new file: [files it replaces]', "
                            f"got {type(spec).__name__} {spec!r}")
    present = set(names)
    declared: dict[str, list[str]] = {}
    for new, olds in spec.items():
        where = f"{REPLACES_FILE}: entry {new!r}"
        if not isinstance(new, str):
            raise ReplacesError(f"{where}: the file name must be text, got {type(new).__name__} {new!r}")
        if not isinstance(olds, list) or not olds or not all(isinstance(o, str) for o in olds):
            hint = f" (write [{olds}])" if isinstance(olds, str) else ""
            raise ReplacesError(f"{where}: expected a non-empty list of file names, got {olds!r}{hint}")
        for name in (new, *olds):
            if name == REPLACES_FILE:
                raise ReplacesError(f"{where}: {name!r} is the declaration itself, not an activity file")
            if name not in present:
                raise ReplacesError(f"{where}: {name!r} is not in the folder{_did_you_mean(name, names)}")
        if new in olds:
            raise ReplacesError(f"{where}: a file cannot replace itself (value {olds!r})")
        declared[new] = sorted(set(olds))
    cycle = _cycle(declared)
    if cycle:
        raise ReplacesError(f"{REPLACES_FILE}: entry {cycle[0]!r}: replacements form a cycle "
                            f"({' -> '.join(cycle)}), value {declared[cycle[0]]!r}")
    return dict(sorted(declared.items()))


def _did_you_mean(name: str, names: list[str]) -> str:
    by_lower = {n.lower(): n for n in sorted(names)}  # "Facture.CSV" finds "facture.csv"
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""


def _cycle(edges: dict[str, list[str]]) -> list[str] | None:
    """A path ``a -> b -> ... -> a`` through "replaces" edges, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in edges.get(node, []):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None
