"""The pure replay pipeline over a day of demo ticks: planted topics found, noise left alone,
recurring topics consolidated into one task each, distinct topics never merged."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from replay_assets import demo
from replay_assets.matching import TaskState
from replay_assets.pipeline import ReplayParams, tick_clusters, update_tasks
from replay_assets.segments import validate_segments

DAY = pd.Timestamp("2026-11-20")
PARAMS = ReplayParams()


def run_day(team_id: int, ticks: int = 48):
    state, per_tick = TaskState.empty(demo.DIMENSION), []
    for k in range(1, ticks + 1):
        tick_end = DAY + k * demo.TICK
        raw, truth = demo.generate_tick(team_id, tick_end)
        v = validate_segments(raw)
        truth = truth[raw["document_id"].isin(v.segments["document_id"])]  # same canonical order: sorted by inserted_at
        segments = v.segments.assign(user_ref="p_" + v.segments["distinct_id"])
        clustered = tick_clusters(segments, v.embeddings, PARAMS)
        update = update_tasks(team_id, tick_end, state, clustered.clusters, segments, v.embeddings, PARAMS)
        state = update.state
        per_tick.append((v, truth.to_numpy(), clustered, update))
    return per_tick


@pytest.fixture(scope="module")
def day():
    return {team: run_day(team) for team in demo.TOPICS}


def test_each_tick_finds_the_planted_topics_and_leaves_noise_alone(day):
    for team, ticks in day.items():
        for v, truth, clustered, _ in ticks:
            assert sorted(v.rejects["reason"]) == ["non_finite_embedding", "wrong_dimension"]
            topical = np.array([t != "" and not t.startswith("crash:") for t in truth])
            groups, kinds = clustered.groups, clustered.clusters["kind"].to_numpy()
            in_cluster = np.array([g >= 0 and kinds[g] == "cluster" for g in groups])
            assert adjusted_rand_score(truth[in_cluster], groups[in_cluster]) == 1.0
            assert in_cluster[topical].all(), "every topic segment is clustered"
            assert not in_cluster[~topical].any(), "noise and the lone crash stay out of clusters"
            assert (clustered.clusters["kind"] == "high_impact_noise").sum() == 1, "the crash becomes a one-segment cluster"


def test_recurring_topics_consolidate_into_one_task_each_and_are_never_merged(day):
    for team, ticks in day.items():
        topic_of_task: dict[str, set[str]] = {}
        for v, truth, _, update in ticks:
            planted = dict(zip(v.segments["document_id"], truth))
            for link in update.links.itertuples():
                topic_of_task.setdefault(link.task_id, set()).add(planted[link.document_id])
        assert all(len(topics) == 1 for topics in topic_of_task.values()), "no task mixes two planted topics"
        tasks_of_topic = pd.Series({t: next(iter(ts)) for t, ts in topic_of_task.items()}).value_counts()
        assert (tasks_of_topic == 1).all(), f"each recurring topic is one task: {tasks_of_topic.to_dict()}"
        final = ticks[-1][3].tasks.set_index("task_id")
        for topic in demo.TOPICS[team]:
            (task_id,) = [t for t, ts in topic_of_task.items() if ts == {topic.name}]
            assert final.loc[task_id, "occurrences"] == 48 * 4
            title = final.loc[task_id, "title"].lower()
            assert any(word in title for word in topic.name.split("_")), f"{title!r} names {topic.name}"
        assert len(final) == len(topic_of_task), "no task without segments"


def test_priority_ranks_recurring_topics_first_with_factors(day):
    final = day[1][-1][3].tasks.sort_values("priority", ascending=False)
    assert final.head(3)["occurrences"].min() == 192
    factors = final[["users_factor", "impact_factor", "recency_factor"]].sum(axis=1).round(6)
    assert np.allclose(factors, final["priority"], atol=2e-6)
    assert final.iloc[0]["title"].startswith(("Fix", "Improve", "Investigate"))
