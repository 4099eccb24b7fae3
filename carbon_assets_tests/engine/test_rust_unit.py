"""The Rust kernel's own unit tests (known-answer streams, accumulation), run from the pytest suite."""

import shutil
import subprocess
from pathlib import Path

import pytest

CRATE = Path(__file__).resolve().parents[2] / "rust_kernels" / "Cargo.toml"


@pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not on PATH")
def test_cargo_unit_tests_pass():
    # --no-default-features: the numeric core without the PyO3 bindings (no libpython to link)
    out = subprocess.run(["cargo", "test", "--quiet", "--manifest-path", str(CRATE), "--no-default-features"],
                         capture_output=True, text=True, timeout=900, check=False)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "test result: ok." in out.stdout and " 0 failed" in out.stdout
