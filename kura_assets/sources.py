"""Where raw kura events come from: ``KURA_EVENTS_URL`` = ``demo``, a ``.jsonl`` file, or Postgres.

Every reader returns the rows of :data:`kura_assets.signals.RAW_COLUMNS` whose row timestamp
lies in ``[start, end)`` (UTC), with text ``data``/``metadata`` so validation sees exactly
what was stored. Every event type is returned, so that each line is counted; only the types
asked for keep their ``data`` and ``metadata``. A JSONL line that is not JSON, has no readable
timestamp, or is dated outside every partition has no day to place it by: it is attributed to
the file's first day within the partitions (``fallback_time``; the first partition's day when the
file has none), never dropped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date, datetime

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from kura_assets import demo
from kura_assets.partitions import END_DATE, START_DATE
from kura_assets.signals import OUTSIDE_PARTITIONS, RAW_COLUMNS, RETRACTION_EVENT, SIGNAL_EVENT

DEFAULT_EVENT_TYPES = (SIGNAL_EVENT, RETRACTION_EVENT)


def read_events(url: str, start: datetime, end: datetime, event_types=DEFAULT_EVENT_TYPES) -> pd.DataFrame:
    if url == "demo":
        return only_asked_payloads(demo.events_between(start, end), event_types)
    if url.startswith(("postgresql://", "postgres://")):
        return read_postgres(url, start, end, event_types)
    path = url[len("file://") :] if url.startswith("file://") else url
    if path.endswith(".jsonl"):
        return read_jsonl(path, start, end, event_types)
    raise ValueError(f"KURA_EVENTS_URL must be 'demo', a .jsonl file or postgresql://..., got {url!r}")


# A line that does not parse still names its user, most likely as "user_id": "...": that id is
# read by pattern so the reject keeps it only as a pseudonym.
_PARSE_LINES_SQL = r"""
SELECT line_no, v[1]->>'$' AS id,
       CASE WHEN is_object THEN v[2]->>'$' ELSE nullif(regexp_extract(line, '"user_id"\s*:\s*"((?:[^"\\]|\\.)*)"', 1), '') END AS user_id,
       v[3]->>'$' AS "timestamp", CASE WHEN json_type(v[4]) = 'VARCHAR' THEN v[4]->>'$' END AS event_type,
       CASE WHEN is_object THEN CAST(v[5] AS VARCHAR) ELSE line END AS data, CAST(v[6] AS VARCHAR) AS metadata,
       CASE WHEN NOT utf8_ok THEN 'line is not valid UTF-8' WHEN NOT is_object THEN 'line is not a JSON object' END AS parse_error,
       timezone('UTC', TRY_CAST(v[3]->>'$' AS TIMESTAMPTZ)) AS row_time
FROM (
    SELECT line_no, line, utf8_ok, is_object,
           CASE WHEN is_object THEN json_extract(line, ['$.id', '$.user_id', '$.timestamp', '$.event_type', '$.data', '$.metadata']) END AS v
    FROM (SELECT line_no, line, utf8_ok, utf8_ok AND json_valid(line) AND starts_with(ltrim(line), '{') AS is_object FROM lines)
)
"""


def as_text(lines: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Byte lines as text, and which were valid UTF-8 (an invalid one is decoded with replacement
    characters and kept, to be rejected by name, not to stop the file)."""
    try:
        return pc.cast(lines, pa.large_string()), pa.array([True] * len(lines))
    except pa.ArrowInvalid:  # rare: find the bad lines one by one
        decoded, ok = [], []
        for raw in lines.to_pylist():
            try:
                decoded.append(raw.decode("utf-8"))
                ok.append(True)
            except UnicodeDecodeError:
                decoded.append(raw.decode("utf-8", "replace"))
                ok.append(False)
        return pa.array(decoded, pa.large_string()), pa.array(ok)


def _midnight(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time())


def only_asked_payloads(frame: pd.DataFrame, event_types) -> pd.DataFrame:
    """Every row stays (to be counted); rows of other event types lose their payloads (memory)."""
    other = frame["event_type"].notna() & ~frame["event_type"].isin(list(event_types))
    return frame.assign(data=frame["data"].where(~other, None), metadata=frame["metadata"].where(~other, None))


def _outside_partitions_as_undated(batch: pa.Table) -> pa.Table:
    """Lines dated before the first day partition or on or after ``KURA_END_DATE`` (a stray year
    0001 or 9999 event) can never be materialized on their own day: they are placed like undated
    lines, marked, and so neither vanish nor drag the undated lines' day with them."""
    t = batch["row_time"]
    outside = pc.fill_null(
        pc.or_(
            pc.less(t, pa.scalar(_midnight(START_DATE), t.type)),
            pc.greater_equal(t, pa.scalar(_midnight(END_DATE), t.type)),
        ),
        False,
    )
    if not pc.any(outside).as_py():
        return batch
    marked = pc.if_else(
        pc.and_(outside, pc.is_null(batch["parse_error"])), pa.scalar(OUTSIDE_PARTITIONS), batch["parse_error"]
    )
    batch = batch.set_column(batch.schema.get_field_index("parse_error"), "parse_error", marked)
    undated = pc.if_else(outside, pa.scalar(None, t.type), t)
    return batch.set_column(batch.schema.get_field_index("row_time"), "row_time", undated)


def line_batches(path: str) -> Iterator[pa.Array]:
    """The file's lines as byte arrays of about 64 MB, split by Arrow's reader (no Python object
    per line). A line holding the byte the reader splits on comes last, whole. Should Arrow fail
    on a line (one holding that byte and invalid UTF-8), the file is split again in Python:
    slower, and every line still counts."""
    unsplittable: list[bytes] = []

    def keep(row) -> str:
        unsplittable.append(row.text.encode())
        return "skip"

    # One column per line: split on a byte that JSON text never holds raw, no quoting.
    options = pcsv.ParseOptions(
        delimiter="\x1e",
        quote_char=False,
        escape_char=False,
        newlines_in_values=False,
        ignore_empty_lines=True,
        invalid_row_handler=keep,
    )
    try:
        reader = pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(column_names=["line"], block_size=64 << 20),
            parse_options=options,
            convert_options=pcsv.ConvertOptions(column_types={"line": pa.large_binary()}, strings_can_be_null=False),
        )
        for record_batch in reader:
            yield record_batch.column(0)
        if unsplittable:
            yield pa.array(unsplittable, pa.large_binary())
    except pa.ArrowInvalid:
        raise _SplitAgain from None


class _SplitAgain(Exception):
    """Arrow could not split the file: read_jsonl starts over with the Python splitter."""


def python_line_batches(path: str, lines_per_batch: int = 200_000) -> Iterator[pa.Array]:
    """The file's non-empty lines as byte arrays, split in Python (the slow path of :func:`line_batches`)
    where Arrow splits them: at ``\n``, ``\r\n`` and a lone ``\r``."""
    batch: list[bytes] = []
    with open(path, "rb") as f:
        for line in f:
            batch += [part for part in line.rstrip(b"\r\n").split(b"\r") if part]
            if len(batch) >= lines_per_batch:
                yield pa.array(batch, pa.large_binary())
                batch = []
    if batch:
        yield pa.array(batch, pa.large_binary())


def read_jsonl(path: str, start: datetime, end: datetime, event_types=DEFAULT_EVENT_TYPES) -> pd.DataFrame:
    """Rows of a JSONL event file in the window, streamed: lines are split by Arrow's reader and
    parsed by DuckDB in 64 MB batches, so no Python string is made per line and only the
    window's rows (and undated lines) are kept, those of other event types without payloads."""
    try:
        return _read_lines(line_batches(path), path, start, end, event_types)
    except _SplitAgain:
        return _read_lines(python_line_batches(path), path, start, end, event_types)


def _read_lines(batches: Iterator[pa.Array], path: str, start: datetime, end: datetime, event_types) -> pd.DataFrame:
    lo, hi = pa.scalar(start, pa.timestamp("us")), pa.scalar(end, pa.timestamp("us"))
    wanted_types = pa.array(list(event_types))
    kept, first_time, n = [], None, 0
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        for line_array in batches:
            text, utf8_ok = as_text(line_array)
            lines = pa.table(
                {
                    "line": text,
                    "utf8_ok": utf8_ok,
                    "line_no": pa.array(range(n + 1, n + 1 + len(line_array)), pa.int64()),
                }
            )
            n += len(line_array)
            con.register("lines", lines)
            batch = _outside_partitions_as_undated(con.sql(_PARSE_LINES_SQL).to_arrow_table())
            con.unregister("lines")
            t = batch["row_time"]
            low = pc.min(t).as_py()
            first_time = low if first_time is None or (low is not None and low < first_time) else first_time
            in_window = pc.and_(pc.greater_equal(t, lo), pc.less(t, hi))
            batch = batch.filter(pc.or_(pc.fill_null(in_window, False), pc.is_null(t)))
            other = pc.invert(
                pc.fill_null(pc.or_(pc.is_in(batch["event_type"], wanted_types), pc.is_null(batch["event_type"])), True)
            )
            for column in ("data", "metadata"):
                light = pc.if_else(other, pa.scalar(None, batch[column].type), batch[column])
                batch = batch.set_column(batch.schema.get_field_index(column), column, light)
            kept.append(batch)
    finally:
        con.close()
    if not kept:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in RAW_COLUMNS})
    table = pa.concat_tables(kept)
    # Undated lines have no time to place them by: they go to the window holding the file's first day.
    first_time = first_time if first_time is not None else _midnight(START_DATE)
    if not (start <= first_time < end):
        table = table.filter(pc.is_valid(table["row_time"]))
    name = os.path.basename(path)
    refs = pc.binary_join_element_wise(
        pa.scalar(name), pc.utf8_lpad(pc.cast(table["line_no"], pa.string()), 9, "0"), ":"
    )
    frame = table.append_column("source_ref", refs).to_pandas()
    frame["fallback_time"] = pd.Series(first_time, index=frame.index, dtype="datetime64[us]").where(
        frame["row_time"].isna()
    )
    return frame[RAW_COLUMNS]


def read_postgres(url: str, start: datetime, end: datetime, event_types=DEFAULT_EVENT_TYPES) -> pd.DataFrame:
    """Rows of the kura event store's ``events`` table (id, user_id, timestamp, event_type, data,
    metadata) in the window: every type, payloads only of the types asked for."""
    import psycopg2

    con = psycopg2.connect(url)
    try:
        with con.cursor() as cur:
            select = """
                SELECT id::text, user_id,
                       to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                       event_type, CASE WHEN asked THEN data::text END, CASE WHEN asked THEN metadata::text END
                FROM (SELECT *, event_type IS NULL OR event_type = ANY(%s) AS asked FROM events) AS e
            """
            cur.execute(
                select + ' WHERE "timestamp" >= %s AND "timestamp" < %s ORDER BY "timestamp", id',
                [list(event_types), start.isoformat() + "+00:00", end.isoformat() + "+00:00"],
            )
            rows = cur.fetchall()
            # Events dated outside every partition (or not at all) belong to no day: the window
            # holding the first partition's day reads them, to be kept there.
            first = _midnight(START_DATE)
            outside = []
            if start <= first < end:
                cur.execute(
                    select + ' WHERE "timestamp" IS NULL OR "timestamp" < %s OR "timestamp" >= %s ORDER BY id',
                    [list(event_types), first.isoformat() + "+00:00", _midnight(END_DATE).isoformat() + "+00:00"],
                )
                outside = cur.fetchall()
    finally:
        con.close()
    frame = pd.DataFrame(
        rows + outside, columns=["id", "user_id", "timestamp", "event_type", "data", "metadata"], dtype="object"
    )
    frame["source_ref"] = "events:" + frame["id"].astype(str)
    placed = pd.Series([False] * len(rows) + [True] * len(outside), index=frame.index)
    frame["parse_error"] = pd.Series(OUTSIDE_PARTITIONS, index=frame.index, dtype="object").where(
        placed & frame["timestamp"].notna(), None
    )
    frame["fallback_time"] = pd.Series(first, index=frame.index, dtype="datetime64[us]").where(placed)
    return frame[RAW_COLUMNS]


def row_times(raw: pd.DataFrame) -> pd.Series:
    """The parsed row timestamps of raw rows (naive UTC; unparseable ones are NaT)."""
    return pd.to_datetime(raw["timestamp"], utc=True, errors="coerce", format="ISO8601").dt.tz_localize(None)


def placement_times(raw: pd.DataFrame) -> pd.Series:
    """When each raw row is placed: its row time, or, for a line undated or dated outside every
    partition, the time the reader placed it at (``fallback_time``)."""
    return row_times(raw).where(raw["fallback_time"].isna(), pd.to_datetime(raw["fallback_time"]))


def window_rows(raw: pd.DataFrame, times: pd.Series, start: datetime, end: datetime) -> pd.DataFrame:
    """The raw rows placed (``placement_times``) in ``[start, end)``: what a partition was computed from."""
    return raw.loc[times.isna() | ((times >= pd.Timestamp(start)) & (times < pd.Timestamp(end))), RAW_COLUMNS]
