"""Validate a tick's video segments (pure): every row becomes a segment or a kept reject with its reason.

A segment: ``team_id, document_id (session_id:start:end), session_id, distinct_id, start_time,
end_time, timestamp, inserted_at, content, embedding``. A team's embeddings have one fixed
dimension: the one its existing tasks use, else the tick's most common one.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from platform_core.privacy import RawIds
from platform_core.times import parse_times

COLUMNS = [
    "team_id",
    "document_id",
    "session_id",
    "distinct_id",
    "start_time",
    "end_time",
    "timestamp",
    "inserted_at",
    "content",
    "embedding",
]


@dataclass
class ValidatedSegments:
    segments: pd.DataFrame  # valid rows, without the embedding column
    embeddings: np.ndarray  # float32, one row per valid segment, same order
    rejects: pd.DataFrame  # invalid rows with their position (row_number), reason and detail (no embedding)
    dimension: int | None


def _as_vector(value) -> np.ndarray | None:
    """An embedding as float32 numbers, or None when it is not a flat list of numbers (text too)."""
    if value is None or isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        return None
    try:
        with np.errstate(over="ignore"):
            vector = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        return None
    return vector if vector.ndim == 1 else None


def _digest(value) -> str:
    """A stable text for any embedding value: its float32 bytes' hash, or its text when it has none."""
    vector = _as_vector(value)
    if vector is None:
        return "" if value is None else f"~{value!r}"
    return hashlib.sha256(np.ascontiguousarray(vector, dtype="<f4").tobytes()).hexdigest()


def _as_time(value) -> pd.Timestamp:
    """A time as a naive timestamp (UTC where it carried a zone), NaT when it is none."""
    if isinstance(value, str):
        return parse_times(pd.Series([value])).iat[0]
    try:
        t = pd.Timestamp(value)
    except (TypeError, ValueError, OverflowError):
        return pd.NaT
    return t.tz_convert("UTC").tz_localize(None) if t is not pd.NaT and t.tzinfo is not None else t


def _as_text(value) -> str | None:
    return (
        value
        if isinstance(value, str)
        else None
        if value is None or (isinstance(value, float) and np.isnan(value))
        else str(value)
    )


def expected_dimension(embeddings: pd.Series, known: int | None = None) -> int | None:
    """The team's dimension: the known one, else the most common in the tick (ties: the smaller)."""
    if known:
        return known
    sizes = Counter(len(e) for e in embeddings if e is not None and hasattr(e, "__len__"))
    return min(sizes, key=lambda d: (-sizes[d], d)) if sizes else None


def validate_segments(
    frame: pd.DataFrame, known_dimension: int | None = None, ids: RawIds | None = None
) -> ValidatedSegments:
    # Canonical order, so the same rows in any order give the same segments, rejects and clusters:
    # by arrival and document, then by every field, so that of two rows sent under one document id
    # the same one is kept whatever order they came in.
    frame = frame.reindex(columns=COLUMNS)
    keys = pd.DataFrame(
        {
            "t": frame["inserted_at"].map(_as_time),
            "d": frame["document_id"].map(_as_text),
            "c": frame["content"].map(_as_text),
            **{f: frame[f].map(_as_text) for f in ("session_id", "distinct_id", "start_time", "end_time", "timestamp")},
        }
    )
    tied = keys.duplicated(keep=False).to_numpy()  # only rows alike in every other field need their embedding's
    keys["e"] = ""
    keys.loc[tied, "e"] = frame.loc[tied, "embedding"].map(_digest)
    order = keys.sort_values(list(keys.columns), kind="mergesort", na_position="last").index
    frame = frame.loc[order].reset_index(drop=True)
    vectors = [_as_vector(e) for e in frame["embedding"]]
    dimension = known_dimension or expected_dimension(pd.Series([v for v in vectors if v is not None], dtype=object))
    # The embedding checks in one pass over a matrix of the rows that have the right size.
    lengths = np.array([len(v) if v is not None else -1 for v in vectors], dtype=np.int64)
    sized = np.flatnonzero(lengths == dimension) if dimension else np.empty(0, dtype=np.int64)
    matrix = np.stack([vectors[i] for i in sized]) if len(sized) else np.empty((0, dimension or 0), dtype=np.float32)
    finite = np.zeros(len(frame), dtype=bool)
    nonzero = np.zeros(len(frame), dtype=bool)
    scalable = np.zeros(len(frame), dtype=bool)
    # Float64 sums cannot overflow on float32 values, and NaN or infinity anywhere carries through.
    finite[sized] = np.isfinite(matrix.sum(axis=1, dtype=np.float64))
    nonzero[sized] = np.einsum("ij,ij->i", matrix, matrix, dtype=np.float64) > 0
    # Every product downstream runs in float32: a row whose float32 squared norm overflows (huge
    # values) or is not a normal number (subnormal values) cannot be normalized there.
    with np.errstate(over="ignore", under="ignore"):
        squared = np.einsum("ij,ij->i", matrix, matrix)
    scalable[sized] = np.isfinite(squared) & (squared >= np.finfo(np.float32).tiny)
    named = _names_user(frame, ids)
    reasons, details = [], []
    seen: set[str] = set()
    for i, row in enumerate(frame.itertuples(index=False)):
        reason, detail = _check(
            row, int(lengths[i]), dimension, bool(finite[i]), bool(nonzero[i]), bool(scalable[i]), seen
        )
        if reason is None and named[i]:
            reason, detail = "malformed_id", "document_id or session_id names a user (the privacy rule)"
        if reason == "wrong_dimension" and row.embedding is not None and vectors[i] is None:
            reason, detail = "invalid_embedding", "embedding is not a list of numbers"
        reasons.append(reason)
        details.append(detail)
        if reason is None:
            seen.add(row.document_id)
    frame["reason"], frame["detail"] = reasons, details
    ok = frame["reason"].isna().to_numpy()
    keep = ok[sized]
    embeddings = matrix if keep.all() else matrix[keep]  # no second copy when every sized row is valid
    valid = frame[ok].reset_index(drop=True)
    rejects = frame[~ok].drop(columns=["embedding"]).rename_axis("row_number").reset_index()
    return ValidatedSegments(valid.drop(columns=["embedding", "reason", "detail"]), embeddings, rejects, dimension)


def _names_user(frame: pd.DataFrame, ids: RawIds | None) -> np.ndarray:
    """Rows whose document or session id (keys the tasks link to, read across users) holds an id
    the privacy rule replaces: such a key cannot be written, nor stand in a placeholder."""
    if ids is None or frame.empty:
        return np.zeros(len(frame), dtype=bool)
    owners = frame["distinct_id"].map(_as_text)
    named = np.zeros(len(frame), dtype=bool)
    for column in ("document_id", "session_id"):
        text = frame[column].map(_as_text).astype("object")
        named |= (ids.scrub(text, owners) != text).to_numpy() & text.notna().to_numpy()
    return named


def _check(
    row, length: int, dimension: int | None, finite: bool, nonzero: bool, scalable: bool, seen: set[str]
) -> tuple[str | None, str | None]:
    for field in (
        "team_id",
        "document_id",
        "session_id",
        "distinct_id",
        "start_time",
        "end_time",
        "timestamp",
        "inserted_at",
        "content",
    ):
        value = getattr(row, field)
        if (
            value is None
            or (isinstance(value, float) and np.isnan(value))
            or (isinstance(value, str) and not value.strip())
            or value is pd.NaT
        ):
            return "missing_field", f"{field} is missing"
    held = [f for f in ("document_id", "session_id", "distinct_id") if "\x00" in str(getattr(row, f))]
    if held:
        return "malformed_id", f"{', '.join(held)} holds a NUL character"
    parts = str(row.document_id).split(":")
    if len(parts) != 3 or parts[0] != str(row.session_id):
        return "malformed_document_id", "document_id is not session_id:start:end"
    times = {f: _as_time(getattr(row, f)) for f in ("start_time", "end_time", "timestamp", "inserted_at")}
    unreadable = [f for f, t in times.items() if pd.isna(t)]
    if unreadable:
        return "invalid_times", f"{', '.join(unreadable)} is not a time"
    if times["end_time"] < times["start_time"]:
        return "invalid_times", "end_time is before start_time"
    if length != dimension:
        return "wrong_dimension", f"embedding has {max(length, 0)} dimensions, the team uses {dimension}"
    if not finite:
        return "non_finite_embedding", "embedding holds NaN or infinite values"
    if not nonzero:
        return "zero_embedding", "embedding is all zeros"
    if not scalable:
        return "unscalable_embedding", "embedding is too small or too large to normalize in float32"
    if row.document_id in seen:
        return "duplicate_document_id", "the same segment arrived earlier in this tick"
    return None, None
