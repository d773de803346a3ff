"""Deterministic demo sales with planted anomalies (pure).

Each store/SKU series has a level, a daily profile (quiet nights, a midday and an evening peak)
and a weekend lift; units per 5-minute bucket are Poisson around that times a mood (a day's
and an hour's, as strong as the series is volatile), so counts are overdispersed and their
deviations last hours, as real ones do. Every value is drawn from
a generator seeded by (series, day), so any window can be produced alone and always the same.
Anomalies of every library shape (and one shape outside it) are planted into chosen series on
the demo days, at varied magnitude and duration; a few are planted into the history too, which
the baseline must shrug off. Each series sells at its regular price; a promotion cuts it (by
10-35%) while it runs. A bucket without sales has no price.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from minority_report_assets.library import load_spec
from minority_report_assets.shapes import LIBRARY_SHAPES, OUTSIDE_LIBRARY

BUCKET = pd.Timedelta(minutes=5)
BUCKETS_PER_DAY = 288
DEMO_DAY = pd.Timestamp("2026-11-20")
SHAPES = {**LIBRARY_SHAPES, **OUTSIDE_LIBRARY}


@dataclass(frozen=True)
class Planted:
    series: int
    shape: str
    start: pd.Timestamp
    buckets: int
    magnitude: float


def _seed(*parts) -> int:
    return int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:15], 16)


def series_keys(n_series: int) -> pd.DataFrame:
    """``store_id, sku`` of each series (20 SKUs per store)."""
    i = np.arange(n_series)
    return pd.DataFrame({"store_id": [f"store-{s:04d}" for s in i // 20], "sku": [f"sku-{k:03d}" for k in i % 20]})


def levels(n_series: int, seed: int = 0) -> np.ndarray:
    """Mean units per bucket at the daily peak, per series."""
    return np.random.default_rng(_seed("levels", seed)).lognormal(np.log(6.0), 0.5, n_series)


def daily_profile() -> np.ndarray:
    hours = (np.arange(BUCKETS_PER_DAY) + 0.5) / 12
    midday, evening = np.exp(-0.5 * ((hours - 12.5) / 2.0) ** 2), np.exp(-0.5 * ((hours - 18.5) / 1.8) ** 2)
    return 0.12 + 0.75 * midday + 0.9 * evening


def expected_units(n_series: int, day: pd.Timestamp, seed: int = 0) -> np.ndarray:
    """The true mean per series and bucket of a day, before anomalies: ``(n_series, 288)``."""
    weekend = 1.3 if pd.Timestamp(day).dayofweek >= 5 else 1.0
    return levels(n_series, seed)[:, None] * daily_profile()[None, :] * weekend


#: Durations (buckets) and magnitudes the demo plants: the library's ranges for its patterns.
RANGES = {
    entry["shape"]: (tuple(entry["duration_buckets"]), tuple(entry["magnitude"])) for entry in load_spec()["clusters"]
}
RANGES["oscillation"] = ((36, 96), (1.0, 2.5))


def planted(n_series: int, day: pd.Timestamp, seed: int = 0, share: float | None = None) -> list[Planted]:
    """The anomalies planted on ``day``: on demo days in ``share`` of the series (default 0.3), in history 3%."""
    day = pd.Timestamp(day).normalize()
    share = share if share is not None else (0.3 if day == DEMO_DAY else 0.03)
    rng = np.random.default_rng(_seed("planted", seed, day.date()))
    chosen = np.flatnonzero(rng.random(n_series) < share)
    names = sorted(SHAPES)
    out = []
    for s in chosen:
        shape = names[int(rng.integers(0, len(names)))]
        (d_lo, d_hi), (m_lo, m_hi) = RANGES[shape]
        buckets = int(rng.integers(d_lo, d_hi + 1))
        start = int(rng.integers(7 * 12, BUCKETS_PER_DAY - min(buckets, 12 * 12)))  # starts in opening hours
        magnitude = float(np.exp(rng.uniform(np.log(m_lo), np.log(m_hi)))) if m_hi > m_lo else float(m_lo)
        out.append(Planted(int(s), shape, day + start * BUCKET, buckets, magnitude))
    return out


def regular_prices(n_series: int, seed: int = 0) -> np.ndarray:
    """Each series' shelf price."""
    return np.round(np.random.default_rng(_seed("prices", seed)).lognormal(np.log(3.5), 0.6, n_series), 2)


def price_cut(event: Planted, seed: int = 0) -> float:
    """The share a planted promotion takes off the price (0 for every other anomaly)."""
    if event.shape != "promotion":
        return 0.0
    return float(np.random.default_rng(_seed("cut", seed, event.series, event.start)).uniform(0.10, 0.35))


def day_prices(n_series: int, day: pd.Timestamp, seed: int = 0) -> np.ndarray:
    """Price per series and bucket of a day, ``(n_series, 288)``; NaN where nothing sold."""
    return _day_prices(n_series, pd.Timestamp(day).normalize(), seed).copy()


@functools.lru_cache(maxsize=2)  # as _day_units: the day's ticks read the same day
def _day_prices(n_series: int, day: pd.Timestamp, seed: int) -> np.ndarray:
    units, events = _day_units(n_series, day, seed)
    prices = np.repeat(regular_prices(n_series, seed)[:, None], BUCKETS_PER_DAY, axis=1)
    for e in events:
        if e.shape == "promotion":
            first = int((e.start - day) / BUCKET)
            prices[e.series, first : first + e.buckets] = np.round(
                prices[e.series, first] * (1 - price_cut(e, seed)), 2
            )
    return np.where(units > 0, prices, np.nan)


def day_units(n_series: int, day: pd.Timestamp, seed: int = 0) -> tuple[np.ndarray, list[Planted]]:
    """Units per series and bucket of a day, ``(n_series, 288)`` float, and what was planted."""
    units, events = _day_units(n_series, pd.Timestamp(day).normalize(), seed)
    return units.copy(), events


@functools.lru_cache(maxsize=2)  # a day of ticks reads the same day 96 times
def _day_units(n_series: int, day: pd.Timestamp, seed: int) -> tuple[np.ndarray, list[Planted]]:
    mean = expected_units(n_series, day, seed)
    events = planted(n_series, day, seed)
    for e in events:
        first = int((e.start - day) / BUCKET)
        u = (np.arange(e.buckets) + 0.5) / e.buckets
        stop = min(first + e.buckets, BUCKETS_PER_DAY)  # an event may run past midnight: the day keeps its part
        mean[e.series, first:stop] *= np.maximum(0.0, 1.0 + e.magnitude * SHAPES[e.shape](u))[: stop - first]
    rng = np.random.default_rng(_seed("units", seed, day.date()))
    return rng.poisson(mean * moods(n_series, day, seed)).astype(np.float64), events


def volatility(n_series: int, seed: int = 0) -> np.ndarray:
    """How much each series strays from its mean beyond Poisson (a day's mood, an hour's drift)."""
    return np.random.default_rng(_seed("volatility", seed)).uniform(0.02, 0.1, n_series)


def moods(n_series: int, day: pd.Timestamp, seed: int = 0) -> np.ndarray:
    """The multiplicative noise real counts have and Poisson lacks, mean 1, ``(n_series, 288)``:
    a mood per day (lognormal, the series' volatility) times a drift within the day (a random
    walk over hours, half as strong, interpolated), so counts are overdispersed and their
    deviations last hours."""
    v = volatility(n_series, seed)[:, None]
    rng = np.random.default_rng(_seed("moods", seed, pd.Timestamp(day).date()))
    day_mood = rng.normal(0.0, 1.0, (n_series, 1)) * v
    steps = rng.normal(0.0, 1.0, (n_series, 25)) * v / 4 / np.sqrt(24)
    walk = np.cumsum(steps, axis=1)
    walk -= walk.mean(axis=1, keepdims=True)
    hours = (np.arange(BUCKETS_PER_DAY) + 0.5) / 12
    drift = np.stack([np.interp(hours, np.arange(25), w) for w in walk])
    log_mood = day_mood + drift
    return np.exp(log_mood - (v**2) * (1 + 1 / 8) / 2)


def sales(n_series: int, start: pd.Timestamp, end: pd.Timestamp, seed: int = 0) -> pd.DataFrame:
    """Rows ``store_id, sku, ts, units, price`` for buckets with ``start <= ts < end``."""
    keys = series_keys(n_series)
    frames = []
    for day in pd.date_range(pd.Timestamp(start).normalize(), (pd.Timestamp(end) - BUCKET).normalize(), freq="D"):
        units, _ = _day_units(n_series, day, seed)
        ts = day + np.arange(BUCKETS_PER_DAY) * BUCKET
        keep = (ts >= start) & (ts < end)
        block = units[:, keep]
        series = np.repeat(np.arange(n_series), block.shape[1])  # texts taken by position: not rebuilt row by row
        frames.append(
            pd.DataFrame(
                {
                    "store_id": keys["store_id"].array.take(series),
                    "sku": keys["sku"].array.take(series),
                    "ts": np.tile(ts[keep], n_series),
                    "units": block.ravel(),
                    "price": _day_prices(n_series, day, seed)[:, keep].ravel(),
                }
            )
        )
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["store_id", "sku", "ts", "units", "price"])
    )
