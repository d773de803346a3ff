"""Where raw kura events come from: ``KURA_EVENTS_URL`` = ``demo``, a ``.jsonl`` file, or Postgres.

Every reader returns the rows of :data:`kura_assets.signals.RAW_COLUMNS` whose row timestamp
lies in ``[start, end)`` (UTC), with text ``data``/``metadata`` so validation sees exactly
what was stored. A JSONL line that is not JSON, or has no readable timestamp, has no time to
place it by: it is attributed to the file's first day (``fallback_time``), never dropped.
"""

from __future__ import annotations

import os
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import duckdb
import pandas as pd

from kura_assets import demo
from kura_assets.signals import RAW_COLUMNS, RETRACTION_EVENT, SIGNAL_EVENT

DEFAULT_EVENT_TYPES = (SIGNAL_EVENT, RETRACTION_EVENT)


def read_events(url: str, start: datetime, end: datetime, event_types=DEFAULT_EVENT_TYPES) -> pd.DataFrame:
    if url == "demo":
        frame = demo.events_between(start, end)
        return frame[frame["event_type"].isin(event_types) | frame["event_type"].isna()].reset_index(drop=True)
    if url.startswith(("postgresql://", "postgres://")):
        return read_postgres(url, start, end, event_types)
    path = url[len("file://"):] if url.startswith("file://") else url
    if path.endswith(".jsonl"):
        return read_jsonl(path, start, end, event_types)
    raise ValueError(f"KURA_EVENTS_URL must be 'demo', a .jsonl file or postgresql://..., got {url!r}")


@lru_cache(maxsize=1)
def _jsonl_lines(path: str, mtime_ns: int, size: int) -> pd.DataFrame:
    """Each line of the file with its number and row timestamp (cached while the file is unchanged)."""
    lines = Path(path).read_bytes().decode("utf-8", errors="replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    frame = pd.DataFrame({"line_no": range(1, len(lines) + 1), "line": pd.Series(lines, dtype="object")})
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("lines", frame)
        meta = con.execute("""
            SELECT line_no,
                   coalesce(json_type(j) = 'OBJECT', false) AS is_object,
                   j->>'$.event_type' AS event_type,
                   timezone('UTC', TRY_CAST(j->>'$.timestamp' AS TIMESTAMPTZ)) AS row_time
            FROM (SELECT line_no, CASE WHEN json_valid(line) THEN CAST(line AS JSON) END AS j FROM lines)
            ORDER BY line_no
        """).df()
    finally:
        con.close()
    frame["is_object"] = meta["is_object"].fillna(False).astype(bool).to_numpy()
    frame["event_type"] = meta["event_type"].to_numpy()
    frame["row_time"] = meta["row_time"].to_numpy()
    return frame


def read_jsonl(path: str, start: datetime, end: datetime, event_types=DEFAULT_EVENT_TYPES) -> pd.DataFrame:
    stat = os.stat(path)
    lines = _jsonl_lines(os.path.abspath(path), stat.st_mtime_ns, stat.st_size)
    first_time = lines["row_time"].min()
    undated = lines["row_time"].isna()
    in_window = lines["row_time"].ge(pd.Timestamp(start)) & lines["row_time"].lt(pd.Timestamp(end))
    fallback_here = pd.notna(first_time) and pd.Timestamp(start) <= first_time < pd.Timestamp(end)
    wanted = lines["event_type"].isin(event_types) | ~lines["is_object"] | lines["event_type"].isna()
    pick = lines[(in_window | (undated & fallback_here)) & wanted]
    con = duckdb.connect()
    try:
        con.register("pick", pick[["line_no", "line", "is_object"]])
        parsed = con.execute("""
            SELECT line_no,
                   j->>'$.id' AS id, j->>'$.user_id' AS user_id, j->>'$.timestamp' AS "timestamp",
                   j->>'$.event_type' AS event_type,
                   CASE WHEN is_object THEN CAST(j->'$.data' AS VARCHAR) ELSE line END AS data,
                   CAST(j->'$.metadata' AS VARCHAR) AS metadata,
                   CASE WHEN NOT is_object THEN 'line is not a JSON object' END AS parse_error
            FROM (SELECT *, CASE WHEN is_object THEN CAST(line AS JSON) END AS j FROM pick)
            ORDER BY line_no
        """).df()
    finally:
        con.close()
    name = os.path.basename(path)
    parsed["source_ref"] = [f"{name}:{n:09d}" for n in parsed["line_no"]]
    parsed["fallback_time"] = first_time if pd.notna(first_time) else pd.NaT
    parsed.loc[parsed["timestamp"].notna(), "fallback_time"] = pd.NaT
    return parsed[RAW_COLUMNS].astype({c: "object" for c in RAW_COLUMNS if c != "fallback_time"})


def read_postgres(url: str, start: datetime, end: datetime, event_types=DEFAULT_EVENT_TYPES) -> pd.DataFrame:
    """Rows of the kura event store's ``events`` table (id, user_id, timestamp, event_type, data, metadata)."""
    import psycopg2

    con = psycopg2.connect(url)
    try:
        with con.cursor() as cur:
            cur.execute(
                """
                SELECT id::text, user_id,
                       to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                       event_type, data::text, metadata::text
                FROM events
                WHERE "timestamp" >= %s AND "timestamp" < %s AND event_type = ANY(%s)
                ORDER BY "timestamp", id
                """,
                [start.isoformat() + "+00:00", end.isoformat() + "+00:00", list(event_types)],
            )
            rows = cur.fetchall()
    finally:
        con.close()
    frame = pd.DataFrame(rows, columns=["id", "user_id", "timestamp", "event_type", "data", "metadata"], dtype="object")
    frame["source_ref"] = "events:" + frame["id"].astype(str)
    frame["parse_error"] = None
    frame["fallback_time"] = pd.NaT
    return frame[RAW_COLUMNS]
