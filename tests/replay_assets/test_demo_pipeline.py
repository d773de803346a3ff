"""The pure replay pipeline over a day of demo ticks (topics that share a direction, uneven and\noverdispersed counts): planted topics found, noise left alone, each recurring topic one task."""

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
    state, per_tick, previous = TaskState.empty(demo.DIMENSION), [], None
    for k in range(1, ticks + 1):
        tick_end = DAY + k * demo.TICK
        raw, truth = demo.generate_tick(team_id, tick_end)
        v = validate_segments(raw)
        truth = truth[raw["document_id"].isin(v.segments["document_id"])]  # same canonical order: sorted by inserted_at
        segments = v.segments.assign(user_ref="p_" + v.segments["distinct_id"])
        clustered = tick_clusters(
            segments, v.embeddings, PARAMS, previous
        )  # beside the tick before, as the assets run it
        previous = v.embeddings
        update = update_tasks(team_id, tick_end, state, clustered.clusters, segments, v.embeddings, PARAMS)
        state = update.state
        per_tick.append((v, truth.to_numpy(), clustered, update))
    return per_tick


@pytest.fixture(scope="module")
def day():
    return {team: run_day(team) for team in demo.TOPICS}


def test_each_tick_finds_the_planted_topics_and_leaves_noise_alone(day):
    for team, ticks in day.items():
        aris, clustered, kept = [], [], []
        for v, truth, clustered_tick, _ in ticks:
            assert sorted(v.rejects["reason"]) == ["non_finite_embedding", "wrong_dimension"]
            topical = np.array([t != "" and not t.startswith("crash:") for t in truth])
            groups, kinds = clustered_tick.groups, clustered_tick.clusters["kind"].to_numpy()
            in_cluster = np.array([g >= 0 and kinds[g] == "cluster" for g in groups])
            aris.append(adjusted_rand_score(truth[in_cluster & topical], groups[in_cluster & topical]))
            clustered.append(in_cluster[topical].mean())
            kept.append(1 - in_cluster[~topical].mean())
            (crash,) = np.flatnonzero([t.startswith("crash:") for t in truth])
            assert kinds[groups[crash]] == "high_impact_noise", "the lone crash becomes a one-segment cluster"
        assert np.mean(aris) >= 0.95 and min(aris) >= 0.7, f"team {team}: ARI per tick {np.round(aris, 2)}"
        assert np.mean(clustered) >= 0.7, f"team {team}: {np.mean(clustered):.2f} of topic segments clustered"
        assert np.mean(kept) >= 0.99, f"team {team}: {np.mean(kept):.3f} of noise left alone"
        beside = [clustered_tick.beside for _, _, clustered_tick, _ in ticks]
        assert beside[0] == 0 and all(b == len(ticks[i][0].segments) for i, b in enumerate(beside[1:])), (
            "every tick but the first is clustered beside the whole (small) tick before it"
        )


def topics_of_tasks(ticks) -> dict[str, list[str]]:
    """The planted topic of every segment each task took over the day."""
    topics: dict[str, list[str]] = {}
    for v, truth, _, update in ticks:
        planted = dict(zip(v.segments["document_id"], truth))
        for link in update.links.itertuples():
            topics.setdefault(link.task_id, []).append(planted[link.document_id])
    return topics


def test_recurring_topics_consolidate_into_one_task_each_and_are_never_merged(day):
    for team, ticks in day.items():
        topics = topics_of_tasks(ticks)
        majority = pd.Series({t: pd.Series(ts).value_counts().index[0] for t, ts in topics.items()})
        owners = majority.value_counts()
        for topic in demo.TOPICS[team]:
            assert owners.get(topic.name) == 1, f"{topic.name} is one task: {owners.to_dict()}"
        linked = sum(len(ts) for ts in topics.values())
        purity = sum(pd.Series(ts).value_counts().iloc[0] for ts in topics.values()) / linked
        assert purity >= 0.97, f"team {team}: task purity {purity:.3f}"
        final = ticks[-1][3].tasks.set_index("task_id")
        for topic in demo.TOPICS[team]:
            (task_id,) = majority.index[majority == topic.name]
            title = final.loc[task_id, "title"].lower()
            assert any(word in title for word in topic.name.split("_")), f"{title!r} names {topic.name}"
        assert len(final) == len(topics), "no task without segments"


def test_priority_ranks_recurring_topics_first_with_factors(day):
    final = day[1][-1][3].tasks.sort_values("priority", ascending=False)
    topics = topics_of_tasks(day[1])
    top = [pd.Series(topics[t]).value_counts().index[0] for t in final.head(len(demo.TOPICS[1]))["task_id"]]
    assert sorted(top) == sorted(t.name for t in demo.TOPICS[1]), top
    factors = final[["users_factor", "impact_factor", "recency_factor"]].sum(axis=1).round(6)
    assert np.allclose(factors, final["priority"], atol=2e-6)
    assert final.iloc[0]["title"].startswith(("Fix", "Improve", "Investigate"))
