"""Deterministic demo segments with planted ground truth (seeded by team and tick).

Each team has recurring friction topics: every tick a topic shows up with a few segments whose
embeddings lie near the topic's direction and whose descriptions vary around its theme. Noise
segments point in random directions. Each tick one segment describes a crash (high impact): alone
in its tick it becomes a one-segment cluster, and the same crash in a later tick strengthens its
task. Some rows are broken (wrong dimension, NaN).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

DIMENSION = 384
TICK = pd.Timedelta(minutes=30)


@dataclass(frozen=True)
class Topic:
    name: str
    phrases: tuple[str, ...]


TOPICS = {
    1: (
        Topic("checkout_payment_error", ("clicked pay in checkout and the payment failed with an error",
                                         "checkout payment error after pressing submit, tried again",
                                         "payment form in checkout showed a card error and nothing happened")),
        Topic("export_settings_confusion", ("searched settings for the export option and could not find it",
                                            "went back and forth between settings tabs looking for export",
                                            "struggled to find where exports are configured in settings")),
        Topic("onboarding_abandonment", ("started onboarding, hit the team invite step and gave up",
                                         "abandoned onboarding at the invite teammates step",
                                         "left the onboarding flow at the invite step")),
    ),
    2: (
        Topic("search_timeout", ("search results page timed out and showed a spinner forever",
                                 "search request timed out twice before the user gave up",
                                 "typing in search caused a timeout error banner")),
        Topic("dashboard_filter_confusion", ("repeatedly toggled dashboard filters trying to reset them",
                                             "confused by dashboard date filter, changed it repeatedly",
                                             "tried to clear dashboard filters but they kept coming back")),
    ),
}
CRASHES = ("loading the editor", "uploading an avatar", "printing an invoice", "sharing a dashboard",
           "renaming a project", "opening the billing page")
NEUTRAL = ("browsed the pricing page", "read the changelog", "opened the profile page and scrolled",
           "viewed a report and exported nothing", "watched the product tour video")


def _rng(*parts) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:12], 16))


def topic_direction(team_id: int, topic: str) -> np.ndarray:
    v = _rng("topic", team_id, topic).standard_normal(DIMENSION)
    return v / np.linalg.norm(v)


def generate_tick(team_id: int, tick_end: pd.Timestamp, per_topic: int = 4, noise: int = 3) -> tuple[pd.DataFrame, pd.Series]:
    """The segments that arrived during the tick ending at ``tick_end``, and each one's planted topic
    ("" = noise, ``crash:<where>`` = a recurring high-impact segment)."""
    rng = _rng("tick", team_id, tick_end.isoformat())
    start = tick_end - TICK
    rows, truth = [], []

    def add(session: str, content: str, vector, topic: str, offset_s: int) -> None:
        t = start + pd.Timedelta(seconds=offset_s)
        rows.append({"team_id": team_id, "document_id": f"{session}:{offset_s}:{offset_s + 20}", "session_id": session,
                     "distinct_id": f"user-{team_id}-{int(rng.integers(0, 40)):03d}", "start_time": t - pd.Timedelta(seconds=60),
                     "end_time": t - pd.Timedelta(seconds=40), "timestamp": t - pd.Timedelta(seconds=60),
                     "inserted_at": t, "content": content, "embedding": vector})
        truth.append(topic)

    def near(direction: np.ndarray) -> np.ndarray:
        return (direction + 0.5 / np.sqrt(DIMENSION) * rng.standard_normal(DIMENSION)).astype(np.float32)

    n = 0
    for topic in TOPICS[team_id]:
        for _ in range(per_topic):
            add(f"s{team_id}-{tick_end:%H%M}-{n:03d}", "User " + topic.phrases[int(rng.integers(0, len(topic.phrases)))],
                near(topic_direction(team_id, topic.name)), topic.name, 10 + 60 * n)
            n += 1
    for i in range(noise):
        add(f"s{team_id}-{tick_end:%H%M}-{n:03d}", "User " + NEUTRAL[int(rng.integers(0, len(NEUTRAL)))],
            rng.standard_normal(DIMENSION).astype(np.float32), "", 10 + 60 * n)
        n += 1
    crash = CRASHES[int(rng.integers(0, len(CRASHES)))]  # high-impact noise: one segment, but the same crash recurs
    add(f"s{team_id}-{tick_end:%H%M}-{n:03d}", f"App crashed with an exception while {crash}",
        near(topic_direction(team_id, f"crash:{crash}")), f"crash:{crash}", 10 + 60 * n)
    n += 1
    broken = rng.standard_normal(DIMENSION).astype(np.float32)
    broken[3] = np.nan
    add(f"s{team_id}-{tick_end:%H%M}-{n:03d}", "User scrolled the feed", broken, "", 10 + 60 * n)
    n += 1
    add(f"s{team_id}-{tick_end:%H%M}-{n:03d}", "User scrolled the feed", rng.standard_normal(DIMENSION // 2).astype(np.float32), "", 10 + 60 * n)
    return pd.DataFrame(rows), pd.Series(truth, name="topic")


def segments_between(team_id: int, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Every demo segment of the team that arrived in ``[start, end)`` (ticks end on the half hour)."""
    first = start.floor(TICK) + TICK
    frames = [generate_tick(team_id, tick_end)[0] for tick_end in pd.date_range(first, end.ceil(TICK), freq=TICK)]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["inserted_at"])
    return frame[(frame["inserted_at"] >= start) & (frame["inserted_at"] < end)].reset_index(drop=True)
