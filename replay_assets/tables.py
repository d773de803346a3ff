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
        C("cluster_id", "BIGINT", description="The cluster's number in the tick, by its first segment."),
        C(
            "kind",
            "TEXT",
            description="cluster (of the window), or high_impact_noise: a segment of the tick no cluster "
            "took whose description sounds bad enough to be a task of its own.",
        ),
        C("task_id", "TEXT", nullable=True, description="The task the cluster continues or opened."),
        C("size", "BIGINT", description="Segments of the window in the cluster (linked before, or linked now)."),
        C("arrived", "BIGINT", description="Of those, segments that arrived in this tick."),
        C("linked_now", "BIGINT", description="Of those, segments this tick linked to the cluster's task."),
        C("distinct_users", "BIGINT", description="Distinct pseudonymous users among the cluster's segments."),
        C("mean_impact", "DOUBLE", description="Mean impact (how bad the descriptions sound, 0-1)."),
        C("first_document_id", "TEXT", description="The cluster's first segment in canonical order."),
        C("last_occurrence", "TIMESTAMP", description="When the cluster's latest segment happened."),
        C("member_document_ids", "JSON", description="Every segment of the cluster."),
        C("examples", "JSON", description="Member descriptions nearest the cluster's centre."),
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
        C("description", "TEXT", description="The problem in a sentence or two, with its counts when labelled."),
        C("keywords", "JSON", description="The words that tell this task apart from the team's others."),
        C("label_source", "TEXT", description="Who labelled it: keywords, or the LLM labeler."),
        C(
            "status",
            "TEXT",
            description="new, updated or unchanged by this tick; merged: it turned out to be the same "
            "problem as merged_into (see video_segment_task_merges).",
        ),
        C("merged_into", "TEXT", nullable=True, description="The task a merged task's links moved to."),
        C("priority", "DOUBLE", description="users_factor + impact_factor + recency_factor."),
        C("users_factor", "DOUBLE", description="Share of the priority from distinct users."),
        C("impact_factor", "DOUBLE", description="Share of the priority from how bad the segments sound."),
        C(
            "recency_factor",
            "DOUBLE",
            description="Share of the priority from how recent the last occurrence is (half-life decay).",
        ),
        C("occurrences", "BIGINT", description="Segments linked to the task so far."),
        C("distinct_users", "BIGINT", description="Distinct pseudonymous users so far (an exact union)."),
        C("mean_impact", "DOUBLE", description="Mean impact of the task's segments (0-1)."),
        C("segments_this_tick", "BIGINT", description="Segments this tick linked to the task."),
        C("first_seen", "TIMESTAMP", description="The end of the tick that opened the task."),
        C("last_occurrence", "TIMESTAMP", description="When the task's latest segment happened."),
    ),
    partition_columns=PARTITION,
    key=("task_id",),
)

VIDEO_SEGMENT_TASK_LINKS = TableSpec(
    SCHEMA,
    "video_segment_task_links",
    _TICK
    + (
        C("document_id", "TEXT", description="The segment (session:start:end)."),
        C("task_id", "TEXT", description="Its task from this tick on."),
        C("cluster_id", "BIGINT", description="The cluster of this tick that linked or moved it."),
        C("session_id", "TEXT", description="The replay session, to open at the segment."),
        C("start_time", "TIMESTAMP", description="Where the segment starts in the session."),
        C("end_time", "TIMESTAMP", description="Where it ends."),
        C("timestamp", "TIMESTAMP", description="When it happened."),
        C("user_ref", "TEXT", privacy="pseudonym", description="Its user, pseudonymized."),
        C("content", "TEXT", description="Its description (a user's own id in it replaced by [user])."),
        C("impact", "DOUBLE", description="How bad the description sounds (0-1)."),
        C("distance", "DOUBLE", description="Cosine distance to its cluster's centre when it was linked."),
        C(
            "linked_by",
            "TEXT",
            description="cluster (its cluster continues or opened the task), high_impact (a task of its "
            "own), or merge (its task merged into this one).",
        ),
        C("previous_task_id", "TEXT", nullable=True, description="For a merge: the task it moved from."),
    ),
    partition_columns=PARTITION,
    key=("document_id",),
)

VIDEO_SEGMENT_TASK_MERGES = TableSpec(
    SCHEMA,
    "video_segment_task_merges",
    _TICK
    + (
        C("task_id", "TEXT", description="The task merged away (kept, with status merged)."),
        C("merged_into", "TEXT", description="The surviving task: the one first seen."),
        C("cluster_id", "BIGINT", description="The cluster of the tick that holds the majority of both."),
        C("segments", "BIGINT", description="The merged task's segments in that cluster."),
        C("survivor_segments", "BIGINT", description="The survivor's segments in that cluster."),
        C("reason", "TEXT", description="Why, in words."),
    ),
    partition_columns=PARTITION,
    key=("task_id",),
)

#: Every (team, tick) whose segments a run started to read, written before the source is read:
#: a team's first tick is known even when that tick failed, so the next one cannot pass for the first.
TICKS_STARTED = TableSpec(
    SCHEMA,
    "ticks_started",
    (
        C("tick_key", "TEXT", description="team_id|tick_end"),
        C("team_id", "BIGINT"),
        C("tick_end", "TIMESTAMP"),
    ),
    (),
    ("tick_key",),
)

#: The shape of the window a tick reads: segments with the task each is linked to now.
WINDOW_SEGMENTS = TableSpec(
    SCHEMA,
    "window_segments",
    tuple(c for c in VIDEO_SEGMENTS.columns if c.name not in ("team_id", "distinct_id"))
    + (C("task_id", "TEXT", nullable=True),),
    (),
    (),
)

#: The shape of a segment's current link (its latest link row).
CURRENT_LINKS = TableSpec(
    SCHEMA,
    "current_links",
    tuple(
        c
        for c in VIDEO_SEGMENT_TASK_LINKS.columns
        if c.name not in ("team_id", "tick_end", "cluster_id", "linked_by", "previous_task_id")
    ),
    (),
    (),
)
