"""The 2-D map of anomaly shapes (pure): a seeded t-SNE of feature vectors with the library's
centroids, new points placed into an existing map rather than recomputing it, and a scatter image.

openTSNE (one thread, fixed seed, exact neighbours on these small sets) gives the same map for
the same rows; placing points optimizes only the new points against the fixed map.
"""

from __future__ import annotations

import io

import numpy as np
import openTSNE


def _perplexity(n: int) -> float:
    return float(max(2.0, min(30.0, (n - 1) / 3)))


def fit_map(vectors: np.ndarray, seed: int = 0) -> np.ndarray:
    """``(n, 2)`` map coordinates of ``vectors`` (rows in canonical order, at least 4)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    tsne = openTSNE.TSNE(
        perplexity=_perplexity(len(vectors)),
        random_state=seed,
        n_jobs=1,
        initialization="pca",
        neighbors="exact",
        negative_gradient_method="bh",
        verbose=False,
    )
    return np.round(np.asarray(tsne.fit(vectors)), 6)


class MapPlacer:
    """Places new vectors into an existing map of ``base_vectors`` (which do not move); the map's
    affinities are computed once, for every tick that places into it."""

    def __init__(self, base_vectors: np.ndarray, base_coords: np.ndarray, seed: int = 0):
        base_vectors = np.asarray(base_vectors, dtype=np.float64)
        affinities = openTSNE.affinity.PerplexityBasedNN(
            base_vectors,
            perplexity=_perplexity(len(base_vectors)),
            method="exact",
            random_state=seed,
            n_jobs=1,
            verbose=False,
        )
        self.embedding = openTSNE.TSNEEmbedding(
            np.asarray(base_coords, dtype=np.float64),
            affinities,
            random_state=seed,
            n_jobs=1,
            negative_gradient_method="bh",
            verbose=False,
        )

    def place(self, new: np.ndarray) -> np.ndarray:
        if len(new) == 0:
            return np.empty((0, 2))
        return np.round(np.asarray(self.embedding.transform(np.asarray(new, dtype=np.float64))), 6)


def scatter_png(
    coords: np.ndarray, names: list[str], centroids: np.ndarray, centroid_names: list[str], title: str
) -> bytes:
    """A PNG scatter of the reports by cluster, with the library's centroids marked and named."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5), dpi=100)
    for name in sorted(set(names)):
        mask = np.array([n == name for n in names])
        ax.scatter(coords[mask, 0], coords[mask, 1], s=12, alpha=0.7, label=f"{name} ({int(mask.sum())})")
    ax.scatter(centroids[:, 0], centroids[:, 1], marker="X", s=120, c="black")
    for (x, y), name in zip(centroids, centroid_names):
        ax.annotate(name, (x, y), fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    if names:  # a day without reports has nothing to name
        ax.legend(fontsize=7, loc="best")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})  # no version stamp: same rows, same bytes
    plt.close(fig)
    return buffer.getvalue()
