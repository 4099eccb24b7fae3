"""`dagster dev` (webserver + daemon) on 127.0.0.1 with the project's dagster.yaml in a given
DAGSTER_HOME and the lake, exports and registry where CARBON_* say, plus a small GraphQL client;
stopped (whole process group) on exit. Used by the UI tests and the backfill benchmark."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]

CARBON_ENV = ("CARBON_LAKE_URI", "CARBON_EXPORTS_DIR", "CARBON_DB_URL", "CARBON_DATA_DIR")


@dataclass(frozen=True)
class DagsterDev:
    port: int
    home: Path
    env: dict

    def graphql(self, query: str, variables: dict) -> dict:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/graphql", method="POST",
                                     data=json.dumps({"query": query, "variables": variables}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            body = json.loads(resp.read())
        if "errors" in body:
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return body["data"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def carbon_env(tmp_path: Path, data_dir: Path | None = None) -> dict:
    """CARBON_* variables pointing at temporary lake, exports and registry (and data folder)."""
    env = {"CARBON_LAKE_URI": str(tmp_path / "lake"), "CARBON_EXPORTS_DIR": str(tmp_path / "exports"),
           "CARBON_DB_URL": f"sqlite:///{tmp_path / 'registry.sqlite'}"}
    if data_dir is not None:
        env["CARBON_DATA_DIR"] = str(data_dir)
    return env


def dagster_home(tmp_path: Path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT / "dagster.yaml", home / "dagster.yaml")
    return home


@contextlib.contextmanager
def running(home: Path, carbon: dict, timeout: float = 120.0):
    port = free_port()
    env = {**os.environ, **carbon, "DAGSTER_HOME": str(home)}
    dagster = Path(sys.executable).with_name("dagster")
    proc = subprocess.Popen([str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port), "-w",
                             str(PROJECT / "workspace.yaml")], cwd=PROJECT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError("dagster dev exited early")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError("dagster webserver did not answer") from None
                time.sleep(1)
        yield DagsterDev(port=port, home=home, env=env)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
