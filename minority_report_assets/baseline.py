"""Expected units per store/SKU and 5-minute bucket of a day, from the weeks before it (pure).

The model, per series:

    expected[slot] = level[slot] * weekday_factor

``level[slot]``: the units sold in that slot and its two neighbours on each side, on each of the
history days (28 by default); days whose value lies more than ``outlier_sigmas`` Poisson
standard deviations from the median day are left out, and the rest are averaged. So a past
promotion or stockout on a few days does not move the level, and ordinary days are not trimmed
(trimming skewed, small counts biases them low). The
``weekday_factor``: the median daily total of the history days that share the target day's
weekday, over the median daily total of all history days (1 when the history has no such day);
each history day is divided by its own weekday's factor before it joins the level.
Both are robust statistics, so anomalies in the history are shrugged off rather than learned.
A series' regular price is the median over the history days of each day's median selling
price, so a promotion's cut prices on a few days do not move it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field


class BaselineParams(BaseModel):
    history_days: int = Field(28, description="Days before the target day the model learns from.")
    neighbours: int = Field(2, description="Slots on each side pooled with a slot.")
    outlier_sigmas: float = Field(3.0, description="Days this many Poisson deviations from the median day are left out.")
    floor: float = Field(0.05, description="Smallest expected units per bucket (keeps deviations finite).")


def expected_day(history: np.ndarray, history_weekdays: np.ndarray, weekday: int,
                 params: BaselineParams | None = None) -> np.ndarray:
    """Expected units ``(n_series, slots)`` of a day with ``weekday`` from ``history``
    ``(n_series, n_days, slots)`` whose days have ``history_weekdays`` (Monday = 0)."""
    params = params or BaselineParams()
    n_series, n_days, slots = history.shape
    factors = weekday_factors(history.sum(axis=2), history_weekdays)  # (series, 7)
    per_day = factors[:, history_weekdays]  # each history day's factor
    k = params.neighbours
    padded = np.pad(history, ((0, 0), (0, 0), (k + 1, k)), mode="edge")
    running = np.cumsum(padded, axis=2)
    pooled = running[:, :, 2 * k + 1:] - running[:, :, :slots]  # each slot with k neighbours per side, per day
    median = np.median(pooled, axis=1, keepdims=True)
    usual = np.abs(pooled - median) <= params.outlier_sigmas * np.sqrt(median + 1.0)
    pooled = pooled / per_day[:, :, None]  # as if every day were an average weekday
    level = (pooled * usual).sum(axis=1) / np.maximum(usual.sum(axis=1), 1) / (2 * k + 1)
    factor = factors[:, weekday]
    return np.maximum(level * factor[:, None], params.floor)


def weekday_factors(totals: np.ndarray, weekdays: np.ndarray) -> np.ndarray:
    """``(n_series, 7)``: the median daily total of each weekday over the median of all days
    (1 where the history holds no such weekday or nothing was sold)."""
    overall = np.median(totals, axis=1)
    out = np.ones((totals.shape[0], 7))
    for w in range(7):
        same = weekdays == w
        if same.any():
            out[:, w] = np.where(overall > 0, np.median(totals[:, same], axis=1) / np.where(overall > 0, overall, 1), 1.0)
    return np.where(out > 0, out, 1.0)


def history_matrix(frame: pd.DataFrame, keys: pd.DataFrame, days: list[pd.Timestamp], slots: int = 288) -> np.ndarray:
    """Rows ``store_id, sku, ts, units`` as ``(n_series, n_days, slots)`` in the order of ``keys``
    (missing buckets are 0 units: nothing sold)."""
    out = np.zeros((len(keys), len(days), slots))
    if frame.empty:
        return out
    index = pd.MultiIndex.from_frame(keys[["store_id", "sku"]])
    series = index.get_indexer(pd.MultiIndex.from_frame(frame[["store_id", "sku"]]))
    ts = pd.to_datetime(frame["ts"])
    day_index = pd.Index(days).get_indexer(ts.dt.normalize())
    slot = ((ts - ts.dt.normalize()) / pd.Timedelta(minutes=5)).astype(int).to_numpy()
    ok = (series >= 0) & (day_index >= 0)
    out[series[ok], day_index[ok], slot[ok]] = frame["units"].to_numpy(dtype=np.float64)[ok]
    return out


def stack_days(days: list[tuple[pd.DataFrame, np.ndarray]]) -> tuple[pd.DataFrame, np.ndarray]:
    """Per-day ``(keys, units (n_keys, slots))`` as one ``(n_series, n_days, slots)`` float32 history
    over the union of the keys (sorted), a series missing on a day selling 0 that day."""
    keys = pd.concat([k for k, _ in days]).drop_duplicates().sort_values(["store_id", "sku"]).reset_index(drop=True)
    index = pd.MultiIndex.from_frame(keys)
    slots = days[0][1].shape[1] if days else 288
    out = np.zeros((len(keys), len(days), slots), dtype=np.float32)
    for i, (day_keys, units) in enumerate(days):
        out[index.get_indexer(pd.MultiIndex.from_frame(day_keys)), i, :] = units
    return keys, out


def daily_price(buckets: pd.DataFrame) -> pd.Series:
    """One day's median selling price per ``(store_id, sku)`` (series without a price left out)."""
    return buckets.dropna(subset=["price"]).groupby(["store_id", "sku"])["price"].median()


def regular_prices(daily: list[pd.Series], keys: pd.DataFrame) -> np.ndarray:
    """Regular price per row of ``keys`` (NaN where no price was ever seen): the median of the
    history days' :func:`daily_price`."""
    daily = [d for d in daily if not d.empty]
    if not daily:
        return np.full(len(keys), np.nan)
    regular = pd.concat(daily).groupby(level=[0, 1]).median()
    return regular.reindex(pd.MultiIndex.from_frame(keys[["store_id", "sku"]])).to_numpy(dtype=np.float64)
