"""The deployment, run for real: ``dagster-webserver`` and ``dagster-daemon``, started here from the installed
binaries on the project's ``workspace.yaml``, against a Postgres instance (``dagster.postgres.yaml`` with
``DAGSTER_PG_URL``, prepared by ``scripts/dagster_home.sh``) and a Postgres warehouse (``WAREHOUSE_URL``), stopped
by pid at the end.

The demo data lives in November 2026, so the deployment runs on a clock the test holds: a ``sitecustomize`` on the
webserver's and the daemon's ``PYTHONPATH`` makes Dagster's now (``dagster._time``) the instant written in a file,
which the test moves forward (the code servers and run workers they start keep the real clock: a schedule's tick
carries its time). The instant stands still, 58 s into a minute, so the scheduler, which sleeps to the next minute,
looks again within 2 s of each move, and a sensor looks again once the clock has moved by its interval. The
schedules are stopped, then each started for its own moment only (as an operator does in the UI, through the
webserver's GraphQL): moving the clock across days would otherwise make the others catch up on ticks the demo has no
data for. The sensors stay as shipped.

In the order of the clock:

- kura: ``kura_daily_schedule`` at 2026-11-16 00:30 (days 11-15 and 11-14), ``kura_weekly_schedule`` at
  2026-11-17 03:00 (the week of 11-09), then ``refresh_backlog_after_weekly`` rebuilds the backlog. The demo's
  days and its first week are materialized first, in this process, on the same instance and warehouse.
- replay: ``replay_enabled_teams`` adds the demo's two teams as the daemon starts; ``replay_every_30_minutes`` runs
  their first tick at 2026-11-20 00:35; once it is written, ticks 2..8 of both teams are backfilled through the
  webserver's ``launchPartitionBackfill`` mutation, and the backfill completes.
- minority reports: the day's baseline, the library and every tick of 2026-11-20 but the last are materialized first,
  in process; ``minority_report_every_tick`` runs the last tick at midnight, then ``mr_day_complete`` the day's map
  and summary. (``mr_baseline_schedule`` stays stopped here: the baseline comes first, in process; its 00:05 tick is
  evaluated in tests/minority_report_assets/test_day_sensor.py.)

Every run they launch must succeed, and the warehouse must hold the in-process demo's content hashes, every
partition (those the deployment wrote among them): the pinned manifests for kura and replay
(``tests/*/demo_manifest.json``, salt ``test-salt``) and, for the minority reports (whose pinned manifest holds only
the morning), a run of ``python -m minority_report_assets.cli demo`` into a DuckDB file beside the deployment.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import requests
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.scheduler.instigation import InstigatorStatus, InstigatorType, TickStatus
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG as RANGE_END
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_START_TAG as RANGE_START

from kura_assets import demo as kura_demo
from kura_assets.definitions import ASSETS as KURA_ASSETS
from kura_assets.resources import KuraEventSource
from kura_assets.schedules import kura_daily_job, kura_weekly_job
from minority_report_assets import definitions as mr
from minority_report_assets import demo as mr_demo
from minority_report_assets.assets import BASELINE_KEY, LIBRARY_KEY
from minority_report_assets.resources import SalesSource
from minority_report_assets.tables import SCHEMA as MR_SCHEMA
from platform_core.resources import Pseudonymizer, WarehouseResource
from platform_core.warehouse import backend_for, manifest_spec
from replay_assets import demo as replay_demo
from replay_assets.definitions import defs as replay_defs
from replay_assets.partitions import partition_key_for, team_partitions
from replay_assets.schedules import replay_tick_job
from tests.manifests import manifest_rows

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # .venv/bin, as CI has it
UTC = timezone.utc
REPO = "__repository__"  # dg.Definitions' repository name
SALT = "test-salt"  # the pinned manifests' pseudonym salt (tests/kura_assets, tests/replay_assets)
DEADLINE_S = 1200  # the whole deployment part: generous, a busy machine is slow, a hang is still named
#: Each wait below has its own deadline, several times what it takes here, so a stuck step is named early.
#: Product settings the environment may carry; the deployment gets the demo's defaults instead.
PRODUCT_ENV = ("WAREHOUSE_URL", "DAGSTER_PG_URL", "DAGSTER_HOME", "KURA_", "REPLAY_", "MR_", "SALES_URL")

KURA_DAYS = kura_demo.demo_days()  # two ISO weeks from Monday 2026-11-02
KURA_FIRST, KURA_YESTERDAY = KURA_DAYS[0], KURA_DAYS[-1]  # the daily schedule of 11-16 runs 11-15 and 11-14
KURA_WEEK = KURA_DAYS[7]  # the weekly schedule of Tuesday 11-17 runs the week of 11-09
REPLAY_TEAMS = sorted(replay_demo.TOPICS)
REPLAY_DAY = pd.Timestamp("2026-11-20")
REPLAY_TICKS = 8  # the pinned replay manifest: ticks ending 00:30 .. 04:00 of both teams
MR_DAY = pd.Timestamp(mr_demo.DEMO_DAY).normalize()
MR_DAY_END = MR_DAY + pd.Timedelta(days=1)

#: Installed as ``sitecustomize`` on the webserver's and the daemon's PYTHONPATH (see the module docstring).
CLOCK_HOOK = '''"""tests/test_deployment.py: Dagster's now (dagster._time) is the instant in $DEPLOYMENT_TEST_CLOCK."""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_PATH = os.environ.pop("DEPLOYMENT_TEST_CLOCK", None)
# The processes this one starts (code servers, run workers) keep the real clock.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and os.path.abspath(p) != _HERE
)

if _PATH:
    import importlib.abc
    import importlib.machinery
    from datetime import datetime, timezone

    _seen = [None, 0.0]

    def _now():
        st = os.stat(_PATH)
        if _seen[0] != (st.st_ino, st.st_mtime_ns):
            with open(_PATH) as f:
                _seen[1] = float(f.read())
            _seen[0] = (st.st_ino, st.st_mtime_ns)
        return _seen[1]

    class _PatchDagsterTime(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name != "dagster._time":
                return None
            sys.meta_path.remove(self)
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            load = spec.loader.exec_module

            def exec_module(module):
                load(module)
                module._mockable_get_current_timestamp = _now
                module._mockable_get_current_datetime = lambda: datetime.fromtimestamp(_now(), tz=timezone.utc)

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _PatchDagsterTime())
'''


def at(day, hour: int, minute: int) -> datetime:
    """58 s into ``day`` ``hour``:``minute`` UTC, the instants the clock stands on."""
    return datetime.combine(pd.Timestamp(day).date(), datetime.min.time(), UTC) + timedelta(
        hours=hour, minutes=minute, seconds=58
    )


class Clock:
    """The deployment's now: an instant in a file, replaced atomically."""

    def __init__(self, path: Path):
        self.path = path
        self.now: datetime | None = None

    def set(self, when: datetime) -> None:
        assert self.now is None or when >= self.now, f"the clock only moves forward ({self.now} -> {when})"
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(repr(when.timestamp()))
        os.replace(tmp, self.path)
        self.now = when

    def advance(self, minutes: int = 1) -> None:
        self.set(self.now + timedelta(minutes=minutes))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 60) -> str:
    text = path.read_text(errors="replace").splitlines() if path.exists() else ["(no output)"]
    return f"--- {path.name} (last {lines} lines) ---\n" + "\n".join(text[-lines:])


def _restore_sigint() -> None:
    # dagster-daemon and dagster-webserver map SIGTERM to SIGINT's handler: a child of a background job inherits
    # SIGINT ignored, and would then ignore SIGTERM too.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Processes:
    """Processes started in their own session, stopped by pid (SIGTERM, their graceful shutdown), their process
    group killed only as a last resort."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.started: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str], env: dict) -> subprocess.Popen:
        with open(self.logs / f"{name}.log", "wb") as out:
            proc = subprocess.Popen(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=ROOT,
                start_new_session=True,
                preexec_fn=_restore_sigint,
            )
        self.started[name] = proc
        return proc

    def check_alive(self) -> None:
        for name in ("webserver", "daemon"):
            if self.started[name].poll() is not None:
                pytest.fail(f"{name} exited with {self.started[name].returncode}\n{self.diagnostics()}")

    def finished(self, name: str) -> bool:
        """Whether helper ``name`` is done; a failure if it failed."""
        code = self.started[name].poll()
        if code not in (None, 0):
            pytest.fail(f"{name} exited with {code}\n{_tail(self.logs / f'{name}.log', 80)}")
        return code == 0

    def stop(self, timeout: float = 30) -> list[str]:
        problems = []
        for proc in self.started.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name, proc in self.started.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                problems.append(f"{name} (pid {proc.pid}) ignored SIGTERM for {timeout:.0f} s: killed its group")
            try:  # whatever it left behind (code servers, run workers) goes with its group
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        return problems

    def diagnostics(self) -> str:
        return "\n".join(_tail(log) for log in sorted(self.logs.glob("*.log")))


class GraphQL:
    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}/graphql"

    def __call__(self, query: str, **variables) -> dict:
        response = requests.post(self.url, json={"query": query, "variables": variables}, timeout=60)
        response.raise_for_status()
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]


LOCATIONS_QUERY = """
query { workspaceOrError { ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""
SCHEDULES_QUERY = """
query ($selector: RepositorySelector!) { repositoryOrError(repositorySelector: $selector) {
  __typename ... on Repository { schedules { name scheduleState { id status } } } } }
"""
STOP_SCHEDULE = """
mutation ($id: String) { stopRunningSchedule(id: $id) {
  __typename ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message } } }
"""
START_SCHEDULE = """
mutation ($selector: ScheduleSelector!) { startSchedule(scheduleSelector: $selector) {
  __typename ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message } } }
"""
LAUNCH_BACKFILL = """
mutation ($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on Error { message } } }
"""


class Deployment:
    """What the test sees of the running deployment: its clock, its GraphQL and its instance."""

    def __init__(self, clock: Clock, gql: GraphQL, instance: dg.DagsterInstance, procs: Processes, started: float):
        self.clock, self.gql, self.instance, self.procs, self.started = clock, gql, instance, procs, started

    def log(self, message: str) -> None:
        print(
            f"[{time.monotonic() - self.started:6.1f} s, clock {self.clock.now:%m-%d %H:%M:%S}] {message}", flush=True
        )

    def wait(self, what: str, done: Callable[[], object], timeout: float, nudge: bool = False):
        """Poll ``done`` until it returns something truthy (returned); on timeout fail with the logs' tails.
        ``nudge`` moves the clock a minute per poll (nothing is scheduled then): the sensors look again."""
        deadline = min(time.monotonic() + timeout, self.started + DEADLINE_S)
        while True:
            self.procs.check_alive()
            result = done()
            if result:
                self.log(what)
                return result
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what} (clock {self.clock.now})\n{self.report()}")
            if nudge:
                self.clock.advance(1)
            time.sleep(1)

    def runs(self, **tags) -> list[dg.DagsterRun]:
        return list(self.instance.get_runs(dg.RunsFilter(tags=tags)))

    def succeeded(self, runs: list[dg.DagsterRun], what: str, timeout: float = 600) -> list[dg.DagsterRun]:
        """Wait for ``runs`` to finish; fail, naming each failed step's error, unless every one succeeded."""
        ids = [r.run_id for r in runs]

        def finished():
            now = self.instance.get_runs(dg.RunsFilter(run_ids=ids))
            return now if len(now) == len(ids) and all(r.is_finished for r in now) else None

        final = self.wait(f"the runs of {what} to finish", finished, timeout)
        failed = [r for r in final if not r.is_success]
        if failed:
            pytest.fail(f"{what}: runs did not succeed: {self.explain(failed)}\n{self.report()}")
        return final

    def explain(self, runs: list[dg.DagsterRun]) -> str:
        lines = []
        for run in runs:
            lines.append(f"{run.job_name} {run.tags.get('dagster/partition', '')} {run.status.value} ({run.run_id})")
            for record in self.instance.all_logs(run.run_id):
                event = record.dagster_event
                if event and event.event_type_value in ("STEP_FAILURE", "RUN_FAILURE", "ENGINE_EVENT"):
                    error = getattr(event.event_specific_data, "error", None)
                    if error is not None or event.event_type_value != "ENGINE_EVENT":
                        lines.append(f"  {event.event_type_value} {event.step_key or ''}: {record.message[:300]}")
                        while error is not None:
                            lines.append(f"    {error.cls_name}: {error.message.strip()[:500]}")
                            error = error.cause
        return "\n".join(lines)

    def report(self) -> str:
        runs = self.instance.get_runs()
        summary = "\n".join(
            f"  {r.job_name} {r.tags.get('dagster/partition', '')} {r.status.value} "
            + " ".join(f"{k}={v}" for k, v in r.tags.items() if k in ("dagster/schedule_name", "dagster/sensor_name"))
            for r in runs
        )
        return f"runs:\n{summary}\n{self.procs.diagnostics()}"

    def schedule(self, location: str, name: str, before: datetime, after: datetime, runs: int) -> list[dg.DagsterRun]:
        """Start schedule ``name`` at ``before``, move the clock to ``after`` (past one of its ticks), wait for the
        tick and its ``runs`` runs, stop the schedule again; the runs it launched.

        The iteration that runs the tick then writes the schedule's state back as it read it (running, with the time
        it looked), which would undo a stop made before; so the stop waits for that write (the next is due an hour
        of the clock later)."""
        self.clock.set(before)
        assert not self.running_schedules(), self.running_schedules()
        selector = {"repositoryLocationName": location, "repositoryName": REPO, "scheduleName": name}
        started = self.gql(START_SCHEDULE, selector=selector)["startSchedule"]
        assert started["__typename"] == "ScheduleStateResult", started
        self.clock.set(after)
        tick = self.wait(
            f"{name}'s tick at {after:%Y-%m-%d %H:%M}",
            lambda: (
                (ticks := self.ticks(InstigatorType.SCHEDULE, name))
                and ticks[0].status != TickStatus.STARTED
                and ticks[0]
            ),
            timeout=120,
        )
        launched = self.runs(**{"dagster/schedule_name": name})
        assert tick.status == TickStatus.SUCCESS and len(launched) == runs, (tick, self.explain(launched))
        assert sorted(tick.run_ids) == sorted(r.run_id for r in launched)
        self.wait(
            f"the scheduler to record its look at {name}",
            lambda: self.schedule_state(name).instigator_data.last_iteration_timestamp,
            timeout=120,
        )
        self._stop_schedules(location, {name})
        assert not self.schedule_state(name).is_running
        return launched

    def stop_all_schedules(self) -> list[str]:
        """Stop every schedule, and see them stay stopped: the daemon's first look at a default-running schedule
        writes its state back (running), which undoes a stop made meanwhile; it looks every 2 s."""
        stopped = {location: self._stop_schedules(location) for location in LOCATIONS}
        for _ in range(10):
            time.sleep(3)
            again = set(self.running_schedules())
            if not again:
                return [name for names in stopped.values() for name in names]
            for location, names in stopped.items():
                self._stop_schedules(location, again & set(names))
        pytest.fail(f"{sorted(again)} do not stay stopped\n{self.report()}")

    def schedule_state(self, name: str):
        states = self.instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
        return next(s for s in states if s.name == name)

    def running_schedules(self) -> list[str]:
        states = self.instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
        return sorted(s.name for s in states if s.status != InstigatorStatus.STOPPED)

    def ticks(self, kind: InstigatorType, name: str) -> list:
        """``name``'s ticks, latest first."""
        states = [s for s in self.instance.all_instigator_state(instigator_type=kind) if s.name == name]
        return [t for s in states for t in self.instance.get_ticks(s.instigator_origin_id, s.selector_id)]

    def _stop_schedules(self, location: str, names: set[str] | None = None) -> list[str]:
        selector = {"repositoryLocationName": location, "repositoryName": REPO}
        repo = self.gql(SCHEDULES_QUERY, selector=selector)["repositoryOrError"]
        assert repo["__typename"] == "Repository", repo
        stopped = []
        for schedule in repo["schedules"]:
            if names is None or schedule["name"] in names:
                result = self.gql(STOP_SCHEDULE, id=schedule["scheduleState"]["id"])["stopRunningSchedule"]
                assert result.get("scheduleState", {}).get("status") == "STOPPED", result
                stopped.append(schedule["name"])
        return stopped


LOCATIONS = ("kura_assets", "replay_assets", "minority_report_assets")


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PRODUCT_ENV)}
    return {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])), **settings}


def pooled(instance: dg.DagsterInstance) -> dg.DagsterInstance:
    """Pooled connections for this process's own instance, as the webserver takes for itself: Dagster's Postgres
    storage otherwise opens a connection per query, which doubles the in-process runs' time. The deployment keeps
    the product's instance config."""
    instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=10)
    return instance


def _range_tags(first: str, last: str) -> dict[str, str]:
    return {RANGE_START: first, RANGE_END: last}


def _execute(defs: dg.Definitions, job: str, instance: dg.DagsterInstance, first: str, last: str) -> None:
    result = defs.resolve_job_def(job).execute_in_process(
        instance=instance, tags=_range_tags(first, last), raise_on_error=False
    )
    assert result.success, f"in-process {job} {first}..{last} failed"


# --- kura ----------------------------------------------------------------------------------------------------------


def kura_upstream(warehouse: str, instance: dg.DagsterInstance) -> None:
    """The demo's days (11-02..11-15: the daily schedule of 11-16 writes 11-15 and 11-14 again, and the weekly one
    of 11-17 reads the week of 11-09 whenever its run starts) and the week before the weekly schedule's (11-02), as
    ``kura_assets.cli demo`` runs them."""
    defs = dg.Definitions(
        assets=KURA_ASSETS,
        jobs=[kura_daily_job, kura_weekly_job],
        resources={
            "warehouse": WarehouseResource(url=warehouse),
            "kura_events": KuraEventSource(url="demo"),
            "pseudonymizer": Pseudonymizer(salt=SALT),
        },
    )
    _execute(defs, kura_daily_job.name, instance, KURA_FIRST.isoformat(), KURA_YESTERDAY.isoformat())
    _execute(defs, kura_weekly_job.name, instance, KURA_FIRST.isoformat(), KURA_FIRST.isoformat())


def kura_part(d: Deployment) -> dict[str, list[dg.DagsterRun]]:
    daily = d.schedule("kura_assets", "kura_daily_schedule", at("2026-11-16", 0, 29), at("2026-11-16", 0, 30), runs=2)
    assert sorted(r.tags["dagster/partition"] for r in daily) == [
        (KURA_YESTERDAY - timedelta(days=1)).isoformat(),
        KURA_YESTERDAY.isoformat(),
    ]
    weekly = d.schedule("kura_assets", "kura_weekly_schedule", at("2026-11-17", 2, 59), at("2026-11-17", 3, 0), runs=1)
    assert [r.tags["dagster/partition"] for r in weekly] == [KURA_WEEK.isoformat()]
    return {"kura_daily_schedule": daily, "kura_weekly_schedule": weekly}


# --- replay --------------------------------------------------------------------------------------------------------


def replay_tick_key(team: int, k: int) -> str:
    return str(partition_key_for(team, REPLAY_DAY + k * replay_demo.TICK))


def replay_first_tick(d: Deployment) -> list[dg.DagsterRun]:
    """The teams' first tick, by the schedule."""
    first = d.schedule(
        "replay_assets", "replay_every_30_minutes", at(REPLAY_DAY, 0, 34), at(REPLAY_DAY, 0, 35), runs=len(REPLAY_TEAMS)
    )
    assert sorted(r.tags["dagster/partition"] for r in first) == [replay_tick_key(t, 1) for t in REPLAY_TEAMS]
    return first


def replay_backfill(d: Deployment, first: list[dg.DagsterRun]) -> str:
    """Ticks 2..8 of both teams, by a backfill launched through the webserver once the first tick is written."""
    d.succeeded(first, "replay_every_30_minutes")  # the backfill's first tick continues this one
    assert d.clock.now >= at(REPLAY_DAY, 4, 0)  # the backfill's last tick has ended
    # An asset backfill of the job's assets over each team's range of ticks. (The job's own "Launch backfill", a
    # partition-set backfill, runs each team's range with the first partition's dimension tags, so one wrong tick:
    # dagster-io/dagster#28861. Asset selection plus partition names targets the named ticks of the root assets
    # and, through the clusters' and tasks' dependency on the tick before, the next tick of those too.)
    job = replay_defs.get_repository_def().get_job(replay_tick_job.name)
    ranges = [{"start": replay_tick_key(t, 2), "end": replay_tick_key(t, REPLAY_TICKS)} for t in REPLAY_TEAMS]
    params = {
        "partitionsByAssets": [
            {"assetKey": {"path": key.path}, "partitions": {"ranges": ranges}}
            for key in sorted(job.asset_layer.selected_asset_keys)
        ],
        "title": "replay ticks 2..8 of the demo teams",
        "tags": [{"key": "dagster/priority", "value": "1"}],  # ahead of the queue: the longest chain here
    }
    launched = d.gql(LAUNCH_BACKFILL, params=params)["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return launched["backfillId"]


def replay_backfill_done(d: Deployment, backfill_id: str) -> list[dg.DagsterRun]:
    terminal = {BulkActionStatus.COMPLETED_SUCCESS, BulkActionStatus.COMPLETED_FAILED, BulkActionStatus.FAILED}
    terminal |= {BulkActionStatus.CANCELED, BulkActionStatus.COMPLETED}
    backfill = d.wait(
        f"backfill {backfill_id} to complete",
        lambda: (b := d.instance.get_backfill(backfill_id)) and b.status in terminal and b,
        timeout=600,
    )
    runs = d.runs(**{"dagster/backfill": backfill_id})
    assert backfill.status in (BulkActionStatus.COMPLETED_SUCCESS, BulkActionStatus.COMPLETED), (
        f"backfill {backfill_id}: {backfill.status}\n{d.explain(runs)}\n{d.report()}"
    )
    d.succeeded(runs, f"backfill {backfill_id}")
    # Runs over ranges of one team's ticks (the assets' single-run backfill policy), which together cover every asset
    # of the job over ticks 2..8. The tasks, which continue the previous tick's, run apart from the segments (Dagster
    # runs a self-dependent asset on its own), over what the segments' run has committed when the backfill looks.
    job = replay_defs.get_repository_def().get_job(replay_tick_job.name)
    keys = set(job.asset_layer.selected_asset_keys)
    ticks = {t: [replay_tick_key(t, k).split("|")[1] for k in range(2, REPLAY_TICKS + 1)] for t in REPLAY_TEAMS}
    covered = set()
    for run in runs:
        (team, first), (last_team, last) = (run.tags[tag].split("|") for tag in (RANGE_START, RANGE_END))
        assert team == last_team and ticks[int(team)][0] <= first <= last <= ticks[int(team)][-1], run.tags
        covered |= {
            (key, team, tick) for key in run.asset_selection for tick in ticks[int(team)] if first <= tick <= last
        }
    assert covered == {(key, str(t), tick) for key in keys for t in REPLAY_TEAMS for tick in ticks[t]}
    return runs


# --- minority reports ----------------------------------------------------------------------------------------------
# Assumed of minority_report_assets: the schedule "minority_report_every_tick" runs a job
# whose partitions are the ticks (a time window partitioning, or a multi-partitioning with one time dimension), the
# demo day's ticks are those whose windows lie within MR_DAY, the sensor "mr_day_complete" runs the day once every
# tick of it is materialized, BASELINE_KEY (day partitions) and LIBRARY_KEY (unpartitioned) are what a tick reads
# beyond the previous tick, and ``python -m minority_report_assets.cli demo`` materializes the demo day.


def mr_tick_job_and_partitions() -> tuple[str, dg.PartitionsDefinition]:
    repo = mr.defs.get_repository_def()
    job = repo.get_job(repo.get_schedule_def("minority_report_every_tick").job_name)
    return job.name, job.partitions_def


def _tick_window(partitions_def: dg.PartitionsDefinition, key: str) -> tuple[str, dg.TimeWindow]:
    """A tick key's non-time part (its shard, or '') and its time window."""
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        dims = partitions_def.get_partition_key_from_str(key).keys_by_dimension
        time_dim = next(
            d for d in partitions_def.partitions_defs if isinstance(d.partitions_def, dg.TimeWindowPartitionsDefinition)
        )
        rest = "|".join(v for k, v in sorted(dims.items()) if k != time_dim.name)
        return rest, time_dim.partitions_def.time_window_for_partition_key(dims[time_dim.name])
    return "", partitions_def.time_window_for_partition_key(key)


def mr_day_ticks() -> dict[str, list[str]]:
    """The demo day's tick keys, in time order, per shard (one group, '', for a plain time partitioning)."""
    _, partitions_def = mr_tick_job_and_partitions()
    day_start = MR_DAY.to_pydatetime().replace(tzinfo=UTC)
    day_end = day_start + timedelta(days=1)
    out: dict[str, list[tuple[datetime, str]]] = {}
    for key in partitions_def.get_partition_keys(current_time=day_end):
        rest, window = _tick_window(partitions_def, key)
        if window.start >= day_start and window.end <= day_end:
            out.setdefault(rest, []).append((window.start, key))
    return {rest: [k for _, k in sorted(keys)] for rest, keys in out.items()}


def mr_upstream(warehouse: str, instance: dg.DagsterInstance) -> None:
    """The day's baseline, the library and every tick of the day but the last (one run per shard)."""
    resources = {"warehouse": WarehouseResource(url=warehouse), "sales_source": SalesSource(url="demo")}
    for selection, partition in (([BASELINE_KEY], str(MR_DAY.date())), ([LIBRARY_KEY], None)):
        result = dg.materialize(
            mr.ASSETS, selection=selection, partition_key=partition, instance=instance, resources=resources
        )
        assert result.success
    defs = dg.Definitions(assets=mr.ASSETS, jobs=mr.defs.jobs, resources=resources)
    job, _ = mr_tick_job_and_partitions()
    for keys in mr_day_ticks().values():
        _execute(defs, job, instance, keys[0], keys[-2])


def _mr_upstream_main(warehouse: str) -> None:
    """``python -c`` entry point: ``mr_upstream`` on the instance in DAGSTER_HOME."""
    with dg.DagsterInstance.get() as instance:
        pooled(instance)
        mr_upstream(warehouse, instance)


def mr_last_tick(d: Deployment) -> list[dg.DagsterRun]:
    """The day's last tick (of every shard), by the schedule, at midnight."""
    last_ticks = sorted(keys[-1] for keys in mr_day_ticks().values())
    tick = d.schedule(
        "minority_report_assets",
        "minority_report_every_tick",
        at(MR_DAY, 23, 59),
        at(MR_DAY_END, 0, 0),
        runs=len(last_ticks),
    )
    assert sorted(r.tags["dagster/partition"] for r in tick) == last_ticks
    return tick


def mr_day(d: Deployment, tick: list[dg.DagsterRun]) -> list[dg.DagsterRun]:
    """The day's map and summary, by mr_day_complete once the last tick is written."""
    d.succeeded(tick, "minority_report_every_tick")
    d.clock.set(at(MR_DAY_END, 0, 6))  # mr_day_complete looks every 5 minutes
    day = d.wait(
        "mr_day_complete to request the day's map and summary",
        lambda: d.runs(**{"dagster/sensor_name": "mr_day_complete"}),
        timeout=180,
    )
    assert [r.tags["dagster/partition"] for r in day] == [str(MR_DAY.date())]
    return day


# --- the test ------------------------------------------------------------------------------------------------------


def _manifest(url: str, schema: str) -> pd.DataFrame:
    return backend_for(url).read(manifest_spec(schema)).sort_values(["table_name", "partition_key"])


def _written_since(url: str, schema: str, since: datetime) -> pd.DataFrame:
    """The manifest rows (re)written at or after ``since`` (the manifest stores naive UTC)."""
    frame = _manifest(url, schema)
    return frame[frame["written_at"] >= since.replace(tzinfo=None)]


def test_the_deployment_runs_each_systems_schedules_sensors_and_a_backfill_on_postgres(
    new_database, tmp_path, monkeypatch
):
    t0 = time.monotonic()
    for binary in ("dagster-daemon", "dagster-webserver"):
        assert (BIN / binary).exists(), f"{BIN / binary} is not installed"
    instance_url, warehouse = new_database(), new_database()
    pg_instance_url = instance_url.replace("postgresql://", "postgresql+psycopg2://")
    home, logs, hook = tmp_path / "dagster_home", tmp_path / "logs", tmp_path / "clock_hook"
    logs.mkdir()
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(CLOCK_HOOK)
    clock = Clock(tmp_path / "clock")
    clock.set(at("2026-11-16", 0, 29))  # the first moment the test needs; nothing is scheduled before a move

    # The instance as the project prepares it: dagster.postgres.yaml and the warehouse pool's row (dagster#33552).
    product_env = _env(
        DAGSTER_HOME=str(home),
        DAGSTER_PG_URL=pg_instance_url,
        WAREHOUSE_URL=warehouse,
        KURA_PSEUDONYM_SALT=SALT,
        REPLAY_PSEUDONYM_SALT=SALT,
    )
    subprocess.run(["bash", str(ROOT / "scripts" / "dagster_home.sh")], env=product_env, check=True, cwd=ROOT)
    assert (home / "dagster.yaml").read_text() == (ROOT / "dagster.postgres.yaml").read_text()
    monkeypatch.setenv("DAGSTER_PG_URL", pg_instance_url)  # what the instance's yaml reads
    instance = pooled(dg.DagsterInstance.from_config(str(home)))
    assert instance.event_log_storage.get_concurrency_info("warehouse").slot_count == 4

    port = _free_port()
    deployment_env = {
        **product_env,
        "PYTHONPATH": os.pathsep.join([str(hook), product_env["PYTHONPATH"]]),
        "DEPLOYMENT_TEST_CLOCK": str(clock.path),
    }
    procs = Processes(logs)
    d = Deployment(clock, GraphQL(port), instance, procs, t0)
    in_process_demo = f"duckdb:///{tmp_path}/mr_in_process_demo.duckdb"
    timings, launched = {}, {}
    try:
        procs.start(
            "webserver",
            [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            deployment_env,
        )
        procs.start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], deployment_env)
        # Meanwhile: what the scheduled runs read beyond their own partitions, on the same instance and warehouse.
        procs.start(
            "mr_upstream",
            [
                sys.executable,
                "-c",
                f"from tests.test_deployment import _mr_upstream_main; _mr_upstream_main({warehouse!r})",
            ],
            product_env,
        )
        kura_upstream(warehouse, instance)
        kura_since = datetime.now(UTC)
        d.log("kura upstream done")

        def locations_loaded():
            try:
                entries = d.gql(LOCATIONS_QUERY)["workspaceOrError"]["locationEntries"]
            except requests.ConnectionError:
                return None
            loaded = {e["name"] for e in entries if e["locationOrLoadError"]["__typename"] == "RepositoryLocation"}
            errors = [e for e in entries if e["locationOrLoadError"]["__typename"] == "PythonError"]
            assert not errors, errors
            return loaded == set(LOCATIONS)

        d.wait("the webserver to load the three code locations", locations_loaded, timeout=300)
        stopped = d.stop_all_schedules()
        assert len(stopped) == 5, stopped
        # The daemon is up, and replay_enabled_teams has added the demo's teams (it launches no run).
        d.wait(
            "replay_enabled_teams to add the demo teams",
            lambda: sorted(int(t) for t in instance.get_dynamic_partitions(team_partitions.name)) == REPLAY_TEAMS,
            timeout=300,
        )
        added = [
            key
            for tick in d.ticks(InstigatorType.SENSOR, "replay_enabled_teams")
            for result in tick.tick_data.dynamic_partitions_request_results
            for key in result.added_partitions or []
        ]
        assert sorted(map(int, added)) == REPLAY_TEAMS, added
        # refresh_backlog_after_weekly has set its cursor: it sees the runs that finish from now on.
        d.wait(
            "refresh_backlog_after_weekly's first tick",
            lambda: d.ticks(InstigatorType.SENSOR, "refresh_backlog_after_weekly"),
            180,
        )
        timings["deployment up"] = time.monotonic() - t0
        # Clock order: kura's days and week, replay's first tick, the minority reports' last tick; then the replay
        # backfill (once the first tick is written) and mr_day_complete (once the last tick is).
        launched.update(kura_part(d))
        launched["replay_every_30_minutes"] = replay_first_tick(d)
        d.wait("the minority-report upstream (in process)", lambda: procs.finished("mr_upstream"), timeout=600)
        mr_since = datetime.now(UTC)
        launched["minority_report_every_tick"] = mr_last_tick(d)
        backfill_id = replay_backfill(d, launched["replay_every_30_minutes"])
        timings["replay backfill launched"] = time.monotonic() - t0
        # Meanwhile the minority reports' in-process demo, whose hashes the deployment's must equal.
        demo_home = tmp_path / "mr_in_process_demo_home"
        demo_home.mkdir()
        shutil.copy(ROOT / "dagster.yaml", demo_home / "dagster.yaml")
        procs.start(
            "mr_in_process_demo",
            [sys.executable, "-m", "minority_report_assets.cli", "demo"],
            _env(DAGSTER_HOME=str(demo_home), WAREHOUSE_URL=in_process_demo),
        )
        launched["mr_day_complete"] = mr_day(d, launched["minority_report_every_tick"])
        d.succeeded(launched["kura_weekly_schedule"], "kura_weekly_schedule")
        launched["refresh_backlog_after_weekly"] = d.wait(
            "refresh_backlog_after_weekly to rebuild the backlog",
            lambda: d.runs(**{"dagster/sensor_name": "refresh_backlog_after_weekly"}),
            timeout=180,
            nudge=True,
        )
        launched["backfill"] = replay_backfill_done(d, backfill_id)
        for what, runs in launched.items():
            d.succeeded(runs, what)
        everything = instance.get_runs()
        assert all(r.is_success for r in everything), d.explain([r for r in everything if not r.is_success])
        timings["deployment runs done"] = time.monotonic() - t0
        for what, runs in launched.items():
            for record in instance.get_run_records(dg.RunsFilter(run_ids=[r.run_id for r in runs])):
                run, ran = record.dagster_run, record.end_time - record.start_time
                print(f"  {what}: {run.job_name} {run.tags.get('dagster/partition', '')} ran {ran:.0f} s")
        d.wait("the minority reports' in-process demo", lambda: procs.finished("mr_in_process_demo"), 600)
    finally:
        problems = procs.stop()
        instance.dispose()
        timings["stopped"] = time.monotonic() - t0
        print(", ".join(f"{k} after {v:.0f} s" for k, v in timings.items()))
    assert not problems, problems

    # The warehouse holds the in-process demo's content hashes, every partition, those the deployment wrote among them.
    kura_rows = manifest_rows(warehouse, "kura")
    assert kura_rows == json.loads((ROOT / "tests" / "kura_assets" / "demo_manifest.json").read_text())
    written = set(_written_since(warehouse, "kura", kura_since)["partition_key"])
    days = {f"period_day={day}" for day in (KURA_YESTERDAY - timedelta(days=1), KURA_YESTERDAY)}
    assert days | {f"period_start={KURA_WEEK}", ""} <= written, written

    replay_rows = manifest_rows(warehouse, "replay")
    pinned = json.loads((ROOT / "tests" / "replay_assets" / "demo_manifest.json").read_text())
    assert replay_rows == pinned  # input hashes too: a tick's do not depend on how ticks were grouped into runs

    mr_rows = manifest_rows(warehouse, MR_SCHEMA)
    assert mr_rows == manifest_rows(in_process_demo, MR_SCHEMA)
    mr_written = _written_since(warehouse, MR_SCHEMA, mr_since)
    assert {"minority_report_map", "minority_report_attribution_summary"} <= set(mr_written["table_name"]), mr_written
    assert len(mr_written) > 2, mr_written
