"""Which library pattern a report's window looks like (pure).

Each pattern is a curve of relative uplift (``shapes.py``) with a range of durations and
magnitudes, and the chance that it comes with a price cut (``library_spec.json``). A
:class:`MatchWindow` holds the report's buckets from its ``window_start`` to the tick, and the
buckets before as context: a slow onset is dated late and a step may be dated early, so the
pattern's onset is fitted too, from ``grid_onsets`` around ``window_start``.
Every pattern is fitted by Poisson likelihood over its grid of onsets, durations and magnitudes:
``actual ~ Poisson(expected * (1 + magnitude * shape((t - onset) / duration)))``, no uplift
outside the pattern, tempered by the series' overdispersion (a quasi-likelihood: counts that stray
more than Poisson's carry less evidence). The pattern with the most evidence wins: its likelihood averaged over its
grid (so flexibility is not rewarded), times the chance of what the prices show (a cut, or
none; nothing when the sales carry no price). Its ``similarity_score`` is the cosine between the
observed and the fitted uplift over the report's window (how well the shape agrees, whatever
the noise level); below ``min_similarity`` the report is ``unknown``.
``cluster_match_confidence`` is the similarity times the winner's posterior among the patterns
(equal priors), so two patterns that explain the window equally well make a low confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minority_report_assets.features import uplift_curve
from minority_report_assets.shapes import LIBRARY_SHAPES

UNKNOWN_ID, UNKNOWN_NAME = 0, "unknown"
LENGTH_STEP = 6  # windows are padded to a multiple of this: fewer grids to build


@dataclass(frozen=True)
class MatchWindow:
    """A report's units: ``actual[start:]`` is its window, the buckets before are context."""

    actual: np.ndarray
    expected: np.ndarray
    start: int = 0
    price_cut: bool | None = None  # prices seen below the regular price; None: no prices
    dispersion: float = 1.0  # variance over Poisson's of the series' counts: its likelihood is tempered by it


def dispersion(model_error: float, expected: np.ndarray, window: int) -> float:
    """How much more than Poisson a series' counts vary, from the relative error the baseline
    learned for sums of ``window`` buckets: ``1 + model_error^2 * window * mean(expected)``."""
    return (
        float(1.0 + model_error**2 * window * max(float(np.mean(expected)), 0.0)) if np.isfinite(model_error) else 1.0
    )


def price_cut_seen(prices: np.ndarray, regular: float, cut: float = 0.05, share: float = 0.5) -> bool | None:
    """Whether at least ``share`` of the priced buckets sold ``cut`` or more below the regular
    price (``None`` when no bucket has a price or the regular price is unknown)."""
    prices = np.asarray(prices, dtype=np.float64)
    priced = prices[~np.isnan(prices)]
    if not len(priced) or not np.isfinite(regular) or regular <= 0:
        return None
    return bool((priced <= (1 - cut) * regular).mean() >= share)


def pattern_grid(entry: dict, spec: dict) -> tuple[np.ndarray, np.ndarray]:
    """Durations (buckets, evenly spaced: any length in the range is as likely) and magnitudes
    (log-spaced: twice as strong is as likely as half as strong) a pattern is fitted over."""
    lo, hi = entry["duration_buckets"]
    durations = np.unique(np.round(np.linspace(lo, hi, spec["grid_durations"])).astype(int))
    mlo, mhi = entry["magnitude"]
    magnitudes = np.geomspace(mlo, mhi, spec["grid_magnitudes"]) if mhi > mlo else np.array([mlo])
    return durations, magnitudes


def pattern_factors(entry: dict, spec: dict, length: int, start: int = 0) -> np.ndarray:
    """Every sales multiplier the pattern's grid allows over a window of ``length`` buckets whose
    report begins at ``start``: ``(grid, length)``, over magnitudes x onsets x durations, onsets
    counted from ``start``."""
    durations, magnitudes = pattern_grid(entry, spec)
    onsets = start + np.asarray(spec["grid_onsets"], dtype=np.float64)
    t = np.arange(length) + 0.5
    u = (t[None, None, :] - onsets[:, None, None]) / durations[None, :, None]  # (onsets, durations, buckets)
    inside = (u >= 0) & (u <= 1.0)
    shape = np.where(inside, LIBRARY_SHAPES[entry["shape"]](np.clip(u, 0.0, 1.0)), 0.0)
    factor = np.maximum(1.0 + magnitudes[:, None, None, None] * shape[None], 0.02)
    return factor.reshape(-1, length)


class Matcher:
    """Matches windows to the library's patterns, many at a time.

    With ``mean = expected * factor``, a window's Poisson log-likelihood under a grid point is
    ``actual @ log(factor) - expected @ factor`` plus a term every pattern shares, so all windows
    of one length are scored against every pattern's grid by two matrix products (the grids are
    built once per window length).
    """

    def __init__(self, spec: dict, min_similarity: float = 0.75):
        self.spec, self.min_similarity = spec, min_similarity
        self.context = -min(spec["grid_onsets"])  # buckets before window_start the pattern may have begun
        otherwise = spec["price_cut_otherwise"]
        cut = np.array([entry.get("price_cut", otherwise) for entry in spec["clusters"]])
        self._price_loglik = {True: np.log(cut), False: np.log1p(-cut), None: np.zeros(len(cut))}
        self._grids: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def grid(self, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Factors and log-factors of every pattern's grid stacked ``(grid, length)`` for a padded
        window (see :meth:`pad`), and where each pattern's rows end."""
        if length not in self._grids:
            grids = [pattern_factors(entry, self.spec, length, self.context) for entry in self.spec["clusters"]]
            factor = np.concatenate(grids)
            self._grids[length] = (factor, np.log(factor), np.cumsum([len(g) for g in grids]))
        return self._grids[length]

    def pad(self, window: MatchWindow) -> tuple[np.ndarray, np.ndarray]:
        """The window with exactly ``context`` buckets before its start and a length that is a
        multiple of ``LENGTH_STEP``: missing context and the end are padded with buckets that
        expect nothing (they add nothing to any likelihood), so windows share grids."""
        first = max(0, window.start - self.context)
        actual = np.asarray(window.actual[first:], dtype=np.float64)
        expected = np.maximum(np.asarray(window.expected[first:], dtype=np.float64), 1e-6)
        before = self.context - (window.start - first)
        after = (-(before + len(actual))) % LENGTH_STEP
        return np.pad(actual, (before, after)), np.pad(expected, (before, after))

    def match(self, windows: list[MatchWindow]) -> list[dict]:
        """``cluster_id, cluster_name, similarity_score, cluster_match_confidence`` per window."""
        padded = [self.pad(w) for w in windows]
        out: list[dict | None] = [None] * len(windows)
        by_length: dict[int, list[int]] = {}
        for i, (actual, _) in enumerate(padded):
            by_length.setdefault(len(actual), []).append(i)
        start = self.context
        for length, rows in sorted(by_length.items()):
            factor, log_factor, ends = self.grid(length)
            actual = np.stack([padded[i][0] for i in rows])
            expected = np.stack([padded[i][1] for i in rows])
            # Quasi-likelihood: an overdispersed series' counts carry less evidence per unit sold.
            dispersion = np.array([max(1.0, windows[i].dispersion) for i in rows])[:, None]
            loglik = (actual @ log_factor.T - expected @ factor.T) / dispersion  # (windows, grid)
            evidence, best = [], []
            for lo, hi in zip(np.r_[0, ends[:-1]], ends):
                # Evidence, not the best fit: the likelihood averaged over the pattern's grid, so a
                # pattern that can bend to anything does not win by flexibility.
                part = loglik[:, lo:hi]
                top = part.max(axis=1)
                evidence.append(top + np.log(np.exp(part - top[:, None]).mean(axis=1)))
                best.append(lo + np.argmax(part, axis=1))
            evidence = np.stack(evidence, axis=1) + np.stack([self._price_loglik[windows[i].price_cut] for i in rows])
            winner = np.argmax(evidence, axis=1)
            posterior = np.exp(evidence - evidence.max(axis=1, keepdims=True))
            posterior = posterior[np.arange(len(rows)), winner] / posterior.sum(axis=1)
            for j, i in enumerate(rows):
                entry, stop = self.spec["clusters"][winner[j]], start + len(windows[i].actual) - windows[i].start
                fitted = expected[j, start:stop] * factor[best[winner[j]][j], start:stop]
                observed = uplift_curve(actual[j, start:stop], expected[j, start:stop])
                fitted = uplift_curve(fitted, expected[j, start:stop])
                norms = np.linalg.norm(observed) * np.linalg.norm(fitted)
                similarity = float(observed @ fitted / norms) if norms > 0 else 0.0
                known = similarity >= self.min_similarity
                out[i] = {
                    "cluster_id": entry["cluster_id"] if known else UNKNOWN_ID,
                    "cluster_name": entry["name"] if known else UNKNOWN_NAME,
                    "similarity_score": round(similarity, 6),
                    "cluster_match_confidence": round(similarity * float(posterior[j]), 6),
                }
        return out


def match_window(
    actual: np.ndarray,
    expected: np.ndarray,
    spec: dict,
    min_similarity: float = 0.75,
    start: int = 0,
    price_cut: bool | None = None,
    dispersion: float = 1.0,
) -> dict:
    """:meth:`Matcher.match` of one window."""
    return Matcher(spec, min_similarity).match([MatchWindow(actual, expected, start, price_cut, dispersion)])[0]
