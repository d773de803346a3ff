"""Reference priority scoring of learning-signal clusters (Kura 2zc.2), vectorised.

``priority = frequency * severity * impact * reproducibility``; every constant lives in
:class:`ScoringParams` so it can be changed through Dagster config and is recorded with
each cluster. The defaults reproduce the kura scoring notes (Kura 2zc.2; their worked example scores 0.362604).
"""

from __future__ import annotations

from typing import Literal

import duckdb
import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

MISMATCH_SIGNAL = "save_claim_mismatch_attempt"
FORMULA = "priority = frequency * severity * impact * reproducibility"

REFERENCE_SEVERITY = {
    "save_claim_mismatch_attempt": 1.00,
    "workflow_violation": 0.95,
    "quality_issue_detected": 0.90,
    "repair_auto_rejected": 0.88,
    "repair_simulated_risky": 0.80,
    "save_handshake_pending": 0.78,
    "clarification_requested": 0.72,
    "repair_proposed": 0.65,
    "repair_simulated_safe": 0.55,
    "repair_auto_applied": 0.50,
    "repair_verified_closed": 0.45,
    "save_handshake_verified": 0.35,
    "workflow_phase_transition_closed": 0.30,
}
REFERENCE_IMPACT = {
    "save_claim_mismatch_attempt": 1.00,
    "workflow_violation": 0.95,
    "quality_issue_detected": 0.86,
    "repair_auto_rejected": 0.90,
    "repair_simulated_risky": 0.82,
    "save_handshake_pending": 0.78,
    "clarification_requested": 0.72,
    "repair_proposed": 0.60,
    "repair_simulated_safe": 0.52,
    "repair_auto_applied": 0.48,
    "repair_verified_closed": 0.44,
    "save_handshake_verified": 0.36,
    "workflow_phase_transition_closed": 0.30,
}


class ScoringParams(BaseModel):
    """Thresholds and weights of cluster publication and scoring (defaults: the kura scoring notes)."""

    min_support: int = Field(3, description="Fewest events (after the dominance cap) a published cluster has.")
    min_unique_users: int = Field(2, description="Fewest distinct pseudonymous users a published cluster has.")
    max_events_per_user: int = Field(3, description="Events one user may contribute per cluster and period.")
    frequency_reference_events: float = 12.0
    reproducibility_reference_users: float = 4.0
    reproducibility_reference_events_per_user: float = 2.0
    representative_examples: int = 3
    group_by: Literal["cluster_signature", "facets"] = Field(
        "cluster_signature",
        description="cluster_signature: a cluster is the events sharing their own cluster_signature, published "
        "under it (the kura notes: no hidden merge). facets: events are regrouped by signature_facets under a "
        "signature recomputed from them, e.g. to keep one issue's confidence bands and signal types together.",
    )
    signature_facets: list[str] = Field(
        default_factory=lambda: ["issue_type", "invariant_id", "agent_version", "workflow_phase", "modality"],
        description="Facets shown in a cluster's signature and summary; with group_by=facets, also the facets "
        "that define a cluster.",
    )
    severity_weights: dict[str, float] = Field(default_factory=lambda: dict(REFERENCE_SEVERITY))
    impact_weights: dict[str, float] = Field(default_factory=lambda: dict(REFERENCE_IMPACT))
    default_severity: float = 0.60
    category_impact: dict[str, float] = Field(
        default_factory=lambda: {
            "friction_signal": 0.82,
            "quality_signal": 0.68,
            "correction_signal": 0.60,
            "outcome_signal": 0.42,
        }
    )
    default_impact: float = 0.60
    mismatch_severity_factors: dict[str, float] = Field(
        default_factory=lambda: {"critical": 1.0, "warning": 0.5, "info": 0.1, "none": 0.0}
    )
    unknown_mismatch_severity: str = Field("warning", description="Assumed when a mismatch names no severity.")
    confidence_factors: dict[str, float] = Field(default_factory=lambda: {"high": 1.0, "medium": 0.92, "low": 0.75})
    score_decimals: int = 6


def weight_tables(params: ScoringParams) -> dict[str, pd.DataFrame]:
    """The weight lookups as small tables, to join against events in SQL."""
    return {
        "w_signal": pd.DataFrame(
            {"signal_type": list(params.severity_weights), "sev": list(params.severity_weights.values())}
        ).merge(
            pd.DataFrame({"signal_type": list(params.impact_weights), "imp": list(params.impact_weights.values())}),
            how="outer",
        ),
        "w_category": pd.DataFrame(
            {"category": list(params.category_impact), "cat_imp": list(params.category_impact.values())}
        ),
        "w_mismatch": pd.DataFrame(
            {
                "mismatch_severity": list(params.mismatch_severity_factors),
                "mis": list(params.mismatch_severity_factors.values()),
            }
        ),
        "w_band": pd.DataFrame(
            {"confidence_band": list(params.confidence_factors), "band": list(params.confidence_factors.values())}
        ),
    }


WEIGHT_JOINS = """
    LEFT JOIN w_signal USING (signal_type) LEFT JOIN w_category USING (category)
    LEFT JOIN w_mismatch USING (mismatch_severity) LEFT JOIN w_band USING (confidence_band)
"""


def weight_sql(params: ScoringParams) -> tuple[str, str]:
    """SQL for per-event (severity, impact) over an events table joined with :data:`WEIGHT_JOINS`.

    Severity: signal weight (default for unlisted types) x mismatch severity (mismatch signals
    only) x confidence band. Impact: signal weight, else by category, else the default, x mismatch.
    """
    unknown = params.mismatch_severity_factors.get(params.unknown_mismatch_severity, 1.0)
    mismatch = f"(CASE WHEN signal_type = '{MISMATCH_SIGNAL}' THEN coalesce(mis, {unknown}) ELSE 1.0 END)"
    severity = f"coalesce(sev, {params.default_severity}) * {mismatch} * coalesce(band, 1.0)"
    impact = f"coalesce(imp, cat_imp, {params.default_impact}) * {mismatch}"
    return severity, impact


def event_weights(events: pd.DataFrame, params: ScoringParams) -> tuple[np.ndarray, np.ndarray]:
    """Per-event (severity, impact) weights, in the events' order."""
    severity, impact = weight_sql(params)
    con = duckdb.connect()
    try:
        for name, table in weight_tables(params).items():
            con.register(name, table)
        con.register(
            "events",
            events[["signal_type", "category", "mismatch_severity", "confidence_band"]].assign(
                pos=np.arange(len(events))
            ),
        )
        out = con.sql(
            f"SELECT {severity} AS severity, {impact} AS impact FROM events {WEIGHT_JOINS} ORDER BY pos"
        ).fetchnumpy()
    finally:
        con.close()
    return out["severity"].astype("float64"), out["impact"].astype("float64")


def score_clusters(
    events: np.ndarray, users: np.ndarray, severity: np.ndarray, impact: np.ndarray, params: ScoringParams
) -> pd.DataFrame:
    """Score factors and score for clusters given counts and mean weights (arrays aligned)."""
    events = np.asarray(events, dtype="float64")
    users = np.maximum(np.asarray(users, dtype="float64"), 1.0)
    frequency = np.minimum(1.0, events / params.frequency_reference_events)
    reproducibility = (
        np.minimum(1.0, users / params.reproducibility_reference_users)
        + np.minimum(1.0, (events / users) / params.reproducibility_reference_events_per_user)
    ) / 2.0
    severity = np.clip(severity, 0.0, 1.0)
    impact = np.clip(impact, 0.0, 1.0)
    d = params.score_decimals
    return pd.DataFrame(
        {
            "frequency": np.round(frequency, d),
            "severity": np.round(severity, d),
            "impact": np.round(impact, d),
            "reproducibility": np.round(reproducibility, d),
            "score": np.round(frequency * severity * impact * reproducibility, d),
        }
    )
