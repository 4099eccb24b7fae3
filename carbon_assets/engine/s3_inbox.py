"""The inbox on S3: ``s3://<bucket>/<prefix>/<tenant>/<year>/<file>`` (pure: a boto3 client is passed in).

Same rules as the local inbox (engine/inbox.py): tenant folders must be valid slugs, year folders
4-digit years; anything else is refused with a reason and left untouched (this module never
writes, copies or deletes an object). The content id of an object is the SHA-256 of its bytes,
like the local inbox: an ETag is the MD5 of the bytes only for single-part uploads, so the same
bytes uploaded in parts, or under another name, would otherwise look new. ``identify`` streams each
object once per (key, ETag); the sensor keeps the hashes in its cursor. An object over the size
limit is not downloaded and keeps an ETag-based id (its run reports the size error).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from carbon_assets.engine.inbox import YEAR, Refused
from carbon_assets.engine.params import ParameterError, validate_tenant_slug


@dataclass(frozen=True)
class S3InboxObject:
    tenant: str
    year: str
    name: str
    key: str
    etag: str
    size: int
    last_modified: dt.datetime
    sha256: str | None = None  # set by identify(); None for an object over the size limit

    @property
    def content_id(self) -> str:
        return self.sha256 or f"s3-etag:{self.etag}"

    @property
    def former_ids(self) -> tuple[str, ...]:
        """The id a cursor written before SHA-256 ids holds for this object (so it is not run again)."""
        return (f"s3-etag:{self.etag}",) if self.sha256 else ()


# Bytes hashed per sensor tick at most (at least one object is always hashed): a tick stays well
# inside the sensor's time limit; objects left over are hashed at the next ticks.
HASH_BUDGET_BYTES = 1 << 30


@dataclass(frozen=True)
class Identified:
    objects: list[S3InboxObject]  # with their content id
    pending: list[S3InboxObject]  # not hashed yet (tick budget spent, or changed while being read)
    hashes: dict[str, list[str]]  # {key: [etag, sha256]} of the listed objects: the cursor's memory
    downloads: int  # objects read by this call


def identify(client, bucket: str, objects: list[S3InboxObject], known: dict[str, list[str]],
             max_bytes: Callable[[str], int], budget_bytes: int = HASH_BUDGET_BYTES) -> Identified:
    """Give each object its SHA-256 content id: from ``known`` ({key: [etag, sha256]}) when the ETag is
    unchanged, else by streaming it once. Objects over ``max_bytes(tenant)`` keep an ETag-based id."""
    out: list[S3InboxObject] = []
    pending: list[S3InboxObject] = []
    hashes: dict[str, list[str]] = {}
    spent = downloads = 0
    for o in objects:
        if o.size > max_bytes(o.tenant):
            out.append(o)
            continue
        prev = known.get(o.key)
        if prev and prev[0] == o.etag:
            sha = prev[1]
        elif downloads and spent + o.size > budget_bytes:
            pending.append(o)
            continue
        else:
            downloads += 1
            spent += o.size
            sha = object_sha256(client, bucket, o)
            if sha is None:
                pending.append(o)
                continue
        hashes[o.key] = [o.etag, sha]
        out.append(dataclasses.replace(o, sha256=sha))
    return Identified(out, pending, dict(sorted(hashes.items())), downloads)


def object_sha256(client, bucket: str, o: S3InboxObject) -> str | None:
    """SHA-256 of the object's bytes as listed (``IfMatch`` its ETag), streamed; None if it changed or
    vanished since the listing (the next tick sees its new state)."""
    try:
        body = client.get_object(Bucket=bucket, Key=o.key, IfMatch=f'"{o.etag}"')["Body"]
    except client.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412", "NoSuchKey", "404"):
            return None
        raise
    h = hashlib.sha256()
    with body:
        for chunk in body.iter_chunks(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def parse_uri(uri: str) -> tuple[str, str]:
    """(bucket, prefix without trailing slash) of ``s3://bucket/prefix``."""
    if not uri.startswith("s3://"):
        raise ParameterError(f"inbox URI {uri!r} is not an s3:// URI")
    rest = uri[5:]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ParameterError(f"inbox URI {uri!r} has no bucket")
    return bucket, prefix.strip("/")


def _join(prefix: str, *parts: str) -> str:
    return "/".join(p for p in (prefix, *parts) if p)


def tenant_prefix(prefix: str, tenant: str, year: str | None = None) -> str:
    """``<prefix>/<tenant>/[<year>/]``; the tenant slug and year are validated so the key never escapes."""
    validate_tenant_slug(tenant)
    if year is not None and not YEAR.fullmatch(year):
        raise ParameterError(f"year {year!r} is not a 4-digit year")
    return _join(prefix, tenant, *([year] if year else [])) + "/"


def _objects(client, bucket: str, prefix: str):
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def scan(client, bucket: str, prefix: str) -> tuple[list[S3InboxObject], list[Refused]]:
    """Every well-placed object, and every misplaced tenant/year folder or key with its reason."""
    base = _join(prefix) + "/" if prefix else ""
    found: list[S3InboxObject] = []
    refused: dict[str, str] = {}
    for obj in _objects(client, bucket, base):
        key = obj["Key"]
        rel = key[len(base):]
        if not rel or rel.endswith("/"):
            continue  # folder marker
        parts = rel.split("/")
        where = f"s3://{bucket}/{base}"
        if parts[0].startswith("."):
            continue
        try:
            validate_tenant_slug(parts[0])
        except ParameterError as exc:
            refused.setdefault(where + parts[0] + "/", str(exc))
            continue
        if len(parts) != 3 or not YEAR.fullmatch(parts[1]):
            refused.setdefault(where + rel, "expected <tenant>/<year>/<file> with a 4-digit year folder")
            continue
        if parts[2].startswith("."):
            continue
        found.append(S3InboxObject(parts[0], parts[1], parts[2], key, obj["ETag"].strip('"'), int(obj["Size"]),
                                   obj["LastModified"]))
    found.sort(key=lambda o: (o.tenant, o.year, o.name))
    return found, [Refused(p, r) for p, r in sorted(refused.items())]


def files_for(client, bucket: str, prefix: str, tenant: str, year: str) -> list[S3InboxObject]:
    """The tenant-year's objects: only keys under ``<prefix>/<tenant>/<year>/`` are listed."""
    tp = tenant_prefix(prefix, tenant, year)
    out = []
    for obj in _objects(client, bucket, tp):
        rel = obj["Key"][len(tp):]
        if not rel or "/" in rel or rel.startswith("."):
            continue
        out.append(S3InboxObject(tenant, year, rel, obj["Key"], obj["ETag"].strip('"'), int(obj["Size"]),
                                 obj["LastModified"]))
    return sorted(out, key=lambda o: o.name)


def download(client, bucket: str, objects: list[S3InboxObject], dest: Path, max_bytes: int | None = None
             ) -> list[tuple[str, Path]]:
    """Copy the objects into ``dest`` (a local temp folder). An object over ``max_bytes`` is not
    downloaded: a sparse placeholder of the same size is written, so the reader reports the limit."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for o in objects:
        target = (dest / o.name).resolve()
        if target.parent != dest.resolve():
            raise ParameterError(f"object name {o.name!r} escapes the download folder")
        if max_bytes is not None and o.size > max_bytes:
            with target.open("wb") as fh:  # sparse file of the same size: the size check reports it
                fh.truncate(o.size)
        else:
            client.download_file(bucket, o.key, str(target))
        mtime = o.last_modified.timestamp()
        os.utime(target, (mtime, mtime))
        out.append((o.name, target))
    return out
