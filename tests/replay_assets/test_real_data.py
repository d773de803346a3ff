"""Replay tasks on real embeddings: CLINC150 queries (150 intents + out-of-scope queries) embedded by
all-MiniLM-L6-v2, fed through the tick pipeline as segments, scored against the true intents."""

import numpy as np
import pandas as pd
import pytest

from platform_core.privacy import pseudonymize
from replay_assets.evaluation import labelled_segments, task_quality
from replay_assets.matching import TaskState
from replay_assets.partitions import TICK
from replay_assets.pipeline import ReplayParams, tick_clusters, update_tasks
from replay_assets.segments import validate_segments
from tests.conftest import real_data

FIRST_TICK_END = pd.Timestamp("2026-11-20 10:30")


@pytest.fixture(scope="module")
def clinc():
    frame = pd.read_parquet(real_data("clinc150_minilm.parquet"))
    return frame, np.where(frame["in_scope"], frame["intent"], "oos")


def run_ticks(frame: pd.DataFrame, ticks: int) -> pd.DataFrame:
    """Every tick's links, the labelled rows arriving in random order over ``ticks`` ticks."""
    raw = labelled_segments(frame["text"], np.stack(frame["embedding"].to_numpy()), FIRST_TICK_END, ticks)
    params, state, links = ReplayParams(), TaskState.empty(len(frame["embedding"].iat[0])), []
    for k in range(ticks):
        end = FIRST_TICK_END + k * TICK
        v = validate_segments(raw[(raw["inserted_at"] >= end - TICK) & (raw["inserted_at"] < end)].reset_index(drop=True))
        assert v.rejects.empty
        segments = v.segments.assign(user_ref=pseudonymize(v.segments["distinct_id"], "test-salt"))
        clusters = tick_clusters(segments, v.embeddings, params)
        update = update_tasks(1, end, state, clusters.clusters, segments, v.embeddings, params)
        state = update.state
        links.append(update.links)
    return pd.concat(links, ignore_index=True)


def test_one_tick_gives_one_task_per_intent_and_leaves_out_of_scope_queries_out(clinc):
    frame, labels = clinc
    q = task_quality(run_ticks(frame, 1), labels, noise_label="oos")
    assert q["coverage"] >= 0.65, q
    assert q["ari"] >= 0.80 and q["nmi"] >= 0.93, q
    assert q["noise_in_tasks"] <= 0.10, q
    assert q["largest_task"] <= 150, "no task for everything"


def test_four_ticks_keep_intents_apart_and_recurring_ones_together(clinc):
    frame, labels = clinc
    q = task_quality(run_ticks(frame, 4), labels, noise_label="oos")
    # Below the targets (95% of intents in one task, purity 0.90): each tick sees about 7
    # queries per intent, where HDBSCAN's leaves still mix near intents. A floor against regressions.
    assert q["single_task"] >= 0.55 and q["purity"] >= 0.58, q
    assert q["noise_in_tasks"] <= 0.10, q
