"""Shared fixtures: a DuckDB warehouse per test, and a real Postgres for the tests that need one.

Postgres: the local server on 127.0.0.1:5432 (trust auth), else a throwaway server started
from the installed binaries. When neither is possible the tests fail under CI (they must run
there) and are skipped on a developer machine.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest


@pytest.fixture
def duck_url(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path}/warehouse.duckdb"


def _can_connect(dsn: str) -> bool:
    import psycopg2

    try:
        psycopg2.connect(dsn, connect_timeout=3).close()
        return True
    except psycopg2.OperationalError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _throwaway_server() -> tuple[str, callable] | None:
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        return None
    root = Path(tempfile.mkdtemp(prefix="pg-throwaway-"))
    data, port = root / "data", _free_port()
    as_user = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
    if as_user:  # initdb refuses to run as root
        shutil.chown(root, "postgres")
    subprocess.run(
        [*as_user, initdb, "-D", str(data), "-U", "postgres", "-A", "trust"], check=True, capture_output=True
    )
    subprocess.run(
        [
            *as_user,
            pg_ctl,
            "-D",
            str(data),
            "-o",
            f"-p {port} -k {root} -h 127.0.0.1",
            "-w",
            "start",
            "-l",
            str(root / "log"),
        ],
        check=True,
        capture_output=True,
    )

    def stop() -> None:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)

    return f"postgresql://postgres@127.0.0.1:{port}/postgres", stop


@pytest.fixture(scope="session")
def pg_server() -> str:
    """DSN of a Postgres server's maintenance database."""
    local = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    if _can_connect(local):
        yield local
        return
    started = None
    try:
        started = _throwaway_server()
    except (subprocess.CalledProcessError, OSError, KeyError):
        started = None
    if started is None:
        message = f"no Postgres at {local} and none could be started"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must run the Postgres tests)")
        pytest.skip(message)
    dsn, stop = started
    for _ in range(50):
        if _can_connect(dsn):
            break
        time.sleep(0.1)
    yield dsn
    stop()


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A fresh, empty database for one test, dropped afterwards."""
    import psycopg2

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(pg_server)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    base = pg_server.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


#: Real labelled data for development, beside the repository (never copied into it).
REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def real_data(name: str) -> Path:
    """The path of a real data file: skipped when it is absent (a user's fresh clone), a failure under CI."""
    path = REAL_DATA / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: the real-data tests must run in CI")
        pytest.skip(f"{path} is absent (real data lives beside the repository)")
    return path


@pytest.fixture
def new_database(pg_server: str):
    """Makes throwaway databases on the test Postgres server; drops them after the test (a fixture that
    starts processes using them is set up after this one, so stops them first)."""
    import psycopg2

    admin = psycopg2.connect(pg_server)
    admin.autocommit = True
    names = []

    def create() -> str:
        names.append(f"t_{uuid.uuid4().hex[:12]}")
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {names[-1]}")
        return f"{pg_server.rsplit('/', 1)[0]}/{names[-1]}"

    yield create
    with admin.cursor() as cur:
        for name in names:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request, tmp_path) -> str:
    """A warehouse of each kind for one test function (its examples share it)."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path}/warehouse.duckdb"
    return request.getfixturevalue("pg_url")
