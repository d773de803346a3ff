"""A tick's clusters against the team's existing tasks (pure): a cluster within ``max_distance``
(cosine) of a task's centroid strengthens that task; otherwise it opens a new one.

Updates fix the peer's defects: the matched task really is updated, distinct users are an
exact union (no run-over-run overcounting), the centroid is the occurrence-weighted mean.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_DISTANCE = 0.3


@dataclass
class ClusterSummary:
    cluster_id: int
    centroid: np.ndarray  # unit length
    occurrences: int
    distinct_ids: frozenset[str]
    mean_impact: float
    last_occurrence: pd.Timestamp
    first_document_id: str


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


def apply_clusters(team_id: int, tasks: pd.DataFrame, task_users: dict[str, set[str]], clusters: list[ClusterSummary],
                   max_distance: float = MAX_DISTANCE) -> tuple[pd.DataFrame, dict[int, str]]:
    """The team's tasks after the tick, and the task each cluster went to.

    ``tasks`` has ``task_id, centroid, occurrences, distinct_users, mean_impact, last_occurrence``;
    ``task_users`` the distinct ids already linked to each task. New tasks take their id from
    their first segment, so a replayed tick makes the same ids.
    """
    state = {r["task_id"]: {**r, "is_new": False} for r in tasks.sort_values("task_id").to_dict("records")}
    users = {k: set(v) for k, v in task_users.items()}
    ordered = sorted(clusters, key=lambda c: c.first_document_id)
    assignment: dict[int, str] = {}
    for cluster in ordered:  # one at a time, so a topic split across clusters in the same tick consolidates too
        ids = sorted(state)
        known = np.array([state[i]["centroid"] for i in ids]) if ids else np.empty((0, len(cluster.centroid)))
        index = match(cluster.centroid[None, :], known, max_distance)[0]
        if index >= 0:
            task = state[ids[index]]
            n_old, n_new = task["occurrences"], cluster.occurrences
            merged = (np.asarray(task["centroid"]) * n_old + cluster.centroid * n_new) / (n_old + n_new)
            task["centroid"] = merged / np.linalg.norm(merged)
            task["mean_impact"] = (task["mean_impact"] * n_old + cluster.mean_impact * n_new) / (n_old + n_new)
            task["occurrences"] = n_old + n_new
            task["last_occurrence"] = max(pd.Timestamp(task["last_occurrence"]), cluster.last_occurrence)
            users.setdefault(task["task_id"], set()).update(cluster.distinct_ids)
            task["distinct_users"] = len(users[task["task_id"]])
            assignment[cluster.cluster_id] = task["task_id"]
        else:
            task_id = new_task_id(team_id, cluster.first_document_id)
            state[task_id] = {"task_id": task_id, "centroid": cluster.centroid, "occurrences": cluster.occurrences,
                              "distinct_users": len(cluster.distinct_ids), "mean_impact": cluster.mean_impact,
                              "last_occurrence": cluster.last_occurrence, "is_new": True}
            users[task_id] = set(cluster.distinct_ids)
            assignment[cluster.cluster_id] = task_id
    frame = pd.DataFrame([state[k] for k in sorted(state)])
    frame["is_new"] = frame["is_new"].astype(bool)  # opened by this tick
    return frame, assignment
