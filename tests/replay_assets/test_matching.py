import numpy as np
import pandas as pd

from replay_assets.matching import TaskState, apply_clusters, match

T0 = pd.Timestamp("2026-11-20 10:00")


def unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def clusters(*rows):
    """rows: (centroid, size, users, impact, first_document_id, last_occurrence)."""
    frame = pd.DataFrame([{"size": n, "mean_impact": i, "first_document_id": d, "last_occurrence": t}
                          for _, n, _, i, d, t in rows])
    return frame, np.array([unit(c) for c, *_ in rows]), [set(u) for _, _, u, *_ in rows]


def test_match_uses_the_cosine_distance_threshold():
    tasks = np.array([unit([1, 0, 0]), unit([0, 1, 0])])
    found = np.array([unit([0.95, 0.05, 0]), unit([0, 0, 1]), unit([0.5, 0.5, 0.7])])
    assert match(found, tasks).tolist() == [0, -1, -1]


def test_a_recurring_topic_strengthens_its_task_without_overcounting_users():
    first = apply_clusters(7, TaskState.empty(3), *clusters(([1, 0, 0], 4, {"a", "b"}, 0.4, "s1:0:5", T0)))
    (task_id,) = first.assignment
    later = T0 + pd.Timedelta(minutes=30)
    state = TaskState(first.tasks.drop(columns=["status"]), first.centroids, first.users)
    second = apply_clusters(7, state, *clusters(([0.9, 0.1, 0], 2, {"b", "c"}, 0.1, "s9:0:5", later),
                                                ([0, 0, 1], 3, {"x", "y", "z"}, 0.2, "s5:0:5", later)))
    tasks = second.tasks.set_index("task_id")
    row = tasks.loc[task_id]
    assert second.assignment[0] == task_id and second.assignment[1] != task_id
    assert (row["occurrences"], row["distinct_users"]) == (6, 3), "b is counted once"
    assert row["mean_impact"] == (0.4 * 4 + 0.1 * 2) / 6 and row["last_occurrence"] == later
    expected = unit(unit([1, 0, 0]) * 4 + unit([0.9, 0.1, 0]) * 2)
    assert np.allclose(second.centroids[list(tasks.index).index(task_id)], expected)
    assert row["status"] == "updated" and tasks.loc[second.assignment[1], "status"] == "new"


def test_a_topic_split_in_one_tick_ends_in_one_task():
    result = apply_clusters(1, TaskState.empty(3), *clusters(([1, 0.05, 0], 3, {"a"}, 0.3, "s1:0:1", T0),
                                                             ([1, -0.05, 0], 2, {"b"}, 0.3, "s2:0:1", T0)))
    assert len(result.tasks) == 1 and result.tasks["occurrences"].iat[0] == 5


def test_task_ids_are_stable_on_replay():
    rows = (([1, 0, 0], 3, {"a"}, 0.4, "s2:0:1", T0), ([0, 1, 0], 3, {"b"}, 0.4, "s1:0:1", T0))
    a = apply_clusters(3, TaskState.empty(3), *clusters(*rows))
    b = apply_clusters(3, TaskState.empty(3), *clusters(*reversed(rows)))
    assert a.tasks["task_id"].tolist() == b.tasks["task_id"].tolist()
    assert np.array_equal(a.centroids, b.centroids)


def naive(state: TaskState, rows, max_distance=0.3):
    """The definition: clusters one at a time, each task's centroid re-normalized after every merge."""
    centroids = [np.asarray(c, dtype=np.float64) for c in state.centroids]
    counts = list(state.tasks["occurrences"])
    for c, n_new, first in sorted(rows, key=lambda r: r[2]):
        sims = [float(t @ c) for t in centroids]
        best = int(np.argmax(sims)) if sims else -1
        if best >= 0 and 1 - sims[best] < max_distance:
            merged = centroids[best] * counts[best] + c * n_new
            centroids[best], counts[best] = merged / np.linalg.norm(merged), counts[best] + n_new
        else:
            centroids.append(c)
            counts.append(n_new)
    return sorted(counts), centroids


def test_many_merges_in_one_tick_match_the_sequential_definition():
    rng = np.random.default_rng(5)
    topics = np.array([unit(v) for v in rng.standard_normal((6, 32))])
    state = TaskState(pd.DataFrame({"task_id": [f"t{i}" for i in range(3)], "occurrences": [5, 9, 2], "distinct_users": 1,
                                    "mean_impact": 0.1, "last_occurrence": T0}), topics[:3], {})
    rows = [(unit(topics[i % 6] + 0.08 * rng.standard_normal(32)), int(rng.integers(1, 9)), f"s{j:03d}:0:1")
            for j, i in enumerate(rng.integers(0, 6, 40))]
    frame = pd.DataFrame({"size": [r[1] for r in rows], "mean_impact": 0.2, "first_document_id": [r[2] for r in rows],
                          "last_occurrence": T0})
    result = apply_clusters(1, state, frame, np.array([r[0] for r in rows]), [set() for _ in rows])
    counts, centroids = naive(state, rows)
    assert sorted(result.tasks["occurrences"]) == counts and len(result.tasks) == 6
    got = sorted(map(tuple, np.round(result.centroids, 9)))
    want = sorted(map(tuple, np.round(np.array(centroids), 9)))
    assert np.allclose(got, want, atol=1e-9)
