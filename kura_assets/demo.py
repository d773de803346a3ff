"""Deterministic demo events with planted ground truth (seeded by the day).

Each day holds, besides optional background volume:

- ``save_mismatch``: the kura scoring notes' worked example, 4 critical ``save_claim_mismatch_attempt``
  + 2 ``workflow_violation`` from 2 new users (day score 0.362604; week 0.966944);
- ``clarification_loop``: the same 5 users ask for clarification once a day (medium band), so
  the week is capped at 3 events per user;
- ``dominated_quality``: one user logs 10 quality issues a day, two others 1 each;
- ``mixed_band``: 3 workflow violations in high and medium bands, one cluster;
- noise below the thresholds (single-user signatures), low-confidence and retracted events
  that would otherwise join ``save_mismatch``, and one malformed row for every reject reason.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

import numpy as np
import orjson
import pandas as pd

from kura_assets.calibration import CLAIM_EVENT, CORRECTION_EVENT
from kura_assets.scoring import REFERENCE_SEVERITY
from kura_assets.signals import RAW_COLUMNS, RETRACTION_EVENT, SIGNAL_EVENT

DEMO_START = date(2026, 11, 2)  # Monday of ISO week 2026-W45
DEMO_WEEKS = 2
DEMO_SALT = "demo-upstream-salt"  # the upstream system's salt for data.user_ref, not ours
_NAMESPACE = uuid.UUID("6f1c2d1e-8a4b-4c55-9a0e-3b7f0d7e2a11")
_AGENT = "agent-2.3.0"

CATEGORY_OF = {
    "save_claim_mismatch_attempt": "quality_signal",
    "workflow_violation": "friction_signal",
    "quality_issue_detected": "quality_signal",
    "clarification_requested": "friction_signal",
    "repair_auto_rejected": "correction_signal",
    "repair_proposed": "correction_signal",
    "save_handshake_pending": "friction_signal",
    "repair_verified_closed": "outcome_signal",
}


@dataclass(frozen=True)
class PlantedIssue:
    """A cluster the demo plants: the events of one upstream ``cluster_signature`` (signal type,
    facets and confidence band), with its counts after the dominance cap; 0 events where the
    period's thresholds leave it unpublished."""

    name: str
    signal_type: str
    facets: dict
    band: str
    day_events: int
    day_users: int
    week_events: int
    week_users: int

    @property
    def signature(self) -> str:
        return upstream_signature(self.signal_type, self.facets, self.band)


def _facets(issue_type: str, invariant: str, phase: str, modality: str = "chat") -> dict:
    return {
        "issue_type": issue_type,
        "invariant_id": invariant,
        "agent_version": _AGENT,
        "workflow_phase": phase,
        "modality": modality,
    }


SAVE_MISMATCH = _facets("save_claim_mismatch", "INV-SAVE-001", "save")
CLARIFICATION = _facets("clarification_loop", "INV-PLAN-004", "plan")
DOMINATED = _facets("quality_regression", "INV-QA-002", "log", "voice")
MIXED_BAND = _facets("workflow_skip", "INV-FLOW-003", "review")

#: What the clustering must find under its default grouping (the events' own signatures). One
#: issue seen through two signal types (save mismatch) or two confidence bands (workflow skip) is
#: two signatures, hence two clusters, each published only where it alone meets the thresholds;
#: ``group_by="facets"`` joins them.
PLANTED = (
    PlantedIssue("save_mismatch", "save_claim_mismatch_attempt", SAVE_MISMATCH, "high", 4, 2, 28, 14),
    PlantedIssue("save_mismatch_violation", "workflow_violation", SAVE_MISMATCH, "high", 0, 0, 14, 14),
    PlantedIssue("clarification_loop", "clarification_requested", CLARIFICATION, "medium", 5, 5, 15, 5),
    PlantedIssue("dominated_quality", "quality_issue_detected", DOMINATED, "high", 5, 3, 17, 15),
    PlantedIssue("workflow_skip_high", "workflow_violation", MIXED_BAND, "high", 0, 0, 14, 7),
    PlantedIssue("workflow_skip_medium", "workflow_violation", MIXED_BAND, "medium", 0, 0, 7, 7),
)


def demo_days() -> list[date]:
    return [DEMO_START + timedelta(days=i) for i in range(7 * DEMO_WEEKS)]


def upstream_signature(signal_type: str, facets: dict, band: str) -> str:
    parts = [
        signal_type,
        *(facets[k] for k in ("issue_type", "invariant_id", "agent_version", "workflow_phase", "modality")),
        band,
    ]
    return "ls_" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def _user_ref(user_id: str) -> dict:
    return {"pseudonymized_user_id": "u_" + hashlib.sha256(f"{DEMO_SALT}:{user_id}".encode()).hexdigest()[:24]}


def _signal_data(signal_type: str, facets: dict, band: str, user_id: str, captured: datetime, attributes: dict) -> dict:
    return {
        "schema_version": 1,
        "signal_type": signal_type,
        "category": CATEGORY_OF.get(signal_type, "quality_signal"),
        "captured_at": captured.isoformat() + "Z",
        "user_ref": _user_ref(user_id),
        "signature": {**facets, "confidence_band": band},
        "cluster_signature": upstream_signature(signal_type, facets, band),
        "attributes": attributes,
    }


class _DayBuilder:
    def __init__(self, day: date):
        self.day = day
        self.rng = np.random.default_rng(int(day.strftime("%Y%m%d")))
        self.rows: list[dict] = []

    def _time(self) -> datetime:
        # Whole seconds within the day, leaving room for captured_at a little earlier.
        return datetime.combine(self.day, datetime.min.time()) + timedelta(seconds=int(self.rng.integers(600, 86_000)))

    def add(
        self,
        user_id: str | None,
        event_type: str,
        data,
        *,
        event_id: str | None = None,
        ts: str | None = None,
        metadata: dict | None = None,
    ) -> str:
        n = len(self.rows)
        event_id = event_id if event_id is not None else str(uuid.uuid5(_NAMESPACE, f"{self.day}:{n}"))
        self.rows.append(
            {
                "source_ref": f"demo:{self.day}:{n:07d}",
                "id": event_id,
                "user_id": user_id,
                "timestamp": ts if ts is not None else self._time().isoformat() + "Z",
                "event_type": event_type,
                "data": data if isinstance(data, str) or data is None else orjson.dumps(data).decode(),
                "metadata": orjson.dumps(
                    metadata or {"source": "demo", "agent": _AGENT, "session_id": f"s-{n}"}
                ).decode(),
                "parse_error": None,
                "fallback_time": None,
            }
        )
        return event_id

    def signal(
        self, user_id: str, signal_type: str, facets: dict, band: str = "high", attributes: dict | None = None, **kw
    ) -> str:
        t = self._time()
        data = _signal_data(signal_type, facets, band, user_id, t - timedelta(seconds=30), attributes or {})
        return self.add(user_id, SIGNAL_EVENT, data, ts=t.isoformat() + "Z", **kw)


@dataclass(frozen=True)
class PlantedClaimClass:
    """Claims of one class a day: how many, at what confidence, how many turn out wrong (per week)."""

    claim_type: str
    parser_version: str
    per_day: int
    confidence: float
    wrong_per_day: tuple[int, int]  # first demo week, second demo week


#: Calibration ground truth: healthy, badly calibrated, drifting in week two, too few samples.
PLANTED_CLAIMS = (
    PlantedClaimClass("set.weight_kg", "parser-1.4", 12, 0.92, (1, 1)),
    PlantedClaimClass("set.reps", "parser-1.4", 12, 0.93, (6, 6)),
    PlantedClaimClass("set.rpe", "parser-2.0", 12, 0.92, (1, 4)),
    PlantedClaimClass("session.notes", "parser-1.4", 2, 0.70, (0, 0)),
)


def _plant_claims(b: _DayBuilder, index: int) -> None:
    """Claims extracted from source events; wrong ones are withdrawn (retraction) or corrected in
    the claimed field. A decoy correction of another field must not make a claim wrong."""
    week = 0 if index < 7 else 1
    for spec in PLANTED_CLAIMS:
        field = spec.claim_type.rsplit(".", 1)[-1]
        for i in range(spec.per_day):
            user = f"user-claims-{i % 4:04d}"
            source = str(uuid.uuid5(_NAMESPACE, f"source:{b.day}:{spec.claim_type}:{i}"))
            b.add(
                user,
                CLAIM_EVENT,
                {
                    "claim_type": spec.claim_type,
                    "confidence": spec.confidence,
                    "provenance": {"parser_version": spec.parser_version},
                    "lineage": {"event_id": source},
                },
            )
            if i < spec.wrong_per_day[week]:
                if i % 2:
                    b.add(user, RETRACTION_EVENT, {"retracted_event_id": source, "reason": "user_undo"})
                else:
                    b.add(
                        user,
                        CORRECTION_EVENT,
                        {"target_event_id": source, "changed_fields": {field: {"from": 1, "to": 2}}},
                    )
            elif i == spec.per_day - 1:
                b.add(
                    user,
                    CORRECTION_EVENT,
                    {"target_event_id": source, "changed_fields": {"comment": {"from": "", "to": "x"}}},
                )


def _plant(b: _DayBuilder, index: int) -> None:
    day = b.day.isoformat()
    critical = {"mismatch_severity": "critical", "field": "weight_kg"}
    for k in range(2):  # the kura scoring notes' worked example, two new users a day
        user = f"user-save-{index * 2 + k:04d}"
        b.signal(user, "save_claim_mismatch_attempt", SAVE_MISMATCH, attributes=critical)
        b.signal(user, "save_claim_mismatch_attempt", SAVE_MISMATCH, attributes=critical)
        b.signal(user, "workflow_violation", SAVE_MISMATCH)
    for k in range(5):  # the same five users every day
        b.signal(f"user-clar-{k:04d}", "clarification_requested", CLARIFICATION, band="medium")
    for _ in range(10):
        b.signal("user-dominant-0001", "quality_issue_detected", DOMINATED)
    for k in range(2):
        b.signal(f"user-qa-{index * 2 + k:04d}", "quality_issue_detected", DOMINATED)
    for k, band in enumerate(("high", "medium", "high")):
        b.signal(f"user-flow-{index * 2 + k % 2:04d}", "workflow_violation", MIXED_BAND, band=band)
    # Noise: signatures unique to the day, too small or from a single user.
    for k in range(12):
        noise = _facets(f"noise_{k % 4}", f"INV-NOISE-{day}-{k}", "misc")
        for _ in range(1 + k % 2):
            b.signal(f"user-noise-{index:02d}-{k:02d}", "repair_proposed", noise)
    lone = _facets("lone_user", f"INV-LONE-{day}", "misc")
    for _ in range(3):
        b.signal("user-lone-0001", "save_handshake_pending", lone)
    # Low-confidence and retracted events that would otherwise join save_mismatch.
    for k in range(4):
        b.signal(f"user-low-{k:04d}", "save_claim_mismatch_attempt", SAVE_MISMATCH, band="low", attributes=critical)
    for k in range(2):
        withdrawn = b.signal(f"user-retract-{k:04d}", "save_claim_mismatch_attempt", SAVE_MISMATCH, attributes=critical)
        b.add(f"user-retract-{k:04d}", RETRACTION_EVENT, {"retracted_event_id": withdrawn, "reason": "user_undo"})
    _plant_bad_rows(b, index)


_DELETE = object()  # marks a field a bad row leaves out


def _plant_bad_rows(b: _DayBuilder, index: int) -> None:
    """One row per reject reason (several per reason where the input can be bad in several ways)."""
    t = b._time()
    good = _signal_data("workflow_violation", MIXED_BAND, "high", "user-bad-0001", t, {})

    def variant(**changes) -> dict:
        data = json.loads(json.dumps(good))
        for path, value in changes.items():
            target, keys = data, path.split("__")
            for k in keys[:-1]:
                target = target[k]
            if value is _DELETE:
                target.pop(keys[-1], None)
            else:
                target[keys[-1]] = value
        return data

    user = "user-bad-0001"
    ts = (t + timedelta(seconds=30)).isoformat() + "Z"  # just after captured_at: only the planted fault counts
    bad_rows = [
        '{"schema_version": 1, "signal_type": "workflow_vio',  # malformed JSON
        ["not", "an", "object"],  # wrong type
        variant(schema_version=2),
        variant(signal_type=17),  # wrong field type
        variant(category=_DELETE),  # missing field
        variant(cluster_signature="ls_\u0007bell"),  # a control character in the signature
        variant(captured_at="yesterday-ish"),  # unparseable timestamp
        variant(captured_at=(t - timedelta(days=3)).isoformat() + "Z"),  # out of range
        variant(attributes={"blob": "x" * 70_000}),  # huge payload
        variant(user_ref=_DELETE),
        variant(signature__confidence_band="extreme"),
        variant(signature__modality=_DELETE),
        variant(cluster_signature=_DELETE),
    ]
    for data in bad_rows:
        b.add(user, SIGNAL_EVENT, data, ts=ts)
    # Not a bad row: a signal type the scoring does not know is scored with the default weights (its own, noise-sized issue).
    unknown = _facets("unknown_type_probe", f"INV-NEW-{b.day}", "misc")
    b.add(user, SIGNAL_EVENT, _signal_data("made_up_signal", unknown, "high", user, t, {}), ts=ts)
    b.add("", SIGNAL_EVENT, variant(), ts=ts)  # no user id
    probe = b.signal(f"user-dup-{index:04d}", "repair_proposed", _facets("dup_probe", f"INV-DUP-{b.day}", "misc"))
    copy = dict(b.rows[-1], source_ref=f"demo:{b.day}:{len(b.rows):07d}")
    copy["timestamp"] = (datetime.combine(b.day, datetime.min.time()) + timedelta(seconds=86_100)).isoformat() + "Z"
    b.rows.append(copy)  # the same event delivered again, later: a duplicate id
    assert copy["id"] == probe


def _background(b: _DayBuilder, n: int) -> None:
    """Volume for benchmarks: ``n`` signals over 2,000 issues (Zipf-like; each seen through one signal
    type, in up to three confidence bands, hence up to three upstream signatures) and 5,000 users."""
    if n <= 0:
        return
    rng = np.random.default_rng(int(b.day.strftime("%Y%m%d")) + 1)
    types = sorted(REFERENCE_SEVERITY)
    sig_ids = np.minimum((rng.pareto(1.2, n) * 40).astype(int), 1999)
    users = rng.integers(0, 5000, n)
    type_idx = sig_ids % len(types)
    bands = rng.choice(np.array(["high", "high", "medium", "low"]), n)
    seconds = np.sort(rng.integers(600, 86_000, n))
    base = datetime.combine(b.day, datetime.min.time())
    for i in range(n):
        signal_type = types[type_idx[i]]
        facets = _facets(
            f"bg_issue_{sig_ids[i] % 97}", f"INV-BG-{sig_ids[i]:04d}", ("plan", "log", "save", "review")[sig_ids[i] % 4]
        )
        t = base + timedelta(seconds=int(seconds[i]))
        attributes = {"mismatch_severity": "warning"} if signal_type == "save_claim_mismatch_attempt" else {}
        data = _signal_data(
            signal_type, facets, str(bands[i]), f"bg-user-{users[i]:05d}", t - timedelta(seconds=5), attributes
        )
        b.add(f"bg-user-{users[i]:05d}", SIGNAL_EVENT, data, ts=t.isoformat() + "Z")


@lru_cache(maxsize=16)
def generate_day(day: date, background: int = 0) -> pd.DataFrame:
    """All raw events whose row timestamp falls on ``day`` (same day, same rows)."""
    b = _DayBuilder(day)
    _plant(b, (day - DEMO_START).days)
    _plant_claims(b, (day - DEMO_START).days)
    _background(b, background)
    return pd.DataFrame(b.rows, columns=RAW_COLUMNS)


def events_between(start: datetime, end: datetime, background: int = 0) -> pd.DataFrame:
    """Demo rows with row timestamp in ``[start, end)`` (UTC)."""
    days = pd.date_range(start.date(), end.date(), freq="D")
    frame = pd.concat([generate_day(d.date(), background) for d in days], ignore_index=True)
    ts = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601").dt.tz_localize(None)
    return frame[(ts >= pd.Timestamp(start)) & (ts < pd.Timestamp(end))].reset_index(drop=True)


def to_jsonl_lines(frame: pd.DataFrame) -> list[str]:
    """Raw rows as event-store JSONL lines; rows whose data is not JSON become broken lines."""
    lines = []
    for r in frame.itertuples(index=False):
        head = {"id": r.id, "user_id": r.user_id, "timestamp": r.timestamp, "event_type": r.event_type}
        try:
            data = orjson.loads(r.data)
        except orjson.JSONDecodeError:
            lines.append(orjson.dumps(head).decode()[:-1] + ',"data":' + r.data)
            continue
        lines.append(orjson.dumps({**head, "data": data, "metadata": orjson.loads(r.metadata)}).decode())
    return lines
