import numpy as np
import pandas as pd

from replay_assets.matching import ClusterSummary, apply_clusters, match

T0 = pd.Timestamp("2026-11-20 10:00")


def unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def summary(cid, centroid, n, users, impact=0.4, doc="s:0:1", at=T0):
    return ClusterSummary(cid, unit(centroid), n, frozenset(users), impact, at, doc)


def test_match_uses_the_cosine_distance_threshold():
    tasks = np.array([unit([1, 0, 0]), unit([0, 1, 0])])
    clusters = np.array([unit([0.95, 0.05, 0]), unit([0, 0, 1]), unit([0.5, 0.5, 0.7])])
    assert match(clusters, tasks).tolist() == [0, -1, -1]


def test_a_recurring_topic_strengthens_its_task_without_overcounting_users():
    empty = pd.DataFrame(columns=["task_id", "centroid", "occurrences", "distinct_users", "mean_impact", "last_occurrence"])
    tasks, first = apply_clusters(7, empty, {}, [summary(0, [1, 0, 0], 4, {"a", "b"}, 0.4, "s1:0:5")])
    (task_id,) = first.values()
    users = {task_id: {"a", "b"}}
    later = T0 + pd.Timedelta(minutes=30)
    tasks, second = apply_clusters(7, tasks, users, [summary(0, [0.9, 0.1, 0], 2, {"b", "c"}, 0.1, "s9:0:5", later),
                                                     summary(1, [0, 0, 1], 3, {"x", "y", "z"}, 0.2, "s5:0:5", later)])
    row = tasks.set_index("task_id").loc[task_id]
    assert second[0] == task_id and second[1] != task_id
    assert (row["occurrences"], row["distinct_users"]) == (6, 3), "b is counted once"
    assert row["mean_impact"] == (0.4 * 4 + 0.1 * 2) / 6 and row["last_occurrence"] == later
    assert np.allclose(row["centroid"], unit(unit([1, 0, 0]) * 4 + unit([0.9, 0.1, 0]) * 2))
    assert tasks.set_index("task_id").loc[second[1], "is_new"] and not row["is_new"]


def test_task_ids_are_stable_on_replay():
    empty = pd.DataFrame(columns=["task_id", "centroid", "occurrences", "distinct_users", "mean_impact", "last_occurrence"])
    clusters = [summary(0, [1, 0, 0], 3, {"a"}, doc="s2:0:1"), summary(1, [0, 1, 0], 3, {"b"}, doc="s1:0:1")]
    a, _ = apply_clusters(3, empty, {}, clusters)
    b, _ = apply_clusters(3, empty, {}, list(reversed(clusters)))
    assert a["task_id"].tolist() == b["task_id"].tolist()
