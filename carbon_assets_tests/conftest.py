"""Shared fixtures: the project's own sample data, read-only; lakes and exports in temp folders."""

from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
DATA = PROJECT / "data"

# real servers the tests start themselves: PostgreSQL (initdb/pg_ctl) and S3 (moto's server)
pytest_plugins = ["carbon_assets_tests.postgres_fixture", "carbon_assets_tests.s3_fixture"]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def snapshot():
    """The factor snapshot built from the shipped sample sources."""
    from carbon_assets.engine import factors

    return factors.build_snapshot(
        [factors.read_namespace(DATA / "mappings", DATA / "factors", ns)[0] for ns in ("DEFRA", "custom")]
    )


@pytest.fixture(autouse=True)
def _no_stale_defs_state_storage():
    """A disposed test instance can leave its defs-state storage in a context variable, and the next
    Definitions load then fails on a dead weakref (dagster 1.13). Reset it around every test."""
    from dagster._core.storage.defs_state.base import _current_storage

    _current_storage.set(None)
    yield
    _current_storage.set(None)
