import numpy as np
import pandas as pd
import pytest

from replay_assets.matching import (
    MIN_RATIO,
    TaskState,
    apply_clusters,
    same_problem_ratio,
    task_pairs_alike,
    within_similarity,
)

T0 = pd.Timestamp("2026-11-20 10:00")
DIM = 64


def unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def sample(direction, n, spread, rng):
    """``n`` unit segments around ``direction``."""
    return unit(direction + spread / np.sqrt(DIM) * rng.standard_normal((n, DIM)))


def clusters(*groups, first=None, when=T0):
    """Cluster rows, unit centroids and users from groups of member vectors (as ``tick_clusters`` gives them)."""
    sums = [g.sum(axis=0) for g in groups]
    frame = pd.DataFrame(
        {
            "size": [len(g) for g in groups],
            "cohesion": [np.linalg.norm(s) / len(g) for s, g in zip(sums, groups)],
            "mean_impact": 0.2,
            "last_occurrence": when,
            "first_document_id": first or [f"s{i:03d}:0:5" for i in range(len(groups))],
        }
    )
    return frame, unit(np.array(sums)), [{f"u{i}"} for i in range(len(groups))]


def state_of(result):
    return TaskState(result.tasks.drop(columns=["status"]), result.centroids, result.users)


def test_two_samples_of_one_problem_score_about_one_whatever_the_shared_direction():
    rng = np.random.default_rng(0)
    shared = unit(rng.standard_normal(DIM))
    for lean in (0.0, 0.6):  # unrelated topics meet at cosine ~lean**2 once they share a direction
        a, b = (unit(lean * shared + np.sqrt(1 - lean**2) * unit(rng.standard_normal(DIM))) for _ in range(2))
        first, second, other = sample(a, 30, 1.0, rng), sample(a, 20, 1.0, rng), sample(b, 25, 1.0, rng)
        frame, centroids, _ = clusters(first, second, other)
        r = frame["cohesion"].to_numpy()
        w = within_similarity(frame["size"], r)
        cross = (centroids @ centroids.T) * np.outer(r, r)
        same = same_problem_ratio(cross[0, 1], w[0], w[1], np.nan)
        different = same_problem_ratio(cross[0, 2], w[0], w[2], np.nan)
        assert same == pytest.approx(1.0, abs=0.08)
        assert different < MIN_RATIO - 0.1


def test_a_single_segment_is_judged_by_the_other_side_or_the_reference():
    assert same_problem_ratio(0.4, np.nan, 0.5, 0.9) == pytest.approx(0.8)
    assert same_problem_ratio(0.4, np.nan, np.nan, 0.8) == pytest.approx(0.5)
    assert np.isnan(within_similarity(1, 1.0))


def test_a_recurring_topic_strengthens_its_task_without_overcounting_users():
    rng = np.random.default_rng(1)
    topic, other = unit(rng.standard_normal(DIM)), unit(rng.standard_normal(DIM))
    frame, centroids, _ = clusters(sample(topic, 4, 0.8, rng), first=["s1:0:5"])
    first = apply_clusters(7, TaskState.empty(DIM), frame, centroids, [{"a", "b"}])
    (task_id,) = first.assignment
    later = T0 + pd.Timedelta(minutes=30)
    again, fresh = sample(topic, 2, 0.8, rng), sample(other, 3, 0.8, rng)
    frame, centroids, _ = clusters(again, fresh, first=["s9:0:5", "s5:0:5"], when=later)
    frame["mean_impact"] = [0.1, 0.2]
    second = apply_clusters(7, state_of(first), frame, centroids, [{"b", "c"}, {"x", "y", "z"}])
    tasks = second.tasks.set_index("task_id")
    row = tasks.loc[task_id]
    assert second.assignment[0] == task_id and second.assignment[1] != task_id
    assert (row["occurrences"], row["distinct_users"]) == (6, 3), "b is counted once"
    assert row["mean_impact"] == pytest.approx((0.2 * 4 + 0.1 * 2) / 6) and row["last_occurrence"] == later
    assert row["status"] == "updated" and tasks.loc[second.assignment[1], "status"] == "new"


def test_a_loose_task_does_not_swallow_a_tight_cluster_of_another_problem():
    rng = np.random.default_rng(2)
    a, b = unit(rng.standard_normal(DIM)), unit(rng.standard_normal(DIM))
    loose = np.vstack([sample(a, 20, 3.0, rng), sample(unit(a + b), 20, 3.0, rng)])  # spread over a and between
    frame, centroids, _ = clusters(loose, first=["s1:0:5"])
    first = apply_clusters(1, TaskState.empty(DIM), frame, centroids, [set()])
    frame, centroids, users = clusters(sample(b, 10, 0.5, rng), first=["s2:0:5"])
    second = apply_clusters(1, state_of(first), frame, centroids, users)
    assert len(second.tasks) == 2, "the tight cluster opens its own task"


def test_a_topic_split_in_one_tick_ends_in_one_task():
    rng = np.random.default_rng(3)
    topic = unit(rng.standard_normal(DIM))
    result = apply_clusters(1, TaskState.empty(DIM), *clusters(sample(topic, 6, 0.8, rng), sample(topic, 5, 0.8, rng)))
    assert len(result.tasks) == 1 and result.tasks["occurrences"].iat[0] == 11


def test_task_ids_are_stable_on_replay():
    rng = np.random.default_rng(4)
    groups = [sample(unit(rng.standard_normal(DIM)), 5, 0.8, rng) for _ in range(2)]
    a = apply_clusters(3, TaskState.empty(DIM), *clusters(*groups, first=["s2:0:1", "s1:0:1"]))
    b = apply_clusters(3, TaskState.empty(DIM), *clusters(*reversed(groups), first=["s1:0:1", "s2:0:1"]))
    assert a.tasks["task_id"].tolist() == b.tasks["task_id"].tolist()
    assert np.allclose(a.centroids, b.centroids)


def naive(state: TaskState, groups, firsts, min_ratio=MIN_RATIO):
    """The definition: clusters one at a time against each task's members' sum, recomputed after every merge."""
    sums = [c * n * r for c, n, r in zip(state.centroids, state.tasks["occurrences"], state.tasks["cohesion"])]
    counts = list(state.tasks["occurrences"])
    for i in sorted(range(len(groups)), key=lambda j: firsts[j]):
        s, m = groups[i].sum(axis=0), len(groups[i])
        w_i = (s @ s - m) / (m * (m - 1))
        ratios = [(s @ t) / (m * n) / max(w_i, (t @ t - n) / (n * (n - 1))) for t, n in zip(sums, counts)]
        best = int(np.argmax(ratios)) if ratios else -1
        if best >= 0 and ratios[best] >= min_ratio:
            sums[best], counts[best] = sums[best] + s, counts[best] + m
        else:
            sums.append(s)
            counts.append(m)
    return sorted(counts), [unit(t) for t in sums]


def test_many_merges_in_one_tick_match_the_sequential_definition():
    rng = np.random.default_rng(5)
    topics = unit(rng.standard_normal((6, DIM)))
    seeds = [sample(topics[i], 8, 0.8, rng) for i in range(3)]
    frame, centroids, _ = clusters(*seeds, first=["a0", "a1", "a2"])
    state = state_of(apply_clusters(1, TaskState.empty(DIM), frame, centroids, [set()] * 3))
    groups = [sample(topics[i % 6], int(rng.integers(2, 9)), 0.8, rng) for i in rng.integers(0, 6, 40)]
    firsts = [f"s{j:03d}:0:1" for j in range(len(groups))]
    frame, centroids, users = clusters(*groups, first=firsts)
    result = apply_clusters(1, state, frame, centroids, users)
    counts, want = naive(state, groups, firsts)
    assert sorted(result.tasks["occurrences"]) == counts and len(result.tasks) == 6
    got = sorted(map(tuple, np.round(result.centroids, 9)))
    assert np.allclose(got, sorted(map(tuple, np.round(np.array(want), 9))), atol=1e-9)
    assert task_pairs_alike(result.centroids, result.tasks["occurrences"], result.tasks["cohesion"]) == 0
