"""Where a team's segments come from: ``REPLAY_SEGMENTS_URL`` = ``demo`` (default), a ``.parquet``
file (enabled teams from ``REPLAY_ENABLED_TEAMS``), or ``clickhouse://user:pass@host:8123/db``.

ClickHouse: one SQL text, run by an executor: the HTTP client (``clickhouse-connect``) in production, the
embedded ClickHouse engine (``chdb``) where no server runs, e.g. in tests. The reader pages
through a tick's rows with a watermark on ``(inserted_at, document_id)``, so rows that share a
timestamp across a page boundary are neither skipped nor read twice, and keeps embeddings as
float32 arrays.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Protocol
from urllib.parse import unquote, urlparse

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from platform_core.times import parse_times
from platform_core.warehouse import arrow_to_vectors
from replay_assets.segments import COLUMNS

FEATURE_FLAG = "video-segment-clustering-enabled"

SEGMENTS_SQL = """
SELECT team_id, document_id, session_id, distinct_id, start_time, end_time, timestamp, inserted_at, content, embedding
FROM {table:Identifier}
WHERE team_id = {team:Int64}
  AND inserted_at >= {start:DateTime64(6, 'UTC')} AND inserted_at < {end:DateTime64(6, 'UTC')}
  AND (inserted_at, document_id) > ({after_time:DateTime64(6, 'UTC')}, {after_doc:String})
ORDER BY inserted_at, document_id
LIMIT {page:UInt32}
"""

ENABLED_TEAMS_SQL = """
SELECT DISTINCT team_id FROM {table:Identifier}
WHERE flag = {flag:String} AND enabled
ORDER BY team_id
"""


class ClickHouseExecutor(Protocol):
    def query_arrow(self, sql: str, params: dict) -> pa.Table: ...


class HttpClickHouse:
    """A ClickHouse server over HTTP; the password comes from the URL (set through the environment)."""

    def __init__(self, url: str):
        import clickhouse_connect

        u = urlparse(url)
        self.client = clickhouse_connect.get_client(
            host=u.hostname or "localhost",
            port=u.port or 8123,
            username=unquote(u.username or "default"),
            password=unquote(u.password or ""),
            database=(u.path or "/default").lstrip("/") or "default",
        )

    def query_arrow(self, sql: str, params: dict) -> pa.Table:
        return self.client.query_arrow(sql, parameters=params)


class ChdbClickHouse:
    """The embedded ClickHouse engine (chdb), optionally on a data directory."""

    def __init__(self, path: str | None = None):
        from chdb import session

        self.session = session.Session(path) if path else session.Session()

    def execute(self, sql: str, params: dict | None = None) -> None:
        self.session.query(sql, "CSV", params=params or {})

    def query_arrow(self, sql: str, params: dict) -> pa.Table:
        result = self.session.query(sql, "Arrow", params=params)
        return pa.ipc.open_file(pa.BufferReader(result.bytes())).read_all()


def _time(value: datetime) -> str:
    """A naive-UTC (or aware) time as the text a ``DateTime64(6, 'UTC')`` parameter takes."""
    ts = pd.Timestamp(value)
    return (ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo else ts).strftime("%Y-%m-%d %H:%M:%S.%f")


def read_segments(
    executor: ClickHouseExecutor,
    team_id: int,
    start: datetime,
    end: datetime,
    page_size: int = 5000,
    table: str = "document_embeddings",
) -> pd.DataFrame:
    """The team's segments with ``start <= inserted_at < end``, in (inserted_at, document_id) order."""
    pages, after = [], (pd.Timestamp("1970-01-01"), "")
    while True:
        page = executor.query_arrow(
            SEGMENTS_SQL,
            {
                "table": table,
                "team": int(team_id),
                "start": _time(start),
                "end": _time(end),
                "after_time": _time(after[0]),
                "after_doc": after[1],
                "page": int(page_size),
            },
        )
        if page.num_rows:
            pages.append(page)
            last = page.slice(page.num_rows - 1).to_pylist()[0]
            after = (pd.Timestamp(last["inserted_at"]), last["document_id"])  # aware or naive UTC: _time handles both
        if page.num_rows < page_size:
            break
    if not pages:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})
    table_ = pa.concat_tables(pages)
    frame = table_.drop_columns(["embedding"]).to_pandas()
    frame["embedding"] = arrow_to_vectors(table_.column("embedding"))
    for column in ("start_time", "end_time", "timestamp", "inserted_at"):  # naive UTC, whatever the server's zone
        times = pd.to_datetime(frame[column], utc=True)
        frame[column] = times.dt.tz_localize(None).astype("datetime64[us]")
    return frame[COLUMNS]


def enabled_teams(executor: ClickHouseExecutor, table: str = "feature_flags") -> list[int]:
    """Teams whose video-segment-clustering flag is on."""
    result = executor.query_arrow(ENABLED_TEAMS_SQL, {"table": table, "flag": FEATURE_FLAG})
    return [int(t) for t in result.column("team_id").to_pylist()]


def read_segments_from(url: str, team_id: int, start: datetime, end: datetime) -> pd.DataFrame:
    """The team's segments with ``start <= inserted_at < end`` from the source ``url`` names."""
    if url == "demo":
        from replay_assets import demo

        return demo.segments_between(team_id, pd.Timestamp(start), pd.Timestamp(end))
    if url.endswith(".parquet"):
        return _read_parquet(url, team_id, start, end)
    if url.startswith("clickhouse://"):
        return read_segments(HttpClickHouse(url), team_id, start, end)
    raise ValueError(f"REPLAY_SEGMENTS_URL must be demo, a .parquet file or clickhouse://..., got {url!r}")


def enabled_teams_from(url: str) -> list[int]:
    """Teams with the feature flag on: the demo's two, ``REPLAY_ENABLED_TEAMS`` for files, the flag table in ClickHouse."""
    if url == "demo":
        from replay_assets import demo

        return sorted(demo.TOPICS)
    if url.startswith("clickhouse://"):
        return enabled_teams(HttpClickHouse(url))
    listed = os.environ.get("REPLAY_ENABLED_TEAMS", "")
    return sorted({int(t) for t in listed.replace(" ", "").split(",") if t})


#: A segment's times, the arrival first: the order a row's tick is looked for in.
_TIMES = ("inserted_at", "timestamp", "end_time", "start_time")


def _file_times(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """A file's time columns as naive UTC (each value parsed on its own merits; a value that is no
    time stays as its text, for validation to reject its row naming the field), and the time that
    places each row in a tick: its arrival, or, where that is missing or no time, its own latest
    time (it cannot have arrived before it), so the row is a reject of that tick, never lost and
    never a failed read. A row with no time at all is in no tick."""
    times = {c: parse_times(frame[c]) for c in _TIMES}
    for column, parsed in times.items():
        values = frame[column]
        blank = values.map(lambda v: isinstance(v, str) and not v.strip()).astype(bool)
        unreadable = parsed.isna() & values.notna() & ~blank
        frame[column] = parsed.astype(object).where(~unreadable, values) if unreadable.any() else parsed
    own = pd.concat([times[c] for c in _TIMES[1:]], axis=1).max(axis=1)
    return frame, times["inserted_at"].fillna(own)


def _read_parquet(path: str, team_id: int, start: datetime, end: datetime) -> pd.DataFrame:
    def utc(value) -> pd.Timestamp:
        ts = pd.Timestamp(value)
        return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo else ts

    schema = pq.read_schema(path)
    missing = [c for c in COLUMNS if c not in schema.names]
    if missing:
        raise ValueError(f"{path}: segment file lacks the column(s) {', '.join(missing)}")
    kind = schema.field("embedding").type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)) or not (
        pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type)
    ):
        raise ValueError(f"{path}: column embedding is {kind}, expected a list of numbers (one per dimension)")
    table = pq.read_table(path, columns=COLUMNS, filters=[("team_id", "=", int(team_id))])
    for name in ("document_id", "session_id", "distinct_id"):  # ids are text: integers as their digits
        if pa.types.is_integer(table.schema.field(name).type):
            table = table.set_column(table.schema.get_field_index(name), name, pc.cast(table[name], pa.string()))
            table = table.replace_schema_metadata(None)  # pandas' own would make the column numbers again
    frame = table.drop_columns(["embedding"]).to_pandas()
    frame["embedding"] = arrow_to_vectors(table.column("embedding"))
    frame, placed = _file_times(frame)
    inside = (placed >= utc(start)) & (placed < utc(end))
    return frame[inside].reset_index(drop=True)
