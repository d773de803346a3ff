"""The minority_report schema's tables. Tick tables are partitioned by ``written_at`` (the tick's
end) and ``shard`` (see :mod:`minority_report_assets.partitions`); daily tables by ``day``."""

from platform_core.tables import Column as C
from platform_core.tables import TableSpec

SCHEMA = "minority_report"
_SHARD = C("shard", "BIGINT", description="The store's shard: SHA-256 of store_id modulo MR_SHARDS.")
_TICK = (C("written_at", "TIMESTAMP"), _SHARD)
_REPORT = (
    C("report_id", "TEXT"),
    C("version", "BIGINT"),
    C("store_id", "TEXT"),
    C("sku", "TEXT"),
    C("first_detected_from", "TIMESTAMP"),
    C("window_start", "TIMESTAMP"),
    C("window_end", "TIMESTAMP"),
)

SALES_TIMESERIES_DATA = TableSpec(
    SCHEMA,
    "sales_timeseries_data",
    _TICK
    + (
        C("store_id", "TEXT"),
        C("sku", "TEXT"),
        C("ts", "TIMESTAMP"),
        C("units", "DOUBLE"),
        C("price", "DOUBLE", nullable=True),
    ),
    partition_columns=("written_at", "shard"),
    key=("store_id", "sku", "ts"),
)
SALES_TIMESERIES_REJECTS = TableSpec(
    SCHEMA,
    "sales_timeseries_rejects",
    _TICK
    + (C("row_number", "BIGINT"),)
    + tuple(C(n, "TEXT", nullable=True) for n in ("store_id", "sku", "ts", "units", "price"))
    + (C("reason", "TEXT"), C("detail", "TEXT")),
    partition_columns=("written_at", "shard"),
    key=("row_number",),
)
SALES_BASELINE = TableSpec(
    SCHEMA,
    "sales_baseline",
    (
        C("day", "DATE"),
        C("store_id", "TEXT"),
        C("sku", "TEXT"),
        _SHARD,  # what a tick of one shard reads
        C("expected", "VECTOR"),
        C("model_error", "VECTOR"),
        C("open_threshold", "DOUBLE", nullable=True),
        C("regular_price", "DOUBLE", nullable=True),
        C("history_days", "BIGINT"),
        C("warming_up", "BOOLEAN"),
    ),
    partition_columns=("day",),
    key=("store_id", "sku"),
)
MINORITY_REPORTS_DETECTED_LOG = TableSpec(
    SCHEMA,
    "minority_reports_detected_log",
    _TICK
    + _REPORT
    + (
        C("severity_score", "DOUBLE"),
        C("impact_estimate", "DOUBLE"),
        C("report_status", "TEXT"),
        C("baseline_sales_total", "DOUBLE"),
        C("attributed_sales_total", "DOUBLE"),
        C("run_id", "TEXT"),
    ),
    partition_columns=("written_at", "shard"),
    key=("report_id",),
)
CLUSTER_LIBRARY = TableSpec(
    SCHEMA,
    "cluster_library",
    (
        C("library_version", "TEXT"),
        C("cluster_id", "BIGINT"),
        C("cluster_name", "TEXT"),
        C("cause_label", "TEXT"),
        C("shape", "TEXT"),
        C("duration_buckets", "JSON"),
        C("magnitude", "JSON"),
        C("centroid", "VECTOR"),
    ),
    partition_columns=(),
    key=("cluster_id",),
)
MINORITY_REPORTS_CLUSTERED_LOG = TableSpec(
    SCHEMA,
    "minority_reports_clustered_log",
    _TICK
    + _REPORT
    + (
        C("report_status", "TEXT"),
        C("feature_vector", "VECTOR"),
        C("cluster_id", "BIGINT"),
        C("cluster_name", "TEXT"),
        C("similarity_score", "DOUBLE"),
        C("cluster_match_confidence", "DOUBLE"),
        C("tsne_x", "DOUBLE"),
        C("tsne_y", "DOUBLE"),
        C("map_day", "DATE", nullable=True),
        C("library_version", "TEXT"),
        C("run_id", "TEXT"),
    ),
    partition_columns=("written_at", "shard"),
    key=("report_id",),
)
MINORITY_REPORT_MAP = TableSpec(
    SCHEMA,
    "minority_report_map",
    (
        C("day", "DATE"),
        C("point_id", "TEXT"),
        C("point_kind", "TEXT"),
        C("cluster_name", "TEXT"),
        C("x", "DOUBLE"),
        C("y", "DOUBLE"),
        C("vector", "VECTOR"),
    ),
    partition_columns=("day",),
    key=("point_id",),
)
MINORITY_REPORT_ATTRIBUTION_SUMMARY = TableSpec(
    SCHEMA,
    "minority_report_attribution_summary",
    (
        C("day", "DATE"),
        C("cluster_name", "TEXT"),
        C("store_id", "TEXT"),
        C("sku", "TEXT"),
        C("reports", "BIGINT"),
        C("high_confidence_reports", "BIGINT"),
        C("high_confidence_share", "DOUBLE"),
    ),
    partition_columns=("day",),
    key=("cluster_name", "store_id", "sku"),
)
