"""The minority_report schema's tables. Tick tables are partitioned by ``written_at`` (the tick's
end) and ``shard`` (see :mod:`minority_report_assets.partitions`); daily tables by ``day``."""

from platform_core.tables import Column as C
from platform_core.tables import TableSpec

SCHEMA = "minority_report"
_SHARD = C("shard", "BIGINT", description="The store's shard: SHA-256 of store_id modulo MR_SHARDS.")
_TICK = (C("written_at", "TIMESTAMP", description="The tick's end (UTC)."), _SHARD)
_REPORT = (
    C(
        "report_id",
        "TEXT",
        description="Stable: a hash of store, SKU and first_detected_from; a continuation keeps it.",
    ),
    C("version", "BIGINT", description="1 when the report opens, + 1 each tick it is written again."),
    C("store_id", "TEXT"),
    C("sku", "TEXT"),
    C("first_detected_from", "TIMESTAMP", description="The first bucket of the deviation that opened the report."),
    C("window_start", "TIMESTAMP", description="The report's first bucket (back-dated to where the deviation began)."),
    C("window_end", "TIMESTAMP", description="The end of the report's last deviating bucket."),
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
        C("expected", "VECTOR", description="Expected units in each of the day's 288 five-minute buckets."),
        C("model_error", "VECTOR", description="The series' learned relative error, per detection window."),
        C("open_threshold", "DOUBLE", nullable=True, description="The score above which the series opens a report."),
        C("regular_price", "DOUBLE", nullable=True, description="Median of the history days' median prices."),
        C("history_days", "BIGINT", description="Days of sales the fit had (28 at most)."),
        C("warming_up", "BOOLEAN", description="Too little history: the series is not scored this day."),
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
        C("severity_score", "DOUBLE", description="The deviation's peak score / 10, at most 1."),
        C("impact_estimate", "DOUBLE", description="Units sold minus units expected over the window."),
        C("report_status", "TEXT", description="open, or closed (written once more when quiet long enough)."),
        C("baseline_sales_total", "DOUBLE", description="Units expected over the window."),
        C("attributed_sales_total", "DOUBLE", description="Units sold over the window."),
        C("run_id", "TEXT", description="From run config (default 'scheduled'): stable on replay."),
    ),
    partition_columns=("written_at", "shard"),
    key=("report_id",),
)
SOURCE_OUTAGES = TableSpec(
    SCHEMA,
    "source_outages",
    _TICK
    + (
        C("bucket_start", "TIMESTAMP", description="The first bucket with no sales row (within the tick's lookback)."),
        C("bucket_end", "TIMESTAMP", description="The end of the last bucket with no sales row."),
        C("buckets", "BIGINT", description="Buckets in which no series of the shard had a row."),
        C("expected_total", "DOUBLE", description="Units the baseline expected over them, all series."),
        C("ongoing", "BOOLEAN", description="Still silent at the tick's end; false: rows came again."),
    ),
    partition_columns=("written_at", "shard"),
    key=("bucket_start",),
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
        C("feature_vector", "VECTOR", description="The window's shape (minority_report_assets.features)."),
        C("cluster_id", "BIGINT", description="The matched library pattern (unknown below min_similarity)."),
        C("cluster_name", "TEXT"),
        C("similarity_score", "DOUBLE", description="Cosine of the observed and the fitted uplift over the window."),
        C(
            "cluster_match_confidence",
            "DOUBLE",
            description="similarity_score x the pattern's posterior among all.",
        ),
        C("tsne_x", "DOUBLE", description="Place on the map of map_day."),
        C("tsne_y", "DOUBLE"),
        C("map_day", "DATE", nullable=True, description="The day whose map placed it; empty: the library's own."),
        C("library_version", "TEXT", description="The pattern library's version it was matched against."),
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
