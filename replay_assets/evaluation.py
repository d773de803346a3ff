"""Measure the replay tasks against labelled data (pure): labelled texts with their embeddings in,
segment rows of the source contract out, fed through the tick step tick after tick; the tasks'
links scored against the labels.

Used by the tests and ``bench/`` on real labelled sets (e.g. intent-classification queries
embedded by a sentence model), and usable on a team's own labelled segments.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, homogeneity_score, normalized_mutual_info_score

from platform_core.privacy import pseudonymize
from platform_core.warehouse import DuckDBBackend, PartitionWrite
from replay_assets.assets import tick_step
from replay_assets.partitions import TICK, Tick
from replay_assets.pipeline import ReplayParams, TickResult
from replay_assets.segments import validate_segments
from replay_assets.tables import (
    VIDEO_SEGMENT_TASK_LINKS,
    VIDEO_SEGMENT_TASK_MERGES,
    VIDEO_SEGMENT_TASKS,
    VIDEO_SEGMENTS,
)


def labelled_segments(
    texts, embeddings: np.ndarray, first_tick_end: pd.Timestamp, ticks: int = 1, team_id: int = 1, seed: int = 0
) -> pd.DataFrame:
    """Rows of the segment contract, one per labelled text, arriving in random order (seeded)
    spread evenly over ``ticks`` consecutive ticks, the first ending at ``first_tick_end``.
    ``document_id`` is ``q<row>:0:5`` so a link names the labelled row it came from."""
    n = len(texts)
    order = np.random.default_rng(seed).permutation(n)
    arrival = np.empty(n, dtype=np.int64)
    arrival[order] = np.arange(n)
    span = ticks * TICK.total_seconds()
    inserted = (pd.Timestamp(first_tick_end) - TICK) + pd.to_timedelta(arrival * (span / n), unit="s")
    started = inserted - pd.Timedelta(minutes=2)
    return pd.DataFrame(
        {
            "team_id": team_id,
            "document_id": [f"q{i}:0:5" for i in range(n)],
            "session_id": [f"q{i}" for i in range(n)],
            "distinct_id": [f"user-{i % 997:03d}" for i in range(n)],
            "start_time": started,
            "end_time": started + pd.Timedelta(seconds=5),
            "timestamp": started,
            "inserted_at": inserted,
            "content": list(texts),
            "embedding": list(np.asarray(embeddings, dtype=np.float32)),
        }
    )


def replay_ticks(ticks, params: ReplayParams | None = None, labeler=None, salt: str = "evaluation") -> list[TickResult]:
    """Run ``ticks`` (``(Tick, raw source rows)`` in time order) through the tick step as the assets
    run them: each tick's segments validated and written to a warehouse (DuckDB in memory), its
    window read back, its tasks, links and merges written for the next. Every tick's result."""
    params = params or ReplayParams()
    backend = DuckDBBackend(":memory:")
    results = []
    with backend.session():
        for tick, raw in ticks:
            valid = validate_segments(raw.reset_index(drop=True))
            segments = valid.segments.assign(
                user_ref=pseudonymize(valid.segments["distinct_id"].astype(str), salt), embedding=list(valid.embeddings)
            )
            _write(backend, tick, {VIDEO_SEGMENTS: segments})
            result = tick_step(backend, tick, params, labeler)
            frames = {VIDEO_SEGMENT_TASKS: result.tasks, VIDEO_SEGMENT_TASK_LINKS: result.links}
            _write(backend, tick, {**frames, VIDEO_SEGMENT_TASK_MERGES: result.merges})
            results.append(result)
    return results


def current_links(results: list[TickResult]) -> pd.DataFrame:
    """Every linked segment's latest link over ``results`` (in time order): where it is now."""
    links = pd.concat([r.links.assign(tick=k) for k, r in enumerate(results)], ignore_index=True)
    return links.sort_values(["document_id", "tick"], kind="mergesort").drop_duplicates("document_id", keep="last")


def replay_labelled(
    texts,
    embeddings: np.ndarray,
    ticks: int = 1,
    params: ReplayParams | None = None,
    first_tick_end: pd.Timestamp = pd.Timestamp("2026-11-20 10:30"),
    seed: int = 0,
) -> pd.DataFrame:
    """Where every linked labelled row ends up (``document_id, task_id``: its task after the last
    tick, merges followed) when the rows arrive over ``ticks`` ticks in the order ``seed`` draws
    and go through the tick step one tick after another (``replay_ticks``)."""
    raw = labelled_segments(texts, embeddings, first_tick_end, ticks, seed=seed)
    ends = [first_tick_end + k * TICK for k in range(ticks)]
    results = replay_ticks(
        [(Tick(1, end), raw[(raw["inserted_at"] >= end - TICK) & (raw["inserted_at"] < end)]) for end in ends], params
    )
    return current_links(results)[["document_id", "task_id"]].reset_index(drop=True)


def _write(backend: DuckDBBackend, tick: Tick, frames: dict) -> None:
    backend.write(
        [
            PartitionWrite(spec, tick.partition, frame.assign(team_id=tick.team_id, tick_end=tick.end), "")
            for spec, frame in frames.items()
        ]
    )


def row_of(document_ids: pd.Series) -> np.ndarray:
    """The labelled row of each ``labelled_segments`` document id."""
    return document_ids.str.slice(1).str.split(":").str[0].astype(np.int64).to_numpy()


def task_quality(links: pd.DataFrame, labels, noise_label: str | None = None, min_segments: int = 8) -> dict:
    """How the tasks recover the labels.

    ``links``: ``document_id, task_id`` of every linked segment (one row each); ``labels``: the
    label of each labelled row (``noise_label`` marks rows that belong to no topic).

    - coverage: share of topic rows in tasks with at least two segments;
    - ari / nmi: of those rows' tasks against their labels;
    - homogeneity: of those rows' tasks against their labels (1: no task mixes labels; splits are free);
    - noise_in_tasks: share of noise rows in tasks with at least two segments;
    - consolidated: share of labels with ``min_segments`` or more linked rows whose rows all sit in one task;
    - single_task: share of those labels that are the majority label of exactly one multi-segment
      task (no duplicate task, none lost in others' tasks);
    - purity: share of a multi-segment task's rows in its majority label (noise rows never count as
      one), averaged over those rows.
    """
    labels = np.asarray(labels, dtype=object)
    topic = labels != noise_label if noise_label is not None else np.ones(len(labels), dtype=bool)
    linked = pd.DataFrame({"row": row_of(links["document_id"]), "task": links["task_id"].to_numpy()})
    linked["label"] = labels[linked["row"].to_numpy()]
    linked["topic"] = topic[linked["row"].to_numpy()]
    grouped = linked[linked.groupby("task")["row"].transform("size") >= 2]
    in_topic = grouped[grouped["topic"]]
    if in_topic.empty:
        return {
            "coverage": 0.0,
            "ari": float("nan"),
            "nmi": float("nan"),
            "homogeneity": float("nan"),
            "noise_in_tasks": 0.0,
            "consolidated": float("nan"),
            "single_task": float("nan"),
            "purity": float("nan"),
            "tasks": 0,
            "largest_task": 0,
        }
    per_label = linked[linked["topic"]].groupby("label")["task"].agg(["size", "nunique"])
    eligible = per_label[per_label["size"] >= min_segments]
    majority = in_topic.groupby("task")["label"].agg(lambda s: s.value_counts().iloc[0])
    owners = in_topic.groupby("task")["label"].agg(lambda s: s.value_counts().index[0]).value_counts()
    return {
        "coverage": len(in_topic) / int(topic.sum()),
        "ari": float(adjusted_rand_score(in_topic["label"], in_topic["task"])),
        "nmi": float(normalized_mutual_info_score(in_topic["label"], in_topic["task"])),
        "homogeneity": float(homogeneity_score(in_topic["label"], in_topic["task"])),
        "noise_in_tasks": int((~grouped["topic"]).sum()) / max(int((~topic).sum()), 1),
        "consolidated": float((eligible["nunique"] == 1).mean()) if len(eligible) else float("nan"),
        "purity": float(majority.sum() / len(grouped)),
        "single_task": float(np.mean([owners.get(label, 0) == 1 for label in eligible.index]))
        if len(eligible)
        else float("nan"),
        "tasks": int(grouped["task"].nunique()),
        "largest_task": int(grouped["task"].value_counts().iloc[0]),
    }
