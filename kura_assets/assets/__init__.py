"""Kura assets: learning signals and issue clusters; extraction calibration; the backlog bridge."""

from kura_assets.assets.backlog import (
    BACKLOG_KEY,
    BRIDGE_RUNS_KEY,
    CANDIDATES_KEY,
    DECISIONS_KEY,
    learning_backlog,
    learning_backlog_candidates,
    learning_backlog_decisions,
)
from kura_assets.assets.calibration import (
    CALIBRATION_DAY_KEY,
    CALIBRATION_WEEK_KEY,
    CLAIM_REJECTS_KEY,
    CLAIMS_KEY,
    UNDERPERFORMING_KEY,
    extraction_calibration_day,
    extraction_calibration_week,
    extraction_claims,
    extraction_underperforming_classes,
)
from kura_assets.assets.learning import (
    CLUSTERS_DAY_KEY,
    CLUSTERS_WEEK_KEY,
    EVENT_STORE,
    REJECTS_KEY,
    SIGNALS_KEY,
    learning_issue_clusters_day,
    learning_issue_clusters_week,
    learning_signals,
)

__all__ = [
    "EVENT_STORE",
    "BACKLOG_KEY",
    "BRIDGE_RUNS_KEY",
    "CANDIDATES_KEY",
    "DECISIONS_KEY",
    "learning_backlog",
    "learning_backlog_candidates",
    "learning_backlog_decisions",
    "CALIBRATION_DAY_KEY",
    "CALIBRATION_WEEK_KEY",
    "CLAIMS_KEY",
    "CLAIM_REJECTS_KEY",
    "CLUSTERS_DAY_KEY",
    "CLUSTERS_WEEK_KEY",
    "REJECTS_KEY",
    "SIGNALS_KEY",
    "UNDERPERFORMING_KEY",
    "extraction_calibration_day",
    "extraction_calibration_week",
    "extraction_claims",
    "extraction_underperforming_classes",
    "learning_issue_clusters_day",
    "learning_issue_clusters_week",
    "learning_signals",
]
