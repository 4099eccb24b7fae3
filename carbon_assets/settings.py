"""Where things live, from the environment: data folder, lake root, exports, code version."""

from __future__ import annotations

import contextlib
import os
from functools import lru_cache
from pathlib import Path

from carbon_assets import __version__
from carbon_assets.engine.lineage import git_commit
from carbon_assets.engine.montecarlo import kernel_version

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CALC_VERSION = "calc-1"  # bump on purpose when a calculation changes its numbers


def data_dir() -> Path:
    return Path(os.environ.get("CARBON_DATA_DIR", PROJECT_ROOT / "data")).resolve()


def lake_uri() -> str:
    """CARBON_LAKE_URI (local path or s3://...), default <data>/lake."""
    uri = os.environ.get("CARBON_LAKE_URI") or str(data_dir() / "lake")
    return uri if "://" in uri else str(Path(uri).resolve())


def s3_endpoint_url() -> str | None:
    """An S3-compatible server instead of AWS (lake and inbox alike): CARBON_S3_ENDPOINT_URL, else the
    standard AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL."""
    for key in ("CARBON_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        if os.environ.get(key):
            return os.environ[key]
    return None


def lake_storage_options(uri: str | None = None) -> dict[str, str] | None:
    """delta-rs / polars storage options for an s3:// lake, from the standard AWS_* variables plus
    CARBON_S3_ENDPOINT_URL (an S3-compatible server); None for a local lake.

    Commits use S3 conditional writes (``conditional_put: etag``), so several runs may write
    slices of one table at once without a lock table.
    """
    uri = uri or lake_uri()
    if not uri.startswith("s3://"):
        return None
    opts = {"conditional_put": "etag",
            "AWS_REGION": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"}
    endpoint = s3_endpoint_url()
    if endpoint:
        opts["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            opts["AWS_ALLOW_HTTP"] = "true"
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        if os.environ.get(key):
            opts[key] = os.environ[key]
    return opts


def exports_dir() -> Path:
    return Path(os.environ.get("CARBON_EXPORTS_DIR", data_dir() / "exports")).resolve()


def yoy_threshold() -> float:
    """CARBON_YOY_THRESHOLD: the year-over-year change (fraction) above which the trajectory check warns."""
    raw = os.environ.get("CARBON_YOY_THRESHOLD", "0.05")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"CARBON_YOY_THRESHOLD={raw!r} is invalid; allowed values: a fraction >= 0, e.g. 0.05") \
            from None
    if value < 0:
        raise ValueError(f"CARBON_YOY_THRESHOLD={raw!r} is invalid; allowed values: a fraction >= 0, e.g. 0.05")
    return value


def db_url() -> str:
    """CARBON_DB_URL (SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db), default SQLite <data>/registry.sqlite."""
    return os.environ.get("CARBON_DB_URL") or f"sqlite:///{data_dir() / 'registry.sqlite'}"


def asset_code_version() -> str:
    """Deterministic at import: calculation version + Rust kernel version (never a timestamp)."""
    return f"{CALC_VERSION}+kernel-{kernel_version()}"


@lru_cache(maxsize=1)
def full_code_version() -> str:
    """For lineage signatures: package, calculation, kernel and git commit when known."""
    commit = os.environ.get("CARBON_GIT_COMMIT") or git_commit(PROJECT_ROOT) or "unknown"
    return f"carbon_assets-{__version__}+{asset_code_version()}+git-{commit}"


@contextlib.contextmanager
def env(overrides: dict[str, str]):
    """Temporarily set environment variables (e.g. CARBON_* for a throw-away lake), then restore them."""
    saved = {k: os.environ.get(k) for k in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
