"""The baseline learns each series' own noise, its usual extremes and its history's extent."""

import numpy as np

from minority_report_assets.baseline import (
    CHI2_1_MEDIAN,
    fit_baseline,
    trend_slopes,
    weekday_similarity,
    window_error,
)
from minority_report_assets.detection import DetectionParams, find_events, merge_events

DAYS, SLOTS = 28, 288
WEEKDAYS = np.arange(DAYS) % 7
PROFILE = 20 * (0.3 + np.sin(np.linspace(0, np.pi, SLOTS)) ** 2)


def history(rng, n, mood_sigma):
    """``n`` series of 28 days: Poisson around a daily profile times a lognormal day mood."""
    moods = np.exp(rng.normal(0, mood_sigma, (n, DAYS, 1)) - mood_sigma**2 / 2)
    return rng.poisson(PROFILE * moods).astype(float)


def test_an_overdispersed_series_learns_its_error_and_its_deviations_come_out_unit_scaled():
    rng = np.random.default_rng(0)
    fit_calm, fit_moody = (fit_baseline(history(rng, 20, sigma), WEEKDAYS, 0) for sigma in (0.0, 0.3))
    assert np.median(fit_calm.model_error) <= 0.11, "Poisson counts keep the floor"
    assert np.median(fit_moody.model_error) > 0.2
    # A new day of the moody series: its squared 2-hour deviations have a squared normal's median.
    day = history(np.random.default_rng(1), 20, 0.3)[:, 0]
    s, m = day.reshape(20, -1, 24).sum(axis=2), fit_moody.expected.reshape(20, -1, 24).sum(axis=2)
    error = fit_moody.model_error[:, 1:]
    score = 2 * (np.sqrt(s + 0.375) - np.sqrt(m + 0.125)) / np.sqrt(1 + error**2 * m)
    assert 0.5 * CHI2_1_MEDIAN < np.median(score**2) < 2 * CHI2_1_MEDIAN
    fixed = 2 * (np.sqrt(s + 0.375) - np.sqrt(m + 0.125)) / np.sqrt(1 + 0.1**2 * m)
    assert np.median(fixed**2) > 3 * CHI2_1_MEDIAN, "a fixed 10% error would call ordinary days anomalous"


def test_the_model_error_puts_half_the_history_windows_above_a_squared_normals_median():
    rng = np.random.default_rng(8)
    days = history(rng, 6, 0.3)
    fitted = np.broadcast_to(PROFILE, days.shape)
    observed = np.ones(days.shape[:2], dtype=bool)
    observed[0, :9] = False  # a series listed later: only its own days count
    for window in (6, 24):
        error = window_error(days, fitted, observed, window, floor=0.0)
        s = days.reshape(6, DAYS, -1, window).sum(axis=3)
        m = fitted.reshape(6, DAYS, -1, window).sum(axis=3)
        score2 = 4 * (np.sqrt(s + 0.375) - np.sqrt(m + 0.125)) ** 2 / (1 + error[:, None, None] ** 2 * m)
        for series in range(6):
            above = (score2[series][observed[series]] > CHI2_1_MEDIAN).mean()
            windows = observed[series].sum() * (SLOTS // window)
            # Half of them, to a window or two either side (float rounding).
            assert abs(above - 0.5) <= 3 / windows, (window, series, above)


def test_a_series_that_bursts_every_week_needs_a_bigger_burst_to_report():
    rng = np.random.default_rng(2)
    calm = history(rng, 10, 0.05)
    bursty = calm.copy()
    bursty[:, ::3, 120:132] *= 2.5  # a two-hour burst every third day
    fit_calm, fit_bursty = fit_baseline(calm, WEEKDAYS, 0), fit_baseline(bursty, WEEKDAYS, 0)
    assert np.median(fit_bursty.threshold) > np.median(fit_calm.threshold) + 1
    day = history(np.random.default_rng(3), 10, 0.05)[:, 0]
    usual = day.copy()
    usual[:, 120:132] *= 2.5
    params = DetectionParams()
    assert len(find_events(usual, fit_calm.expected, params, fit_calm.noise)) >= 8, "news for a calm series"
    assert len(find_events(usual, fit_bursty.expected, params, fit_bursty.noise)) <= 2, "the bursty series' usual burst"
    big = day.copy()
    big[:, 120:132] *= 8
    assert len(find_events(big, fit_bursty.expected, params, fit_bursty.noise)) >= 8, "a burst beyond its usual ones"


def test_days_before_a_series_existed_are_missing_not_zero_and_a_new_series_warms_up():
    rng = np.random.default_rng(4)
    h = history(rng, 3, 0.05)
    observed = np.ones((3, DAYS), dtype=bool)
    observed[1, :18] = False  # listed 10 days ago
    observed[2, :25] = False  # listed 3 days ago
    h[~observed] = 0.0
    fit = fit_baseline(h, WEEKDAYS, 0, observed=observed)
    assert fit.history_days.tolist() == [28, 10, 3]
    assert fit.warming_up.tolist() == [False, False, True]
    level = fit.expected.sum(axis=1) / PROFILE.sum()
    assert np.all(np.abs(level[:2] - 1) < 0.1), f"not diluted by the days before it existed: {level}"
    day = rng.poisson(PROFILE * np.r_[1, 1, 6][:, None]).astype(float)  # the new one sells 6x: no report yet
    events = find_events(day, fit.expected, DetectionParams(), fit.noise)
    assert 2 not in set(events["series"])


def test_a_report_ends_where_the_deviation_ends_not_where_the_windows_fall_back():
    rng = np.random.default_rng(5)
    fit = fit_baseline(history(rng, 1, 0.05), WEEKDAYS, 0)
    day = rng.poisson(PROFILE).astype(float)[None, :]
    day[0, 150:156] *= 6  # a 30-minute feed glitch
    params = DetectionParams()
    reports = merge_events(find_events(day, fit.expected, params, fit.noise), params.merge_gap)
    assert len(reports) == 1
    start, end = int(reports["start"].iat[0]), int(reports["end"].iat[0])
    assert 147 <= start <= 150 and 155 <= end <= 158, (start, end)


def test_a_growing_series_is_expected_where_its_trend_has_taken_it_and_a_flat_one_stays_flat():
    rng = np.random.default_rng(6)
    growth = np.exp(0.02 * np.arange(DAYS))[None, :, None]  # 2% a day: the 28-day mean lags by a quarter
    grown = rng.poisson(PROFILE * growth * np.ones((5, 1, 1))).astype(float)
    flat = history(rng, 5, 0.1)
    fit_grown, fit_flat = fit_baseline(grown, WEEKDAYS, 0), fit_baseline(flat, WEEKDAYS, 0)
    level = fit_grown.expected.sum(axis=1) / (PROFILE.sum() * np.exp(0.02 * DAYS))
    assert np.all(np.abs(level - 1) < 0.05), level
    assert np.all(np.abs(fit_flat.expected.sum(axis=1) / PROFILE.sum() - 1) < 0.1)
    assert trend_slopes(flat.sum(axis=2), np.ones((5, DAYS), dtype=bool)).tolist() == [0.0] * 5


def test_a_burst_is_dated_from_where_it_rose_not_from_the_mild_excess_before_it():
    rng = np.random.default_rng(7)
    fit = fit_baseline(history(rng, 1, 0.05), WEEKDAYS, 0)
    day = rng.poisson(PROFILE * np.r_[np.ones(120), np.full(36, 1.25), np.ones(132)]).astype(float)[None, :]
    day[0, 156:160] *= 12  # a burst of mentions after three hours of 25% more than usual
    day[0, 160:172] *= np.geomspace(6, 1.2, 12)
    params = DetectionParams()
    reports = merge_events(find_events(day, fit.expected, params, fit.noise), params.merge_gap)
    assert len(reports) == 1
    start, end = int(reports["start"].iat[0]), int(reports["end"].iat[0])
    # The burst is the report's window: a pattern is matched from its onset, a few buckets in.
    assert 153 <= start <= 156 and 160 <= end <= 172, (start, end)


def commuter_history(rng, n):
    """``n`` series of 28 days whose working days have a morning and an evening rush and whose
    weekends (weekdays 5 and 6) have one broad midday hump, both with the same daily total."""
    t = np.linspace(0, 24, SLOTS, endpoint=False)
    rush = np.exp(-((t - 8) ** 2) / 2) + np.exp(-((t - 17.5) ** 2) / 2) + 0.05
    hump = np.exp(-((t - 14) ** 2) / 18) + 0.05
    shapes = np.where((WEEKDAYS >= 5)[:, None], hump / hump.sum(), rush / rush.sum()) * 3000
    return rng.poisson(np.broadcast_to(shapes, (n, DAYS, SLOTS))).astype(float)


def test_a_weekend_is_expected_in_its_own_shape_and_a_holiday_monday_reads_as_one():
    rng = np.random.default_rng(11)
    commuters = commuter_history(rng, 6)
    saturday, monday = fit_baseline(commuters, WEEKDAYS, 5), fit_baseline(commuters, WEEKDAYS, 0)
    alike = weekday_similarity(commuters, np.ones((6, DAYS), dtype=bool), WEEKDAYS)
    # The working days stand in for each other, the weekend days for each other, never across.
    assert (alike[:, :5, :5] > 0.5).all() and (alike[:, 5:, 5:] > 0.5).all() and (alike[:, :5, 5:] < 0.05).all()
    eight = slice(8 * 12, 9 * 12)
    # At 8 o'clock a Saturday expects its quiet morning, a Monday its rush: each weekday's own shape.
    assert (saturday.expected[:, eight].sum(axis=1) < 0.25 * monday.expected[:, eight].sum(axis=1)).all()
    truth = commuters[:, WEEKDAYS >= 5][:, :, eight].sum(axis=2).mean(axis=1)  # the history's weekend mornings
    assert np.allclose(saturday.expected[:, eight].sum(axis=1), truth, rtol=0.15)
    # A Monday holiday ridden like a Saturday strays far beyond what ordinary Mondays do.
    holiday = commuter_history(np.random.default_rng(12), 6)[:, 5]
    s, m = holiday[:, eight].sum(axis=1), monday.expected[:, eight].sum(axis=1)
    score = 2 * (np.sqrt(s + 0.375) - np.sqrt(m + 0.125)) / np.sqrt(1 + monday.model_error[:, 1] ** 2 * m)
    assert (np.abs(score) > monday.threshold).all(), (score, monday.threshold)


def test_a_series_with_one_shape_every_day_keeps_its_whole_history_as_its_level():
    rng = np.random.default_rng(13)
    calm = history(rng, 10, 0.0)
    alike = weekday_similarity(calm, np.ones((10, DAYS), dtype=bool), WEEKDAYS)
    assert np.median(alike) > 0.8, alike  # four days of a weekday are noise next to 28: they add nothing
    fit = fit_baseline(calm, WEEKDAYS, 0)
    # Its expected day is as close to the profile as a 28-day average is (not a noisier 4-day one).
    assert np.abs(fit.expected - PROFILE).mean() < 0.5 * np.sqrt(PROFILE / 4 / 5).mean()
