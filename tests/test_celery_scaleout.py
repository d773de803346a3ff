"""Scale-out on an existing engine: the replay tick job on Dagster's celery executor (dagster-celery)
over RabbitMQ, with two worker processes started here, one run per team at the same time, the
warehouse and Dagster's instance on Postgres. The steps run in both workers, and the warehouse
holds the same partitions, content hash for content hash, as a single-process run.

The broker (``CELERY_BROKER_URL``, default the local RabbitMQ) must be up under CI; on a developer
machine without it the test is skipped, saying so.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster_celery import celery_executor

from platform_core.celery import BROKER, executor_config, wait_for_workers, worker_command
from platform_core.resources import WAREHOUSE_POOL, Pseudonymizer, WarehouseResource
from platform_core.warehouse import backend_for, manifest_spec
from replay_assets import demo
from replay_assets.definitions import ASSETS
from replay_assets.partitions import partition_key_for, team_partitions
from replay_assets.resources import SegmentSource, TaskLabeler
from replay_assets.schedules import replay_tick_job
from replay_assets.tables import SCHEMA

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MODULE = "tests.test_celery_scaleout"  # what the workers import to rebuild the job, whatever pytest calls it
TEAMS = (1, 2)  # the demo's teams (replay_assets.demo.TOPICS)
FIRST, LAST = 1, 3  # ticks 00:30 .. 01:30 of the demo's day
DAY = pd.Timestamp("2026-11-20")
STEPS = {"video_segments", "replay__video_segment_clusters", "video_segment_tasks"}
TIMEOUT_S = 300


def tick(k: int) -> pd.Timestamp:
    return DAY + k * demo.TICK


def replay_resources(warehouse_url: str) -> dict:
    return {
        "warehouse": WarehouseResource(url=warehouse_url),
        "replay_segments": SegmentSource(url="demo"),
        "replay_pseudonymizer": Pseudonymizer(salt="test-salt"),
        "replay_labeler": TaskLabeler(),
    }


def range_tags(team: int) -> dict[str, str]:
    return {
        ASSET_PARTITION_RANGE_START_TAG: str(partition_key_for(team, tick(FIRST))),
        ASSET_PARTITION_RANGE_END_TAG: str(partition_key_for(team, tick(LAST))),
    }


def celery_replay_job(warehouse_url: str, queue: str) -> dg.JobDefinition:
    """The replay tick job (segments -> clusters -> tasks) on the celery executor, writing to
    ``warehouse_url``. The orchestrator and each worker build it from these arguments
    (``dg.build_reconstructable_job``)."""
    defs = dg.Definitions(
        assets=ASSETS,
        jobs=[replay_tick_job],
        executor=celery_executor.configured(executor_config(queue)),
        resources=replay_resources(warehouse_url),
    )
    return defs.resolve_job_def(replay_tick_job.name)


def _orchestrate(warehouse_url: str, queue: str, team: int, go: str) -> None:
    """One run (one team's ticks FIRST..LAST), orchestrated in this process, its steps in the workers;
    prints its run id and outcome as JSON. Started (``python -c``) beside the workers, it loads the
    job and the instance, then waits for the file ``go`` (both workers ready) before it starts the run."""
    job = dg.build_reconstructable_job(
        MODULE, "celery_replay_job", reconstructable_kwargs=dict(warehouse_url=warehouse_url, queue=queue)
    )
    job.get_definition()
    with dg.DagsterInstance.get() as instance:
        deadline = time.monotonic() + TIMEOUT_S
        while not os.path.exists(go):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{go} never appeared")
            time.sleep(0.05)
        result = dg.execute_job(job, instance=instance, tags=range_tags(team))
        print(json.dumps({"run_id": result.run_id, "success": result.success}), flush=True)


def _broker_is_up() -> bool:
    from kombu import Connection

    try:
        with Connection(BROKER, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1, timeout=3)
        return True
    except Exception:  # any failure to reach the broker means the same here
        return False


@pytest.fixture
def broker() -> str:
    if not _broker_is_up():
        message = f"no celery broker at {BROKER} (RabbitMQ; set CELERY_BROKER_URL)"
        if os.environ.get("CI"):
            pytest.fail(message + ": CI must run the celery scale-out test")
        pytest.skip(message)
    return BROKER


@pytest.fixture
def processes():
    """Starts processes in their own process group; stops every group at the end, pass or fail."""
    started: list[subprocess.Popen] = []

    def start(args: list[str], log: Path, env: dict) -> subprocess.Popen:
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
            )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in started:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        _signal_group(proc, signal.SIGKILL)  # the group: the celery worker's pool children too
        proc.wait()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


@pytest.fixture
def new_database(pg_server: str):
    """Makes throwaway databases beside ``pg_url``'s; drops them after the processes are stopped."""
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


def _tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace").splitlines() if path.exists() else ["(no output)"]
    return f"--- {path.name} ---\n" + "\n".join(text[-lines:])


def _manifest(url: str) -> pd.DataFrame:
    """Every partition the replay graph wrote, with its row count and hashes (not when)."""
    frame = backend_for(url).read(manifest_spec(SCHEMA)).drop(columns=["written_at"])
    return frame.sort_values(["table_name", "partition_key"]).reset_index(drop=True)


def _workers_by_step(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """The celery worker each step ran on, from the engine event each worker logs as it starts one."""
    out = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        metadata = record.dagster_event.engine_event_data.metadata
        if "Celery worker" in metadata:
            out[record.dagster_event.step_key] = metadata["Celery worker"].value.split("@")[0]
    return out


def test_replay_ticks_of_two_teams_run_on_two_celery_workers_as_in_one_process(
    broker, pg_url, new_database, processes, tmp_path, request, monkeypatch
):
    started = time.monotonic()
    uid = uuid.uuid4().hex[:8]
    queue, workers = f"scaleout_{uid}", {f"w1-{uid}", f"w2-{uid}"}
    warehouse_url, reference_url = pg_url, new_database()

    # Dagster's instance on Postgres, in its own database: the project's dagster.postgres.yaml, whose
    # pool default (4) lets the two runs' steps each hold a "warehouse" slot at once.
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.postgres.yaml", home / "dagster.yaml")
    instance_db = new_database()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("WAREHOUSE_URL", "REPLAY_SEGMENTS_URL")},
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": instance_db.replace("postgresql://", "postgresql+psycopg2://"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),  # dagster-celery starts `celery`
    }
    config = tmp_path / "celery.yaml"
    config.write_text(json.dumps({"execution": {"config": executor_config(queue)}}))  # YAML is a superset of JSON

    monkeypatch.setenv("DAGSTER_PG_URL", env["DAGSTER_PG_URL"])  # the yaml reads it; so do the workers
    instance = dg.DagsterInstance.from_config(str(home))
    request.addfinalizer(instance.dispose)
    instance.add_dynamic_partitions(team_partitions.name, [str(t) for t in TEAMS])
    # The pool's row, from the instance's default, before any run: two runs that both find it
    # missing race to insert it, and on Postgres the loser's run fails at its first step (Dagster
    # 1.13: initialize_concurrency_limit_to_default, dagster-io/dagster#33552).
    instance.event_log_storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)

    # Two workers, one step at a time each; the job's module preloaded before the pool forks.
    logs = []
    procs = {}
    for name in sorted(workers):
        log = tmp_path / f"{name}.log"
        logs.append(log)
        procs[name] = processes(
            worker_command(config, name, queue, MODULE),
            log,
            env,
        )
    # One run per team, both at once, each orchestrated in its own process (as a run launcher would).
    go = tmp_path / "go"
    runs = {}
    for team in TEAMS:
        log = tmp_path / f"run-team-{team}.log"
        logs.append(log)
        code = f"from {MODULE} import _orchestrate; _orchestrate({warehouse_url!r}, {queue!r}, {team}, {str(go)!r})"
        runs[team] = (processes([sys.executable, "-c", code], log, env), log)

    # Meanwhile, the same partitions in one process (Dagster's in-process executor), into another database.
    for team in TEAMS:
        local = dg.DagsterInstance.ephemeral()
        local.add_dynamic_partitions(team_partitions.name, [str(team)])
        result = dg.materialize(
            ASSETS, instance=local, resources=replay_resources(reference_url), tags=range_tags(team)
        )
        assert result.success
    single_process = time.monotonic()

    try:
        wait_for_workers(workers, procs, timeout=90)
    except RuntimeError as exc:
        pytest.fail(f"{exc}\n" + "\n".join(map(_tail, logs)))
    ready = time.monotonic()
    go.touch()
    outcomes = {}
    for team, (proc, log) in runs.items():
        try:
            proc.wait(timeout=max(1, TIMEOUT_S - (time.monotonic() - ready)))
        except subprocess.TimeoutExpired:
            pytest.fail(f"the run of team {team} did not finish in {TIMEOUT_S} s\n" + "\n".join(map(_tail, logs)))
        lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith('{"run_id"')]
        assert proc.returncode == 0 and lines, f"team {team}'s orchestrator failed\n" + "\n".join(map(_tail, logs))
        outcomes[team] = lines[-1]
    scaled = time.monotonic()

    failed = {t: o["run_id"] for t, o in outcomes.items() if not o["success"]}
    assert not failed, f"runs failed: {failed}\n" + "\n".join(map(_tail, logs))
    ran_on = {team: _workers_by_step(instance, o["run_id"]) for team, o in outcomes.items()}
    for team, by_step in ran_on.items():
        assert set(by_step) == STEPS, f"team {team}: steps seen in workers {by_step}"
    assert {w for by_step in ran_on.values() for w in by_step.values()} == workers, ran_on
    # The "warehouse" pool keeps the instance's default limit, and every slot a step claimed was given
    # back: nothing is left to block the next run.
    pool = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
    limit = instance.get_concurrency_config().pool_config.default_pool_limit
    assert limit and pool.slot_count == limit and not pool.claimed_slots and not pool.pending_steps, pool

    scaled_out, single = _manifest(warehouse_url), _manifest(reference_url)
    tables = set(single["table_name"])
    assert len(single) == len(tables) * len(TEAMS) * (LAST - FIRST + 1) and len(tables) == 6, single
    pd.testing.assert_frame_equal(scaled_out, single)
    print(
        f"single-process reference after {single_process - started:.1f} s, workers ready after "
        f"{ready - started:.1f} s, celery runs in {scaled - ready:.1f} s; steps on {ran_on}"
    )
