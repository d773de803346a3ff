"""A tick's clusters against the team's existing tasks (pure): a cluster within ``max_distance``
(cosine) of a task's centroid strengthens that task; otherwise it opens a new one.

Updates fix the peer's defects: the matched task really is updated, distinct users are an
exact union (no run-over-run overcounting), the centroid is the occurrence-weighted mean.
Clusters are taken one at a time (ordered by their first segment), so a topic split across
two clusters of the same tick still ends in one task.
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

    Clusters join tasks one at a time, and a task's centroid moves with each cluster it takes.
    Every centroid stays a linear combination of its old centroid and the clusters it took
    (``scale * (alpha * old + sum(beta_j * cluster_j))``), so a cluster's similarity to any task
    comes from two products computed once (clusters x old centroids, clusters x clusters): no
    centroid is re-multiplied per cluster, which made the naive loop quadratic in 3,072-d work.
    """
    old = state.tasks.sort_values("task_id", kind="mergesort")
    order_old = old.index.to_numpy()
    old = old.reset_index(drop=True)
    n_old, k = len(old), len(clusters)
    dim = cluster_centroids.shape[1] if k else state.centroids.shape[1]
    old_centroids = np.asarray(state.centroids, dtype=np.float64)[order_old] if n_old else np.empty((0, dim))
    c = np.asarray(cluster_centroids, dtype=np.float64)
    base = c @ old_centroids.T                       # (k, n_old)
    between = c @ c.T                                # (k, k)
    ids = old["task_id"].astype(str).tolist()
    occurrences = old["occurrences"].astype("int64").tolist()
    distinct = old["distinct_users"].astype("int64").tolist()
    impact = old["mean_impact"].astype("float64").tolist()
    last = [pd.Timestamp(t) for t in old["last_occurrence"]]
    status = ["unchanged"] * n_old
    users = {t: set(u) for t, u in state.users.items()}
    alpha = np.zeros(n_old + k)                      # weight of the old centroid (1 for existing tasks)
    alpha[:n_old] = 1.0
    scale = np.ones(n_old + k)
    taken_by = np.full(k, -1)                        # the task each cluster went to
    beta = np.zeros(k)                               # each cluster's weight inside its task (before scale)
    dirty = np.zeros(n_old + k, dtype=bool)          # centroid moved or created this tick
    sizes = clusters["size"].to_numpy(dtype=np.int64)
    impacts = clusters["mean_impact"].to_numpy(dtype=np.float64)
    lasts = [pd.Timestamp(t) for t in clusters["last_occurrence"]]
    firsts = clusters["first_document_id"].astype(str).to_numpy()
    assignment = [""] * k
    done: list[int] = []
    for i in sorted(range(k), key=lambda j: firsts[j]):
        m = len(ids)
        similarity = np.full(m, -np.inf)
        similarity[:n_old] = base[i]
        if dirty.any():
            moved = np.flatnonzero(dirty[:m])
            taken = np.array(done)
            inner = np.bincount(taken_by[taken], weights=beta[taken] * between[i, taken], minlength=m)[moved]
            old_part = np.zeros(len(moved))
            was_old = moved < n_old
            old_part[was_old] = base[i, moved[was_old]]
            similarity[moved] = scale[moved] * (alpha[moved] * old_part + inner)
        best = int(np.argmax(similarity)) if m else -1
        n_new = int(sizes[i])
        if best >= 0 and 1.0 - similarity[best] < max_distance:
            n = occurrences[best]
            norm = np.sqrt(n * n + n_new * n_new + 2.0 * n * n_new * similarity[best])  # |n * centroid + n_new * c_i|
            scale[best] *= n / norm
            beta[i] = n_new / norm / scale[best]
            impact[best] = (impact[best] * n + float(impacts[i]) * n_new) / (n + n_new)
            occurrences[best] = n + n_new
            last[best] = max(last[best], lasts[i])
            status[best] = "new" if status[best] == "new" else "updated"
            users.setdefault(ids[best], set()).update(cluster_users[i])
            distinct[best] = len(users[ids[best]])
        else:
            best = m
            ids.append(new_task_id(team_id, str(firsts[i])))
            beta[i] = 1.0
            occurrences.append(n_new)
            impact.append(float(impacts[i]))
            last.append(lasts[i])
            status.append("new")
            users[ids[best]] = set(cluster_users[i])
            distinct.append(len(users[ids[best]]))
        taken_by[i] = best
        dirty[best] = True
        done.append(i)
        assignment[i] = ids[best]
    # Every centroid from its coefficients, in one pass.
    centroids = np.zeros((len(ids), dim))
    centroids[:n_old] = old_centroids
    moved = np.flatnonzero(dirty[: len(ids)])
    centroids[moved] *= (alpha[moved] * scale[moved])[:, None]
    if k:
        np.add.at(centroids, taken_by, (beta * scale[taken_by])[:, None] * c)
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    carried = old.drop(columns=[col for col in [*METRICS, "status"] if col != "task_id" and col in old])
    tasks = pd.DataFrame({"task_id": ids, "occurrences": occurrences, "distinct_users": distinct, "mean_impact": impact,
                          "last_occurrence": last, "status": status})
    tasks = tasks.merge(carried, on="task_id", how="left")
    order = np.argsort(np.array(ids, dtype=object), kind="stable")
    return Consolidated(tasks.iloc[order].reset_index(drop=True), centroids[order], users, assignment)
