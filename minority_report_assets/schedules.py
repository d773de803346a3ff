"""The tick job every 15 minutes (a run per shard), the day's baseline before its first tick, and the map and
attribution summary of a day as soon as its last tick is in the clustered log (a sensor, not a
fixed minute: a tick still queued at midnight delays the map instead of failing it)."""

import dagster as dg

from minority_report_assets.assets import (
    BASELINE_KEY,
    LIBRARY_KEY,
    MAP_KEY,
    MRCL_KEY,
    MRDL_KEY,
    OUTAGES_KEY,
    SALES_KEY,
    SALES_REJECTS_KEY,
    SUMMARY_KEY,
)
from minority_report_assets.partitions import daily_partitions, day_ticks, tick_partitions

mr_tick_job = dg.define_asset_job(
    "minority_report_tick",
    selection=dg.AssetSelection.assets(SALES_KEY, SALES_REJECTS_KEY, MRDL_KEY, OUTAGES_KEY, MRCL_KEY),
    partitions_def=tick_partitions,
    description="One tick: sales -> detected log (and the source's outages) -> clustered log.",
)
mr_baseline_job = dg.define_asset_job(
    "minority_report_baseline",
    selection=dg.AssetSelection.assets(BASELINE_KEY),
    partitions_def=daily_partitions,
    description="One day's baseline per series, from the 28 days of sales before it.",
)
mr_library_job = dg.define_asset_job(
    "minority_report_library",
    selection=dg.AssetSelection.assets(LIBRARY_KEY),
    description="Rebuild the pattern library from the checked-in spec.",
)
mr_daily_job = dg.define_asset_job(
    "minority_report_daily",
    selection=dg.AssetSelection.assets(MAP_KEY, SUMMARY_KEY),
    partitions_def=daily_partitions,
    description="One finished day: the map of its report shapes and its attribution summary.",
)

mr_tick_schedule = dg.build_schedule_from_partitioned_job(
    mr_tick_job,
    name="minority_report_every_tick",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Each tick as soon as it ends: one run per shard.",
)


@dg.schedule(
    job=mr_baseline_job,
    cron_schedule="5 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="00:05 UTC: today's baseline, before today's first tick needs it.",
)
def mr_baseline_schedule(context: dg.ScheduleEvaluationContext):
    """Today's baseline, from the 28 days before it, before today's first tick needs it."""
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return dg.RunRequest(partition_key=day, run_key=day)


#: How many failed runs of one day's map the sensor retries before it leaves the day to a person.
MAP_ATTEMPTS = 3
#: A daily run in any of these states may still write a day (a backfill of a range included).
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dg.sensor(
    job=mr_daily_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 5 minutes: the map and summary of a day once its last tick is in the clustered log.",
)
def mr_day_complete(context: dg.SensorEvaluationContext):
    """Every 5 minutes: the map and summary of each of the last three days with ticks whose every
    tick is in the clustered log and whose map or summary is missing, unless a run of the daily job
    is in flight; a failed run is tried again, up to MAP_ATTEMPTS times."""
    instance = context.instance
    ticks = instance.get_materialized_partitions(MRCL_KEY)
    done = instance.get_materialized_partitions(MAP_KEY) & instance.get_materialized_partitions(SUMMARY_KEY)
    days = {tick_partitions.get_partition_key_from_str(key).keys_by_dimension["tick"][:10] for key in ticks}
    for day in sorted(days)[-3:]:
        if day in done or not set(day_tick_keys(day)) <= ticks:
            continue
        runs = instance.get_runs(dg.RunsFilter(job_name=mr_daily_job.name, tags={"dagster/partition": day}))
        in_flight = instance.get_runs(dg.RunsFilter(job_name=mr_daily_job.name, statuses=IN_FLIGHT))
        if in_flight or sum(r.is_failure for r in runs) >= MAP_ATTEMPTS:
            continue
        yield dg.RunRequest(partition_key=day)


def day_tick_keys(day: str) -> list[str]:
    """The tick partition keys of a day, every shard's."""
    return [str(t.partition_key) for t in day_ticks(day)]
