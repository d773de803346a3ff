"""Which library pattern a report's window looks like (pure).

Each pattern is a curve of relative uplift (``shapes.py``) with a range of durations and
magnitudes (``library_spec.json``). For a window of actual and expected units starting at the
report's ``window_start``, every pattern is fitted by Poisson likelihood over its grid of
durations and magnitudes: ``actual ~ Poisson(expected * (1 + magnitude * shape(t / duration)))``,
the uplift ending with the pattern. The pattern with the most evidence (its likelihood averaged
over its grid, so flexibility is not rewarded) wins. Its ``similarity_score`` is
the cosine between the observed and the fitted uplift over the window's stretches (how well the
shape agrees, whatever the noise level); below ``min_similarity`` the report is ``unknown``.
``cluster_match_confidence`` is the similarity times the winner's posterior among the patterns
(equal priors), so two patterns that explain the window equally well make a low confidence.
"""

from __future__ import annotations

import numpy as np

from minority_report_assets.features import uplift_curve
from minority_report_assets.shapes import LIBRARY_SHAPES

UNKNOWN_ID, UNKNOWN_NAME = 0, "unknown"


def pattern_grid(entry: dict, spec: dict) -> tuple[np.ndarray, np.ndarray]:
    """Durations (buckets) and magnitudes a pattern is fitted over."""
    lo, hi = entry["duration_buckets"]
    durations = np.unique(np.round(np.geomspace(lo, hi, spec["grid_durations"])).astype(int))
    mlo, mhi = entry["magnitude"]
    magnitudes = np.geomspace(mlo, mhi, spec["grid_magnitudes"]) if mhi > mlo else np.array([mlo])
    return durations, magnitudes


def pattern_factors(entry: dict, spec: dict, length: int) -> np.ndarray:
    """Every sales multiplier the pattern's grid allows over a window of ``length`` buckets:
    ``(grid, length)``, over magnitudes x onsets x durations. The grid also covers how long before
    ``window_start`` the pattern may have begun (a slow onset is dated late)."""
    durations, magnitudes = pattern_grid(entry, spec)
    onsets = np.asarray(spec["grid_onsets"], dtype=np.float64)
    t = np.arange(length) + 0.5
    u = (t[None, None, :] + onsets[:, None, None]) / durations[None, :, None]  # (onsets, durations, buckets)
    shape = np.where(u <= 1.0, LIBRARY_SHAPES[entry["shape"]](np.minimum(u, 1.0)), 0.0)
    factor = np.maximum(1.0 + magnitudes[:, None, None, None] * shape[None], 0.02)
    return factor.reshape(-1, length)


class Matcher:
    """Matches windows to the library's patterns, many at a time.

    With ``mean = expected * factor``, a window's Poisson log-likelihood under a grid point is
    ``actual @ log(factor) - expected @ factor`` plus a term every pattern shares, so all windows
    of one length are scored against all grid points by two matrix products (factors are
    computed once per pattern and window length).
    """

    def __init__(self, spec: dict, min_similarity: float = 0.75):
        self.spec, self.min_similarity = spec, min_similarity
        self._factors: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}

    def factors(self, length: int) -> list[tuple[np.ndarray, np.ndarray]]:
        if length not in self._factors:
            grids = [pattern_factors(entry, self.spec, length) for entry in self.spec["clusters"]]
            self._factors[length] = [(f, np.log(f)) for f in grids]
        return self._factors[length]

    def match(self, windows: list[tuple[np.ndarray, np.ndarray]]) -> list[dict]:
        """``cluster_id, cluster_name, similarity_score, cluster_match_confidence`` per (actual, expected) window."""
        out: list[dict | None] = [None] * len(windows)
        by_length: dict[int, list[int]] = {}
        for i, (actual, _) in enumerate(windows):
            by_length.setdefault(len(actual), []).append(i)
        for length, rows in sorted(by_length.items()):
            actual = np.array([np.asarray(windows[i][0], dtype=np.float64) for i in rows])
            expected = np.maximum(np.array([np.asarray(windows[i][1], dtype=np.float64) for i in rows]), 1e-6)
            best_ll, best_fit = [], []
            for factor, log_factor in self.factors(length):
                loglik = actual @ log_factor.T - expected @ factor.T  # (windows, grid)
                best = np.argmax(loglik, axis=1)
                top = loglik[np.arange(len(rows)), best]
                # Evidence, not the best fit: the likelihood averaged over the pattern's grid, so a
                # pattern that can bend to anything does not win by flexibility.
                best_ll.append(top + np.log(np.exp(loglik - top[:, None]).mean(axis=1)))
                best_fit.append(factor[best])
            loglik = np.stack(best_ll, axis=1)  # (windows, patterns)
            winner = np.argmax(loglik, axis=1)
            posterior = np.exp(loglik - loglik.max(axis=1, keepdims=True))
            posterior = posterior[np.arange(len(rows)), winner] / posterior.sum(axis=1)
            for j, i in enumerate(rows):
                entry = self.spec["clusters"][winner[j]]
                observed = uplift_curve(actual[j], expected[j])
                fitted = uplift_curve(expected[j] * best_fit[winner[j]][j], expected[j])
                norms = np.linalg.norm(observed) * np.linalg.norm(fitted)
                similarity = float(observed @ fitted / norms) if norms > 0 else 0.0
                known = similarity >= self.min_similarity
                out[i] = {"cluster_id": entry["cluster_id"] if known else UNKNOWN_ID,
                          "cluster_name": entry["name"] if known else UNKNOWN_NAME,
                          "similarity_score": round(similarity, 6),
                          "cluster_match_confidence": round(similarity * float(posterior[j]), 6)}
        return out


def match_window(actual: np.ndarray, expected: np.ndarray, spec: dict, min_similarity: float = 0.75) -> dict:
    """:meth:`Matcher.match` of one window."""
    return Matcher(spec, min_similarity).match([(actual, expected)])[0]
