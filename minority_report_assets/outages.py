"""Source outages (pure): stretches in which a shard's sales source delivered no row at all while
the baseline expected clearly more than nothing.

A bucket without a row reads as 0 units for each series. For one series that is right (it sold
nothing); when the whole shard goes silent it is the feed that stopped, not the demand, and the
zeros would open a stockout report for every series that usually sells. The rule: a run of
consecutive buckets with no row for any series of the shard is an outage when the detector,
scoring the silence as if the shard were one series, would call it a deviation: selling nothing
where ``M`` units were expected scores ``D(0, M) <= -open_threshold`` with the least model error
(see :mod:`minority_report_assets.detection`), about 9 units with the defaults (Poisson's chance
of selling none is then e^-9, 1 in 8,000). ``M`` counts only what the baseline expects above its
floor (the floor keeps scores finite, it is no demand) and leaves out the series expecting the
most: one series' stockout explains its own silence, so the others' silence must be implausible
on its own. A quiet night, where the baseline expects about nothing, is never an outage.

A shard, not the whole source: a tick of one shard reads its own sales partition only, and a
source that stops is silent in every shard, each recording it once per tick.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from minority_report_assets.detection import DetectionParams

#: What an outage row says (besides the tick's partition columns).
COLUMNS = ["bucket_start", "bucket_end", "buckets", "expected_total", "ongoing"]


def silent_runs(delivered: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of each run of buckets in which no row arrived."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], (~delivered).astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def silence_score(units: float, model_error: float) -> float:
    """The detector's score of selling nothing where ``units`` were expected (Anscombe's root scale)."""
    return float(2 * (np.sqrt(0.375) - np.sqrt(units + 0.125)) / np.sqrt(1 + model_error**2 * units))


def outages(
    delivered: np.ndarray, expected: np.ndarray, params: DetectionParams, floor: float
) -> list[tuple[int, int, float]]:
    """The silent runs of ``delivered`` (per bucket: any row arrived) that are outages, as
    ``(start, stop, units expected over the run above the floor)``; ``expected`` is
    ``(n_series, buckets)``."""
    demand = np.maximum(expected - floor, 0.0)
    found = []
    for start, stop in silent_runs(delivered):
        per_series = demand[:, start:stop].sum(axis=1)
        total = float(per_series.sum())
        others = total - float(per_series.max(initial=0.0))
        if silence_score(others, params.model_error) <= -params.open_threshold:
            found.append((start, stop, total))
    return found


def observed(n_buckets: int, runs: list[tuple[int, int, float]]) -> np.ndarray:
    """Per bucket: False inside an outage (the source said nothing), True elsewhere."""
    seen = np.ones(n_buckets, dtype=bool)
    for start, stop, _ in runs:
        seen[start:stop] = False
    return seen


def fill(actual: np.ndarray, expected: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """``actual`` with the outage buckets as expected: a bucket never delivered is no evidence
    either way, so it neither opens a report nor bends a report's shape with a false dip."""
    return np.where(seen[None, :], actual, expected)


def outage_rows(
    runs: list[tuple[int, int, float]],
    start: pd.Timestamp,
    tick_start: pd.Timestamp,
    n_buckets: int,
    bucket: pd.Timedelta,
) -> pd.DataFrame:
    """One row per outage of a tick's lookback (first bucket at ``start``) that reaches into the
    tick or ended as it began: an ongoing outage is written each tick, and once more when it ended."""
    rows = [
        {
            "bucket_start": start + first * bucket,
            "bucket_end": start + stop * bucket,
            "buckets": stop - first,
            "expected_total": round(units, 6),
            "ongoing": stop == n_buckets,
        }
        for first, stop, units in runs
        if start + stop * bucket >= tick_start
    ]
    return pd.DataFrame(rows, columns=COLUMNS).astype({"buckets": "int64", "ongoing": bool})
