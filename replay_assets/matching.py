"""A tick's clusters against the team's existing tasks (pure): a cluster joins the task it most
plausibly samples the same problem as, otherwise it opens a new one.

A cluster or a task is a sum ``S`` of ``m`` unit segment embeddings: its centroid is ``S / |S|``
and its ``cohesion`` ``R = |S| / m`` (the mean cosine of its segments to its centroid). The mean
similarity between two of its segments is ``w = (m R^2 - 1) / (m - 1)``, and between a segment
of ``a`` and one of ``b`` it is ``b_ab = R_a R_b cos(centroid_a, centroid_b)``. When ``a`` and
``b`` sample one problem, ``b_ab``, ``w_a`` and ``w_b`` estimate the same number, so the ratio
``b_ab / max(w_a, w_b)`` is about 1 whatever the embedding model's similarity scale; two
different problems give what their centroids share beyond their spread (0.5-0.7 for the
closest distinct intents of a real set). ``max``, not a mean: a loose task (low ``w``) must not
take a tight cluster of another problem. A cluster joins the task with the highest ratio when it
reaches ``MIN_RATIO``. A single segment has no spread of its own: it is taken to be as cohesive
as the other side, or, against another single segment, as the tick's median cluster.

Distinct users are an exact union (no run-over-run overcounting); clusters are taken one at a
time (ordered by their first segment), so a topic split across two clusters of one tick ends in
one task.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Share of the similarity two samples of one problem are expected to have (1) from which a
#: cluster joins a task: midway between 1 and the ~0.5 that near but distinct topics reach.
MIN_RATIO = 0.75
METRICS = ["task_id", "occurrences", "cohesion", "distinct_users", "mean_impact", "last_occurrence"]


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
    tasks: pd.DataFrame  # every task after the tick, by task_id, with ``status`` new / updated / unchanged
    centroids: np.ndarray  # unit centroids, same order as ``tasks``
    users: dict[str, set[str]]
    assignment: list[str]  # the task of each cluster, in the clusters' row order


def new_task_id(team_id: int, first_document_id: str) -> str:
    return "task_" + hashlib.sha256(f"{team_id}:{first_document_id}".encode()).hexdigest()[:16]


def within_similarity(size, cohesion, single=np.nan):
    """Mean cosine between two segments of a group of ``size`` unit vectors with this ``cohesion``
    (``single`` for a group of one, which has no pair)."""
    size = np.asarray(size, dtype=np.float64)
    cohesion = np.asarray(cohesion, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = (size * cohesion**2 - 1.0) / (size - 1.0)
    return np.where(size > 1, np.maximum(w, 1e-6), single)


def same_problem_ratio(cross: np.ndarray, w_a: np.ndarray, w_b: np.ndarray, w_single: float) -> np.ndarray:
    """``cross / max(w_a, w_b)``; a side without its own spread (NaN) takes the other's, or ``w_single``."""
    w_a, w_b = np.broadcast_arrays(np.asarray(w_a, dtype=np.float64), np.asarray(w_b, dtype=np.float64))
    a = np.where(np.isnan(w_a), np.where(np.isnan(w_b), w_single, w_b), w_a)
    b = np.where(np.isnan(w_b), a, w_b)
    return cross / np.maximum(a, b)


def single_reference(sizes, cohesions, fallback_sizes=(), fallback_cohesions=()) -> float:
    """The within similarity a single segment is assumed to have: the median of the tick's
    multi-segment clusters (else of the tasks'; 1.0, i.e. only a near-duplicate matches, if neither has one)."""
    for s, r in ((sizes, cohesions), (fallback_sizes, fallback_cohesions)):
        w = within_similarity(s, r)
        w = w[~np.isnan(w)] if np.size(w) else w
        if np.size(w):
            return float(np.median(w))
    return 1.0


def task_pairs_alike(centroids: np.ndarray, sizes, cohesions, min_ratio: float = MIN_RATIO, block: int = 2048) -> int:
    """Pairs of distinct tasks that the matching rule would take for one problem."""
    w = within_similarity(sizes, cohesions)
    r = np.asarray(cohesions, dtype=np.float64)
    w_single = single_reference(sizes, cohesions)
    count = 0
    for start in range(0, len(centroids), block):
        stop = start + block
        cross = (centroids[start:stop] @ centroids.T) * r[start:stop, None] * r[None, :]
        ratio = same_problem_ratio(cross, w[start:stop, None], w[None, :], w_single)
        ratio[np.arange(len(ratio)), start + np.arange(len(ratio))] = -np.inf
        count += int((ratio >= min_ratio).sum())
    return count // 2


def apply_clusters(
    team_id: int,
    state: TaskState,
    clusters: pd.DataFrame,
    cluster_centroids: np.ndarray,
    cluster_users: list[set[str]],
    min_ratio: float = MIN_RATIO,
) -> Consolidated:
    """The team's tasks after the tick.

    ``clusters``: ``size, cohesion, mean_impact, last_occurrence, first_document_id`` per cluster,
    with unit ``cluster_centroids`` and each cluster's distinct users in the same order. New tasks
    take their id from their first segment, so a replayed tick makes the same ids.

    Clusters join tasks one at a time, and a task's sum moves with each cluster it takes. Every
    task's sum stays ``a * old centroid + sum(g_c * centroid_c)`` over the clusters it took
    (``g_c = size * cohesion``), so a cluster's similarity to any task comes from two products
    computed once (clusters x old centroids, clusters x clusters): no centroid is re-multiplied
    per cluster, which made the naive loop quadratic in 3,072-d work.
    """
    old = state.tasks.sort_values("task_id", kind="mergesort")
    order_old = old.index.to_numpy()
    old = old.reset_index(drop=True)
    n_old, k = len(old), len(clusters)
    dim = cluster_centroids.shape[1] if k else state.centroids.shape[1]
    old_centroids = np.asarray(state.centroids, dtype=np.float64)[order_old] if n_old else np.empty((0, dim))
    c = np.asarray(cluster_centroids, dtype=np.float64)
    base = c @ old_centroids.T  # (k, n_old)
    between = c @ c.T  # (k, k)
    ids = old["task_id"].astype(str).tolist()
    size = np.zeros(n_old + k, dtype=np.int64)  # segments per task (old tasks first, then new ones)
    size[:n_old] = old["occurrences"].to_numpy(dtype=np.int64)
    old_cohesion = old["cohesion"].to_numpy(dtype=np.float64)
    a = np.zeros(n_old + k)  # |S| of each old task: the weight of its old centroid
    a[:n_old] = size[:n_old] * old_cohesion
    norm2 = a**2  # |S|^2 of every task, kept up to date
    distinct = old["distinct_users"].astype("int64").tolist()
    impact = old["mean_impact"].astype("float64").tolist()
    last = [pd.Timestamp(t) for t in old["last_occurrence"]]
    status = ["unchanged"] * n_old
    users = {t: set(u) for t, u in state.users.items()}
    sizes = clusters["size"].to_numpy(dtype=np.int64)
    cohesions = clusters["cohesion"].to_numpy(dtype=np.float64)
    g = sizes * cohesions  # |S| of each cluster
    w_clusters = within_similarity(sizes, cohesions)
    w_single = single_reference(sizes, cohesions, size[:n_old], old_cohesion)
    taken_by = np.full(k, -1)  # the task each cluster went to
    impacts = clusters["mean_impact"].to_numpy(dtype=np.float64)
    lasts = [pd.Timestamp(t) for t in clusters["last_occurrence"]]
    firsts = clusters["first_document_id"].astype(str).to_numpy()
    assignment = [""] * k
    done: list[int] = []
    for i in sorted(range(k), key=lambda j: firsts[j]):
        m = len(ids)
        dots = np.zeros(m)  # S_i . S_j for every task so far
        dots[:n_old] = a[:n_old] * base[i]
        if done:
            taken = np.array(done)
            dots += np.bincount(taken_by[taken], weights=g[taken] * between[i, taken], minlength=m)
        dots *= g[i]
        best = -1
        if m:
            cross = dots / (sizes[i] * size[:m])
            w_tasks = within_similarity(size[:m], np.sqrt(norm2[:m]) / size[:m])
            ratio = same_problem_ratio(cross, w_clusters[i], w_tasks, w_single)
            best = int(np.argmax(ratio))
            if ratio[best] < min_ratio:
                best = -1
        n_new = int(sizes[i])
        if best >= 0:
            n = int(size[best])
            norm2[best] += 2.0 * dots[best] + g[i] ** 2
            impact[best] = (impact[best] * n + float(impacts[i]) * n_new) / (n + n_new)
            size[best] = n + n_new
            last[best] = max(last[best], lasts[i])
            status[best] = "new" if status[best] == "new" else "updated"
            users.setdefault(ids[best], set()).update(cluster_users[i])
            distinct[best] = len(users[ids[best]])
        else:
            best = m
            ids.append(new_task_id(team_id, str(firsts[i])))
            norm2[best] = g[i] ** 2
            size[best] = n_new
            impact.append(float(impacts[i]))
            last.append(lasts[i])
            status.append("new")
            users[ids[best]] = set(cluster_users[i])
            distinct.append(len(users[ids[best]]))
        taken_by[i] = best
        done.append(i)
        assignment[i] = ids[best]
    # Every moved task's sum from its coefficients, in one pass; unchanged tasks keep theirs exactly.
    total = len(ids)
    sums = np.zeros((total, dim))
    sums[:n_old] = old_centroids * a[:n_old, None]
    if k:
        np.add.at(sums, taken_by, g[:, None] * c)
    lengths = np.linalg.norm(sums, axis=1)
    moved = np.zeros(total, dtype=bool)
    moved[taken_by[taken_by >= 0]] = True
    centroids = np.zeros((total, dim))
    centroids[:n_old] = old_centroids
    centroids[moved] = sums[moved] / np.maximum(lengths[moved], 1e-12)[:, None]
    cohesion = np.concatenate([old_cohesion, np.zeros(total - n_old)])
    cohesion[moved] = lengths[moved] / size[:total][moved]
    carried = old.drop(columns=[col for col in [*METRICS, "status"] if col != "task_id" and col in old])
    tasks = pd.DataFrame(
        {
            "task_id": ids,
            "occurrences": size[:total],
            "cohesion": cohesion.round(9),
            "distinct_users": distinct,
            "mean_impact": impact,
            "last_occurrence": last,
            "status": status,
        }
    )
    tasks = tasks.merge(carried, on="task_id", how="left")
    order = np.argsort(np.array(ids, dtype=object), kind="stable")
    return Consolidated(tasks.iloc[order].reset_index(drop=True), centroids[order], users, assignment)
