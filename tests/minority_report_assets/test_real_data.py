"""Minority reports on real series: the Numenta Anomaly Benchmark's tweet volumes of five
companies (5-minute counts, bursty, overdispersed, with daily and weekly rhythm) in the sales
contract, run tick by tick over twelve days (four labelled windows) with full 28-day baselines, scored against their
labelled anomaly windows."""

import json

import pandas as pd
import pytest

from minority_report_assets.evaluation import (
    data_end,
    on_labelled_windows,
    replay_ticks,
    report_patterns,
    score_reports,
)
from minority_report_assets.library import load_spec
from tests.conftest import real_data

FIRST, LAST = pd.Timestamp("2015-03-29"), pd.Timestamp("2015-04-09")


@pytest.fixture(scope="module")
def tweets():
    frame = pd.read_csv(real_data("nab_tweets_dev.csv"))
    windows = pd.DataFrame(json.loads(real_data("nab_tweets_dev_windows.json").read_text()))
    end = min(LAST + pd.Timedelta(days=1), data_end(frame))
    return frame, windows, end, replay_ticks(frame, FIRST, LAST, until=end)


def test_reports_are_few_short_and_true_on_real_series(tweets):
    frame, windows, end, replay = tweets
    q = score_reports(replay.reports, windows, FIRST, end, frame["store_id"].nunique())
    assert q["windows"] >= 3, q
    assert q["found"] >= 0.6, q
    assert q["false_per_10_series_days"] <= 1.0, q
    assert q["coverage"] <= 0.05, q
    assert q["control"] <= 0.2, "reports that overlap everything would find moved windows too"


@pytest.mark.parametrize("age", [pd.Timedelta(hours=1), None], ids=["an hour after opening", "at the last row"])
def test_labelled_mention_bursts_read_as_viral_spikes(tweets, age):
    _, windows, _, replay = tweets
    matched = report_patterns(replay, load_spec(), age)
    on_windows = matched["cluster_name"][on_labelled_windows(matched, windows)].tolist()
    # Every labelled anomaly of these series is a burst of mentions: the viral spike's shape.
    assert len(on_windows) >= 3, on_windows
    assert on_windows.count("viral social spike") / len(on_windows) >= 0.75, on_windows
