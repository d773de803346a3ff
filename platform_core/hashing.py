"""Canonical content hashes: the same rows give the same hash whatever their order."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import numpy as np
import orjson
import pandas as pd

from platform_core.tables import TableSpec

FLOAT_FORMAT = "%.12g"


def canonical_json(value: Any) -> str:
    """Compact UTF-8 JSON with sorted keys: one text per value, so it can be hashed and compared."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


def canonical_json_text(text: str | None) -> str | None:
    """Re-serialize JSON text canonically (e.g. what a JSONB column hands back)."""
    return None if text is None else canonical_json(orjson.loads(text))


def canonical_rows(spec: TableSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame in canonical order: spec column order, rows sorted by partition and key."""
    order = list(spec.partition_columns + spec.key)
    return frame[spec.column_names].sort_values(order, kind="mergesort").reset_index(drop=True)


def content_hash(spec: TableSpec, frame: pd.DataFrame) -> str:
    """SHA-256 of the canonical CSV of ``frame`` (sorted rows, fixed float formatting; a
    vector stands as the SHA-256 of its float32 bytes)."""
    hasher = ContentHasher(spec)
    hasher.update(canonical_rows(spec, frame))
    return hasher.hexdigest()


class ContentHasher:
    """:func:`content_hash` of rows that arrive in batches, each already in canonical order and
    following the one before: the same text as of all rows at once, never held whole."""

    def __init__(self, spec: TableSpec):
        self.spec, self._sha, self._header = spec, hashlib.sha256(), True

    def update(self, rows: pd.DataFrame) -> None:
        rows = rows[self.spec.column_names].copy()
        for col in self.spec.columns:
            if col.type == "VECTOR":
                rows[col.name] = [
                    hashlib.sha256(np.ascontiguousarray(v, dtype="<f4").tobytes()).hexdigest() for v in rows[col.name]
                ]
        text = rows.to_csv(
            index=False,
            header=self._header,
            float_format=FLOAT_FORMAT,
            lineterminator="\n",
            date_format="%Y-%m-%dT%H:%M:%S.%f",
        )
        self._sha.update(text.encode())
        self._header = False

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def rows_fingerprint(rows: pd.DataFrame | Iterable[pd.DataFrame]) -> str:
    """Order-free hash of raw input rows (what a partition was computed from): the same rows in
    any order give the same text. Each row is hashed as a whole (64-bit, vectorised; an array
    value by its float32 bytes), the row hashes are sorted, and their bytes are SHA-256 hashed.
    ``rows``: a frame, or frames of one schema (batches of rows too many to hold at once)."""
    hashes = [_row_hashes(f) for f in ([rows] if isinstance(rows, pd.DataFrame) else rows) if len(f)]
    if not hashes:
        return hashlib.sha256(b"no rows").hexdigest()
    return hashlib.sha256(np.sort(np.concatenate(hashes)).tobytes()).hexdigest()


def _row_hashes(frame: pd.DataFrame) -> np.ndarray:
    columns = {}
    for name in sorted(frame.columns, key=str):
        values = frame[name]
        present = values[values.notna()].head(1) if values.dtype == object else values.iloc[:0]
        if len(present) and isinstance(present.iloc[0], np.ndarray):
            values = pd.Series(
                [
                    hashlib.sha256(np.asarray(v, dtype="<f4").tobytes()).hexdigest() if v is not None else ""
                    for v in values
                ],
                index=frame.index,
            )
        columns[str(name)] = values.astype("str")
    return pd.util.hash_pandas_object(pd.DataFrame(columns), index=False).to_numpy()


def frames_hash(*parts: str) -> str:
    """Combine several hashes (e.g. of the inputs of a computation) into one."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()
