"""The kura schema's tables: what each asset writes, column by column."""

from platform_core.tables import Column as C
from platform_core.tables import TableSpec

SCHEMA = "kura"

LEARNING_SIGNALS = TableSpec(
    SCHEMA,
    "learning_signals",
    (
        C("period_day", "DATE"),
        C("event_id", "TEXT"),
        C("event_time", "TIMESTAMP"),
        C("pseudo_user_id", "TEXT", privacy="pseudonym"),
        C("signal_type", "TEXT"),
        C("category", "TEXT"),
        C("issue_type", "TEXT"),
        C("invariant_id", "TEXT"),
        C("agent_version", "TEXT"),
        C("workflow_phase", "TEXT"),
        C("modality", "TEXT"),
        C("confidence_band", "TEXT"),
        C("source_cluster_signature", "TEXT"),
        C("mismatch_severity", "TEXT", nullable=True),
        C("attributes", "JSON"),
    ),
    partition_columns=("period_day",),
    key=("event_id",),
)

LEARNING_SIGNAL_REJECTS = TableSpec(
    SCHEMA,
    "learning_signal_rejects",
    (
        C("period_day", "DATE"),
        C("source_ref", "TEXT"),
        C("event_id", "TEXT", nullable=True),
        C("event_type", "TEXT", nullable=True),
        C("row_timestamp", "TEXT", nullable=True),
        C("pseudo_user_id", "TEXT", nullable=True, privacy="pseudonym"),
        C("reason", "TEXT"),
        C("detail", "TEXT"),
        C("raw_data", "TEXT", nullable=True),
        C("raw_metadata", "TEXT", nullable=True),
    ),
    partition_columns=("period_day",),
    key=("source_ref",),
)

_CLUSTER_COLUMNS = (
    C("period_start", "DATE", description="First day of the day or ISO week (a Monday)."),
    C("period_granularity", "TEXT", description="day or week."),
    C("period_key", "TEXT", description="The period as people write it: 2026-11-09 or 2026-W46."),
    C(
        "cluster_signature",
        "TEXT",
        description="The events' own cluster_signature (or, grouped by facets, one recomputed from them).",
    ),
    C("signature", "JSON", description="The facets the cluster's events share."),
    C("summary", "TEXT", description="One line: issue, facets, events, users and top signals."),
    C("score", "DOUBLE", description="frequency x severity x impact x reproducibility."),
    C("score_factors", "JSON", description="The four factors, the formula and its reference constants."),
    C(
        "aggregates",
        "JSON",
        description="Events, pseudonymous users, first and last seen, counts by signal type and band.",
    ),
    C("affected_workflow_phases", "JSON", description="Events per workflow phase, most first."),
    C("representative_examples", "JSON", description="The most severe events' attributes (no user id)."),
    C(
        "false_positive_controls",
        "JSON",
        description="Support and user thresholds, the dominance cap and what it dropped.",
    ),
)
LEARNING_ISSUE_CLUSTERS_DAY = TableSpec(
    SCHEMA,
    "learning_issue_clusters_day",
    _CLUSTER_COLUMNS,
    partition_columns=("period_start",),
    key=("cluster_signature",),
)
LEARNING_ISSUE_CLUSTERS_WEEK = TableSpec(
    SCHEMA,
    "learning_issue_clusters_week",
    _CLUSTER_COLUMNS,
    partition_columns=("period_start",),
    key=("cluster_signature",),
)

LEARNING_ISSUE_CLUSTER_RUNS = TableSpec(
    SCHEMA,
    "learning_issue_cluster_runs",
    (
        C("period_granularity", "TEXT"),
        C("period_start", "DATE"),
        C("period_key", "TEXT"),
        C("events_read", "BIGINT"),
        C("considered", "BIGINT"),
        C("rejected", "BIGINT"),
        C("retracted", "BIGINT"),
        C("low_confidence_filtered", "BIGINT"),
        C("dominance_dropped", "BIGINT"),
        C("candidate_clusters", "BIGINT"),
        C("clusters_written", "BIGINT"),
        C("filtered_min_support", "BIGINT"),
        C("filtered_min_users", "BIGINT"),
        C("rejects_by_reason", "JSON"),
        C("status", "TEXT"),
        C("config", "JSON"),
        C("clusters_content_hash", "TEXT"),
    ),
    partition_columns=("period_granularity", "period_start"),
    key=(),
)

EXTRACTION_CLAIMS = TableSpec(
    SCHEMA,
    "extraction_claims",
    (
        C("period_day", "DATE"),
        C("event_id", "TEXT"),
        C("claim_time", "TIMESTAMP"),
        C("claim_type", "TEXT"),
        C("claimed_field", "TEXT"),
        C("parser_version", "TEXT"),
        C("confidence", "DOUBLE"),
        C("source_event_id", "TEXT"),
        C("label", "BIGINT"),
    ),
    partition_columns=("period_day",),
    key=("event_id",),
)

EXTRACTION_CLAIM_REJECTS = TableSpec(
    SCHEMA,
    "extraction_claim_rejects",
    (
        C("period_day", "DATE"),
        C("source_ref", "TEXT"),
        C("event_id", "TEXT", nullable=True),
        C("reason", "TEXT"),
        C("detail", "TEXT"),
        C("raw_data", "TEXT", nullable=True),
    ),
    partition_columns=("period_day",),
    key=("source_ref",),
)

_CALIBRATION_COLUMNS = (
    C("period_start", "DATE"),
    C("period_granularity", "TEXT"),
    C("period_key", "TEXT"),
    C("claim_type", "TEXT"),
    C("parser_version", "TEXT"),
    C("sample_count", "BIGINT"),
    C("brier_score", "DOUBLE"),
    C("high_confidence_count", "BIGINT"),
    C("precision_at_high", "DOUBLE", nullable=True),
    C("recall_at_high", "DOUBLE", nullable=True),
    C("precision_by_band", "JSON"),
    C("previous_brier", "DOUBLE", nullable=True),
    C("brier_delta", "DOUBLE", nullable=True),
    C("drift_alert", "BOOLEAN"),
    C("status", "TEXT"),
    C("thresholds", "JSON"),
)
EXTRACTION_CALIBRATION_DAY = TableSpec(
    SCHEMA,
    "extraction_calibration_day",
    _CALIBRATION_COLUMNS,
    partition_columns=("period_start",),
    key=("claim_type", "parser_version"),
)
EXTRACTION_CALIBRATION_WEEK = TableSpec(
    SCHEMA,
    "extraction_calibration_week",
    _CALIBRATION_COLUMNS,
    partition_columns=("period_start",),
    key=("claim_type", "parser_version"),
)
EXTRACTION_UNDERPERFORMING_CLASSES = TableSpec(
    SCHEMA,
    "extraction_underperforming_classes",
    _CALIBRATION_COLUMNS,
    partition_columns=("period_start",),
    key=("claim_type", "parser_version"),
)

_CANDIDATE_COLUMNS = (
    C("candidate_key", "TEXT"),
    C("source_type", "TEXT"),
    C("source_period_key", "TEXT"),
    C("source_ref", "TEXT"),
    C("priority_score", "DOUBLE"),
    C("priority_label", "TEXT"),
    C("title", "TEXT"),
    C("root_cause_hypothesis", "TEXT"),
    C("impacted_metrics", "JSON"),
    C("suggested_updates", "JSON"),
    C("promotion_checklist", "JSON"),
    C("issue_payload", "JSON"),
    C("approval_required", "BOOLEAN"),
)
LEARNING_BACKLOG_CANDIDATES = TableSpec(
    SCHEMA,
    "learning_backlog_candidates",
    (
        C("period_start", "DATE"),
        C("period_key", "TEXT"),
        *_CANDIDATE_COLUMNS,
        C("previous_status", "TEXT", nullable=True),
        C("status", "TEXT"),
    ),
    partition_columns=("period_start",),
    key=("candidate_key",),
)
LEARNING_BACKLOG_BRIDGE_RUNS = TableSpec(
    SCHEMA,
    "learning_backlog_bridge_runs",
    (
        C("period_start", "DATE"),
        C("period_key", "TEXT"),
        C("considered", "BIGINT"),
        C("written", "BIGINT"),
        C("filtered_as_noise", "BIGINT"),
        C("duplicates_in_run", "BIGINT"),
        C("skipped_already_decided", "BIGINT"),
        C("limited_by_source_cap", "BIGINT"),
        C("limited_by_run_cap", "BIGINT"),
        C("config", "JSON"),
    ),
    partition_columns=("period_start",),
    key=(),
)
LEARNING_BACKLOG_DECISIONS = TableSpec(  # append-only: rows are added, never replaced
    SCHEMA,
    "learning_backlog_decisions",
    (
        C("decision_id", "TEXT"),
        C("candidate_key", "TEXT"),
        C("decision", "TEXT"),
        C("previous_status", "TEXT"),
        C("actor", "TEXT"),
        C("note", "TEXT", nullable=True),
        C("decided_at", "TIMESTAMP"),
    ),
    partition_columns=(),
    key=("decision_id",),
)
LEARNING_BACKLOG = TableSpec(  # not partitioned: the current state, rebuilt from candidates and decisions
    SCHEMA,
    "learning_backlog",
    (
        *_CANDIDATE_COLUMNS,
        C("status", "TEXT"),
        C("first_proposed_week", "TEXT"),
        C("last_proposed_week", "TEXT"),
        C("weeks_proposed", "BIGINT"),
        C("decided_by", "TEXT", nullable=True),
        C("decided_at", "TIMESTAMP", nullable=True),
        C("decision_note", "TEXT", nullable=True),
    ),
    partition_columns=(),
    key=("candidate_key",),
)
