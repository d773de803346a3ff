"""The kura code location: learning signals -> issue clusters (day, week); extraction calibration;
the learning-to-backlog bridge with its human decisions."""

import dagster as dg

from kura_assets.assets import (
    EVENT_STORE,
    extraction_calibration_day,
    extraction_calibration_week,
    extraction_claims,
    extraction_underperforming_classes,
    learning_backlog,
    learning_backlog_candidates,
    learning_backlog_decisions,
    learning_issue_clusters_day,
    learning_issue_clusters_week,
    learning_signals,
)
from kura_assets.resources import DEFAULT_PSEUDONYM_SALT, KuraEventSource
from kura_assets.schedules import (
    kura_backlog_refresh_job,
    kura_changed_days_sensor,
    kura_daily_job,
    kura_daily_schedule,
    kura_decision_job,
    kura_weekly_job,
    kura_weekly_schedule,
    refresh_backlog_after_weekly,
)
from platform_core.resources import Pseudonymizer, env_or_default, warehouse_from_env

ASSETS = [
    EVENT_STORE,
    learning_signals,
    learning_issue_clusters_day,
    learning_issue_clusters_week,
    extraction_claims,
    extraction_calibration_day,
    extraction_calibration_week,
    extraction_underperforming_classes,
    learning_backlog_decisions,
    learning_backlog_candidates,
    learning_backlog,
]


def resources() -> dict:
    return {
        "warehouse": warehouse_from_env(),
        "kura_events": KuraEventSource(url=env_or_default("KURA_EVENTS_URL", "demo")),
        "pseudonymizer": Pseudonymizer.from_env("KURA_PSEUDONYM_SALT", DEFAULT_PSEUDONYM_SALT),
    }


defs = dg.Definitions(
    assets=ASSETS,
    jobs=[kura_daily_job, kura_weekly_job, kura_decision_job, kura_backlog_refresh_job],
    schedules=[kura_daily_schedule, kura_weekly_schedule],
    sensors=[refresh_backlog_after_weekly, kura_changed_days_sensor],
    resources=resources(),
)
