"""Kura benchmark: one ISO week of raw events (1,000,000 by default) from a JSONL event file,
through ingestion, validation, and day + week clustering.

Baseline, in the same run: a straightforward per-row Python loop implementing the same
reference (what the original system does: json.loads per row, per-row checks and HMAC, dict
accumulation per bucket). Each side runs in a fresh process so its peak memory is its own; the
clustering stage runs three times on each side and counts its best time.
The loop's week scores are compared with ours, so the two compute the same thing.

    python bench/kura_bench.py [--events 1000000]

Large day (--large-day [N], 2,000,000 by default): the memory of one day partition of N realistic-size lines
(~1.85 KB each, ~3.7 GB for 2M) through the real learning_signals asset, which streams the day through a DuckDB
file, beside the baseline that holds it as frames (read_events, then validate_signals), each in a fresh process
whose resident memory the parent polls; target: peak < 2,048 MB whatever the file size.

    python bench/kura_bench.py --large-day 2000000
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from kura_assets import demo  # noqa: E402
from kura_assets.scoring import REFERENCE_IMPACT, REFERENCE_SEVERITY  # noqa: E402

WEEK = demo.DEMO_START
DAYS = [WEEK + timedelta(days=i) for i in range(7)]
SALT = "bench-salt"
OUT = ROOT / "bench" / "out"
REPEATS = 3  # the clustering stage is timed best of 3 on both sides (one-off stalls are not the code's speed)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(n_events: int) -> Path:
    path = OUT / f"kura-week-{n_events}.jsonl"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    planted = len(demo.generate_day(WEEK))
    per_day = max(0, n_events // 7 - planted)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as f:
        for day in DAYS:
            f.write("\n".join(demo.to_jsonl_lines(demo.generate_day(day, background=per_day))) + "\n")
            demo.generate_day.cache_clear()
    tmp.rename(path)
    return path


# --- large day: one partition of realistic-size lines -----------------------------------------------
LARGE_DAY_POOL = 100_000  # background signals generated once, repeated with new ids (the generator is seeded by day)
EXCERPT_CHARS = 1_185  # added to a ~670-byte demo line: ~1.85 KB, the size of a real signal line with its transcript
VOCAB = (
    "the set rep reps weight kg lb bar squat bench deadlift press row pull warm up cool down rest minute second "
    "felt heavy light easy hard again last next today yesterday logged saved plan change add drop swap keep "
    "note knee back shoulder form tempo pause slow fast top back-off drop-set superset failure rpe target "
    "please can you could I we my it was is not no yes okay thanks"
).split()


def generate_large_day(n_lines: int) -> Path:
    """One day (demo.DEMO_START) of ``n_lines`` lines, written in chunks: the demo day once (its planted rows,
    duplicates and retractions included), then its background signals again under new ids until ``n_lines``.
    Every signal's attributes get a seeded, per-line ``transcript_excerpt``, so lines have real size and
    distinct attribute texts (validation canonicalises each distinct text)."""
    path = OUT / f"kura-day-{n_lines}.jsonl"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    planted = len(demo.generate_day(WEEK))
    pool = demo.to_jsonl_lines(demo.generate_day(WEEK, background=LARGE_DAY_POOL))
    demo.generate_day.cache_clear()
    rng, written, chunk = random.Random(int(WEEK.strftime("%Y%m%d"))), 0, 0
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as f:
        while written < n_lines:
            lines = (pool if chunk == 0 else pool[planted:])[: n_lines - written]
            out = []
            for i, line in enumerate(lines):
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError:  # the planted malformed line stays as it is
                    out.append(line)
                    continue
                if chunk:
                    row["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"kura-bench:{WEEK}:{chunk}:{i}"))
                data = row.get("data")
                if isinstance(data, dict) and isinstance(data.get("attributes"), dict):
                    words = " ".join(rng.choices(VOCAB, k=EXCERPT_CHARS // 4))
                    data["attributes"]["transcript_excerpt"] = words[:EXCERPT_CHARS].rsplit(" ", 1)[0]
                out.append(orjson.dumps(row).decode())
            f.write("\n".join(out) + "\n")
            written, chunk = written + len(out), chunk + 1
    tmp.rename(path)
    return path


def rss_mb(pid: int | str = "self") -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            return int(next(x for x in f if x.startswith("VmRSS")).split()[1]) / 1024
    except (OSError, StopIteration):
        return 0.0


def watch_peak() -> dict:
    """The child's own resident peak, sampled, with the innermost project frame running at that moment:
    which step holds the memory (ru_maxrss says how much, not where)."""
    state, main = {"mb": 0.0, "at": "?"}, threading.main_thread().ident

    def loop():
        while True:
            mb = rss_mb()
            if mb > state["mb"]:
                frame = sys._current_frames().get(main)
                state["mb"], state["at"] = (
                    mb,
                    next(
                        (
                            f"{Path(f.f_code.co_filename).name}:{line} {f.f_code.co_name}"
                            for f, line in traceback.walk_stack(frame)
                            if "/kura_assets/" in f.f_code.co_filename or "/platform_core/" in f.f_code.co_filename
                        ),
                        state["at"],
                    ),
                )
            time.sleep(0.05)

    threading.Thread(target=loop, daemon=True).start()
    return state


def measure_frames(path: Path) -> dict:
    """Baseline: the day held in memory as frames (the API tests and small inputs use)."""
    from kura_assets import sources
    from kura_assets.signals import SignalRules, validate_signals

    peak, rules = watch_peak(), SignalRules()
    t0 = time.perf_counter()
    raw = sources.read_events(str(path), *rules.read_window(WEEK))
    t1 = time.perf_counter()
    read = {"seconds": t1 - t0, "maxrss_mb": peak_rss_mb(), **peak}
    v = validate_signals(raw, WEEK, SALT, rules)
    t2 = time.perf_counter()
    return {
        "read": read,
        "validate": {"seconds": t2 - t1, "maxrss_mb": peak_rss_mb(), **peak},
        "raw_rows": len(raw),
        "signals": len(v.signals),
        "rejects": len(v.rejects),
        "peak_rss_mb": peak_rss_mb(),
    }


def measure_asset(path: Path) -> dict:
    """The real learning_signals asset for the day, configured as the code location is: from the environment."""
    import dagster as dg

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(
            KURA_EVENTS_URL=str(path), WAREHOUSE_URL=f"duckdb:///{tmp}/warehouse.duckdb", KURA_PSEUDONYM_SALT=SALT
        )
        from kura_assets.assets import learning_signals
        from kura_assets.definitions import resources

        peak = watch_peak()
        t0 = time.perf_counter()
        result = dg.materialize(
            [learning_signals], resources=resources(), partition_key=WEEK.isoformat(), raise_on_error=False
        )
        seconds = time.perf_counter() - t0
        rows = {
            e.asset_key.path[-1]: e.materialization.metadata["dagster/row_count"].value
            for e in result.get_asset_materialization_events()
        }
        # a retried step fails with "Exceeded max_retries": the errors that caused the retries say why
        failures = [
            e.event_specific_data.error.to_string().strip()
            for e in result.all_events
            if (e.is_step_up_for_retry or e.is_step_failure) and e.event_specific_data.error
        ]
    return {
        "success": result.success,
        "failure": "\n---\n".join(f[-1500:] for f in failures) or None,
        "seconds": seconds,
        "rows_written": rows,
        "peak_rss_mb": peak_rss_mb(),
        **peak,
    }


# --- ours: vectorised ------------------------------------------------------------------------
def measure_vectorized(path: Path) -> dict:

    import pandas as pd

    from kura_assets import sources
    from kura_assets.clustering import cluster_periods
    from kura_assets.signals import LineLedger, SignalRules, validate_staged, validation_database

    # The path the learning_signals asset takes: staged into DuckDB, validated there, signals read out.
    rules = SignalRules()
    con = validation_database(rules)
    t0 = time.perf_counter()
    sources.stage_events(con, str(path), *rules.read_window(DAYS[0], DAYS[-1]))
    t1 = time.perf_counter()
    staged = validate_staged(con, DAYS[0], SALT, rules, last_day=DAYS[-1])
    signals = pd.concat([staged.signals(day) for day in staged.days], ignore_index=True)
    validated = time.perf_counter()
    best = {"cluster_day": float("inf"), "cluster_week": float("inf")}
    for _ in range(REPEATS):
        t2 = time.perf_counter()
        cluster_periods(signals, "day", DAYS)  # as the day asset does for a range of days
        t3 = time.perf_counter()
        week = cluster_periods(signals, "week", [WEEK])[WEEK]
        t4 = time.perf_counter()
        best = {"cluster_day": min(best["cluster_day"], t3 - t2), "cluster_week": min(best["cluster_week"], t4 - t3)}
    t = {"ingest": t1 - t0, "validate": validated - t1, **best}
    raw_rows, scores = LineLedger.of(staged.line_counts, staged.days).lines, {}
    for sig, score in zip(week.clusters["cluster_signature"], week.clusters["score"]):
        scores[sig] = float(score)
    return {
        "times": t,
        "raw_rows": raw_rows,
        "signals": len(signals),
        "week_clusters": len(scores),
        "scores": scores,
        "peak_rss_mb": peak_rss_mb(),
    }


# --- baseline: one Python loop per row ------------------------------------------------------------
FACETS = ("issue_type", "invariant_id", "agent_version", "workflow_phase", "modality")
CATEGORY_IMPACT = {"friction_signal": 0.82, "quality_signal": 0.68, "correction_signal": 0.60, "outcome_signal": 0.42}
MISMATCH = {"critical": 1.0, "warning": 0.5, "info": 0.1, "none": 0.0}
BAND = {"high": 1.0, "medium": 0.92, "low": 0.75}


def _parse_ts(text):
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc).replace(tzinfo=None)
    except (AttributeError, ValueError):
        return None


def cluster_loop(events: list) -> dict:
    """Day and week clusters of the validated events, one Python loop per event (the plain baseline)."""
    events.sort(key=lambda e: (e[0], e[1]))

    def new_bucket():
        return {
            "n": 0,
            "users": defaultdict(int),
            "sev": 0.0,
            "imp": 0.0,
            "first": None,
            "last": None,
            "signals": defaultdict(int),
            "bands": defaultdict(int),
            "phases": defaultdict(int),
            "sources": set(),
            "examples": [],
            "dropped": 0,
            "facets": None,
        }

    buckets = defaultdict(new_bucket)
    for captured, event_id, pseudo, data, sig in events:
        signature = data["cluster_signature"]  # a cluster is the events of one upstream signature
        st = data["signal_type"]
        mismatch = (
            MISMATCH.get((data.get("attributes") or {}).get("mismatch_severity"), 0.5)
            if st == "save_claim_mismatch_attempt"
            else 1.0
        )
        sev = REFERENCE_SEVERITY.get(st, 0.6) * mismatch * BAND[sig["confidence_band"]]
        imp = REFERENCE_IMPACT.get(st, CATEGORY_IMPACT.get(data.get("category"), 0.6)) * mismatch
        for bucket in (("day", captured.date().isoformat()), ("week", WEEK.isoformat())):
            b = buckets[(bucket, signature)]
            if b["users"][pseudo] >= 3:
                b["dropped"] += 1
                continue
            b["users"][pseudo] += 1
            b["n"] += 1
            b["sev"] += sev
            b["imp"] += imp
            b["first"] = b["first"] or captured
            b["last"] = captured
            b["signals"][st] += 1
            b["bands"][sig["confidence_band"]] += 1
            b["phases"][sig["workflow_phase"]] += 1
            b["sources"].add(data["cluster_signature"])
            b["examples"].append(
                (
                    -sev,
                    captured,
                    event_id,
                    st,
                    sig["confidence_band"],
                    sig["workflow_phase"],
                    data.get("attributes") or {},
                )
            )
            b["facets"] = min(
                b["facets"] or {k: sig[k] for k in FACETS},
                {k: sig[k] for k in FACETS},
                key=lambda f: [f[k] for k in FACETS],
            )
    scores, published = {}, []
    for ((granularity, period), signature), b in buckets.items():  # the output contract of each published cluster
        n, users = b["n"], len(b["users"])
        if n < 3 or users < 2:
            continue
        freq = min(1.0, n / 12)
        repro = (min(1.0, users / 4) + min(1.0, (n / users) / 2)) / 2
        severity, impact = min(1, max(0, b["sev"] / n)), min(1, max(0, b["imp"] / n))
        score = round(freq * severity * impact * repro, 6)
        top = sorted(b["signals"].items(), key=lambda kv: (-kv[1], kv[0]))
        examples = [
            {
                "event_id": e[2],
                "captured_at": e[1].isoformat(),
                "signal_type": e[3],
                "confidence_band": e[4],
                "workflow_phase": e[5],
                "attributes": e[6],
            }
            for e in sorted(b["examples"])[:3]
        ]
        published.append(
            {
                "cluster_signature": signature,
                "period_key": period,
                "score": score,
                "summary": f"{b['facets']['issue_type']}: {n} events from {users} users; signals: {top[:3]}",
                "score_factors": json.dumps(
                    {
                        "frequency": round(freq, 6),
                        "severity": round(severity, 6),
                        "impact": round(impact, 6),
                        "reproducibility": round(repro, 6),
                    },
                    sort_keys=True,
                ),
                "aggregates": json.dumps(
                    {
                        "event_count": n,
                        "unique_pseudo_users": users,
                        "first_seen": b["first"].isoformat(),
                        "last_seen": b["last"].isoformat(),
                        "signal_counts": dict(b["signals"]),
                        "top_signals": [t for t, _ in top],
                        "confidence_bands": dict(b["bands"]),
                        "source_cluster_signatures": sorted(b["sources"]),
                    },
                    sort_keys=True,
                ),
                "affected_workflow_phases": json.dumps(sorted(b["phases"].items(), key=lambda kv: (-kv[1], kv[0]))),
                "representative_examples": json.dumps(examples, sort_keys=True),
                "false_positive_controls": json.dumps(
                    {
                        "min_support": 3,
                        "min_unique_users": 2,
                        "max_events_per_user": 3,
                        "dominance_dropped_events": b["dropped"],
                        "status": "published",
                    }
                ),
            }
        )
        if granularity == "week":
            scores[signature] = score
    return scores


def measure_loop(path: Path) -> dict:
    t0 = time.perf_counter()
    rows, retracted = [], set()
    with path.open() as f:
        for line in f:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if row.get("event_type") == "event.retracted":
                retracted.add((row.get("data") or {}).get("retracted_event_id"))
            elif isinstance(row, dict):
                rows.append(row)
    t1 = time.perf_counter()
    events, seen = [], set()
    week_start, week_end = (
        datetime.combine(WEEK, datetime.min.time()),
        datetime.combine(WEEK + timedelta(days=7), datetime.min.time()),
    )
    for row in rows:  # the reference's checks, one row at a time
        data = row.get("data")
        if (
            not isinstance(data, dict)
            or data.get("schema_version") != 1
            or not isinstance(data.get("signal_type"), str)
        ):
            continue
        if data.get("category") not in CATEGORY_IMPACT:
            continue
        if len(json.dumps(data)) > 64 * 1024 or row.get("id") in seen:
            continue
        seen.add(row.get("id"))
        row_time, captured = _parse_ts(row.get("timestamp")), _parse_ts(data.get("captured_at"))
        if (
            row_time is None
            or captured is None
            or not (row_time - timedelta(days=1) <= captured <= row_time + timedelta(minutes=5))
        ):
            continue
        if not (
            week_start <= captured < week_end
        ):  # a signal type the scoring does not know is scored by default weights
            continue
        if not row.get("user_id") or not re.fullmatch(
            r"u_[0-9a-f]{24}", str((data.get("user_ref") or {}).get("pseudonymized_user_id", ""))
        ):
            continue
        sig = data.get("signature")
        if not isinstance(sig, dict) or any(
            not isinstance(sig.get(k), str) or not sig.get(k) or "\x00" in sig[k] for k in FACETS
        ):
            continue
        if sig.get("confidence_band") not in BAND or not isinstance(data.get("cluster_signature"), str):
            continue
        if not re.fullmatch(r"[^\x00-\x1f\x7f]{1,128}", data["cluster_signature"]):
            continue
        if row["id"] in retracted or sig["confidence_band"] == "low":
            continue
        pseudo = hmac.new(SALT.encode(), row["user_id"].encode(), hashlib.sha256).hexdigest()[:24]
        events.append((captured, row["id"], pseudo, data, sig))
    t2 = time.perf_counter()
    cluster_seconds = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        scores = cluster_loop(list(events))
        cluster_seconds = min(cluster_seconds, time.perf_counter() - start)
    return {
        "times": {"ingest": t1 - t0, "validate": t2 - t1, "cluster_day_and_week": cluster_seconds},
        "raw_rows": len(rows),
        "signals": len(events),
        "week_clusters": len(scores),
        "scores": scores,
        "peak_rss_mb": peak_rss_mb(),
    }


def run_child(kind: str, path: Path, check: bool = True, max_rss_gb: float = 20, max_s: float = 25 * 60) -> dict:
    """A fresh process measuring ``kind``; its resident memory polled every 0.2 s (``polled_peak_mb``), and
    stopped, by its pid, above ``max_rss_gb`` or ``max_s`` (the machine must survive the benchmark)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0, peak, why = time.perf_counter(), 0.0, None
        child = subprocess.Popen([sys.executable, __file__, "--measure", kind, str(path)], stdout=out, stderr=err)
        while child.poll() is None:
            peak = max(peak, rss_mb(child.pid))
            if peak > max_rss_gb * 1024 or time.perf_counter() - t0 > max_s:
                why = f"stopped at {rss_mb(child.pid):,.0f} MB resident after {time.perf_counter() - t0:.0f} s"
                child.kill()
                child.wait()
            time.sleep(0.2)
        if why or child.returncode:
            err.seek(0)
            error = why or f"exit {child.returncode}: {err.read()[-3000:]}"
            if check:
                raise RuntimeError(f"{kind}: {error}")
            return {"error": error, "polled_peak_mb": peak}
        out.seek(0)
        return {**json.loads(out.read().strip().splitlines()[-1]), "polled_peak_mb": peak}


def large_day(n_lines: int) -> int:
    t0 = time.perf_counter()
    path = generate_large_day(n_lines)
    lines = sum(1 for _ in path.open("rb"))
    size = path.stat().st_size
    print(
        f"input: {path.name}, one day ({WEEK}), {lines:,} lines, {size / 1e6:,.0f} MB, {size / lines:,.0f} bytes a line "
        f"(generated in {time.perf_counter() - t0:.1f} s, not timed)"
    )
    rv, asset = run_child("frames", path, check=False), run_child("asset", path, check=False)
    print(f"\n{'stage':<22} {'seconds':>8} {'peak RSS MB':>12} {'child maxrss MB':>16}   where the child peaked")
    ok = True
    for stage, r, polled in (
        ("frames: read_events", rv.get("read"), None),
        ("frames: validate", rv.get("validate"), rv.get("polled_peak_mb")),
        ("asset (streamed)", asset if "error" not in asset else None, asset.get("polled_peak_mb")),
    ):
        if r is None:
            failed = rv if stage.startswith("frames") else asset
            print(f"{stage:<22} failed (polled peak {failed['polled_peak_mb']:,.0f} MB): {failed['error'][-600:]}")
            ok = ok and failed is rv  # the baseline may run out of the guard's memory; the asset may not
            continue
        maxrss = r.get("maxrss_mb", r.get("peak_rss_mb"))
        shown = f"{polled:12,.0f}" if polled is not None else f"{'(same child)':>12}"
        print(f"{stage:<22} {r['seconds']:8.1f} {shown} {maxrss:16,.0f}   {r['at']} ({r['mb']:,.0f} MB)")
        ok = ok and (maxrss < 2048 or stage.startswith("frames"))  # the target is the asset's
    if "error" not in rv:
        print(f"\n{rv['raw_rows']:,} raw rows, {rv['signals']:,} signals, {rv['rejects']:,} rejects")
    if "error" not in asset:
        print(f"asset run success: {asset['success']}, rows written: {asset['rows_written']}")
        if asset["failure"]:
            print(f"asset failure: {asset['failure']}")
        ok = ok and asset["success"]
    print("target: peak < 2,048 MB whatever the file size (peak RSS: polled by the parent every 0.2 s)")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--large-day", type=int, nargs="?", const=2_000_000, metavar="LINES")
    parser.add_argument("--measure", nargs=2, metavar=("KIND", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        kind, file = args.measure
        measures = {
            "vectorized": measure_vectorized,
            "loop": measure_loop,
            "frames": measure_frames,
            "asset": measure_asset,
        }
        print(json.dumps(measures[kind](Path(file))))
        return 0
    if args.large_day:
        return large_day(args.large_day)

    t0 = time.perf_counter()
    path = generate(args.events)
    lines = sum(1 for _ in path.open())
    print(
        f"input: {path.name}, {lines:,} lines, {path.stat().st_size / 1e6:,.0f} MB (generated in {time.perf_counter() - t0:.1f} s, not timed)"
    )
    ours, loop = run_child("vectorized", path), run_child("loop", path)

    t, b = ours["times"], loop["times"]
    total = sum(t.values())
    ours_cluster = t["cluster_day"] + t["cluster_week"]
    print(
        f"\nours (DuckDB + pandas, vectorised): {ours['raw_rows']:,} raw rows of the week, {ours['signals']:,} signals, {ours['week_clusters']} week clusters"
    )
    for stage, seconds in t.items():
        rate = (ours["raw_rows"] if stage in ("ingest", "validate") else ours["signals"]) / seconds
        print(f"  {stage:<14} {seconds:7.2f} s   {rate:>12,.0f} events/s")
    print(
        f"  {'whole week':<14} {total:7.2f} s   {ours['raw_rows'] / total:>12,.0f} events/s   peak RSS {ours['peak_rss_mb']:,.0f} MB"
    )

    loop_total = sum(b.values())
    print(f"\nbaseline (per-row Python loop): {loop['signals']:,} signals, {loop['week_clusters']} week clusters")
    for stage, seconds in b.items():
        print(f"  {stage:<22} {seconds:7.2f} s")
    print(f"  {'whole week':<22} {loop_total:7.2f} s   peak RSS {loop['peak_rss_mb']:,.0f} MB")

    # Weights are short decimals, so exact scores often sit on a 6th-decimal rounding tie that two
    # float summation orders can break differently: compare within one unit of the 6th decimal.
    keys = set(ours["scores"]) | set(loop["scores"])
    exact = sum(ours["scores"].get(k) == loop["scores"].get(k) for k in keys)
    same = set(ours["scores"]) == set(loop["scores"]) and all(
        abs(ours["scores"][k] - loop["scores"][k]) <= 1.01e-6 for k in ours["scores"]
    )
    print(
        f"\nsame week clusters and scores (within 1e-6) on both sides: {same}; "
        f"{exact} of {len(keys)} identical to the last digit"
    )
    print(f"clustering speed-up (day + week): {b['cluster_day_and_week'] / ours_cluster:5.1f}x   (target >= 10x)")
    print(f"whole-week speed-up:              {loop_total / total:5.1f}x")
    print(f"whole week: {total:.1f} s (target < 20 s); peak memory {ours['peak_rss_mb']:,.0f} MB (target < 2,048 MB)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
