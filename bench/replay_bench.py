"""Replay benchmark: one tick of session-replay segment embeddings -> clusters -> tasks, ours
against the clustering we replace, on the same data in the same run, each case in its own process.

HDBSCAN 2/1 is the configuration of the replay clustering this product replaces
(``shared/reference/video-segment-clustering-peer.md``): PCA to 100 dims, then
``HDBSCAN(min_cluster_size=2, min_samples=1, leaf)``, clusters matched to tasks by cosine distance
< 0.3. HDBSCAN 8/5 (``min_cluster_size=8, min_samples=5``, leaf, on PCA-50) is the best plain
HDBSCAN measured on the real set below, as a second yardstick.

Planted data (speed): N segments of 3,072-dim float32 unit embeddings (as text-embedding-3-large
returns): 90% from planted topics (a random unit direction each; a segment is the direction plus
gaussian noise of norm ~0.5), 10% random noise; the team already has 2,000 tasks, 300 of them
centred on planted topics. Ours: validate -> pseudonymize -> tick_clusters (beside as many of the
previous tick's segments as bring it to 10,000: none at 30,000) -> update_tasks (labels,
priority, links); HDBSCAN 2/1 clusters the tick alone. Also N random unit vectors (no topics): how many points each clustering
puts in clusters.

Real data (quality): CLINC150's 4,500 test queries in 150 intents and its 1,000 out-of-scope
queries, embedded by all-MiniLM-L6-v2 (``../shared/data/clinc150_minilm.parquet``, read when
present), as one tick and spread over four ticks; coverage, ARI and NMI on in-scope queries,
out-of-scope queries in multi-segment tasks, intents in a single task and task purity
(``replay_assets.evaluation.task_quality``).

    python bench/replay_bench.py [--n 30000] [--topics 600] [--large 100000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DIM, SEED, TEAM, SALT = 3072, 0, 1, "bench-salt"
TASKS, TOPIC_TASKS, ANCHORS = 2000, 300, 3
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
)
PHRASES = (
    "got an error and could not continue",
    "struggled to finish the step",
    "the page failed to load",
    "tried to submit repeatedly",
    "hit a timeout and gave up",
)
NEUTRAL = (
    "User browsed the pricing page",
    "User read the changelog",
    "User opened the profile page and scrolled",
    "User viewed a report",
    "User watched the product tour video",
)
SLOW_REASON = (
    "HDBSCAN 2/1 not run at {n:,}: exact HDBSCAN at 100 dims does not finish within 4 minutes above "
    "~10-20k points (30k already takes 90-170 s)"
)
REAL_DATA = ROOT.parent / "shared" / "data" / "clinc150_minilm.parquet"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def unit_rows(x):
    import numpy as np

    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


# --- data (seeded, identical for both sides; never timed) ----------------------------------------
def planted_rows(rng, directions, n: int):
    """``n`` unit rows: 90% a planted topic's direction plus gaussian noise of norm ~0.5, 10% random."""
    import numpy as np

    topics = len(directions)
    n_noise = n // 10
    topic_of = np.concatenate([np.arange(n - n_noise) % topics, np.full(n_noise, -1)])
    rng.shuffle(topic_of)
    x = rng.standard_normal((n, DIM), dtype=np.float32)  # noise rows stay gaussian
    for s in range(0, n, 8192):  # in blocks, to keep the generator's own memory small
        block, t = x[s : s + 8192], topic_of[s : s + 8192]
        m = t >= 0
        block[m] = directions[t[m]] + block[m] * np.float32(0.5 / np.sqrt(DIM))
        unit_rows(block)
    return x, topic_of


def planted(n: int, topics: int, earlier: int = 0):
    """The tick's raw segments, the planted topic per document_id ("" = noise), and the rest of the
    window the tick clusters: ``earlier`` segments of the day before it (linked to their topic's
    task; noise still waiting), the team's ``TASKS`` existing tasks (``TOPIC_TASKS`` of them on
    planted topics) each with ``ANCHORS`` anchor segments, and the team's tasks and links."""
    import numpy as np
    import pandas as pd

    from replay_assets.pipeline import LINK_COLUMNS, TASK_COLUMNS, TaskState

    rng = np.random.default_rng(SEED)
    directions = unit_rows(rng.standard_normal((topics, DIM), dtype=np.float32))
    tick_end = pd.Timestamp("2025-06-02 12:00")
    x, topic_of = planted_rows(rng, directions, n)
    raw = segment_rows(rng, x, topic_of, tick_end - pd.Timedelta(minutes=30), 1800, "s")
    truth = pd.Series([f"T{t:04d}" if t >= 0 else "" for t in topic_of], index=raw["document_id"])

    k = min(TOPIC_TASKS, topics // 2)
    on_topic = np.sort(rng.choice(topics, k, replace=False))
    ids = [f"task_old_{i:04d}" for i in range(TASKS)]
    anchor_topic = np.repeat(np.concatenate([on_topic, np.full(TASKS - k, -1)]), ANCHORS)
    noise = rng.standard_normal((len(anchor_topic), DIM), dtype=np.float32)
    on = anchor_topic[:, None] >= 0  # an anchor of a topic task is a segment of that topic; the others' are anywhere
    anchor_x = unit_rows(
        np.where(on, directions[np.maximum(anchor_topic, 0)] + noise * np.float32(0.5 / np.sqrt(DIM)), noise)
    )
    anchors = segment_rows(rng, anchor_x.astype(np.float32), anchor_topic, tick_end - pd.Timedelta(days=3), 3600, "a")
    anchors["task_id"] = np.repeat(ids, ANCHORS)
    anchors["tick_end"] = tick_end - pd.Timedelta(days=3)
    day_x, day_topic = planted_rows(rng, directions, earlier)
    day = segment_rows(rng, day_x, day_topic, tick_end - pd.Timedelta(hours=23.5), 23 * 3600, "e")
    topic_task = {int(t): ids[i] for i, t in enumerate(on_topic)}
    day["task_id"] = [topic_task.get(int(t), f"task_day_{t:04d}") if t >= 0 else None for t in day_topic]
    day["tick_end"] = (day["inserted_at"] - pd.Timedelta(seconds=1)).dt.ceil("30min")
    earlier_rows = pd.concat([anchors, day], ignore_index=True)
    earlier_x = np.concatenate([anchor_x, day_x]) if len(day) else anchor_x

    task_ids = sorted(set(ids) | set(day["task_id"].dropna()))
    seen = tick_end - pd.to_timedelta(rng.integers(1, 30 * 24, len(task_ids)), unit="h")
    tasks = pd.DataFrame({c: None for c in TASK_COLUMNS}, index=range(len(task_ids))).assign(
        task_id=task_ids,
        title=[f"Fix old issue {i}" for i in range(len(task_ids))],
        description="an existing task",
        keywords="[]",
        label_source="keywords",
        status="unchanged",
        occurrences=rng.integers(2, 60, len(task_ids)),
        distinct_users=3,
        mean_impact=rng.uniform(0, 1, len(task_ids)).round(6),
        segments_this_tick=0,
        first_seen=seen - pd.Timedelta(days=7),
        last_occurrence=seen,
        priority=0.0,
        users_factor=0.0,
        impact_factor=0.0,
        recency_factor=0.0,
    )
    linked = earlier_rows[earlier_rows["task_id"].notna()]
    links = linked.assign(user_ref="p_" + linked["distinct_id"], impact=0.3, distance=0.1)[["task_id", *LINK_COLUMNS]]
    return (
        raw,
        truth,
        (earlier_rows.drop(columns=["embedding"]), earlier_x),
        TaskState(tasks, links),
        on_topic,
        ids[:k],
        tick_end,
    )


def segment_rows(rng, x, topic_of, start, span_s: int, prefix: str):
    """Rows of the segment contract for embeddings ``x`` arriving evenly over ``span_s`` seconds from ``start``."""
    import numpy as np
    import pandas as pd

    n = len(x)
    inserted = start + pd.to_timedelta(np.arange(n) * (span_s / max(n, 1)), unit="s")
    session = [f"{prefix}{i // 3:06d}" for i in range(n)]
    start_s = (np.arange(n) % 3) * 60
    phrase = rng.integers(0, len(PHRASES), n)
    begin = inserted - pd.Timedelta(minutes=5) + pd.to_timedelta(start_s, unit="s")
    return pd.DataFrame(
        {
            "team_id": TEAM,
            "document_id": [f"{s}:{a}:{a + 45}" for s, a in zip(session, start_s)],
            "session_id": session,
            "distinct_id": [f"user-{u:05d}" for u in rng.integers(0, max(50, n // 15), n)],
            "start_time": begin,
            "end_time": begin + pd.Timedelta(seconds=45),
            "timestamp": begin,
            "inserted_at": inserted,
            "content": [
                f"User hit problem T{t:04d} in {AREAS[t % len(AREAS)]}: {PHRASES[p]}" if t >= 0 else NEUTRAL[p]
                for t, p in zip(topic_of, phrase)
            ],
            "embedding": list(x),
        }
    )


def random_unit(n: int):
    import numpy as np

    return unit_rows(np.random.default_rng(SEED + 1).standard_normal((n, DIM), dtype=np.float32))


def quality(truth, labels) -> dict:
    """Clusters, ARI on the clustered topic points, % topic clustered, % noise kept (labels: -1 = none)."""
    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    truth, labels = np.asarray(truth), np.asarray(labels)
    topic, clustered = truth != "", labels >= 0
    both = topic & clustered
    sizes = np.bincount(labels[clustered]) if clustered.any() else np.zeros(0, dtype=int)
    return {
        "clusters": int((sizes > 0).sum()),
        "median_size": float(np.median(sizes[sizes > 0])) if clustered.any() else 0.0,
        "ari": float(adjusted_rand_score(truth[both], labels[both])) if both.any() else float("nan"),
        "topic_clustered_pct": 100 * float(clustered[topic].mean()),
        "noise_kept_pct": 100 * float((~clustered[~topic]).mean()) if (~topic).any() else float("nan"),
    }


# --- the measured cases (each in its own process) --------------------------------------------------
def ours_planted(n: int, topics: int, earlier: int = 0) -> dict:
    import numpy as np
    import pandas as pd

    from platform_core.privacy import pseudonymize
    from replay_assets.pipeline import ReplayParams, Window, run_tick
    from replay_assets.segments import validate_segments

    raw, truth, (before, before_x), state, _, topic_tasks, tick_end = planted(n, topics, earlier)
    rss_data = peak_rss_mb()
    t0 = time.perf_counter()
    v = validate_segments(raw)
    t1 = time.perf_counter()
    segments = v.segments.assign(
        user_ref=pseudonymize(v.segments["distinct_id"], SALT), tick_end=tick_end, task_id=None
    )
    t2 = time.perf_counter()
    rows = pd.concat([before, segments], ignore_index=True).drop(columns=["team_id", "distinct_id"], errors="ignore")
    window = Window(rows, np.concatenate([before_x, v.embeddings]))  # earlier rows first: canonical order
    result = run_tick(TEAM, tick_end, window, state, ReplayParams())
    t3 = time.perf_counter()
    clusters = result.clusters[result.clusters["kind"] == "cluster"]
    cluster_of = {
        d: c for c, ids in zip(clusters["cluster_id"], clusters["member_document_ids"]) for d in json.loads(ids)
    }
    labels = np.array([cluster_of.get(d, -1) for d in segments["document_id"]])
    status = result.tasks.set_index("task_id")["status"]
    return {
        "times": {"validate": t1 - t0, "pseudonymize": t2 - t1, "run_tick": t3 - t2},
        "window": len(rows),
        "rss_after_data_mb": rss_data,
        "peak_rss_mb": peak_rss_mb(),
        "rejects": len(v.rejects),
        "quality": quality(truth.loc[segments["document_id"]].to_numpy(), labels),
        "one_segment": int((result.clusters["kind"] == "high_impact_noise").sum()),
        "links": len(result.links),
        "status": {k: int(c) for k, c in status.value_counts().items()},
        "topic_tasks_updated": int((status.loc[topic_tasks] == "updated").sum()),
        "topic_tasks": len(topic_tasks),
    }


def hdbscan_cluster(x, dims: int = 100, min_cluster_size: int = 2, min_samples: int = 1):
    """PCA (sklearn defaults, no normalization), then HDBSCAN with leaf selection (HDBSCAN 2/1 by default)."""
    import hdbscan
    import numpy as np
    from sklearn.decomposition import PCA

    np.random.seed(SEED)  # PCA's randomized solver draws from the global state: seeded, config untouched
    t0 = time.perf_counter()
    z = PCA(n_components=min(dims, len(x))).fit_transform(x)
    t1 = time.perf_counter()
    labels = hdbscan.HDBSCAN(
        min_cluster_size=min_cluster_size, min_samples=min_samples, metric="euclidean", cluster_selection_method="leaf"
    ).fit_predict(z)
    return labels, {"pca": t1 - t0, "hdbscan": time.perf_counter() - t1}


def hdbscan_planted(n: int, topics: int) -> dict:
    import numpy as np

    raw, truth, (before, before_x), _, _, topic_tasks, _ = planted(n, topics)  # it clusters the tick alone
    rss_data = peak_rss_mb()
    x = np.stack(raw["embedding"].to_numpy())  # its np.array(embeddings), not timed
    labels, times = hdbscan_cluster(x)
    t0 = time.perf_counter()
    members = np.flatnonzero(labels >= 0)
    order = members[np.argsort(labels[members], kind="stable")]
    ids, starts, counts = np.unique(labels[order], return_index=True, return_counts=True)
    centroids = np.add.reduceat(x[order].astype(np.float64), starts, axis=0) / counts[:, None]  # mean of the originals
    # Its tasks' centroids: the mean of each existing task's segments (its anchors here).
    task_rows = before["task_id"].str.startswith("task_old_").to_numpy()
    tasks = unit_rows(np.add.reduceat(before_x[task_rows], np.arange(0, task_rows.sum(), ANCHORS), axis=0))
    similarity = unit_rows(centroids) @ tasks.T
    best = similarity.argmax(axis=1)
    matched = 1.0 - similarity[np.arange(len(ids)), best] < 0.3
    times["matching"] = time.perf_counter() - t0
    return {
        "times": times,
        "rss_after_data_mb": rss_data,
        "peak_rss_mb": peak_rss_mb(),
        "quality": quality(truth.to_numpy(), labels),
        "matched": int(matched.sum()),
        "new": int((~matched).sum()),
        "topic_tasks_updated": len(set(best[matched]) & set(range(len(topic_tasks)))),
        "topic_tasks": len(topic_tasks),
    }


def random_case(side: str, n: int) -> dict:
    import numpy as np

    from replay_assets.clustering import cluster_embeddings
    from replay_assets.pipeline import ReplayParams

    x = random_unit(n)
    rss_data = peak_rss_mb()
    if side == "ours":
        t0 = time.perf_counter()
        labels = cluster_embeddings(x, ReplayParams()).labels
        times = {"cluster_embeddings": time.perf_counter() - t0}
    else:
        labels, times = hdbscan_cluster(x)
    q = quality(np.full(n, ""), labels)
    return {
        "times": times,
        "rss_after_data_mb": rss_data,
        "peak_rss_mb": peak_rss_mb(),
        "clusters": q["clusters"],
        "median_size": q["median_size"],
        "clustered_pct": 100 - q["noise_kept_pct"],
    }


def threshold_tasks(x, tick_of, clusterer):
    """Links of the replaced system's tasks: each tick clustered on its own, each cluster's mean
    direction joins the nearest task within cosine distance 0.3 (occurrence-weighted), else opens one."""
    import numpy as np
    import pandas as pd

    centroids, counts, links = [], [], []
    for tick in range(int(tick_of.max()) + 1):
        rows = np.flatnonzero(tick_of == tick)
        labels, _ = clusterer(x[rows])
        for c in np.unique(labels[labels >= 0]):
            members = rows[labels == c]
            mean = unit_rows(x[members].mean(axis=0, keepdims=True))[0]
            sims = np.array([m @ mean for m in centroids])
            best = int(sims.argmax()) if len(sims) else -1
            if best >= 0 and 1.0 - sims[best] < 0.3:
                merged = centroids[best] * counts[best] + mean * len(members)
                centroids[best], counts[best] = merged / np.linalg.norm(merged), counts[best] + len(members)
            else:
                best = len(centroids)
                centroids.append(mean)
                counts.append(len(members))
            links += [(f"q{r}:0:5", f"task{best}") for r in members]
    return pd.DataFrame(links, columns=["document_id", "task_id"])


def real_case(side: str, ticks: int) -> dict:
    import numpy as np
    import pandas as pd

    from replay_assets.evaluation import labelled_segments, replay_labelled, row_of, task_quality
    from replay_assets.partitions import TICK

    frame = pd.read_parquet(REAL_DATA)
    x = np.stack(frame["embedding"].to_numpy()).astype(np.float32)
    labels = np.where(frame["in_scope"], frame["intent"], "oos")
    t0 = time.perf_counter()
    if side == "ours":
        links = replay_labelled(frame["text"], x, ticks)
    else:  # the same arrival order and ticks as ours
        raw = labelled_segments(frame["text"], x, pd.Timestamp("2026-11-20 10:30"), ticks)
        tick_of = np.empty(len(x), dtype=np.int64)
        tick_of[row_of(raw["document_id"])] = ((raw["inserted_at"] - raw["inserted_at"].min()) // TICK).to_numpy()
        dims, size, samples = (100, 2, 1) if side == "hdbscan_2_1" else (50, 8, 5)
        links = threshold_tasks(x, tick_of, lambda part: hdbscan_cluster(part, dims, size, samples))
    return {
        "seconds": time.perf_counter() - t0,
        "quality": task_quality(links, labels, noise_label="oos"),
        "peak_rss_mb": peak_rss_mb(),
    }


# --- parent: run the cases, print figures, ratios and the table ---------------------------------
def run_case(side: str, data: str, n: int = 0, topics: int = 0, ticks: int = 1, earlier: int = 0) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--case",
        side,
        "--data",
        data,
        "--n",
        str(n),
        "--topics",
        str(topics),
        "--ticks",
        str(ticks),
        "--earlier",
        str(earlier),
    ]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"case {side}/{data}/{n} failed:\n{out.stderr}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"  [{side} {data} {n or ticks:,}: process took {time.perf_counter() - t0:.0f} s]", file=sys.stderr, flush=True
    )
    return result


def show(title: str, r: dict, target_s: float | None = None) -> None:
    total = sum(r["times"].values())
    print(f"\n{title}  (RSS after data generation {r['rss_after_data_mb']:,.0f} MB)")
    for stage, seconds in r["times"].items():
        print(f"  {stage:<18} {seconds:8.2f} s")
    goal = f" (target < {target_s:.0f} s)" if target_s else ""
    print(f"  {'total':<18} {total:8.2f} s{goal}   peak RSS {r['peak_rss_mb']:,.0f} MB")
    if "quality" in r:
        q = r["quality"]
        print(
            f"  clusters {q['clusters']:,} (median size {q['median_size']:.0f}), ARI on clustered topic points {q['ari']:.3f}, "
            f"topic segments clustered {q['topic_clustered_pct']:.1f}%, planted noise kept as noise {q['noise_kept_pct']:.1f}%"
        )
    if "status" in r:
        s = r["status"]
        print(
            f"  tasks: {s.get('new', 0):,} new, {s.get('updated', 0):,} updated, {s.get('unchanged', 0):,} unchanged; "
            f"{r['one_segment']:,} one-segment high-impact clusters; {r['links']:,} links; {r['rejects']} rejects; "
            f"pre-existing topic tasks updated {r['topic_tasks_updated']} / {r['topic_tasks']}"
        )
    elif "matched" in r:
        print(
            f"  clusters matched to existing tasks {r['matched']:,}, new tasks {r['new']:,}; "
            f"pre-existing topic tasks matched {r['topic_tasks_updated']} / {r['topic_tasks']}"
        )


def real_table() -> None:
    """CLINC150 as one tick and over four ticks: ours beside HDBSCAN 2/1 and HDBSCAN 8/5, same run."""
    names = {"ours": "ours", "hdbscan_2_1": "HDBSCAN 2/1 on PCA-100 (replaced)", "hdbscan_8_5": "HDBSCAN 8/5 on PCA-50"}
    print("\nreal data: CLINC150 (4,500 queries, 150 intents, + 1,000 out-of-scope), all-MiniLM-L6-v2, 384 dims")
    print(
        "| method | one tick: coverage / ARI / NMI / out-of-scope in tasks | four ticks: intents in a single task "
        "/ all their segments in one task / purity / out-of-scope in tasks | seconds (1 + 4 ticks) |\n|---|---|---|---|"
    )
    for side, name in names.items():
        one, four = run_case(side, "real", ticks=1), run_case(side, "real", ticks=4)
        a, b = one["quality"], four["quality"]
        print(
            f"| {name} | {a['coverage']:.2f} / {a['ari']:.2f} / {a['nmi']:.2f} / {a['noise_in_tasks']:.1%} "
            f"| {b['single_task']:.2f} / {b['consolidated']:.2f} / {b['purity']:.2f} / {b['noise_in_tasks']:.1%} "
            f"| {one['seconds']:.1f} + {four['seconds']:.1f} |"
        )
    print(
        "targets: one tick coverage >= 0.65, ARI >= 0.80, NMI >= 0.93, out-of-scope <= 10%; "
        "four ticks >= 95% of intents in one task, purity >= 0.90"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30_000, help="segments in the compared tick")
    parser.add_argument("--topics", type=int, default=600, help="planted topics at --n")
    parser.add_argument("--large", type=int, default=100_000, help="ours-only size (topics scaled; 0 = skip)")
    parser.add_argument("--quick", action="store_true", help="3,000 segments, 60 topics, ours-only at 10,000")
    parser.add_argument("--case", choices=["ours", "hdbscan_2_1", "hdbscan_8_5"], help=argparse.SUPPRESS)
    parser.add_argument("--data", choices=["planted", "random", "real"], help=argparse.SUPPRESS)
    parser.add_argument("--ticks", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--earlier", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        if args.data == "real":
            result = real_case(args.case, args.ticks)
        elif args.data == "random":
            result = random_case(args.case, args.n)
        else:
            result = (
                ours_planted(args.n, args.topics, args.earlier)
                if args.case == "ours"
                else hdbscan_planted(args.n, args.topics)
            )
        print(json.dumps(result))
        return 0
    if args.quick:
        args.n, args.topics, args.large = 3_000, 60, min(args.large, 10_000)

    n, topics = args.n, args.topics
    large_topics = max(1, round(topics * args.large / n))
    print(
        f"data: {n:,} segments x {DIM:,} dims, {topics:,} planted topics + {n // 10:,} noise (10%); "
        f"{TASKS:,} existing tasks, {min(TOPIC_TASKS, topics // 2)} on planted topics; seed {SEED}; "
        f"each case in its own process",
        flush=True,
    )
    load_start = os.getloadavg()[0]
    ours, h21 = run_case("ours", "planted", n, topics), run_case("hdbscan_2_1", "planted", n, topics)
    ours_rnd, h21_rnd = run_case("ours", "random", n, topics), run_case("hdbscan_2_1", "random", n, topics)
    # The large case is a tick of a day's window: the tick's own share of it, the day before it.
    large = (
        run_case("ours", "planted", args.large // 48, large_topics, earlier=args.large - args.large // 48)
        if args.large
        else None
    )
    large_rnd = run_case("ours", "random", args.large, large_topics) if args.large else None

    show(f"ours, {n:,} segments", ours, 10 if n == 30_000 else None)
    show(f"HDBSCAN 2/1 (PCA 100 + HDBSCAN leaf, cosine distance < 0.3), {n:,} segments", h21)
    ours_total, h21_total = sum(ours["times"].values()), sum(h21["times"].values())
    h21_cluster_s = h21["times"]["pca"] + h21["times"]["hdbscan"]
    print(
        f"\nclustering: HDBSCAN 2/1 {h21_cluster_s:.1f} s / ours run_tick (cluster, match, label, priority, links) {ours['times']['run_tick']:.1f} s "
        f"= {h21_cluster_s / ours['times']['run_tick']:.1f}x"
    )
    print(
        f"end to end: HDBSCAN 2/1 {h21_total:.1f} s (clustering + matching only) / ours {ours_total:.1f} s "
        f"(validation, labels, priority and links included) = {h21_total / ours_total:.1f}x"
    )
    print(
        f"\nrandom unit vectors, {n:,} points (no topics): ours puts {ours_rnd['clustered_pct']:.1f}% in "
        f"{ours_rnd['clusters']:,} clusters ({sum(ours_rnd['times'].values()):.1f} s); HDBSCAN 2/1 puts "
        f"{h21_rnd['clustered_pct']:.1f}% in {h21_rnd['clusters']:,} clusters, median size "
        f"{h21_rnd['median_size']:.0f} ({sum(h21_rnd['times'].values()):.1f} s)"
    )
    if large:
        show(
            f"ours, a tick with a 24-hour window of {args.large:,} segments ({large_topics:,} planted topics)",
            large,
            30 if args.large == 100_000 else None,
        )
        print(
            f"  random unit vectors, {args.large:,} points: ours puts {large_rnd['clustered_pct']:.1f}% in "
            f"{large_rnd['clusters']:,} clusters ({sum(large_rnd['times'].values()):.1f} s, peak RSS {large_rnd['peak_rss_mb']:,.0f} MB)"
        )
        print(
            f"  {SLOW_REASON.format(n=args.large)}"
            if args.large > 20_000
            else f"  HDBSCAN 2/1 not run at {args.large:,} (ours only)"
        )

    def row(name, a, b, c="", target=""):
        return f"| {name} | {a} | {b} | {c} | {target} |"

    q, p = ours["quality"], h21["quality"]
    lq = large["quality"] if large else {}
    big = f"ours {args.large:,}" if large else "ours (large)"
    print(f"\n| figure | ours {n:,} | HDBSCAN 2/1 {n:,} | {big} | target |\n|---|---|---|---|---|")
    print(
        row(
            "clustering (s)",
            f"{ours['times']['run_tick']:.2f}",
            f"{h21_cluster_s:.2f} ({h21_cluster_s / ours['times']['run_tick']:.1f}x ours)",
            f"{large['times']['run_tick']:.2f}" if large else "-",
        )
    )
    print(
        row(
            "end to end (s)",
            f"{ours_total:.2f}",
            f"{h21_total:.2f} ({h21_total / ours_total:.1f}x ours)",
            f"{sum(large['times'].values()):.2f}" if large else "-",
            "< 10 s at 30k; < 30 s for a 100k window",
        )
    )
    print(
        row(
            "peak RSS (MB)",
            f"{ours['peak_rss_mb']:,.0f}",
            f"{h21['peak_rss_mb']:,.0f}",
            f"{large['peak_rss_mb']:,.0f}" if large else "-",
            "< 2,500 MB at 30k",
        )
    )
    print(
        row(
            "RSS after data generation (MB)",
            f"{ours['rss_after_data_mb']:,.0f}",
            f"{h21['rss_after_data_mb']:,.0f}",
            f"{large['rss_after_data_mb']:,.0f}" if large else "-",
        )
    )
    print(
        row(
            "clusters (planted topics)",
            f"{q['clusters']:,} ({topics:,})",
            f"{p['clusters']:,} ({topics:,})",
            f"{lq['clusters']:,} ({large_topics:,})" if large else "-",
        )
    )
    print(
        row("ARI, clustered topic points", f"{q['ari']:.3f}", f"{p['ari']:.3f}", f"{lq['ari']:.3f}" if large else "-")
    )
    print(
        row(
            "topic segments clustered",
            f"{q['topic_clustered_pct']:.1f}%",
            f"{p['topic_clustered_pct']:.1f}%",
            f"{lq['topic_clustered_pct']:.1f}%" if large else "-",
        )
    )
    print(
        row(
            "planted noise kept as noise",
            f"{q['noise_kept_pct']:.1f}%",
            f"{p['noise_kept_pct']:.1f}%",
            f"{lq['noise_kept_pct']:.1f}%" if large else "-",
        )
    )
    print(
        row(
            "topic tasks updated",
            f"{ours['topic_tasks_updated']} / {ours['topic_tasks']}",
            f"{h21['topic_tasks_updated']} / {h21['topic_tasks']} matched",
            f"{large['topic_tasks_updated']} / {large['topic_tasks']}" if large else "-",
        )
    )
    print(
        row(
            "random vectors put in clusters",
            f"{ours_rnd['clustered_pct']:.1f}%",
            f"{h21_rnd['clustered_pct']:.1f}%",
            f"{large_rnd['clustered_pct']:.1f}%" if large else "-",
        )
    )
    if REAL_DATA.exists():
        real_table()
    else:
        print(f"\nreal data: {REAL_DATA} is absent, the real-data figures are skipped")
    print(
        f"\nload average (1 min) at start {load_start:.2f}, at end {os.getloadavg()[0]:.2f}, on {os.cpu_count()} cores: "
        "above ~1 another process shared the CPU and the timings are noisy"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
