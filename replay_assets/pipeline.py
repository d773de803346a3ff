"""One tick of a team, as pure steps the assets wrap: validated segments -> clusters (with the
high-impact noise as one-segment clusters) -> the team's tasks after the tick, with links.

Frames in, frames out; the tick's end is the only clock (priority recency is measured from it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson
import pandas as pd
from pydantic import Field
from scipy.sparse import csr_matrix

from platform_core.hashing import canonical_json
from replay_assets.clustering import ClusteringParams, cluster_embeddings, inverse_norms, normalize, row_dots
from replay_assets.impact import impact_scores
from replay_assets.labels import ClusterText, KeywordLabeler, Labeler
from replay_assets.matching import TaskState, apply_clusters
from replay_assets.priority import HALF_LIFE_DAYS, priority


class ReplayParams(ClusteringParams):
    """Every constant of a tick, recorded with its outputs."""

    high_impact_noise: float = Field(0.3, description="Impact above which a noise segment becomes its own task.")
    half_life_days: float = Field(HALF_LIFE_DAYS, description="Half-life of the recency factor of priority.")
    examples: int = Field(5, description="Member descriptions kept per cluster (nearest the centroid first).")
    context_rows: int = Field(
        10000,
        description="A tick is clustered beside the previous tick's segments until it holds this "
        "many (a seeded sample): a problem seen a few times in each of two small "
        "ticks gets the density of both. 0 = never.",
    )


@dataclass
class TickClusters:
    clusters: pd.DataFrame  # one row per cluster (see replay_assets.tables.VIDEO_SEGMENT_CLUSTERS)
    groups: np.ndarray  # cluster id per segment, -1 for noise left alone
    beside: int = 0  # segments of the previous tick clustered beside the tick's


def top_up(previous: np.ndarray | None, own_rows: int, params: ReplayParams) -> np.ndarray | None:
    """The previous tick's embeddings a tick of ``own_rows`` segments is clustered beside: enough to
    bring it to ``context_rows`` (a seeded sample, in their order), none when it is that large."""
    wanted = params.context_rows - own_rows
    if previous is None or wanted <= 0 or not len(previous):
        return None
    if len(previous) <= wanted:
        return previous
    return previous[np.sort(np.random.default_rng(params.seed).choice(len(previous), wanted, replace=False))]


def tick_clusters(
    segments: pd.DataFrame, embeddings: np.ndarray, params: ReplayParams, previous: np.ndarray | None = None
) -> TickClusters:
    """Cluster the tick's segments; noise whose description sounds bad enough becomes a one-segment cluster.

    ``segments`` in their canonical order (``inserted_at, document_id``) with ``document_id,
    user_ref, timestamp, content``; ``embeddings`` row-aligned. ``previous``: the embeddings of the
    previous tick's segments, some of which (``top_up``) are clustered with the tick's so that
    their density counts; the clusters hold and describe only the tick's own segments.
    """
    context = top_up(previous, len(embeddings), params)
    beside = 0 if context is None else len(context)
    labels = cluster_embeddings(embeddings, params, context)
    impact = impact_scores(segments["content"]).to_numpy()
    groups = labels.copy()
    clustered = int(labels.max()) + 1 if len(labels) and labels.max() >= 0 else 0
    lonely = np.flatnonzero((labels < 0) & (impact > params.high_impact_noise))
    groups[lonely] = clustered + np.arange(len(lonely))
    members = np.flatnonzero(groups >= 0)
    k = clustered + len(lonely)
    if k == 0:
        return TickClusters(_empty_clusters(), groups, beside)
    inv = inverse_norms(embeddings)
    # The mean of each cluster's unit rows: a sparse product weighted by the inverse norms.
    indicator = csr_matrix((inv[members], (groups[members], members)), shape=(k, len(embeddings)))
    sums = np.asarray(indicator @ embeddings, dtype=np.float64)
    lengths = np.linalg.norm(sums, axis=1)
    centroids = normalize(sums)
    rows = pd.DataFrame(
        {
            "cluster_id": groups[members],
            "position": members,
            "document_id": segments["document_id"].to_numpy()[members],
            "user_ref": segments["user_ref"].to_numpy()[members],
            "impact": impact[members],
            "timestamp": segments["timestamp"].to_numpy()[members],
            "content": segments["content"].to_numpy()[members],
            "similarity": row_dots(embeddings, members, centroids.astype(np.float32), groups[members]) * inv[members],
        }
    )
    by = rows.groupby("cluster_id", sort=True)
    nearest = rows.sort_values(
        ["cluster_id", "similarity", "position"], ascending=[True, False, True], kind="mergesort"
    )
    clusters = pd.DataFrame(
        {
            "cluster_id": np.arange(k),
            "kind": np.where(np.arange(k) < clustered, "cluster", "high_impact_noise"),
            "size": by.size().to_numpy(),
            "cohesion": np.round(lengths / by.size().to_numpy(), 9),
            "distinct_users": by["user_ref"].nunique().to_numpy(),
            "mean_impact": by["impact"].mean().round(6).to_numpy(),
            "first_document_id": by["document_id"].first().to_numpy(),
            "last_occurrence": by["timestamp"].max().to_numpy(),
            "member_document_ids": [canonical_json(list(d)) for d in by["document_id"].agg(list)],
            "examples": [
                canonical_json(list(t)[: params.examples])
                for t in nearest.groupby("cluster_id", sort=True)["content"].agg(list)
            ],
            "centroid": list(centroids.astype(np.float32)),
        }
    )
    return TickClusters(clusters, groups, beside)


def _empty_clusters() -> pd.DataFrame:
    return pd.DataFrame(
        {
            c: []
            for c in [
                "cluster_id",
                "kind",
                "size",
                "cohesion",
                "distinct_users",
                "mean_impact",
                "first_document_id",
                "last_occurrence",
                "member_document_ids",
                "examples",
                "centroid",
            ]
        }
    )


@dataclass
class TaskUpdate:
    tasks: pd.DataFrame  # every task of the team after the tick
    centroids: pd.DataFrame  # task_id, centroid: the tasks this tick created or moved
    links: pd.DataFrame  # one row per segment that went to a task
    state: TaskState  # what the next tick starts from


def update_tasks(
    team_id: int,
    tick_end: pd.Timestamp,
    state: TaskState,
    clusters: pd.DataFrame,
    segments: pd.DataFrame,
    embeddings: np.ndarray,
    params: ReplayParams,
    labeler: Labeler | None = None,
    known_labels: pd.DataFrame | None = None,
) -> TaskUpdate:
    """Match the tick's clusters to the team's tasks, label the new tasks, score all, link segments.

    ``state.tasks`` carries ``title, description, keywords, label_source, first_seen,
    centroid_tick`` from the previous tick; ``segments`` (row-aligned with ``embeddings``) has
    ``document_id, session_id, start_time, end_time, user_ref, content``. ``known_labels``
    (``task_id, title, description, keywords, label_source``) are reused instead of asking the
    labeler again, e.g. the labels an earlier run of the same tick gave.
    """
    clusters = clusters.sort_values("cluster_id", kind="mergesort").reset_index(drop=True)
    member_ids = [orjson.loads(m) for m in clusters["member_document_ids"]]
    flat = pd.Index(segments["document_id"]).get_indexer([d for ids in member_ids for d in ids])
    members = np.split(flat.astype(np.int64), np.cumsum([len(ids) for ids in member_ids])[:-1]) if member_ids else []
    user_refs = segments["user_ref"].to_numpy()
    cluster_users = [set(user_refs[m]) for m in members]
    dimension = embeddings.shape[1] if embeddings.ndim == 2 and embeddings.shape[1] else state.centroids.shape[1]
    cluster_centroids = np.stack(clusters["centroid"].to_list()) if len(clusters) else np.empty((0, dimension))
    result = apply_clusters(team_id, state, clusters, cluster_centroids, cluster_users, params.min_ratio)
    tasks = result.tasks
    tick_end = pd.Timestamp(tick_end)

    # Segments per task this tick, and the new tasks' labels (only new tasks are labelled).
    assigned = pd.DataFrame(
        {
            "task_id": result.assignment,
            "size": clusters["size"].to_numpy(),
            "first_document_id": clusters["first_document_id"].to_numpy(),
            "examples": clusters["examples"].to_numpy(),
        }
    )
    tasks["segments_this_tick"] = (
        tasks["task_id"].map(assigned.groupby("task_id")["size"].sum()).fillna(0).astype("int64")
    )
    known = known_labels.set_index("task_id") if known_labels is not None and len(known_labels) else None
    new = tasks[(tasks["status"] == "new") & ~tasks["task_id"].isin(known.index if known is not None else [])]
    texts = []
    for i, row in enumerate(new.itertuples()):
        parts = assigned[assigned["task_id"] == row.task_id].sort_values("first_document_id")
        descriptions = [d for e in parts["examples"] for d in orjson.loads(e)][: 2 * params.examples]
        texts.append(ClusterText(i, descriptions, int(row.occurrences), int(row.distinct_users)))
    labels = (labeler or KeywordLabeler()).label(texts) if texts else {}
    for column in ("title", "description", "keywords", "label_source", "first_seen", "centroid_tick"):
        if column not in tasks:
            tasks[column] = None
    tasks["title"] = tasks["title"].astype(object)
    if len(new):  # one assignment for all new tasks: a row-by-row .loc is a pandas call per task
        given = [labels[i] for i in range(len(new))]
        tasks.loc[new.index, ["title", "description", "keywords", "label_source"]] = np.array(
            [[g.title, g.description, canonical_json(list(g.keywords)), g.source] for g in given], dtype=object
        )
        tasks.loc[new.index, "first_seen"] = tick_end
    if known is not None:
        relabel = tasks.index[(tasks["status"] == "new") & tasks["task_id"].isin(known.index)]
        columns = ["title", "description", "keywords", "label_source"]
        tasks.loc[relabel, columns] = known.loc[tasks.loc[relabel, "task_id"], columns].to_numpy()
        tasks.loc[relabel, "first_seen"] = tick_end
    touched = tasks["status"] != "unchanged"
    tasks.loc[touched, "centroid_tick"] = tick_end
    factors = priority(
        tasks["distinct_users"], tasks["mean_impact"], tasks["last_occurrence"], tick_end, params.half_life_days
    )
    tasks[factors.columns] = factors.to_numpy()
    tasks["mean_impact"] = tasks["mean_impact"].round(6)

    centroids = pd.DataFrame(
        {
            "task_id": tasks.loc[touched, "task_id"].to_numpy(),
            "centroid": list(result.centroids[touched.to_numpy()].astype(np.float32)),
        }
    )
    # Links: every clustered segment, with its distance to its task's centroid after the tick.
    row_of_task = pd.Series(np.arange(len(tasks)), index=tasks["task_id"].to_numpy())
    link_rows = np.concatenate(members) if members else np.empty(0, dtype=np.int64)
    link_tasks = np.repeat(np.array(result.assignment, dtype=object), [len(m) for m in members])
    link_clusters = np.repeat(clusters["cluster_id"].to_numpy(), [len(m) for m in members])
    inv = inverse_norms(embeddings) if len(embeddings) else np.empty(0, dtype=np.float32)
    similarity = (
        np.concatenate(
            [  # cluster by cluster: no (links x dimension) copy of the centroids
                embeddings[m] @ result.centroids[row_of_task[task]].astype(np.float32) * inv[m]
                for m, task in zip(members, result.assignment)
            ]
        )
        if members
        else np.empty(0)
    )
    links = segments.iloc[link_rows][
        ["document_id", "session_id", "start_time", "end_time", "user_ref", "content"]
    ].reset_index(drop=True)
    links.insert(1, "task_id", link_tasks)
    links.insert(2, "cluster_id", link_clusters)
    links["impact"] = impact_scores(links["content"]).to_numpy()
    links["distance"] = np.round(1.0 - similarity.astype(np.float64), 6)

    next_state = TaskState(tasks.drop(columns=["segments_this_tick"]), result.centroids, result.users)
    return TaskUpdate(tasks, centroids, links, next_state)
