"""The inbox on S3: ``s3://<bucket>/<prefix>/<tenant>/<year>/<file>`` (pure: a boto3 client is passed in).

Same rules as the local inbox (engine/inbox.py): tenant folders must be valid slugs, year folders
4-digit years; anything else is refused with a reason and left untouched (this module never
writes, copies or deletes an object). The content id of an object is its ETag (the MD5 of the
bytes for single-part uploads), so the same bytes under another name are not ingested twice.
"""

from __future__ import annotations

import datetime as dt
import os
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

    @property
    def content_id(self) -> str:
        return f"s3-etag:{self.etag}"


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
