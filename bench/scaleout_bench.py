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
default ``postgresql://postgres@127.0.0.1:5432/postgres``, where the databases are created). What
it shares with ``mr_scaleout_bench.py`` (the children, the timed windows, CPU accounting, report
lines) is in ``bench/celery_bench.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
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
from platform_core.resources import WAREHOUSE_POOL, Pseudonymizer, WarehouseResource  # noqa: E402
from replay_assets import demo  # noqa: E402
from replay_assets.definitions import ASSETS  # noqa: E402
from replay_assets.partitions import TICK, partition_key_for, team_partitions  # noqa: E402
from replay_assets.resources import SegmentSource, TaskLabeler  # noqa: E402
from replay_assets.schedules import replay_tick_job  # noqa: E402
from replay_assets.segments import COLUMNS  # noqa: E402

SALT = "bench-salt"
SEED = 0
TICK_END = pd.Timestamp(demo.TICK + pd.Timestamp("2026-11-20"))  # the first tick of the demo's day (00:30)
TINY_TEAM0 = 100_000  # teams of 1-segment ticks: TINY_TEAM0 + 1, + 2, ...
OVERHEAD_REPEATS = 3
STEPS = ("video_segments", "video_segment_tasks")


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

    path = cb.OUT / f"scaleout-{teams}x{segments}-d{dim}-t{tiny}-s{SEED}.parquet"
    if path.exists():
        return path
    cb.OUT.mkdir(parents=True, exist_ok=True)
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


def replay_job(warehouse_url: str, segments_url: str, queue: str | None = None) -> dg.JobDefinition:
    return cb.job_def(ASSETS, replay_tick_job, resources(warehouse_url, segments_url), queue)


def team_runs(teams: list[int]) -> list[dict]:
    """A run per team: its tick ending at TICK_END."""
    runs = []
    for team in teams:
        key = str(partition_key_for(team, TICK_END))
        tags = {ASSET_PARTITION_RANGE_START_TAG: key, ASSET_PARTITION_RANGE_END_TAG: key}
        runs.append({"job": "replay", "labels": {"team": team}, "tags": tags})
    return runs


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
    timed(assets, "run_tick", "tick step (cluster the window, match, label, priority)")
    timed(table_asset, "privacy_outcomes", "privacy checks")
    timed(table_asset, "prepare", "contract check + content hash")
    timed(Backend, "query", "warehouse reads")
    timed(Backend, "write", "warehouse write txn")
    timed(PostgresBackend, "_insert", "  of which COPY (incl. array text)")
    cb.count_connections(timers)
    return timers


BENCH = cb.Bench(
    module="bench.scaleout_bench",  # what workers and orchestrators import to rebuild the job
    job="replay_job",
    instrument="_instrument",
    queue_prefix="scaleout_bench",
    inprocess_from_go=False,
    worker_timeout=120,
    inprocess_timeout=(120, 120),
    celery_timeout=(300, 60),
    tiny_timeout=600,
)


def manifest(url: str, teams: set[int]) -> pd.DataFrame:
    """Every partition the replay graph wrote for ``teams``: row count and hashes (not when)."""
    from replay_assets.tables import SCHEMA

    frame = cb.manifest(url, SCHEMA)
    team = frame["partition_key"].str.extract(r"team_id=(\d+)")[0].astype(int)
    return frame[team.isin(teams)].reset_index(drop=True)


# --- the configurations ---------------------------------------------------------------------------
def configuration(args, dbs: cb.Databases, folder: Path, segments_url: str, teams: list[int]) -> tuple:
    """A configuration's instance (the teams as dynamic partitions) and warehouse: its children's env,
    the pool limit, its job's arguments and the warehouse URL."""
    home, instance_url, warehouse_url = (
        folder / "dagster_home",
        dbs.create(f"{folder.name}_inst"),
        dbs.create(f"{folder.name}_wh"),
    )
    env = cb.child_env(home, instance_url, args.blas_threads)
    pool_limit = cb.prepare_instance(home, env, {team_partitions.name: [str(t) for t in teams]})
    return env, pool_limit, {"replay": {"warehouse_url": warehouse_url, "segments_url": segments_url}}, warehouse_url


def run_inprocess(
    args, work: Path, dbs: cb.Databases, procs: cb.Processes, segments_url: str, teams, name, instrument=False
):
    env, pool_limit, jobs, warehouse_url = configuration(args, dbs, work / name, segments_url, teams)
    x = cb.inprocess_config(BENCH, args, procs, work / name, env, jobs, team_runs(teams), instrument)
    return {"name": name, **x, "pool_limit": pool_limit, "manifest": manifest(warehouse_url, set(teams))}


def run_celery(
    args, work: Path, dbs: cb.Databases, procs: cb.Processes, segments_url: str, teams, n_workers: int, tiny
):
    name = f"celery{n_workers}"
    env, pool_limit, jobs, warehouse_url = configuration(args, dbs, work / name, segments_url, teams + tiny)
    x = cb.celery_config(
        BENCH, args, procs, work / name, env, jobs, team_runs(teams), team_runs(tiny), n_workers, pool_limit
    )
    return {"name": name, **x, "manifest": manifest(warehouse_url, set(teams))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teams", type=int, default=40)
    parser.add_argument("--segments", type=int, default=2000, help="segments per team (one tick each)")
    parser.add_argument("--workers", type=int, default=2, help="workers of configuration (c); (b) has 1")
    parser.add_argument("--orchestrators", type=int, default=4, help="processes orchestrating celery runs at once")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=OVERHEAD_REPEATS, help="runs of each size for the overhead")
    cb.add_child_arguments(parser, settle_s=180)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (logs) under /tmp")
    args = parser.parse_args()

    load_start = os.getloadavg()[0]
    began = time.monotonic()
    t0 = time.perf_counter()
    repeats = max(1, min(args.repeats, args.teams))
    path = generate(args.teams, args.segments, args.dim, repeats + 1)
    print(
        f"data: {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.0f} MB; ready in "
        f"{time.perf_counter() - t0:.1f} s, not timed)"
    )
    teams = list(range(1, args.teams + 1))
    tiny = [TINY_TEAM0 + k for k in range(1, repeats + 2)]
    dbs = cb.Databases("scaleout")
    results = {}
    with cb.scratch("scaleout-bench-", dbs, args.keep) as (work, procs):
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
    report(args, results, repeats, time.monotonic() - began, load_start)
    return 0


def report(args, results: dict, repeats: int, elapsed: float, load_start: float) -> None:
    a, b, c, o = results["a"], results["b"], results["c"], results["o"]
    n_seg = args.teams * args.segments
    cores = os.cpu_count()

    def steps_sum(r):
        return sum(cb.step_seconds(r).values())

    print(f"\n== replay ticks: {args.teams} teams x {args.segments:,} segments ({args.dim}-dim), one run per team ==")
    pa_ = cb.profile(a["runs"])
    ca = a["cpu"]
    print(
        f"(a) in-process, runs in sequence: {a['wall']:.1f} s ({args.teams / a['wall'] * 60:.1f} runs/min, "
        f"{n_seg / a['wall']:,.0f} segments/s); per run: first {wall(a['runs'][0]):.1f} s, median "
        f"{med(a['runs'], wall):.1f} s; summed: steps {pa_['step']:.1f} s, outside the steps {pa_['other']:.1f} s"
    )
    print(cb.inprocess_cpu_line(a, cores))
    for key, x in (("b", b), ("c", c)):
        rate = f"{args.teams / x['wall'] * 60:.1f} runs/min, {n_seg / x['wall']:,.0f} segments/s"
        print("\n".join(cb.celery_lines(key, x, cores, rate, len(STEPS), "instance from ref, plan, events")))
    print(cb.speedup_line(a, b, c))

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
        f"{small_wall - small_steps:.2f} s; {args.segments:,} segments: run {full_wall:.2f} s, steps "
        f"{full_steps:.2f} s, outside {full_wall - full_steps:.2f} s"
    )
    for label, rs in (("1 segment", small), (f"{args.segments:,} segments", full)):
        print(
            f"  {label}: {cb.seconds_text(cb.median_steps(rs))}; "
            f"{med(rs, lambda r: r['n_events']):.0f} events in the run's log"
        )
    print("  where a run's time goes (median; 1 segment / full):")
    cb.print_parts(small, full, 38, "Dagster and the rest")
    need = cb.under_10pct(fixed, per_seg)
    print(
        f"fixed cost of an in-process run {fixed:.2f} s (of a step {step_fixed:.2f} s), {per_seg * 1000:.2f} ms per "
        f"segment: overhead < 10% from {need:,.0f} segments per run = {need / args.segments:.1f} team ticks of "
        f"{args.segments:,} (a {args.segments:,}-segment run carries {100 * fixed / full_wall:.0f}% overhead)"
    )
    celery_fixed = {x["name"]: med(x["tiny_runs"], wall) for x in (b, c)}
    c_small = celery_fixed[b["name"]]
    celery_need = cb.under_10pct(c_small, per_seg)
    print(
        f"celery run of 1 segment, alone (median): {cb.seconds_text(celery_fixed)}; {cb.tiny_per_run_text(b)}; "
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
            f"({key}) {x['name']}: {len(m)} partitions in {m['table_name'].nunique()} tables, digest {cb.digest(m)}, "
            f"identical to (a): {same[key]}"
        )
    for key, x in (("b", b), ("c", c)):
        if not same[key]:
            print(cb.manifest_diff(x["manifest"], ref))
    expected = 6 * args.teams
    print(f"expected {expected} partitions (6 tables x {args.teams} teams): {'yes' if len(ref) == expected else 'NO'}")

    # What bounds the speed-up, in this run's figures.
    cc, pc_ = c["cpu"], cb.profile(c["runs"])
    _, _, claimed_c = cb.max_in_flight(c["runs"])
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
        f"({ca['postgres'] / args.teams:.2f} s per run) and {cc['postgres']:.1f} s for (c)'s; a "
        f"{args.segments:,}-segment run opens {conns:.0f} Postgres connections ({conn_s:.2f} s to set them up; "
        f"Dagster's Postgres storage uses NullPool: a new connection, hence a new server process, per query) for "
        f"{med(full, lambda r: r['n_events']):.0f} events."
    )
    print(
        f"- Orchestration: a celery run carries {c_small - small_wall:.1f} s more than an in-process one (1 segment: "
        f"{c_small:.2f} s against {small_wall:.2f} s): the executor's loop sleeps {cb.TICK_POLL_S} s between polls, "
        f"each step is a celery task that first builds an instance and a plan in the worker "
        f"({cb.beyond_step_s(c, len(STEPS)):.2f} s per step in (c)), and "
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
    pb = cb.profile(b["runs"])
    print(
        f"\n| configuration ({args.teams} teams x {args.segments:,} segments) | wall (s) | segments/s | vs (a) "
        f"| vs 1 worker | workers busy | steps, summed (s) | manifest = (a) |\n|---|---|---|---|---|---|---|---|"
    )
    print(
        f"| (a) in-process, sequential | {a['wall']:.1f} | {n_seg / a['wall']:,.0f} | 1.00x | - | - | "
        f"{pa_['step']:.1f} | reference ({cb.digest(ref)}) |"
    )
    print(
        f"| (b) celery, 1 worker, {b['orchestrators']} orchestrators | {b['wall']:.1f} | {n_seg / b['wall']:,.0f} | "
        f"{a['wall'] / b['wall']:.2f}x | 1.00x | {100 * cb.busy_s(b) / b['wall']:.0f}% | {pb['step']:.1f} | "
        f"{same['b']} |"
    )
    print(
        f"| (c) celery, {c['workers']} workers, {c['orchestrators']} orchestrators | {c['wall']:.1f} | "
        f"{n_seg / c['wall']:,.0f} | {a['wall'] / c['wall']:.2f}x | {b['wall'] / c['wall']:.2f}x | "
        f"{100 * cb.busy_s(c) / (c['workers'] * c['wall']):.0f}% | {pc_['step']:.1f} | {same['c']} |"
    )
    print(f"| one run of 1 segment, in-process | {small_wall:.2f} | | | | | {small_steps:.2f} | |")
    print(f"| one run of {args.segments:,} segments, in-process | {full_wall:.2f} | | | | | {full_steps:.2f} | |")
    for x in (b, c):
        print(
            f"| one run of 1 segment, {x['name']} (alone) | {celery_fixed[x['name']]:.2f} | | | | | "
            f"{cb.profile(x['tiny_runs'])['step'] / len(x['tiny_runs']):.2f} | |"
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
