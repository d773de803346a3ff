"""Scale-out on an existing engine: the replay tick job (one run per team) and the minority-report
tick job (one run per store shard) on Dagster's celery executor (dagster-celery) over RabbitMQ,
with two worker processes started here, the runs at the same time, the warehouse and Dagster's
instance on Postgres. The steps run in both workers, and the warehouse holds the same partitions,
content hash for content hash, as a single-process run.

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
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster_celery import celery_executor

from platform_core.celery import BROKER, executor_config, wait_for_workers, worker_command
from platform_core.resources import WAREHOUSE_POOL, Pseudonymizer, WarehouseResource
from platform_core.tables import Column, TableSpec
from platform_core.warehouse import backend_for, manifest_spec
from replay_assets import demo
from replay_assets.definitions import ASSETS
from replay_assets.partitions import partition_key_for, team_partitions
from replay_assets.resources import SegmentSource, TaskLabeler
from replay_assets.schedules import replay_tick_job

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MODULE = "tests.test_celery_scaleout"  # what the workers import to rebuild the job, whatever pytest calls it
TIMEOUT_S = 900  # far above what a run takes here: a busy machine is slow, not failing

# --- replay: the demo's two teams, ticks 00:30 .. 01:30 of its day --------------------------------
TEAMS = (1, 2)  # replay_assets.demo.TOPICS
FIRST, LAST = 1, 3
DAY = pd.Timestamp("2026-11-20")
REPLAY_STEPS = {"video_segments", "video_segment_tasks"}


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


def _on_celery(assets: list, job: dg.UnresolvedAssetJobDefinition, resources: dict, queue: str) -> dg.JobDefinition:
    defs = dg.Definitions(
        assets=assets, jobs=[job], executor=celery_executor.configured(executor_config(queue)), resources=resources
    )
    return defs.resolve_job_def(job.name)


def celery_replay_job(warehouse_url: str, queue: str) -> dg.JobDefinition:
    """The replay tick job (segments -> clusters -> tasks) on the celery executor, writing to
    ``warehouse_url``. The orchestrator and each worker build it from these arguments
    (``dg.build_reconstructable_job``)."""
    return _on_celery(ASSETS, replay_tick_job, replay_resources(warehouse_url), queue)


# --- minority reports: the demo's 200 series in two store shards, the ticks 10:15 .. 11:00 --------
#: Read at import by minority_report_assets, so set for every process of the minority-report test
#: (the partitions start at 10:00, so the first tick needs no predecessor; reports are open by then).
MR_ENV = {"MR_SHARDS": "2", "MR_START": "2026-11-20-10:00"}
MR_TICKS = (DAY + pd.Timedelta("10:15:00"), DAY + pd.Timedelta("11:00:00"))
MR_STEPS = {
    "sales_timeseries_data",
    "minority_report__minority_reports_detected_log",
    "minority_report__minority_reports_clustered_log",
}
MR_DETECTED_LOG = TableSpec(
    "minority_report", "minority_reports_detected_log", (Column("shard", "BIGINT"), Column("report_id", "TEXT")), (), ()
)


def mr_resources(warehouse_url: str) -> dict:
    from minority_report_assets.resources import SalesSource

    return {"warehouse": WarehouseResource(url=warehouse_url), "sales_source": SalesSource(url="demo")}


def mr_range_tags(shard: int) -> dict[str, str]:
    from minority_report_assets.partitions import tick_key

    return {
        ASSET_PARTITION_RANGE_START_TAG: str(tick_key(MR_TICKS[0], shard)),
        ASSET_PARTITION_RANGE_END_TAG: str(tick_key(MR_TICKS[1], shard)),
    }


def celery_mr_job(warehouse_url: str, queue: str) -> dg.JobDefinition:
    """The minority-report tick job (sales -> detected log -> clustered log) on the celery executor."""
    from minority_report_assets.definitions import ASSETS as MR_ASSETS
    from minority_report_assets.schedules import mr_tick_job

    return _on_celery(MR_ASSETS, mr_tick_job, mr_resources(warehouse_url), queue)


def _mr_prepare(warehouse_urls: list[str], single_process_url: str) -> None:
    """With MR_ENV: the day's baseline and the library in every warehouse, then each shard's ticks
    in one process (Dagster's in-process executor) into ``single_process_url``."""
    from minority_report_assets.assets import (
        cluster_library,
        minority_reports_clustered_log,
        minority_reports_detected_log,
        sales_baseline,
        sales_timeseries_data,
    )
    from minority_report_assets.partitions import SHARDS

    assert SHARDS == 2, "MR_ENV was not read at import"
    for url in warehouse_urls:
        assert dg.materialize([sales_baseline], resources=mr_resources(url), partition_key=str(DAY.date())).success
        assert dg.materialize([cluster_library], resources=mr_resources(url)).success
    ticks = [sales_timeseries_data, minority_reports_detected_log, minority_reports_clustered_log]
    for shard in range(SHARDS):
        assert dg.materialize(ticks, resources=mr_resources(single_process_url), tags=mr_range_tags(shard)).success


def _orchestrate(job_function: str, warehouse_url: str, queue: str, tags: dict, go: str) -> None:
    """One run of ``job_function``'s job, orchestrated in this process, its steps in the workers;
    prints its run id and outcome as JSON. Started (``python -c``) beside the workers, it loads the
    job and the instance, then waits for the file ``go`` (both workers ready) before it starts the run."""
    job = dg.build_reconstructable_job(
        MODULE, job_function, reconstructable_kwargs=dict(warehouse_url=warehouse_url, queue=queue)
    )
    job.get_definition()
    with dg.DagsterInstance.get() as instance:
        deadline = time.monotonic() + TIMEOUT_S
        while not os.path.exists(go):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{go} never appeared")
            time.sleep(0.05)
        result = dg.execute_job(job, instance=instance, tags=tags)
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


@dataclass
class CeleryRuns:
    """Two celery workers on a queue of their own and an orchestrator process per run, on a Postgres
    instance of its own (the project's dagster.postgres.yaml, whose pool default (4) lets the
    runs' steps each hold a "warehouse" slot at once)."""

    start: callable
    tmp: Path
    env: dict
    instance: dg.DagsterInstance
    queue: str
    workers: set[str]
    logs: list[Path] = field(default_factory=list)
    procs: dict = field(default_factory=dict)
    runs: dict = field(default_factory=dict)

    def start_workers(self) -> None:
        """One step at a time each; this module preloaded before the pool forks."""
        config = self.tmp / "celery.yaml"
        config.write_text(json.dumps({"execution": {"config": executor_config(self.queue)}}))  # YAML reads JSON
        for name in sorted(self.workers):
            self.logs.append(self.tmp / f"{name}.log")
            self.procs[name] = self.start(worker_command(config, name, self.queue, MODULE), self.logs[-1], self.env)

    def orchestrate(self, label: str, job_function: str, warehouse_url: str, tags: dict) -> None:
        """A run in its own process (as a run launcher would), started once every worker is up."""
        log = self.tmp / f"run-{label}.log"
        self.logs.append(log)
        args = (job_function, warehouse_url, self.queue, tags, str(self.tmp / "go"))
        code = f"from {MODULE} import _orchestrate; _orchestrate(*{args!r})"
        self.runs[label] = (self.start([sys.executable, "-c", code], log, self.env), log)

    def go(self) -> dict[str, dict[str, str]]:
        """Starts the runs once both workers answer; per run, the worker each step ran on."""
        try:
            wait_for_workers(self.workers, self.procs, timeout=300)
        except RuntimeError as exc:
            pytest.fail(f"{exc}\n{self.tails()}")
        ready = time.monotonic()
        (self.tmp / "go").touch()
        outcomes = {}
        for label, (proc, log) in self.runs.items():
            try:
                proc.wait(timeout=max(1, TIMEOUT_S - (time.monotonic() - ready)))
            except subprocess.TimeoutExpired:
                pytest.fail(f"the run of {label} did not finish in {TIMEOUT_S} s\n{self.tails()}")
            lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith('{"run_id"')]
            assert proc.returncode == 0 and lines, f"{label}'s orchestrator failed\n{self.tails()}"
            outcomes[label] = lines[-1]
        failed = {t: o["run_id"] for t, o in outcomes.items() if not o["success"]}
        assert not failed, f"runs failed: {failed}\n{self.tails()}"
        ran_on = {label: _workers_by_step(self.instance, o["run_id"]) for label, o in outcomes.items()}
        assert {w for by_step in ran_on.values() for w in by_step.values()} == self.workers, ran_on
        # The "warehouse" pool keeps the instance's default limit, and every slot a step claimed was
        # given back: nothing is left to block the next run.
        pool = self.instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
        limit = self.instance.get_concurrency_config().pool_config.default_pool_limit
        assert limit and pool.slot_count == limit and not pool.claimed_slots and not pool.pending_steps, pool
        return ran_on

    def tails(self) -> str:
        return "\n".join(map(_tail, self.logs))


@pytest.fixture
def celery_runs(broker, new_database, processes, tmp_path, request, monkeypatch):
    """Makes a CeleryRuns with ``extra_env`` for every process it starts."""

    def make(extra_env: dict | None = None) -> CeleryRuns:
        uid = uuid.uuid4().hex[:8]
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copy(ROOT / "dagster.postgres.yaml", home / "dagster.yaml")
        env = {
            **{k: v for k, v in os.environ.items() if k not in ("WAREHOUSE_URL", "REPLAY_SEGMENTS_URL", "SALES_URL")},
            **(extra_env or {}),
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_URL": new_database().replace("postgresql://", "postgresql+psycopg2://"),
            "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
            "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),  # dagster-celery starts `celery`
        }
        monkeypatch.setenv("DAGSTER_PG_URL", env["DAGSTER_PG_URL"])  # the yaml reads it; so do the workers
        instance = dg.DagsterInstance.from_config(str(home))
        request.addfinalizer(instance.dispose)
        # The pool's row, from the instance's default, before any run: two runs that both find it
        # missing race to insert it, and on Postgres the loser's run fails at its first step (Dagster
        # 1.13: initialize_concurrency_limit_to_default, dagster-io/dagster#33552).
        instance.event_log_storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
        return CeleryRuns(processes, tmp_path, env, instance, f"scaleout_{uid}", {f"w1-{uid}", f"w2-{uid}"})

    return make


def _tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace").splitlines() if path.exists() else ["(no output)"]
    return f"--- {path.name} ---\n" + "\n".join(text[-lines:])


def _manifest(url: str, schema: str) -> pd.DataFrame:
    """Every partition ``schema`` holds, with its row count and hashes (not when it was written)."""
    frame = backend_for(url).read(manifest_spec(schema)).drop(columns=["written_at"])
    return frame.sort_values(["table_name", "partition_key"]).reset_index(drop=True)


def _workers_by_step(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """The celery worker each step ran on, from the engine event each worker logs as it starts one."""
    out = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        metadata = record.dagster_event.engine_event_data.metadata
        if "Celery worker" in metadata:
            out[record.dagster_event.step_key] = metadata["Celery worker"].value.split("@")[0]
    return out


def test_replay_ticks_of_two_teams_run_on_two_celery_workers_as_in_one_process(celery_runs, pg_url, new_database):
    started = time.monotonic()
    runs, warehouse_url, single_process_url = celery_runs(), pg_url, new_database()
    runs.instance.add_dynamic_partitions(team_partitions.name, [str(t) for t in TEAMS])
    runs.start_workers()
    for team in TEAMS:
        runs.orchestrate(f"team-{team}", "celery_replay_job", warehouse_url, range_tags(team))

    # Meanwhile, the same partitions in one process (Dagster's in-process executor), into another database.
    for team in TEAMS:
        local = dg.DagsterInstance.ephemeral()
        local.add_dynamic_partitions(team_partitions.name, [str(team)])
        result = dg.materialize(
            ASSETS, instance=local, resources=replay_resources(single_process_url), tags=range_tags(team)
        )
        assert result.success
    single_process = time.monotonic()

    ran_on = runs.go()
    for team, by_step in ran_on.items():
        assert set(by_step) == REPLAY_STEPS, f"{team}: steps seen in workers {by_step}"
    scaled_out, single = _manifest(warehouse_url, "replay"), _manifest(single_process_url, "replay")
    tables = set(single["table_name"])
    assert len(single) == len(tables) * len(TEAMS) * (LAST - FIRST + 1) and len(tables) == 6, single
    pd.testing.assert_frame_equal(scaled_out, single)
    print(
        f"single-process run after {single_process - started:.1f} s, celery runs done after "
        f"{time.monotonic() - started:.1f} s; steps on {ran_on}"
    )


def test_a_minority_report_tick_in_two_store_shards_runs_on_two_celery_workers_as_in_one_process(
    celery_runs, pg_url, new_database
):
    runs, warehouse_url, single_process_url = celery_runs(MR_ENV), pg_url, new_database()
    # The baseline and library in both warehouses, and the single-process ticks, with MR_ENV read at import.
    code = f"from {MODULE} import _mr_prepare; _mr_prepare({[warehouse_url, single_process_url]!r}, {single_process_url!r})"
    prepared = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=runs.env, capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert prepared.returncode == 0, prepared.stderr[-3000:]
    runs.start_workers()
    for shard in (0, 1):
        runs.orchestrate(f"shard-{shard}", "celery_mr_job", warehouse_url, mr_range_tags(shard))

    ran_on = runs.go()
    for shard, by_step in ran_on.items():
        assert set(by_step) == MR_STEPS, f"{shard}: steps seen in workers {by_step}"
    scaled_out, single = _manifest(warehouse_url, "minority_report"), _manifest(single_process_url, "minority_report")
    ticks = single[single["table_name"] == "minority_reports_detected_log"]
    assert len(ticks) == 2 * 4 and set(ticks["partition_key"].str[:8]) == {"shard=0;", "shard=1;"}, ticks
    detected = backend_for(warehouse_url).read(MR_DETECTED_LOG, columns=["shard", "report_id"])
    assert set(detected["shard"]) == {0, 1}, "both shards' ticks hold open reports"
    pd.testing.assert_frame_equal(scaled_out, single)
