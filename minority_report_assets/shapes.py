"""The anomaly shapes the cluster library knows, as curves of relative uplift over the event's
normalized time ``u`` in [0, 1] (pure).

The demo plants them into sales series; the library derives its centroids from the same
curves, seen at several ages, so a report is recognizable before it has finished.
``oscillation`` is deliberately outside the library: it must come out ``unknown``.
"""

from __future__ import annotations

import numpy as np


def viral_spike(u: np.ndarray) -> np.ndarray:
    """Near-vertical rise, then a long exponential decay (a post goes viral)."""
    return np.where(u < 0.08, u / 0.08, np.exp(-(u - 0.08) * 6.0))


def promotion(u: np.ndarray) -> np.ndarray:
    """A flat plateau with short ramps (a planned price promotion)."""
    return np.clip(np.minimum(u, 1 - u) / 0.04, 0, 1)


def stockout(u: np.ndarray) -> np.ndarray:
    """Sales fall to almost nothing and stay there (the shelf is empty; magnitude 1)."""
    return -0.95 * np.clip(u / 0.03, 0, 1)


def competitor_stockout(u: np.ndarray) -> np.ndarray:
    """A steady climb for as long as it lasts, then a drop (shoppers keep drifting over from an
    empty competitor until it restocks)."""
    return u


def data_error(u: np.ndarray) -> np.ndarray:
    """A flat run of implausible values (a feed glitch repeating transactions): told apart from a
    promotion by its magnitude range in the library spec (5x and more)."""
    return np.ones_like(u)


def weather_ramp(u: np.ndarray) -> np.ndarray:
    """A slow, symmetric swell (a heat wave or a storm warning)."""
    return np.sin(np.pi * u) ** 2


def oscillation(u: np.ndarray) -> np.ndarray:
    """Three swings up and down: no library pattern has it."""
    return np.sin(6 * np.pi * u)


LIBRARY_SHAPES = {
    "viral_spike": viral_spike,
    "promotion": promotion,
    "stockout": stockout,
    "competitor_stockout": competitor_stockout,
    "data_error": data_error,
    "weather_ramp": weather_ramp,
}
OUTSIDE_LIBRARY = {"oscillation": oscillation}
