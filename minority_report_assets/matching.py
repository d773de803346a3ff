"""Which library pattern a report's window looks like (pure).

Each pattern is a curve of relative uplift (``shapes.py``) with a range of durations and
magnitudes (``library_spec.json``). For a window of actual and expected units starting at the
report's ``window_start``, every pattern is fitted by Poisson likelihood over its grid of
durations and magnitudes: ``actual ~ Poisson(expected * (1 + magnitude * shape(t / duration)))``,
the uplift ending with the pattern. The most likely pattern wins. Its ``similarity_score`` is
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


def fit_pattern(actual: np.ndarray, expected: np.ndarray, entry: dict, spec: dict) -> tuple[float, np.ndarray]:
    """Best Poisson log-likelihood of the pattern over its grid, and its fitted mean.

    The grid covers durations, magnitudes and how long before ``window_start`` the pattern may
    have begun (a slow onset is dated late: its first buckets looked ordinary)."""
    durations, magnitudes = pattern_grid(entry, spec)
    offsets = np.asarray(spec["grid_onsets"], dtype=np.float64)
    t = np.arange(len(actual)) + 0.5
    u = (t[None, None, :] + offsets[:, None, None]) / durations[None, :, None]  # (onsets, durations, buckets)
    shape = np.where(u <= 1.0, LIBRARY_SHAPES[entry["shape"]](np.minimum(u, 1.0)), 0.0)
    factor = np.maximum(1.0 + magnitudes[:, None, None, None] * shape[None], 0.02)  # (magnitudes, onsets, durations, buckets)
    mean = expected * factor
    loglik = (actual * np.log(mean) - mean).sum(axis=-1)
    best = np.unravel_index(int(np.argmax(loglik)), loglik.shape)
    return float(loglik[best]), mean[best]


def match_window(actual: np.ndarray, expected: np.ndarray, spec: dict, min_similarity: float = 0.75) -> dict:
    """``cluster_id, cluster_name, similarity_score, cluster_match_confidence`` of one window."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.maximum(np.asarray(expected, dtype=np.float64), 1e-6)
    fits = [fit_pattern(actual, expected, entry, spec) for entry in spec["clusters"]]
    loglik = np.array([f[0] for f in fits])
    winner = int(np.argmax(loglik))
    posterior = np.exp(loglik - loglik.max())
    posterior = posterior[winner] / posterior.sum()
    observed = uplift_curve(actual, expected)
    fitted = uplift_curve(fits[winner][1], expected)
    norms = np.linalg.norm(observed) * np.linalg.norm(fitted)
    similarity = float(observed @ fitted / norms) if norms > 0 else 0.0
    entry = spec["clusters"][winner]
    known = similarity >= min_similarity
    return {"cluster_id": entry["cluster_id"] if known else UNKNOWN_ID,
            "cluster_name": entry["name"] if known else UNKNOWN_NAME,
            "similarity_score": round(similarity, 6),
            "cluster_match_confidence": round(similarity * float(posterior), 6)}
