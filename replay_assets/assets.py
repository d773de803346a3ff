"""Replay assets, per team and 30-minute tick: segments (+ rejects) -> clusters -> tasks (+ links).

Each asset reads its inputs from the source or the warehouse, calls the pure steps of
:mod:`replay_assets.pipeline`, checks the frames, and commits each tick in one transaction (or
writes nothing and fails the run). A backfill range runs as one run, tick after tick, each
tick's tasks starting from the tick before.
"""

# No `from __future__ import annotations`: Dagster reads the config and resource annotations at definition time.
import hashlib

import dagster as dg
import numpy as np
import pandas as pd

from platform_core.checks import (
    BlockingCheckFailed, CheckOutcome, RunReport, check_results, commit, fail_with_results, prepare, privacy_check, replay_check, spec_for,
    require_partitions, written,
)
from platform_core.hashing import canonical_json, frames_hash
from platform_core.privacy import RawIds, pseudonymize
from platform_core.resources import WAREHOUSE_POOL, Pseudonymizer, WarehouseResource
from platform_core.tables import Column, TableSpec
from platform_core.warehouse import Backend, manifest_spec, partition_key
from replay_assets.matching import TaskState, task_pairs_alike
from replay_assets.partitions import PREVIOUS_TICK, TICK, TICK_AND_PREVIOUS, Tick, replay_partitions, ticks_of
from replay_assets.pipeline import ReplayParams, tick_clusters, update_tasks
from replay_assets.resources import SegmentSource, TaskLabeler
from replay_assets.segments import validate_segments
from replay_assets.tables import (
    SCHEMA, VIDEO_SEGMENT_CLUSTERS, VIDEO_SEGMENT_REJECTS, VIDEO_SEGMENT_TASK_CENTROIDS, VIDEO_SEGMENT_TASK_LINKS,
    VIDEO_SEGMENT_TASKS, VIDEO_SEGMENTS, TASK_USERS,
)

GROUP = "replay"
SEGMENTS_KEY = dg.AssetKey(["replay", "video_segments"])
REJECTS_KEY = dg.AssetKey(["replay", "video_segment_rejects"])
CLUSTERS_KEY = dg.AssetKey(["replay", "video_segment_clusters"])
TASKS_KEY = dg.AssetKey(["replay", "video_segment_tasks"])
LINKS_KEY = dg.AssetKey(["replay", "video_segment_task_links"])


LATEST_KEY = TableSpec("replay", "latest", (Column("partition_key", "TEXT", nullable=True),), (), ())


class ReplayConfig(dg.Config, ReplayParams):
    """Clustering, matching and priority constants (see :class:`replay_assets.pipeline.ReplayParams`)."""


def raw_fingerprint(raw: pd.DataFrame) -> str:
    """Hash of a tick's source rows, whatever their order (embeddings by their float32 bytes)."""
    digests = sorted(
        hashlib.sha256("|".join(map(str, (r.document_id, r.inserted_at, r.distinct_id, r.content, r.start_time, r.end_time)))
                       .encode() + np.asarray(r.embedding if r.embedding is not None else [], dtype="<f4").tobytes()).hexdigest()
        for r in raw.itertuples(index=False)
    )
    return frames_hash(*digests)


def team_dimension(backend: Backend, tick: Tick) -> int | None:
    """The embedding size the team's tasks use (its latest centroid before the tick), if any."""
    sql = (f"SELECT team_id, tick_end, task_id, centroid FROM {VIDEO_SEGMENT_TASK_CENTROIDS.qualified_name} "
           f"WHERE team_id = {backend.placeholder} AND tick_end < {backend.placeholder} ORDER BY tick_end DESC, task_id LIMIT 1")
    latest = backend.query(VIDEO_SEGMENT_TASK_CENTROIDS, sql, [tick.team_id, tick.end], over=[VIDEO_SEGMENT_TASK_CENTROIDS])
    return len(latest["centroid"].iat[0]) if len(latest) else None


@dg.multi_asset(pool=WAREHOUSE_POOL,
    name="video_segments",
    partitions_def=replay_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    specs=[
        dg.AssetSpec(SEGMENTS_KEY, group_name=GROUP, kinds={"python", "table"},
                     description="The segments that arrived in the tick, validated, with a pseudonymous user_ref."),
        dg.AssetSpec(REJECTS_KEY, group_name=GROUP, kinds={"python", "table"},
                     description="Every source row of the tick that is not a usable segment, with its reason."),
    ],
    check_specs=[
        spec_for("schema_valid", SEGMENTS_KEY, "Columns, types and keys match replay.video_segments."),
        spec_for("schema_valid", REJECTS_KEY, "Columns, types and keys match replay.video_segment_rejects."),
        spec_for("no_raw_user_ids", REJECTS_KEY, "A reject keeps its user as a pseudonym; no raw id of the tick in its text."),
        spec_for("every_row_accounted", SEGMENTS_KEY, "Segments + rejects = source rows of the tick: nothing dropped."),
        spec_for("deterministic_replay", SEGMENTS_KEY, "Same source rows as the last write give the same content hash."),
    ],
)
def video_segments(context: dg.AssetExecutionContext, warehouse: WarehouseResource, replay_segments: SegmentSource,
                   replay_pseudonymizer: Pseudonymizer):
    default_salt = replay_pseudonymizer.warn_if_default(context.log)
    backend = warehouse.backend()
    salt_hash = hashlib.sha256(replay_pseudonymizer.salt.encode()).hexdigest()
    outcomes: list[CheckOutcome] = []
    segments_report, rejects_report = RunReport(), RunReport()
    try:
        with backend.session():  # one connection for every tick of the run
            for tick in ticks_of(context):
                raw = replay_segments.read(tick.team_id, tick.start, tick.end)
                dimension = team_dimension(backend, tick)
                v = validate_segments(raw, dimension)
                # A description that names any user of the tick keeps them only as [user]; a reject
                # keeps its user as a pseudonym.
                raw_ids = raw["distinct_id"].dropna().astype(str).tolist() if "distinct_id" in raw else []
                ids = RawIds(raw_ids)
                segments = v.segments.assign(team_id=tick.team_id, tick_end=tick.end, content=ids.scrub(v.segments["content"]),
                                             user_ref=pseudonymize(v.segments["distinct_id"].astype(str), replay_pseudonymizer.salt),
                                             embedding=list(v.embeddings))
                rejects = v.rejects.assign(team_id=tick.team_id, tick_end=tick.end, content=ids.scrub(v.rejects["content"].astype("object")),
                                           user_ref=pseudonymize(v.rejects["distinct_id"].dropna().astype(str), replay_pseudonymizer.salt)
                                           .reindex(v.rejects.index))[VIDEO_SEGMENT_REJECTS.column_names]
                input_hash = frames_hash(raw_fingerprint(raw), salt_hash, str(dimension))
                w_segments, o_segments = prepare(SEGMENTS_KEY, VIDEO_SEGMENTS, tick.partition, segments, input_hash)
                w_rejects, o_rejects = prepare(REJECTS_KEY, VIDEO_SEGMENT_REJECTS, tick.partition, rejects, input_hash)
                by_reason = {str(k): int(n) for k, n in rejects["reason"].value_counts().sort_index().items()}
                tick_outcomes = [
                    o_segments, o_rejects,
                    privacy_check(REJECTS_KEY, {"video_segment_rejects": rejects}, raw_ids, tick.label,
                                  {"video_segment_rejects": ["content"]}),
                    CheckOutcome(SEGMENTS_KEY, "every_row_accounted", tick.label, len(raw) == len(segments) + len(rejects),
                                 f"{len(raw)} source rows = {len(segments)} segments + {len(rejects)} rejects"),
                ]
                if w_segments is not None:
                    tick_outcomes.append(replay_check(SEGMENTS_KEY, w_segments, written(backend, VIDEO_SEGMENTS, tick.partition)))
                outcomes += tick_outcomes
                commit(backend, [w for w in (w_segments, w_rejects) if w is not None], tick_outcomes)
                watermark = segments["inserted_at"].max() if len(segments) else None
                segments_report.add(tick.label, segments=len(segments), source_rows=len(raw), dimension=v.dimension,
                                    watermark=str(watermark) if watermark is not None else "none", content_hash=w_segments.content_hash,
                                    input_hash=input_hash, default_salt=default_salt)
                rejects_report.add(tick.label, rejects=len(rejects), rejects_by_reason=by_reason)
                context.log.info(f"{tick.label}: {len(segments)} segments, {len(rejects)} rejects {by_reason}")
    except BlockingCheckFailed as exc:
        yield from fail_with_results(outcomes, exc)
    yield dg.MaterializeResult(asset_key=SEGMENTS_KEY, metadata=segments_report.metadata())
    yield dg.MaterializeResult(asset_key=REJECTS_KEY, metadata=rejects_report.metadata())
    yield from check_results(outcomes)


def read_segments(backend: Backend, tick: Tick) -> tuple[pd.DataFrame, np.ndarray]:
    """A tick's segments in canonical order and their embeddings as one float32 matrix."""
    segments = backend.read(VIDEO_SEGMENTS, where=tick.partition)
    segments = segments.sort_values(["inserted_at", "document_id"], kind="mergesort").reset_index(drop=True)
    embeddings = np.stack(segments["embedding"].to_list()) if len(segments) else np.empty((0, 0), dtype=np.float32)
    return segments.drop(columns=["embedding"]), embeddings


def latest_earlier_tick(backend: Backend, tick: Tick, spec: TableSpec = VIDEO_SEGMENT_TASKS) -> str | None:
    """The team's latest partition of ``spec`` before ``tick`` (its manifest key), if any."""
    p = backend.placeholder
    result = backend.query(
        LATEST_KEY, f"SELECT max(partition_key) AS partition_key FROM {manifest_spec(SCHEMA).qualified_name} WHERE table_name = {p} "
                    f"AND partition_key LIKE {p} AND partition_key < {p}",
        [spec.name, f"team_id={tick.team_id};%", partition_key(tick.partition)], over=[manifest_spec(SCHEMA)],
    )
    return result["partition_key"].iat[0] if len(result) and pd.notna(result["partition_key"].iat[0]) else None


def previous_segments(backend: Backend, tick: Tick, own_rows: int, params: ReplayParams) -> tuple[np.ndarray | None, list[str]]:
    """The previous tick's embeddings a tick may be clustered beside (``replay_assets.pipeline.top_up``)
    and that partition's content hash: none for the team's first tick; a failure naming the previous
    tick when earlier ones exist. Not read when the tick is large enough on its own."""
    before = Tick(tick.team_id, tick.end - TICK)
    if not params.context_rows or not (written(backend, VIDEO_SEGMENTS, before.partition) or latest_earlier_tick(backend, tick, VIDEO_SEGMENTS)):
        return None, []
    hashes = require_partitions(backend, VIDEO_SEGMENTS, [before.partition], tick.label)
    return (read_segments(backend, before)[1] if own_rows < params.context_rows else None), hashes


@dg.asset(pool=WAREHOUSE_POOL,
    key=CLUSTERS_KEY, group_name=GROUP, kinds={"python", "table"}, partitions_def=replay_partitions,
    deps=[dg.AssetDep(SEGMENTS_KEY, partition_mapping=TICK_AND_PREVIOUS)], backfill_policy=dg.BackfillPolicy.single_run(),
    description="Clusters of the tick's segments (members, centroid, nearest examples), clustered beside the previous tick's "
                "segments; high-impact noise as one-segment clusters.",
    check_specs=[
        spec_for("schema_valid", CLUSTERS_KEY, "Columns, types and keys match replay.video_segment_clusters."),
        spec_for("no_raw_user_ids", CLUSTERS_KEY, "No raw distinct_id of the tick appears in a cluster."),
        spec_for("deterministic_replay", CLUSTERS_KEY, "Same segments and config as the last write give the same content hash."),
    ],
)
def video_segment_clusters(context: dg.AssetExecutionContext, config: ReplayConfig, warehouse: WarehouseResource):
    params = ReplayParams.model_validate(config.model_dump())
    backend = warehouse.backend()
    outcomes: list[CheckOutcome] = []
    report = RunReport()
    try:
        with backend.session():  # one connection for every tick of the run
            for tick in ticks_of(context):
                own = require_partitions(backend, VIDEO_SEGMENTS, [tick.partition], tick.label)
                segments, embeddings = read_segments(backend, tick)
                previous, previous_hash = previous_segments(backend, tick, len(segments), params)
                input_hash = frames_hash(*own, *previous_hash, canonical_json(params.model_dump()))
                result = tick_clusters(segments, embeddings, params, previous)
                clusters = result.clusters.assign(team_id=tick.team_id, tick_end=tick.end)
                write, outcome = prepare(CLUSTERS_KEY, VIDEO_SEGMENT_CLUSTERS, tick.partition, clusters, input_hash)
                tick_outcomes = [outcome, privacy_check(CLUSTERS_KEY, {"video_segment_clusters": clusters}, segments["distinct_id"],
                                                        tick.label, {"video_segment_clusters": ["examples"]})]
                if write is not None:
                    tick_outcomes.append(replay_check(CLUSTERS_KEY, write, written(backend, VIDEO_SEGMENT_CLUSTERS, tick.partition)))
                outcomes += tick_outcomes
                commit(backend, [write] if write is not None else [], tick_outcomes)
                kinds = clusters["kind"].value_counts()
                noise = int((result.groups < 0).sum())
                report.add(tick.label, segments=len(segments), previous_tick_segments_beside=result.beside,
                           clusters=int(kinds.get("cluster", 0)),
                           high_impact_noise=int(kinds.get("high_impact_noise", 0)), noise_left=noise,
                           clustered_share=round(1 - noise / len(segments), 4) if len(segments) else 0.0,
                           content_hash=write.content_hash, input_hash=input_hash)
    except BlockingCheckFailed as exc:
        yield from fail_with_results(outcomes, exc)
    yield dg.MaterializeResult(metadata=report.metadata())
    yield from check_results(outcomes)


def previous_state(backend: Backend, tick: Tick, dimension: int) -> TaskState:
    """The team's tasks after the tick before ``tick``: empty for the team's first tick; a failure
    naming the gap when earlier ticks exist but not the one right before."""
    before = Tick(tick.team_id, tick.end - TICK)
    if not written(backend, VIDEO_SEGMENT_TASKS, before.partition):
        earlier = latest_earlier_tick(backend, tick)
        if earlier:
            raise dg.Failure(description=f"The tasks of {before.label} are missing, but earlier ticks of the team exist "
                                         f"(latest: {earlier}): materialize {before.label} first (nothing was written).")
        return TaskState.empty(dimension)
    tasks = backend.read(VIDEO_SEGMENT_TASKS, where=before.partition).drop(columns=["team_id", "tick_end"])
    p = backend.placeholder
    centroids = backend.query(
        VIDEO_SEGMENT_TASK_CENTROIDS,
        f"SELECT c.team_id, c.tick_end, c.task_id, c.centroid FROM {VIDEO_SEGMENT_TASK_CENTROIDS.qualified_name} c "
        f"JOIN {VIDEO_SEGMENT_TASKS.qualified_name} t ON t.team_id = c.team_id AND t.task_id = c.task_id "
        f"AND t.centroid_tick = c.tick_end WHERE t.team_id = {p} AND t.tick_end = {p}",
        [tick.team_id, before.end], over=[VIDEO_SEGMENT_TASK_CENTROIDS],
    ).set_index("task_id")["centroid"]
    tasks = tasks.sort_values("task_id").reset_index(drop=True)
    matrix = np.stack(centroids.loc[tasks["task_id"]].to_list()).astype(np.float64) if len(tasks) else np.empty((0, dimension))
    users = backend.query(
        TASK_USERS,
        f"SELECT DISTINCT task_id, user_ref FROM {VIDEO_SEGMENT_TASK_LINKS.qualified_name} WHERE team_id = {p} AND tick_end < {p}",
        [tick.team_id, tick.end], over=[VIDEO_SEGMENT_TASK_LINKS],
    )
    by_task = users.groupby("task_id")["user_ref"].agg(set).to_dict() if len(users) else {}
    return TaskState(tasks, matrix, by_task)


@dg.multi_asset(pool=WAREHOUSE_POOL,
    name="video_segment_tasks",
    partitions_def=replay_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    specs=[
        dg.AssetSpec(TASKS_KEY, group_name=GROUP, kinds={"python", "table"},
                     deps=[CLUSTERS_KEY, SEGMENTS_KEY, dg.AssetDep(TASKS_KEY, partition_mapping=PREVIOUS_TICK)],
                     description="The team's tasks after the tick, ranked by priority (with its factors); centroids "
                                 "in video_segment_task_centroids."),
        dg.AssetSpec(LINKS_KEY, group_name=GROUP, kinds={"python", "table"}, deps=[CLUSTERS_KEY, SEGMENTS_KEY],
                     description="Every clustered segment of the tick, linked to its task with its distance to the centroid."),
    ],
    check_specs=[
        spec_for("schema_valid", TASKS_KEY, "Columns, types and keys match the tasks and centroid tables."),
        spec_for("schema_valid", LINKS_KEY, "Columns, types and keys match replay.video_segment_task_links."),
        spec_for("no_raw_user_ids", TASKS_KEY, "No raw distinct_id of the tick appears in a task."),
        spec_for("no_raw_user_ids", LINKS_KEY, "No raw distinct_id of the tick appears in a link."),
        spec_for("every_clustered_segment_linked", LINKS_KEY, "Links = the segments of the tick's clusters, each once."),
        spec_for("deterministic_replay", TASKS_KEY, "Same inputs as the last write give the same content hash."),
        spec_for("tasks_stay_distinct", TASKS_KEY, "No two tasks lie within the match distance of each other.", blocking=False),
    ],
)
def video_segment_tasks(context: dg.AssetExecutionContext, config: ReplayConfig, warehouse: WarehouseResource,
                        replay_labeler: TaskLabeler):
    params = ReplayParams.model_validate(config.model_dump())
    backend = warehouse.backend()
    labeler = replay_labeler.labeler()
    outcomes: list[CheckOutcome] = []
    tasks_report, links_report = RunReport(), RunReport()
    try:
        with backend.session():  # one connection for every tick of the run
            for tick in ticks_of(context):
                inputs = [require_partitions(backend, spec, [tick.partition], tick.label)[0] for spec in (VIDEO_SEGMENTS, VIDEO_SEGMENT_CLUSTERS)]
                before = written(backend, VIDEO_SEGMENT_TASKS, Tick(tick.team_id, tick.end - TICK).partition)
                input_hash = frames_hash(*inputs, *(h for _, h in before.values()), canonical_json(params.model_dump()),
                                         replay_labeler.identity)
                segments, embeddings = read_segments(backend, tick)
                clusters = backend.read(VIDEO_SEGMENT_CLUSTERS, where=tick.partition)
                dimension = embeddings.shape[1] if embeddings.size else (len(clusters["centroid"].iat[0]) if len(clusters) else 0)
                state = previous_state(backend, tick, dimension)
                # A replayed tick keeps the labels it was given (an LLM need not answer the same twice).
                known = backend.read(VIDEO_SEGMENT_TASKS, where=tick.partition, columns=["task_id", "title", "description", "keywords", "label_source"])
                update = update_tasks(tick.team_id, tick.end, state, clusters, segments, embeddings, params, labeler,
                                      known_labels=known)
                part = dict(team_id=tick.team_id, tick_end=tick.end)
                w_tasks, o_tasks = prepare(TASKS_KEY, VIDEO_SEGMENT_TASKS, tick.partition, update.tasks.assign(**part), input_hash)
                w_centroids, o_centroids = prepare(TASKS_KEY, VIDEO_SEGMENT_TASK_CENTROIDS, tick.partition, update.centroids.assign(**part), input_hash)
                w_links, o_links = prepare(LINKS_KEY, VIDEO_SEGMENT_TASK_LINKS, tick.partition, update.links.assign(**part), input_hash)
                expected = int(clusters["size"].sum()) if len(clusters) else 0
                tasks_after = update.state.tasks
                close = task_pairs_alike(update.state.centroids, tasks_after["occurrences"], tasks_after["cohesion"], params.min_ratio)
                tick_outcomes = [
                    o_tasks, o_centroids, o_links,
                    privacy_check(TASKS_KEY, {"video_segment_tasks": update.tasks}, segments["distinct_id"], tick.label,
                                  {"video_segment_tasks": ["title", "description", "keywords"]}),
                    privacy_check(LINKS_KEY, {"video_segment_task_links": update.links}, segments["distinct_id"], tick.label,
                                  {"video_segment_task_links": ["content"]}),
                    CheckOutcome(LINKS_KEY, "every_clustered_segment_linked", tick.label,
                                 len(update.links) == expected and update.links["document_id"].is_unique,
                                 f"{len(update.links)} links for {expected} clustered segments"),
                    CheckOutcome(TASKS_KEY, "tasks_stay_distinct", tick.label, close == 0,
                                 f"{close} pairs of tasks that the matching rule would take for one problem", blocking=False),
                ]
                if w_tasks is not None:
                    tick_outcomes.append(replay_check(TASKS_KEY, w_tasks, written(backend, VIDEO_SEGMENT_TASKS, tick.partition)))
                outcomes += tick_outcomes
                commit(backend, [w for w in (w_tasks, w_centroids, w_links) if w is not None], tick_outcomes)
                status = update.tasks["status"].value_counts()
                top = update.tasks.sort_values(["priority", "task_id"], ascending=[False, True]).head(5)
                tasks_report.add(tick.label, tasks=len(update.tasks), new=int(status.get("new", 0)), updated=int(status.get("updated", 0)),
                                 latest_tick=str(tick.end), content_hash=w_tasks.content_hash, input_hash=input_hash,
                                 top=[{"priority": float(r.priority), "title": r.title, "users": int(r.distinct_users)} for r in top.itertuples()])
                links_report.add(tick.label, links=len(update.links), content_hash=w_links.content_hash)
                context.log.info(f"{tick.label}: {len(update.tasks)} tasks ({dict(status)}), {len(update.links)} links")
    except BlockingCheckFailed as exc:
        yield from fail_with_results(outcomes, exc)
    yield dg.MaterializeResult(asset_key=TASKS_KEY, metadata=tasks_report.metadata())
    yield dg.MaterializeResult(asset_key=LINKS_KEY, metadata=links_report.metadata())
    yield from check_results(outcomes)
