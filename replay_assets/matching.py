"""A tick's clusters against the team's existing tasks (pure): a cluster within ``max_distance``
(cosine) of a task's centroid strengthens that task; otherwise it opens a new one.

Updates fix the peer's defects: the matched task really is updated, distinct users are an
exact union (no run-over-run overcounting), the centroid is the occurrence-weighted mean.
Clusters are taken one at a time (ordered by their first segment), so a topic split across
two clusters of the same tick still ends in one task; one matrix product against the tasks
as they were, plus the few tasks this tick already changed, keeps that fast.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_DISTANCE = 0.3
METRICS = ["task_id", "occurrences", "distinct_users", "mean_impact", "last_occurrence"]


@dataclass
class TaskState:
    """The team's tasks before a tick: one row per task (``METRICS`` and any other columns, which
    are carried through), their unit centroids in the same order, and the distinct users of each
    task (only tasks a cluster may join need them; others keep their ``distinct_users``)."""

    tasks: pd.DataFrame
    centroids: np.ndarray
    users: dict[str, set[str]]

    @classmethod
    def empty(cls, dimension: int) -> TaskState:
        return cls(pd.DataFrame({c: [] for c in METRICS}), np.empty((0, dimension)), {})


@dataclass
class Consolidated:
    tasks: pd.DataFrame      # every task after the tick, by task_id, with ``status`` new / updated / unchanged
    centroids: np.ndarray    # unit centroids, same order as ``tasks``
    users: dict[str, set[str]]
    assignment: list[str]    # the task of each cluster, in the clusters' row order


def new_task_id(team_id: int, first_document_id: str) -> str:
    return "task_" + hashlib.sha256(f"{team_id}:{first_document_id}".encode()).hexdigest()[:16]


def match(centroids: np.ndarray, task_centroids: np.ndarray, max_distance: float = MAX_DISTANCE) -> np.ndarray:
    """Index of the nearest task per cluster when its cosine distance is below ``max_distance``, else -1."""
    if len(task_centroids) == 0 or len(centroids) == 0:
        return np.full(len(centroids), -1, dtype=np.int64)
    similarity = centroids @ task_centroids.T
    best = np.argmax(similarity, axis=1)
    distance = 1.0 - similarity[np.arange(len(centroids)), best]
    return np.where(distance < max_distance, best, -1)


def apply_clusters(team_id: int, state: TaskState, clusters: pd.DataFrame, cluster_centroids: np.ndarray,
                   cluster_users: list[set[str]], max_distance: float = MAX_DISTANCE) -> Consolidated:
    """The team's tasks after the tick.

    ``clusters``: ``size, mean_impact, last_occurrence, first_document_id`` per cluster, with unit
    ``cluster_centroids`` and each cluster's distinct users in the same order. New tasks take
    their id from their first segment, so a replayed tick makes the same ids.
    """
    old = state.tasks.sort_values("task_id", kind="mergesort")
    order_old = old.index.to_numpy()
    old = old.reset_index(drop=True)
    n_old, k = len(old), len(clusters)
    dim = cluster_centroids.shape[1] if k else state.centroids.shape[1]
    centroids = np.zeros((n_old + k, dim))
    centroids[:n_old] = np.asarray(state.centroids, dtype=np.float64)[order_old] if n_old else 0
    ids = old["task_id"].astype(str).tolist()
    occurrences = old["occurrences"].astype("int64").tolist()
    distinct = old["distinct_users"].astype("int64").tolist()
    impact = old["mean_impact"].astype("float64").tolist()
    last = [pd.Timestamp(t) for t in old["last_occurrence"]]
    status = ["unchanged"] * n_old
    users = {t: set(u) for t, u in state.users.items()}
    c = np.asarray(cluster_centroids, dtype=np.float64)
    base = c @ centroids[:n_old].T if n_old else np.empty((k, 0))
    dirty: list[int] = []  # tasks whose centroid this tick changed or created
    assignment = [""] * k
    for i in sorted(range(k), key=lambda j: str(clusters["first_document_id"].iat[j])):
        row = clusters.iloc[i]
        m = len(ids)
        similarity = np.full(m, -np.inf)
        similarity[:n_old] = base[i]
        if dirty:
            similarity[dirty] = centroids[dirty] @ c[i]
        best = int(np.argmax(similarity)) if m else -1
        n_new = int(row["size"])
        if best >= 0 and 1.0 - similarity[best] < max_distance:
            n = occurrences[best]
            merged = centroids[best] * n + c[i] * n_new
            centroids[best] = merged / np.linalg.norm(merged)
            impact[best] = (impact[best] * n + float(row["mean_impact"]) * n_new) / (n + n_new)
            occurrences[best] = n + n_new
            last[best] = max(last[best], pd.Timestamp(row["last_occurrence"]))
            status[best] = "new" if status[best] == "new" else "updated"
            users.setdefault(ids[best], set()).update(cluster_users[i])
            distinct[best] = len(users[ids[best]])
        else:
            best = m
            ids.append(new_task_id(team_id, str(row["first_document_id"])))
            centroids[best] = c[i]
            occurrences.append(n_new)
            impact.append(float(row["mean_impact"]))
            last.append(pd.Timestamp(row["last_occurrence"]))
            status.append("new")
            users[ids[best]] = set(cluster_users[i])
            distinct.append(len(users[ids[best]]))
        if best not in dirty:
            dirty.append(best)
        assignment[i] = ids[best]
    carried = old.drop(columns=[col for col in [*METRICS, "status"] if col != "task_id" and col in old])
    tasks = pd.DataFrame({"task_id": ids, "occurrences": occurrences, "distinct_users": distinct, "mean_impact": impact,
                          "last_occurrence": last, "status": status})
    tasks = tasks.merge(carried, on="task_id", how="left")
    order = np.argsort(np.array(ids, dtype=object), kind="stable")
    return Consolidated(tasks.iloc[order].reset_index(drop=True), centroids[: len(ids)][order], users, assignment)
