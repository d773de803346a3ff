"""Measure the minority reports against labelled anomaly windows (pure): series of the sales
contract in, the reports the ticks would write out, scored against the windows.

Used by the tests and ``bench/minority_report_bench.py`` on real labelled series (e.g. the
Numenta Anomaly Benchmark's tweet volumes), and usable on a retailer's own labelled incidents.
The ticks run as the assets run them: a baseline per day from the days before it, then every
tick's detected log from its lookback and the ticks before it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from minority_report_assets.baseline import BaselineParams, fit_baseline, history_matrix
from minority_report_assets.detection import WINDOWS, DetectionParams, SeriesNoise
from minority_report_assets.matching import Matcher, MatchWindow, dispersion
from minority_report_assets.reports import BUCKET, detect_tick

SLOTS = 288


def data_end(frame: pd.DataFrame) -> pd.Timestamp:
    """Where every series still has data: the end of the earliest series' last bucket (naive UTC)."""
    ts = pd.to_datetime(frame["ts"], utc=True).dt.tz_localize(None)
    return ts.groupby([frame["store_id"], frame["sku"]]).max().min() + BUCKET


def series_days(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[pd.Timestamp], np.ndarray, np.ndarray]:
    """Rows ``store_id, sku, ts, units`` as ``keys``, the ``days`` they span, the units
    ``(n_series, n_days, 288)`` and which series-days hold any row (``observed``): a day before a
    series' first row is not a day it sold nothing."""
    ts = pd.to_datetime(frame["ts"], utc=True).dt.tz_localize(None)
    frame = frame.assign(ts=ts)
    keys = frame[["store_id", "sku"]].drop_duplicates().sort_values(["store_id", "sku"]).reset_index(drop=True)
    days = list(pd.date_range(ts.min().normalize(), ts.max().normalize(), freq="D"))
    units = history_matrix(frame, keys, days)
    first = frame.groupby(["store_id", "sku"])["ts"].min().dt.normalize()
    first = first.reindex(pd.MultiIndex.from_frame(keys)).to_numpy()
    observed = np.asarray(days, dtype="datetime64[ns]")[None, :] >= first.astype("datetime64[ns]")[:, None]
    return keys, days, units, observed


@dataclass
class Replay:
    """What the ticks of a span wrote, with the units they saw."""

    keys: pd.DataFrame  # store_id, sku per row of actual / expected
    origin: pd.Timestamp  # the first bucket of actual / expected
    actual: np.ndarray  # (n_series, buckets)
    expected: np.ndarray
    log: pd.DataFrame  # every tick's detected-log rows, with written_at
    noise: list[SeriesNoise]  # each day's (from origin) learned noise per series

    @property
    def reports(self) -> pd.DataFrame:
        """One row per report: its latest version."""
        return self.log.sort_values(["report_id", "version"]).groupby("report_id").tail(1).reset_index(drop=True)


def replay_ticks(
    frame: pd.DataFrame,
    first_day: pd.Timestamp,
    last_day: pd.Timestamp,
    baseline: BaselineParams | None = None,
    detection: DetectionParams | None = None,
    lookback: int = 144,
    tick_buckets: int = 3,
    until: pd.Timestamp | None = None,
) -> Replay:
    """The ticks from ``first_day`` through ``last_day`` as the baseline and tick assets run them;
    ``until``: no tick ends after it (where the data ends: later buckets would read as nothing
    sold)."""
    baseline, detection = baseline or BaselineParams(), detection or DetectionParams()
    keys, days, units, observed = series_days(frame)
    weekdays = np.array([d.day_of_week for d in days])
    scored = [i for i, d in enumerate(days) if first_day <= d <= last_day]
    fits = {}
    for i in range(max(scored[0] - 1, 0), scored[-1] + 1):
        past = slice(max(0, i - baseline.history_days), i)
        fits[i] = fit_baseline(units[:, past], weekdays[past], weekdays[i], baseline, observed[:, past])
    origin = days[scored[0]] - pd.Timedelta(days=1) if scored[0] > 0 else days[0]
    first_index = days.index(origin)
    actual = units[:, first_index : scored[-1] + 1].reshape(len(keys), -1)
    expected = np.concatenate([fits[i].expected for i in range(first_index, scored[-1] + 1)], axis=1)
    logs: list[pd.DataFrame] = []
    start_bucket = (scored[0] - first_index) * SLOTS
    last = actual.shape[1] if until is None else min(actual.shape[1], int((until - origin) / BUCKET))
    for stop in range(start_bucket + tick_buckets, last + 1, tick_buckets):
        lo = max(0, stop - lookback)
        day = first_index + (stop - 1) // SLOTS
        written = origin + stop * BUCKET
        recent = pd.concat(logs[-(lookback // tick_buckets) :]) if logs else pd.DataFrame()
        rows = detect_tick(
            keys,
            actual[:, lo:stop],
            expected[:, lo:stop],
            origin + lo * BUCKET,
            written,
            recent,
            tick_buckets,
            detection,
            fits[day].noise,
        )
        logs.append(rows.assign(written_at=written))
    return Replay(
        keys,
        origin,
        actual,
        expected,
        pd.concat(logs, ignore_index=True),
        [fits[i].noise for i in range(first_index, scored[-1] + 1)],
    )


def report_patterns(
    replay: Replay, spec: dict, age: pd.Timedelta | None = None, lookback: int = 144, min_similarity: float = 0.75
) -> pd.DataFrame:
    """The pattern each report is matched to as the clustered log would match it: at the tick
    ``age`` after its first row (or its last row, when it ended sooner; ``None``: its last row),
    from its window with the ``lookback`` before it as context. Rows of ``replay.reports`` with
    ``cluster_name, similarity_score, cluster_match_confidence``."""
    reports = replay.reports
    firsts = replay.log.groupby("report_id")["written_at"].min()
    row_of = pd.Series(np.arange(len(replay.keys)), index=pd.MultiIndex.from_frame(replay.keys))
    windows = []
    for r in reports.itertuples():
        at = r.written_at if age is None else min(r.written_at, firsts[r.report_id] + age)
        state = replay.log[(replay.log["report_id"] == r.report_id) & (replay.log["written_at"] <= at)].iloc[-1]
        stop = int((at - replay.origin) / BUCKET)
        lo = max(0, stop - lookback)
        series = row_of.loc[(r.store_id, r.sku)]
        first = max(0, int((state["window_start"] - replay.origin) / BUCKET) - lo)
        error = replay.noise[(stop - 1) // SLOTS].model_error[series, 0]
        expected = replay.expected[series, lo:stop]
        windows.append(
            MatchWindow(
                replay.actual[series, lo:stop],
                expected,
                first,
                dispersion=dispersion(error, expected[first:], WINDOWS[0]),
            )
        )
    matches = Matcher(spec, min_similarity).match(windows) if windows else []
    return pd.concat(
        [
            reports,
            pd.DataFrame(
                matches, columns=["cluster_id", "cluster_name", "similarity_score", "cluster_match_confidence"]
            ),
        ],
        axis=1,
    )


def on_labelled_windows(reports: pd.DataFrame, windows: pd.DataFrame) -> np.ndarray:
    """Per report (``store_id, sku, window_start, window_end``), whether it overlaps a labelled
    window (``store_id, sku, start, end``) of its series."""
    windows = windows.assign(start=pd.to_datetime(windows["start"]), end=pd.to_datetime(windows["end"]))
    overlaps = np.zeros(len(reports), dtype=bool)
    for r in windows.itertuples():
        overlaps |= (
            (reports["store_id"] == r.store_id)
            & (reports["sku"] == r.sku)
            & (reports["window_start"] < r.end)
            & (pd.to_datetime(reports["window_end"]) > r.start)
        ).to_numpy()
    return overlaps


def score_reports(
    reports: pd.DataFrame,
    windows: pd.DataFrame,
    span_start: pd.Timestamp,
    span_end: pd.Timestamp,
    n_series: int,
    shifts_weeks=(-2, -1, 1, 2),
) -> dict:
    """How reports (``store_id, sku, first_detected_from, window_start, window_end``) recover
    labelled windows (``store_id, sku, start, end``) over ``[span_start, span_end)``.

    - found: share of windows in the span with a report opened (``first_detected_from``) inside;
    - false_per_10_series_days: reports overlapping no window, per 10 series-days of the span;
    - coverage: share of series-time of the span inside some report;
    - control: ``found`` against the windows shifted by ``shifts_weeks`` (those landing on a real
      window dropped), which a detector that reports everything would also "find".
    """
    windows = windows.assign(start=pd.to_datetime(windows["start"]), end=pd.to_datetime(windows["end"]))
    reports = reports.assign(window_end=pd.to_datetime(reports["window_end"]).clip(upper=span_end))
    series_days_ = n_series * (span_end - span_start) / pd.Timedelta(days=1)

    def in_span(w):
        return w[(w["end"] > span_start) & (w["start"] < span_end)]

    def found(w):
        if w.empty:
            return float("nan")
        hit = [
            (
                (reports["store_id"] == r.store_id)
                & (reports["sku"] == r.sku)
                & (reports["first_detected_from"] >= r.start)
                & (reports["first_detected_from"] < r.end)
            ).any()
            for r in w.itertuples()
        ]
        return float(np.mean(hit))

    real = in_span(windows)
    overlaps = on_labelled_windows(reports, windows)
    shifted = []
    for weeks in shifts_weeks:
        moved = windows.assign(
            start=windows["start"] + pd.Timedelta(weeks=weeks), end=windows["end"] + pd.Timedelta(weeks=weeks)
        )
        clash = [
            ((windows["store_id"] == m.store_id) & (windows["start"] < m.end) & (windows["end"] > m.start)).any()
            for m in moved.itertuples()
        ]
        shifted.append(moved[~np.array(clash, dtype=bool)])
    covered = sum((_union_length(g) for _, g in reports.groupby(["store_id", "sku"])), pd.Timedelta(0))
    return {
        "windows": len(real),
        "found": found(real),
        "reports": len(reports),
        "false_reports": int((~overlaps).sum()),
        "false_per_10_series_days": float((~overlaps).sum() / series_days_ * 10),
        "coverage": covered / (n_series * (span_end - span_start)),
        "control": found(in_span(pd.concat(shifted, ignore_index=True))),
        "median_report_hours": float(
            ((reports["window_end"] - pd.to_datetime(reports["window_start"])) / pd.Timedelta(hours=1)).median()
        )
        if len(reports)
        else 0.0,
    }


def _union_length(reports: pd.DataFrame) -> pd.Timedelta:
    """Total time covered by the reports' windows (overlaps counted once)."""
    total, reach = pd.Timedelta(0), None
    for start, end in sorted(zip(reports["window_start"], reports["window_end"])):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def seasonal_baseline_reports(
    frame: pd.DataFrame,
    bucket: pd.Timedelta,
    weeks: int = 4,
    threshold: float = 5.0,
    run: int = 2,
    merge_gap: pd.Timedelta = pd.Timedelta(hours=6),
) -> pd.DataFrame:
    """The fixed seasonal baseline reports are compared with: per series (``store_id, sku, ts,
    units`` on a grid of ``bucket``), each bucket's robust z-score against the same slot of the
    week over the ``weeks`` weeks before (median, and MAD x 1.4826 with a floor of one unit), a
    report where ``|z| >= threshold`` holds for ``run`` buckets in a row (opened at the last of
    them), reports less than ``merge_gap`` apart merged. Columns as :func:`score_reports` reads."""
    per_week = int(pd.Timedelta(weeks=1) / bucket)
    rows = []
    for (store, sku), g in frame.groupby(["store_id", "sku"], sort=True):
        s = g.set_index(pd.to_datetime(g["ts"]))["units"].astype(float)
        s = s.groupby(level=0).sum().asfreq(bucket, fill_value=0.0)
        x = s.to_numpy()
        past = np.stack([np.roll(x, k * per_week) for k in range(1, weeks + 1)])
        past[:, : weeks * per_week] = np.nan  # no full history yet: not scored
        median = np.median(past, axis=0)
        spread = np.maximum(1.4826 * np.median(np.abs(past - median), axis=0), 1.0)
        hot = np.nan_to_num(np.abs(x - median) / spread) >= threshold
        starts = s.index
        episodes, streak = [], 0
        for i, on in enumerate(hot):
            streak = streak + 1 if on else 0
            if streak == run:
                episodes.append([starts[i - run + 1], starts[i], starts[i] + bucket])
            elif streak > run:
                episodes[-1][2] = starts[i] + bucket
        merged = []
        for start, opened, end in episodes:
            if merged and start - merged[-1][2] < merge_gap:
                merged[-1][2] = max(merged[-1][2], end)
            else:
                merged.append([start, opened, end])
        rows += [
            {"store_id": store, "sku": sku, "window_start": a, "first_detected_from": o, "window_end": b}
            for a, o, b in merged
        ]
    return pd.DataFrame(rows, columns=["store_id", "sku", "window_start", "first_detected_from", "window_end"])
