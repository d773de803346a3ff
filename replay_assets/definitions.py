"""The replay code location: session-replay segments -> clusters -> deduplicated, prioritized
tasks with segment links, every 30 minutes per enabled team."""

import dagster as dg

from platform_core.resources import Pseudonymizer, env_or_default, warehouse_from_env
from replay_assets.assets import SEGMENT_SOURCE, video_segment_tasks, video_segments
from replay_assets.resources import DEFAULT_PSEUDONYM_SALT, SegmentSource, TaskLabeler
from replay_assets.schedules import replay_enabled_teams, replay_every_30_minutes, replay_tick_job

ASSETS = [SEGMENT_SOURCE, video_segments, video_segment_tasks]


def resources() -> dict:
    return {
        "warehouse": warehouse_from_env(),
        "replay_segments": SegmentSource(url=env_or_default("REPLAY_SEGMENTS_URL", "demo")),
        "replay_pseudonymizer": Pseudonymizer.from_env("REPLAY_PSEUDONYM_SALT", DEFAULT_PSEUDONYM_SALT),
        "replay_labeler": TaskLabeler(
            llm_url=env_or_default("REPLAY_LLM_URL", ""), api_key=env_or_default("REPLAY_LLM_API_KEY", "")
        ),
    }


defs = dg.Definitions(
    assets=ASSETS,
    jobs=[replay_tick_job],
    schedules=[replay_every_30_minutes],
    sensors=[replay_enabled_teams],
    resources=resources(),
)
