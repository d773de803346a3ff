"""The minority-report graph through Dagster: ticks in order, replay, append-only, bad input, map,
library refit."""

import json

import dagster as dg
import pandas as pd
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from minority_report_assets import demo
from minority_report_assets.assets import (
    cluster_library,
    minority_report_attribution_summary,
    minority_report_map,
    minority_reports_clustered_log,
    minority_reports_detected_log,
    sales_baseline,
    sales_timeseries_data,
)
from minority_report_assets.library import load_spec
from minority_report_assets.partitions import TICK, tick_key
from minority_report_assets.resources import SalesSource
from minority_report_assets.sources import DEMO_SERIES
from minority_report_assets.tables import (
    CLUSTER_LIBRARY,
    MINORITY_REPORT_MAP,
    MINORITY_REPORTS_CLUSTERED_LOG,
    MINORITY_REPORTS_DETECTED_LOG,
    SALES_BASELINE,
    SALES_TIMESERIES_REJECTS,
)
from platform_core.resources import WarehouseResource
from platform_core.warehouse import backend_for

DAY = demo.DEMO_DAY
TICKS = [sales_timeseries_data, minority_reports_detected_log, minority_reports_clustered_log]


def resources(url, sales="demo"):
    return {"warehouse": WarehouseResource(url=url), "sales_source": SalesSource(url=sales)}


def run_ticks(url, first: int, last: int, sales="demo", assets=TICKS, run_config=None):
    tags = {
        ASSET_PARTITION_RANGE_START_TAG: tick_key(DAY + first * TICK, shard=0),
        ASSET_PARTITION_RANGE_END_TAG: tick_key(DAY + last * TICK, shard=0),
    }
    return dg.materialize(
        assets, resources=resources(url, sales), tags=tags, raise_on_error=False, run_config=run_config
    )


def checks(result) -> dict[str, bool]:
    return {
        f"{e.asset_check_evaluation_data.asset_key.path[-1]}:{e.asset_check_evaluation_data.check_name}": e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


@pytest.fixture(scope="module")
def morning(tmp_path_factory):
    url = f"duckdb:///{tmp_path_factory.mktemp('mr')}/warehouse.duckdb"
    assert dg.materialize([sales_baseline], resources=resources(url), partition_key=str(DAY.date())).success
    assert dg.materialize([cluster_library], resources=resources(url)).success
    return url, run_ticks(url, 1, 56)  # 00:15 .. 14:00


def test_ticks_run_in_order_and_every_report_is_clustered(morning):
    url, result = morning
    assert result.success and all(checks(result).values()), checks(result)
    backend = backend_for(url)
    detected, clustered = backend.read(MINORITY_REPORTS_DETECTED_LOG), backend.read(MINORITY_REPORTS_CLUSTERED_LOG)
    assert len(detected) > 0 and len(clustered) == len(detected)
    assert set(clustered["cluster_name"]) - {"unknown"}, "reports match library patterns"
    assert (clustered["run_id"] == "scheduled").all() and clustered["feature_vector"].map(len).nunique() == 1
    # Each tick's page ranks its reports by what is at stake: units above or below expected.
    pages = [
        e.materialization.metadata["top"].value
        for e in result.get_asset_materialization_events()
        if e.asset_key.path[-1] == "minority_reports_detected_log" and "top" in e.materialization.metadata
    ]
    assert pages and all(
        p.startswith("| report_status | store_id | sku | window_start | window_end | units_vs_expected") for p in pages
    )
    stakes = [abs(float(line.split(" | ")[5])) for line in max(pages, key=len).splitlines()[2:]]
    assert len(stakes) > 1 and stakes == sorted(stakes, reverse=True), stakes


def test_a_tick_refuses_to_run_before_its_predecessor(morning):
    url, _ = morning
    assert run_ticks(url, 57, 60, assets=[sales_timeseries_data]).success  # the sales are there, the 14:45 log is not
    result = run_ticks(url, 60, 60, assets=[minority_reports_detected_log])
    assert not result.success
    assert "minority_reports_detected_log for shard=0;written_at=2026-11-20T14:45:00" in str(
        result.get_step_failure_events()[0].event_specific_data.error
    )
    assert backend_for(url).read(MINORITY_REPORTS_DETECTED_LOG, where={"written_at": DAY + 60 * TICK}).empty


def test_replaying_a_tick_reproduces_it_and_the_clustered_log_is_append_only(morning):
    url, _ = morning

    def hashes():
        m = backend_for(url).manifest("minority_report", "minority_reports_clustered_log")
        return dict(zip(m["partition_key"], m["content_hash"]))

    before = hashes()
    again = run_ticks(url, 40, 40, assets=[minority_reports_detected_log, minority_reports_clustered_log])
    assert again.success and all(checks(again).values())
    assert hashes() == before
    config = {"ops": {"minority_report__minority_reports_clustered_log": {"config": {"min_similarity": 0.99}}}}
    rewrite = run_ticks(url, 40, 40, assets=[minority_reports_clustered_log], run_config=config)
    assert not rewrite.success and checks(rewrite)["minority_reports_clustered_log:append_only"] is False
    assert hashes() == before, "the refused rewrite left the tick as it was"


def test_bad_sales_rows_are_kept_with_their_reason(tmp_path, duck_url):
    rows = demo.sales(3, DAY, DAY + TICK)
    bad = pd.DataFrame(
        {
            "store_id": ["store-0000", "store-0000", "store-0000", None, "store-0000"],
            "sku": ["sku-000", "sku-001", "sku-002", "sku-009", "sku-003"],
            "ts": [
                str(DAY),
                str(DAY + pd.Timedelta(minutes=2)),
                str(DAY + pd.Timedelta(minutes=5)),
                str(DAY),
                "yesterday-ish",
            ],
            "units": [4, 1, -2, 1, 2],
        }
    )
    path = tmp_path / "sales.csv"
    pd.concat([rows.astype({"ts": str}), bad], ignore_index=True).to_csv(path, index=False)
    result = run_ticks(duck_url, 1, 1, sales=str(path), assets=[sales_timeseries_data])
    assert result.success and all(checks(result).values())
    rejects = backend_for(duck_url).read(SALES_TIMESERIES_REJECTS)
    # The row whose ts does not parse goes with the row before it in the file, into its tick.
    assert sorted(rejects["reason"]) == [
        "duplicate_bucket",
        "missing_field",
        "negative_units",
        "unaligned_bucket",
        "unparseable_value",
    ]
    assert rejects.loc[rejects["reason"] == "unparseable_value", "ts"].tolist() == ["yesterday-ish"]


def test_ticks_run_across_midnight_and_place_their_reports_into_the_latest_map(tmp_path):
    url = f"duckdb:///{tmp_path}/w.duckdb"
    for day in (DAY, DAY + pd.Timedelta(days=1)):
        assert dg.materialize([sales_baseline], resources=resources(url), partition_key=str(day.date())).success
    assert dg.materialize([cluster_library], resources=resources(url)).success
    assert run_ticks(url, 1, 98).success, "one run from 00:15 to 00:30 the next day, before any day has its map"
    clustered = backend_for(url).read(MINORITY_REPORTS_CLUSTERED_LOG)
    after_midnight = clustered[clustered["written_at"] > DAY + pd.Timedelta(days=1)]
    assert len(after_midnight) and after_midnight["map_day"].isna().all(), "no map yet: the library's own, marked"

    result = dg.materialize(
        [minority_report_map, minority_report_attribution_summary],
        resources=resources(url),
        partition_key=str(DAY.date()),
    )
    assert result.success
    points = backend_for(url).read(MINORITY_REPORT_MAP)
    assert set(points["point_kind"]) == {"library", "report"} and points[["x", "y"]].notna().all().all()
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == "minority_report_map"]
    assert event.materialization.metadata["map"].value.startswith("![map](data:image/png;base64,")

    assert run_ticks(url, 99, 100).success
    later = backend_for(url).read(
        MINORITY_REPORTS_CLUSTERED_LOG, between=("written_at", DAY + 99 * TICK, DAY + 101 * TICK)
    )
    assert len(later) and (later["map_day"] == DAY).all(), (
        f"the day before's map, now that it exists: {later['written_at'].unique()}"
    )
    replay = run_ticks(url, 98, 98)
    assert replay.success and all(checks(replay).values()), "a replay places its reports as the first run did"
    again = backend_for(url).read(MINORITY_REPORTS_CLUSTERED_LOG, where={"written_at": DAY + 98 * TICK})
    assert again["map_day"].isna().all()


def test_postgres_warehouse_gives_byte_identical_ticks(morning, pg_url):
    url, _ = morning
    assert dg.materialize([sales_baseline], resources=resources(pg_url), partition_key=str(DAY.date())).success
    assert dg.materialize([cluster_library], resources=resources(pg_url)).success
    assert run_ticks(pg_url, 1, 8).success
    for table in (
        "sales_timeseries_data",
        "sales_baseline",
        "minority_reports_detected_log",
        "minority_reports_clustered_log",
    ):
        duck, pg = (
            dict(backend_for(u).manifest("minority_report", table)[["partition_key", "content_hash"]].to_numpy())
            for u in (url, pg_url)
        )
        assert pg and pg == {k: duck[k] for k in pg}, table


def planted_labels(url) -> pd.DataFrame:
    """The detected reports that cover a planted library pattern, labelled with it (an analyst's labels)."""
    names = {c["shape"]: c["name"] for c in load_spec()["clusters"]}
    keys = demo.series_keys(DEMO_SERIES)
    log = backend_for(url).read(MINORITY_REPORTS_DETECTED_LOG).sort_values("version").groupby("report_id").tail(1)
    rows = []
    for p in demo.planted(len(keys), DAY):
        store, sku = keys.iloc[p.series]
        hit = log[
            (log["store_id"] == store)
            & (log["sku"] == sku)
            & (log["window_end"] > p.start)
            & (log["window_start"] < p.start + p.buckets * demo.BUCKET)
        ]
        if p.shape in names and len(hit) == 1:
            rows.append({"report_id": hit["report_id"].iat[0], "cluster_name": names[p.shape]})
    return pd.DataFrame(rows)


def test_the_library_refits_from_labelled_reports_and_the_ticks_use_it(morning, tmp_path):
    import shutil

    source, _ = morning
    url = f"duckdb:///{tmp_path}/w.duckdb"
    shutil.copy(source.removeprefix("duckdb:///"), tmp_path / "w.duckdb")  # the morning's warehouse, to change freely
    labels = planted_labels(url)
    bogus = pd.DataFrame(
        {"report_id": ["no-such-report", labels["report_id"].iat[1]], "cluster_name": ["promotion", "heat wave"]}
    )
    path = tmp_path / "labels.csv"
    pd.concat([labels.iloc[2:], bogus], ignore_index=True).to_csv(path, index=False)
    config = {"ops": {"minority_report__cluster_library": {"config": {"labels": str(path), "min_labels": 2}}}}

    result = dg.materialize([cluster_library], resources=resources(url), run_config=config)
    assert result.success and all(checks(result).values())
    library = backend_for(url).read(CLUSTER_LIBRARY)
    version = library["library_version"].iat[0]
    assert "+refit-" in version
    (event,) = result.get_asset_materialization_events()
    meta = event.materialization.metadata
    left_out = meta["labels_left_out"].value
    assert {k: n for k, n in left_out.items() if k != "still_open"} == {"unknown_pattern": 1, "unknown_report": 1}
    assert left_out.get("still_open", 0) > 0, "the morning's reports still open are not taken as whole patterns"
    per_pattern = meta["labels_per_pattern"].value
    refit = [name for name, n in per_pattern.items() if n >= 2]
    assert refit, per_pattern
    seed = {c["name"]: c for c in load_spec()["clusters"]}
    moved = [
        n
        for n in refit
        if json.loads(library.set_index("cluster_name").loc[n, "duration_buckets"]) != seed[n]["duration_buckets"]
    ]
    assert moved, "a refit pattern takes its durations from its labelled reports"

    assert dg.materialize([cluster_library], resources=resources(url), run_config=config).success
    assert backend_for(url).read(CLUSTER_LIBRARY)["library_version"].iat[0] == version, (
        "the same labels give the same library"
    )
    assert run_ticks(url, 57, 57).success
    clustered = backend_for(url).read(MINORITY_REPORTS_CLUSTERED_LOG, where={"written_at": DAY + 57 * TICK})
    assert set(clustered["library_version"]) == {version}


def test_a_value_no_float_holds_is_a_reject_and_an_empty_history_is_no_crash(tmp_path):
    """One huge value is one series' reject, never the day's baseline; a source with no history
    (a header-only file, a new deployment's first day) gives a baseline of no series, not a crash."""
    url = f"duckdb:///{tmp_path}/w.duckdb"
    rows = demo.sales(3, DAY, DAY + TICK).astype({"ts": str})
    rows.loc[0, "units"] = 3.4e38
    path = tmp_path / "sales.csv"
    rows.to_csv(path, index=False)
    assert run_ticks(url, 1, 1, sales=str(path), assets=[sales_timeseries_data]).success
    rejects = backend_for(url).read(SALES_TIMESERIES_REJECTS)
    assert rejects["reason"].tolist() == ["out_of_range"]
    header_only = tmp_path / "empty.csv"
    header_only.write_text("store_id,sku,ts,units,price\n")
    other = f"duckdb:///{tmp_path}/empty.duckdb"
    result = dg.materialize(
        [sales_baseline],
        resources=resources(other, str(header_only)),
        partition_key=str(DAY.date()),
        raise_on_error=False,
    )
    assert result.success
    assert backend_for(other).read(SALES_BASELINE).empty
