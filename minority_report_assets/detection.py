"""Anomaly detection against the baseline (pure): which store/SKU series deviate, since when.

Over a rolling window the units sold ``S`` are compared with the units expected ``M`` on
Anscombe's root scale, with room for the baseline's error on that series:
``D = 2 (sqrt(S + 3/8) - sqrt(M + 1/8)) / sqrt(1 + model_error^2 M)``, near-normal under the
null even for slow sellers at night, and unit-scaled on the series' own history (the baseline
learns each series' ``model_error`` per window). Two windows run side by side: 30 minutes for
sharp events and 2 hours for slow ones (a stockout of a slow seller); the stronger score counts.

An event is a run of buckets whose ``|D|`` stays at or above ``keep_threshold`` with one sign
and reaches the series' open threshold on at least ``confirm`` buckets: ``open_threshold`` or
the level its own ordinary days reach once a month, whichever is higher. So a report ends when
the series is back in its expected range, and a series that is bursty by nature needs a burst
beyond its usual ones. An event is back-dated to where the deviation began and ends where it
ended (the CUSUM change points of the per-bucket deviations), not where the rolling windows,
which trail it by their width, fall back. The CUSUM's allowance is half the event's own shift
(Page's reference value for a shift of that size): a burst is dated from where it rose, not from
hours of mild excess before it that a fixed allowance would sum up. Events on one series closer than
``merge_gap`` buckets are one report. Everything is recomputed from the lookback window each
tick (same data, same events), and reports carry on from the previous tick's log.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

#: Rolling windows in buckets: 30 minutes for sharp events, 2 hours for slow ones.
WINDOWS = [6, 24]


class DetectionParams(BaseModel):
    windows: list[int] = Field(
        WINDOWS, description="Rolling windows in buckets (30 minutes: sharp events; 2 hours: slow ones)."
    )
    open_threshold: float = Field(
        4.5, description="|D| a report needs to open (at least; a bursty series' own bar is higher)."
    )
    keep_threshold: float = Field(2.0, description="|D| that keeps a report's run going.")
    confirm: int = Field(3, description="Buckets at or above open_threshold before a report opens.")
    model_error: float = Field(0.1, description="Relative error allowed for the baseline where it has not learned one.")
    lookback: int = Field(48, description="Buckets before a detection searched for where the deviation began.")
    drift: float = Field(
        0.5,
        description="Least CUSUM allowance per bucket when dating an event (in deviations); "
        "an event's own is half its shift when that is larger.",
    )
    merge_gap: int = Field(36, description="A deviation this many buckets after a report continues it (3 hours).")
    close_after: int = Field(12, description="Quiet buckets after which an open report closes (1 hour).")


@dataclass
class SeriesNoise:
    """What the baseline learned of each series' own noise (rows as the series)."""

    model_error: np.ndarray  # (n_series, len(windows)) relative error of each window's expected sum
    open_threshold: np.ndarray  # (n_series,) |D| its ordinary days rarely reach (NaN: not known)
    scored: np.ndarray  # (n_series,) False while the series is warming up: it opens no report

    @classmethod
    def uniform(cls, n_series: int, params: DetectionParams) -> SeriesNoise:
        return cls(
            np.full((n_series, len(params.windows)), params.model_error),
            np.full(n_series, np.nan),
            np.ones(n_series, dtype=bool),
        )

    def take(self, rows) -> SeriesNoise:
        """The noise of some series (an index array or a slice)."""
        return SeriesNoise(self.model_error[rows], self.open_threshold[rows], self.scored[rows])

    @classmethod
    def unscored(cls, n_series: int, windows: int) -> SeriesNoise:
        """Series the baseline has no row for: not scored until it has."""
        return cls(np.full((n_series, windows), np.nan), np.full(n_series, np.nan), np.zeros(n_series, dtype=bool))


def rolling_deviation(
    actual: np.ndarray, expected: np.ndarray, params: DetectionParams, noise: SeriesNoise | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-bucket deviation ``d`` (its sign dates an event's start) and the rolling score ``D``
    (the strongest of the windows), both ``(n_series, buckets)``; ``noise`` (default: the
    params' ``model_error`` for every series) sets each series' relative error per window."""
    noise = noise or SeriesNoise.uniform(actual.shape[0], params)
    e = np.asarray(noise.model_error, dtype=np.float64)
    if e.shape[1] != len(params.windows):
        raise ValueError(
            f"the baseline learned the errors of {e.shape[1]} windows, the detector scores {len(params.windows)} "
            f"({params.windows}): give both the same windows"
        )
    d = (actual - expected) / np.sqrt(expected + (e[:, :1] * expected) ** 2)
    longest = max(params.windows)
    sold = np.cumsum(np.pad(actual, ((0, 0), (longest, 0))), axis=1)
    meant = np.cumsum(np.pad(expected, ((0, 0), (longest, 0))), axis=1)
    rolled = np.zeros_like(d)
    for i, w in enumerate(params.windows):
        s = sold[:, longest:] - sold[:, longest - w : -w]
        m = np.maximum(meant[:, longest:] - meant[:, longest - w : -w], 0.0)
        # Anscombe's root transform makes a Poisson count near-normal even when it is small.
        score = 2 * (np.sqrt(s + 0.375) - np.sqrt(m + 0.125)) / np.sqrt(1 + e[:, i : i + 1] ** 2 * m)
        rolled = np.where(np.abs(score) > np.abs(rolled), score, rolled)
    return d, rolled


def find_events(
    actual: np.ndarray, expected: np.ndarray, params: DetectionParams | None = None, noise: SeriesNoise | None = None
) -> pd.DataFrame:
    """Events per series: ``series, sign, start, end, detected_at, peak`` (bucket indices into the
    window). A series opens at ``params.open_threshold`` or its own ``noise.open_threshold``,
    whichever is higher; a warming-up one never."""
    params = params or DetectionParams()
    noise = noise or SeriesNoise.uniform(actual.shape[0], params)
    d, rolled = rolling_deviation(actual, expected, params, noise)
    open_at = np.fmax(noise.open_threshold, params.open_threshold)
    candidates = (np.abs(rolled) >= open_at[:, None]).any(axis=1) & noise.scored
    rows = []
    for series in np.flatnonzero(candidates):
        opens = open_at[series]
        for sign in (1, -1):
            signed = sign * rolled[series]
            keep = np.concatenate([[False], signed >= params.keep_threshold, [False]])
            edges = np.flatnonzero(np.diff(keep.astype(np.int8)))
            for first, stop in zip(edges[::2], edges[1::2]):
                strong = np.flatnonzero(signed[first:stop] >= opens)
                if len(strong) < params.confirm:
                    continue
                opened = first + int(strong[0])
                allowance = cusum_allowance(sign * d[series], opened, params)
                start = change_point(sign * d[series], opened, params.lookback, allowance)
                end = end_point(sign * d[series], start, stop, allowance)
                rows.append(
                    {
                        "series": int(series),
                        "sign": sign,
                        "start": int(start),
                        "end": int(end),
                        "detected_at": int(first + strong[params.confirm - 1]),
                        "peak": float(np.abs(rolled[series, first:stop]).max()),
                    }
                )
    events = pd.DataFrame(rows, columns=["series", "sign", "start", "end", "detected_at", "peak"])
    return events.sort_values(["series", "start", "sign"], kind="mergesort").reset_index(drop=True)


def cusum_allowance(signed_d: np.ndarray, opened: int, params: DetectionParams) -> float:
    """The CUSUM allowance an event is dated with: half its shift, the mean per-bucket deviation
    over the shortest window when it first reached the open bar (at least ``params.drift``).
    Page's CUSUM detects a shift of size ``delta`` best with reference value ``delta / 2``, and a
    change point estimated with it is where the series crossed halfway to the shifted level."""
    shift = float(signed_d[max(0, opened - min(params.windows) + 1) : opened + 1].mean())
    return max(params.drift, shift / 2)


def change_point(signed_d: np.ndarray, detected: int, lookback: int, allowance: float) -> int:
    """Where a deviation began: the CUSUM change-point estimate, the bucket after the lowest point
    of ``cumsum(signed_d - allowance)`` over the ``lookback`` buckets before ``detected``."""
    first = max(0, detected - lookback)
    path = np.concatenate([[0.0], np.cumsum(signed_d[first : detected + 1] - allowance)])
    return first + int(np.argmin(path))


def end_point(signed_d: np.ndarray, start: int, stop: int, allowance: float) -> int:
    """Where a deviation ended: the last bucket before ``stop`` at which ``cumsum(signed_d - allowance)``
    from ``start`` peaks (the mirror of :func:`change_point`). The rolling windows stay high for
    as long as they are wide after a deviation ends; the report's window is the deviation."""
    path = np.cumsum(signed_d[start:stop] - allowance)
    return start + len(path) - 1 - int(np.argmax(path[::-1]))


def merge_events(events: pd.DataFrame, merge_gap: int) -> pd.DataFrame:
    """One row per report: events on a series starting within ``merge_gap`` buckets of the
    previous one's end continue it (``start`` of the first, ``end`` of the last, the strongest peak)."""
    if events.empty:
        return events.assign(events=pd.Series(dtype="int64"))
    e = events.sort_values(["series", "start"], kind="mergesort").reset_index(drop=True)
    reach = e.groupby("series")["end"].cummax().shift()
    new_report = (e["series"] != e["series"].shift()) | (e["start"] > reach + merge_gap)
    e["report"] = new_report.cumsum()
    return (
        e.groupby("report", sort=True)
        .agg(
            series=("series", "first"),
            sign=("sign", "first"),
            start=("start", "min"),
            end=("end", "max"),
            detected_at=("detected_at", "min"),
            peak=("peak", "max"),
            events=("start", "size"),
        )
        .reset_index(drop=True)
    )
