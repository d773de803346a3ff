"""The learning-to-backlog bridge (Kura 2zc.3): recurring issue clusters and badly calibrated
extraction classes become ranked, deduplicated, approval-gated backlog candidates (pure).

A week's candidates take the human decisions made up to the end of that week into account:
approved and promoted candidates are never rewritten, a dismissed one that recurs returns to
``candidate``. Decisions themselves are validated by :func:`check_decision`.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from kura_assets.tables import LEARNING_BACKLOG_CANDIDATES
from platform_core.hashing import canonical_json

STATUSES = ("candidate", "approved", "dismissed", "promoted")
#: Allowed human decisions from each status (dismissed candidates come back only by recurring).
TRANSITIONS = {"candidate": ("approved", "dismissed"), "approved": ("promoted",), "dismissed": (), "promoted": ()}
FROZEN = ("approved", "promoted")  # never rewritten by the bridge


class BridgeParams(BaseModel):
    """Noise filters, caps and priority weights of the bridge (defaults: the kura backlog-bridge notes)."""

    cluster_min_score: float = 0.18
    cluster_min_events: int = 3
    cluster_min_users: int = 2
    calibration_min_samples: int = 3
    max_per_source: int = 6
    max_per_run: int = 12
    p1_priority: float = 0.60
    p2_priority: float = 0.35


class IssuePayload(BaseModel):
    """What an approved candidate files as an issue elsewhere: complete and machine-readable."""

    model_config = ConfigDict(extra="forbid")
    candidate_key: str = Field(pattern=r"^(cluster|calibration):.+:[0-9a-f]{16}$")
    title: str = Field(min_length=5)
    priority: str = Field(pattern=r"^P[123]$")
    priority_score: float = Field(ge=0, le=1)
    source_type: str
    source_ref: str
    source_period_key: str
    root_cause_hypothesis: str
    impacted_metrics: list[str]
    suggested_updates: dict[str, list[str]]
    promotion_checklist: list[dict]
    labels: list[str]
    approval_required: bool


def candidate_key(prefix: str, source_ref: str) -> str:
    return f"{prefix}:{source_ref}:" + hashlib.sha256(f"{prefix}:{source_ref}".encode()).hexdigest()[:16]


def priority_label(priority: float, params: BridgeParams) -> str:
    return "P1" if priority >= params.p1_priority else "P2" if priority >= params.p2_priority else "P3"


def cluster_priority(score, events, users) -> np.ndarray:
    """clamp01(score + min(0.20, events/20 * 0.10 + users/8 * 0.10)); 0.417604 for the worked example."""
    boost = np.minimum(0.20, np.asarray(events) / 20 * 0.10 + np.asarray(users) / 8 * 0.10)
    return np.round(np.clip(np.asarray(score, dtype="float64") + boost, 0.0, 1.0), 6)


def calibration_priority(brier, precision, samples, drift) -> np.ndarray:
    """clamp01(0.45 min(1, brier/0.35) + 0.35 (1 - precision, 0.5 when unknown) + 0.20 min(1, n/20) + 0.12 drift)."""
    miss = 1.0 - pd.Series(precision, dtype="float64").to_numpy()
    miss = np.where(np.isnan(miss), 0.5, miss)
    raw = (
        0.45 * np.minimum(1.0, np.asarray(brier, dtype="float64") / 0.35)
        + 0.35 * miss
        + 0.20 * np.minimum(1.0, np.asarray(samples, dtype="float64") / 20)
        + 0.12 * np.asarray(drift, dtype="float64")
    )
    return np.round(np.clip(raw, 0.0, 1.0), 6)


def _checklist() -> list[dict]:
    return [
        {"step": "human_approval", "mode": "manual", "done": False},
        {"step": "root_cause_hypothesis_attached", "mode": "auto", "done": True},
        {"step": "invariant_policy_mapping_attached", "mode": "auto", "done": True},
        {"step": "regression_test_plan_attached", "mode": "auto", "done": True},
        {"step": "regression_test_implemented", "mode": "manual", "done": False},
        {"step": "shadow_reevaluation_passed", "mode": "manual", "done": False},
    ]


def cluster_candidates(clusters: pd.DataFrame, params: BridgeParams) -> tuple[pd.DataFrame, int]:
    """Candidates from a week's published clusters, and how many were filtered as noise."""
    if clusters.empty:
        return _empty(), 0
    agg = [json.loads(a) for a in clusters["aggregates"]]
    sig = [json.loads(s) for s in clusters["signature"]]
    events = np.array([a["event_count"] for a in agg])
    users = np.array([a["unique_pseudo_users"] for a in agg])
    keep = (
        (clusters["score"].to_numpy() >= params.cluster_min_score)
        & (events >= params.cluster_min_events)
        & (users >= params.cluster_min_users)
    )
    priority = cluster_priority(clusters["score"], events, users)
    rows = []
    for i in np.flatnonzero(keep):
        c, a, s = clusters.iloc[i], agg[i], sig[i]
        issue = s.get("issue_type", "issue")
        where = f"{s.get('invariant_id', '?')} in phase {s.get('workflow_phase', '?')}"
        signals = ", ".join(a["top_signals"][:3])
        rows.append(
            {
                "source_type": "cluster",
                "source_ref": c["cluster_signature"],
                "source_period_key": c["period_key"],
                "priority_score": float(priority[i]),
                "title": f"Fix recurring {issue} on {where} ({a['event_count']} events, {a['unique_pseudo_users']} users)",
                "root_cause_hypothesis": f"{issue} recurs for {a['unique_pseudo_users']} users on {where} "
                f"(agent {s.get('agent_version', '?')}, {s.get('modality', '?')}); dominant signals: {signals}.",
                "impacted_metrics": ["learning_signal_rate", *(f"signal:{t}" for t in a["top_signals"][:3])],
                "suggested_updates": {
                    "invariants": [
                        f"Enforce {s.get('invariant_id', 'the invariant')} before {s.get('workflow_phase', 'the phase')} completes"
                    ],
                    "policies": [f"Block {issue} responses in phase {s.get('workflow_phase', '?')} until re-checked"],
                    "regression_tests": [
                        f"Replay the {len(json.loads(c['representative_examples']))} representative events of "
                        f"{c['cluster_signature']} and assert no {', '.join(a['top_signals'][:2])}"
                    ],
                },
            }
        )
    return _finish(pd.DataFrame(rows), "cluster"), int((~keep).sum())


def calibration_candidates(classes: pd.DataFrame, params: BridgeParams) -> tuple[pd.DataFrame, int]:
    """Candidates from a week's underperforming extraction classes, and how many were noise."""
    if classes.empty:
        return _empty(), 0
    keep = classes["sample_count"].to_numpy() >= params.calibration_min_samples
    priority = calibration_priority(
        classes["brier_score"],
        classes["precision_at_high"],
        classes["sample_count"],
        classes["drift_alert"].astype(float),
    )
    rows = []
    for i in np.flatnonzero(keep):
        c = classes.iloc[i]
        ref = f"{c['claim_type']}:{c['parser_version']}:{c['status']}"
        drift = f", Brier up {c['brier_delta']:.3f} on the week before" if c["drift_alert"] else ""
        rows.append(
            {
                "source_type": "calibration",
                "source_ref": ref,
                "source_period_key": c["period_key"],
                "priority_score": float(priority[i]),
                "title": f"Recalibrate {c['claim_type']} extraction ({c['parser_version']}): {c['status']}{' and drifting' if c['drift_alert'] else ''}",
                "root_cause_hypothesis": f"Parser {c['parser_version']} is over-confident on {c['claim_type']}: Brier "
                f"{c['brier_score']:.3f} over {c['sample_count']} claims{drift}.",
                "impacted_metrics": ["brier_score", "precision_at_high", f"claim:{c['claim_type']}"],
                "suggested_updates": {
                    "invariants": [f"Require confirmation of {c['claim_type']} claims below calibrated confidence"],
                    "policies": [
                        f"Cap the confidence of {c['parser_version']} on {c['claim_type']} until recalibrated"
                    ],
                    "regression_tests": [
                        f"Hold out the week's corrected {c['claim_type']} claims and assert Brier < 0.20"
                    ],
                },
            }
        )
    return _finish(pd.DataFrame(rows), "calibration"), int((~keep).sum())


def _finish(rows: pd.DataFrame, prefix: str) -> pd.DataFrame:
    if rows.empty:
        return _empty()
    rows.insert(0, "candidate_key", [candidate_key(prefix, r) for r in rows["source_ref"]])
    return rows


_COLUMNS = [
    "candidate_key",
    "source_type",
    "source_ref",
    "source_period_key",
    "priority_score",
    "title",
    "root_cause_hypothesis",
    "impacted_metrics",
    "suggested_updates",
]


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64" if c == "priority_score" else "object") for c in _COLUMNS})


def select_candidates(
    candidates: pd.DataFrame, existing: dict[str, str], params: BridgeParams
) -> tuple[pd.DataFrame, dict]:
    """Dedupe, order, skip decided ones, cap; returns the week's candidates and the run's counts.

    ``existing`` maps candidate keys to their status at the end of the week (from decisions).
    """
    considered = len(candidates)
    ranked = candidates.sort_values(["priority_score", "candidate_key"], ascending=[False, True], kind="mergesort")
    deduped = ranked.drop_duplicates("candidate_key", keep="first")
    in_run_duplicates = considered - len(deduped)
    ordered = deduped.sort_values(
        ["priority_score", "source_type", "candidate_key"], ascending=[False, True, True], kind="mergesort"
    )
    decided = ordered["candidate_key"].map(existing).isin(FROZEN)
    open_ = ordered[~decided]
    per_source = open_.groupby("source_type", sort=False).cumcount() < params.max_per_source
    capped = open_[per_source].head(params.max_per_run)
    stats = {
        "considered": considered,
        "duplicates_in_run": int(in_run_duplicates),
        "skipped_already_decided": int(decided.sum()),
        "limited_by_source_cap": int((~per_source).sum()),
        "limited_by_run_cap": int(per_source.sum() - len(capped)),
        "written": int(len(capped)),
    }
    return capped.reset_index(drop=True), stats


def finalize(
    selected: pd.DataFrame, existing: dict[str, str], params: BridgeParams, period_start, period_key: str
) -> pd.DataFrame:
    """The week's candidate rows: label, status, checklist and the validated issue payload."""
    rows = []
    for r in selected.to_dict("records"):
        before = existing.get(r["candidate_key"])
        label = priority_label(r["priority_score"], params)
        payload = IssuePayload(
            candidate_key=r["candidate_key"],
            title=r["title"],
            priority=label,
            priority_score=r["priority_score"],
            source_type=r["source_type"],
            source_ref=r["source_ref"],
            source_period_key=r["source_period_key"],
            root_cause_hypothesis=r["root_cause_hypothesis"],
            impacted_metrics=r["impacted_metrics"],
            suggested_updates=r["suggested_updates"],
            promotion_checklist=_checklist(),
            labels=["learning-bridge", r["source_type"], label.lower()],
            approval_required=True,
        )
        rows.append(
            {
                "period_start": pd.Timestamp(period_start),
                "period_key": period_key,
                "candidate_key": r["candidate_key"],
                "source_type": r["source_type"],
                "source_period_key": r["source_period_key"],
                "source_ref": r["source_ref"],
                "priority_score": r["priority_score"],
                "priority_label": label,
                "title": r["title"],
                "root_cause_hypothesis": r["root_cause_hypothesis"],
                "impacted_metrics": canonical_json(r["impacted_metrics"]),
                "suggested_updates": canonical_json(r["suggested_updates"]),
                "promotion_checklist": canonical_json(_checklist()),
                "issue_payload": canonical_json(payload.model_dump()),
                "approval_required": True,
                "previous_status": before,
                "status": "candidate",
            }
        )
    return pd.DataFrame(rows) if rows else LEARNING_BACKLOG_CANDIDATES.empty_frame()


class InvalidDecision(ValueError):
    """A decision that cannot be recorded: unknown candidate or a transition the lifecycle forbids."""


def check_decision(current_status: str | None, candidate: str, decision: str) -> None:
    """Raise :class:`InvalidDecision` unless ``decision`` may follow ``current_status``."""
    if decision not in STATUSES[1:]:
        raise InvalidDecision(f"decision must be one of approved, dismissed, promoted; got {decision!r}")
    if current_status is None:
        raise InvalidDecision(f"no backlog candidate has the key {candidate!r}")
    if decision not in TRANSITIONS[current_status]:
        allowed = ", ".join(TRANSITIONS[current_status]) or "nothing (it comes back only if it recurs)"
        raise InvalidDecision(f"{candidate} is {current_status}: it can become {allowed}, not {decision}")


CONTENT = (
    "source_type",
    "source_period_key",
    "source_ref",
    "priority_score",
    "priority_label",
    "title",
    "root_cause_hypothesis",
    "impacted_metrics",
    "suggested_updates",
    "promotion_checklist",
    "issue_payload",
    "approval_required",
)


def backlog_state(candidates: pd.DataFrame, decisions: pd.DataFrame) -> pd.DataFrame:
    """The current state of every candidate: the weeks' proposals and the human decisions,
    replayed in time order (a week's proposal counts at the week's end).

    Approved and promoted candidates keep the content they were decided on; candidate and
    dismissed ones take the latest proposal, and a dismissed one proposed again is a candidate.
    """
    events = [
        (pd.Timestamp(r["period_start"]) + pd.Timedelta(days=7), 0, r["candidate_key"], "proposed", r)
        for r in candidates.to_dict("records")
    ]
    events += [
        (pd.Timestamp(d["decided_at"]), 1, d["candidate_key"], "decided", d) for d in decisions.to_dict("records")
    ]
    state: dict[str, dict] = {}
    for _, _, key, kind, r in sorted(events, key=lambda e: e[:3]):
        s = state.get(key)
        if kind == "proposed":
            if s is None:
                s = state[key] = {
                    "candidate_key": key,
                    "status": "candidate",
                    "first_proposed_week": r["period_key"],
                    "weeks_proposed": 0,
                    "decided_by": None,
                    "decided_at": None,
                    "decision_note": None,
                }
            s["weeks_proposed"] += 1
            s["last_proposed_week"] = r["period_key"]
            if s["status"] not in FROZEN:
                s.update({c: r[c] for c in CONTENT})
                s["status"] = "candidate"
        elif s is not None:
            s.update(status=r["decision"], decided_by=r["actor"], decided_at=r["decided_at"], decision_note=r["note"])
    columns = [
        "candidate_key",
        *CONTENT,
        "status",
        "first_proposed_week",
        "last_proposed_week",
        "weeks_proposed",
        "decided_by",
        "decided_at",
        "decision_note",
    ]
    frame = pd.DataFrame([state[k] for k in sorted(state)], columns=columns)
    frame["decided_at"] = pd.to_datetime(frame["decided_at"]).astype("datetime64[us]")
    return frame
