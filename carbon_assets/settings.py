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


def exports_dir() -> Path:
    return Path(os.environ.get("CARBON_EXPORTS_DIR", data_dir() / "exports")).resolve()


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
