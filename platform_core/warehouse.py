"""The warehouse: DuckDB (embedded default) or Postgres, behind one small interface.

Every write replaces whole partitions inside one transaction: delete the slice, insert the
new rows by column name, record the slice's content hash in the schema's ``_partitions``
manifest, commit. A crash anywhere before the commit leaves the previous partition intact.
"""

from __future__ import annotations

import io
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pyarrow as pa

from platform_core.hashing import ContentHasher, canonical_json_text, canonical_rows, content_hash
from platform_core.scratch import scratch_directory
from platform_core.tables import Column, TableSpec, checked, conform

DEFAULT_WAREHOUSE_URL = "duckdb:///data/warehouse.duckdb"

MANIFEST_COLUMNS = (
    Column("table_name", "TEXT"),
    Column("partition_key", "TEXT"),
    Column("row_count", "BIGINT"),
    Column("content_hash", "TEXT"),
    Column("input_hash", "TEXT"),
    Column("written_at", "TIMESTAMP"),
)


def manifest_spec(schema: str) -> TableSpec:
    """The ``_partitions`` manifest of a schema, as a table to query."""
    return TableSpec(schema, "_partitions", MANIFEST_COLUMNS, (), ())


class InvalidPartition(ValueError):
    """A frame that does not meet its table contract; nothing was written."""


@dataclass(frozen=True)
class Batches:
    """A partition's rows too many to hold at once: ``read()`` yields them as frames in canonical
    order (by partition columns, then key), anew for each pass (the checks, then the write)."""

    read: Callable[[], Iterator[pd.DataFrame]]


@dataclass
class PartitionWrite:
    """Replace the rows of ``spec`` whose partition columns equal ``partition`` with ``frame``
    (a frame, or :class:`Batches` checked and hashed batch by batch, never held whole)."""

    spec: TableSpec
    partition: dict[str, Any]
    frame: pd.DataFrame | Batches
    input_hash: str = ""
    content_hash: str = field(init=False, default="")
    rows: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if set(self.partition) != set(self.spec.partition_columns):
            raise ValueError(f"{self.spec.qualified_name}: partition must name {self.spec.partition_columns}")
        if isinstance(self.frame, Batches):
            self._check_batches()
            return
        self.frame, problems = checked(self.spec, self.frame)
        problems = problems or self._outside(self.frame)
        if problems:
            raise InvalidPartition(f"{self.spec.qualified_name} {self.key}: " + "; ".join(problems))
        self.rows, self.content_hash = len(self.frame), content_hash(self.spec, self.frame)

    def _outside(self, frame: pd.DataFrame) -> list[str]:
        counts = {c: int((frame[c] != _as_column_value(v)).sum()) for c, v in self.partition.items()}
        return [f"{n} rows lie outside partition {c}={self.partition[c]}" for c, n in counts.items() if n]

    def _check_batches(self) -> None:
        """Each batch against the contract, in canonical order after the one before (so a key
        repeated across batches shows as out of order), hashed as one frame would be."""
        order = list(self.spec.partition_columns + self.spec.key)
        hasher, last = ContentHasher(self.spec), None
        for batch in self.frame.read():
            batch, problems = checked(self.spec, batch)
            problems = problems or self._outside(batch)
            if not problems and len(batch):
                keys = batch[order]
                if not canonical_rows(self.spec, batch)[order].equals(keys) or (
                    last is not None and tuple(keys.iloc[0]) <= last
                ):
                    problems = [f"batches are not in key order {order} (or repeat a key)"]
                last = tuple(keys.iloc[-1])
            if problems:
                raise InvalidPartition(f"{self.spec.qualified_name} {self.key}: " + "; ".join(problems))
            hasher.update(batch)
            self.rows += len(batch)
        self.content_hash = hasher.hexdigest()

    def batches(self) -> Iterator[pd.DataFrame]:
        """The rows to insert, conformed to the contract."""
        if isinstance(self.frame, Batches):
            yield from (conform(self.spec, b) for b in self.frame.read())
        else:
            yield self.frame

    @property
    def key(self) -> str:
        return partition_key(self.partition)


def partition_key(partition: dict[str, Any]) -> str:
    """Text form of a partition for the manifest, e.g. ``period_start=2026-11-02``."""
    return ";".join(f"{k}={_as_text(v)}" for k, v in sorted(partition.items()))


def _as_text(value: Any) -> str:
    if isinstance(value, (datetime, pd.Timestamp)):
        ts = pd.Timestamp(value)
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()
    return value.isoformat() if isinstance(value, date) else str(value)


def _as_column_value(value: Any) -> Any:
    return pd.Timestamp(value) if isinstance(value, (date, datetime)) else value


class Backend:
    """What DuckDB and Postgres each implement; the transaction logic lives here once."""

    placeholder = "?"
    types: dict[str, str] = {}
    reformats_json = False  # True where the database hands JSON back in its own layout

    _session: Any = None  # a connection kept open by ``session()``
    _known_columns: dict[tuple[str, str], list[str]] | None = None

    @contextmanager
    def session(self) -> Iterator[None]:
        """Keep one connection for the block (many small reads and writes, e.g. one tick after
        another); each ``transaction()`` inside still commits or rolls back on its own."""
        if self._session is not None:
            yield
            return
        self._session, self._known_columns = self._connect(), {}
        try:
            yield
        finally:
            self._session.close()
            self._session, self._known_columns = None, None

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        con = self._session if self._session is not None else self._connect()
        try:
            with self._atomic(con):
                yield con
        finally:
            if con is not self._session:
                con.close()

    def _connect(self) -> Any:
        raise NotImplementedError

    @contextmanager
    def _atomic(self, con: Any) -> Iterator[None]:
        raise NotImplementedError

    def columns(self, schema: str, table: str) -> list[str]:
        """The columns of ``schema.table`` in order (empty: no such table)."""
        with self.transaction() as con:
            return self._columns_of(con, schema, table)

    def _columns_of(self, con: Any, schema: str, table: str) -> list[str]:
        cache = self._known_columns if con is self._session else None
        if cache is not None and (schema, table) in cache:
            return cache[(schema, table)]
        columns = self._query_columns(con, schema, table)
        if cache is not None and columns:  # tables are created, never dropped, inside a session
            cache[(schema, table)] = columns
        return columns

    def _query_columns(self, con: Any, schema: str, table: str) -> list[str]:
        rows = self._fetch(
            con,
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            f"{self.placeholder} AND table_name = {self.placeholder} ORDER BY ordinal_position",
            [schema, table],
        )
        return [r[0] for r in rows]

    def _fetch(self, con: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        raise NotImplementedError

    def _execute(self, con: Any, sql: str, params: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    def _insert(self, con: Any, qualified: str, frame: pd.DataFrame, spec_columns: Sequence[Column]) -> None:
        raise NotImplementedError

    def _insert_rows(self, con: Any, w: PartitionWrite) -> None:
        """Insert a write's rows: a frame at once, batches one after another."""
        for batch in w.batches():
            self._insert(con, w.spec.qualified_name, batch, w.spec.columns)

    def _lock(self, con: Any, name: str) -> None:
        """Hold ``name`` until the transaction ends (other transactions asking for it wait). A
        no-op where the database admits one writer at a time (DuckDB)."""

    def ensure_table(self, con: Any, schema: str, name: str, columns: Sequence[Column]) -> None:
        existing = self._columns_of(con, schema, name)
        if not existing:  # two first writers must not both create it: the second waits, then sees it
            self._lock(con, f"create {schema}")
            existing = self._query_columns(con, schema, name)
        self._execute(con, f"CREATE SCHEMA IF NOT EXISTS {schema}")
        wanted = [c.name for c in columns]
        if not existing:
            ddl = ", ".join(f"{c.name} {self.types[c.type]}{'' if c.nullable else ' NOT NULL'}" for c in columns)
            self._execute(con, f"CREATE TABLE IF NOT EXISTS {schema}.{name} ({ddl})")
        elif existing != wanted:
            raise RuntimeError(
                f"{schema}.{name} has columns {existing} but the asset writes {wanted}: "
                "drop or migrate the table before materializing"
            )

    def _delete(self, con: Any, qualified: str, partition: dict[str, Any]) -> None:
        if not partition:  # an unpartitioned table is replaced whole
            self._execute(con, f"DELETE FROM {qualified}")
            return
        where = " AND ".join(f"{col} = {self.placeholder}" for col in sorted(partition))
        self._execute(
            con, f"DELETE FROM {qualified} WHERE {where}", [_db_value(partition[c]) for c in sorted(partition)]
        )

    def append(self, spec: TableSpec, frame: pd.DataFrame) -> int:
        """Add rows to an append-only table in one transaction, skipping keys already there
        (so re-running the same run adds nothing twice); returns the rows added."""
        frame, problems = checked(spec, frame)
        if problems:
            raise InvalidPartition(f"{spec.qualified_name}: " + "; ".join(problems))
        with self.transaction() as con:
            self._lock(con, f"{spec.qualified_name}|append")  # two appenders must not both find a key new
            self.ensure_table(con, spec.schema, spec.name, spec.columns)
            key = spec.key[0]
            known = {r[0] for r in self._fetch(con, f"SELECT {key} FROM {spec.qualified_name}")}
            new = frame[~frame[key].isin(known)]
            self._insert(con, spec.qualified_name, new, spec.columns)
        return len(new)

    def write(self, writes: Sequence[PartitionWrite]) -> None:
        """Replace every partition in ``writes`` and update the manifest, all or nothing."""
        written_at = datetime.now(timezone.utc).replace(tzinfo=None)
        with self.transaction() as con:
            for schema in sorted({w.spec.schema for w in writes}):
                self.ensure_table(con, schema, "_partitions", MANIFEST_COLUMNS)
            # Writers of one partition take turns (in a fixed order, so two multi-table writes
            # cannot deadlock): a second writer's delete waits until the first has committed.
            for w in sorted(writes, key=lambda w: (w.spec.qualified_name, w.key)):
                self._lock(con, f"{w.spec.qualified_name}|{w.key}")
            for w in writes:
                self.ensure_table(con, w.spec.schema, w.spec.name, w.spec.columns)
                self._delete(con, w.spec.qualified_name, w.partition)
                self._insert_rows(con, w)
                manifest = f"{w.spec.schema}._partitions"
                self._execute(
                    con,
                    f"DELETE FROM {manifest} WHERE table_name = {self.placeholder} AND partition_key = {self.placeholder}",
                    [w.spec.name, w.key],
                )
                self._insert(
                    con,
                    manifest,
                    pd.DataFrame(
                        [[w.spec.name, w.key, w.rows, w.content_hash, w.input_hash, written_at]],
                        columns=[c.name for c in MANIFEST_COLUMNS],
                    ),
                    MANIFEST_COLUMNS,
                )

    def read(
        self,
        spec: TableSpec,
        where: dict[str, Any] | None = None,
        between: tuple[str, Any, Any] | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Rows of ``spec`` matching ``where`` (equality) and ``between`` (col, lo, hi-exclusive)."""
        names = list(columns or spec.column_names)
        select = ", ".join(self._select_expr(spec.column(n)) for n in names)
        clauses, params = [], []
        for col, value in sorted((where or {}).items()):
            clauses.append(f"{col} = {self.placeholder}")
            params.append(_db_value(value))
        if between:
            col, lo, hi = between
            clauses += [f"{col} >= {self.placeholder}", f"{col} < {self.placeholder}"]
            params += [_db_value(lo), _db_value(hi)]
        sql = f"SELECT {select} FROM {spec.qualified_name}" + (f" WHERE {' AND '.join(clauses)}" if clauses else "")
        sub = TableSpec(spec.schema, spec.name, tuple(spec.column(n) for n in names), (), ())
        return self.query(sub, sql, params, over=[spec])

    def query(
        self, result: TableSpec, sql: str, params: Sequence[Any] = (), over: Sequence[TableSpec] = ()
    ) -> pd.DataFrame:
        """Rows of ``sql`` (placeholders: ``self.placeholder``) as a frame shaped like ``result``;
        empty when a table of ``over`` does not exist yet."""
        names = result.column_names
        with self.transaction() as con:
            if any(not self._columns_of(con, t.schema, t.name) for t in over):
                frame = pd.DataFrame({n: [] for n in names})
            else:
                frame = self._fetch_frame(con, sql, [_db_value(p) for p in params], result)
        for column in result.columns:
            if column.type == "JSON" and self.reformats_json:
                frame[column.name] = [canonical_json_text(t) for t in frame[column.name]]
        return conform(result, frame)

    def _fetch_frame(self, con: Any, sql: str, params: Sequence[Any], result: TableSpec) -> pd.DataFrame:
        return pd.DataFrame.from_records(self._fetch(con, sql, params), columns=result.column_names)

    def manifest(self, schema: str, table: str, key: str | None = None) -> pd.DataFrame:
        """The recorded partitions of ``schema.table`` (or just partition ``key``) with their hashes and row counts."""
        return self.read(
            manifest_spec(schema), where={"table_name": table, **({"partition_key": key} if key is not None else {})}
        )

    def _select_expr(self, column: Column) -> str:
        return column.name


def vectors_to_arrow(values: Sequence[np.ndarray]) -> pa.ListArray:
    """float32 vectors as one Arrow list column (one concatenated buffer)."""
    lengths = np.fromiter((len(v) for v in values), dtype=np.int32, count=len(values))
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int32)
    flat = np.concatenate(list(values)) if len(values) else np.empty(0, np.float32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat.astype(np.float32, copy=False)))


def arrow_to_vectors(column: pa.ChunkedArray | pa.Array) -> list[np.ndarray]:
    """Each list value as a float32 array (views into one buffer per chunk, no Python floats)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    out: list[np.ndarray] = []
    for chunk in chunks:
        values = chunk.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        offsets = chunk.offsets.to_numpy()
        out.extend(values[offsets[i] - offsets[0] : offsets[i + 1] - offsets[0]] for i in range(len(chunk)))
    return out


def _db_value(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


LOG = logging.getLogger(__name__)
#: How often a wait for the DuckDB file lock says so.
LOCK_NOTICE_S = 10.0
#: DuckDB's own memory for the warehouse (``DUCKDB_MEMORY_LIMIT``): a large partition's batches
#: go to the database file, and large queries spill to disk, instead of its buffer pool growing
#: to DuckDB's default, 80% of the machine. 768 MB: a step's budget of 2 GB holds Python and
#: Dagster (~300 MB), a kura validation database (512 MB), this and its batches.
DUCKDB_MEMORY_LIMIT = os.environ.get("DUCKDB_MEMORY_LIMIT", "768MB")


class DuckDBBackend(Backend):
    types = {
        "DATE": "DATE",
        "TIMESTAMP": "TIMESTAMP",
        "TEXT": "VARCHAR",
        "DOUBLE": "DOUBLE",
        "BIGINT": "BIGINT",
        "BOOLEAN": "BOOLEAN",
        "JSON": "JSON",
        "VECTOR": "FLOAT[]",
    }

    def __init__(self, path: str, lock_timeout_s: float = 120.0):
        self.path = path
        self.lock_timeout_s = lock_timeout_s

    def _connect(self) -> Any:
        import duckdb

        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        said = began
        while True:  # another process (a run outside the warehouse pool, a CLI reader) may hold the file lock
            try:
                return duckdb.connect(self.path, config={"memory_limit": DUCKDB_MEMORY_LIMIT})
            except duckdb.IOException as exc:
                waited = time.monotonic() - began
                if "lock" not in str(exc).lower() or waited > self.lock_timeout_s:
                    raise
                if time.monotonic() - said >= LOCK_NOTICE_S or said == began:
                    holder = re.search(r"PID (\d+)", str(exc))
                    LOG.warning(
                        f"waiting for {self.path}: held by {'process ' + holder.group(1) if holder else 'another process'}, "
                        f"{waited:.0f} s of {self.lock_timeout_s:.0f} s"
                    )
                    said = time.monotonic()
                time.sleep(0.25)

    @contextmanager
    def _atomic(self, con: Any) -> Iterator[None]:
        con.begin()
        try:
            yield
            con.commit()
        except BaseException:
            con.rollback()
            raise

    def _fetch(self, con: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return con.execute(sql, list(params)).fetchall()

    def _fetch_frame(self, con: Any, sql: str, params: Sequence[Any], result: TableSpec) -> pd.DataFrame:
        """Through Arrow: columnar all the way (a million rows in well under a second)."""
        table = con.sql(sql, params=list(params)).to_arrow_table()
        vectors = [c.name for c in result.columns if c.type == "VECTOR"]
        frame = table.drop_columns(vectors).to_pandas(date_as_object=False)
        for name in vectors:
            frame[name] = arrow_to_vectors(table.column(name))
        return frame[result.column_names]

    def _execute(self, con: Any, sql: str, params: Sequence[Any] = ()) -> None:
        con.execute(sql, list(params))

    def _insert(self, con: Any, qualified: str, frame: pd.DataFrame, spec_columns: Sequence[Column]) -> None:
        vectors = [c.name for c in spec_columns if c.type == "VECTOR"]
        incoming = frame
        if vectors:  # through Arrow: one float32 buffer per column instead of a Python object per value
            incoming = pa.Table.from_pandas(frame.drop(columns=vectors), preserve_index=False)
            for name in vectors:
                incoming = incoming.append_column(name, vectors_to_arrow(frame[name]))
        con.register("_incoming", incoming)
        try:
            con.execute(f"INSERT INTO {qualified} BY NAME SELECT * FROM _incoming")
        finally:
            con.unregister("_incoming")

    def _insert_rows(self, con: Any, w: PartitionWrite) -> None:
        """Batches go through a Parquet file and one ``INSERT ... SELECT``: DuckDB keeps the rows of
        many inserts in one transaction in memory until the commit, but writes one large insert out
        as it goes (within its memory limit)."""
        if not isinstance(w.frame, Batches):
            return super()._insert_rows(con, w)
        import pyarrow.parquet as pq

        schema = pa.schema([(c.name, _ARROW_TYPES[c.type]) for c in w.spec.columns])
        with scratch_directory("warehouse-batches-") as tmp:
            path = f"{tmp}/rows.parquet"
            with pq.ParquetWriter(path, schema, compression="none") as out:
                for batch in w.batches():
                    out.write_table(pa.Table.from_pandas(batch, schema=schema, preserve_index=False))
            con.execute(f"INSERT INTO {w.spec.qualified_name} BY NAME SELECT * FROM read_parquet('{path}')")


#: How a batch's columns are spooled to Parquet on their way into DuckDB.
_ARROW_TYPES = {
    "DATE": pa.timestamp("us"),
    "TIMESTAMP": pa.timestamp("us"),
    "TEXT": pa.string(),
    "JSON": pa.string(),
    "DOUBLE": pa.float64(),
    "BIGINT": pa.int64(),
    "BOOLEAN": pa.bool_(),
    "VECTOR": pa.list_(pa.float32()),
}


class PostgresBackend(Backend):
    placeholder = "%s"
    reformats_json = True  # JSONB reorders keys and adds spaces
    types = {
        "DATE": "DATE",
        "TIMESTAMP": "TIMESTAMP",
        "TEXT": "TEXT",
        "DOUBLE": "DOUBLE PRECISION",
        "BIGINT": "BIGINT",
        "BOOLEAN": "BOOLEAN",
        "JSON": "JSONB",
        "VECTOR": "REAL[]",
    }

    def __init__(self, dsn: str):
        self.dsn = dsn

    def _connect(self) -> Any:
        import psycopg2

        return psycopg2.connect(self.dsn)

    @contextmanager
    def _atomic(self, con: Any) -> Iterator[None]:
        with con:  # commits on success, rolls back on any exception
            yield

    def _fetch(self, con: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with con.cursor() as cur:
            cur.execute(sql, list(params))
            return cur.fetchall()

    def _lock(self, con: Any, name: str) -> None:
        self._execute(con, "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [name])

    def _execute(self, con: Any, sql: str, params: Sequence[Any] = ()) -> None:
        with con.cursor() as cur:
            cur.execute(sql, list(params))

    def _insert(self, con: Any, qualified: str, frame: pd.DataFrame, spec_columns: Sequence[Column]) -> None:
        if frame.empty:
            return
        vectors = [c.name for c in spec_columns if c.type == "VECTOR"]
        if vectors:  # array literals; repr of a float32's value reads back as the same float32
            frame = frame.assign(
                **{n: ["{" + ",".join(map(repr, v.tolist())) + "}" for v in frame[n]] for n in vectors}
            )
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False, header=False, na_rep="\\N", date_format="%Y-%m-%d %H:%M:%S.%f")
        buffer.seek(0)
        cols = ", ".join(frame.columns)
        with con.cursor() as cur:
            cur.copy_expert(f"COPY {qualified} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer)

    def _select_expr(self, column: Column) -> str:
        # JSONB comes back as text so both backends hand the same types to the logic.
        return f"{column.name}::text AS {column.name}" if column.type == "JSON" else column.name


def backend_for(url: str) -> Backend:
    """``duckdb:///relative/or/absolute/path`` or ``postgresql://...``."""
    scheme = urlparse(url).scheme
    if scheme == "duckdb":
        rest = url[len("duckdb://") :]  # SQLAlchemy style: duckdb:///rel/path, duckdb:////abs/path
        path = rest[1:] if rest.startswith("/") else rest
        return DuckDBBackend(path or ":memory:")
    if scheme in ("postgresql", "postgres"):
        return PostgresBackend(url)
    raise ValueError(f"WAREHOUSE_URL must be duckdb:///path or postgresql://..., got scheme {scheme!r}")
