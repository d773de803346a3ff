"""The replay schema's tables. Every table is partitioned by (team_id, tick_end): a tick is the
30-minute window of ``inserted_at`` that ends at ``tick_end``."""

from platform_core.tables import Column as C
from platform_core.tables import TableSpec

SCHEMA = "replay"
PARTITION = ("team_id", "tick_end")
_TICK = (C("team_id", "BIGINT"), C("tick_end", "TIMESTAMP"))

VIDEO_SEGMENTS = TableSpec(
    SCHEMA,
    "video_segments",
    _TICK
    + (
        C("document_id", "TEXT"),
        C("session_id", "TEXT"),
        C("distinct_id", "TEXT", privacy="raw_id"),
        C("user_ref", "TEXT", privacy="pseudonym"),
        C("start_time", "TIMESTAMP"),
        C("end_time", "TIMESTAMP"),
        C("timestamp", "TIMESTAMP"),
        C("inserted_at", "TIMESTAMP"),
        C("content", "TEXT"),
        C("embedding", "VECTOR"),
    ),
    partition_columns=PARTITION,
    key=("document_id",),
)

VIDEO_SEGMENT_REJECTS = TableSpec(
    SCHEMA,
    "video_segment_rejects",
    _TICK
    + (
        C("row_number", "BIGINT"),
        C("document_id", "TEXT", nullable=True),
        C("session_id", "TEXT", nullable=True),
        C("user_ref", "TEXT", nullable=True, privacy="pseudonym"),
        C("inserted_at", "TIMESTAMP", nullable=True),
        C("content", "TEXT", nullable=True),
        C("reason", "TEXT"),
        C("detail", "TEXT"),
    ),
    partition_columns=PARTITION,
    key=("row_number",),
)

VIDEO_SEGMENT_CLUSTERS = TableSpec(
    SCHEMA,
    "video_segment_clusters",
    _TICK
    + (
        C("cluster_id", "BIGINT"),
        C("kind", "TEXT"),
        C("size", "BIGINT"),
        C("cohesion", "DOUBLE"),
        C("distinct_users", "BIGINT"),
        C("mean_impact", "DOUBLE"),
        C("first_document_id", "TEXT"),
        C("last_occurrence", "TIMESTAMP"),
        C("member_document_ids", "JSON"),
        C("examples", "JSON"),
        C("centroid", "VECTOR"),
    ),
    partition_columns=PARTITION,
    key=("cluster_id",),
)

VIDEO_SEGMENT_TASKS = TableSpec(
    SCHEMA,
    "video_segment_tasks",
    _TICK
    + (
        C("task_id", "TEXT", description="Stable id: a hash of the team and the task's first segment."),
        C("title", "TEXT", description="What the problem is (the labeler's words)."),
        C("description", "TEXT"),
        C("keywords", "JSON"),
        C("label_source", "TEXT"),
        C("status", "TEXT", description="new, updated or unchanged by this tick."),
        C("priority", "DOUBLE", description="users_factor + impact_factor + recency_factor."),
        C("users_factor", "DOUBLE", description="Share of the priority from distinct users."),
        C("impact_factor", "DOUBLE", description="Share of the priority from how bad the segments sound."),
        C(
            "recency_factor",
            "DOUBLE",
            description="Share of the priority from how recent the last occurrence is (half-life decay).",
        ),
        C("occurrences", "BIGINT", description="Segments in the task so far."),
        C("cohesion", "DOUBLE", description="Mean cosine of the task's segments to its centroid."),
        C("distinct_users", "BIGINT", description="Distinct pseudonymous users so far (an exact union)."),
        C("mean_impact", "DOUBLE"),
        C("segments_this_tick", "BIGINT", description="Segments this tick added."),
        C("first_seen", "TIMESTAMP"),
        C("last_occurrence", "TIMESTAMP"),
        C(
            "centroid_tick",
            "TIMESTAMP",
            description="The tick whose video_segment_task_centroids row holds the task's centroid.",
        ),
    ),
    partition_columns=PARTITION,
    key=("task_id",),
)

#: A task's centroid, written at each tick that creates or moves it (the tasks table names the
#: version in ``centroid_tick``), so a tick's state is exact without copying every centroid every tick.
VIDEO_SEGMENT_TASK_CENTROIDS = TableSpec(
    SCHEMA,
    "video_segment_task_centroids",
    _TICK + (C("task_id", "TEXT"), C("centroid", "VECTOR")),
    partition_columns=PARTITION,
    key=("task_id",),
)

VIDEO_SEGMENT_TASK_LINKS = TableSpec(
    SCHEMA,
    "video_segment_task_links",
    _TICK
    + (
        C("document_id", "TEXT"),
        C("task_id", "TEXT"),
        C("cluster_id", "BIGINT"),
        C("session_id", "TEXT"),
        C("start_time", "TIMESTAMP"),
        C("end_time", "TIMESTAMP"),
        C("user_ref", "TEXT", privacy="pseudonym"),
        C("content", "TEXT"),
        C("impact", "DOUBLE"),
        C("distance", "DOUBLE"),
    ),
    partition_columns=PARTITION,
    key=("document_id",),
)

#: The shape of a query result: the distinct users already linked to each task.
TASK_USERS = TableSpec(SCHEMA, "task_users", (C("task_id", "TEXT"), C("user_ref", "TEXT", privacy="pseudonym")), (), ())
