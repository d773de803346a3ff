"""Running steps on Dagster's celery executor (dagster-celery): the executor's config, the command
that starts a worker for it, and waiting until workers answer. Used by the scale-out test and
benchmark; a deployment runs the same workers under its own supervisor."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

BROKER = os.environ.get("CELERY_BROKER_URL", "pyamqp://guest@127.0.0.1:5672//")
BACKEND = "rpc://"


def executor_config(queue: str, broker: str = BROKER) -> dict:
    """The celery executor's config, which the workers read too (``dagster-celery worker start -y``):
    one queue per run set, so no other worker on the broker takes its steps. Late acks: a worker
    holds no second step while it runs one, so two steps at once go to two workers."""
    return {
        "broker": broker,
        "backend": BACKEND,
        "config_source": {"task_default_queue": queue, "task_acks_late": True},
    }


def worker_command(config: Path, name: str, queue: str, module: str) -> list[str]:
    """A worker taking one step at a time from ``queue``, with ``module`` (which rebuilds the job)
    imported before its pool forks."""
    return [
        str(Path(sys.executable).parent / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
        "-y", str(config), "-n", name, "-q", queue, "-i", module,
        "--", "--concurrency=1", "--without-gossip", "--without-mingle",
    ]  # fmt: skip


def wait_for_workers(
    names: set[str], workers: Mapping[str, subprocess.Popen], timeout: float, broker: str = BROKER
) -> None:
    """Until every worker in ``names`` answers a ping; RuntimeError naming a worker that exited, or
    the ones that did not answer in ``timeout`` seconds."""
    from celery import Celery

    app = Celery(broker=broker)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            dead = [n for n, p in workers.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f"celery worker(s) {dead} exited")
            answered = {n.split("@")[0] for reply in app.control.ping(timeout=1.0) for n in reply}
            if names <= answered:
                return
        raise RuntimeError(f"celery workers {sorted(names)} not ready after {timeout:.0f} s")
    finally:
        app.close()
