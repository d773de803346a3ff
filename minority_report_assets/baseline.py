"""What each store/SKU series is expected to sell per 5-minute bucket of a day, and how much it
strays on its own, learned from the weeks before it (pure).

The model, per series (from its observed history days, 28 by default):

    expected[slot] = level[slot] * weekday_factor * trend

- ``level[slot]``: the units sold in that slot and its two neighbours on each side, on each
  history day, averaged over the days within ``outlier_sigmas`` robust deviations of the median
  day (the series' own spread across days, never below Poisson's), so a past promotion or
  stockout does not move it and a bursty series is not trimmed to its median day. The days
  averaged are those whose weekday has the target day's shape of the day, as far as the history
  tells the weekdays apart (:func:`weekday_similarity`): a commuter series' Saturday learns from
  its weekends, its Friday from its working days, a series with one shape every day from all.
- ``weekday_factor``: the median daily total of the history days sharing the target day's
  weekday over the series' median daily total, shrunk towards the rhythm all series share as far
  as the series' own day-to-day moods make it uncertain; each history day is divided by its own
  factor before it joins the level.
- a trend: the Theil-Sen slope of the log daily totals, kept where it exceeds two standard errors
  of the series' day-to-day moods; the level (the history's centre) is carried to the target day
  along it, and each history day is divided by its place on it before it joins the level.
- ``model_error`` (one per detection window): the relative error of the expected sum over the
  window that makes the history's own deviations unit-scaled (their median squared score is a
  squared normal's). Poisson counts keep the floor; real counts (overdispersed, with day-level
  moods) get what their history shows.
- ``threshold``: the deviation the series' ordinary days reach once in ``return_days`` days, from
  a Gumbel law fitted robustly to the history days' largest deviations. A series that bursts
  every week has a higher bar than one that never does.
- Partial history: a day before a series' first row is missing, not a day without sales; with
  fewer than ``min_history_days`` observed days the series is ``warming_up`` and opens no report.

All are medians or robust fits, so anomalies in the history are shrugged off rather than learned.
A series' regular price is the median over the history days of each day's median selling
price, so a promotion's cut prices on a few days do not move it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from minority_report_assets.detection import WINDOWS, SeriesNoise

#: Series fitted at a time: their temporaries (a few copies of 28 days x 288 slots each) stay small.
SERIES_BLOCK = 2048
#: The median of a squared standard normal: what a unit-scaled deviation's square has half the time.
CHI2_1_MEDIAN = 0.4549364
#: A standard Gumbel law's median and interquartile range (-ln ln 2; ln ln 4 - ln ln (4/3)).
GUMBEL_MEDIAN, GUMBEL_IQR = 0.3665129, 1.5725336


class BaselineParams(BaseModel):
    history_days: int = Field(28, description="Days before the target day the model learns from.")
    neighbours: int = Field(2, description="Slots on each side pooled with a slot.")
    outlier_sigmas: float = Field(
        3.0, description="Days this many robust deviations (MAD, at least Poisson) from the median day are left out."
    )
    floor: float = Field(0.05, description="Smallest expected units per bucket (keeps deviations finite).")
    windows: list[int] = Field(
        WINDOWS, description="Rolling windows (buckets) whose relative error is learned: the detector's."
    )
    min_model_error: float = Field(
        0.1, description="Relative error the baseline is never trusted below (its own estimation error)."
    )
    return_days: float = Field(
        30.0,
        description="A deviation the series' ordinary days reach once in this many days opens no "
        "report: the open threshold is that return level of its daily maxima.",
    )
    min_history_days: int = Field(
        7, description="Days of history (a whole week) a series needs before it is scored; fewer and it is warming up."
    )


@dataclass
class Baseline:
    """A day's model of each series (rows in the order of the history)."""

    expected: np.ndarray  # (n_series, slots) expected units per bucket
    model_error: np.ndarray  # (n_series, len(windows)) relative error of each window's expected sum
    threshold: np.ndarray  # (n_series,) |D| the series' ordinary days reach once in return_days days
    history_days: np.ndarray  # (n_series,) history days the series was observed on
    warming_up: np.ndarray  # (n_series,) fewer than min_history_days: not scored yet

    @property
    def noise(self) -> SeriesNoise:
        return SeriesNoise(self.model_error, self.threshold, ~self.warming_up)

    def rows(self, keys: pd.DataFrame, day: pd.Timestamp, regular_price: np.ndarray, shard: np.ndarray) -> pd.DataFrame:
        """The ``sales_baseline`` rows of ``day`` for ``keys`` (store_id, sku per series), vectors as
        float32 as the warehouse stores them."""
        return keys.assign(
            day=day,
            shard=shard,
            expected=list(self.expected.astype(np.float32)),
            model_error=list(self.model_error.astype(np.float32)),
            open_threshold=self.threshold,
            regular_price=regular_price,
            history_days=self.history_days,
            warming_up=self.warming_up,
        )


def fit_baseline(
    history: np.ndarray,
    history_weekdays: np.ndarray,
    weekday: int,
    params: BaselineParams | None = None,
    observed: np.ndarray | None = None,
) -> Baseline:
    """The model of a day with ``weekday`` from ``history`` ``(n_series, n_days, slots)`` whose days
    have ``history_weekdays`` (Monday = 0). ``observed`` ``(n_series, n_days)``: the days each
    series existed on (default all); the others are missing, never zero sales."""
    params = params or BaselineParams()
    n_series, n_days, slots = history.shape
    observed = np.ones((n_series, n_days), dtype=bool) if observed is None else np.asarray(observed, dtype=bool)
    if n_days == 0 or n_series == 0:  # no history at all (a new deployment's first day): every series warms up
        return _unscored(n_series, slots, params, observed.sum(axis=1))
    totals, centre = history.sum(axis=2), _mean_day(observed)
    from_centre = (
        np.arange(n_days)[None, :] - centre[:, None]
    )  # each history day's place, in days from the history's centre
    # The trend and the weekly rhythm confound each other on four weeks: the rough trend first, the
    # rhythm of the days without it, then the trend of the days without their rhythm.
    rough = trend_slopes(totals, observed)
    drift = np.exp(rough[:, None] * from_centre)
    factors = weekday_factors(totals / drift, history_weekdays, observed)  # (series, 7): shared across series
    slope = trend_slopes(totals / factors[:, history_weekdays], observed)
    # Each history day's multiplier (its weekday, its place on the trend) and the target day's.
    per_day = factors[:, history_weekdays] * np.exp(slope[:, None] * from_centre)
    target = factors[:, weekday] * np.exp(slope * (n_days - centre))
    # Each series' slots alone: in blocks, so a large catalogue's temporaries stay a block's size.
    parts = [
        _fit_slots(
            history[i : i + SERIES_BLOCK],
            observed[i : i + SERIES_BLOCK],
            per_day[i : i + SERIES_BLOCK],
            target[i : i + SERIES_BLOCK],
            np.asarray(history_weekdays),
            weekday,
            params,
        )
        for i in range(0, max(n_series, 1), SERIES_BLOCK)
    ]
    expected, error, threshold = (np.concatenate(p) for p in zip(*parts))
    days = observed.sum(axis=1)
    # A history no float holds (a value near float32's limit) spoils its own series' fit only: that
    # series is not scored, the others are.
    spoiled = ~(np.isfinite(expected).all(axis=1) & np.isfinite(error).all(axis=1) & np.isfinite(threshold))
    if spoiled.any():
        blank = _unscored(int(spoiled.sum()), expected.shape[1], params, days[spoiled])
        expected[spoiled], error[spoiled], threshold[spoiled] = blank.expected, blank.model_error, blank.threshold
    return Baseline(expected, error, threshold, days, (days < params.min_history_days) | spoiled)


def _unscored(n_series: int, slots: int, params: BaselineParams, days: np.ndarray) -> Baseline:
    """A model for series that are not scored: the floor expected, the least model error, no threshold."""
    return Baseline(
        np.full((n_series, slots), params.floor, dtype=np.float32),
        np.full((n_series, len(params.windows)), params.min_model_error, dtype=np.float32),
        np.full(n_series, np.nan),
        np.asarray(days, dtype=np.int64),
        np.ones(n_series, dtype=bool),
    )


def _fit_slots(
    history: np.ndarray,
    observed: np.ndarray,
    per_day: np.ndarray,
    target: np.ndarray,
    weekdays: np.ndarray,
    weekday: int,
    params: BaselineParams,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected units, model error and open threshold of some series (see :func:`fit_baseline`);
    ``per_day``: each history day's multiplier, ``target``: the target day's; ``weekdays``: each
    history day's weekday, ``weekday``: the target day's."""
    slots = history.shape[2]
    per_day = per_day.astype(np.float32)
    k = params.neighbours
    padded = np.pad(np.asarray(history, dtype=np.float32), ((0, 0), (0, 0), (k + 1, k)), mode="edge")
    running = np.cumsum(padded, axis=2)
    pooled = running[:, :, 2 * k + 1 :] - running[:, :, :slots]  # each slot with k neighbours per side, per day
    del padded, running
    pooled /= per_day[:, :, None]  # as if every day were an average weekday at the history's centre
    days_mask = np.broadcast_to(observed[:, :, None], pooled.shape)
    # Each day is measured against the days whose weekday has its shape of the day (as far as
    # the history can tell them apart): a Saturday's quiet morning is not an outlier against the
    # working days' rush hour, and a Friday still learns from Monday to Thursday.
    # The shapes are told apart at the model's own resolution: disjoint runs of 2k + 1 slots.
    alike = weekday_similarity(pooled[:, :, :: 2 * k + 1], observed, weekdays)  # (series, 7, 7)
    medians, seen = _weekday_medians(pooled, observed, weekdays)
    centre = _pooled(medians * seen[:, :, None], seen[:, :, None], alike)[:, weekdays]
    del medians
    away = pooled - centre
    np.abs(away, out=away)
    # The series' own spread across days (MAD), never below Poisson's: bursty series are not
    # trimmed to their median day. Computed in place: a block's days x slots are the largest arrays.
    limit = np.sqrt(centre + 1.0, out=centre)
    np.maximum(limit, 1.4826 * _median(away, days_mask)[:, None, :], out=limit)
    limit *= params.outlier_sigmas
    usual = away <= limit
    usual &= observed[:, :, None]
    del away, limit, centre
    kept = pooled * usual
    sums, counts = _weekday_sums(kept, usual, weekdays)
    like_sums, like_counts = _pool(sums, alike), _pool(counts, alike)  # per weekday: its alike days'
    # A weekday with no usual day alike to it (a short history) takes the level of all the days.
    everyday = kept.sum(axis=1) / np.maximum(usual.sum(axis=1), 1)
    levels = np.where(like_counts > 0.5, like_sums / np.maximum(like_counts, 1e-9), everyday[:, None, :])
    expected_level = levels[:, weekday]
    # Each history day is fitted without itself: a weekday's few days would otherwise fit a day
    # partly by itself and understate the model's error.
    others = like_counts[:, weekdays] - usual
    fitted_level = like_sums[:, weekdays] - kept
    fitted_level /= np.maximum(others, 1e-9)
    np.copyto(fitted_level, levels[:, weekdays], where=others <= 0.5)
    del pooled, usual, kept, others, like_sums, like_counts
    expected = np.maximum(expected_level / (2 * k + 1) * target[:, None], params.floor)
    fitted = np.maximum(
        fitted_level / (2 * k + 1) * per_day[:, :, None], params.floor
    )  # each history day's expectation
    error = np.stack(
        [window_error(history, fitted, observed, w, params.min_model_error) for w in params.windows], axis=1
    )
    threshold = return_level(daily_maxima(history, fitted, error, params.windows), observed, params.return_days)
    return expected, error, threshold


def weekday_similarity(pooled: np.ndarray, observed: np.ndarray, weekdays: np.ndarray) -> np.ndarray:
    """``(n_series, 7, 7)``: how far each weekday's days may stand in for another's (1: the history
    cannot tell their shapes of the day apart; 0: they plainly differ).

    For each pair, the positive-part James-Stein factor ``min(1, noise / signal)``: the signal is
    how far the two weekdays' mean days differ (summed over the slots), the noise what two means
    of that few days differ by chance (the within-weekday variance per slot, over their days). A
    series whose days share one shape (most products) pools its whole history; a commuter series
    pools its working days and its weekend days apart. A weekday the history lacks is alike to none."""
    n_series, _, slots = pooled.shape
    mask = observed[:, :, None]
    means = np.zeros((n_series, 7, slots))
    days = np.zeros((n_series, 7))
    squares, freedom = np.zeros((n_series, slots)), np.zeros(n_series)
    for w in np.unique(weekdays):
        same = weekdays == w
        days[:, w] = observed[:, same].sum(axis=1)
        means[:, w] = (pooled[:, same] * mask[:, same]).sum(axis=1) / np.maximum(days[:, w], 1)[:, None]
        squares += (((pooled[:, same] - means[:, w, None, :]) ** 2) * mask[:, same]).sum(axis=1)
        freedom += np.maximum(days[:, w] - 1, 0)
    within = squares / np.maximum(freedom, 1)[:, None]  # (series, slots)
    inverse = np.where(days > 0, 1.0 / np.maximum(days, 1), 0.0)
    noise = within.sum(axis=1)[:, None, None] * (inverse[:, :, None] + inverse[:, None, :])
    # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b: no 7 x 7 x slots temporary.
    square = np.einsum("swt,swt->sw", means, means)
    signal = np.maximum(square[:, :, None] + square[:, None, :] - 2 * np.einsum("swt,svt->swv", means, means), 0.0)
    alike = np.clip(np.divide(noise, signal, out=np.ones_like(signal), where=signal > 0), 0.0, 1.0)
    alike[freedom == 0] = 1.0  # a history of single days cannot tell any shapes apart
    present = days > 0
    return np.where(present[:, :, None] & present[:, None, :], alike, 0.0).astype(np.float32)


def _weekday_medians(pooled: np.ndarray, observed: np.ndarray, weekdays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(n_series, 7, slots)`` each weekday's median slot level (0 where none was observed: a
    weekday without days is alike to none), and ``(n_series, 7)`` its observed days."""
    out = np.zeros((len(pooled), 7, pooled.shape[2]), dtype=np.float32)
    seen = np.zeros((len(pooled), 7))
    for w in np.unique(weekdays):
        same = weekdays == w
        observed_w = observed[:, same]
        median = _median(pooled[:, same], np.broadcast_to(observed_w[:, :, None], pooled[:, same].shape))
        out[:, w] = np.where(observed_w.any(axis=1)[:, None], median, 0.0)
        seen[:, w] = observed_w.sum(axis=1)
    return out, seen


def _weekday_sums(kept: np.ndarray, usual: np.ndarray, weekdays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(n_series, 7, slots)`` sums and counts of the usual days of each weekday."""
    sums = np.zeros((kept.shape[0], 7, kept.shape[2]), dtype=np.float32)
    counts = np.zeros(sums.shape, dtype=np.float32)
    for w in np.unique(weekdays):
        sums[:, w] = kept[:, weekdays == w].sum(axis=1)
        counts[:, w] = usual[:, weekdays == w].sum(axis=1)
    return sums, counts


def _pool(per_weekday: np.ndarray, alike: np.ndarray) -> np.ndarray:
    """``(n_series, 7, slots)``: for each weekday, the sum over the weekdays alike to it, each weighted by its likeness."""
    return np.einsum("swv,svt->swt", alike, per_weekday).astype(np.float32)


def _pooled(weighted: np.ndarray, weights: np.ndarray, alike: np.ndarray) -> np.ndarray:
    """``(n_series, 7, slots)``: per weekday, the weighted mean over the weekdays alike to it."""
    return _pool(weighted, alike) / np.maximum(_pool(np.broadcast_to(weights, weighted.shape), alike), 1e-9)


def expected_day(
    history: np.ndarray, history_weekdays: np.ndarray, weekday: int, params: BaselineParams | None = None
) -> np.ndarray:
    """Expected units ``(n_series, slots)`` of a day with ``weekday`` (:func:`fit_baseline`'s ``expected``)."""
    return fit_baseline(history, history_weekdays, weekday, params).expected


def window_error(
    history: np.ndarray, fitted: np.ndarray, observed: np.ndarray, window: int, floor: float
) -> np.ndarray:
    """Per series, the relative error ``e`` of the expected sum over ``window`` buckets that makes the
    history's own deviations unit-scaled: half its observed days' (non-overlapping) windows score
    ``D^2 = 4 (sqrt(S + 3/8) - sqrt(M + 1/8))^2 / (1 + e^2 M)`` above the median of a squared
    standard normal (0.455). A window scores above it exactly while ``e^2`` is below its own
    ``(4 (sqrt(S + 3/8) - sqrt(M + 1/8))^2 / 0.455 - 1) / M``, so ``e^2`` is the median of those.
    Poisson counts give ``e`` near 0 (the ``floor`` then holds); overdispersed ones (bursty news,
    weather, a day-level mood) give what their history shows. The median ignores the anomalous
    days, so past anomalies do not widen the range."""
    n_series, n_days, slots = history.shape
    usable = slots // window * window
    s = history[:, :, :usable].reshape(n_series, n_days, -1, window).sum(axis=3)
    m = fitted[:, :, :usable].reshape(n_series, n_days, -1, window).sum(axis=3)
    r2 = 4 * (np.sqrt(s + 0.375) - np.sqrt(m + 0.125)) ** 2
    at_median = ((r2 / CHI2_1_MEDIAN - 1) / m).astype(np.float32).reshape(n_series, -1)
    e2 = _median(at_median, np.repeat(observed, usable // window, axis=1))
    e = np.sqrt(np.clip(e2, 1e-6, 100.0))  # e within [0.001, 10]
    return np.where(observed.any(axis=1), np.maximum(e, floor), floor)


def daily_maxima(history: np.ndarray, fitted: np.ndarray, error: np.ndarray, windows: list[int]) -> np.ndarray:
    """``(n_series, n_days)``: the largest ``|D|`` (over the windows, as the detector scores) each
    history day reached against what it was expected to sell."""
    out = np.zeros(history.shape[:2], dtype=np.float32)
    sold, meant = (np.cumsum(np.pad(a, ((0, 0), (0, 0), (1, 0))), axis=2, dtype=np.float32) for a in (history, fitted))
    for i, w in enumerate(windows):
        # D = 2 (sqrt(S + 3/8) - sqrt(M + 1/8)) / sqrt(1 + e^2 M), computed in place: a block's
        # days x slots are the largest arrays of the fit.
        root_sold = sold[:, :, w:] - sold[:, :, :-w]
        np.maximum(root_sold, 0, out=root_sold)
        root_sold += 0.375
        np.sqrt(root_sold, out=root_sold)
        m = meant[:, :, w:] - meant[:, :, :-w]
        np.maximum(m, 0, out=m)
        scale = m * (error[:, i, None, None] ** 2).astype(np.float32)
        scale += 1
        np.sqrt(scale, out=scale)
        m += 0.125
        np.sqrt(m, out=m)
        root_sold -= m
        root_sold /= scale
        np.abs(root_sold, out=root_sold)
        np.maximum(out, 2 * root_sold.max(axis=2), out=out)
    return out


def return_level(maxima: np.ndarray, observed: np.ndarray, return_days: float) -> np.ndarray:
    """Per series, the level its daily maxima exceed once in ``return_days`` days: a Gumbel law
    fitted robustly (median and interquartile range of the observed days, so a few anomalous days
    in the history do not raise it). NaN for a series without observed days."""
    if observed.all():  # the common case, without nanpercentile's row-by-row loop
        q25, q50, q75 = np.percentile(maxima, [25, 50, 75], axis=1)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            q25, q50, q75 = np.nanpercentile(np.where(observed, maxima, np.nan), [25, 50, 75], axis=1)
    scale = (q75 - q25) / GUMBEL_IQR
    location = q50 - scale * GUMBEL_MEDIAN
    return location - scale * np.log(-np.log1p(-1.0 / return_days))


def trend_slopes(daily: np.ndarray, observed: np.ndarray, z: float = 2.0) -> np.ndarray:
    """Per series, the trend of its (weekday-adjusted) daily totals ``(n_series, n_days)`` in log
    units per day: the Theil-Sen slope (the median of the pairwise slopes, so anomalous days do not
    tilt it), kept only where it exceeds ``z`` standard errors of the series' own day-to-day
    moods (0 otherwise: a flat series stays flat)."""
    n_series, n_days = daily.shape
    usable = observed & (daily > 0)
    logs = np.log(np.where(usable, daily, 1.0))
    i, j = np.triu_indices(n_days, k=1)
    pairs = usable[:, i] & usable[:, j]
    slope = _median((logs[:, j] - logs[:, i]) / (j - i), pairs)
    t = np.arange(n_days, dtype=np.float64)
    residual = logs - slope[:, None] * t
    centred = residual - _median(residual, usable)[:, None]
    sigma = 1.4826 * _median(np.abs(centred), usable)
    centre = _mean_day(usable)
    spread_t = np.sqrt(np.sum(np.where(usable, (t[None, :] - centre[:, None]) ** 2, 0.0), axis=1))
    error = sigma / np.where(spread_t > 0, spread_t, np.nan)
    keep = np.isfinite(slope) & np.isfinite(error) & (np.abs(slope) > z * error) & (pairs.sum(axis=1) >= 3)
    return np.where(keep, slope, 0.0)


def _mean_day(observed: np.ndarray) -> np.ndarray:
    """The mean index of each series' observed history days (its history's centre)."""
    t = np.arange(observed.shape[1], dtype=np.float64)
    count = observed.sum(axis=1)
    return np.where(count > 0, (observed * t).sum(axis=1) / np.maximum(count, 1), (observed.shape[1] - 1) / 2)


def _median(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The median over axis 1 of the values where ``mask`` holds (NaN where none does)."""
    if mask.all():
        return np.median(values, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: a series with no such day
        return np.nanmedian(np.where(mask, values, np.nan), axis=1)


def weekday_factors(totals: np.ndarray, weekdays: np.ndarray, observed: np.ndarray | None = None) -> np.ndarray:
    """``(n_series, 7)``: each series' daily total on a weekday over its typical daily total (1
    where the history holds no such weekday or nothing was sold); only ``observed`` days count.

    Four weeks give four days per weekday, too few to tell a series' rhythm from its day-to-day
    moods, so each series' estimate is shrunk (empirical Bayes, on the log scale) towards the
    median rhythm of all the series, as far as its own noise makes it uncertain: a calm series
    keeps its rhythm, a volatile one borrows the others'."""
    observed = np.ones(totals.shape, dtype=bool) if observed is None else observed
    usable = observed & (totals > 0)
    log_totals = np.log(np.where(usable, totals, 1.0))
    centre = _median(log_totals, usable)[:, None]
    own = np.full((totals.shape[0], 7), np.nan)
    days = np.zeros((totals.shape[0], 7))
    for w in range(7):
        same = weekdays == w
        if same.any():
            own[:, w] = _median(log_totals[:, same], usable[:, same]) - centre[:, 0]
            days[:, w] = usable[:, same].sum(axis=1)
    residual = np.abs(log_totals - centre - np.nan_to_num(own[:, weekdays]))
    spread = 1.4826 * _median(residual, usable)  # the series' day-to-day mood, robustly
    variance = (1.2533 * spread[:, None]) ** 2 / np.maximum(days, 1)  # of a median of that many days
    known = np.isfinite(own)
    pooled = _median(own.T, known.T)  # the rhythm the series share, per weekday
    deviation = np.where(known, own - pooled, np.nan)
    between = np.maximum(
        (1.4826 * _median(np.abs(np.nan_to_num(deviation)).T, known.T)) ** 2 - _median(variance.T, known.T), 0.0
    )  # how much series' rhythms truly differ
    weight = np.divide(between, between + variance, out=np.ones_like(variance), where=variance > 0)
    log_factor = pooled + np.nan_to_num(weight * deviation)
    return np.where(known & np.isfinite(log_factor), np.exp(log_factor), 1.0)


def series_of(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The distinct ``store_id, sku`` of the rows, sorted, and each row's position among them:
    one factorization of each key column, then of their pairs as integers."""
    stores, store_names = pd.factorize(frame["store_id"], sort=True)
    skus, sku_names = pd.factorize(frame["sku"], sort=True)
    width = max(len(sku_names), 1)
    positions, pairs = pd.factorize(stores.astype(np.int64) * width + skus, sort=True)
    keys = pd.DataFrame(
        {"store_id": np.asarray(store_names)[pairs // width], "sku": np.asarray(sku_names)[pairs % width]}
    )
    return keys, positions


def history_matrix(frame: pd.DataFrame, keys: pd.DataFrame, days: list[pd.Timestamp], slots: int = 288) -> np.ndarray:
    """Rows ``store_id, sku, ts, units`` as ``(n_series, n_days, slots)`` in the order of ``keys``
    (missing buckets are 0 units: nothing sold)."""
    out = np.zeros((len(keys), len(days), slots))
    if frame.empty:
        return out
    own_keys, positions = series_of(frame)
    index = pd.MultiIndex.from_frame(keys[["store_id", "sku"]])
    series = index.get_indexer(pd.MultiIndex.from_frame(own_keys))[positions]
    ts = pd.to_datetime(frame["ts"])
    day_index = pd.Index(days).get_indexer(ts.dt.normalize())
    slot = ((ts - ts.dt.normalize()) / pd.Timedelta(minutes=5)).astype(int).to_numpy()
    ok = (series >= 0) & (day_index >= 0)
    out[series[ok], day_index[ok], slot[ok]] = frame["units"].to_numpy(dtype=np.float64)[ok]
    return out


def stack_days(days: list[tuple[pd.DataFrame, np.ndarray]]) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Per-day ``(keys, units (n_keys, slots))`` as one ``(n_series, n_days, slots)`` float32 history
    over the union of the keys (sorted), and the days each series was ``observed`` on: from the
    first day it has rows (a series missing on a later day sold nothing that day; before its first
    day it did not exist yet)."""
    keys = pd.concat([k for k, _ in days]).drop_duplicates().sort_values(["store_id", "sku"]).reset_index(drop=True)
    index = pd.MultiIndex.from_frame(keys)
    slots = days[0][1].shape[1] if days else 288
    out = np.zeros((len(keys), len(days), slots), dtype=np.float32)
    present = np.zeros((len(keys), len(days)), dtype=bool)
    for i, (day_keys, units) in enumerate(days):
        rows = index.get_indexer(pd.MultiIndex.from_frame(day_keys))
        out[rows, i, :] = units
        present[rows, i] = True
    return keys, out, np.logical_or.accumulate(present, axis=1)


def daily_price(buckets: pd.DataFrame) -> pd.Series:
    """One day's median selling price per ``(store_id, sku)`` (series without a price left out)."""
    keys, positions = series_of(buckets)
    price = buckets["price"].to_numpy(dtype=np.float64, na_value=np.nan)
    priced = ~np.isnan(price)
    median = pd.Series(price[priced]).groupby(positions[priced]).median()
    return pd.Series(median.to_numpy(), index=pd.MultiIndex.from_frame(keys.iloc[median.index]), name="price")


def regular_prices(daily: list[pd.Series], keys: pd.DataFrame) -> np.ndarray:
    """Regular price per row of ``keys`` (NaN where no price was ever seen): the median of the
    history days' :func:`daily_price`."""
    daily = [d for d in daily if not d.empty]
    if not daily:
        return np.full(len(keys), np.nan)
    regular = pd.concat(daily).groupby(level=[0, 1]).median()
    return regular.reindex(pd.MultiIndex.from_frame(keys[["store_id", "sku"]])).to_numpy(dtype=np.float64)
