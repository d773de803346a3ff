"""Table contracts: the columns, types and keys a partition must have before it is written.

Validation is vectorised (one pass per column), so it stays cheap on day partitions of
hundreds of thousands of rows; row-level pydantic models are kept for small, nested outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Logical column types, mapped to each backend's DDL in :mod:`platform_core.warehouse`.
#: VECTOR: a float32 array per row (embeddings, centroids); never null.
COLUMN_TYPES = ("DATE", "TIMESTAMP", "TEXT", "DOUBLE", "BIGINT", "BOOLEAN", "JSON", "VECTOR")


#: What a column says about a person: ``raw_id`` holds a user's own id (only raw inputs and
#: per-user tables), ``pseudonym`` an HMAC of one (cross-user tables may hold it).
PRIVACY_TAGS = ("raw_id", "pseudonym")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = False
    privacy: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.type not in COLUMN_TYPES:
            raise ValueError(f"column {self.name}: unknown type {self.type!r}")
        if self.privacy is not None and self.privacy not in PRIVACY_TAGS:
            raise ValueError(f"column {self.name}: privacy must be one of {PRIVACY_TAGS}, got {self.privacy!r}")
        if self.type == "VECTOR" and self.nullable:
            raise ValueError(f"column {self.name}: VECTOR columns are never null")


@dataclass(frozen=True)
class TableSpec:
    """One warehouse table: ``schema.name``, its columns, partition columns and row key.

    ``partition_columns`` identify the slice a materialization replaces; ``key`` is unique
    within that slice and fixes the canonical row order used for content hashes.
    """

    schema: str
    name: str
    columns: tuple[Column, ...]
    partition_columns: tuple[str, ...]
    key: tuple[str, ...]

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def empty_frame(self) -> pd.DataFrame:
        return conform(self, pd.DataFrame({c: [] for c in self.column_names}))


_TEXT_KINDS = {"string", "empty"}


def column_problems(spec: TableSpec, frame: pd.DataFrame) -> list[str]:
    """Columns the spec wants that the frame lacks, and columns it has that the spec does not name."""
    missing = [c for c in spec.column_names if c not in frame.columns]
    extra = [c for c in frame.columns if c not in spec.column_names]
    return ([f"missing columns: {missing}"] if missing else []) + ([f"unexpected columns: {extra}"] if extra else [])


def conform(spec: TableSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """Order columns as the spec does and coerce each to the dtype its type maps to.

    Call :func:`column_problems` first: missing columns come back as nulls here.
    """
    frame = frame.reindex(columns=spec.column_names).reset_index(drop=True)
    for col in spec.columns:
        s = frame[col.name]
        if col.type in ("DATE", "TIMESTAMP"):
            frame[col.name] = pd.to_datetime(s).astype("datetime64[us]")
        elif col.type == "DOUBLE":
            frame[col.name] = s.astype("float64")
        elif col.type == "BIGINT":
            frame[col.name] = s.astype("Int64" if col.nullable else "int64")
        elif col.type == "BOOLEAN" and (len(s) == 0 or not s.isna().any()):
            frame[col.name] = s.astype("bool")
        elif col.type == "VECTOR":
            frame[col.name] = pd.Series(as_vectors(s), index=frame.index, dtype=object)
        elif col.type in ("TEXT", "JSON"):
            s = s if isinstance(s.dtype, pd.StringDtype) else s.astype("str")  # missing stays missing
            # Postgres text holds no NUL character (nor JSON a \u0000 escape); DuckDB would: both
            # stores keep U+FFFD in its place, so a NUL in one value never stops a write.
            if s.str.contains("\x00", regex=False).any():
                s = s.str.replace("\x00", "\ufffd", regex=False)
            if col.type == "JSON" and s.str.contains("\\u0000", regex=False).any():
                s = s.str.replace("\\u0000", "\\ufffd", regex=False)
            frame[col.name] = s
    return frame


def as_vectors(values) -> list:
    """Each value as a 1-D float32 array (arrays already float32 are kept, not copied)."""
    return [
        v
        if isinstance(v, np.ndarray) and v.dtype == np.float32
        else (None if v is None else np.asarray(v, dtype=np.float32).ravel())
        for v in values
    ]


def checked(spec: TableSpec, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The frame conformed to ``spec`` and every way it breaks it (columns checked before conforming)."""
    problems = column_problems(spec, frame)
    if problems:
        return frame, problems
    frame = conform(spec, frame)
    return frame, validate_frame(spec, frame)


def validate_frame(spec: TableSpec, frame: pd.DataFrame) -> list[str]:
    """Every way ``frame`` breaks ``spec``, as readable messages (empty list when valid)."""
    problems = column_problems(spec, frame)
    if problems:
        return problems
    for col in spec.columns:
        s = frame[col.name]
        nulls = int(s.isna().sum())
        if nulls and not col.nullable:
            problems.append(f"{col.name}: {nulls} null values in a non-nullable column")
        present = s.dropna()
        if col.type in ("DATE", "TIMESTAMP"):
            if not pd.api.types.is_datetime64_dtype(s) or isinstance(s.dtype, pd.DatetimeTZDtype):
                problems.append(f"{col.name}: expected naive UTC datetimes, got {s.dtype}")
            elif col.type == "DATE" and len(present) and (present != present.dt.normalize()).any():
                problems.append(f"{col.name}: DATE column holds times of day")
        elif col.type == "DOUBLE":
            if not pd.api.types.is_float_dtype(s):
                problems.append(f"{col.name}: expected floats, got {s.dtype}")
            elif not np.isfinite(present.to_numpy()).all():
                problems.append(f"{col.name}: non-finite values")
        elif col.type == "BIGINT":
            if not pd.api.types.is_integer_dtype(s):
                problems.append(f"{col.name}: expected integers, got {s.dtype}")
        elif col.type == "BOOLEAN":
            if not pd.api.types.is_bool_dtype(s):
                problems.append(f"{col.name}: expected booleans, got {s.dtype}")
        elif col.type == "VECTOR":
            bad = sum(
                not (isinstance(v, np.ndarray) and v.ndim == 1 and v.dtype == np.float32 and np.isfinite(v).all())
                for v in present
            )
            if bad:
                problems.append(f"{col.name}: {bad} values are not finite float32 vectors")
        elif pd.api.types.infer_dtype(present, skipna=True) not in _TEXT_KINDS:
            problems.append(f"{col.name}: expected strings ({col.type})")
    if not problems and len(frame):
        dupes = int(frame.duplicated(subset=list(spec.partition_columns + spec.key)).sum())
        if dupes:
            problems.append(f"{dupes} rows repeat the key {spec.key}")
    return problems
