"""The tick job every 15 minutes, the day's baseline before its first tick, and the map and
attribution summary as soon as a day is over (00:05 UTC: the next day's first tick, ending 00:15,
places its reports into that map)."""

import dagster as dg

from minority_report_assets.assets import (
    BASELINE_KEY, LIBRARY_KEY, MAP_KEY, MRCL_KEY, MRDL_KEY, SALES_KEY, SALES_REJECTS_KEY, SUMMARY_KEY,
)
from minority_report_assets.partitions import daily_partitions, tick_partitions

mr_tick_job = dg.define_asset_job(
    "minority_report_tick", selection=dg.AssetSelection.assets(SALES_KEY, SALES_REJECTS_KEY, MRDL_KEY, MRCL_KEY),
    partitions_def=tick_partitions, description="One tick: sales -> detected log -> clustered log.",
)
mr_baseline_job = dg.define_asset_job("minority_report_baseline", selection=dg.AssetSelection.assets(BASELINE_KEY),
                                      partitions_def=daily_partitions)
mr_library_job = dg.define_asset_job("minority_report_library", selection=dg.AssetSelection.assets(LIBRARY_KEY),
                                     description="Rebuild the pattern library from the checked-in spec.")
mr_daily_job = dg.define_asset_job("minority_report_daily", selection=dg.AssetSelection.assets(MAP_KEY, SUMMARY_KEY),
                                   partitions_def=daily_partitions)

mr_tick_schedule = dg.build_schedule_from_partitioned_job(mr_tick_job, name="minority_report_every_tick")


@dg.schedule(job=mr_baseline_job, cron_schedule="5 0 * * *", execution_timezone="UTC")
def mr_baseline_schedule(context: dg.ScheduleEvaluationContext):
    """Today's baseline, from the 28 days before it, before today's first tick needs it."""
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return dg.RunRequest(partition_key=day, run_key=day)


#: Yesterday's map right after its last tick (00:00): today's ticks place their reports into it.
mr_daily_schedule = dg.build_schedule_from_partitioned_job(mr_daily_job, name="minority_report_daily_schedule",
                                                           hour_of_day=0, minute_of_hour=5)
