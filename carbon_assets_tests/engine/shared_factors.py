"""Where the real published factor files live for tests: ``../shared/factors`` next to the project root.

They are never copied into the project. A test that needs one calls ``shared_file``: absent files
skip the test locally, and fail it when the environment variable CI is set (the real-file tests must
run there).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

from carbon_assets.engine import factors

PROJECT = Path(__file__).resolve().parents[2]
SHARED_FACTORS = PROJECT.parent / "shared" / "factors"  # real published files, never copied into the project


def shared_file(relpath: str) -> Path:
    """``SHARED_FACTORS / relpath``; skip the test if absent (fail under CI)."""
    path = SHARED_FACTORS / relpath
    if not path.exists():
        msg = (f"real factor file {path} not found: the shared factor files are expected in ../shared/factors/ "
               "next to the project root")
        if os.environ.get("CI"):
            pytest.fail(msg + " (CI is set: the real-file tests must run)")
        pytest.skip(msg)
    return path


def variant(mapping: factors.Mapping, **overrides) -> factors.Mapping:
    """``mapping`` with some top-level keys replaced (same normalisation code, same mapping path)."""
    spec = copy.deepcopy(mapping.spec)
    spec.update(copy.deepcopy(overrides))
    return factors.Mapping(path=mapping.path, spec=spec)
