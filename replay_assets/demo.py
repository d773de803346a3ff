"""Deterministic demo segments with planted ground truth (seeded by team and tick), shaped like real
description embeddings rather than idealized ones.

- A shared direction: every description of a team's product leans on one common direction, so two
  unrelated topics' directions meet at cosines of 0.3-0.6 (as real sentence embeddings of one
  product do), and sibling topics (``Topic.near``) closer still.
- Diffuse topics: a segment is its topic's direction plus variation drawn mostly from a few
  directions shared by all topics (how people phrase things), so segments of different topics
  can be closer than two of the same one; within a topic cosines spread over roughly 0.4-0.9.
- Uneven, overdispersed counts: each topic's segments per tick are negative binomial around its
  own mean, so a topic is sometimes absent or too rare to form a cluster in a tick and recurs later.
- Noise leans on the shared direction too; each tick one segment describes a crash (high impact):
  alone in its tick it becomes a one-segment cluster, and the same crash in a later tick
  strengthens its task. Some rows are broken (wrong dimension, NaN).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

DIMENSION = 384
TICK = pd.Timedelta(minutes=30)


#: Weight of the team's shared direction in a topic direction (its square is the cosine two
#: unrelated topics share), of a sibling's direction, and the size of a segment's variation.
SHARED, SIBLING, SPREAD = 0.65, 0.35, 0.75
STYLE_DIMENSIONS, STYLE_SHARE = 24, 0.8
NOISE_SEGMENTS, DISPERSION = 12, 4.0


@dataclass(frozen=True)
class Topic:
    name: str
    phrases: tuple[str, ...]
    mean: float = 9.0  # segments per tick on average
    near: str | None = None  # a sibling topic whose direction it shares in part


TOPICS = {
    1: (
        Topic(
            "checkout_payment_error",
            (
                "clicked pay in checkout and the payment failed with an error",
                "checkout payment error after pressing submit, tried again",
                "payment form in checkout showed a card error and nothing happened",
            ),
            mean=24,
        ),
        Topic(
            "checkout_coupon_rejected",
            (
                "entered a coupon code at checkout and it was rejected as invalid",
                "coupon field in checkout kept saying the code does not apply",
                "tried three coupon codes at checkout, all refused",
            ),
            mean=12,
            near="checkout_payment_error",
        ),
        Topic(
            "export_settings_confusion",
            (
                "searched settings for the export option and could not find it",
                "went back and forth between settings tabs looking for export",
                "struggled to find where exports are configured in settings",
            ),
            mean=16,
        ),
        Topic(
            "onboarding_abandonment",
            (
                "started onboarding, hit the team invite step and gave up",
                "abandoned onboarding at the invite teammates step",
                "left the onboarding flow at the invite step",
            ),
            mean=14,
        ),
    ),
    2: (
        Topic(
            "search_timeout",
            (
                "search results page timed out and showed a spinner forever",
                "search request timed out twice before the user gave up",
                "typing in search caused a timeout error banner",
            ),
            mean=22,
        ),
        Topic(
            "search_no_results",
            (
                "searched for an existing project by name and got no results",
                "search returned nothing for a customer that exists",
                "retyped the same search several times, always empty results",
            ),
            mean=12,
            near="search_timeout",
        ),
        Topic(
            "dashboard_filter_confusion",
            (
                "repeatedly toggled dashboard filters trying to reset them",
                "confused by dashboard date filter, changed it repeatedly",
                "tried to clear dashboard filters but they kept coming back",
            ),
            mean=16,
        ),
    ),
}
CRASHES = (
    "loading the editor",
    "uploading an avatar",
    "printing an invoice",
    "sharing a dashboard",
    "renaming a project",
    "opening the billing page",
)
NEUTRAL = (
    "browsed the pricing page",
    "read the changelog",
    "opened the profile page and scrolled",
    "viewed a report and exported nothing",
    "watched the product tour video",
)


def _rng(*parts) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:12], 16))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _fixed(v: np.ndarray) -> np.ndarray:
    v.flags.writeable = False  # cached and shared by every segment
    return v


@cache
def shared_direction(team_id: int) -> np.ndarray:
    return _fixed(_unit(_rng("shared", team_id).standard_normal(DIMENSION)))


@cache
def style_basis(team_id: int) -> np.ndarray:
    """Orthonormal directions along which the team's descriptions vary, whatever their topic."""
    return _fixed(np.linalg.qr(_rng("style", team_id).standard_normal((DIMENSION, STYLE_DIMENSIONS)))[0])


@cache
def topic_direction(team_id: int, topic: str) -> np.ndarray:
    own = _unit(
        SHARED * shared_direction(team_id)
        + np.sqrt(1 - SHARED**2) * _unit(_rng("topic", team_id, topic).standard_normal(DIMENSION))
    )
    near = next((t.near for t in TOPICS.get(team_id, ()) if t.name == topic), None)
    return _fixed(_unit(SIBLING * topic_direction(team_id, near) + np.sqrt(1 - SIBLING**2) * own) if near else own)


def segment_vector(team_id: int, direction: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``direction`` plus variation of norm about ``SPREAD``, mostly along the team's style directions."""
    variation = np.sqrt(STYLE_SHARE / STYLE_DIMENSIONS) * style_basis(team_id) @ rng.standard_normal(
        STYLE_DIMENSIONS
    ) + np.sqrt((1 - STYLE_SHARE) / DIMENSION) * rng.standard_normal(DIMENSION)
    return (direction + SPREAD * variation).astype(np.float32)


def generate_tick(team_id: int, tick_end: pd.Timestamp) -> tuple[pd.DataFrame, pd.Series]:
    """The segments that arrived during the tick ending at ``tick_end``, and each one's planted topic
    ("" = noise, ``crash:<where>`` = a recurring high-impact segment)."""
    rng = _rng("tick", team_id, tick_end.isoformat())
    start = tick_end - TICK
    rows, truth = [], []

    def add(session: str, content: str, vector, topic: str, offset_s: int) -> None:
        t = start + pd.Timedelta(seconds=offset_s)
        rows.append(
            {
                "team_id": team_id,
                "document_id": f"{session}:{offset_s}:{offset_s + 20}",
                "session_id": session,
                "distinct_id": f"user-{team_id}-{int(rng.integers(0, 40)):03d}",
                "start_time": t - pd.Timedelta(seconds=60),
                "end_time": t - pd.Timedelta(seconds=40),
                "timestamp": t - pd.Timedelta(seconds=60),
                "inserted_at": t,
                "content": content,
                "embedding": vector,
            }
        )
        truth.append(topic)

    planned = [
        (topic.name, "User " + topic.phrases[int(rng.integers(0, len(topic.phrases)))])
        for topic in TOPICS[team_id]
        for _ in range(int(rng.negative_binomial(DISPERSION, DISPERSION / (DISPERSION + topic.mean))))
    ]
    planned += [("", "User " + NEUTRAL[int(rng.integers(0, len(NEUTRAL)))]) for _ in range(NOISE_SEGMENTS)]
    crash = CRASHES[int(rng.integers(0, len(CRASHES)))]  # high-impact noise: one segment, but the same crash recurs
    planned.append((f"crash:{crash}", f"App crashed with an exception while {crash}"))
    # Arrival order mixes topics within the tick (seconds are distinct, so the order is total).
    offsets = np.sort(rng.choice(np.arange(10, 1790), len(planned) + 2, replace=False))
    order = rng.permutation(len(planned))
    for n, i in enumerate(order):
        topic, content = planned[i]
        direction = (
            topic_direction(team_id, topic)
            if topic
            else _unit(
                SHARED * shared_direction(team_id) + np.sqrt(1 - SHARED**2) * _unit(rng.standard_normal(DIMENSION))
            )
        )
        add(
            f"s{team_id}-{tick_end:%H%M}-{n:03d}",
            content,
            segment_vector(team_id, direction, rng),
            topic,
            int(offsets[n]),
        )
    n = len(planned)
    broken = rng.standard_normal(DIMENSION).astype(np.float32)
    broken[3] = np.nan
    add(f"s{team_id}-{tick_end:%H%M}-{n:03d}", "User scrolled the feed", broken, "", int(offsets[n]))
    n += 1
    add(
        f"s{team_id}-{tick_end:%H%M}-{n:03d}",
        "User scrolled the feed",
        rng.standard_normal(DIMENSION // 2).astype(np.float32),
        "",
        int(offsets[n]),
    )
    return pd.DataFrame(rows), pd.Series(truth, name="topic")


def segments_between(team_id: int, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Every demo segment of the team that arrived in ``[start, end)`` (ticks end on the half hour)."""
    first = start.floor(TICK) + TICK
    frames = [generate_tick(team_id, tick_end)[0] for tick_end in pd.date_range(first, end.ceil(TICK), freq=TICK)]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["inserted_at"])
    return frame[(frame["inserted_at"] >= start) & (frame["inserted_at"] < end)].reset_index(drop=True)
