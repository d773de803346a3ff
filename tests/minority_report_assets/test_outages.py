"""A sales feed that stops is one source outage per shard and tick, not a stockout report per
series: its buckets read as missing, while one series that really sells nothing still opens its
report, and a quiet night the baseline expects nothing of is no outage."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from minority_report_assets import demo
from minority_report_assets.assets import cluster_library, sales_baseline
from minority_report_assets.detection import DetectionParams
from minority_report_assets.outages import outage_rows, outages, silence_score
from minority_report_assets.partitions import tick_key
from minority_report_assets.tables import MINORITY_REPORTS_DETECTED_LOG, SOURCE_OUTAGES
from platform_core.warehouse import backend_for
from tests.minority_report_assets.test_assets import DAY, checks, resources, run_ticks

N = 16
HOUR = pd.Timedelta(hours=1)
FLOOR, PARAMS = 0.05, DetectionParams()


def test_a_silent_daytime_shard_is_an_outage_and_a_quiet_night_is_not():
    day = np.full((N, 6), 3.0)  # 16 series expecting 3 units a bucket each
    night = np.full((N, 6), FLOOR)  # the baseline's floor: it expects nothing
    delivered = np.array([True, True, False, False, False, True])
    assert outages(delivered, day, PARAMS, FLOOR) == [(2, 5, pytest.approx(N * 3 * 2.95))]
    assert outages(delivered, night, PARAMS, FLOOR) == []
    assert outages(np.ones(6, dtype=bool), day, PARAMS, FLOOR) == [], "rows came in every bucket"


def test_the_bar_is_the_detectors_own_and_one_series_cannot_clear_it():
    # ~9 units expected is where selling none scores the open threshold with the least model error
    assert silence_score(8.0, 0.1) > -PARAMS.open_threshold > silence_score(9.0, 0.1)
    silent = np.zeros(6, dtype=bool)
    assert outages(silent, np.full((2, 6), 0.8), PARAMS, FLOOR) == [], "the other series expects too little"
    assert outages(silent, np.full((1, 6), 50.0), PARAMS, FLOOR) == [], "one series alone: its own stockout"
    assert len(outages(silent, np.full((3, 6), 0.8), PARAMS, FLOOR)) == 1


def test_an_outage_is_written_while_it_lasts_and_once_more_when_it_ended():
    start, five = DAY, pd.Timedelta(minutes=5)
    runs = [(0, 2, 1.0), (4, 8, 20.0), (10, 12, 30.0)]
    rows = outage_rows(runs, start, start + 9 * five, 12, five)
    assert rows["bucket_start"].tolist() == [start + 10 * five], "ended before the tick began"
    assert rows["ongoing"].tolist() == [True]
    ended = outage_rows(runs[:2], start, start + 8 * five, 12, five)
    assert ended[["buckets", "expected_total", "ongoing"]].values.tolist() == [[4, 20.0, False]]


def warnings_of(result) -> set[str]:
    """The checks that failed on any partition of the run."""
    return {
        f"{e.asset_check_evaluation_data.asset_key.path[-1]}:{e.asset_check_evaluation_data.check_name}"
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.asset_check_evaluation_data.passed
    }


def feed(path) -> str:
    """16 series in one store over 28 days and the demo day, without zero rows: closed 00:00-06:00
    every night, series 3 sells nothing 09:00-11:00 on the day, and the feed stops 12:00-15:00."""
    keys, frames = demo.series_keys(N), []
    for day in pd.date_range(DAY - pd.Timedelta(days=28), DAY):
        mean = demo.expected_units(N, day)
        mean[:, : 6 * 12] = 0.0
        units = np.random.default_rng(int(day.strftime("%Y%m%d"))).poisson(mean).astype(float)
        if day == DAY:
            units[3, 9 * 12 : 11 * 12] = 0.0
        frame = pd.DataFrame(
            {
                "store_id": np.repeat(keys["store_id"], 288),
                "sku": np.repeat(keys["sku"], 288),
                "ts": np.tile(day + np.arange(288) * demo.BUCKET, N),
                "units": units.ravel(),
                "price": 2.5,
            }
        )
        frame = frame[frame["units"] > 0]
        if day == DAY:
            frame = frame[(frame["ts"] < DAY + 12 * HOUR) | (frame["ts"] >= DAY + 15 * HOUR)]
        frames.append(frame)
    pd.concat(frames, ignore_index=True).to_parquet(path)
    return str(path)


def test_a_stopped_feed_is_one_outage_not_a_stockout_per_series(tmp_path):
    url, sales = f"duckdb:///{tmp_path}/w.duckdb", feed(tmp_path / "sales.parquet")
    assert dg.materialize([sales_baseline], resources=resources(url, sales), partition_key=str(DAY.date())).success
    assert dg.materialize([cluster_library], resources=resources(url, sales)).success
    result = run_ticks(url, 1, 64, sales=sales)  # 00:15 .. 16:00
    assert result.success
    assert warnings_of(result) == {"source_outages:sales_delivered"}, "the outage warns, and blocks nothing"

    backend = backend_for(url)
    log = backend.read(MINORITY_REPORTS_DETECTED_LOG)
    in_gap = log[(log["window_end"] > DAY + 12 * HOUR) & (log["window_start"] < DAY + 15 * HOUR)]
    assert in_gap.empty, f"reports from the outage: {in_gap[['sku', 'window_start', 'window_end']]}"
    stockout = log[log["sku"] == "sku-003"]
    assert stockout["report_id"].nunique() == 1 and (stockout["impact_estimate"] < 0).all()
    assert stockout["window_start"].min() == DAY + 9 * HOUR, "the series that really sold nothing still reports"

    gaps = backend.read(SOURCE_OUTAGES).sort_values("written_at")
    assert gaps["written_at"].min() == DAY + 12.25 * HOUR, "the quiet night, expected to sell nothing, is no outage"
    assert (gaps["bucket_start"] == DAY + 12 * HOUR).all() and (gaps["shard"] == 0).all()
    assert gaps.groupby("written_at").size().max() == 1, "once per shard and tick"
    last = gaps.iloc[-1]
    assert (last["written_at"], last["bucket_end"], last["buckets"], last["ongoing"]) == (
        DAY + 15.25 * HOUR,
        DAY + 15 * HOUR,
        36,
        False,
    )
    assert gaps["ongoing"].iloc[:-1].all() and last["expected_total"] > 1000

    (event,) = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key.path[-1] == MINORITY_REPORTS_DETECTED_LOG.name
        and e.materialization.partition == str(tick_key(DAY + 13 * HOUR, 0))
    ]
    assert event.metadata["source_outage_buckets"].value == 3, "the tick's own three buckets were missing"

    again = run_ticks(url, 50, 52, sales=sales)  # 12:30 .. 13:00, computed in a run of their own
    assert again.success and warnings_of(again) == {"source_outages:sales_delivered"}, "the same bytes"
    assert checks(again)["source_outages:deterministic_replay"]
