"""Jobs, schedules and sensors, in the nightly order of the kura design note.

A Dagster job holds one partitioning, so the night is three steps, ordered in time and by
lineage: ``kura_daily`` (00:30 UTC: signals -> day clusters, claims -> day calibration),
``kura_weekly`` (Tuesdays 03:00 UTC, once the week's days exist and Sunday has settled: week clusters, week calibration
-> underperforming classes -> the backlog bridge, last by its dependencies), then
``kura_backlog_refresh`` when the weekly run succeeds. Each step is an asset: a failure shows
in the UI and does not hide the others. Between nights, ``kura_changed_days_sensor`` runs again a
written day whose source lines changed after it ran (a line that arrived late, dated days earlier).
"""

from datetime import timedelta

import dagster as dg

from kura_assets.assets import (
    BACKLOG_KEY,
    BRIDGE_RUNS_KEY,
    CALIBRATION_DAY_KEY,
    CALIBRATION_WEEK_KEY,
    CANDIDATES_KEY,
    CLAIM_REJECTS_KEY,
    CLAIMS_KEY,
    CLUSTERS_DAY_KEY,
    CLUSTERS_WEEK_KEY,
    DECISIONS_KEY,
    REJECTS_KEY,
    SIGNALS_KEY,
    UNDERPERFORMING_KEY,
)
from kura_assets.partitions import START_DATE, daily_partitions, weekly_partitions

kura_daily_job = dg.define_asset_job(
    "kura_daily",
    selection=dg.AssetSelection.assets(
        SIGNALS_KEY, REJECTS_KEY, CLUSTERS_DAY_KEY, CLAIMS_KEY, CLAIM_REJECTS_KEY, CALIBRATION_DAY_KEY
    ),
    partitions_def=daily_partitions,
    description="One day (or a backfilled range): events -> signals and rejects -> day clusters; claims -> day calibration.",
)
kura_weekly_job = dg.define_asset_job(
    "kura_weekly",
    selection=dg.AssetSelection.assets(
        CLUSTERS_WEEK_KEY, CALIBRATION_WEEK_KEY, UNDERPERFORMING_KEY, CANDIDATES_KEY, BRIDGE_RUNS_KEY
    ),
    partitions_def=weekly_partitions,
    description="One ISO week, once its seven days exist: week clusters and calibration -> underperforming classes -> "
    "the backlog bridge's candidates.",
)


@dg.schedule(
    job=kura_daily_job,
    cron_schedule="30 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="00:30 UTC: yesterday and the day before (late captures and retractions settle within a day).",
)
def kura_daily_schedule(context: dg.ScheduleEvaluationContext):
    """Yesterday, and the day before once more: late captures and retractions of up to a day settle
    by then, and re-materializing a day replaces it."""
    today = context.scheduled_execution_time.date()
    for back in (1, 2):
        day = (today - timedelta(days=back)).isoformat()
        if day >= START_DATE:
            yield dg.RunRequest(partition_key=day, run_key=f"{day}@{today.isoformat()}")


@dg.sensor(
    job=kura_daily_job,
    minimum_interval_seconds=3600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Hourly: runs again each written day whose source lines have changed since it was computed "
    "(a late line dated days earlier; undated lines, kept on the first day), as the newest signals run counted them.",
)
def kura_changed_days_sensor(context: dg.SensorEvaluationContext):
    """Each day's signals record ``source_lines`` (the lines kept on that day when it ran) and the
    source's count for every day; a day whose count now differs from its own is run again, once
    per count (the run key)."""
    newest = context.instance.get_latest_materialization_event(SIGNALS_KEY)
    counts = newest.asset_materialization.metadata.get("source_lines_by_day") if newest else None
    if counts is None:
        return dg.SkipReason("no signals run has counted the source's lines by day (the demo source does not)")
    now = counts.data
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=SIGNALS_KEY, asset_partitions=sorted(now)), limit=10 * len(now) + 10
    ).records
    computed: dict[str, int] = {}
    for record in records:  # newest first: each day's latest run
        day, facts = record.partition_key, record.asset_materialization.metadata
        if day not in computed and "source_lines" in facts:
            computed[day] = facts["source_lines"].value
    changed = [day for day in sorted(computed) if computed[day] != now[day]]
    if not changed:
        return dg.SkipReason(f"every written day's lines are as it counted them ({len(computed)} days)")
    return [dg.RunRequest(partition_key=day, run_key=f"{day}:{now[day]}") for day in changed]


kura_weekly_schedule = dg.build_schedule_from_partitioned_job(
    kura_weekly_job,
    name="kura_weekly_schedule",
    hour_of_day=3,
    minute_of_hour=0,
    day_of_week=2,  # Tuesday: after Sunday's second daily pass (Tuesday 00:30) has settled its late events
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Tuesdays 03:00 UTC: the ISO week that ended on Sunday, once its last day has settled.",
)

#: One human decision (run config: candidate_key, decision, actor, note), then the refreshed backlog.
kura_decision_job = dg.define_asset_job(
    "kura_backlog_decision",
    selection=dg.AssetSelection.assets(DECISIONS_KEY, BACKLOG_KEY),
    description="Approve, dismiss or promote one backlog candidate; refreshes learning_backlog.",
)
kura_backlog_refresh_job = dg.define_asset_job(
    "kura_backlog_refresh",
    selection=dg.AssetSelection.assets(BACKLOG_KEY),
    description="Rebuild learning_backlog, the reviewer's current state, from every candidate and decision.",
)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[kura_weekly_job],
    request_job=kura_backlog_refresh_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After every successful weekly run: rebuild the reviewer's backlog.",
)
def refresh_backlog_after_weekly(context: dg.RunStatusSensorContext):
    """The reviewer's backlog follows every successful weekly run (decisions refresh it themselves)."""
    return dg.RunRequest(run_key=f"after-{context.dagster_run.run_id}")
