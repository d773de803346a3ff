"""What any clustering of a whole labelled set at once reaches on the replay task figures (the
ceiling the tick-by-tick tasks are measured against), and what this project's ticks reach beside it.

For each labelled dev set (``--data``, repeatable; by default CLINC150 and HWU64 embedded by
all-MiniLM-L6-v2 under ``../shared/data/``; columns ``text, intent, in_scope, embedding``), printed
as markdown tables, every clustering scored as tasks by ``replay_assets.evaluation.task_quality``
(intents in a single task, purity, in-scope coverage, ARI, NMI, out-of-scope queries in tasks):

1. Whole-set ceiling: every query clustered in one go (no ticks, nothing left for later) by the
   families we know to work on sentence embeddings: HDBSCAN (leaf and excess-of-mass selection, a
   grid of ``min_cluster_size`` x ``min_samples``), agglomerative clustering at cosine-distance
   thresholds (groups of fewer than 3 left out), and k-means told the true number of intents, on
   the unit rows and on PCA-50 of them. A target pair that no row reaches here cannot be reached
   by ticks that see the same queries a part at a time. The ceiling pair is the best intents in a
   single task S among configurations of purity >= ``--purity`` (its purity P); the tick targets
   derived from it are purity >= P - 0.03 and intents in a single task >= S - 0.05.
2. One tick: this project (``replay_labelled(..., ticks=1)``) beside a fixed baseline,
   HDBSCAN(8, 5, leaf) on PCA-50 of the centred unit rows (re-normalized), in two geometries: the
   original embeddings, and another model's geometry (a seeded random isometry of the unit rows
   into 3,072 dims plus one shared direction orthogonal to the image, weighted so that the mean
   pairwise cosine is 0.60, rows re-normalized). "geometry ARI" compares this project's two
   assignments (rows left out as one label, -1).
3. Across ticks: this project over 4 and 8 ticks in four arrival orders (seeds 0-3), and over 4
   ticks in the other geometry (seed 0), beside the targets of 1.
4. Small teams: 48 ticks (about 115 CLINC rows a tick), seeds 0 and 1.

Progress goes to stderr as runs finish; a run of this project that fails is reported in its row
(the error) and the others still run. A full run of both sets takes about 25 minutes on two
cores; ``--quick`` keeps 1 and 2 and only the 4-tick seed-0 run of 3 (a smoke run). Absent data
files are reported and skipped (exit code 0).

    python bench/replay_ceiling.py [--data ../shared/data/clinc150_minilm.parquet ...] [--quick]
        [--single-task 0.95] [--purity 0.90]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = [
    ROOT.parent / "shared" / "data" / "clinc150_minilm.parquet",
    ROOT.parent / "shared" / "data" / "hwu64_minilm.parquet",
]
#: The tick targets are the ceiling pair loosened by these.
PURITY_SLACK, SINGLE_TASK_SLACK = 0.03, 0.05
#: Another model's geometry: dimensions, seed, mean pairwise cosine.
OTHER_DIM, OTHER_SEED, OTHER_COSINE = 3072, 7, 0.60
#: Arrival orders (seeds) of the runs across ticks and of the small-team runs.
ORDERS, SMALL_TEAM_ORDERS, SMALL_TEAM_TICKS = (0, 1, 2, 3), (0, 1), 48
STARTED = time.perf_counter()


def progress(message: str) -> None:
    """A progress line on stderr, with the time since the script started."""
    print(f"[{time.perf_counter() - STARTED:7.1f} s] {message}", file=sys.stderr, flush=True)


# --- geometry -------------------------------------------------------------------------------------
def unit_rows(x):
    import numpy as np

    return x / np.linalg.norm(x, axis=1, keepdims=True)


def pca50_unit(unit):
    """PCA-50 of the centred unit rows, rows re-normalized."""
    from sklearn.decomposition import PCA

    return unit_rows(PCA(50, random_state=0).fit_transform(unit - unit.mean(axis=0)))


def mean_pairwise_cosine(unit) -> float:
    """Mean cosine over all pairs of distinct unit rows."""
    n = len(unit)
    total = unit.sum(axis=0)
    return float((total @ total - n) / (n * (n - 1)))


def other_geometry(embeddings):
    """The unit rows under a seeded random isometry into ``OTHER_DIM`` dims, plus one shared
    direction orthogonal to the image weighted so that the mean pairwise cosine becomes
    ``OTHER_COSINE``; rows re-normalized."""
    import numpy as np

    unit = unit_rows(embeddings)
    d = unit.shape[1]
    q, _ = np.linalg.qr(np.random.default_rng(OTHER_SEED).standard_normal((OTHER_DIM, d + 1)))
    basis, shared = q[:, :d], q[:, d]
    y = unit @ basis.T
    c2 = (OTHER_COSINE - mean_pairwise_cosine(unit)) / (1 - OTHER_COSINE)
    y += np.sqrt(max(c2, 0.0)) * shared
    return unit_rows(y)


# --- whole-set ceiling ----------------------------------------------------------------------------
def clusterings(embeddings, k: int):
    """``(method, labels)`` for every configuration, -1 = left out; k-means is told ``k``."""
    import hdbscan
    import numpy as np
    from joblib import Memory
    from sklearn.cluster import AgglomerativeClustering, KMeans

    unit = unit_rows(embeddings)
    spaces = {"raw": unit, "pca50": pca50_unit(unit)}
    with tempfile.TemporaryDirectory() as cache:
        # HDBSCAN's single-linkage tree depends on the rows and min_samples only: built once per pair
        memory = Memory(cache, verbose=0)
        for name, z in spaces.items():
            for size, samples, selection in itertools.product((3, 5, 8, 10, 15), (1, 3, 5, 8), ("leaf", "eom")):
                labels = hdbscan.HDBSCAN(
                    min_cluster_size=size, min_samples=samples, cluster_selection_method=selection, memory=memory
                ).fit_predict(z)
                yield f"HDBSCAN {size}/{samples} {selection}, {name}", labels
            for linkage, thresholds in (("average", (0.2, 0.3, 0.4)), ("complete", (0.3, 0.4, 0.5))):
                for threshold in thresholds:
                    labels = AgglomerativeClustering(
                        n_clusters=None, distance_threshold=threshold, metric="cosine", linkage=linkage
                    ).fit_predict(z)
                    yield (
                        f"agglomerative {linkage} < {threshold}, {name}",
                        np.where(np.bincount(labels)[labels] >= 3, labels, -1),
                    )
            kmeans = KMeans(k, n_init=3, random_state=0).fit_predict(z)
            yield f"k-means, k = {k} (the true number), {name}", kmeans


def label_links(labels):
    """``document_id, task_id`` of every row a clustering keeps (label >= 0)."""
    import numpy as np
    import pandas as pd

    kept = np.flatnonzero(labels >= 0)
    return pd.DataFrame({"document_id": [f"q{i}:0:5" for i in kept], "task_id": labels[kept]})


def ceiling_table(name: str, embeddings, truth):
    """Every whole-set configuration's intents in a single task, purity, coverage and ARI."""
    import pandas as pd

    from replay_assets.evaluation import task_quality

    k = len(set(truth) - {"oos"})
    rows, t0 = [], time.perf_counter()
    for method, labels in clusterings(embeddings, k):
        q = task_quality(label_links(labels), truth, noise_label="oos")
        rows.append((method, q["single_task"], q["purity"], q["coverage"], q["ari"]))
        if len(rows) % 5 == 0 or time.perf_counter() - t0 > 15:  # every 5th and every slow one
            progress(f"{name}: whole-set ceiling, {len(rows)} configurations done ({method})")
        t0 = time.perf_counter()
    return pd.DataFrame(rows, columns=["method", "single_task", "purity", "coverage", "ari"])


def ceiling_pair(table, purity: float) -> tuple[float, float]:
    """(P, S): the best intents in a single task S among configurations of purity >= ``purity``
    (the purest of equals), and its purity P."""
    eligible = table[table["purity"] >= purity].sort_values(["single_task", "purity"], ascending=False)
    if eligible.empty:
        return float("nan"), float("nan")
    best = eligible.iloc[0]
    return float(best["purity"]), float(best["single_task"])


def print_ceiling(name: str, rows: int, table, args) -> None:
    import pandas as pd

    both = table[(table["single_task"] >= args.single_task) & (table["purity"] >= args.purity)]
    print(f"{name}: {rows:,} rows clustered at once, {len(table)} configurations")
    print(f"reaching intents in a single task >= {args.single_task} and purity >= {args.purity}: {len(both)}")
    print("| method | intents in a single task | purity | coverage | ARI |\n|---|---|---|---|---|")
    best = pd.concat(
        [
            table.nlargest(3, "single_task"),
            table[table["purity"] >= args.purity].nlargest(2, "single_task"),
            table[table["coverage"] >= 0.65].nlargest(2, "single_task"),
            table[table["method"].str.startswith("k-means")],
        ]
    ).drop_duplicates("method")
    for r in best.itertuples():
        print(f"| {r.method} | {r.single_task:.2f} | {r.purity:.2f} | {r.coverage:.2f} | {r.ari:.2f} |")


def tick_targets(pair: tuple[float, float]) -> tuple[float, float]:
    """(purity, intents in a single task) the ticks are held to: the ceiling pair loosened."""
    purity, single = pair
    return purity - PURITY_SLACK, single - SINGLE_TASK_SLACK


def print_targets(pair: tuple[float, float], targets: tuple[float, float], purity_floor: float) -> None:
    print(
        f"\nceiling pair (best intents in a single task at purity >= {purity_floor:.2f}): "
        f"P = {pair[0]:.3f}, S = {pair[1]:.3f}; tick targets: purity >= P - {PURITY_SLACK} = {targets[0]:.3f}, "
        f"intents in a single task >= S - {SINGLE_TASK_SLACK} = {targets[1]:.3f}"
    )


# --- runs -----------------------------------------------------------------------------------------
def project_run(data, x, ticks: int, seed: int, geometry: str) -> dict:
    """This project's tasks for the set arriving over ``ticks`` ticks in order ``seed``: its links,
    their quality and the seconds it took."""
    from replay_assets.evaluation import replay_labelled, task_quality

    t0 = time.perf_counter()
    try:
        links = replay_labelled(data["text"], x, ticks=ticks, seed=seed)
        run = {"links": links, "quality": task_quality(links, data["truth"], noise_label="oos")}
    except Exception as error:  # a failing run is reported in its row; the others still run
        run = {"links": None, "quality": None, "error": f"{type(error).__name__}: {error}"}
    run["seconds"] = time.perf_counter() - t0
    outcome = f"failed ({run['error']})" if run["quality"] is None else "done"
    progress(
        f"{data['name']}: this project, ticks {ticks}, seed {seed}, {geometry} geometry: {outcome} "
        f"in {run['seconds']:.1f} s"
    )
    return run


def baseline_run(data, x, geometry: str) -> dict:
    """HDBSCAN(8, 5, leaf) on PCA-50 of the centred unit rows, all rows at once."""
    import hdbscan

    from replay_assets.evaluation import task_quality

    t0 = time.perf_counter()
    labels = hdbscan.HDBSCAN(min_cluster_size=8, min_samples=5, cluster_selection_method="leaf").fit_predict(
        pca50_unit(unit_rows(x))
    )
    run = {"quality": task_quality(label_links(labels), data["truth"], noise_label="oos")}
    run["seconds"] = time.perf_counter() - t0
    progress(f"{data['name']}: HDBSCAN 8/5 leaf baseline, {geometry} geometry: {run['seconds']:.1f} s")
    return run


def assignment(links, rows: int):
    """Each labelled row's task as an integer label, -1 for rows left out."""
    import numpy as np
    import pandas as pd

    from replay_assets.evaluation import row_of

    labels = np.full(rows, -1, dtype=np.int64)
    labels[row_of(links["document_id"])] = pd.factorize(links["task_id"])[0]
    return labels


def geometry_ari(a_links, b_links, rows: int) -> float:
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(assignment(a_links, rows), assignment(b_links, rows)))


# --- sections -------------------------------------------------------------------------------------
def fmt(value: float) -> str:
    return "-" if value != value else f"{value:.2f}"


def failed_row(label: str, run: dict, columns: int) -> str:
    """A row of a ``columns``-column table for a run that failed: ``label`` (its leading cells), the
    error, blank cells, the seconds."""
    error = " ".join(run["error"].replace("|", "/").split())[:160]
    blanks = columns - (label.count(" | ") + 1) - 2
    return f"| {label} | failed: {error} |" + " |" * blanks + f" {run['seconds']:.1f} |"


def one_tick_row(geometry: str, method: str, run: dict, has_noise: bool) -> str:
    if run["quality"] is None:
        return failed_row(f"{geometry} | {method}", run, 9)
    q = run["quality"]
    noise = f"{q['noise_in_tasks']:.1%}" if has_noise else "- (none in the set)"
    return (
        f"| {geometry} | {method} | {fmt(q['coverage'])} | {fmt(q['ari'])} | {fmt(q['nmi'])} | {noise} "
        f"| {fmt(q['single_task'])} | {fmt(q['purity'])} | {run['seconds']:.1f} |"
    )


def one_tick(data, geometries: dict) -> None:
    """Section 2: this project and the baseline on one tick in each geometry, and the geometry ARI."""
    has_noise = bool((data["truth"] == "oos").any())
    print("\n### One tick: this project beside HDBSCAN 8/5 leaf on PCA-50\n")
    print(
        "| geometry | method | coverage | ARI | NMI | out-of-scope in tasks | intents in a single task | purity "
        "| seconds |\n|---|---|---|---|---|---|---|---|---|"
    )
    ours = []
    for geometry, x in geometries.items():
        ours.append(project_run(data, x, 1, 0, geometry))
        print(one_tick_row(geometry, "this project", ours[-1], has_noise))
        print(one_tick_row(geometry, "HDBSCAN 8/5 leaf, PCA-50", baseline_run(data, x, geometry), has_noise))
    if all(run["links"] is not None for run in ours):
        ari = f"{geometry_ari(ours[0]['links'], ours[1]['links'], len(data['truth'])):.3f}"
    else:
        ari = "- (a run failed)"
    print(f"\ngeometry ARI (this project, one tick, original vs other geometry, rows left out = -1): {ari}")


def reaches(q: dict, targets: tuple[float, float]) -> str:
    return "yes" if q["purity"] >= targets[0] and q["single_task"] >= targets[1] else "no"


def tick_row(label: str, q: dict, targets: tuple[float, float], seconds: str) -> str:
    """A row of the across-ticks table: ``q`` a run's quality, or the mean of several."""
    return (
        f"| {label} | {fmt(q['single_task'])} | {fmt(q['purity'])} | {fmt(q['coverage'])} | {fmt(q['ari'])} "
        f"| {reaches(q, targets)} | {seconds} |"
    )


def mean_quality(runs: list[dict]) -> dict:
    import numpy as np

    return {
        key: float(np.mean([r["quality"][key] for r in runs])) for key in ("single_task", "purity", "coverage", "ari")
    }


def across_ticks(data, geometries: dict, targets: tuple[float, float], plan: list[tuple[str, int, tuple]]) -> None:
    """Section 3: this project over several ticks, each plan entry ``(geometry, ticks, seeds)``
    one row per seed and, over several seeds, their mean."""
    print(
        f"\n### Across ticks: this project (targets: intents in a single task >= {targets[1]:.3f}, "
        f"purity >= {targets[0]:.3f})\n"
    )
    print(
        "| run | intents in a single task | purity | coverage | ARI | reaches both targets | seconds |"
        "\n|---|---|---|---|---|---|---|"
    )
    for geometry, ticks, seeds in plan:
        runs = [project_run(data, geometries[geometry], ticks, seed, geometry) for seed in seeds]
        for seed, run in zip(seeds, runs):
            label = f"{ticks} ticks, seed {seed}, {geometry}"
            if run["quality"] is None:
                print(failed_row(label, run, 7))
            else:
                print(tick_row(label, run["quality"], targets, f"{run['seconds']:.1f}"))
        done = [run for run in runs if run["quality"] is not None]
        if len(seeds) > 1 and done:
            label = f"**{ticks} ticks, mean of {len(done)} orders{'' if len(done) == len(runs) else ' (others failed)'}"
            print(tick_row(f"{label}, {geometry}**", mean_quality(done), targets, ""))


def small_teams(data, x) -> None:
    """Section 4: this project over 48 ticks, a small team's share of rows per tick."""
    per_tick = len(data["truth"]) / SMALL_TEAM_TICKS
    print(f"\n### Small teams: this project over {SMALL_TEAM_TICKS} ticks (~{per_tick:.0f} rows a tick)\n")
    print("| run | coverage | purity | intents in a single task | seconds |\n|---|---|---|---|---|")
    for seed in SMALL_TEAM_ORDERS:
        run = project_run(data, x, SMALL_TEAM_TICKS, seed, "original")
        if run["quality"] is None:
            print(failed_row(f"{SMALL_TEAM_TICKS} ticks, seed {seed}", run, 5))
            continue
        q = run["quality"]
        print(
            f"| {SMALL_TEAM_TICKS} ticks, seed {seed} | {fmt(q['coverage'])} | {fmt(q['purity'])} "
            f"| {fmt(q['single_task'])} | {run['seconds']:.1f} |"
        )


# --- main -----------------------------------------------------------------------------------------
def load(path: Path) -> tuple[dict, object]:
    """The set's texts, truth (intent, ``oos`` out of scope) and name, and its embeddings."""
    import numpy as np
    import pandas as pd

    frame = pd.read_parquet(path)
    embeddings = np.stack(frame["embedding"].to_numpy()).astype(np.float64)
    truth = np.where(frame["in_scope"], frame["intent"], "oos")
    return {"name": path.name, "text": frame["text"], "truth": truth}, embeddings


def named_geometries(embeddings) -> dict:
    """The original embeddings and another model's geometry, each named with its dims and mean
    pairwise cosine."""
    other = other_geometry(embeddings)
    geometries = {}
    for name, x in (("original", embeddings), ("other", other)):
        geometries[f"{name} ({x.shape[1]:,} dims, mean cosine {mean_pairwise_cosine(unit_rows(x)):.2f})"] = x
    return geometries


def report(path: Path, args) -> None:
    data, embeddings = load(path)
    progress(f"{data['name']}: {len(embeddings):,} rows loaded")
    print(f"\n## {data['name']}\n")
    table = ceiling_table(data["name"], embeddings, data["truth"])
    print_ceiling(data["name"], len(data["truth"]), table, args)
    pair = ceiling_pair(table, args.purity)
    targets = tick_targets(pair)
    print_targets(pair, targets, args.purity)
    geometries = named_geometries(embeddings)
    one_tick(data, geometries)
    original, other = geometries
    if args.quick:
        plan = [(original, 4, (0,))]
    else:
        plan = [(original, 4, ORDERS), (original, 8, ORDERS), (other, 4, (0,))]
    across_ticks(data, geometries, targets, plan)
    if not args.quick:
        small_teams(data, embeddings)
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        action="append",
        help="a labelled set (text, intent, in_scope, embedding per row); repeat for several "
        "(default: CLINC150 and HWU64 under ../shared/data)",
    )
    parser.add_argument("--single-task", type=float, default=0.95, help="target: intents in a single task")
    parser.add_argument("--purity", type=float, default=0.90, help="target: task purity (and the ceiling pair's floor)")
    parser.add_argument("--quick", action="store_true", help="smoke run: one tick and 4 ticks in one order only")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    for path in map(Path, args.data or DEFAULT_DATA):
        if not path.exists():
            print(f"{path} is absent: nothing to measure")
            continue
        report(path, args)
    progress("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
