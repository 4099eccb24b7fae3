"""Debian's Chromium and chromedriver for the browser tests: skipped when absent, failed under CI."""

import os
import shutil

import pytest


def need_binary(binary: str, test: str) -> str:
    path = shutil.which(binary)
    if path is None:
        msg = f"{binary} not found: install Debian's chromium and chromium-driver packages to run the {test}"
        if os.environ.get("CI"):
            pytest.fail(msg + " (CI is set)", pytrace=False)
        pytest.skip(msg)
    return path
