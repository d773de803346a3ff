"""Replay assets, per team and 30-minute tick: segments (+ rejects) -> clusters -> tasks (+ links).

Each asset is its tables and a step (see :mod:`platform_core.table_asset`) that reads its inputs
from the source or the warehouse and calls the pure steps of :mod:`replay_assets.pipeline`. A
backfill range runs as one run, tick after tick, each tick's tasks starting from the tick before.
"""

import hashlib

import dagster as dg
import numpy as np
import pandas as pd

from platform_core.checks import require_partitions, require_predecessors
from platform_core.hashing import canonical_json, frames_hash, rows_fingerprint
from platform_core.privacy import People, RawIds, pseudonymize
from platform_core.table_asset import SOURCE_RETRY, Check, Output, Run, Written, asset_key, source_spec, table_asset
from platform_core.tables import Column, TableSpec
from platform_core.times import parse_times
from platform_core.warehouse import Backend
from replay_assets.partitions import PREVIOUS_TICK, TICK, Tick, replay_partitions, ticks_of
from replay_assets.pipeline import LABEL_COLUMNS, ReplayParams, TaskState, TickResult, Window, run_tick
from replay_assets.segments import validate_segments
from replay_assets.tables import (
    CURRENT_LINKS,
    TICKS_STARTED,
    VIDEO_SEGMENT_CLUSTERS,
    VIDEO_SEGMENT_REJECTS,
    VIDEO_SEGMENT_TASK_LINKS,
    VIDEO_SEGMENT_TASK_MERGES,
    VIDEO_SEGMENT_TASKS,
    VIDEO_SEGMENTS,
    WINDOW_SEGMENTS,
)

GROUP = "replay"
OWNERS = ["team:replay"]
SEGMENTS_KEY = asset_key(VIDEO_SEGMENTS)
REJECTS_KEY = asset_key(VIDEO_SEGMENT_REJECTS)
CLUSTERS_KEY = asset_key(VIDEO_SEGMENT_CLUSTERS)
TASKS_KEY = asset_key(VIDEO_SEGMENT_TASKS)
LINKS_KEY = asset_key(VIDEO_SEGMENT_TASK_LINKS)
MERGES_KEY = asset_key(VIDEO_SEGMENT_TASK_MERGES)

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


FIRST_TICK = TableSpec("replay", "first", (Column("tick_end", "TIMESTAMP", nullable=True),), (), ())


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
        started = pd.DataFrame(
            {"tick_key": [f"{tick.team_id}|{tick.end}"], "team_id": [tick.team_id], "tick_end": [tick.end]}
        )
        run.backend.append(TICKS_STARTED, started)
        raw = run.resources.replay_segments.read(tick.team_id, tick.start, tick.end)
        dimension = team_dimension(run.backend, tick)
        raw_ids = raw["distinct_id"].dropna().astype(str).tolist() if "distinct_id" in raw else []
        ids = RawIds(raw_ids)
        v = validate_segments(raw, dimension, ids)
        owners = v.rejects["distinct_id"].dropna().astype(str).reindex(v.rejects.index)
        segments = v.segments.assign(
            team_id=tick.team_id,
            tick_end=tick.end,
            content=ids.scrub(v.segments["content"], v.segments["distinct_id"]),
            user_ref=pseudonymize(v.segments["distinct_id"].astype(str), pseudonymizer.salt),
            embedding=list(v.embeddings),
        )
        rejects = v.rejects.assign(
            team_id=tick.team_id,
            tick_end=tick.end,
            **{c: ids.scrub(v.rejects[c].astype("object"), owners) for c in ("content", "document_id", "session_id")},
            inserted_at=parse_times(v.rejects["inserted_at"]),  # an arrival that is no time is missing here
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
            people=People(pseudonymizer.salt, raw_ids=raw_ids),
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
    people=True,
    checks=[
        Check(VIDEO_SEGMENTS, "every_row_accounted", "Segments + rejects = source rows of the tick: nothing dropped."),
    ],
)


def first_tick_end(backend: Backend, tick: Tick) -> pd.Timestamp:
    """The end of the team's first tick: the earliest tick a run started for it, failed or not (a
    team starts when it is enabled, not where the partitions start); ``tick`` itself when none has."""
    p = backend.placeholder
    first = backend.query(
        FIRST_TICK,
        f"SELECT min(tick_end) AS tick_end FROM {TICKS_STARTED.qualified_name} WHERE team_id = {p}",
        [tick.team_id],
        over=[TICKS_STARTED],
    )["tick_end"]
    return pd.Timestamp(first.iat[0]) if len(first) and pd.notna(first.iat[0]) else tick.end


def window_ticks(tick: Tick, params: ReplayParams) -> list[Tick]:
    """The ticks whose segments are in ``tick``'s window, oldest first, ``tick`` last."""
    count = max(1, int(pd.Timedelta(hours=params.window_hours) / TICK))
    return [Tick(tick.team_id, tick.end - k * TICK) for k in range(count - 1, -1, -1)]


def input_hashes(backend: Backend, tick: Tick, params: ReplayParams) -> list[str]:
    """What a tick is computed from: the content hashes of its window's segment partitions and of
    the previous tick's tasks, links and merges. A failure naming any that is missing (nothing
    lies before the team's first tick)."""
    first = first_tick_end(backend, tick)
    segments = require_predecessors(
        backend, VIDEO_SEGMENTS, [t.partition for t in window_ticks(tick, params)], tick.label, "tick_end", first
    )
    before = Tick(tick.team_id, tick.start)
    previous = [
        h
        for spec in (VIDEO_SEGMENT_TASKS, VIDEO_SEGMENT_TASK_LINKS, VIDEO_SEGMENT_TASK_MERGES)
        for h in require_predecessors(backend, spec, [before.partition], tick.label, "tick_end", first)
    ]
    return [*segments, *previous]


_CURRENT = """SELECT DISTINCT ON (document_id) {columns} FROM {links}
WHERE team_id = {p} AND tick_end < {p} ORDER BY document_id, tick_end DESC"""


def read_window(backend: Backend, tick: Tick, params: ReplayParams) -> tuple[Window, TaskState]:
    """What the tick step reads: the window (the segments of the last ``window_hours``, and each
    task's ``min_cluster_size`` latest segments from before it, its anchors), each with the task it
    is linked to now, in canonical order; and the team's tasks after the previous tick with the
    current links of every task (a merge moves them, and distinct users are an exact union)."""
    p = backend.placeholder
    start = tick.end - pd.Timedelta(hours=params.window_hours)
    link_columns = ", ".join(CURRENT_LINKS.column_names)
    current = _CURRENT.format(columns=link_columns, links=VIDEO_SEGMENT_TASK_LINKS.qualified_name, p=p)
    segment_columns = ", ".join(f"s.{c}" for c in WINDOW_SEGMENTS.column_names if c != "task_id")
    linked = bool(backend.columns(VIDEO_SEGMENT_TASK_LINKS.schema, VIDEO_SEGMENT_TASK_LINKS.name))
    recent = (
        f"SELECT {segment_columns}, c.task_id FROM {VIDEO_SEGMENTS.qualified_name} s "
        f"LEFT JOIN ({current}) c ON c.document_id = s.document_id "
        f"WHERE s.team_id = {p} AND s.tick_end > {p} AND s.tick_end <= {p}"
        if linked  # before the team's first links exist, every segment is waiting
        else f"SELECT {segment_columns}, NULL AS task_id FROM {VIDEO_SEGMENTS.qualified_name} s "
        f"WHERE s.team_id = {p} AND s.tick_end > {p} AND s.tick_end <= {p}"
    )
    anchors = (
        f"SELECT {', '.join(WINDOW_SEGMENTS.column_names)} FROM ("
        f"SELECT {segment_columns}, c.task_id, row_number() OVER (PARTITION BY c.task_id "
        f"ORDER BY s.timestamp DESC, s.document_id DESC) AS anchor FROM {VIDEO_SEGMENTS.qualified_name} s "
        f"JOIN ({current}) c ON c.document_id = s.document_id WHERE s.team_id = {p} AND s.tick_end <= {p}"
        f") ranked WHERE anchor <= {p}"
    )
    over = [VIDEO_SEGMENTS, VIDEO_SEGMENT_TASK_LINKS]
    frames = [
        backend.query(
            WINDOW_SEGMENTS, recent, [tick.team_id, tick.end] * linked + [tick.team_id, start, tick.end], over=over[:1]
        ),
        backend.query(
            WINDOW_SEGMENTS, anchors, [tick.team_id, tick.end, tick.team_id, start, params.min_cluster_size], over=over
        ),
    ]
    rows = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else frames[0]
    rows = rows.sort_values(["inserted_at", "document_id"], kind="mergesort")
    rows = rows.drop_duplicates("document_id").reset_index(drop=True)  # a segment sent again in a later tick
    embeddings = np.stack(rows["embedding"].to_list()) if len(rows) else np.empty((0, 0), dtype=np.float32)
    links = backend.query(CURRENT_LINKS, current, [tick.team_id, tick.end], over=over[1:])
    before = Tick(tick.team_id, tick.start)
    tasks = backend.read(VIDEO_SEGMENT_TASKS, where=before.partition).drop(columns=["team_id", "tick_end"])
    state = TaskState.empty() if tasks.empty else TaskState(tasks, links)
    return Window(rows.drop(columns=["embedding"]), embeddings), state


def tick_step(backend: Backend, tick: Tick, params: ReplayParams, labeler=None) -> TickResult:
    """One tick of one team from the warehouse: its window and the team's tasks read, the pure
    step run (``replay_assets.pipeline.run_tick``). A replayed tick keeps the labels it was given
    (an LLM need not answer the same twice)."""
    window, state = read_window(backend, tick, params)
    known = backend.read(VIDEO_SEGMENT_TASKS, where=tick.partition, columns=["task_id", *LABEL_COLUMNS])
    return run_tick(tick.team_id, tick.end, window, state, params, labeler, known_labels=known)


def _task_ticks(run: Run):
    params = ReplayParams.model_validate(run.config.model_dump())
    backend = run.backend
    labeler, identity = run.resources.replay_labeler.labeler(), run.resources.replay_labeler.identity
    salt = run.resources.replay_pseudonymizer.salt
    for tick in ticks_of(run.context):
        own = require_partitions(backend, VIDEO_SEGMENTS, [tick.partition], tick.label)
        input_hash = frames_hash(
            *own, *input_hashes(backend, tick, params), canonical_json(params.model_dump()), identity
        )
        before = backend.read(VIDEO_SEGMENT_TASKS, where=Tick(tick.team_id, tick.start).partition, columns=["task_id"])
        result = tick_step(backend, tick, params, labeler)
        at = dict(team_id=tick.team_id, tick_end=tick.end)
        status = result.tasks["status"].value_counts()
        kinds = result.clusters["kind"].value_counts()
        linked = result.links["linked_by"].value_counts()
        part = Written(
            tick.label,
            tick.partition_key,
            {
                VIDEO_SEGMENT_TASKS.name: (tick.partition, result.tasks.assign(**at)),
                VIDEO_SEGMENT_CLUSTERS.name: (tick.partition, result.clusters.assign(**at)),
                VIDEO_SEGMENT_TASK_LINKS.name: (tick.partition, result.links.assign(**at)),
                VIDEO_SEGMENT_TASK_MERGES.name: (tick.partition, result.merges.assign(**at)),
            },
            input_hash,
            facts={
                VIDEO_SEGMENT_TASKS.name: {s: int(status.get(s, 0)) for s in ("new", "updated", "merged")},
                VIDEO_SEGMENT_CLUSTERS.name: {
                    "window_segments": int(result.window_rows),
                    "clusters": int(kinds.get("cluster", 0)),
                    "high_impact_noise": int(kinds.get("high_impact_noise", 0)),
                    "waiting": int(result.waiting),
                },
                VIDEO_SEGMENT_TASK_LINKS.name: {k: int(linked.get(k, 0)) for k in ("cluster", "high_impact", "merge")},
            },
            log=f"{tick.label}: {len(result.tasks)} tasks ({dict(status)}), {len(result.links)} links, "
            f"{len(result.merges)} merges, {result.waiting} segments waiting",
            # The task step never reads a raw id: the people are the pseudonyms of its window.
            people=People(salt, pseudonyms=result.users),
        )
        new_links = int((result.links["linked_by"] != "merge").sum())
        part.check(
            VIDEO_SEGMENT_TASK_LINKS,
            "every_clustered_segment_linked",
            new_links == int(result.clusters["linked_now"].sum()) and result.links["document_id"].is_unique,
            f"{new_links} new links for {int(result.clusters['linked_now'].sum())} waiting segments the clusters took",
        )
        kept = set(result.tasks["task_id"])
        dropped = sorted(set(before["task_id"]) - kept)
        merged = result.tasks[result.tasks["status"] == "merged"]
        live = set(result.tasks.loc[result.tasks["status"] != "merged", "task_id"])
        dangling = sorted(set(merged["merged_into"]) - live)
        part.check(
            VIDEO_SEGMENT_TASKS,
            "no_task_dropped",
            not dropped and not dangling,
            f"{len(dropped)} tasks of the previous tick missing {dropped[:3]}, {len(dangling)} merged into a task "
            f"that is not live {dangling[:3]}",
        )
        yield part


def _tasks_shown(tasks: pd.DataFrame) -> pd.DataFrame:
    """The tick's new and updated tasks first, by priority."""
    moved = tasks[tasks["status"].isin(["new", "updated"])]
    return moved.sort_values(["priority", "task_id"], ascending=[False, True])[
        ["priority", "status", "title", "occurrences", "distinct_users", "segments_this_tick", "task_id"]
    ]


video_segment_tasks = table_asset(
    name="video_segment_tasks",
    kinds=["sklearn"],
    group=GROUP,
    owners=OWNERS,
    partitions_def=replay_partitions,
    config=ReplayConfig,
    resources=["replay_labeler", "replay_pseudonymizer"],
    people=True,
    step=_task_ticks,
    outputs=[
        Output(
            VIDEO_SEGMENT_TASKS,
            "The team's tasks after the tick (every task it ever opened; merged ones point to their "
            "survivor), ranked by priority with its factors.",
            shown=_tasks_shown,
            deps=[SEGMENTS_KEY, dg.AssetDep(TASKS_KEY, partition_mapping=PREVIOUS_TICK)],
            # a tick every 30 minutes, run 5 minutes after it ends
            freshness=dg.FreshnessPolicy.time_window(
                fail_window=pd.Timedelta(minutes=70).to_pytimedelta(),
                warn_window=pd.Timedelta(minutes=40).to_pytimedelta(),
            ),
        ),
        Output(
            VIDEO_SEGMENT_CLUSTERS,
            "The clusters of the tick's window (the last day's segments and each task's anchors), each "
            "with the task it continues or opened; high-impact segments no cluster took as their own.",
            deps=[SEGMENTS_KEY],
            shown=lambda c: c.sort_values(["linked_now", "size", "cluster_id"], ascending=[False, False, True])[
                ["cluster_id", "kind", "task_id", "size", "arrived", "linked_now", "examples"]
            ],
        ),
        Output(
            VIDEO_SEGMENT_TASK_LINKS,
            "Every segment the tick linked to a task (or moved with a merge), with where it lies in its "
            "session and its distance to its cluster's centre. A segment's task is its latest link.",
            replayed=False,
            deps=[SEGMENTS_KEY],
        ),
        Output(
            VIDEO_SEGMENT_TASK_MERGES,
            "The tasks the tick found to be one problem: which merged into which, and why.",
            replayed=False,
            deps=[SEGMENTS_KEY],
            shown=lambda m: m[["task_id", "merged_into", "segments", "survivor_segments", "reason"]],
        ),
    ],
    checks=[
        Check(
            VIDEO_SEGMENT_TASK_LINKS,
            "every_clustered_segment_linked",
            "New links = the waiting segments the window's clusters took, each once.",
        ),
        Check(
            VIDEO_SEGMENT_TASKS,
            "no_task_dropped",
            "Every task of the previous tick is still listed; a merged one points to a live task.",
        ),
    ],
)
