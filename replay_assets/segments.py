"""Validate a tick's video segments (pure): every row becomes a segment or a kept reject with its reason.

A segment: ``team_id, document_id (session_id:start:end), session_id, distinct_id, start_time,
end_time, timestamp, inserted_at, content, embedding``. A team's embeddings have one fixed
dimension: the one its existing tasks use, else the tick's most common one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

COLUMNS = ["team_id", "document_id", "session_id", "distinct_id", "start_time", "end_time", "timestamp", "inserted_at",
           "content", "embedding"]


@dataclass
class ValidatedSegments:
    segments: pd.DataFrame   # valid rows, without the embedding column
    embeddings: np.ndarray   # float32, one row per valid segment, same order
    rejects: pd.DataFrame    # invalid rows with their position (row_number), reason and detail (no embedding)
    dimension: int | None


def expected_dimension(embeddings: pd.Series, known: int | None = None) -> int | None:
    """The team's dimension: the known one, else the most common in the tick (ties: the smaller)."""
    if known:
        return known
    sizes = Counter(len(e) for e in embeddings if e is not None and hasattr(e, "__len__"))
    return min(sizes, key=lambda d: (-sizes[d], d)) if sizes else None


def validate_segments(frame: pd.DataFrame, known_dimension: int | None = None) -> ValidatedSegments:
    # Canonical order, so the same rows in any order give the same segments, rejects and clusters.
    frame = frame.reindex(columns=COLUMNS).sort_values(["inserted_at", "document_id", "content"], kind="mergesort",
                                                       na_position="last").reset_index(drop=True)
    dimension = expected_dimension(frame["embedding"], known_dimension)
    reasons, details = [], []
    seen: set[str] = set()
    for row in frame.itertuples(index=False):
        reason, detail = _check(row, dimension, seen)
        reasons.append(reason)
        details.append(detail)
        if reason is None:
            seen.add(row.document_id)
    frame["reason"], frame["detail"] = reasons, details
    ok = frame["reason"].isna()
    valid = frame[ok].reset_index(drop=True)
    embeddings = np.stack([np.asarray(e, dtype=np.float32) for e in valid["embedding"]]) if len(valid) else \
        np.empty((0, dimension or 0), dtype=np.float32)
    rejects = frame[~ok].drop(columns=["embedding"]).rename_axis("row_number").reset_index()
    return ValidatedSegments(valid.drop(columns=["embedding", "reason", "detail"]), embeddings, rejects, dimension)


def _check(row, dimension: int | None, seen: set[str]) -> tuple[str | None, str | None]:
    for field in ("team_id", "document_id", "session_id", "distinct_id", "start_time", "end_time", "inserted_at", "content"):
        value = getattr(row, field)
        if value is None or (isinstance(value, float) and np.isnan(value)) or (isinstance(value, str) and not value.strip()) \
                or value is pd.NaT:
            return "missing_field", f"{field} is missing"
    parts = str(row.document_id).split(":")
    if len(parts) != 3 or parts[0] != str(row.session_id):
        return "malformed_document_id", "document_id is not session_id:start:end"
    if pd.Timestamp(row.end_time) < pd.Timestamp(row.start_time):
        return "invalid_times", "end_time is before start_time"
    vector = row.embedding
    if vector is None or not hasattr(vector, "__len__") or len(vector) != dimension:
        return "wrong_dimension", f"embedding has {len(vector) if hasattr(vector, '__len__') else 0} dimensions, the team uses {dimension}"
    values = np.asarray(vector, dtype=np.float64)
    if not np.isfinite(values).all():
        return "non_finite_embedding", "embedding holds NaN or infinite values"
    if not np.any(values):
        return "zero_embedding", "embedding is all zeros"
    if row.document_id in seen:
        return "duplicate_document_id", "the same segment arrived earlier in this tick"
    return None, None
