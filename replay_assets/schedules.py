"""The replay job, its 30-minute schedule per enabled team, and the sensor that adds teams.

Teams are dynamic partitions: the sensor adds a team when its feature flag turns on (a team
whose flag turns off keeps its history, and the schedule stops requesting its ticks). A .parquet
source has no flags: its teams are the ones added (``replay_assets.cli enable TEAM``, or listed in
REPLAY_ENABLED_TEAMS for the sensor), and a team is turned off by deleting its partition in the
UI. The schedule runs 5 minutes after each tick ends, so inserts still in flight at the boundary land.
"""

import dagster as dg
import pandas as pd

from replay_assets.assets import CLUSTERS_KEY, LINKS_KEY, MERGES_KEY, REJECTS_KEY, SEGMENTS_KEY, TASKS_KEY
from replay_assets.partitions import TICK, partition_key_for, replay_partitions, team_partitions
from replay_assets.resources import SegmentSource

replay_tick_job = dg.define_asset_job(
    "replay_tick",
    selection=dg.AssetSelection.assets(SEGMENTS_KEY, REJECTS_KEY, CLUSTERS_KEY, TASKS_KEY, LINKS_KEY, MERGES_KEY),
    partitions_def=replay_partitions,
    description="One team's tick: segments -> the window's clusters -> tasks, links and merges.",
)


@dg.schedule(
    job=replay_tick_job,
    cron_schedule="5,35 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="5 minutes after each 30-minute tick ends: that tick, for every enabled team.",
)
def replay_every_30_minutes(context: dg.ScheduleEvaluationContext, replay_segments: SegmentSource):
    """The tick that just ended, for every added team whose flag is on (for a file source, every
    added team: ``replay_assets.cli enable TEAM``, or REPLAY_ENABLED_TEAMS through the sensor)."""
    tick_end = pd.Timestamp(context.scheduled_execution_time).tz_convert("UTC").tz_localize(None).floor(TICK)
    known = sorted(int(t) for t in context.instance.get_dynamic_partitions(team_partitions.name))
    enabled = set(replay_segments.enabled_teams()) if replay_segments.has_flags else set(known)
    for team in known:
        if team in enabled:
            key = partition_key_for(team, tick_end)
            yield dg.RunRequest(partition_key=key, run_key=str(key))


@dg.sensor(  # adds partitions only: it launches no run, so it names no job
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 5 minutes: adds a team partition when the team's video-segment-clustering flag turns on.",
)
def replay_enabled_teams(context: dg.SensorEvaluationContext, replay_segments: SegmentSource):
    """Adds a partition for each team whose video-segment-clustering flag is on."""
    known = set(context.instance.get_dynamic_partitions(team_partitions.name))
    new = [str(t) for t in replay_segments.enabled_teams() if str(t) not in known]
    if not new:
        return dg.SkipReason("no newly enabled team")
    return dg.SensorResult(dynamic_partitions_requests=[team_partitions.build_add_request(new)])
