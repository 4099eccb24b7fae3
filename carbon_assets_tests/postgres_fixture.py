"""A throw-away PostgreSQL server for the tests: initdb + pg_ctl in a temp dir, as the postgres user.

initdb and pg_ctl refuse to run as root, so when the tests run as root the server is run as the
``postgres`` OS user (runuser). Skipped with a message when no PostgreSQL server binaries exist,
except under CI (env var CI set), where their absence is a failure.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest


def pg_bindir() -> Path | None:
    if os.environ.get("CARBON_PG_BINDIR"):
        return Path(os.environ["CARBON_PG_BINDIR"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
                   if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_user(cmd: list[str], user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--", *cmd] if user else cmd


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, check=False, capture_output=True, text=True, **kw)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res


@pytest.fixture(scope="session")
def postgres_url():
    """``postgresql+psycopg://postgres@127.0.0.1:<port>/<db>`` of a server started for this session."""
    bindir = pg_bindir()
    if bindir is None or not (bindir / "initdb").exists() or not (bindir / "pg_ctl").exists():
        msg = ("PostgreSQL server binaries not found (looked for /usr/lib/postgresql/*/bin/initdb, "
               "$CARBON_PG_BINDIR and initdb on PATH); install the 'postgresql' package to run these tests")
        if os.environ.get("CI"):
            pytest.fail(msg + " — CI is set, so this is an error", pytrace=False)
        pytest.skip(msg)
    user = "postgres" if os.geteuid() == 0 else None  # initdb/pg_ctl refuse root: run them as postgres
    if user:
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            msg = "running as root and there is no 'postgres' OS user to run initdb/pg_ctl as"
            if os.environ.get("CI"):
                pytest.fail(msg, pytrace=False)
            pytest.skip(msg)
    tmp = Path(tempfile.mkdtemp(prefix="carbon_pg_"))
    if user:
        os.chmod(tmp, 0o700)
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
    data = tmp / "data"
    port = _free_port()
    started = False
    try:
        _run(_as_user([str(bindir / "initdb"), "-A", "trust", "-U", "postgres", "-E", "UTF8", "-D", str(data)],
                      user), cwd=tmp)
        _run(_as_user([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(tmp / "server.log"),
                       "-o", f"-p {port} -c listen_addresses=127.0.0.1 -k {tmp}", "-w", "-t", "60", "start"],
                      user), cwd=tmp)
        started = True
        db = "carbon_test_" + uuid.uuid4().hex[:8]
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db}"')
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{db}"
    finally:
        if started:
            subprocess.run(_as_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], user),
                           check=False, capture_output=True, cwd=tmp)
        shutil.rmtree(tmp, ignore_errors=True)
