"""Minority reports on seasonal demand: the hourly bike-share series of ``../shared/data`` (casual
and registered riders, 2011-2012, with labelled holidays, a snowstorm and a hurricane), ours beside
the fixed seasonal baseline (``evaluation.seasonal_baseline_reports``: an hour-of-week median/MAD
z-score over the 4 weeks before, ``|z| >= 5`` for two hours, reports within 6 hours merged).

Ours runs as the ticks do (``evaluation.replay_ticks``, 15-minute ticks) on the hourly rows taken as
they are (``validate_sales`` with an hourly bucket: each hour spread evenly over its twelve 5-minute
buckets, as ``SALES_BUCKET_MINUTES=60`` does), over June-December 2012 (14 windows
over both series); the baseline is scored on that span and on the whole two years. Scoring is the
tweet series' (``evaluation.score_reports``): a window is found when a report opens inside it; a
false report overlaps no window, counted per 10 series-days.

    python bench/mr_seasonal_bench.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minority_report_assets.evaluation import (  # noqa: E402
    data_end,
    replay_ticks,
    score_reports,
    seasonal_baseline_reports,
)
from minority_report_assets.sales import validate_sales  # noqa: E402

REAL = ROOT.parent / "shared" / "data"
SPAN = (pd.Timestamp("2012-06-01"), pd.Timestamp("2013-01-01"))


def row(name: str, q: dict) -> str:
    found = round(q["found"] * q["windows"])
    return (
        f"| {name} | {found} of {q['windows']} | {q['false_per_10_series_days']:.2f} | {q['coverage']:.1%} "
        f"| {q['reports']} |"
    )


def main() -> None:
    if not (REAL / "bike_dc_hourly.csv").exists():
        print("../shared/data/bike_dc_hourly.csv is absent: nothing to measure")
        return
    hourly = pd.read_csv(REAL / "bike_dc_hourly.csv")
    windows = pd.DataFrame(json.loads((REAL / "bike_dc_windows.json").read_text()))
    n = hourly.groupby(["store_id", "sku"]).ngroups
    baseline = seasonal_baseline_reports(hourly, pd.Timedelta(hours=1))
    whole = (pd.to_datetime(hourly["ts"]).min() + pd.Timedelta(weeks=4), pd.to_datetime(hourly["ts"]).max())
    print(
        "| detector and span | windows with a report opened inside | false per 10 series-days | time in reports | reports |"
    )
    print("|---|---|---|---|---|")
    for sku in sorted(hourly["sku"].unique()):
        q = score_reports(baseline[baseline["sku"] == sku], windows[windows["sku"] == sku], *whole, 1)
        print(row(f"seasonal baseline, {sku}, 2011-01-29 .. 2012-12-31", q))
    in_span = baseline[(baseline["first_detected_from"] >= SPAN[0]) & (baseline["first_detected_from"] < SPAN[1])]
    print(row("seasonal baseline, both, 2012-06 .. 2012-12", score_reports(in_span, windows, *SPAN, n)))
    frame, rejects = validate_sales(hourly, pd.Timedelta(hours=1))  # the hourly rows taken as they are
    assert rejects.empty, rejects
    t0 = time.perf_counter()
    replay = replay_ticks(frame, SPAN[0], SPAN[1] - pd.Timedelta(days=1), until=data_end(frame))
    seconds = time.perf_counter() - t0
    print(row("ours (defaults), both, 2012-06 .. 2012-12", score_reports(replay.reports, windows, *SPAN, n)))
    print(f"\nours replayed {len(replay.reports)} reports tick by tick in {seconds:.0f} s\n")
    print(window_table(windows, SPAN, in_span, replay.reports))


def opened_inside(reports: pd.DataFrame, window) -> bool:
    """Whether one of ``reports`` on the window's series opened inside it."""
    own = reports[(reports["store_id"] == window.store_id) & (reports["sku"] == window.sku)]
    opened = pd.to_datetime(own["first_detected_from"])
    return bool(((opened >= window.start) & (opened < window.end)).any())


def window_table(windows: pd.DataFrame, span, baseline: pd.DataFrame, ours: pd.DataFrame) -> str:
    """Each labelled window of the span: which detector opened a report inside it, and when ours
    opened the report that covers its start (a report opened before the window is not counted)."""
    w = windows.assign(start=pd.to_datetime(windows["start"]), end=pd.to_datetime(windows["end"]))
    w = w[(w["end"] > span[0]) & (w["start"] < span[1])].sort_values(["start", "sku"])
    lines = ["| window | series | cause | baseline | ours | ours covering its start, opened |", "|---" * 6 + "|"]
    for r in w.itertuples():
        own = ours[(ours["store_id"] == r.store_id) & (ours["sku"] == r.sku)]
        covering = own[
            (pd.to_datetime(own["first_detected_from"]) < r.start) & (pd.to_datetime(own["window_end"]) > r.start)
        ]
        before = f"{pd.Timestamp(covering['first_detected_from'].min()):%m-%d %H:%M}" if len(covering) else "-"
        found = ["opened inside" if opened_inside(f, r) else "-" for f in (baseline, ours)]
        lines.append(f"| {r.start:%Y-%m-%d %H:%M} | {r.sku} | {r.cause} | {' | '.join(found)} | {before} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
