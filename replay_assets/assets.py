"""Replay assets, per team and 30-minute tick: segments (+ rejects) -> clusters -> tasks (+ links).

Each asset is its tables and a step (see :mod:`platform_core.table_asset`) that reads its inputs
from the source or the warehouse and calls the pure steps of :mod:`replay_assets.pipeline`. A
backfill range runs as one run, tick after tick, each tick's tasks starting from the tick before.
"""

import hashlib

import dagster as dg
import numpy as np
import pandas as pd

from platform_core.checks import privacy_check, require_partitions, require_predecessors
from platform_core.hashing import canonical_json, frames_hash, rows_fingerprint
from platform_core.privacy import RawIds, pseudonymize
from platform_core.table_asset import SOURCE_RETRY, Check, Output, Run, Written, asset_key, source_spec, table_asset
from platform_core.tables import Column, TableSpec
from platform_core.warehouse import Backend, manifest_spec
from replay_assets.matching import TaskState, task_pairs_alike
from replay_assets.partitions import PREVIOUS_TICK, TICK_AND_PREVIOUS, Tick, replay_partitions, ticks_of
from replay_assets.pipeline import ReplayParams, tick_clusters, update_tasks
from replay_assets.segments import validate_segments
from replay_assets.tables import (
    SCHEMA,
    TASK_USERS,
    VIDEO_SEGMENT_CLUSTERS,
    VIDEO_SEGMENT_REJECTS,
    VIDEO_SEGMENT_TASK_CENTROIDS,
    VIDEO_SEGMENT_TASK_LINKS,
    VIDEO_SEGMENT_TASKS,
    VIDEO_SEGMENTS,
)

GROUP = "replay"
OWNERS = ["team:replay"]
SEGMENTS_KEY = asset_key(VIDEO_SEGMENTS)
REJECTS_KEY = asset_key(VIDEO_SEGMENT_REJECTS)
CLUSTERS_KEY = asset_key(VIDEO_SEGMENT_CLUSTERS)
TASKS_KEY = asset_key(VIDEO_SEGMENT_TASKS)
LINKS_KEY = asset_key(VIDEO_SEGMENT_TASK_LINKS)

#: The raw input, outside the graph: the segment store the segments asset reads.
SEGMENT_SOURCE = source_spec(
    ["replay", "segment_embeddings"],
    group=GROUP,
    owners=OWNERS,
    kinds={"parquet", "clickhouse"},
    description="Session-replay video segments with their description embeddings (REPLAY_SEGMENTS_URL: the demo generator, "
    "a .parquet file or ClickHouse table document_embeddings), by arrival time. Read, never written here; "
    "it holds raw user ids (distinct_id).",
    columns=[
        ("team_id", "BIGINT"),
        ("document_id", "TEXT"),
        ("session_id", "TEXT"),
        ("distinct_id", "TEXT"),
        ("content", "TEXT"),
        ("embedding", "FLOAT[]"),
        ("inserted_at", "TIMESTAMP"),
    ],
    raw_ids=["distinct_id"],
)


FIRST_KEY = TableSpec("replay", "first", (Column("partition_key", "TEXT", nullable=True),), (), ())


class ReplayConfig(dg.Config, ReplayParams):
    """Clustering, matching and priority constants (see :class:`replay_assets.pipeline.ReplayParams`)."""


#: One stored embedding, to learn a team's embedding size from.
_AN_EMBEDDING = TableSpec("replay", "video_segments", (Column("embedding", "VECTOR"),), (), ())


def team_dimension(backend: Backend, tick: Tick) -> int | None:
    """The embedding size of the team's segments (its latest stored segment before the tick), if
    any: what the tick's embeddings must have. Read from the segments, which this step writes tick
    by tick in order, so it is the same however the ticks were grouped into runs (the tasks' are
    not: a range run writes them after every tick's segments)."""
    sql = (
        f"SELECT embedding FROM {VIDEO_SEGMENTS.qualified_name} WHERE team_id = {backend.placeholder} "
        f"AND tick_end < {backend.placeholder} ORDER BY tick_end DESC, document_id LIMIT 1"
    )
    latest = backend.query(_AN_EMBEDDING, sql, [tick.team_id, tick.end], over=[VIDEO_SEGMENTS])
    return len(latest["embedding"].iat[0]) if len(latest) else None


def _segment_ticks(run: Run):
    """Each tick's source rows validated; a description that names any user of the tick keeps them
    only as [user], a reject keeps its user as a pseudonym."""
    pseudonymizer = run.resources.replay_pseudonymizer
    default_salt = pseudonymizer.warn_if_default(run.log)
    salt_hash = hashlib.sha256(pseudonymizer.salt.encode()).hexdigest()
    for tick in ticks_of(run.context):
        raw = run.resources.replay_segments.read(tick.team_id, tick.start, tick.end)
        dimension = team_dimension(run.backend, tick)
        v = validate_segments(raw, dimension)
        raw_ids = raw["distinct_id"].dropna().astype(str).tolist() if "distinct_id" in raw else []
        ids = RawIds(raw_ids)
        segments = v.segments.assign(
            team_id=tick.team_id,
            tick_end=tick.end,
            content=ids.scrub(v.segments["content"]),
            user_ref=pseudonymize(v.segments["distinct_id"].astype(str), pseudonymizer.salt),
            embedding=list(v.embeddings),
        )
        rejects = v.rejects.assign(
            team_id=tick.team_id,
            tick_end=tick.end,
            content=ids.scrub(v.rejects["content"].astype("object")),
            user_ref=pseudonymize(v.rejects["distinct_id"].dropna().astype(str), pseudonymizer.salt).reindex(
                v.rejects.index
            ),
        )[VIDEO_SEGMENT_REJECTS.column_names]
        by_reason = {str(k): int(n) for k, n in rejects["reason"].value_counts().sort_index().items()}
        watermark = segments["inserted_at"].max() if len(segments) else None
        part = Written(
            tick.label,
            tick.partition_key,
            {VIDEO_SEGMENTS.name: (tick.partition, segments), VIDEO_SEGMENT_REJECTS.name: (tick.partition, rejects)},
            frames_hash(rows_fingerprint(raw), salt_hash, str(dimension)),
            facts={
                VIDEO_SEGMENTS.name: {
                    "source_rows": len(raw),
                    "dimension": v.dimension,
                    "default_salt": default_salt,
                    "watermark": str(watermark) if watermark is not None else "none",
                },
                VIDEO_SEGMENT_REJECTS.name: {"rejects_by_reason": by_reason},
            },
            log=f"{tick.label}: {len(segments)} segments, {len(rejects)} rejects {by_reason}",
        )
        part.checks.append(
            privacy_check(
                REJECTS_KEY,
                {"video_segment_rejects": rejects},
                raw_ids,
                tick.label,
                {"video_segment_rejects": ["content"]},
            )
        )
        part.check(
            VIDEO_SEGMENTS,
            "every_row_accounted",
            len(raw) == len(segments) + len(rejects),
            f"{len(raw)} source rows = {len(segments)} segments + {len(rejects)} rejects",
        )
        yield part


video_segments = table_asset(
    name="video_segments",
    group=GROUP,
    owners=OWNERS,
    partitions_def=replay_partitions,
    step=_segment_ticks,
    resources=["replay_segments", "replay_pseudonymizer"],
    retry_policy=SOURCE_RETRY,
    outputs=[
        Output(
            VIDEO_SEGMENTS,
            "The segments that arrived in the tick, validated, with a pseudonymous user_ref.",
            deps=[SEGMENT_SOURCE.key],
        ),
        Output(
            VIDEO_SEGMENT_REJECTS,
            "Every source row of the tick that is not a usable segment, with its reason.",
            replayed=False,
            deps=[SEGMENT_SOURCE.key],
            shown=lambda rejects: rejects[["reason", "detail", "document_id"]],
        ),
    ],
    checks=[
        Check(
            VIDEO_SEGMENT_REJECTS,
            "no_raw_user_ids",
            "A reject keeps its user as a pseudonym; no raw id of the tick in its text.",
        ),
        Check(VIDEO_SEGMENTS, "every_row_accounted", "Segments + rejects = source rows of the tick: nothing dropped."),
    ],
)


def read_segments(backend: Backend, tick: Tick) -> tuple[pd.DataFrame, np.ndarray]:
    """A tick's segments in canonical order and their embeddings as one float32 matrix."""
    segments = backend.read(VIDEO_SEGMENTS, where=tick.partition)
    segments = segments.sort_values(["inserted_at", "document_id"], kind="mergesort").reset_index(drop=True)
    embeddings = np.stack(segments["embedding"].to_list()) if len(segments) else np.empty((0, 0), dtype=np.float32)
    return segments.drop(columns=["embedding"]), embeddings


def first_tick_end(backend: Backend, tick: Tick) -> pd.Timestamp:
    """The end of the team's first tick: its earliest tick of segments (a team starts when it is
    enabled, not where the partitions start); ``tick`` itself when none is written yet."""
    p = backend.placeholder
    result = backend.query(
        FIRST_KEY,
        f"SELECT min(partition_key) AS partition_key FROM {manifest_spec(SCHEMA).qualified_name} "
        f"WHERE table_name = {p} AND partition_key LIKE {p}",
        [VIDEO_SEGMENTS.name, f"team_id={tick.team_id};%"],
        over=[manifest_spec(SCHEMA)],
    )
    key = result["partition_key"].iat[0] if len(result) else None
    return pd.Timestamp(key.split("tick_end=", 1)[1]) if pd.notna(key) else tick.end


def previous_tick_hashes(backend: Backend, spec: TableSpec, tick: Tick) -> list[str]:
    """The content hash of ``spec``'s partition of the tick before ``tick``: none for the team's
    first tick; a failure naming the previous tick when it is missing otherwise."""
    before = Tick(tick.team_id, tick.start)
    return require_predecessors(
        backend, spec, [before.partition], tick.label, "tick_end", first_tick_end(backend, tick)
    )


def previous_segments(
    backend: Backend, tick: Tick, own_rows: int, params: ReplayParams
) -> tuple[np.ndarray | None, list[str]]:
    """The previous tick's embeddings a tick may be clustered beside (``replay_assets.pipeline.top_up``)
    and that partition's content hash (see ``previous_tick_hashes``). Not read when the tick is
    large enough on its own."""
    hashes = previous_tick_hashes(backend, VIDEO_SEGMENTS, tick) if params.context_rows else []
    if not hashes or own_rows >= params.context_rows:
        return None, hashes
    return read_segments(backend, Tick(tick.team_id, tick.start))[1], hashes


def _cluster_ticks(run: Run):
    params = ReplayParams.model_validate(run.config.model_dump())
    backend = run.backend
    for tick in ticks_of(run.context):
        own = require_partitions(backend, VIDEO_SEGMENTS, [tick.partition], tick.label)
        segments, embeddings = read_segments(backend, tick)
        previous, previous_hash = previous_segments(backend, tick, len(segments), params)
        result = tick_clusters(segments, embeddings, params, previous)
        clusters = result.clusters.assign(team_id=tick.team_id, tick_end=tick.end)
        kinds = clusters["kind"].value_counts()
        noise = int((result.groups < 0).sum())
        part = Written(
            tick.label,
            tick.partition_key,
            {VIDEO_SEGMENT_CLUSTERS.name: (tick.partition, clusters)},
            frames_hash(*own, *previous_hash, canonical_json(params.model_dump())),
            facts={
                VIDEO_SEGMENT_CLUSTERS.name: {
                    "segments": len(segments),
                    "previous_tick_segments_beside": result.beside,
                    "clusters": int(kinds.get("cluster", 0)),
                    "high_impact_noise": int(kinds.get("high_impact_noise", 0)),
                    "noise_left": noise,
                    "clustered_share": round(1 - noise / len(segments), 4) if len(segments) else 0.0,
                }
            },
        )
        part.checks.append(
            privacy_check(
                CLUSTERS_KEY,
                {"video_segment_clusters": clusters},
                segments["distinct_id"],
                tick.label,
                {"video_segment_clusters": ["examples"]},
            )
        )
        yield part


video_segment_clusters = table_asset(
    name="replay__video_segment_clusters",
    kinds=["sklearn"],
    group=GROUP,
    owners=OWNERS,
    partitions_def=replay_partitions,
    config=ReplayConfig,
    step=_cluster_ticks,
    outputs=[
        Output(
            VIDEO_SEGMENT_CLUSTERS,
            "Clusters of the tick's segments (members, centroid, nearest examples), clustered beside "
            "the previous tick's segments; high-impact noise as one-segment clusters.",
            deps=[dg.AssetDep(SEGMENTS_KEY, partition_mapping=TICK_AND_PREVIOUS)],
            shown=lambda c: c.sort_values(["size", "cluster_id"], ascending=[False, True])[
                ["cluster_id", "kind", "size", "distinct_users", "mean_impact", "examples"]
            ],
        )
    ],
    checks=[Check(VIDEO_SEGMENT_CLUSTERS, "no_raw_user_ids", "No raw distinct_id of the tick appears in a cluster.")],
)


def previous_state(backend: Backend, tick: Tick, dimension: int) -> tuple[TaskState, list[str]]:
    """The team's tasks after the tick before ``tick``, and that partition's content hash: empty
    for the team's first tick; a failure naming the previous tick when it is missing otherwise."""
    hashes = previous_tick_hashes(backend, VIDEO_SEGMENT_TASKS, tick)
    if not hashes:
        return TaskState.empty(dimension), hashes
    before = Tick(tick.team_id, tick.start)
    tasks = backend.read(VIDEO_SEGMENT_TASKS, where=before.partition).drop(columns=["team_id", "tick_end"])
    p = backend.placeholder
    centroids = backend.query(
        VIDEO_SEGMENT_TASK_CENTROIDS,
        f"SELECT c.team_id, c.tick_end, c.task_id, c.centroid FROM {VIDEO_SEGMENT_TASK_CENTROIDS.qualified_name} c "
        f"JOIN {VIDEO_SEGMENT_TASKS.qualified_name} t ON t.team_id = c.team_id AND t.task_id = c.task_id "
        f"AND t.centroid_tick = c.tick_end WHERE t.team_id = {p} AND t.tick_end = {p}",
        [tick.team_id, before.end],
        over=[VIDEO_SEGMENT_TASK_CENTROIDS],
    ).set_index("task_id")["centroid"]
    tasks = tasks.sort_values("task_id").reset_index(drop=True)
    matrix = (
        np.stack(centroids.loc[tasks["task_id"]].to_list()).astype(np.float64)
        if len(tasks)
        else np.empty((0, dimension))
    )
    users = backend.query(
        TASK_USERS,
        f"SELECT DISTINCT task_id, user_ref FROM {VIDEO_SEGMENT_TASK_LINKS.qualified_name} WHERE team_id = {p} AND tick_end < {p}",
        [tick.team_id, tick.end],
        over=[VIDEO_SEGMENT_TASK_LINKS],
    )
    by_task = users.groupby("task_id")["user_ref"].agg(set).to_dict() if len(users) else {}
    return TaskState(tasks, matrix, by_task), hashes


def _task_ticks(run: Run):
    params = ReplayParams.model_validate(run.config.model_dump())
    backend = run.backend
    labeler, identity = run.resources.replay_labeler.labeler(), run.resources.replay_labeler.identity
    for tick in ticks_of(run.context):
        inputs = [
            require_partitions(backend, spec, [tick.partition], tick.label)[0]
            for spec in (VIDEO_SEGMENTS, VIDEO_SEGMENT_CLUSTERS)
        ]
        segments, embeddings = read_segments(backend, tick)
        clusters = backend.read(VIDEO_SEGMENT_CLUSTERS, where=tick.partition)
        dimension = (
            embeddings.shape[1] if embeddings.size else (len(clusters["centroid"].iat[0]) if len(clusters) else 0)
        )
        state, before = previous_state(backend, tick, dimension)
        input_hash = frames_hash(*inputs, *before, canonical_json(params.model_dump()), identity)
        # A replayed tick keeps the labels it was given (an LLM need not answer the same twice).
        known = backend.read(
            VIDEO_SEGMENT_TASKS,
            where=tick.partition,
            columns=["task_id", "title", "description", "keywords", "label_source"],
        )
        update = update_tasks(
            tick.team_id, tick.end, state, clusters, segments, embeddings, params, labeler, known_labels=known
        )
        at = dict(team_id=tick.team_id, tick_end=tick.end)
        status = update.tasks["status"].value_counts()
        part = Written(
            tick.label,
            tick.partition_key,
            {
                VIDEO_SEGMENT_TASKS.name: (tick.partition, update.tasks.assign(**at)),
                VIDEO_SEGMENT_TASK_CENTROIDS.name: (tick.partition, update.centroids.assign(**at)),
                VIDEO_SEGMENT_TASK_LINKS.name: (tick.partition, update.links.assign(**at)),
            },
            input_hash,
            facts={
                VIDEO_SEGMENT_TASKS.name: {"new": int(status.get("new", 0)), "updated": int(status.get("updated", 0))}
            },
            log=f"{tick.label}: {len(update.tasks)} tasks ({dict(status)}), {len(update.links)} links",
        )
        expected = int(clusters["size"].sum()) if len(clusters) else 0
        tasks_after = update.state.tasks
        close = task_pairs_alike(
            update.state.centroids, tasks_after["occurrences"], tasks_after["cohesion"], params.min_ratio
        )
        part.checks += [
            privacy_check(
                TASKS_KEY,
                {"video_segment_tasks": update.tasks},
                segments["distinct_id"],
                tick.label,
                {"video_segment_tasks": ["title", "description", "keywords"]},
            ),
            privacy_check(
                LINKS_KEY,
                {"video_segment_task_links": update.links},
                segments["distinct_id"],
                tick.label,
                {"video_segment_task_links": ["content"]},
            ),
        ]
        part.check(
            VIDEO_SEGMENT_TASK_LINKS,
            "every_clustered_segment_linked",
            len(update.links) == expected and update.links["document_id"].is_unique,
            f"{len(update.links)} links for {expected} clustered segments",
        )
        part.check(
            VIDEO_SEGMENT_TASKS,
            "tasks_stay_distinct",
            close == 0,
            f"{close} pairs of tasks that the matching rule would take for one problem",
        )
        yield part


def _tasks_shown(tasks: pd.DataFrame) -> pd.DataFrame:
    """The tick's new and updated tasks first, by priority."""
    moved = tasks[tasks["status"] != "unchanged"]
    return moved.sort_values(["priority", "task_id"], ascending=[False, True])[
        ["priority", "status", "title", "occurrences", "distinct_users", "segments_this_tick", "task_id"]
    ]


video_segment_tasks = table_asset(
    name="video_segment_tasks",
    group=GROUP,
    owners=OWNERS,
    partitions_def=replay_partitions,
    config=ReplayConfig,
    resources=["replay_labeler"],
    step=_task_ticks,
    outputs=[
        Output(
            VIDEO_SEGMENT_TASKS,
            "The team's tasks after the tick, ranked by priority (with its factors); centroids in "
            "video_segment_task_centroids.",
            shown=_tasks_shown,
            deps=[CLUSTERS_KEY, SEGMENTS_KEY, dg.AssetDep(TASKS_KEY, partition_mapping=PREVIOUS_TICK)],
            # a tick every 30 minutes, run 5 minutes after it ends
            freshness=dg.FreshnessPolicy.time_window(
                fail_window=pd.Timedelta(minutes=70).to_pytimedelta(),
                warn_window=pd.Timedelta(minutes=40).to_pytimedelta(),
            ),
        ),
        Output(
            VIDEO_SEGMENT_TASK_CENTROIDS,
            "The unit centroid of every task the tick created or moved.",
            replayed=False,
            own_asset=False,
        ),
        Output(
            VIDEO_SEGMENT_TASK_LINKS,
            "Every clustered segment of the tick, linked to its task with its distance to the centroid.",
            replayed=False,
            deps=[CLUSTERS_KEY, SEGMENTS_KEY],
        ),
    ],
    checks=[
        Check(VIDEO_SEGMENT_TASKS, "no_raw_user_ids", "No raw distinct_id of the tick appears in a task."),
        Check(VIDEO_SEGMENT_TASK_LINKS, "no_raw_user_ids", "No raw distinct_id of the tick appears in a link."),
        Check(
            VIDEO_SEGMENT_TASK_LINKS,
            "every_clustered_segment_linked",
            "Links = the segments of the tick's clusters, each once.",
        ),
        Check(
            VIDEO_SEGMENT_TASKS,
            "tasks_stay_distinct",
            "No two tasks lie within the match distance of each other.",
            blocking=False,
        ),
    ],
)
