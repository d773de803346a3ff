"""The daily map and summary run when a day's last tick is in the clustered log, not at a fixed minute."""

import uuid
from datetime import datetime, timezone

import dagster as dg

from minority_report_assets.assets import MAP_KEY, MRCL_KEY, SUMMARY_KEY
from minority_report_assets.schedules import MAP_ATTEMPTS, day_tick_keys, mr_daily_job, mr_day_complete

DAY = "2026-11-20"


def evaluate(instance) -> list[str]:
    result = mr_day_complete(dg.build_sensor_context(instance=instance))
    return [r.partition_key for r in (result or [])]


def materialize(instance, key: dg.AssetKey, partitions) -> None:
    for p in partitions:
        instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=p))


def test_the_map_waits_for_the_last_tick_then_runs_once_and_retries_a_failure():
    instance = dg.DagsterInstance.ephemeral()
    ticks = day_tick_keys(DAY)
    assert len(ticks) == 96 and ticks[-1] == "0|2026-11-20-23:45"
    materialize(instance, MRCL_KEY, ticks[:-1])
    assert evaluate(instance) == [], "the day's last tick is still missing (queued, say): nothing yet, nothing failed"
    materialize(instance, MRCL_KEY, ticks[-1:])
    assert evaluate(instance) == [DAY]
    for _ in range(MAP_ATTEMPTS):  # each failed run of the day's map is tried again, up to the limit
        instance.add_run(
            dg.DagsterRun(
                job_name=mr_daily_job.name,
                run_id=str(uuid.uuid4()),
                status=dg.DagsterRunStatus.FAILURE,
                tags={"dagster/partition": DAY},
            )
        )
    assert evaluate(instance) == [], f"after {MAP_ATTEMPTS} failures the day is left to a person"


def test_a_day_whose_summary_failed_after_its_map_is_run_again():
    instance = dg.DagsterInstance.ephemeral()
    materialize(instance, MRCL_KEY, day_tick_keys(DAY))
    materialize(instance, MAP_KEY, [DAY])
    assert evaluate(instance) == [DAY], "the map alone is not the day done"
    materialize(instance, SUMMARY_KEY, [DAY])
    assert evaluate(instance) == []


def test_a_daily_run_in_flight_holds_the_sensor_back():
    instance = dg.DagsterInstance.ephemeral()
    materialize(instance, MRCL_KEY, day_tick_keys(DAY))
    instance.add_run(  # e.g. a backfill of a range of days, which names no single partition
        dg.DagsterRun(job_name=mr_daily_job.name, run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED)
    )
    assert evaluate(instance) == []


def test_the_baseline_schedule_asks_for_a_day_that_exists_at_its_start():
    """At 00:05 the day has not ended, but its partition exists: the baseline is made before its first tick."""
    from minority_report_assets.definitions import defs
    from minority_report_assets.schedules import mr_baseline_schedule

    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 21, 0, 5, tzinfo=timezone.utc),
        repository_def=defs.get_repository_def(),
    )
    requests = mr_baseline_schedule.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == ["2026-11-21"]
