"""A window's clusters against the team's tasks, by the segments they share (pure).

Every tick clusters its window afresh: the segments that arrived, the earlier ones still
waiting for a task, the earlier ones already linked to one, and each task's anchors. A task is
what its linked segments are, so which cluster continues which task is read from the clusters
themselves, never from a similarity threshold:

- A task's home is the cluster holding the strict majority of its segments the window clustered.
- A cluster that is one task's home continues that task: its waiting segments join it.
- A cluster that is the home of several tasks shows them to be one problem: they merge into the
  task first seen (the original report, as an issue tracker keeps it; then the larger; then the
  smaller id), and the merge is recorded.
- A cluster that is no task's home opens a new task with its waiting segments: it is a problem
  of its own even when it took a few of another task's segments along (theirs stay with that task).

A segment linked once is never re-opened: only a merge moves it, with its whole task.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Matching:
    cluster_task: list[str | None]  # per cluster: the task it continues, or None (it opens a new one)
    merges: pd.DataFrame  # task_id, merged_into, cluster_id, segments, survivor_segments


def new_task_id(team_id: int, first_document_id: str) -> str:
    return "task_" + hashlib.sha256(f"{team_id}:{first_document_id}".encode()).hexdigest()[:16]


def homes(labels: np.ndarray, task_of_row: np.ndarray) -> pd.DataFrame:
    """``task_id, cluster_id, segments, clustered`` for every task with a home: the cluster that
    holds the strict majority of the task's rows the window clustered (a tie is no majority)."""
    linked = pd.Series(task_of_row).notna().to_numpy() & (labels >= 0)
    rows = pd.DataFrame({"task_id": task_of_row[linked], "cluster_id": labels[linked]})
    if rows.empty:
        return pd.DataFrame({"task_id": [], "cluster_id": [], "segments": [], "clustered": []})
    counts = rows.groupby(["task_id", "cluster_id"], sort=True).size().rename("segments").reset_index()
    counts["clustered"] = counts.groupby("task_id")["segments"].transform("sum")
    return counts[2 * counts["segments"] > counts["clustered"]].reset_index(drop=True)


def match_clusters(labels: np.ndarray, task_of_row: np.ndarray, seniority: pd.DataFrame) -> Matching:
    """The task each cluster continues and the merges the window shows.

    ``labels``: cluster per window row (-1 = left out); ``task_of_row``: the task each row is
    linked to (None for a segment still waiting); ``seniority``: ``task_id, first_seen,
    occurrences`` of the team's tasks, which decide the survivor of a merge.
    """
    clusters = int(labels.max(initial=-1)) + 1
    home = homes(labels, np.asarray(task_of_row, dtype=object))
    rank = seniority.set_index("task_id")
    home = home.assign(
        first_seen=rank.loc[home["task_id"], "first_seen"].to_numpy(),
        occurrences=rank.loc[home["task_id"], "occurrences"].to_numpy(),
    ).sort_values(["cluster_id", "first_seen", "occurrences", "task_id"], ascending=[True, True, False, True])
    cluster_task: list[str | None] = [None] * clusters
    merges = []
    for cluster, group in home.groupby("cluster_id", sort=True):
        survivor = group.iloc[0]
        cluster_task[int(cluster)] = str(survivor["task_id"])
        merges += [
            (str(t.task_id), str(survivor["task_id"]), int(cluster), int(t.segments), int(survivor["segments"]))
            for t in group.iloc[1:].itertuples()
        ]
    return Matching(
        cluster_task,
        pd.DataFrame(merges, columns=["task_id", "merged_into", "cluster_id", "segments", "survivor_segments"]),
    )
