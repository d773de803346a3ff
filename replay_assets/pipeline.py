"""One tick of a team, as the pure step the assets wrap: the window's segments -> clusters -> the
team's tasks after the tick, with the links it made and the merges it found.

The window is what a tick clusters: the segments that arrived in it, every earlier segment of
the last ``window_hours`` (linked to a task, or still waiting for one), and each task's anchors
(its latest linked segments, so that a problem that comes back after the window still meets
its task). Clustering the whole window every tick lets a problem seen a few times in each of
many small ticks reach ``min_cluster_size``, and shows when two tasks are one problem.

Frames in, frames out; the tick's end is the only clock (priority recency is measured from it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson
import pandas as pd
from pydantic import Field

from platform_core.hashing import canonical_json
from replay_assets.clustering import ClusteringParams, cluster_embeddings
from replay_assets.impact import impact_scores
from replay_assets.labels import ClusterText, KeywordLabeler, Labeler
from replay_assets.matching import match_clusters, new_task_id
from replay_assets.priority import HALF_LIFE_DAYS, priority

#: A task's columns that carry from tick to tick (the rest is recomputed).
LABEL_COLUMNS = ["title", "description", "keywords", "label_source"]
#: A link's columns besides the task and the partition.
LINK_COLUMNS = [
    "document_id",
    "session_id",
    "start_time",
    "end_time",
    "timestamp",
    "user_ref",
    "content",
    "impact",
    "distance",
]
#: A link row: the segment, its task, how it got there (``cluster``, ``high_impact`` or ``merge``).
LINK_TABLE_COLUMNS = ["document_id", "task_id", "cluster_id", *LINK_COLUMNS[1:], "linked_by", "previous_task_id"]


class ReplayParams(ClusteringParams):
    """Every constant of a tick, recorded with its outputs."""

    window_hours: float = Field(
        24.0,
        description="Segments stay in the window (clustered again, waiting for a task) this long: "
        "use follows a daily cycle, so a problem that recurs comes back within a day.",
    )
    high_impact_noise: float = Field(0.3, description="Impact above which a segment no cluster takes is its own task.")
    half_life_days: float = Field(HALF_LIFE_DAYS, description="Half-life of the recency factor of priority.")
    examples: int = Field(5, description="Member descriptions kept per cluster (nearest the centroid first).")


@dataclass
class Window:
    """The rows a tick clusters, in canonical order (``inserted_at, document_id``): ``document_id,
    session_id, start_time, end_time, timestamp, inserted_at, tick_end, user_ref, content`` and
    ``task_id`` (the task a row is linked to now; None while it waits), with their embeddings."""

    segments: pd.DataFrame
    embeddings: np.ndarray


@dataclass
class TaskState:
    """The team's tasks after the previous tick (every task ever opened, merged ones included), and
    the current links (``LINK_COLUMNS`` and ``task_id``) of the tasks that have a row in the window:
    the only tasks a tick can extend or merge."""

    tasks: pd.DataFrame
    links: pd.DataFrame

    @classmethod
    def empty(cls) -> TaskState:
        times = ("first_seen", "last_occurrence", "start_time", "end_time", "timestamp")
        numbers = ("occurrences", "distinct_users", "segments_this_tick")
        dtype = {c: "datetime64[us]" for c in times} | {c: "int64" for c in numbers}
        empty = {c: pd.Series(dtype=dtype.get(c, object)) for c in [*TASK_COLUMNS, *LINK_COLUMNS]}
        return cls(
            pd.DataFrame({c: empty[c] for c in TASK_COLUMNS}),
            pd.DataFrame({c: empty[c] for c in ["task_id", *LINK_COLUMNS]}),
        )


@dataclass
class TickResult:
    clusters: pd.DataFrame  # one row per window cluster and per high-impact segment no cluster took
    tasks: pd.DataFrame  # every task of the team after the tick
    links: pd.DataFrame  # every link the tick made or moved
    merges: pd.DataFrame  # the tasks the tick merged, into which, and on what evidence
    window_rows: int = 0  # segments the tick clustered (its own, the day's before it, the anchors)
    waiting: int = 0  # segments of the window still waiting for a task after the tick
    users: tuple[str, ...] = ()  # the pseudonyms of the window's segments: whom its texts can name


def run_tick(
    team_id: int,
    tick_end: pd.Timestamp,
    window: Window,
    state: TaskState,
    params: ReplayParams,
    labeler: Labeler | None = None,
    known_labels: pd.DataFrame | None = None,
) -> TickResult:
    """Cluster the window, match its clusters to the team's tasks, link the waiting segments,
    merge the tasks the window shows to be one problem, label the new tasks and score all.

    ``known_labels`` (``task_id`` and ``LABEL_COLUMNS``) are reused instead of asking the labeler
    again, e.g. the labels an earlier run of the same tick gave.
    """
    tick_end = pd.Timestamp(tick_end)
    rows = window.segments.reset_index(drop=True)
    clustering = cluster_embeddings(window.embeddings, params)
    labels = clustering.labels
    task_of_row = rows["task_id"].astype(object).where(rows["task_id"].notna(), None).to_numpy()
    matching = match_clusters(labels, task_of_row, state.tasks[["task_id", "first_seen", "occurrences"]])

    impact = impact_scores(rows["content"]).to_numpy()
    waiting = pd.isna(task_of_row)
    arrived = (rows["tick_end"] == tick_end).to_numpy()
    # A high-impact segment of the tick that no cluster took is a group (and a task) of its own;
    # when its problem recurs, a later window clusters it with the others and merges the tasks.
    # One a cluster held but left out in doubt waits like any other: it may be that cluster's.
    clusters = int(labels.max(initial=-1)) + 1
    alone = (labels < 0) & ~clustering.doubted
    lonely = np.flatnonzero(alone & waiting & arrived & (impact > params.high_impact_noise))
    groups = labels.copy()
    groups[lonely] = clusters + np.arange(len(lonely))
    cluster_task = list(matching.cluster_task) + [None] * len(lonely)
    for g, task in enumerate(cluster_task):
        new = np.flatnonzero((groups == g) & waiting)
        if task is None and len(new):  # a new task is named after its first segment: a replay names it again
            cluster_task[g] = new_task_id(team_id, str(rows["document_id"].iat[new[0]]))

    # Centres and distances are read from the stored embeddings in float64: the clustering's float32
    # coordinates differ in their last digits between numeric libraries and CPUs, the stored rows do not.
    members = np.flatnonzero(groups >= 0)
    centroids = _centroids(window.embeddings, groups, len(cluster_task))
    similarity = np.zeros(len(rows))  # each grouped segment's cosine with its group's centre
    similarity[members] = _similarity(window.embeddings, members, centroids, groups[members])
    linked = np.flatnonzero((groups >= 0) & waiting)
    links = rows.iloc[linked][[c for c in LINK_COLUMNS if c in rows]].assign(
        task_id=[cluster_task[g] for g in groups[linked]],
        cluster_id=groups[linked],
        impact=impact[linked],
        # Clipped: a group of one (or of equal rows) is at 0, never at a rounding error's -0.0.
        distance=np.round(np.clip(1.0 - similarity[linked], 0.0, 2.0), 6),
        linked_by=np.where(groups[linked] >= clusters, "high_impact", "cluster"),
        previous_task_id=None,
    )
    merged_into = dict(zip(matching.merges["task_id"], matching.merges["merged_into"]))
    merge_cluster = dict(zip(matching.merges["task_id"], matching.merges["cluster_id"]))
    moved = state.links[state.links["task_id"].isin(list(merged_into))]
    moved = moved.assign(
        previous_task_id=moved["task_id"],
        task_id=moved["task_id"].map(merged_into),
        cluster_id=moved["task_id"].map(merge_cluster),
        linked_by="merge",
    )
    cluster_rows = _cluster_rows(rows, groups, cluster_task, clusters, waiting, arrived, impact, similarity, params)
    tasks = _tasks_after(tick_end, state, links, moved, merged_into, cluster_rows, params, labeler, known_labels)
    merges = matching.merges.assign(
        reason=[
            f"most of its clustered segments ({m.segments}) and of {m.merged_into}'s ({m.survivor_segments}) "
            f"formed cluster {m.cluster_id}: one problem, kept as the task that holds more of it"
            for m in matching.merges.itertuples()
        ]
    )
    made = _rows_of(links[LINK_TABLE_COLUMNS], moved.reindex(columns=LINK_TABLE_COLUMNS))
    made = made.sort_values("document_id", kind="mergesort").reset_index(drop=True)
    still_waiting = int(waiting.sum()) - len(links)
    users = tuple(sorted(rows["user_ref"].dropna().unique()))
    return TickResult(cluster_rows, tasks, made, merges, len(rows), still_waiting, users)


def _rows_of(*frames: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frames`` (same columns) one after another; the first frame's columns when all are empty."""
    full = [f for f in frames if len(f)]
    return pd.concat(full, ignore_index=True) if full else frames[0].iloc[:0]


#: Rows read into float64 at a time: a 30,000-segment window is never copied whole.
ROW_BLOCK = 4096


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 in float64 (a zero row stays zero)."""
    x = np.array(x, dtype=np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    x /= np.where(norms == 0, 1, norms)[:, None]
    return x


def _centroids(embeddings: np.ndarray, groups: np.ndarray, k: int) -> np.ndarray:
    """Unit mean of each group's unit embeddings (zero for a group without members), in float64."""
    sums = np.zeros((k, embeddings.shape[1]))
    members = np.flatnonzero(groups >= 0)
    members = members[np.argsort(groups[members], kind="stable")]  # each group's rows together
    for start in range(0, len(members), ROW_BLOCK):
        block = members[start : start + ROW_BLOCK]
        group = groups[block]
        first = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
        sums[group[first]] += np.add.reduceat(_unit_rows(embeddings[block]), first, axis=0)
    return _unit_rows(sums)


def _similarity(embeddings: np.ndarray, rows: np.ndarray, centres: np.ndarray, of_row: np.ndarray) -> np.ndarray:
    """Cosine of each of ``rows`` with its unit centre (``centres[of_row]``), in float64."""
    out = np.empty(len(rows))
    for start in range(0, len(rows), ROW_BLOCK):
        part = slice(start, start + ROW_BLOCK)
        x = embeddings[rows[part]].astype(np.float64)
        dot = np.einsum("ij,ij->i", x, centres[of_row[part]])
        norm = np.sqrt(np.einsum("ij,ij->i", x, x))
        out[part] = dot / np.where(norm == 0, 1, norm)
    return out


def _cluster_rows(rows, groups, cluster_task, clusters, waiting, arrived, impact, similarity, params) -> pd.DataFrame:
    """One row per group (window clusters, then the high-impact segments no cluster took)."""
    members = np.flatnonzero(groups >= 0)
    frame = pd.DataFrame(
        {
            "cluster_id": groups[members],
            "document_id": rows["document_id"].to_numpy()[members],
            "user_ref": rows["user_ref"].to_numpy()[members],
            "timestamp": rows["timestamp"].to_numpy()[members],
            "content": rows["content"].to_numpy()[members],
            "impact": impact[members],
            "arrived": arrived[members],
            "waiting": waiting[members],
            "similarity": similarity[members],
            "position": members,
        }
    )
    k = len(cluster_task)
    if not len(frame):
        return pd.DataFrame({c: [] for c in _CLUSTER_COLUMNS})
    by = frame.groupby("cluster_id", sort=True)
    nearest = frame.sort_values(
        ["cluster_id", "similarity", "position"], ascending=[True, False, True], kind="mergesort"
    )
    ids = np.arange(k)
    return pd.DataFrame(
        {
            "cluster_id": ids,
            "kind": np.where(ids < clusters, "cluster", "high_impact_noise"),
            "task_id": cluster_task,
            "size": by.size().to_numpy(),
            "arrived": by["arrived"].sum().astype("int64").to_numpy(),
            "linked_now": by["waiting"].sum().astype("int64").to_numpy(),
            "distinct_users": by["user_ref"].nunique().to_numpy(),
            "mean_impact": by["impact"].mean().round(6).to_numpy(),
            "first_document_id": by["document_id"].first().to_numpy(),
            "last_occurrence": by["timestamp"].max().to_numpy(),
            "member_document_ids": [canonical_json(list(d)) for d in by["document_id"].agg(list)],
            "examples": [
                canonical_json(list(t)[: params.examples])
                for t in nearest.groupby("cluster_id", sort=True)["content"].agg(list)
            ],
        }
    )


_CLUSTER_COLUMNS = [
    "cluster_id",
    "kind",
    "task_id",
    "size",
    "arrived",
    "linked_now",
    "distinct_users",
    "mean_impact",
    "first_document_id",
    "last_occurrence",
    "member_document_ids",
    "examples",
]


def _tasks_after(
    tick_end: pd.Timestamp,
    state: TaskState,
    links: pd.DataFrame,
    moved: pd.DataFrame,
    merged_into: dict[str, str],
    cluster_rows: pd.DataFrame,
    params: ReplayParams,
    labeler: Labeler | None,
    known_labels: pd.DataFrame | None,
) -> pd.DataFrame:
    """Every task of the team after the tick: the touched ones counted from their current links,
    the others carried; new tasks labelled; all scored."""
    before = state.tasks.set_index("task_id")
    touched = set(links["task_id"]) | set(merged_into.values())
    kept = state.links[state.links["task_id"].isin(touched)]
    current = _rows_of(kept, moved[kept.columns] if len(moved) else moved, links[kept.columns])
    counted = (
        current.groupby("task_id", sort=True).agg(
            occurrences=("document_id", "size"),
            distinct_users=("user_ref", "nunique"),
            mean_impact=("impact", "mean"),
            last_occurrence=("timestamp", "max"),
        )
        if len(current)
        else pd.DataFrame(columns=["occurrences", "distinct_users", "mean_impact", "last_occurrence"]).rename_axis(
            "task_id"
        )
    )
    new_ids = sorted(set(links["task_id"]) - set(before.index))
    carried = before.drop(index=list(counted.index.intersection(before.index)))
    tasks = pd.concat(
        [
            carried.reset_index(),
            counted.reset_index().merge(before[["first_seen", *LABEL_COLUMNS]].reset_index(), on="task_id", how="left"),
        ],
        ignore_index=True,
    )
    tasks["first_seen"] = tasks["first_seen"].where(~tasks["task_id"].isin(new_ids), tick_end)
    tasks["status"] = np.select(
        [
            tasks["task_id"].isin(list(merged_into)) | tasks.get("status", pd.Series(dtype=object)).eq("merged"),
            tasks["task_id"].isin(new_ids),
            tasks["task_id"].isin(list(touched)),
        ],
        ["merged", "new", "updated"],
        "unchanged",
    )
    previous_merge = tasks["merged_into"] if "merged_into" in tasks else pd.Series(None, index=tasks.index)
    survivor = tasks["task_id"].map(merged_into).fillna(previous_merge).astype(object)
    survivor = survivor.map(lambda t: merged_into.get(t, t) if isinstance(t, str) else None)  # a survivor merged now
    tasks["merged_into"] = survivor.where(survivor.notna(), None)
    gained = links.groupby("task_id").size()
    tasks["segments_this_tick"] = tasks["task_id"].map(gained).fillna(0).astype("int64")
    _label_new_tasks(tasks, new_ids, links, cluster_rows, params, labeler, known_labels)
    tasks["occurrences"] = tasks["occurrences"].astype("int64")
    tasks["distinct_users"] = tasks["distinct_users"].astype("int64")
    tasks["mean_impact"] = tasks["mean_impact"].astype("float64").round(6)
    factors = priority(
        tasks["distinct_users"], tasks["mean_impact"], tasks["last_occurrence"], tick_end, params.half_life_days
    )
    tasks[factors.columns] = factors.to_numpy()
    return tasks.sort_values("task_id", kind="mergesort").reset_index(drop=True)[TASK_COLUMNS]


TASK_COLUMNS = [
    "task_id",
    *LABEL_COLUMNS,
    "status",
    "merged_into",
    "priority",
    "users_factor",
    "impact_factor",
    "recency_factor",
    "occurrences",
    "distinct_users",
    "mean_impact",
    "segments_this_tick",
    "first_seen",
    "last_occurrence",
]


def _label_new_tasks(tasks, new_ids, links, cluster_rows, params, labeler, known_labels) -> None:
    """Labels for the tasks the tick opened: an earlier run's labels for the same task if known,
    else the labeler's, from the examples of the cluster that opened the task."""
    for column in LABEL_COLUMNS:
        if column not in tasks:
            tasks[column] = None
        tasks[column] = tasks[column].astype(object)
    known = known_labels.set_index("task_id") if known_labels is not None and len(known_labels) else None
    ask = [t for t in new_ids if known is None or t not in known.index]
    examples = cluster_rows.drop_duplicates("task_id").set_index("task_id")["examples"]
    row_of = pd.Series(tasks.index, index=tasks["task_id"])
    texts = [
        ClusterText(
            i,
            orjson.loads(examples[t])[: 2 * params.examples],
            int(tasks.at[row_of[t], "occurrences"]),
            int(tasks.at[row_of[t], "distinct_users"]),
        )
        for i, t in enumerate(ask)
    ]
    given = (labeler or KeywordLabeler()).label(texts) if texts else {}
    for i, t in enumerate(ask):
        g = given[i]
        tasks.loc[row_of[t], LABEL_COLUMNS] = [g.title, g.description, canonical_json(list(g.keywords)), g.source]
    for t in sorted(set(new_ids) - set(ask)):
        tasks.loc[row_of[t], LABEL_COLUMNS] = known.loc[t, LABEL_COLUMNS].to_numpy()
