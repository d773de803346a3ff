"""The output contract of a published cluster, checked row by row before it is written."""

from __future__ import annotations

import json

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kura_assets.signals import MAX_SIGNATURE_CHARS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScoreFactors(_Strict):
    frequency: float = Field(ge=0, le=1)
    severity: float = Field(ge=0, le=1)
    impact: float = Field(ge=0, le=1)
    reproducibility: float = Field(ge=0, le=1)
    formula: str
    references: dict[str, float]


class Aggregates(_Strict):
    event_count: int = Field(ge=1)
    unique_pseudo_users: int = Field(ge=1)
    first_seen: str
    last_seen: str
    signal_counts: dict[str, int]
    top_signals: list[str]
    confidence_bands: dict[str, int]
    source_cluster_signatures: list[str]


class Phase(_Strict):
    workflow_phase: str
    events: int = Field(ge=1)


class Example(_Strict):
    event_id: str
    captured_at: str
    signal_type: str
    confidence_band: str
    workflow_phase: str
    attributes: dict


class Controls(BaseModel):  # open: carries extra run facts such as low-confidence counts
    min_support: int
    min_unique_users: int
    max_events_per_user: int
    dominance_dropped_events: int = Field(ge=0)
    signature_facets: list[str]
    status: str


class ClusterRow(_Strict):
    cluster_signature: str = Field(min_length=1, max_length=MAX_SIGNATURE_CHARS, pattern=r"^[^\x00-\x1f\x7f]+$")
    period_granularity: str = Field(pattern=r"^(day|week)$")
    period_key: str
    summary: str = Field(min_length=1)
    score: float = Field(ge=0, le=1)
    signature: dict[str, str]
    score_factors: ScoreFactors
    aggregates: Aggregates
    affected_workflow_phases: list[Phase]
    representative_examples: list[Example]
    false_positive_controls: Controls


JSON_FIELDS = (
    "signature",
    "score_factors",
    "aggregates",
    "affected_workflow_phases",
    "representative_examples",
    "false_positive_controls",
)


def contract_problems(clusters: pd.DataFrame) -> list[str]:
    """Rows of ``clusters`` that break :class:`ClusterRow`, as messages."""
    problems = []
    for row in clusters.to_dict("records"):
        payload = {k: row[k] for k in ClusterRow.model_fields if k not in JSON_FIELDS}
        try:
            payload.update({k: json.loads(row[k]) for k in JSON_FIELDS})
            ClusterRow.model_validate(payload)
        except (ValidationError, ValueError, TypeError) as exc:
            problems.append(f"{row.get('cluster_signature')}: {exc}")
    return problems
