"""The pure replay pipeline on demo ticks: topics found, noise left alone, recurring topics
consolidated into one task each, high-impact noise kept as its own task."""

import numpy as np
import pandas as pd

from replay_assets import demo
from replay_assets.clustering import ClusteringParams, centroids, cluster_embeddings
from replay_assets.impact import impact_scores
from replay_assets.matching import ClusterSummary, apply_clusters
from replay_assets.segments import validate_segments

TICK0 = pd.Timestamp("2026-11-20 10:00")
PARAMS = ClusteringParams(min_cluster_size=3)


def run_tick(team_id, tick_end, tasks, users):
    frame, _ = demo.generate_tick(team_id, tick_end)
    v = validate_segments(frame)
    labels = cluster_embeddings(v.embeddings, PARAMS)
    impact = impact_scores(v.segments["content"]).to_numpy()
    summaries = []
    for c, centre in centroids(v.embeddings, labels).items():
        members = v.segments[labels == c]
        summaries.append(ClusterSummary(c, centre, len(members), frozenset(members["distinct_id"]), float(impact[labels == c].mean()),
                                        members["inserted_at"].max(), members["document_id"].min()))
    for i in np.flatnonzero((labels < 0) & (impact > 0.3)):  # high-impact noise becomes its own task
        vec = v.embeddings[i] / np.linalg.norm(v.embeddings[i])
        summaries.append(ClusterSummary(1000 + int(i), vec, 1, frozenset([v.segments["distinct_id"][i]]), float(impact[i]),
                                        v.segments["inserted_at"][i], v.segments["document_id"][i]))
    tasks, assignment = apply_clusters(team_id, tasks, users, summaries)
    return v, labels, tasks, assignment


def test_demo_ticks_find_topics_and_consolidate_them():
    empty = pd.DataFrame(columns=["task_id", "centroid", "occurrences", "distinct_users", "mean_impact", "last_occurrence"])
    tasks, users = empty, {}
    for k in range(4):
        v, labels, tasks, assignment = run_tick(1, TICK0 + k * demo.TICK, tasks, users)
        assert sorted(v.rejects["reason"]) == ["non_finite_embedding", "wrong_dimension"]
        assert labels.max() + 1 == len(demo.TOPICS[1]), "each planted topic is one cluster, noise is not clustered"
    topic_tasks = tasks[tasks["occurrences"] > 1]
    assert len(topic_tasks) == len(demo.TOPICS[1]), "a recurring topic strengthens its task instead of opening new ones"
    assert (topic_tasks["occurrences"] == 16).all()
    crashes = tasks[tasks["occurrences"] == 1]
    assert len(crashes) == 4 and (crashes["mean_impact"] >= 0.4).all()
