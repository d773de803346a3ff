"""Minority-report scale-out benchmark: one tick (ending 13:00 on the demo day) of a large catalogue
(100,000 store/SKU series by default) in ``--shards`` store shards (8), a run of the tick job
(sales -> detected log MRDL -> clustered log MRCL: three steps) per shard, on Dagster's
in-process executor against Dagster's celery executor (dagster-celery over RabbitMQ) with one and
with ``--workers`` worker processes; the Dagster instance and the warehouse on Postgres, in
throwaway databases of their own for every configuration.

(a) in-process: one process runs the shards' runs one after another (``execute_in_process``);
(b), (c) celery with 1 and ``--workers`` workers (``--concurrency=1`` each, late acks, a queue of
this run's own): ``--orchestrators`` processes each orchestrate their share of the runs one after
another, so several runs are in flight and steps of different shards run on different workers at
once. Timed from the moment every process is up (imports, job and instance loaded, workers
answering a ping, then a wait for a quiet machine) to the last run's end; start-up is reported on
its own. Every configuration's warehouse manifest (row count, content and input hash of each
partition the timed tick wrote: 4 tables x shards) must be identical: asserted and printed.

Also the fixed cost of a run and of a step against the work: the same tick of a tiny catalogue
(``--tiny-series``, 800: 20-160 series a shard at 8 shards; its smallest shards) beside full shard
runs, in one instrumented in-process process (each run split into source read, validation, window
load, detection, features, matching, warehouse reads and writes, checks and the rest: Dagster), and
the tiny tick on celery; from them the series a run should carry for its overhead to stay under 10%.

Set up once, untimed, into a template Postgres database (one for the catalogue, one for the tiny
catalogue) that every configuration copies (``CREATE DATABASE .. TEMPLATE .. STRATEGY FILE_COPY``):

- the source, ``warehouse:bench_src.sales``: a table in the warehouse database itself (read with
  the ``ts`` range pushdown of ``minority_report_assets.sources``; an index on ``ts``), filled by
  COPY from ``demo.sales(n, 01:00, 13:00)`` (14.4M rows at 100,000 series). A table, not a file:
  a file source is parsed whole by every process that reads it (``_file_rows``), which would put
  a 14M-row parse into each worker's first step (and ``demo`` would generate all 100,000 series
  in every process);
- the day's ``sales_baseline``, written directly (``platform_core.checks`` prepare/commit) from
  ``fit_baseline`` over the demo's own 28 history days (``demo.day_units``, float32 as the asset
  stacks them; regular price the median of the days' median prices; ``shard`` from
  ``shard_of``): the asset itself would need 28 days of sales in the source (806M rows). For the
  tiny catalogue the baseline asset runs on the demo source instead and the bench checks that the
  direct write of the same catalogue has the same content hash, so the direct path is the asset's;
- ``cluster_library`` (the asset);
- per shard, one in-process run of ``sales_timeseries_data`` + ``minority_reports_detected_log``
  over the ticks 01:15..12:45 (the timed tick needs its predecessor's detected log and its
  lookback's sales; no earlier clustered log is read by a tick), ``--setup-procs`` at once.

Each configuration then runs on its own copies and a fresh, empty Dagster instance database.

Every process runs with ``MR_SHARDS=--shards`` and ``MR_START=2026-11-20-01:00``, so the 13:00
tick's 12-hour lookback (144 buckets, the default) starts exactly at START. A template is named by
a hash of its parameters and of the product code that writes it (``minority_report_assets``,
``platform_core``) and kept between invocations (re-running the bench skips the set-up); it is the
one database left behind: ``--rebuild`` builds it again, ``--drop-templates`` drops every cached one.
``--any-code`` reuses a template of the same size whatever product code built it. Every other
database is dropped at the end, on failure and on Ctrl-C / SIGTERM too.

    python bench/mr_scaleout_bench.py [--series 100000] [--shards 8] [--workers 2] [--orchestrators 4]
    python bench/mr_scaleout_bench.py --series 5000 --shards 2        # small, for development
    python bench/mr_scaleout_bench.py --drop-templates                 # remove the cached set-ups
    python bench/mr_scaleout_bench.py --rebuild                        # build the set-up again

Needs RabbitMQ (``CELERY_BROKER_URL``, default the local one) and Postgres (``BENCH_PG_URL``,
default ``postgresql://postgres@127.0.0.1:5432/postgres``, where the databases are created).
Writes ``bench/out/mr_scaleout.json`` (``--out``). What it shares with ``scaleout_bench.py`` (the
children, the timed windows, CPU accounting, report lines) is in ``bench/celery_bench.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import statistics
import sys
import time
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

from bench import celery_bench as cb  # noqa: E402
from bench.celery_bench import med, wall  # noqa: E402
from platform_core.resources import WAREHOUSE_POOL, WarehouseResource  # noqa: E402

# minority_report_assets reads MR_SHARDS and MR_START at import: it is imported inside the functions
# below, after main() (or the parent, for a child) has set them.

MODULE = "bench.mr_scaleout_bench"  # what workers and children import to rebuild the job
PREFIX = "mrscale"
DAY = pd.Timestamp("2026-11-20")  # demo.DEMO_DAY: 30% of the series carry planted anomalies
START = DAY + pd.Timedelta(hours=1)  # MR_START: the 13:00 tick's 144-bucket lookback starts here
TICK_END = DAY + pd.Timedelta(hours=13)
TICK = pd.Timedelta(minutes=15)
HISTORY_DAYS = 28
SETUP_VERSION = "1"  # bump when the set-up below changes what a template holds
TICK_TABLES = (
    "sales_timeseries_data",
    "sales_timeseries_rejects",
    "minority_reports_detected_log",
    "minority_reports_clustered_log",
)
STEP_NAMES = {
    "sales_timeseries_data": "sales",
    "minority_report__minority_reports_detected_log": "MRDL",
    "minority_report__minority_reports_clustered_log": "MRCL",
}

if os.environ.get("MR_SCALEOUT_CHILD") == "1":  # a worker imports this module before its pool forks: load it all once
    import minority_report_assets.definitions  # noqa: E402, F401


# --- the job, as orchestrators and workers rebuild it ---------------------------------------------
def resources(warehouse_url: str, sales_url: str) -> dict:
    from minority_report_assets.resources import SalesSource

    return {"warehouse": WarehouseResource(url=warehouse_url), "sales_source": SalesSource(url=sales_url)}


def tick_job(warehouse_url: str, sales_url: str, queue: str | None = None) -> dg.JobDefinition:
    from minority_report_assets.definitions import ASSETS
    from minority_report_assets.schedules import mr_tick_job

    return cb.job_def(ASSETS, mr_tick_job, resources(warehouse_url, sales_url), queue)


def tick_run(kind: str, shard: int, **labels) -> dict:
    """A run of the job on the ``kind`` catalogue's copy (full or tiny) over the timed tick of ``shard``;
    ``labels``: what its record carries besides the shard."""
    from minority_report_assets.partitions import tick_key

    key = str(tick_key(TICK_END, shard))
    tags = {ASSET_PARTITION_RANGE_START_TAG: key, ASSET_PARTITION_RANGE_END_TAG: key}
    return {"job": kind, "labels": {**labels, "shard": shard}, "tags": tags}


def shard_sizes(n: int, shards: int) -> list[int]:
    """Series per shard of the demo catalogue of ``n`` series."""
    from minority_report_assets.demo import series_keys
    from minority_report_assets.partitions import shard_of

    return np.bincount(shard_of(series_keys(n)["store_id"], shards), minlength=shards).tolist()


# --- set-up children (untimed) --------------------------------------------------------------------
def _setup_sales(spec_json: str) -> None:
    """The source table ``bench_src.sales``: the demo's rows 01:00..13:00, COPY'd an hour at a time."""
    import psycopg2

    from minority_report_assets import demo

    spec = json.loads(spec_json)
    t0, rows = time.perf_counter(), 0
    con = psycopg2.connect(spec["warehouse_url"])
    with con, con.cursor() as cur:
        cur.execute("CREATE SCHEMA IF NOT EXISTS bench_src")
        cur.execute(
            "CREATE TABLE bench_src.sales (store_id TEXT, sku TEXT, ts TIMESTAMP, units DOUBLE PRECISION, "
            "price DOUBLE PRECISION)"
        )
        for hour in pd.date_range(START, TICK_END - pd.Timedelta(hours=1), freq="h"):
            frame = demo.sales(spec["series"], hour, hour + pd.Timedelta(hours=1))
            buffer = io.StringIO()
            frame.to_csv(buffer, index=False, header=False, na_rep="\\N", date_format="%Y-%m-%d %H:%M:%S")
            buffer.seek(0)
            cur.copy_expert("COPY bench_src.sales FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer)
            rows += len(frame)
        copied = time.perf_counter() - t0
        cur.execute("CREATE INDEX sales_ts ON bench_src.sales (ts)")  # the reader's range; also its "ts IS NULL" count
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute("ANALYZE bench_src.sales")
    con.close()
    cb.emit({"rows": rows, "copy_s": copied, "seconds": time.perf_counter() - t0})


def baseline_frame(n: int, shards: int) -> pd.DataFrame:
    """The demo day's ``sales_baseline`` rows as the asset computes them on the demo source:
    ``fit_baseline`` over the 28 days before, the regular price the median of the days' median
    prices (each day's over the buckets that sold), the store's shard."""
    from minority_report_assets import demo
    from minority_report_assets.baseline import fit_baseline
    from minority_report_assets.partitions import shard_of

    days = list(pd.date_range(DAY - pd.Timedelta(days=HISTORY_DAYS), DAY - pd.Timedelta(days=1), freq="D"))
    history = np.empty((n, len(days), demo.BUCKETS_PER_DAY), dtype=np.float32)
    daily = np.empty((len(days), n))
    for i, d in enumerate(days):
        history[:, i, :] = demo.day_units(n, d)[0]
        prices = demo.day_prices(n, d)
        sold = np.isfinite(prices).any(axis=1)
        daily[i] = np.nan
        daily[i, sold] = np.nanmedian(prices[sold], axis=1)
    fit = fit_baseline(history, np.array([d.day_of_week for d in days]), DAY.day_of_week)
    del history
    regular = np.full(n, np.nan)
    priced = np.isfinite(daily).any(axis=0)
    regular[priced] = np.nanmedian(daily[:, priced], axis=0)
    keys = demo.series_keys(n)
    return fit.rows(keys, DAY, regular, shard_of(keys["store_id"], shards))


def _setup_baseline(spec_json: str) -> None:
    """The day's baseline (direct write, or the asset on the demo source and the direct write's
    hash beside it) and the pattern library (the asset)."""
    from minority_report_assets.assets import BASELINE_KEY, cluster_library, sales_baseline
    from minority_report_assets.sources import DEMO_SERIES
    from minority_report_assets.tables import SALES_BASELINE
    from platform_core.checks import commit, prepare
    from platform_core.warehouse import PartitionWrite, backend_for

    spec = json.loads(spec_json)
    n, url, t0 = spec["series"], spec["warehouse_url"], time.perf_counter()
    backend, out = backend_for(url), {}
    if spec["via_asset"]:
        assert DEMO_SERIES == n, "MR_DEMO_SERIES was not read at import"
        result = dg.materialize(
            [sales_baseline], resources=resources(url, "demo"), partition_key=str(DAY.date()), run_config=cb.QUIET
        )
        assert result.success, "the baseline asset failed"
        out["asset_s"] = time.perf_counter() - t0
        stored = backend.manifest(SALES_BASELINE.schema, SALES_BASELINE.name)["content_hash"].iat[0]
        direct = PartitionWrite(SALES_BASELINE, {"day": DAY}, baseline_frame(n, spec["shards"])).content_hash
        out["direct_equals_asset"] = direct == stored
    else:
        frame = baseline_frame(n, spec["shards"])
        out["fit_s"] = time.perf_counter() - t0
        write, outcome = prepare(BASELINE_KEY, SALES_BASELINE, {"day": DAY}, frame, f"bench:{spec['template']}")
        commit(backend, [write], [outcome])
    out["baseline_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    assert dg.materialize([cluster_library], resources=resources(url, "demo"), run_config=cb.QUIET).success
    out["library_s"] = time.perf_counter() - t1
    cb.emit(out)


def _setup_ticks(spec_json: str) -> None:
    """Per shard, one in-process run of sales + detected log over 01:15..12:45."""
    from minority_report_assets.assets import minority_reports_detected_log, sales_timeseries_data
    from minority_report_assets.partitions import tick_key
    from platform_core.runs import step_errors

    spec = json.loads(spec_json)
    seconds = {}
    for shard in spec["shards"]:
        t0 = time.perf_counter()
        tags = {
            ASSET_PARTITION_RANGE_START_TAG: str(tick_key(START + TICK, shard)),
            ASSET_PARTITION_RANGE_END_TAG: str(tick_key(TICK_END - TICK, shard)),
        }
        result = dg.materialize(
            [sales_timeseries_data, minority_reports_detected_log],
            resources=resources(spec["warehouse_url"], spec["sales_url"]),
            tags=tags,
            run_config=cb.QUIET,
            raise_on_error=False,
        )
        if not result.success:
            raise RuntimeError(f"set-up ticks of shard {shard} failed: {step_errors(result)}")
        seconds[shard] = time.perf_counter() - t0
        print(f"shard {shard}: {seconds[shard]:.1f} s", flush=True)
    cb.emit({"seconds": seconds})


# --- timed children -------------------------------------------------------------------------------
def _instrument() -> dict:
    """Wall time of what a step does, by part (this process only, nothing edited). Exclusive time:
    a part nested in another (a warehouse read inside the window load) counts only in itself, so
    the parts and 'the rest' add up to the run."""
    import minority_report_assets.assets as assets
    import minority_report_assets.inputs as inputs
    import minority_report_assets.resources as mr_resources
    import platform_core.table_asset as table_asset
    from minority_report_assets.map import MapPlacer
    from minority_report_assets.matching import Matcher
    from platform_core.warehouse import Backend, PostgresBackend

    timers: dict[str, float] = defaultdict(float)
    stack: list[float] = []  # per open timed call: the time its timed callees took
    absorbing = [0]  # inside a part that counts its callees as its own (the source read's query)

    def timed(owner, name: str, part, absorb: bool = False) -> None:
        """``part``: a name, or a function of the call's arguments giving one."""
        fn = getattr(owner, name)

        def wrapper(*args, **kwargs):
            if absorbing[0]:
                return fn(*args, **kwargs)
            stack.append(0.0)
            absorbing[0] += absorb
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - t
                absorbing[0] -= absorb
                timers[part(*args) if callable(part) else part] += elapsed - stack.pop()
                if stack:
                    stack[-1] += elapsed

        setattr(owner, name, wrapper)

    timed(mr_resources, "read_sales", "source read (bench_src.sales, all shards' rows)", absorb=True)
    timed(assets, "unplaced_rows", "source: rows without ts (count)", absorb=True)
    timed(assets, "shard_of", "shard filter (SHA-256 of store ids)")
    timed(assets, "rows_fingerprint", "input fingerprint of the raw rows")
    timed(assets, "validate_sales", "validate")
    timed(assets, "load_window", "window load (numpy, beside its reads)")
    timed(assets, "detect_tick", "detect")
    timed(assets, "feature_vector", "features")
    timed(Matcher, "match", "match")
    timed(assets, "current_library", "library (read, spec)", absorb=True)
    timed(assets, "map_placer", "map placer (the library's t-SNE map)")
    timed(MapPlacer, "place", "map placement")
    timed(assets, "require_partitions", "upstream checks (manifest reads)", absorb=True)
    timed(inputs, "require_partitions", "upstream checks (manifest reads)", absorb=True)
    timed(table_asset, "prepare", "contract check + content hash")
    timed(Backend, "read", lambda _backend, spec, *rest: f"warehouse read: {spec.name} (fetch + conform)", absorb=True)
    timed(Backend, "query", "warehouse reads, other (fetch + conform)")
    timed(Backend, "write", "warehouse write txn (beside COPY)")
    timed(PostgresBackend, "_insert", "COPY (incl. array text)")
    cb.count_connections(timers)
    return timers


BENCH = cb.Bench(
    module=MODULE,
    job="tick_job",
    instrument="_instrument",
    queue_prefix="mr_scaleout_bench",
    inprocess_from_go=True,
    worker_timeout=180,
    inprocess_timeout=(600, 600),
    celery_timeout=(900, 300),
    tiny_timeout=900,
)


# --- databases, templates, instances (parent) -----------------------------------------------------
class Dbs(cb.Databases):
    """The throwaway databases (named ``mrscale_...``), and the set-up templates among them: kept
    between invocations, once built."""

    def __init__(self):
        super().__init__(PREFIX)

    def exists(self, name: str) -> bool:
        with self.admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            return cur.fetchone() is not None

    def keep_as(self, url: str, name: str) -> None:
        """Rename a built database to its template name; it is no longer dropped at the end."""
        built = url.rsplit("/", 1)[1]
        with self.admin.cursor() as cur:
            cur.execute(f"ALTER DATABASE {built} RENAME TO {name}")
        self.names.remove(built)

    def templates(self) -> list[str]:
        with self.admin.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY 1", [f"{PREFIX}_tpl_%"])
            return [r[0] for r in cur.fetchall()]

    def size_mb(self, name: str) -> float:
        with self.admin.cursor() as cur:
            cur.execute("SELECT pg_database_size(%s)", [name])
            return cur.fetchone()[0] / 1e6


def code_digest() -> str:
    """What a template's contents depend on besides its parameters: the product code that writes it."""
    h = hashlib.sha256(SETUP_VERSION.encode())
    for path in sorted([*ROOT.glob("minority_report_assets/*.py"), *ROOT.glob("platform_core/*.py")]):
        h.update(path.name.encode() + path.read_bytes())
    h.update((ROOT / "minority_report_assets" / "library_spec.json").read_bytes())
    return h.hexdigest()


def template_name(kind: str, n: int, shards: int) -> str:
    key = f"{kind}|{n}|{shards}|{START}|{TICK_END}|{code_digest()}"
    return f"{PREFIX}_tpl_{kind}_{n}x{shards}_{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def mr_env(base: dict, shards: int, series: int | None = None) -> dict:
    env = {k: v for k, v in base.items() if k not in ("SALES_URL", "MR_DEMO_SERIES", "MR_TICK_MINUTES")}
    env.update({"MR_SHARDS": str(shards), "MR_START": START.strftime("%Y-%m-%d-%H:%M"), "MR_SCALEOUT_CHILD": "1"})
    if series is not None:
        env["MR_DEMO_SERIES"] = str(series)
    return env


def setup_env(shards: int, series: int | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("WAREHOUSE_URL", "DAGSTER_HOME", "DAGSTER_PG_URL")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return mr_env(env, shards, series)


def setup_info(name: str) -> dict:
    import psycopg2

    con = psycopg2.connect(cb.pg_url(name))
    try:
        with con.cursor() as cur:
            cur.execute("SELECT info FROM bench_src.setup_info")
            return cur.fetchone()[0]
    finally:
        con.close()


def ensure_template(args, kind: str, n: int, dbs: Dbs, procs: cb.Processes, work: Path) -> dict:
    """The template database of a catalogue of ``n`` series (built now unless cached)."""
    name = template_name(kind, n, args.shards)
    if not dbs.exists(name) and args.any_code and not args.rebuild:
        stale = [t for t in dbs.templates() if t.startswith(f"{PREFIX}_tpl_{kind}_{n}x{args.shards}_")]
        if stale:
            print(f"set-up {kind}: --any-code: {stale[0]} was built by other product code than {name}", flush=True)
            name = stale[0]
    if dbs.exists(name) and not args.rebuild:
        info = setup_info(name)
        print(f"set-up {kind} ({n:,} series): cached template {name} ({dbs.size_mb(name):,.0f} MB)", flush=True)
        return {**info, "name": name, "cached": True}
    if dbs.exists(name):
        dbs.drop(cb.pg_url(name))
    t0 = time.perf_counter()
    url = dbs.create(f"build_{kind}")
    sales_url = "warehouse:bench_src.sales"
    folder = work / f"setup-{kind}"
    folder.mkdir()
    print(f"set-up {kind} ({n:,} series, untimed): source table, baseline, library ...", flush=True)
    base = {"warehouse_url": url, "series": n, "shards": args.shards, "template": name}
    logs = [folder / "sales.log", folder / "baseline.log"]
    children = [
        procs.start(cb.python_call(MODULE, "_setup_sales", base), logs[0], setup_env(args.shards)),
        procs.start(
            cb.python_call(MODULE, "_setup_baseline", {**base, "via_asset": kind == "tiny"}),
            logs[1],
            setup_env(args.shards, n if kind == "tiny" else None),
        ),
    ]
    sales, baseline = (cb.child_result(p, log, 3600, logs) for p, log in zip(children, logs))
    procs.stop(children)
    t1 = time.perf_counter()
    print(
        f"  source {sales['rows']:,} rows in {sales['seconds']:.0f} s; baseline {baseline['baseline_s']:.0f} s",
        flush=True,
    )
    if kind == "tiny" and not baseline["direct_equals_asset"]:
        raise RuntimeError("the direct baseline write differs from the baseline asset's (tiny catalogue)")
    k = max(1, min(args.setup_procs, args.shards))
    print(f"  ticks 01:15..12:45 of {args.shards} shards, {k} processes ...", flush=True)
    logs = [folder / f"ticks-{j}.log" for j in range(k)]
    children = [
        procs.start(
            cb.python_call(
                MODULE, "_setup_ticks", {**base, "sales_url": sales_url, "shards": list(range(j, args.shards, k))}
            ),
            logs[j],
            setup_env(args.shards),
        )
        for j in range(k)
    ]
    ticks = [cb.child_result(p, log, 6 * 3600, logs) for p, log in zip(children, logs)]
    procs.stop(children)
    t2 = time.perf_counter()
    from minority_report_assets.tables import SCHEMA
    from platform_core.warehouse import backend_for, manifest_spec

    manifest = backend_for(url).read(manifest_spec(SCHEMA))
    counts = manifest["table_name"].value_counts().to_dict()
    ticks_per_shard = int((TICK_END - TICK - START) / TICK)
    wanted = {
        "sales_baseline": 1,
        "cluster_library": 1,
        "sales_timeseries_data": ticks_per_shard * args.shards,
        "sales_timeseries_rejects": ticks_per_shard * args.shards,
        "minority_reports_detected_log": ticks_per_shard * args.shards,
        "source_outages": ticks_per_shard * args.shards,
    }
    if counts != wanted:
        raise RuntimeError(f"the set-up wrote {counts}, expected {wanted}")
    info = {
        "kind": kind,
        "series": n,
        "shards": args.shards,
        "source_rows": sales["rows"],
        "source_s": sales["seconds"],
        "baseline": baseline,
        "ticks_s": {str(s): v for t in ticks for s, v in t["seconds"].items()},
        "phase1_s": t1 - t0,
        "phase2_s": t2 - t1,
        "total_s": time.perf_counter() - t0,
        "partitions": wanted,
    }
    import psycopg2

    con = psycopg2.connect(url)
    with con, con.cursor() as cur:
        cur.execute("CREATE TABLE bench_src.setup_info (info JSONB)")
        cur.execute("INSERT INTO bench_src.setup_info VALUES (%s)", [json.dumps(info)])
    con.close()
    dbs.keep_as(url, name)
    info["total_s"] = time.perf_counter() - t0
    print(
        f"  built template {name} in {info['total_s']:.0f} s ({dbs.size_mb(name):,.0f} MB; ticks {t2 - t1:.0f} s)",
        flush=True,
    )
    return {**info, "name": name, "cached": False}


def manifest(url: str) -> pd.DataFrame:
    """Every partition of the minority_report schema in the warehouse at ``url``: rows and hashes (not when)."""
    from minority_report_assets.tables import SCHEMA

    return cb.manifest(url, SCHEMA)


def timed_part(m: pd.DataFrame, shards: list[int] | None = None) -> pd.DataFrame:
    """The partitions of the timed tick (of ``shards``, default all)."""
    at = m["partition_key"].str.endswith(f"written_at={TICK_END.isoformat()}")
    if shards is not None:
        at &= m["partition_key"].str.extract(r"shard=(\d+)")[0].astype(float).isin(shards)
    return m[at].reset_index(drop=True)


# --- the configurations ---------------------------------------------------------------------------
@contextmanager
def copies(args, work: Path, dbs: Dbs, name: str, templates: dict):
    """A configuration's folder, fresh and empty instance (its children's env, the pool limit) and a copy of
    each template (the job's arguments, by catalogue); the databases dropped after."""
    folder = work / name
    folder.mkdir()
    home, instance_url = folder / "dagster_home", dbs.create(f"{name}_inst")
    jobs = {
        kind: {"warehouse_url": dbs.create(f"{name}_{kind}", t["name"]), "sales_url": "warehouse:bench_src.sales"}
        for kind, t in templates.items()
    }
    env = mr_env(cb.child_env(home, instance_url, args.blas_threads), args.shards)
    yield folder, env, cb.prepare_instance(home, env), jobs
    for url in [*(j["warehouse_url"] for j in jobs.values()), instance_url]:
        dbs.drop(url)


def manifests(jobs: dict) -> dict[str, pd.DataFrame]:
    return {kind: manifest(j["warehouse_url"]) for kind, j in jobs.items()}


def run_inprocess(args, work: Path, dbs: Dbs, procs: cb.Processes, templates: dict, runs, name: str, instrument=False):
    with copies(args, work, dbs, name, templates) as (folder, env, pool_limit, jobs):
        x = cb.inprocess_config(BENCH, args, procs, folder, env, jobs, runs, instrument)
        return {"name": name, **x, "pool_limit": pool_limit, "manifests": manifests(jobs)}


def run_celery(
    args, work: Path, dbs: Dbs, procs: cb.Processes, templates: dict, n_workers: int, tiny_shards: list[int]
):
    name = f"celery{n_workers}"
    runs, tiny_runs = [tick_run("full", s) for s in range(args.shards)], [tick_run("tiny", s) for s in tiny_shards]
    with copies(args, work, dbs, name, templates) as (folder, env, pool_limit, jobs):
        x = cb.celery_config(BENCH, args, procs, folder, env, jobs, runs, tiny_runs, n_workers, pool_limit)
        return {"name": name, **x, "manifests": manifests(jobs)}


# --- main -----------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=100_000, help="store/SKU series of the catalogue")
    parser.add_argument("--shards", type=int, default=8, help="MR_SHARDS: a run per shard")
    parser.add_argument("--workers", type=int, default=2, help="workers of configuration (c); (b) has 1")
    parser.add_argument("--orchestrators", type=int, default=4, help="processes orchestrating celery runs at once")
    parser.add_argument(
        "--tiny-series", type=int, default=800, help="series of the tiny catalogue (raised until every shard has some)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs of each size for the overhead")
    parser.add_argument("--setup-procs", type=int, default=2, help="processes running the set-up ticks at once")
    cb.add_child_arguments(parser, settle_s=120)
    parser.add_argument("--rebuild", action="store_true", help="build the cached set-up templates again")
    parser.add_argument(
        "--any-code",
        action="store_true",
        help="reuse a cached template of the same size built by other product code (a template is keyed by a hash of "
        "minority_report_assets and platform_core, so any edit there rebuilds it otherwise)",
    )
    parser.add_argument("--drop-templates", action="store_true", help="drop every cached set-up template and exit")
    parser.add_argument("--out", type=Path, default=cb.OUT / "mr_scaleout.json", help="where the figures go (JSON)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (logs) under /tmp")
    args = parser.parse_args()
    for name in ("SALES_URL", "MR_DEMO_SERIES", "MR_TICK_MINUTES"):
        os.environ.pop(name, None)
    os.environ.update({"MR_SHARDS": str(args.shards), "MR_START": START.strftime("%Y-%m-%d-%H:%M")})
    from minority_report_assets import demo

    assert demo.DEMO_DAY == DAY

    if args.drop_templates:
        dbs = Dbs()
        for name in dbs.templates():
            dbs.names.append(name)
            print(f"dropping {name} ({dbs.size_mb(name):,.0f} MB)")
        dbs.drop_all()
        return 0

    sys.stdout.reconfigure(line_buffering=True)
    load_start, began = os.getloadavg(), time.monotonic()
    sizes = shard_sizes(args.series, args.shards)
    if min(sizes) == 0:
        sys.exit(
            f"a shard of {args.series:,} series has no store ({sizes}): a tick of an empty shard fails (see README)"
        )
    tiny_n = max(20, args.tiny_series // 20 * 20)
    while min(shard_sizes(tiny_n, args.shards)) == 0:
        tiny_n += 20
    tiny_sizes = shard_sizes(tiny_n, args.shards)
    repeats = max(1, min(args.repeats, args.shards - 1))
    print(
        f"one tick ({TICK_END - TICK:%H:%M}-{TICK_END:%H:%M} of {DAY.date()}, 144-bucket lookback) of {args.series:,} "
        f"series in {args.shards} shards ({min(sizes):,}-{max(sizes):,} series each); tiny catalogue {tiny_n:,} series "
        f"({min(tiny_sizes)}-{max(tiny_sizes)} a shard); {os.cpu_count()} cores, load {load_start[0]:.2f}",
        flush=True,
    )
    dbs = Dbs()
    results: dict = {}
    with cb.scratch("mr-scaleout-bench-", dbs, args.keep) as (work, procs):
        t0 = time.monotonic()
        templates = {
            "full": ensure_template(args, "full", args.series, dbs, procs, work),
            "tiny": ensure_template(args, "tiny", tiny_n, dbs, procs, work),
        }
        setup_s = time.monotonic() - t0
        timed0 = time.monotonic()
        shards = list(range(args.shards))
        print(f"\n(a) in-process executor: {args.shards} shard runs one after another ...", flush=True)
        runs = [tick_run("full", s, job="full") for s in shards]
        results["a"] = run_inprocess(args, work, dbs, procs, {"full": templates["full"]}, runs, "inprocess")
        print(f"    {results['a']['wall']:.1f} s", flush=True)
        by_size = sorted(shards, key=lambda s: (tiny_sizes[s], s))
        tiny_shards, warm_shard = by_size[:repeats], by_size[repeats]  # the smallest shards; another to warm up
        for key, n_workers in (("b", 1), ("c", args.workers)):
            print(f"({key}) celery, {n_workers} worker(s), {args.orchestrators} orchestrators ...", flush=True)
            results[key] = run_celery(args, work, dbs, procs, templates, n_workers, tiny_shards)
            print(f"    {results[key]['wall']:.1f} s", flush=True)
        print(f"overhead: tiny and full shard runs in-process, {repeats} each, after a warm-up run ...", flush=True)
        full_shards = shards[-repeats:]
        order = [("tiny", warm_shard)]  # a warm-up run first
        order += [pair for t, f in zip(tiny_shards, full_shards) for pair in (("tiny", t), ("full", f))]
        order = [tick_run(kind, s, job=kind) for kind, s in order]
        results["o"] = run_inprocess(args, work, dbs, procs, templates, order, "overhead", instrument=True)
        timed_s = time.monotonic() - timed0
    report(args, results, templates, sizes, tiny_sizes, tiny_n, setup_s, timed_s, time.monotonic() - began, load_start)
    return 0


# --- figures --------------------------------------------------------------------------------------
def report(args, results, templates, sizes, tiny_sizes, tiny_n, setup_s, timed_s, elapsed, load_start) -> None:
    a, b, c, o = results["a"], results["b"], results["c"], results["o"]
    cores = os.cpu_count()
    n_total = args.series

    out: dict = {
        "series": n_total,
        "shards": args.shards,
        "series_per_shard": sizes,
        "tick_end": str(TICK_END),
        "cores": cores,
        "templates": {k: {kk: vv for kk, vv in t.items()} for k, t in templates.items()},
        "setup_s_this_invocation": setup_s,
        "timed_part_s": timed_s,
        "bench_s": elapsed,
        "load_average_start": load_start,
    }

    print(f"\n== one minority-report tick, {n_total:,} series in {args.shards} shards (a run of 3 steps per shard) ==")
    for key, t in templates.items():
        print(
            f"set-up {key}: {'cached' if t['cached'] else 'built'} {t['name']}: source {t['source_rows']:,} rows "
            f"({t['source_s']:.0f} s), baseline {t['baseline']['baseline_s']:.0f} s"
            + (
                f" (the asset's; direct write identical: {t['baseline']['direct_equals_asset']})"
                if key == "tiny"
                else ""
            )
            + f", ticks 01:15..12:45 {sum(t['ticks_s'].values()):.0f} s of runs, built in {t['total_s']:.0f} s"
        )
    ca = a["cpu"]
    pa_ = cb.profile(a["runs"])
    print(
        f"(a) in-process, runs in sequence: {a['wall']:.1f} s ({n_total / a['wall']:,.0f} series/s); per run: first "
        f"{wall(a['runs'][0]):.1f} s, median {med(a['runs'], wall):.1f} s; summed: steps {pa_['step']:.1f} s, outside "
        f"the steps {pa_['other']:.1f} s; median step " + cb.seconds_text(cb.median_steps(a["runs"], STEP_NAMES))
    )
    print(cb.inprocess_cpu_line(a, cores))
    for key, x in (("b", b), ("c", c)):
        median_step = "; median step " + cb.seconds_text(cb.median_steps(x["runs"], STEP_NAMES))
        print(
            "\n".join(
                cb.celery_lines(
                    key, x, cores, f"{n_total / x['wall']:,.0f} series/s", 3, "instance, plan, events", median_step
                )
            )
        )
    s_b1, s_ca, s_c1 = b["wall"] / c["wall"], a["wall"] / c["wall"], a["wall"] / b["wall"]
    print(cb.speedup_line(a, b, c))

    # Manifests: the timed tick's partitions, every configuration (and the overhead process's full runs).
    print("\n== warehouse manifests (row counts, content and input hashes of the timed tick's partitions) ==")
    ref = timed_part(a["manifests"]["full"])
    same = {}
    for key, x in (("a", a), ("b", b), ("c", c)):
        m = timed_part(x["manifests"]["full"])
        same[key] = m.equals(ref)
        whole = x["manifests"]["full"].equals(a["manifests"]["full"])
        print(
            f"({key}) {x['name']}: {len(m)} partitions in {m['table_name'].nunique()} tables, "
            f"{int(m['row_count'].sum()):,} rows, digest {cb.digest(m)}, identical to (a): {same[key]} (whole schema, "
            f"set-up included: {whole})"
        )
    for key, x in (("b", b), ("c", c)):
        if not same[key]:
            print(cb.manifest_diff(timed_part(x["manifests"]["full"]), ref))
    o_shards = sorted({r["shard"] for r in o["runs"] if r["job"] == "full"})
    same_o = timed_part(o["manifests"]["full"]).equals(timed_part(ref, o_shards))
    tiny_shards = sorted({r["shard"] for r in b["tiny_runs"]})
    tiny_ref = timed_part(o["manifests"]["tiny"], tiny_shards)
    tiny_same = all(timed_part(x["manifests"]["tiny"], tiny_shards).equals(tiny_ref) for x in (b, c))
    print(
        f"overhead process, full shards {o_shards}: identical to (a)'s: {same_o}; tiny runs on celery identical to "
        f"in-process: {tiny_same}"
    )
    expected = len(TICK_TABLES) * args.shards
    rows_of = ref.groupby("table_name")["row_count"].sum().to_dict()
    print(
        f"expected {expected} partitions ({len(TICK_TABLES)} tables x {args.shards} shards): "
        f"{'yes' if len(ref) == expected else 'NO'}; rows per table {rows_of}"
    )
    assert len(ref) == expected, f"the timed tick wrote {len(ref)} partitions, expected {expected}"
    assert same["b"] and same["c"], "the configurations' manifests differ"
    assert same_o and tiny_same, "the overhead runs' manifests differ"

    # Per-run overhead.
    print(
        f"\n== per-run overhead (in-process, Postgres instance and warehouse; {len(o['runs']) // 2} runs of each "
        "size) =="
    )
    warm, rest = o["runs"][0], o["runs"][1:]
    tiny_runs, full_runs = [r for r in rest if r["job"] == "tiny"], [r for r in rest if r["job"] == "full"]
    n_tiny = statistics.median(tiny_sizes[r["shard"]] for r in tiny_runs)
    n_full = statistics.median(sizes[r["shard"]] for r in full_runs)
    tiny_wall, full_wall = med(tiny_runs, wall), med(full_runs, wall)
    per_series = (full_wall - tiny_wall) / max(1.0, n_full - n_tiny)
    fixed = tiny_wall - per_series * n_tiny
    tiny_steps = cb.median_steps(tiny_runs, STEP_NAMES)
    step_fixed = statistics.median(tiny_steps.values())
    tiny_outside = med(tiny_runs, lambda r: wall(r) - sum(cb.step_seconds(r, STEP_NAMES).values()))
    full_outside = med(full_runs, lambda r: wall(r) - sum(cb.step_seconds(r, STEP_NAMES).values()))
    print(
        f"warm-up run (first in a fresh process, tiny): {wall(warm):.2f} s; tiny ({n_tiny:.0f} series): run "
        f"{tiny_wall:.2f} s, steps "
        + cb.seconds_text(tiny_steps)
        + f", outside the steps {tiny_outside:.2f} s; full ({n_full:,.0f} series): run {full_wall:.2f} s, steps "
        + cb.seconds_text(cb.median_steps(full_runs, STEP_NAMES))
        + f", outside {full_outside:.2f} s"
    )
    print("  where a run's time goes (median; tiny / full):")
    dagster_tiny, dagster_full = cb.print_parts(
        tiny_runs, full_runs, 50, "Dagster and the rest (events, plan, metadata)"
    )
    need = cb.under_10pct(fixed, per_series)
    print(
        f"fixed cost of an in-process run {fixed:.2f} s (of a step {step_fixed:.2f} s, outside the steps "
        f"{tiny_outside:.2f} s), {per_series * 1000:.3f} ms per series: overhead < 10% from {need:,.0f} series per run "
        f"(a {n_full:,.0f}-series shard run carries {100 * fixed / full_wall:.0f}% overhead)"
    )
    celery_fixed = {}
    for x in (b, c):
        celery_fixed[x["name"]] = med(x["tiny_runs"], wall) - per_series * n_tiny
    c_fixed = celery_fixed[b["name"]]
    celery_need = cb.under_10pct(c_fixed, per_series)
    print(
        f"celery run of the tiny catalogue, alone (median, fixed part): {cb.seconds_text(celery_fixed)}; "
        f"{cb.tiny_per_run_text(b)}; overhead < 10% from {celery_need:,.0f} series per run"
    )
    source_full = med(full_runs, lambda r: r["parts"].get("source read (bench_src.sales, all shards' rows)", 0.0))
    print(
        f"of the full run's per-series cost, reading the source is {source_full:.2f} s: every shard's run reads the "
        f"tick's rows of all {n_total:,} series and keeps its own {n_full:,.0f} (no shard pushdown), so that part "
        f"grows with the catalogue, not the shard"
    )

    # What bounds the speed-up.
    cc, pc_ = c["cpu"], cb.profile(c["runs"])
    in_process_cores = (ca["ours"] + ca["postgres"]) / a["wall"]
    conns = med(full_runs, lambda r: r["parts"].get("~ Postgres connections opened (count)", 0))
    print("\n== what bounds the speed-up ==")
    print(
        f"- CPU: {cores} cores. (a) alone keeps {in_process_cores:.2f} cores busy (its Python "
        f"{ca['ours'] / a['wall']:.2f}, Postgres {ca['postgres'] / a['wall']:.2f}). (c) keeps the machine "
        f"{100 * cc['machine'] / (cores * c['wall']):.0f}% busy: workers {cc['workers'] / c['wall']:.2f} cores, "
        f"Postgres {cc['postgres'] / c['wall']:.2f}, orchestrators {cc['orchestrators'] / c['wall']:.2f}, RabbitMQ "
        f"{cc['rabbitmq'] / c['wall']:.2f}, others {cb.foreign_cpu(cc, ['workers', 'orchestrators']) / c['wall']:.2f}."
    )
    ours_c = cc["workers"] + cc["orchestrators"] + cc["postgres"] + cc["rabbitmq"]
    foreign_c = cb.foreign_cpu(cc, ["workers", "orchestrators"])
    ideal_c = max(ours_c / cores, b["wall"] / c["workers"])
    print(
        f"- CPU-bound: (c) needed {ours_c:.1f} s of CPU (workers, orchestrators, Postgres, RabbitMQ), so on {cores} "
        f"quiet cores it takes at least {ours_c / cores:.1f} s, and at least (b)'s {b['wall']:.1f} s / {c['workers']}: "
        f"the best it could do here is {ideal_c:.1f} s = {b['wall'] / ideal_c:.2f}x over 1 worker; with the others' "
        f"{foreign_c:.1f} s of CPU in its window, {(ours_c + foreign_c) / cores:.1f} s (measured {c['wall']:.1f} s)."
    )
    print(
        f"- Postgres: {ca['postgres']:.1f} s of CPU for (a)'s {args.shards} runs ({ca['postgres'] / args.shards:.2f} s "
        f"per run) and {cc['postgres']:.1f} s for (c)'s; a full shard run opens {conns:.0f} Postgres connections "
        f"(Dagster's storage: one per query) for {med(full_runs, lambda r: r['n_events']):.0f} events."
    )
    window_reads = med(
        full_runs,
        lambda r: sum(
            v for k, v in r["parts"].items() if k.startswith("warehouse read: sales_") or k.startswith("window load")
        ),
    )
    print(
        f"- Reading the window: of a full shard run's {full_wall:.1f} s, {window_reads:.1f} s "
        f"({100 * window_reads / full_wall:.0f}%) go to loading the 12-hour window (the shard's sales of 48 ticks and "
        "its baselines, fetched from Postgres as rows and REAL[] text, then conformed), which MRDL and MRCL each do "
        "again (a step's inputs are read in the step); that work is half Postgres's, on the same 2 cores."
    )
    print(
        f"- Orchestration: a celery run of the tiny catalogue carries {c_fixed - fixed:.1f} s more than an in-process "
        f"one ({c_fixed:.2f} s against {fixed:.2f} s): the executor polls every {cb.TICK_POLL_S} s, each step is a "
        f"celery task that first builds an instance and a plan in the worker "
        f"({cb.beyond_step_s(c, 3):.2f} s per step in (c)), and a run's 3 steps follow "
        "each other. With runs overlapping, the queue hides most of it: (b) took "
        f"{(b['wall'] - a['wall']) / args.shards:.2f} s per run more than (a)."
    )
    print(
        f"- Granularity: {args.shards} runs of 3 sequential steps over {c['workers']} workers; the last runs leave a "
        "worker idle while the other finishes (workers busy "
        f"{100 * cb.busy_s(c) / (c['workers'] * c['wall']):.0f}% in (c))."
    )
    blocked = sum("pool_blocked" in st for x in (a, b, c) for r in x["runs"] for st in r["events"]["steps"].values())
    print(f"- Pool '{WAREHOUSE_POOL}': limit {c['pool_limit']}; steps blocked by the pool in (a), (b), (c): {blocked}.")

    # Table.
    pb = cb.profile(b["runs"])
    print(
        f"\n| configuration ({n_total:,} series, {args.shards} shards, one tick) | wall (s) | start-up (s) "
        "| vs in-process | vs 1 worker | steps per worker | workers busy | others' CPU (cores) | manifest identical |"
        "\n|---|---|---|---|---|---|---|---|---|"
    )
    print(
        f"| (a) in-process executor, {args.shards} runs in sequence | {a['wall']:.1f} | {a['startup']:.1f} | 1.00x | "
        f"{b['wall'] / a['wall']:.2f}x | - | - | {cb.foreign_cpu(ca, ['ours']) / a['wall']:.2f} | "
        f"reference ({cb.digest(ref)}) |"
    )
    for key, x, p in (("b", b, pb), ("c", c, pc_)):
        print(
            f"| ({key}) celery, {x['workers']} worker{'s' if x['workers'] > 1 else ''}, {x['orchestrators']} "
            f"orchestrators | {x['wall']:.1f} | {x['startup']:.1f} | {a['wall'] / x['wall']:.2f}x | "
            f"{b['wall'] / x['wall']:.2f}x | {', '.join(f'{v}' for v in p['steps_by_worker'].values())} | "
            f"{100 * cb.busy_s(x) / (x['workers'] * x['wall']):.0f}% | "
            f"{cb.foreign_cpu(x['cpu'], ['workers', 'orchestrators']) / x['wall']:.2f} | {same[key]} |"
        )
    print(
        f"\n| overhead | in-process | celery, 1 worker | celery, {c['workers']} workers |\n|---|---|---|---|\n"
        f"| fixed cost of a run (s) | {fixed:.2f} | {celery_fixed[b['name']]:.2f} | {celery_fixed[c['name']]:.2f} |\n"
        f"| fixed cost of a step (s, tiny run) | {step_fixed:.2f} | | |\n"
        f"| work per series (ms) | {per_series * 1000:.3f} | | |\n"
        f"| series per run for < 10% overhead | {need:,.0f} | {celery_need:,.0f} | |\n"
        f"| overhead of a {n_full:,.0f}-series shard run | {100 * fixed / full_wall:.0f}% | "
        f"{100 * c_fixed / (c_fixed + per_series * n_full):.0f}% | |"
    )
    load_end = os.getloadavg()
    print(
        f"\nload average (1/5/15 min) at start {load_start[0]:.2f}/{load_start[1]:.2f}/{load_start[2]:.2f}, at end "
        f"{load_end[0]:.2f}/{load_end[1]:.2f}/{load_end[2]:.2f}, on {cores} cores ('others' above: CPU of processes "
        f"not started here). Set-up this invocation {setup_s / 60:.1f} min, timed part (all configurations and the "
        f"overhead runs, with their start-ups and waits) {timed_s / 60:.1f} min, whole bench {elapsed / 60:.1f} min."
    )

    # JSON.
    def slim(x):
        keep = {k: v for k, v in x.items() if k not in ("manifests", "runs", "tiny_runs")}
        keep["runs"] = [
            {
                **{k: v for k, v in r.items() if k != "events"},
                "steps": cb.step_seconds(r, STEP_NAMES),
                "workers": {STEP_NAMES.get(k, k): s.get("worker") for k, s in r["events"]["steps"].items()},
            }
            for r in x["runs"]
        ]
        if "tiny_runs" in x:
            keep["tiny_runs"] = [
                {"shard": r["shard"], "wall": wall(r), "steps": cb.step_seconds(r, STEP_NAMES)} for r in x["tiny_runs"]
            ]
        return keep

    out.update(
        {
            "configurations": {k: slim(x) for k, x in results.items()},
            "speedup": {"2_over_1_worker": s_b1, "2_workers_over_inprocess": s_ca, "1_worker_over_inprocess": s_c1},
            "manifest": {
                "digest": cb.digest(ref),
                "partitions": len(ref),
                "identical": {k: bool(v) for k, v in same.items()},
                "overhead_full_identical": bool(same_o),
                "tiny_identical": bool(tiny_same),
                "rows_per_table": {k: int(v) for k, v in rows_of.items()},
            },
            "overhead": {
                "tiny_series_per_run": n_tiny,
                "full_series_per_run": n_full,
                "tiny_run_s": tiny_wall,
                "full_run_s": full_wall,
                "fixed_run_s_inprocess": fixed,
                "fixed_step_s_inprocess": step_fixed,
                "per_series_ms": per_series * 1000,
                "series_per_run_under_10pct_inprocess": need,
                "fixed_run_s_celery": celery_fixed,
                "series_per_run_under_10pct_celery": celery_need,
                "dagster_rest_s": {"tiny": dagster_tiny, "full": dagster_full},
            },
            "bounds": {
                "cpu_s_of_c": ours_c,
                "others_cpu_s_in_c": foreign_c,
                "best_wall_c_on_quiet_cores": ideal_c,
                "best_speedup_over_1_worker": b["wall"] / ideal_c,
                "window_load_s_of_a_full_run": window_reads,
            },
            "load_average_end": load_end,
        }
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
