"""A window's clusters against the team's tasks, by the segments they share (pure).

Every tick clusters its window afresh: the segments that arrived, the earlier ones still
waiting for a task, the earlier ones already linked to one, and each task's anchors. A task is
what its linked segments are, so which cluster continues which task is read from the clusters
themselves, never from a similarity threshold:

- A task's home is the cluster holding the strict majority of its segments the window clustered.
- A cluster that is one task's home continues that task: its waiting segments join it.
- A cluster that is the home of several tasks shows them to be one problem: they merge into the
  task the cluster holds most segments of (what the problem already is; then the one first seen,
  as an issue tracker keeps the original report; then the smaller id), and the merge is recorded.
  A single segment of a task there is no evidence about the rest of it (unless it is the whole
  task): that task stays as it is.
- A cluster that is no task's home opens a new task with its waiting segments: it is a problem
  of its own even when it took a few of another task's segments along (theirs stay with that task).

A segment linked once is never re-opened: only a merge moves it, with its whole task.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Segments of a task a cluster must hold to show it one problem with another, unless it holds
#: all of them: a lone segment swept in says nothing about the rest of its task.
MERGE_EVIDENCE = 2


@dataclass
class Matching:
    cluster_task: list[str | None]  # per cluster: the task it continues, or None (it opens a new one)
    merges: pd.DataFrame  # task_id, merged_into, cluster_id, segments, survivor_segments


def new_task_id(team_id: int, first_document_id: str) -> str:
    return "task_" + hashlib.sha256(f"{team_id}:{first_document_id}".encode()).hexdigest()[:16]


def homes(labels: np.ndarray, task_of_row: np.ndarray) -> pd.DataFrame:
    """``task_id, cluster_id, segments, clustered, in_window`` for every task with a home: the
    cluster that holds the strict majority of the task's rows the window clustered (a tie is no
    majority); ``in_window`` counts the task's rows, clustered or not."""
    linked = pd.Series(task_of_row).notna().to_numpy()
    rows = pd.DataFrame({"task_id": task_of_row[linked], "cluster_id": labels[linked]})
    if not (rows["cluster_id"] >= 0).any():
        return pd.DataFrame({"task_id": [], "cluster_id": [], "segments": [], "clustered": [], "in_window": []})
    counts = rows.groupby(["task_id", "cluster_id"], sort=True).size().rename("segments").reset_index()
    counts["in_window"] = counts.groupby("task_id")["segments"].transform("sum")
    counts = counts[counts["cluster_id"] >= 0].copy()
    counts["clustered"] = counts.groupby("task_id")["segments"].transform("sum")
    return counts[2 * counts["segments"] > counts["clustered"]].reset_index(drop=True)


def match_clusters(labels: np.ndarray, task_of_row: np.ndarray, seniority: pd.DataFrame) -> Matching:
    """The task each cluster continues and the merges the window shows.

    ``labels``: cluster per window row (-1 = left out); ``task_of_row``: the task each row is
    linked to (None for a segment still waiting); ``seniority``: ``task_id, first_seen,
    occurrences`` of the team's tasks, which break ties between survivors of a merge.
    """
    clusters = int(labels.max(initial=-1)) + 1
    home = homes(labels, np.asarray(task_of_row, dtype=object))
    rank = seniority.set_index("task_id")
    home = home.assign(
        first_seen=rank.loc[home["task_id"], "first_seen"].to_numpy(),
        occurrences=rank.loc[home["task_id"], "occurrences"].to_numpy(),
    ).sort_values(
        ["cluster_id", "segments", "first_seen", "occurrences", "task_id"], ascending=[True, False, True, False, True]
    )
    first = ~home["cluster_id"].duplicated()
    survivors = home[first].set_index("cluster_id")
    cluster_task: list[str | None] = [None] * clusters
    for cluster, task in survivors["task_id"].items():
        cluster_task[int(cluster)] = str(task)
    evidence = (home["segments"] >= MERGE_EVIDENCE) | (home["segments"] == home["in_window"])
    merged = home[~first & evidence]
    merges = pd.DataFrame(
        {
            "task_id": merged["task_id"].astype(str).to_numpy(),
            "merged_into": survivors.loc[merged["cluster_id"], "task_id"].astype(str).to_numpy(),
            "cluster_id": merged["cluster_id"].astype("int64").to_numpy(),
            "segments": merged["segments"].astype("int64").to_numpy(),
            "survivor_segments": survivors.loc[merged["cluster_id"], "segments"].astype("int64").to_numpy(),
        }
    )
    return Matching(cluster_task, merges)
