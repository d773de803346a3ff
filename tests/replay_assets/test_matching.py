"""Which task a window's cluster continues, read from the segments the two share (pure)."""

import numpy as np
import pandas as pd

from replay_assets.matching import homes, match_clusters, new_task_id

SENIORITY = pd.DataFrame(
    {
        "task_id": ["task_a", "task_b", "task_c"],
        "first_seen": pd.to_datetime(["2026-11-20 10:00", "2026-11-20 09:30", "2026-11-20 09:30"]),
        "occurrences": [30, 12, 20],
    }
)


def test_a_task_is_home_where_the_strict_majority_of_its_clustered_segments_are():
    labels = np.array([0, 0, 1, 1, 1, -1, -1, 2, 2])
    tasks = np.array(
        ["task_a", "task_c", "task_a", "task_b", "task_b", "task_b", "task_b", "task_c", None], dtype=object
    )
    home = homes(labels, tasks).set_index("task_id")
    assert "task_a" not in home.index, "one clustered segment in each of two clusters: no majority"
    assert home.loc["task_b", "segments"] == 2, "its segments the window left out do not count"
    assert home.loc["task_b", "cluster_id"] == 1 and "task_c" not in home.index


def test_a_cluster_that_is_home_to_two_tasks_merges_them_into_the_one_first_seen_on_a_tie():
    labels = np.array([0, 0, 0, 0, 1, 1])
    tasks = np.array(["task_a", "task_a", "task_c", "task_c", None, None], dtype=object)
    m = match_clusters(labels, tasks, SENIORITY)
    assert m.cluster_task == ["task_c", None], "task_c was first seen; cluster 1 opens a new task"
    assert m.merges.to_dict("records") == [
        {"task_id": "task_a", "merged_into": "task_c", "cluster_id": 0, "segments": 2, "survivor_segments": 2}
    ]


def test_the_task_the_cluster_holds_most_of_survives_and_a_lone_segment_merges_nothing():
    labels = np.array([0, 0, 0, 0, 0, 0, -1, -1])
    tasks = np.array(["task_a", "task_a", "task_a", "task_b", "task_b", "task_c", "task_c", "task_c"], dtype=object)
    m = match_clusters(labels, tasks, SENIORITY)
    assert m.cluster_task == ["task_a"], "task_a holds three of the cluster, though first seen last"
    assert m.merges[["task_id", "merged_into"]].values.tolist() == [["task_b", "task_a"]], (
        "one of task_c's three segments says nothing about the other two"
    )


def test_a_one_segment_task_merges_when_its_segment_joins_a_cluster():
    labels = np.array([0, 0, 0, 0])
    tasks = np.array(["task_a", "task_a", "task_a", "task_c"], dtype=object)
    assert match_clusters(labels, tasks, SENIORITY).merges["task_id"].tolist() == ["task_c"]


def test_a_cluster_that_took_a_few_of_another_tasks_segments_opens_its_own_task():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    tasks = np.array(["task_a"] * 4 + ["task_a", None, None, None], dtype=object)
    m = match_clusters(labels, tasks, SENIORITY)
    assert m.cluster_task == ["task_a", None] and m.merges.empty


def test_new_task_ids_are_stable_hashes_of_team_and_first_segment():
    assert new_task_id(3, "s1:0:5") == new_task_id(3, "s1:0:5") != new_task_id(4, "s1:0:5")
    assert new_task_id(3, "s1:0:5").startswith("task_") and len(new_task_id(3, "s1:0:5")) == 21
