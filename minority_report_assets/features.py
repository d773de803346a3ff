"""The shape of an anomaly as a fixed-length feature vector (pure).

From a report's window ``[window_start, written_at]`` of actual and expected units: the
relative uplift over up to 16 stretches of the window, resampled to ``POINTS`` values over its
normalized time and divided by its largest magnitude (scale-free, sign kept: a stockout is not
a spike). Seven shape statistics
follow, each squashed into [-1, 1]: uplift, rise slope, decay slope, peak location, volatility,
symmetry and kurtosis. The same window always gives the same vector.
"""

from __future__ import annotations

import numpy as np

POINTS = 32
NAMES = [f"shape_{i:02d}" for i in range(POINTS)] + [
    "uplift",
    "rise_slope",
    "decay_slope",
    "peak_location",
    "volatility",
    "symmetry",
    "kurtosis",
]
#: The shape statistics weigh as much as the 32 shape points together.
SCALAR_WEIGHT = np.sqrt(POINTS / 7)


def uplift_curve(actual: np.ndarray, expected: np.ndarray, points: int = POINTS, bins: int = 16) -> np.ndarray:
    """Relative uplift ``sum(actual - expected) / sum(expected)`` over up to ``bins`` equal stretches
    of the window, each at least three buckets long, linearly interpolated onto ``points`` positions.

    A ratio per stretch, not per bucket over the window's mean: an anomaly multiplies sales, so
    dividing by the window's mean would paint the daily profile into the shape, and single
    buckets carry too much Poisson noise.
    """
    n = len(actual)
    edges = np.linspace(0, n, max(1, min(bins, n // 3)) + 1)
    which = np.clip(np.searchsorted(edges, np.arange(n) + 0.5, side="right") - 1, 0, len(edges) - 2)
    sold, meant = np.bincount(which, weights=actual), np.bincount(which, weights=expected)
    ratio = (sold - meant) / np.maximum(meant, 1e-9)
    if len(ratio) == 1:
        return np.full(points, float(ratio[0]))
    centres = (edges[:-1] + edges[1:]) / 2
    return np.interp(np.linspace(centres[0], centres[-1], points), centres, ratio)


def feature_vector(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Feature vector (``len(NAMES)`` floats) of one window of actual and expected units."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    curve = uplift_curve(actual, expected)
    scale = float(np.abs(curve).max())
    shape = curve / scale if scale > 0 else np.zeros(POINTS)
    peak = int(np.argmax(np.abs(shape)))
    location = peak / (POINTS - 1)
    top = shape[peak]
    rise = (top - shape[0]) / max(location, 1 / (POINTS - 1))
    decay = (shape[-1] - top) / max(1 - location, 1 / (POINTS - 1))
    volatility = float(np.abs(np.diff(shape)).mean()) if POINTS > 1 else 0.0
    centred = shape - shape.mean()
    spread = float(np.sqrt((centred**2).mean()))
    symmetry = float(np.corrcoef(shape, shape[::-1])[0, 1]) if spread > 1e-9 else 1.0
    kurtosis = float((centred**4).mean() / spread**4 - 3) if spread > 1e-9 else 0.0
    uplift = float((actual - expected).sum() / max(expected.sum(), 1e-9))
    scalars = np.array(
        [
            np.tanh(uplift / 3),
            np.tanh(rise / 4),
            np.tanh(decay / 4),
            2 * location - 1,
            np.tanh(4 * volatility),
            symmetry,
            np.tanh(kurtosis / 3),
        ]
    )
    return np.round(np.concatenate([shape, SCALAR_WEIGHT * scalars]), 6)
