"""What any clustering of a whole labelled set at once reaches on the replay task figures: the
ceiling the tick-by-tick tasks are measured against.

Every query of the set is clustered in one go (no ticks, nothing left for later), by the families
we know to work on sentence embeddings: HDBSCAN (leaf and excess-of-mass selection, a grid of
``min_cluster_size`` x ``min_samples``), agglomerative clustering at cosine-distance thresholds
(groups of fewer than 3 left out), and k-means told the true number of intents. Each clustering
is scored as tasks by ``replay_assets.evaluation.task_quality``: intents in a single task,
purity, in-scope coverage, ARI. A target pair that no row reaches here cannot be reached by ticks
that see the same queries a quarter at a time.

    python bench/replay_ceiling.py [--data ../shared/data/clinc150_minilm.parquet]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "clinc150_minilm.parquet"


def clusterings(embeddings):
    """``(method, labels)`` for every configuration, -1 = left out."""
    import hdbscan
    import numpy as np
    from sklearn.cluster import AgglomerativeClustering, KMeans
    from sklearn.decomposition import PCA

    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    reduced = PCA(50, random_state=0).fit_transform(unit - unit.mean(axis=0))
    spaces = {"raw": unit, "pca50": reduced / np.linalg.norm(reduced, axis=1, keepdims=True)}
    for name, z in spaces.items():
        for size, samples, selection in itertools.product((3, 5, 8, 10, 15), (1, 3, 5, 8), ("leaf", "eom")):
            labels = hdbscan.HDBSCAN(
                min_cluster_size=size, min_samples=samples, cluster_selection_method=selection
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
        yield f"k-means, k = 150 (the true number), {name}", KMeans(150, n_init=3, random_state=0).fit_predict(z)


def main() -> int:
    import numpy as np
    import pandas as pd

    from replay_assets.evaluation import task_quality

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="text, intent, in_scope, embedding per row")
    parser.add_argument("--single-task", type=float, default=0.95, help="target: intents in a single task")
    parser.add_argument("--purity", type=float, default=0.90, help="target: task purity")
    args = parser.parse_args()
    if not Path(args.data).exists():
        print(f"{args.data} is absent: nothing to measure")
        return 0
    frame = pd.read_parquet(args.data)
    embeddings = np.stack(frame["embedding"].to_numpy()).astype(np.float64)
    truth = np.where(frame["in_scope"], frame["intent"], "oos")
    rows = []
    warnings.simplefilter("ignore")
    for method, labels in clusterings(embeddings):
        kept = np.flatnonzero(labels >= 0)
        links = pd.DataFrame({"document_id": [f"q{i}:0:5" for i in kept], "task_id": labels[kept]})
        q = task_quality(links, truth, noise_label="oos")
        rows.append((method, q["single_task"], q["purity"], q["coverage"], q["ari"]))
    table = pd.DataFrame(rows, columns=["method", "single_task", "purity", "coverage", "ari"])
    both = table[(table["single_task"] >= args.single_task) & (table["purity"] >= args.purity)]
    print(f"{Path(args.data).name}: {len(frame):,} rows clustered at once, {len(table)} configurations")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
