"""What the two celery scale-out benchmarks share (``scaleout_bench.py``: replay ticks of many teams;
``mr_scaleout_bench.py``: a minority-report tick in shards): the child process that runs a script's runs
one after another, on Dagster's in-process executor or orchestrated on its celery executor; the
parent's start-up of workers and orchestrators, the wait for them and for a quiet machine, and the
timed window with its CPU accounting, around which each script sets up its databases and instance;
throwaway Postgres databases; the figures of a run's event log and the report lines both print.

A script says what differs in a ``Bench``: its module (which children and celery workers import to
rebuild the job) and, in it, the functions that build the job and that time a step's parts. A run is
``{"job": name, "labels": ..., "tags": ...}``: which of the configuration's jobs (name -> the job
function's arguments) it runs, what its record is called by (a team, a shard) and its tags.
"""

from __future__ import annotations

import hashlib
import importlib
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
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster_celery import celery_executor

from platform_core.celery import executor_config, wait_for_workers, worker_command
from platform_core.resources import WAREHOUSE_POOL

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
OUT = ROOT / "bench" / "out"
PG_SERVER = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
TICK_POLL_S = 1  # dagster_celery.core_execution_loop.TICK_SECONDS: the orchestrator's sleep between polls
HZ = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Bench:
    """A script's children: ``module`` and its functions building the job (``job(**arguments)`` on the
    in-process executor, ``job(**arguments, queue=...)`` on celery) and timing a step's parts
    (``instrument()``: the timers it adds to). Timeouts only bound a hung child."""

    module: str
    job: str
    instrument: str
    queue_prefix: str
    inprocess_from_go: bool  # (a) timed from the go signal, else from its first run's start (as each script was)
    worker_timeout: float
    inprocess_timeout: tuple[float, float]  # s: fixed, per run
    celery_timeout: tuple[float, float]  # s an orchestrator may take: fixed, per run of the configuration
    tiny_timeout: float


def job_def(assets, job, resources: dict, queue: str | None = None) -> dg.JobDefinition:
    """``job`` over ``assets``, on the celery executor with a queue of its own when ``queue``, else in-process."""
    extra = {"executor": celery_executor.configured(executor_config(queue))} if queue else {}
    return dg.Definitions(assets=assets, jobs=[job], resources=resources, **extra).resolve_job_def(job.name)


# --- the child process ----------------------------------------------------------------------------
def emit(payload: dict) -> None:
    """A child's result, for ``child_result``."""
    print("RESULT " + json.dumps(payload), flush=True)


def _wait_for_go(spec: dict) -> None:
    print("READY", flush=True)
    deadline = time.monotonic() + 600
    while spec.get("go") and not os.path.exists(spec["go"]):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{spec['go']} never appeared")
        time.sleep(0.02)


def _jobs(spec: dict, module) -> dict:
    """The jobs by name. On celery reconstructable (a worker rebuilds the job from the pointer), loaded now."""
    if not spec["queue"]:
        return {name: getattr(module, spec["job"])(**kwargs) for name, kwargs in spec["jobs"].items()}
    jobs = {
        name: dg.build_reconstructable_job(
            spec["module"], spec["job"], reconstructable_kwargs={**kwargs, "queue": spec["queue"]}
        )
        for name, kwargs in spec["jobs"].items()
    }
    for job in jobs.values():
        job.get_definition()
    return jobs


def _runs(spec_json: str) -> None:
    """The runs one after another in this process: in-process (the steps run here; each run's events read
    back after the last), or with ``queue`` orchestrated on celery (the steps in the workers). It loads
    the jobs and the instance, then waits for the file ``go``."""
    spec = json.loads(spec_json)
    module = importlib.import_module(spec["module"])
    timers = getattr(module, spec["instrument"])() if spec["instrument"] else None
    jobs = _jobs(spec, module)
    with dg.DagsterInstance.get() as instance:
        ready = time.time()
        _wait_for_go(spec)
        cpu0, records = time.process_time(), []
        for run in spec["runs"]:
            if timers is not None:
                timers.clear()
            job, t0, c0 = jobs[run["job"]], time.time(), time.process_time()
            if spec["queue"]:
                result = dg.execute_job(job, instance=instance, tags=run["tags"], run_config=QUIET)
            else:
                result = job.execute_in_process(
                    instance=instance, tags=run["tags"], run_config=QUIET, raise_on_error=False
                )
            record = {
                **run["labels"],
                "run_id": result.run_id,
                "success": result.success,
                "start": t0,
                "end": time.time(),
                "cpu": time.process_time() - c0,
            }
            if not spec["queue"]:
                record["parts"] = dict(timers) if timers is not None else {}
            records.append(record)
        cpu = time.process_time() - cpu0
        if not spec["queue"]:
            for r in records:
                r["events"] = step_times(instance, r["run_id"])
                r["n_events"] = len(instance.all_logs(r["run_id"]))
    emit({"ready": ready, "spawned_to_ready": ready - spec["spawned"], "cpu": cpu, "runs": records})


def count_connections(timers: dict) -> None:
    """Count every Postgres connection (Dagster's storage with its NullPool, and the warehouse) and its set-up."""
    import psycopg2

    connect = psycopg2.connect

    def counted(*args, **kwargs):
        t = time.perf_counter()
        try:
            return connect(*args, **kwargs)
        finally:
            timers["~ Postgres connections opened (count)"] += 1
            timers["~ Postgres connection set-up (s)"] += time.perf_counter() - t

    psycopg2.connect = counted


def python_call(module: str, function: str, spec: dict) -> list[str]:
    return [sys.executable, "-c", f"from {module} import {function}; {function}({json.dumps(spec)!r})"]


def runs_spec(bench: Bench, jobs: dict, runs: list[dict], *, queue: str = "", go: str = "", instrument=False) -> dict:
    """What ``_runs`` is given: only the jobs its runs use (an orchestrator loads no other)."""
    return {
        "module": bench.module,
        "job": bench.job,
        "jobs": {name: jobs[name] for name in dict.fromkeys(run["job"] for run in runs)},
        "runs": runs,
        "queue": queue,
        "instrument": bench.instrument if instrument else "",
        "go": go,
        "spawned": time.time(),
    }


# --- the run's event log ----------------------------------------------------------------------------
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


# --- processes, databases, instances (parent) -------------------------------------------------------
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


def pg_url(name: str) -> str:
    return f"{PG_SERVER.rsplit('/', 1)[0]}/{name}"


class Databases:
    """Throwaway databases on PG_SERVER named ``{prefix}_...``, copies of a template among them; all
    dropped at the end."""

    def __init__(self, prefix: str):
        import psycopg2

        self.prefix = prefix
        self.admin = psycopg2.connect(PG_SERVER)
        self.admin.autocommit = True
        self.names: list[str] = []

    def create(self, what: str, template: str | None = None) -> str:
        name = f"{self.prefix}_{what}_{uuid.uuid4().hex[:8]}"
        sql = f"CREATE DATABASE {name}" + (f" TEMPLATE {template} STRATEGY FILE_COPY" if template else "")
        with self.admin.cursor() as cur:
            cur.execute(sql)
        self.names.append(name)
        return pg_url(name)

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with self.admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if name in self.names:
            self.names.remove(name)

    def drop_all(self) -> None:
        with self.admin.cursor() as cur:
            for name in self.names:
                cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.names = []
        self.admin.close()


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")  # SIGTERM unwinds like Ctrl-C, through the clean-up below


@contextmanager
def scratch(prefix: str, dbs: Databases, keep: bool):
    """A scratch directory (logs, instance homes) and the processes started for it; at the end, on
    failure and on SIGTERM too, every process stopped, every throwaway database dropped, the directory
    removed unless ``keep``."""
    work, procs = Path(tempfile.mkdtemp(prefix=prefix)), Processes()
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield work, procs
    finally:
        procs.stop()
        dbs.drop_all()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs kept in {work}")


def add_child_arguments(parser, settle_s: float) -> None:
    """The options every child and timed window shares; ``settle_s``: the script's default wait."""
    parser.add_argument(
        "--blas-threads", type=int, default=None, help="OPENBLAS/OMP threads of every child (default: unset)"
    )
    parser.add_argument(
        "--settle", type=float, default=settle_s, help="wait up to this many s for other sessions' CPU use to calm down"
    )


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


def prepare_instance(home: Path, env: dict, partitions: dict[str, list[str]] | None = None) -> int:
    """The project's Postgres instance config, its dynamic ``partitions`` (name -> keys), and the pool's
    row before any run (tests/test_celery_scaleout.py: dagster-io/dagster#33552). Returns the pool limit."""
    home.mkdir(parents=True)
    shutil.copy(ROOT / "dagster.postgres.yaml", home / "dagster.yaml")
    with instance_at(home, env) as instance:
        for name, keys in (partitions or {}).items():
            instance.add_dynamic_partitions(name, keys)
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


def wait_ready(children: list[tuple[subprocess.Popen, Path]], logs: list[Path], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not all("READY" in log.read_text(errors="replace") for _, log in children):
        dead = [log.name for p, log in children if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            raise RuntimeError(f"not ready: {dead or 'timeout'}\n" + "\n".join(map(tail, logs)))
        time.sleep(0.1)


def check_runs(name: str, what: str, records: list[dict], runs: list[dict], logs: list[Path]) -> None:
    """Raise, with the logs' tails, when a run failed; ``what`` names the runs in the message."""
    labels = list(runs[0]["labels"]) if runs else []
    failed = [{k: r[k] for k in labels} for r in records if not r["success"]]
    if failed:
        raise RuntimeError(f"{name}: {what} failed {failed}\n" + "\n".join(map(tail, logs)))


def worker_task_seconds(log: Path) -> list[float]:
    """How long each task (one step) took in the worker, from celery's own 'succeeded in' lines."""
    return [
        float(m)
        for m in re.findall(r"Task execute_plan\[[^\]]+\] succeeded in ([0-9.]+)s", log.read_text(errors="replace"))
    ]


def manifest(url: str, schema) -> pd.DataFrame:
    """Every partition of ``schema`` in the warehouse at ``url``: row count and hashes (not when)."""
    from platform_core.warehouse import backend_for, manifest_spec

    frame = backend_for(url).read(manifest_spec(schema)).drop(columns=["written_at"])
    return frame.sort_values(["table_name", "partition_key"]).reset_index(drop=True)


def digest(frame: pd.DataFrame) -> str:
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()[:16]


def manifest_diff(m: pd.DataFrame, ref: pd.DataFrame) -> str:
    """The partitions (up to 20) in which manifest ``m`` and ``ref`` differ."""
    diff = m.merge(ref, how="outer", indicator=True, on=list(ref.columns))
    return diff[diff["_merge"] != "both"].head(20).to_string()


# --- CPU accounting (parent) ------------------------------------------------------------------------
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


def cpu_delta(before: dict, after: dict) -> dict:
    return {k: max(0.0, after.get(k, 0.0) - before.get(k, 0.0)) for k in after}


def foreign_cpu(cpu: dict, ours: list[str]) -> float:
    """CPU of processes not started here in a window (the machine's busy time less ours, Postgres', RabbitMQ's)."""
    return max(0.0, cpu["machine"] - sum(cpu.get(k, 0.0) for k in ours) - cpu["postgres"] - cpu["rabbitmq"])


def settle(groups: dict[str, list[int]], max_wait: float, quiet: float = 0.3) -> float:
    """Wait (at most ``max_wait`` s) until processes not started here use less than ``quiet`` cores
    over 3 s (another session's tests, say), so a window starts on an idle machine; the seconds waited."""
    began = time.monotonic()
    while True:
        before = cpu_snapshot(groups)
        time.sleep(3)
        foreign = foreign_cpu(cpu_delta(before, cpu_snapshot(groups)), list(groups))
        if foreign / 3 < quiet or time.monotonic() - began > max_wait:
            return time.monotonic() - began - 3


def others(cpu: dict, top: int = 3) -> str:
    """The other processes that used most CPU in a window (``cpu_delta`` of two snapshots)."""
    rest = sorted(((v, k[1:]) for k, v in cpu.items() if k.startswith("?") and v > 0.05), reverse=True)
    return ", ".join(f"{name} {v:.1f} s" for v, name in rest[:top]) or "none above 0.05 s"


# --- the configurations: a timed window each (parent) -----------------------------------------------
def inprocess_config(
    bench: Bench, args, procs: Processes, folder: Path, env: dict, jobs: dict, runs: list[dict], instrument: bool
) -> dict:
    """(a) and the overhead runs: ``runs`` in one process on the in-process executor, timed once it is up
    and the machine quiet; with the window's CPU."""
    log, go = folder / "inprocess.log", folder / "go"
    proc = procs.start(
        python_call(__name__, "_runs", runs_spec(bench, jobs, runs, go=str(go), instrument=instrument)), log, env
    )
    wait_ready([(proc, log)], [log])
    settled = settle({"ours": [proc.pid]}, args.settle)
    before = cpu_snapshot({"ours": [proc.pid]})
    go.touch()
    t_go = time.time()
    fixed, per_run = bench.inprocess_timeout
    result = child_result(proc, log, fixed + per_run * len(runs), [log])
    after = cpu_snapshot({})  # the process has exited: its own CPU is result["cpu"]
    procs.stop([proc])
    check_runs(folder.name, "runs", result["runs"], runs, [log])
    start = t_go if bench.inprocess_from_go else min(r["start"] for r in result["runs"])
    return {
        "wall": max(r["end"] for r in result["runs"]) - start,
        "startup": result["spawned_to_ready"],
        "runs": result["runs"],
        "cpu": {**cpu_delta(before, after), "ours": result["cpu"]},
        "settled": settled,
    }


def start_workers(bench: Bench, procs: Processes, folder: Path, env: dict, n: int) -> tuple[str, dict, dict]:
    """``n`` celery workers on a queue of their own: the queue, the workers' processes and logs by name."""
    uid = uuid.uuid4().hex[:8]
    queue = f"{bench.queue_prefix}_{uid}"
    config = folder / "celery.yaml"
    config.write_text(json.dumps({"execution": {"config": executor_config(queue)}}))  # YAML is a superset of JSON
    names = [f"w{i + 1}-{uid}" for i in range(n)]
    logs = {name: folder / f"{name}.log" for name in names}
    workers = {name: procs.start(worker_command(config, name, queue, bench.module), logs[name], env) for name in names}
    return queue, workers, logs


def celery_config(
    bench: Bench,
    args,
    procs: Processes,
    folder: Path,
    env: dict,
    jobs: dict,
    runs: list[dict],
    tiny_runs: list[dict],
    n_workers: int,
    pool_limit: int,
) -> dict:
    """(b), (c): ``n_workers`` workers (a queue of this configuration's own) and up to ``args.orchestrators``
    processes orchestrating their share of ``runs`` one after another, timed from the moment all are up
    and the machine quiet; then, untimed, the ``tiny_runs`` one at a time (the fixed cost of a celery run)."""
    t_spawn = time.time()
    queue, workers, worker_logs = start_workers(bench, procs, folder, env, n_workers)
    logs, go = list(worker_logs.values()), folder / "go"
    k = min(args.orchestrators, len(runs))
    orchestrators = []
    for j in range(k):
        log = folder / f"orchestrator-{j}.log"
        logs.append(log)
        spec = runs_spec(bench, jobs, runs[j::k], queue=queue, go=str(go))
        orchestrators.append((procs.start(python_call(__name__, "_runs", spec), log, env), log))
    try:
        wait_for_workers(set(workers), workers, timeout=bench.worker_timeout)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}\n" + "\n".join(map(tail, logs))) from None
    wait_ready(orchestrators, logs)
    ready = time.time()
    groups = {"workers": [p.pid for p in workers.values()], "orchestrators": [p.pid for p, _ in orchestrators]}
    settled = settle(groups, args.settle)
    before = cpu_snapshot(groups)
    go.touch()
    t_go = time.time()
    fixed, per_run = bench.celery_timeout
    results = [child_result(p, log, fixed + per_run * len(runs), logs) for p, log in orchestrators]
    after = cpu_snapshot(groups)  # orchestrators have exited: their CPU is their own accounting (below)
    records = sorted((r for res in results for r in res["runs"]), key=lambda r: r["start"])
    check_runs(folder.name, "runs", records, runs, logs)
    wall = max(r["end"] for r in records) - t_go
    busy = {w: worker_task_seconds(log) for w, log in worker_logs.items()}

    # The fixed cost of a celery run: the tiny runs, one at a time (not timed above).
    tiny_log = folder / "orchestrator-tiny.log"
    logs.append(tiny_log)
    tiny_proc = procs.start(
        python_call(__name__, "_runs", runs_spec(bench, jobs, tiny_runs, queue=queue)), tiny_log, env
    )
    tiny_records = child_result(tiny_proc, tiny_log, bench.tiny_timeout, logs)["runs"]
    check_runs(folder.name, "tiny runs", tiny_records, tiny_runs, logs)
    with instance_at(Path(env["DAGSTER_HOME"]), env) as instance:
        for r in records + tiny_records:
            r["events"] = step_times(instance, r["run_id"])
        pool = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
        pool_clean = pool.slot_count == pool_limit and not pool.claimed_slots and not pool.pending_steps
    procs.stop([*workers.values(), *(p for p, _ in orchestrators)])
    cpu = cpu_delta(before, after)
    cpu["orchestrators"] = sum(res["cpu"] for res in results)
    return {
        "workers": n_workers,
        "orchestrators": k,
        "wall": wall,
        "startup": ready - t_spawn,
        "settled": settled,
        "orchestrator_startup": statistics.median(res["spawned_to_ready"] for res in results),
        "runs": records,
        "tiny_runs": tiny_records,
        "busy": busy,
        "cpu": cpu,
        "pool_limit": pool_limit,
        "pool_clean": pool_clean,
    }


# --- figures ----------------------------------------------------------------------------------------
def wall(r: dict) -> float:
    return r["end"] - r["start"]


def med(rs: list[dict], f: Callable[[dict], float]) -> float:
    return statistics.median(f(r) for r in rs)


def busy_s(x: dict) -> float:
    """Celery task time of a configuration's workers, summed."""
    return sum(sum(v) for v in x["busy"].values())


def step_seconds(r: dict, names: dict[str, str] | None = None) -> dict[str, float]:
    """A run's steps that ended: their time, by step key (or its short name in ``names``)."""
    names = names or {}
    return {
        names.get(k, k): s["end"] - s["start"] for k, s in r["events"]["steps"].items() if "start" in s and "end" in s
    }


def median_steps(runs: list[dict], names: dict[str, str] | None = None) -> dict[str, float]:
    per = defaultdict(list)
    for r in runs:
        for k, v in step_seconds(r, names).items():
            per[k].append(v)
    return {k: statistics.median(v) for k, v in per.items()}


def beyond_step_s(x: dict, steps_per_run: int) -> float:
    """Celery task time beyond the step itself (the worker's instance, plan, events), per step."""
    return (busy_s(x) - profile(x["runs"])["step"]) / max(1, steps_per_run * len(x["runs"]))


def under_10pct(fixed: float, per_unit: float) -> float:
    """The work (in units) a run must carry for a fixed cost of ``fixed`` s to stay under 10% of the run."""
    return 9 * fixed / per_unit if per_unit > 0 else float("inf")


def seconds_text(by_name: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f} s" for k, v in by_name.items())


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


# --- report lines -----------------------------------------------------------------------------------
def inprocess_cpu_line(a: dict, cores: int) -> str:
    ca = a["cpu"]
    return (
        f"    CPU in the window: the process {ca['ours']:.1f} s ({ca['ours'] / a['wall']:.2f} cores), postgres "
        f"{ca['postgres']:.1f} s ({ca['postgres'] / a['wall']:.2f} cores); machine busy {ca['machine']:.1f} s of "
        f"{cores} x {a['wall']:.1f} s = {100 * ca['machine'] / (cores * a['wall']):.0f}% (others "
        f"{foreign_cpu(ca, ['ours']):.1f} s: {others(ca)}; steal {ca['steal']:.1f} s); start-up {a['startup']:.1f} s, "
        f"waited {a['settled']:.0f} s for a quiet machine (not timed)"
    )


def celery_lines(
    key: str, x: dict, cores: int, rate: str, steps_per_run: int, beyond: str, per_run_extra: str = ""
) -> list[str]:
    """Celery configuration ``x``'s lines: its wall (``rate``: what it does per unit of time), what ran at
    once, per run, the workers' busy time (``beyond``: what a task does besides its step), CPU, start-up."""
    p = profile(x["runs"])
    runs_at, steps_at, claimed_at = max_in_flight(x["runs"])
    busy, cpu = busy_s(x), x["cpu"]
    return [
        f"({key}) celery, {x['workers']} worker(s), {x['orchestrators']} orchestrators: {x['wall']:.1f} s ({rate}); "
        f"at once up to {runs_at} runs, {steps_at} steps running, {claimed_at} submitted or running; "
        f"steps per worker {p['steps_by_worker']}",
        f"    per run (median) {med(x['runs'], wall):.1f} s; summed over runs: steps {p['step']:.1f} s, "
        f"submitted-to-started {p['pre']:.1f} s (queue + the worker's set-up), rest of the run {p['other']:.1f} s"
        + per_run_extra,
        f"    workers busy (celery task time) {busy:.1f} s of {x['workers']} x {x['wall']:.1f} s = "
        f"{100 * busy / (x['workers'] * x['wall']):.0f}%; task time beyond the step ({beyond}) "
        f"{busy - p['step']:.1f} s = {beyond_step_s(x, steps_per_run):.2f} s per step",
        f"    CPU in the window: workers {cpu['workers']:.1f} s, orchestrators {cpu['orchestrators']:.1f} s, "
        f"postgres {cpu['postgres']:.1f} s, rabbitmq {cpu['rabbitmq']:.1f} s; machine busy {cpu['machine']:.1f} s "
        f"of {cores} x {x['wall']:.1f} s = {100 * cpu['machine'] / (cores * x['wall']):.0f}% (others "
        f"{foreign_cpu(cpu, ['workers', 'orchestrators']):.1f} s: {others(cpu)}; steal {cpu['steal']:.1f} s)",
        f"    start-up (not timed): workers and orchestrators ready {x['startup']:.1f} s after spawn (then waited "
        f"{x['settled']:.0f} s for a quiet machine), an orchestrator's imports + job + instance "
        f"{x['orchestrator_startup']:.1f} s; pool '{WAREHOUSE_POOL}' limit {x['pool_limit']}, all slots free "
        f"after: {x['pool_clean']}",
    ]


def tiny_per_run_text(x: dict) -> str:
    """Per tiny run of celery configuration ``x``: its steps, their wait for a worker, the orchestrator's rest."""
    tp, k = profile(x["tiny_runs"]), len(x["tiny_runs"])
    return (
        f"per run ({x['name']}): steps {tp['step'] / k:.2f} s, submitted-to-started {tp['pre'] / k:.2f} s, "
        f"orchestrator (polls every {TICK_POLL_S} s) {tp['other'] / k:.2f} s"
    )


def speedup_line(a: dict, b: dict, c: dict) -> str:
    return (
        f"\nspeed-up: {c['workers']} workers over 1 = {b['wall'] / c['wall']:.2f}x; {c['workers']} workers over "
        f"in-process = {a['wall'] / c['wall']:.2f}x; 1 worker over in-process = {a['wall'] / b['wall']:.2f}x"
    )


def print_parts(small: list[dict], full: list[dict], width: int, rest_label: str) -> tuple[float, float]:
    """Where a run's time goes, medians of the ``small`` / the ``full`` runs: each timed part (one named
    with a leading space lies inside the one before and is not added again), the rest of the run, then
    the counts (parts named ``~ ...``). Returns the rest's medians."""
    parts = sorted({k for r in small + full for k in r["parts"]})
    added = [k for k in parts if not k.startswith((" ", "~"))]

    def part_of(name):
        return lambda r: r["parts"].get(name, 0.0)

    def rest_of(r):
        return wall(r) - sum(r["parts"].get(k, 0.0) for k in added)

    for part in (k for k in parts if not k.startswith("~")):
        print(f"    {part:<{width}} {med(small, part_of(part)):7.3f} s / {med(full, part_of(part)):7.3f} s")
    rest = med(small, rest_of), med(full, rest_of)
    print(f"    {rest_label:<{width}} {rest[0]:7.3f} s / {rest[1]:7.3f} s")
    for part in (k for k in parts if k.startswith("~")):
        print(f"    {part[2:]:<{width}} {med(small, part_of(part)):7.3f}   / {med(full, part_of(part)):7.3f}")
    return rest
