"""The detected log tick by tick: stable report ids, consecutive versions, open -> closed, replay."""

import numpy as np
import pandas as pd
import pytest

from minority_report_assets import demo
from minority_report_assets.baseline import fit_baseline
from minority_report_assets.reports import detect_tick

N, LOOKBACK, TICK_BUCKETS = 200, 144, 3
FIVE, TICK = pd.Timedelta(minutes=5), pd.Timedelta(minutes=15)


def day_baseline(day):
    days = pd.date_range(day - pd.Timedelta(days=28), periods=28)
    history = np.stack([demo.day_units(N, d)[0] for d in days], axis=1)
    return fit_baseline(history, days.day_of_week.to_numpy(), day.day_of_week)


@pytest.fixture(scope="module")
def day_log():
    before = demo.DEMO_DAY - pd.Timedelta(days=1)
    units = np.concatenate([demo.day_units(N, before)[0], demo.day_units(N, demo.DEMO_DAY)[0]], axis=1)
    baseline = day_baseline(demo.DEMO_DAY)
    expected = np.concatenate([day_baseline(before).expected, baseline.expected], axis=1)
    keys, logs, inputs = demo.series_keys(N), [], []
    for k in range(1, 97):
        stop, written = 288 + TICK_BUCKETS * k, demo.DEMO_DAY + k * TICK
        args = (
            keys,
            units[:, stop - LOOKBACK : stop],
            expected[:, stop - LOOKBACK : stop],
            written - LOOKBACK * FIVE,
            written,
            pd.concat(logs[-48:]) if logs else pd.DataFrame(),
            TICK_BUCKETS,
            None,
            baseline.noise,
        )
        logs.append(detect_tick(*args).assign(written_at=written))
        inputs.append(args)
    return pd.concat(logs, ignore_index=True), inputs


def test_each_planted_anomaly_is_one_report_with_consecutive_versions(day_log):
    log, _ = day_log
    keys = demo.series_keys(N)
    for p in demo.planted(N, demo.DEMO_DAY):
        rows = log[
            (log["store_id"] == keys["store_id"][p.series])
            & (log["sku"] == keys["sku"][p.series])
            & (log["window_end"] > p.start)
            & (log["window_start"] < p.start + p.buckets * FIVE)
        ]
        assert rows["report_id"].nunique() <= 1, f"{p} became {rows['report_id'].nunique()} reports"
    for _, rows in log.groupby("report_id"):
        assert rows["version"].tolist() == list(range(rows["version"].iat[0], rows["version"].iat[0] + len(rows)))
        assert rows["first_detected_from"].nunique() == 1 and rows["window_start"].is_monotonic_decreasing
        statuses = rows["report_status"].tolist()
        assert all(a != "closed" or b != "closed" for a, b in zip(statuses, statuses[1:])), "a closing is written once"
        reopened = [i + 1 for i, (a, b) in enumerate(zip(statuses, statuses[1:])) if a == "closed"]
        assert all(rows["window_end"].iat[i] > rows["window_end"].iat[i - 1] for i in reopened), (
            "only a new deviation reopens"
        )
    planted = {
        (demo.series_keys(N)["store_id"][p.series], demo.series_keys(N)["sku"][p.series])
        for p in demo.planted(N, demo.DEMO_DAY)
    }
    found = set(zip(log["store_id"], log["sku"]))
    assert len(found & planted) / len(planted) >= 0.9 and len(found - planted) <= 1


def test_a_replayed_tick_gives_the_same_rows(day_log):
    log, inputs = day_log
    k = 40
    again = detect_tick(*inputs[k]).assign(written_at=inputs[k][4])
    pd.testing.assert_frame_equal(
        again.reset_index(drop=True), log[log["written_at"] == inputs[k][4]].reset_index(drop=True), check_dtype=False
    )
