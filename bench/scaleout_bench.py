"""Scale-out benchmark: the replay tick job (segments -> clusters -> tasks) for many teams, one tick
(one run) per team, on Dagster's in-process executor against Dagster's celery executor
(dagster-celery over RabbitMQ) with one and with two worker processes; instance and warehouse on
Postgres, in throwaway databases of their own for every configuration.

(a) in-process: one process runs the teams' runs one after another (``execute_in_process``);
(b), (c) celery with 1 and ``--workers`` workers (``--concurrency=1`` each, late acks, a queue of
this run's own): ``--orchestrators`` processes each orchestrate their share of the runs one after
another, so that many runs are in flight at once and steps of different teams run on different
workers at the same time. Timed from the moment every process is up (imports, job and instance
loaded, workers answering a ping) to the last run's end; the start-up is reported on its own.

Also the fixed cost of a run and of a step: a tick of 1 segment against a full tick, in-process
(each timed run also split into source read, validation, clustering, tasks, warehouse reads and
writes, checks and the rest: Dagster), and the 1-segment tick on celery; and that every
configuration's warehouse manifest (row counts and content hashes of every partition) is the same.

Data (seeded, written once to ``bench/out/``, never timed): per team 2,000 segments of 384-dim
float32 embeddings in one 30-minute tick, shaped as ``replay_assets.demo``'s (a team's shared
direction under every topic, sibling topics, variation along a few shared style directions,
overdispersed topic counts, noise, crashes, two broken rows), one parquet row group per team.

    python bench/scaleout_bench.py [--teams 40] [--segments 2000] [--workers 2] [--orchestrators 4]

Needs RabbitMQ (``CELERY_BROKER_URL``, default the local one) and Postgres (``BENCH_PG_URL``,
default ``postgresql://postgres@127.0.0.1:5432/postgres``, where the databases are created).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG  # noqa: E402
from dagster_celery import celery_executor  # noqa: E402

from platform_core.celery import executor_config, wait_for_workers, worker_command  # noqa: E402
from platform_core.resources import WAREHOUSE_POOL, Pseudonymizer, WarehouseResource  # noqa: E402
from replay_assets import demo  # noqa: E402
from replay_assets.definitions import ASSETS  # noqa: E402
from replay_assets.partitions import TICK, partition_key_for, team_partitions  # noqa: E402
from replay_assets.resources import SegmentSource, TaskLabeler  # noqa: E402
from replay_assets.schedules import replay_tick_job  # noqa: E402
from replay_assets.segments import COLUMNS  # noqa: E402

MODULE = "bench.scaleout_bench"  # what workers and orchestrators import to rebuild the job
BIN = Path(sys.executable).parent
OUT = ROOT / "bench" / "out"
PG_SERVER = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SALT = "bench-salt"
SEED = 0
TICK_END = pd.Timestamp(demo.TICK + pd.Timestamp("2026-11-20"))  # the first tick of the demo's day (00:30)
TINY_TEAM0 = 100_000  # teams of 1-segment ticks: TINY_TEAM0 + 1, + 2, ...
OVERHEAD_REPEATS = 3
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
STEPS = ("video_segments", "replay__video_segment_clusters", "video_segment_tasks")
TICK_POLL_S = 1  # dagster_celery.core_execution_loop.TICK_SECONDS: the orchestrator's sleep between polls


# --- data (seeded; written once, never timed) ----------------------------------------------------
AREAS = (
    "checkout",
    "settings",
    "search",
    "dashboard",
    "onboarding",
    "billing",
    "editor",
    "export",
    "invites",
    "reports",
    "profile",
    "notifications",
)
ISSUES = (
    (
        "got an error in the {a} page and could not continue",
        "the {a} page showed an error banner after submitting",
        "an error message in {a} blocked the next step",
    ),
    (
        "the {a} page timed out and showed a spinner forever",
        "waited for {a} to load until it timed out",
        "a {a} request timed out twice before the user gave up",
    ),
    (
        "went back and forth in {a} looking for an option",
        "could not find the option they needed in {a}",
        "struggled to understand how {a} works",
    ),
    (
        "started the {a} flow and abandoned it halfway",
        "left the {a} flow at the second step",
        "gave up on {a} before finishing",
    ),
    (
        "the value entered in {a} was rejected as invalid",
        "{a} kept refusing the value entered",
        "tried three values in {a}, all refused",
    ),
    (
        "clicked the same button in {a} repeatedly",
        "retried the same action in {a} many times",
        "repeated one step in {a} over and over",
    ),
)
NOISE_SHARE, CRASHES_PER_TICK, BROKEN_ROWS = 0.08, 3, 2


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def team_tick(team: int, n: int, dim: int) -> pd.DataFrame:
    """``n`` source rows of one team's tick, the demo's model (``replay_assets.demo``) at scale: topic
    directions lean on the team's shared direction (unrelated topics meet at cosine ~0.42), every
    third topic is a sibling of the one before, a segment varies mostly along 24 style directions
    shared by all topics, topic counts are overdispersed; noise leans on the shared direction; a few
    crash descriptions (high-impact noise); two broken rows (NaN, wrong size) when n >= 50."""
    rng = np.random.default_rng([SEED, team, n, dim])
    shared = _unit_rows(rng.standard_normal(dim))
    style = np.linalg.qr(rng.standard_normal((dim, demo.STYLE_DIMENSIONS)))[0]
    s = demo.SHARED
    broken = BROKEN_ROWS if n >= 50 else 0
    crashes = CRASHES_PER_TICK if n >= 50 else 0
    n_noise = int(round(n * NOISE_SHARE)) if n >= 50 else 0
    n_topic = n - n_noise - crashes - broken
    topics = max(1, round(n_topic / 60))
    own = _unit_rows(s * shared + np.sqrt(1 - s**2) * _unit_rows(rng.standard_normal((topics, dim))))
    directions = own.copy()
    for k in range(1, topics, 3):  # siblings (demo.Topic.near)
        directions[k] = _unit_rows(demo.SIBLING * directions[k - 1] + np.sqrt(1 - demo.SIBLING**2) * own[k])
    weights = rng.gamma(demo.DISPERSION, 1.0, topics)
    topic_of = rng.choice(topics, n_topic, p=weights / weights.sum())
    names = np.resize(rng.permutation(len(AREAS) * len(ISSUES)), topics)  # (area, issue) per topic, distinct up to 72
    centre = np.vstack(
        [
            directions[topic_of],
            _unit_rows(s * shared + np.sqrt(1 - s**2) * _unit_rows(rng.standard_normal((n_noise, dim)))),
        ]
    )
    variation = np.sqrt(demo.STYLE_SHARE / demo.STYLE_DIMENSIONS) * rng.standard_normal(
        (len(centre), demo.STYLE_DIMENSIONS)
    ) @ style.T + np.sqrt((1 - demo.STYLE_SHARE) / dim) * rng.standard_normal((len(centre), dim))
    vectors = list((centre + demo.SPREAD * variation).astype(np.float32))
    content = []
    for t in topic_of:
        area, issue = AREAS[names[t] % len(AREAS)], ISSUES[names[t] // len(AREAS)]
        content.append("User " + issue[int(rng.integers(0, 3))].format(a=area))
    content += ["User " + demo.NEUTRAL[int(rng.integers(0, len(demo.NEUTRAL)))] for _ in range(n_noise)]
    for _ in range(crashes):
        content.append(f"App crashed with an exception while {demo.CRASHES[int(rng.integers(0, len(demo.CRASHES)))]}")
        vectors.append(_unit_rows(shared + 0.9 * _unit_rows(rng.standard_normal(dim))).astype(np.float32))
    if broken:
        nan = rng.standard_normal(dim).astype(np.float32)
        nan[3] = np.nan
        vectors += [nan, rng.standard_normal(dim // 2).astype(np.float32)]
        content += ["User scrolled the feed"] * 2
    order = rng.permutation(n)  # arrival order mixes topics
    vectors, content = [vectors[i] for i in order], [content[i] for i in order]
    start = TICK_END - TICK
    inserted = start + pd.to_timedelta((np.arange(n) + 0.5) * (1800e6 / n), unit="us").floor("us")
    session = [f"s{team}-{i // 4:05d}" for i in range(n)]
    offset = (np.arange(n) % 4) * 30
    begin = inserted - pd.Timedelta(seconds=60)
    return pd.DataFrame(
        {
            "team_id": team,
            "document_id": [f"{se}:{o}:{o + 20}" for se, o in zip(session, offset)],
            "session_id": session,
            "distinct_id": [f"user-{team}-{int(u):04d}" for u in rng.integers(0, max(2, n // 10), n)],
            "start_time": begin,
            "end_time": begin + pd.Timedelta(seconds=20),
            "timestamp": begin,
            "inserted_at": inserted,
            "content": content,
            "embedding": vectors,
        }
    )[COLUMNS]


def generate(teams: int, segments: int, dim: int, tiny: int) -> Path:
    """Teams 1..``teams`` with ``segments`` rows each and teams TINY_TEAM0+1.. with one row, one
    parquet row group per team (the source's team filter then reads only that team's group)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from platform_core.warehouse import vectors_to_arrow

    path = OUT / f"scaleout-{teams}x{segments}-d{dim}-t{tiny}-s{SEED}.parquet"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    writer = None
    for team, n in [(t, segments) for t in range(1, teams + 1)] + [(TINY_TEAM0 + k, 1) for k in range(1, tiny + 1)]:
        frame = team_tick(team, n, dim)
        table = pa.Table.from_pandas(frame.drop(columns=["embedding"]), preserve_index=False)
        table = table.append_column("embedding", vectors_to_arrow(frame["embedding"].to_list()))
        table = table.cast(
            pa.schema(
                [
                    pa.field(f.name, pa.timestamp("us") if pa.types.is_timestamp(f.type) else f.type)
                    for f in table.schema
                ]
            )
        )
        writer = writer or pq.ParquetWriter(tmp, table.schema)
        writer.write_table(table, row_group_size=max(1, n))
    writer.close()
    tmp.rename(path)
    return path


# --- the job, as orchestrators and workers rebuild it ---------------------------------------------
def resources(warehouse_url: str, segments_url: str) -> dict:
    return {
        "warehouse": WarehouseResource(url=warehouse_url),
        "replay_segments": SegmentSource(url=segments_url),
        "replay_pseudonymizer": Pseudonymizer(salt=SALT),
        "replay_labeler": TaskLabeler(),
    }


def celery_replay_job(warehouse_url: str, segments_url: str, queue: str) -> dg.JobDefinition:
    defs = dg.Definitions(
        assets=ASSETS,
        jobs=[replay_tick_job],
        executor=celery_executor.configured(executor_config(queue)),
        resources=resources(warehouse_url, segments_url),
    )
    return defs.resolve_job_def(replay_tick_job.name)


def local_replay_job(warehouse_url: str, segments_url: str) -> dg.JobDefinition:
    defs = dg.Definitions(assets=ASSETS, jobs=[replay_tick_job], resources=resources(warehouse_url, segments_url))
    return defs.resolve_job_def(replay_tick_job.name)


def range_tags(team: int) -> dict[str, str]:
    key = str(partition_key_for(team, TICK_END))
    return {ASSET_PARTITION_RANGE_START_TAG: key, ASSET_PARTITION_RANGE_END_TAG: key}


def step_times(instance: dg.DagsterInstance, run_id: str) -> dict:
    """Per step: when the orchestrator submitted it (celery), when a worker took it and which,
    when it started and ended; and the run's start and end, from the run's event log."""
    steps: dict[str, dict] = defaultdict(dict)
    run = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None:
            continue
        kind, key, ts = event.event_type_value, event.step_key, record.timestamp
        if kind == "RUN_START":
            run["start"] = ts
        elif kind in ("RUN_SUCCESS", "RUN_FAILURE"):
            run["end"] = ts
        elif kind == "STEP_START":
            steps[key]["start"] = ts
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            steps[key]["end"] = ts
        elif kind == "ENGINE_EVENT" and key:
            metadata = event.engine_event_data.metadata if event.engine_event_data else {}
            if "Celery worker" in metadata:
                steps[key]["taken"], steps[key]["worker"] = ts, metadata["Celery worker"].value.split("@")[0]
            elif (event.message or "").startswith("Submitting celery task"):
                steps[key]["submitted"] = ts
            elif (event.message or "").startswith("Step blocked by limit for pool"):
                steps[key]["pool_blocked"] = ts
    return {"run": run, "steps": dict(steps)}


# --- child processes ------------------------------------------------------------------------------
def _emit(payload: dict) -> None:
    print("RESULT " + json.dumps(payload), flush=True)


def _wait_for_go(spec: dict) -> None:
    print("READY", flush=True)
    deadline = time.monotonic() + 600
    while spec.get("go") and not os.path.exists(spec["go"]):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{spec['go']} never appeared")
        time.sleep(0.02)


def _inprocess(spec_json: str) -> None:
    """(a) and the overhead runs: the runs one after another in this process (in-process executor)."""
    spec = json.loads(spec_json)
    timers = _instrument() if spec.get("instrument") else None
    job = local_replay_job(spec["warehouse_url"], spec["segments_url"])
    with dg.DagsterInstance.get() as instance:
        ready = time.time()
        _wait_for_go(spec)
        cpu0, runs = time.process_time(), []
        for team in spec["teams"]:
            if timers is not None:
                timers.clear()
            t0, c0 = time.time(), time.process_time()
            result = job.execute_in_process(
                instance=instance, tags=range_tags(team), run_config=QUIET, raise_on_error=False
            )
            runs.append(
                {
                    "team": team,
                    "run_id": result.run_id,
                    "success": result.success,
                    "start": t0,
                    "end": time.time(),
                    "cpu": time.process_time() - c0,
                    "parts": dict(timers) if timers is not None else {},
                }
            )
        cpu = time.process_time() - cpu0
        for r in runs:
            r["events"] = step_times(instance, r["run_id"])
            r["n_events"] = len(instance.all_logs(r["run_id"]))
    _emit({"ready": ready, "spawned_to_ready": ready - spec["spawned"], "cpu": cpu, "runs": runs})


def _instrument() -> dict:
    """Wall time of what a step does, summed by part (this process only, nothing edited): the
    parts below do not nest, except that the write transaction includes its COPY."""
    import platform_core.table_asset as table_asset
    import replay_assets.assets as assets
    import replay_assets.sources as sources
    from platform_core.warehouse import Backend, PostgresBackend

    timers: dict[str, float] = defaultdict(float)

    def timed(owner, name: str, part: str) -> None:
        fn = getattr(owner, name)

        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                timers[part] += time.perf_counter() - t

        setattr(owner, name, wrapper)

    timed(sources, "read_segments_from", "source read (parquet)")
    timed(assets, "validate_segments", "validate")
    timed(assets, "tick_clusters", "cluster")
    timed(assets, "update_tasks", "tasks (match, label, priority)")
    timed(assets, "privacy_check", "privacy checks")
    timed(table_asset, "prepare", "contract check + content hash")
    timed(Backend, "query", "warehouse reads")
    timed(Backend, "write", "warehouse write txn")
    timed(PostgresBackend, "_insert", "  of which COPY (incl. array text)")
    import psycopg2

    connect = psycopg2.connect

    def counted(*args, **kwargs):  # every Postgres connection: Dagster's storage (NullPool) and the warehouse
        t = time.perf_counter()
        try:
            return connect(*args, **kwargs)
        finally:
            timers["~ Postgres connections opened (count)"] += 1
            timers["~ Postgres connection set-up (s)"] += time.perf_counter() - t

    psycopg2.connect = counted
    return timers


def _orchestrate(spec_json: str) -> None:
    """(b), (c): this process orchestrates its share of the runs one after another, steps in the
    workers; it loads the job and the instance, then waits for the file ``go``."""
    spec = json.loads(spec_json)
    job = dg.build_reconstructable_job(
        MODULE,
        "celery_replay_job",
        reconstructable_kwargs=dict(
            warehouse_url=spec["warehouse_url"], segments_url=spec["segments_url"], queue=spec["queue"]
        ),
    )
    job.get_definition()
    with dg.DagsterInstance.get() as instance:
        ready = time.time()
        _wait_for_go(spec)
        cpu0, runs = time.process_time(), []
        for team in spec["teams"]:
            t0, c0 = time.time(), time.process_time()
            result = dg.execute_job(job, instance=instance, tags=range_tags(team), run_config=QUIET)
            runs.append(
                {
                    "team": team,
                    "run_id": result.run_id,
                    "success": result.success,
                    "start": t0,
                    "end": time.time(),
                    "cpu": time.process_time() - c0,
                }
            )
        _emit(
            {
                "ready": ready,
                "spawned_to_ready": ready - spec["spawned"],
                "cpu": time.process_time() - cpu0,
                "runs": runs,
            }
        )


# --- processes, databases, CPU accounting (parent) ------------------------------------------------
class Processes:
    """Every process started here, in its own process group; stopped group by group."""

    def __init__(self):
        self.started: list[subprocess.Popen] = []

    def start(self, args: list[str], log: Path, env: dict) -> subprocess.Popen:
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
            )
        self.started.append(proc)
        return proc

    def stop(self, procs: list[subprocess.Popen] | None = None) -> None:
        procs = list(self.started if procs is None else procs)
        for proc in procs:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(proc, signal.SIGKILL)  # the group: a celery worker's pool children too
            proc.wait()
            if proc in self.started:
                self.started.remove(proc)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


class Databases:
    """Throwaway databases on PG_SERVER; all dropped at the end."""

    def __init__(self):
        import psycopg2

        self.admin = psycopg2.connect(PG_SERVER)
        self.admin.autocommit = True
        self.names: list[str] = []

    def create(self, what: str) -> str:
        name = f"scaleout_{what}_{uuid.uuid4().hex[:8]}"
        with self.admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
        self.names.append(name)
        return f"{PG_SERVER.rsplit('/', 1)[0]}/{name}"

    def drop_all(self) -> None:
        with self.admin.cursor() as cur:
            for name in self.names:
                cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.names = []
        self.admin.close()


HZ = os.sysconf("SC_CLK_TCK")


def cpu_snapshot(groups: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds so far (user + system, exited children included) of: each named list of process
    groups (ours), every postgres process (the server: every database, ours and anyone's), RabbitMQ
    (beam.smp), every other process (``?pid comm``), and the whole machine (busy: not idle, iowait
    or steal; steal: time the hypervisor gave to others)."""
    out = {name: 0.0 for name in [*groups, "postgres", "rabbitmq"]}
    owner = {pgid: name for name, pgids in groups.items() for pgid in pgids}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        pgid = int(fields[2])
        ticks = sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
        if int(entry) == os.getpid():  # this process: its reaped children (ours, counted above) not again
            ticks = int(fields[11]) + int(fields[12])
        name = owner.get(pgid) or (
            "postgres" if comm.startswith("postgres") else "rabbitmq" if comm == "beam.smp" else f"?{entry} {comm}"
        )
        if name.startswith("?"):  # another's: its own time (what its shell reaped is not in this window)
            ticks = int(fields[11]) + int(fields[12])
        out[name] = out.get(name, 0.0) + ticks / HZ
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    out["machine"] = (sum(values[:7]) - values[3] - values[4]) / HZ
    out["steal"] = values[7] / HZ
    return out


def settle(groups: dict[str, list[int]], max_wait: float, quiet: float = 0.3) -> float:
    """Wait (at most ``max_wait`` s) until processes not started here use less than ``quiet`` cores
    over 3 s (another session's tests, say), so a window starts on an idle machine; the seconds waited."""
    began = time.monotonic()
    while True:
        before = cpu_snapshot(groups)
        time.sleep(3)
        d = cpu_delta(before, cpu_snapshot(groups))
        foreign = d["machine"] - sum(d.get(k, 0.0) for k in groups) - d["postgres"] - d["rabbitmq"]
        if foreign / 3 < quiet or time.monotonic() - began > max_wait:
            return time.monotonic() - began - 3


def others(cpu: dict, top: int = 3) -> str:
    """The other processes that used most CPU in a window (``cpu_delta`` of two snapshots)."""
    rest = sorted(((v, k[1:]) for k, v in cpu.items() if k.startswith("?") and v > 0.05), reverse=True)
    return ", ".join(f"{name} {v:.1f} s" for v, name in rest[:top]) or "none above 0.05 s"


def cpu_delta(before: dict, after: dict) -> dict:
    return {k: max(0.0, after.get(k, 0.0) - before.get(k, 0.0)) for k in after}


def child_env(home: Path, instance_url: str, blas_threads: int | None) -> dict:
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("WAREHOUSE_URL", "REPLAY_SEGMENTS_URL", "DAGSTER_HOME")},
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": instance_url.replace("postgresql://", "postgresql+psycopg2://"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),  # dagster-celery starts `celery`
    }
    if blas_threads:
        env.update({k: str(blas_threads) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")})
    return env


@contextmanager
def instance_at(home: Path, env: dict):
    os.environ["DAGSTER_PG_URL"] = env["DAGSTER_PG_URL"]  # the instance yaml reads it
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        yield instance
    finally:
        instance.dispose()


def prepare_instance(home: Path, env: dict, teams: list[int]) -> int:
    """The project's Postgres instance config; the teams as dynamic partitions; the pool's row
    before any run (tests/test_celery_scaleout.py: dagster-io/dagster#33552). Returns the pool limit."""
    home.mkdir(parents=True)
    shutil.copy(ROOT / "dagster.postgres.yaml", home / "dagster.yaml")
    with instance_at(home, env) as instance:
        instance.add_dynamic_partitions(team_partitions.name, [str(t) for t in teams])
        instance.event_log_storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
        return instance.get_concurrency_config().pool_config.default_pool_limit


def tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace").splitlines() if path.exists() else ["(no output)"]
    return f"--- {path.name} ---\n" + "\n".join(text[-lines:])


def child_result(proc: subprocess.Popen, log: Path, timeout: float, logs: list[Path]) -> dict:
    try:
        proc.wait(timeout=max(1.0, timeout))
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{log.name} did not finish in time\n" + "\n".join(map(tail, logs))) from None
    found = [line[7:] for line in log.read_text(errors="replace").splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"{log.name} failed (exit {proc.returncode})\n" + "\n".join(map(tail, logs)))
    return json.loads(found[-1])


def python_call(function: str, spec: dict) -> list[str]:
    return [sys.executable, "-c", f"from {MODULE} import {function}; {function}({json.dumps(spec)!r})"]


def manifest(url: str, teams: set[int]) -> pd.DataFrame:
    """Every partition the replay graph wrote for ``teams``: row count and hashes (not when)."""
    from platform_core.warehouse import backend_for, manifest_spec
    from replay_assets.tables import SCHEMA

    frame = backend_for(url).read(manifest_spec(SCHEMA)).drop(columns=["written_at"])
    team = frame["partition_key"].str.extract(r"team_id=(\d+)")[0].astype(int)
    frame = frame[team.isin(teams)]
    return frame.sort_values(["table_name", "partition_key"]).reset_index(drop=True)


def digest(frame: pd.DataFrame) -> str:
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()[:16]


# --- the configurations ---------------------------------------------------------------------------
def run_inprocess(
    args,
    work: Path,
    dbs: Databases,
    procs: Processes,
    segments_url: str,
    teams: list[int],
    name: str,
    instrument: bool = False,
    all_teams: list[int] | None = None,
) -> dict:
    home, instance_url, warehouse_url = (
        work / name / "dagster_home",
        dbs.create(f"{name}_inst"),
        dbs.create(f"{name}_wh"),
    )
    env = child_env(home, instance_url, args.blas_threads)
    pool_limit = prepare_instance(home, env, all_teams or teams)
    log, go = work / name / "inprocess.log", work / name / "go"
    spec = {
        "warehouse_url": warehouse_url,
        "segments_url": segments_url,
        "teams": teams,
        "spawned": time.time(),
        "instrument": instrument,
        "go": str(go),
    }
    proc = procs.start(python_call("_inprocess", spec), log, env)
    wait_ready([(proc, log)], [log])
    settled = settle({"ours": [proc.pid]}, args.settle)
    before = cpu_snapshot({"ours": [proc.pid]})
    go.touch()
    result = child_result(proc, log, 120 + 120 * len(teams), [log])
    after = cpu_snapshot({})  # the process has exited: its own CPU is cpu_self
    procs.stop([proc])
    runs = result["runs"]
    failed = [r["team"] for r in runs if not r["success"]]
    if failed:
        raise RuntimeError(f"{name}: runs failed for teams {failed}\n{tail(log)}")
    wall = max(r["end"] for r in runs) - min(r["start"] for r in runs)
    return {
        "name": name,
        "wall": wall,
        "startup": result["spawned_to_ready"],
        "runs": runs,
        "cpu_self": result["cpu"],
        "cpu": {**cpu_delta(before, after), "ours": result["cpu"]},
        "settled": settled,
        "pool_limit": pool_limit,
        "warehouse_url": warehouse_url,
        "manifest": manifest(warehouse_url, set(teams)),
    }


def wait_ready(children: list[tuple[subprocess.Popen, Path]], logs: list[Path], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not all("READY" in log.read_text(errors="replace") for _, log in children):
        dead = [log.name for p, log in children if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            raise RuntimeError(f"not ready: {dead or 'timeout'}\n" + "\n".join(map(tail, logs)))
        time.sleep(0.1)


def worker_task_seconds(log: Path) -> list[float]:
    """How long each task (one step) took in the worker, from celery's own 'succeeded in' lines."""
    return [
        float(m)
        for m in re.findall(r"Task execute_plan\[[^\]]+\] succeeded in ([0-9.]+)s", log.read_text(errors="replace"))
    ]


def run_celery(
    args,
    work: Path,
    dbs: Databases,
    procs: Processes,
    segments_url: str,
    teams: list[int],
    n_workers: int,
    tiny: list[int],
) -> dict:
    name = f"celery{n_workers}"
    uid = uuid.uuid4().hex[:8]
    queue = f"scaleout_bench_{uid}"
    home, instance_url, warehouse_url = (
        work / name / "dagster_home",
        dbs.create(f"{name}_inst"),
        dbs.create(f"{name}_wh"),
    )
    env = child_env(home, instance_url, args.blas_threads)
    pool_limit = prepare_instance(home, env, teams + tiny)
    config = work / name / "celery.yaml"
    config.write_text(json.dumps({"execution": {"config": executor_config(queue)}}))  # YAML is a superset of JSON
    logs: list[Path] = []
    workers, worker_logs = {}, {}
    t_spawn = time.time()
    for i in range(n_workers):
        wname = f"w{i + 1}-{uid}"
        log = work / name / f"{wname}.log"
        logs.append(log)
        worker_logs[wname] = log
        workers[wname] = procs.start(
            worker_command(config, wname, queue, MODULE),
            log,
            env,
        )
    go = work / name / "go"
    k = min(args.orchestrators, len(teams))
    orchestrators = []
    for j in range(k):
        log = work / name / f"orchestrator-{j}.log"
        logs.append(log)
        spec = {
            "warehouse_url": warehouse_url,
            "segments_url": segments_url,
            "queue": queue,
            "teams": teams[j::k],
            "go": str(go),
            "spawned": time.time(),
        }
        orchestrators.append((procs.start(python_call("_orchestrate", spec), log, env), log))
    try:
        wait_for_workers(set(workers), workers, timeout=120)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}\n" + "\n".join(map(tail, logs))) from None
    wait_ready(orchestrators, logs)
    ready = time.time()
    groups = {"workers": [p.pid for p in workers.values()], "orchestrators": [p.pid for p, _ in orchestrators]}
    settled = settle(groups, args.settle)
    before = cpu_snapshot(groups)
    go.touch()
    t_go = time.time()
    results = [child_result(p, log, 300 + 60 * len(teams), logs) for p, log in orchestrators]
    after = cpu_snapshot(groups)  # orchestrators have exited: their CPU is in ours no longer (see cpu_self)
    runs = sorted((r for res in results for r in res["runs"]), key=lambda r: r["start"])
    failed = [r["team"] for r in runs if not r["success"]]
    if failed:
        raise RuntimeError(f"{name}: runs failed for teams {failed}\n" + "\n".join(map(tail, logs)))
    wall = max(r["end"] for r in runs) - t_go
    busy = {w: worker_task_seconds(log) for w, log in worker_logs.items()}

    # The fixed cost of a celery run: 1-segment ticks, one at a time (not timed above).
    tiny_log = work / name / "orchestrator-tiny.log"
    logs.append(tiny_log)
    spec = {
        "warehouse_url": warehouse_url,
        "segments_url": segments_url,
        "queue": queue,
        "teams": tiny,
        "go": "",
        "spawned": time.time(),
    }
    tiny_result = child_result(procs.start(python_call("_orchestrate", spec), tiny_log, env), tiny_log, 600, logs)
    tiny_runs = tiny_result["runs"]
    if not all(r["success"] for r in tiny_runs):
        raise RuntimeError(f"{name}: a 1-segment run failed\n" + "\n".join(map(tail, logs)))

    with instance_at(home, env) as instance:
        for r in runs + tiny_runs:
            r["events"] = step_times(instance, r["run_id"])
        pool = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
        pool_clean = pool.slot_count == pool_limit and not pool.claimed_slots and not pool.pending_steps
    procs.stop([*workers.values(), *(p for p, _ in orchestrators)])
    cpu = cpu_delta(before, after)
    cpu["orchestrators"] = sum(res["cpu"] for res in results)  # their own accounting (they exited before `after`)
    return {
        "name": name,
        "workers": n_workers,
        "orchestrators": k,
        "wall": wall,
        "startup": ready - t_spawn,
        "settled": settled,
        "orchestrator_startup": statistics.median(res["spawned_to_ready"] for res in results),
        "runs": runs,
        "tiny_runs": tiny_runs,
        "busy": busy,
        "cpu": cpu,
        "pool_limit": pool_limit,
        "pool_clean": pool_clean,
        "warehouse_url": warehouse_url,
        "manifest": manifest(warehouse_url, set(teams)),
    }


# --- figures --------------------------------------------------------------------------------------
def profile(runs: list[dict]) -> dict:
    """Sums over the runs: step time (STEP_START..end), time a submitted step waited before it started
    (queue + the worker's set-up of the task), and everything else in the run (orchestration)."""
    step = pre = total = 0.0
    per_step = defaultdict(list)
    workers = defaultdict(int)
    for r in runs:
        total += r["end"] - r["start"]
        for key, s in r["events"]["steps"].items():
            if "start" in s and "end" in s:
                step += s["end"] - s["start"]
                per_step[key].append(s["end"] - s["start"])
            if "submitted" in s and "start" in s:
                pre += s["start"] - s["submitted"]
            if "worker" in s:
                workers[s["worker"]] += 1
    return {
        "run_wall": total,
        "step": step,
        "pre": pre,
        "other": total - step - pre,
        "per_step": {k: statistics.median(v) for k, v in per_step.items()},
        "steps_by_worker": dict(workers),
    }


def max_in_flight(runs: list[dict]) -> tuple[int, int, int]:
    """Most runs, most steps running (STEP_START..end) and most steps submitted and not yet done
    (what holds a pool slot: the orchestrator claims it before it submits) at once."""

    def peak(intervals):
        points = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
        now = best = 0
        for _, d in points:
            now += d
            best = max(best, now)
        return best

    steps = [s for r in runs for s in r["events"]["steps"].values() if "start" in s and "end" in s]
    return (
        peak([(r["start"], r["end"]) for r in runs]),
        peak([(s["start"], s["end"]) for s in steps]),
        peak([(s.get("submitted", s["start"]), s["end"]) for s in steps]),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teams", type=int, default=40)
    parser.add_argument("--segments", type=int, default=2000, help="segments per team (one tick each)")
    parser.add_argument("--workers", type=int, default=2, help="workers of configuration (c); (b) has 1")
    parser.add_argument("--orchestrators", type=int, default=4, help="processes orchestrating celery runs at once")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=OVERHEAD_REPEATS, help="runs of each size for the overhead")
    parser.add_argument(
        "--blas-threads", type=int, default=None, help="OPENBLAS/OMP threads of every child (default: unset)"
    )
    parser.add_argument(
        "--settle", type=float, default=180, help="wait up to this many s for other sessions' CPU use to calm down"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (logs) under /tmp")
    args = parser.parse_args()

    load_start = os.getloadavg()[0]
    began = time.monotonic()
    t0 = time.perf_counter()
    repeats = max(1, min(args.repeats, args.teams))
    path = generate(args.teams, args.segments, args.dim, repeats + 1)
    print(
        f"data: {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.0f} MB; ready in {time.perf_counter() - t0:.1f} s, not timed)"
    )
    teams = list(range(1, args.teams + 1))
    tiny = [TINY_TEAM0 + k for k in range(1, repeats + 2)]
    work = Path(tempfile.mkdtemp(prefix="scaleout-bench-"))
    procs, dbs = Processes(), Databases()

    def stop(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    results = {}
    try:
        for name in ("inprocess", "overhead", "celery1", f"celery{args.workers}"):
            (work / name).mkdir(exist_ok=True)
        print(f"\n(a) in-process executor: {args.teams} runs one after another ...", flush=True)
        results["a"] = run_inprocess(args, work, dbs, procs, str(path), teams, "inprocess")
        print(f"    {results['a']['wall']:.1f} s", flush=True)
        print(f"(b) celery, 1 worker, {args.orchestrators} orchestrators ...", flush=True)
        results["b"] = run_celery(args, work, dbs, procs, str(path), teams, 1, tiny[:repeats])
        print(f"    {results['b']['wall']:.1f} s", flush=True)
        print(f"(c) celery, {args.workers} workers, {args.orchestrators} orchestrators ...", flush=True)
        results["c"] = run_celery(args, work, dbs, procs, str(path), teams, args.workers, tiny[:repeats])
        print(f"    {results['c']['wall']:.1f} s", flush=True)
        print(f"overhead: 1-segment and {args.segments:,}-segment ticks in-process, {repeats} each ...", flush=True)
        order = [tiny[-1]] + [t for pair in zip(tiny[:repeats], teams[:repeats]) for t in pair]  # a warm-up run first
        results["o"] = run_inprocess(args, work, dbs, procs, str(path), order, "overhead", instrument=True)
    finally:
        procs.stop()
        dbs.drop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs kept in {work}")
    report(args, results, repeats, time.monotonic() - began, load_start)
    return 0


def report(args, results: dict, repeats: int, elapsed: float, load_start: float) -> None:
    a, b, c, o = results["a"], results["b"], results["c"], results["o"]
    n_seg = args.teams * args.segments
    cores = os.cpu_count()

    def wall(r):
        return r["end"] - r["start"]

    def med(rs, f):
        return statistics.median(f(r) for r in rs)

    def steps_sum(r):
        return sum(s["end"] - s["start"] for s in r["events"]["steps"].values() if "start" in s and "end" in s)

    def busy_of(x):
        return sum(sum(v) for v in x["busy"].values())

    print(f"\n== replay ticks: {args.teams} teams x {args.segments:,} segments ({args.dim}-dim), one run per team ==")
    pa_ = profile(a["runs"])
    ca = a["cpu"]
    print(
        f"(a) in-process, runs in sequence: {a['wall']:.1f} s ({args.teams / a['wall'] * 60:.1f} runs/min, "
        f"{n_seg / a['wall']:,.0f} segments/s); per run: first {wall(a['runs'][0]):.1f} s, median "
        f"{med(a['runs'], wall):.1f} s; summed: steps {pa_['step']:.1f} s, outside the steps {pa_['other']:.1f} s"
    )
    print(
        f"    CPU in the window: the process {ca['ours']:.1f} s ({ca['ours'] / a['wall']:.2f} cores), postgres "
        f"{ca['postgres']:.1f} s ({ca['postgres'] / a['wall']:.2f} cores); machine busy {ca['machine']:.1f} s of "
        f"{cores} x {a['wall']:.1f} s = {100 * ca['machine'] / (cores * a['wall']):.0f}% "
        f"(others {max(0.0, ca['machine'] - ca['ours'] - ca['postgres'] - ca['rabbitmq']):.1f} s: {others(ca)}; "
        f"steal {ca['steal']:.1f} s); "
        f"start-up {a['startup']:.1f} s, waited {a['settled']:.0f} s for a quiet machine (not timed)"
    )
    for x in (b, c):
        p = profile(x["runs"])
        runs_at, steps_at, claimed_at = max_in_flight(x["runs"])
        busy, cpu = busy_of(x), x["cpu"]
        ours = cpu["workers"] + cpu["orchestrators"] + cpu["postgres"] + cpu["rabbitmq"]
        print(
            f"({'b' if x is b else 'c'}) celery, {x['workers']} worker(s), {x['orchestrators']} orchestrators: "
            f"{x['wall']:.1f} s ({args.teams / x['wall'] * 60:.1f} runs/min, {n_seg / x['wall']:,.0f} segments/s); "
            f"at once up to {runs_at} runs, {steps_at} steps running, {claimed_at} submitted or running; "
            f"steps per worker {p['steps_by_worker']}"
        )
        print(
            f"    per run (median) {med(x['runs'], wall):.1f} s; summed over runs: steps {p['step']:.1f} s, "
            f"submitted-to-started {p['pre']:.1f} s (queue + the worker's set-up), rest of the run {p['other']:.1f} s"
        )
        print(
            f"    workers busy (celery task time) {busy:.1f} s of {x['workers']} x {x['wall']:.1f} s = "
            f"{100 * busy / (x['workers'] * x['wall']):.0f}%; task time beyond the step (instance from ref, plan, "
            f"events) {busy - p['step']:.1f} s = {(busy - p['step']) / max(1, len(x['runs']) * len(STEPS)):.2f} s per step"
        )
        print(
            f"    CPU in the window: workers {cpu['workers']:.1f} s, orchestrators {cpu['orchestrators']:.1f} s, "
            f"postgres {cpu['postgres']:.1f} s, rabbitmq {cpu['rabbitmq']:.1f} s; machine busy {cpu['machine']:.1f} s "
            f"of {cores} x {x['wall']:.1f} s = {100 * cpu['machine'] / (cores * x['wall']):.0f}% "
            f"(others {max(0.0, cpu['machine'] - ours):.1f} s: {others(cpu)}; steal {cpu['steal']:.1f} s)"
        )
        print(
            f"    start-up (not timed): workers and orchestrators ready {x['startup']:.1f} s after spawn "
            f"(then waited {x['settled']:.0f} s for a quiet machine), "
            f"an orchestrator's imports + job + instance {x['orchestrator_startup']:.1f} s; "
            f"pool '{WAREHOUSE_POOL}' limit {x['pool_limit']}, all slots free after: {x['pool_clean']}"
        )
    print(
        f"\nspeed-up: {c['workers']} workers over 1 = {b['wall'] / c['wall']:.2f}x; {c['workers']} workers over "
        f"in-process = {a['wall'] / c['wall']:.2f}x; 1 worker over in-process = {a['wall'] / b['wall']:.2f}x"
    )

    # Per-run overhead.
    print(
        f"\n== per-run overhead (in-process, Postgres instance and warehouse; {repeats} runs of each size, "
        "after a warm-up run) =="
    )
    runs = o["runs"]
    warm, rest = runs[0], runs[1:]
    small, full = rest[0::2], rest[1::2]
    small_wall, full_wall = med(small, wall), med(full, wall)
    small_steps, full_steps = med(small, steps_sum), med(full, steps_sum)
    per_seg = (full_wall - small_wall) / max(1, args.segments - 1)
    fixed = small_wall - per_seg
    step_fixed = small_steps / len(STEPS)
    print(
        f"warm-up run (first in a fresh process, 1 segment): {wall(warm):.2f} s; 1 segment: run {small_wall:.2f} s, "
        f"its {len(STEPS)} steps {small_steps:.2f} s ({step_fixed:.2f} s each), outside the steps "
        f"{small_wall - small_steps:.2f} s; {args.segments:,} segments: run {full_wall:.2f} s, steps {full_steps:.2f} s, "
        f"outside {full_wall - full_steps:.2f} s"
    )
    for label, rs in (("1 segment", small), (f"{args.segments:,} segments", full)):
        steps = defaultdict(list)
        for r in rs:
            for key, st in r["events"]["steps"].items():
                steps[key].append(st["end"] - st["start"])
        print(
            f"  {label}: "
            + ", ".join(f"{k} {statistics.median(v):.2f} s" for k, v in steps.items())
            + f"; {med(rs, lambda r: r['n_events']):.0f} events in the run's log"
        )
    parts = sorted({k for r in rest for k in r["parts"]})
    print("  where a run's time goes (median; 1 segment / full):")
    timed_parts = [k for k in parts if not k.startswith((" ", "~"))]
    for part in parts:
        if part.startswith("~"):
            continue
        print(
            f"    {part:<38} {med(small, lambda r: r['parts'].get(part, 0.0)):7.3f} s / "
            f"{med(full, lambda r: r['parts'].get(part, 0.0)):7.3f} s"
        )
    print(
        f"    {'Dagster and the rest':<38} {med(small, lambda r: wall(r) - sum(r['parts'].get(k, 0) for k in timed_parts)):7.3f} s / "
        f"{med(full, lambda r: wall(r) - sum(r['parts'].get(k, 0) for k in timed_parts)):7.3f} s"
    )
    for part in parts:
        if part.startswith("~"):
            print(
                f"    {part[2:]:<38} {med(small, lambda r: r['parts'].get(part, 0.0)):7.3f}   / "
                f"{med(full, lambda r: r['parts'].get(part, 0.0)):7.3f}"
            )
    need = 9 * fixed / per_seg if per_seg > 0 else float("inf")
    print(
        f"fixed cost of an in-process run {fixed:.2f} s (of a step {step_fixed:.2f} s), {per_seg * 1000:.2f} ms per "
        f"segment: overhead < 10% from {need:,.0f} segments per run = {need / args.segments:.1f} team ticks of "
        f"{args.segments:,} (a {args.segments:,}-segment run carries {100 * fixed / full_wall:.0f}% overhead)"
    )
    celery_fixed = {x["name"]: med(x["tiny_runs"], wall) for x in (b, c)}
    c_small = celery_fixed[b["name"]]
    celery_need = 9 * c_small / per_seg if per_seg > 0 else float("inf")
    tp = profile(b["tiny_runs"])
    n_tiny = len(b["tiny_runs"])
    print(
        "celery run of 1 segment, alone (median): "
        + ", ".join(f"{k} {v:.2f} s" for k, v in celery_fixed.items())
        + f"; per run (celery1): steps {tp['step'] / n_tiny:.2f} s, submitted-to-started {tp['pre'] / n_tiny:.2f} s, "
        f"orchestrator (polls every {TICK_POLL_S} s) {tp['other'] / n_tiny:.2f} s; "
        f"overhead < 10% from {celery_need:,.0f} segments per run = {celery_need / args.segments:.1f} team ticks"
    )

    # Manifests.
    print("\n== warehouse manifests (row counts and content hashes of every replay partition) ==")
    ref = a["manifest"]
    same = {}
    for key, x in (("a", a), ("b", b), ("c", c)):
        m = x["manifest"]
        same[key] = m.equals(ref)
        print(
            f"({key}) {x['name']}: {len(m)} partitions in {m['table_name'].nunique()} tables, digest {digest(m)}, "
            f"identical to (a): {same[key]}"
        )
    for key, x in (("b", b), ("c", c)):
        if not same[key]:
            diff = x["manifest"].merge(ref, how="outer", indicator=True, on=list(ref.columns))
            print(diff[diff["_merge"] != "both"].head(20).to_string())
    expected = 6 * args.teams
    print(f"expected {expected} partitions (6 tables x {args.teams} teams): {'yes' if len(ref) == expected else 'NO'}")

    # What bounds the speed-up, in this run's figures.
    cc, pc_ = c["cpu"], profile(c["runs"])
    _, _, claimed_c = max_in_flight(c["runs"])
    in_process_cores = (ca["ours"] + ca["postgres"]) / a["wall"]
    conns = med(full, lambda r: r["parts"].get("~ Postgres connections opened (count)", 0))
    conn_s = med(full, lambda r: r["parts"].get("~ Postgres connection set-up (s)", 0))
    print("\n== what bounds the speed-up ==")
    print(
        f"- CPU: {cores} cores. (a) alone keeps {in_process_cores:.2f} cores busy (its Python "
        f"{ca['ours'] / a['wall']:.2f}, Postgres {ca['postgres'] / a['wall']:.2f}): Postgres serves one run while "
        f"the run's Python waits. (c) keeps the machine {100 * cc['machine'] / (cores * c['wall']):.0f}% busy: workers "
        f"{cc['workers'] / c['wall']:.2f} cores, Postgres {cc['postgres'] / c['wall']:.2f}, orchestrators "
        f"{cc['orchestrators'] / c['wall']:.2f}, RabbitMQ {cc['rabbitmq'] / c['wall']:.2f}."
    )
    print(
        f"- Postgres writes: Postgres used {ca['postgres']:.1f} s of CPU for (a)'s {args.teams} runs "
        f"({ca['postgres'] / args.teams:.2f} s per run) and {cc['postgres']:.1f} s for (c)'s; a {args.segments:,}-segment "
        f"run opens {conns:.0f} Postgres connections ({conn_s:.2f} s to set them up; Dagster's Postgres storage uses "
        f"NullPool: a new connection, hence a new server process, per query) for "
        f"{med(full, lambda r: r['n_events']):.0f} events."
    )
    print(
        f"- Orchestration: a celery run carries {c_small - small_wall:.1f} s more than an in-process one (1 segment: "
        f"{c_small:.2f} s against {small_wall:.2f} s): the executor's loop sleeps {TICK_POLL_S} s between polls, each "
        f"step is a celery task that first builds an instance and a plan in the worker "
        f"({(busy_of(c) - pc_['step']) / max(1, len(c['runs']) * len(STEPS)):.2f} s per step in (c)), and "
        f"{len(STEPS)} steps follow each other in a run."
    )
    blocked = sum("pool_blocked" in st for x in (a, b, c) for r in x["runs"] for st in r["events"]["steps"].values())
    print(
        f"- Pool '{WAREHOUSE_POOL}': limit {c['pool_limit']}; in (c) at most {claimed_c} steps held a slot (submitted "
        f"or running) at once, with {c['orchestrators']} runs in flight of one step at a time; steps blocked by the "
        f"pool in (a), (b), (c): {blocked}"
        + (" (the pool was not the bound)." if not blocked else " (the pool held steps back).")
    )
    print(
        "- Python start-up per step: none; each worker's pool process is forked once and runs every step it takes "
        f"(start-up, {c['orchestrator_startup']:.1f} s per orchestrator process, was paid before the clock started; "
        "a run launcher that starts a process per run would pay it per run)."
    )

    # Table.
    pb = profile(b["runs"])
    print(
        f"\n| configuration ({args.teams} teams x {args.segments:,} segments) | wall (s) | segments/s | vs (a) "
        f"| vs 1 worker | workers busy | steps, summed (s) | manifest = (a) |\n|---|---|---|---|---|---|---|---|"
    )
    print(
        f"| (a) in-process, sequential | {a['wall']:.1f} | {n_seg / a['wall']:,.0f} | 1.00x | - | - | "
        f"{pa_['step']:.1f} | reference ({digest(ref)}) |"
    )
    print(
        f"| (b) celery, 1 worker, {b['orchestrators']} orchestrators | {b['wall']:.1f} | {n_seg / b['wall']:,.0f} | "
        f"{a['wall'] / b['wall']:.2f}x | 1.00x | {100 * busy_of(b) / b['wall']:.0f}% | {pb['step']:.1f} | {same['b']} |"
    )
    print(
        f"| (c) celery, {c['workers']} workers, {c['orchestrators']} orchestrators | {c['wall']:.1f} | "
        f"{n_seg / c['wall']:,.0f} | {a['wall'] / c['wall']:.2f}x | {b['wall'] / c['wall']:.2f}x | "
        f"{100 * busy_of(c) / (c['workers'] * c['wall']):.0f}% | {pc_['step']:.1f} | {same['c']} |"
    )
    print(f"| one run of 1 segment, in-process | {small_wall:.2f} | | | | | {small_steps:.2f} | |")
    print(f"| one run of {args.segments:,} segments, in-process | {full_wall:.2f} | | | | | {full_steps:.2f} | |")
    for x in (b, c):
        print(
            f"| one run of 1 segment, {x['name']} (alone) | {celery_fixed[x['name']]:.2f} | | | | | "
            f"{profile(x['tiny_runs'])['step'] / len(x['tiny_runs']):.2f} | |"
        )
    print(
        f"| segments per run for < 10% overhead, in-process / celery | {need:,.0f} / {celery_need:,.0f} | | | | | | |"
    )
    print(
        f"\nload average (1 min) at start {load_start:.2f}, at end {os.getloadavg()[0]:.2f}, on {cores} cores "
        f"('others' above: CPU of processes not started here, the parent included). Whole bench {elapsed / 60:.1f} min."
    )


if __name__ == "__main__":
    sys.exit(main())
