"""Where raw kura events come from: ``KURA_EVENTS_URL`` = ``demo``, a ``.jsonl`` file, or Postgres.

Every reader stages into table ``raw`` of a DuckDB connection (:func:`stage_events`, what the
assets use, so a day is never held in Python whole) or returns as a frame (:func:`read_events`)
the rows of :data:`kura_assets.signals.RAW_COLUMNS` whose row timestamp lies in ``[start, end)``
(UTC), with text ``data``/``metadata`` so validation sees exactly what was stored. Every event
type is returned, so that each line is counted; only the types asked for keep their ``data`` and
``metadata``. A line that is not JSON, has no readable timestamp, or is dated outside every
partition has no day to place it by: every reader keeps it on the first partition's day
(``fallback_time``), a place no other line can move, never dropped. A reader that sees the whole
source also counts its lines by the day they are kept on (table ``source_days``): what each day
was computed from, so a day whose lines changed since (a late line dated days earlier) is found
and run again (see :mod:`kura_assets.schedules`).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from datetime import date, datetime

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kura_assets import demo
from kura_assets.partitions import END_DATE, START_DATE
from kura_assets.signals import (
    OUTSIDE_PARTITIONS,
    RAW_COLUMNS,
    RETRACTION_EVENT,
    SIGNAL_EVENT,
    create_raw,
    stage_frame,
    staged_frame,
)

DEFAULT_EVENT_TYPES = (SIGNAL_EVENT, RETRACTION_EVENT)


def stage_events(
    con: duckdb.DuckDBPyConnection, url: str, start: datetime, end: datetime, event_types=DEFAULT_EVENT_TYPES
) -> None:
    """Table ``raw`` of ``con``: the rows :func:`read_events` returns, with a unique position
    ``pos``, streamed in so that no reader holds the window's text in Python (the table may live
    on disk: a day of millions of lines is never in memory whole)."""
    con.execute("SET TimeZone = 'UTC'")
    if url == "demo":
        stage_frame(con, only_asked_payloads(demo.events_between(start, end), event_types))
    elif url.startswith(("postgresql://", "postgres://")):
        create_raw(con)
        offset = 0
        for frame in postgres_batches(url, start, end, event_types):
            stage_frame(con, frame, offset)
            offset += len(frame)
        con.execute("CREATE OR REPLACE TABLE source_days (day DATE, lines BIGINT)")
        if days := postgres_days(url):
            con.executemany("INSERT INTO source_days VALUES ($1, $2)", days)
    else:
        path = url[len("file://") :] if url.startswith("file://") else url
        if not path.endswith(".jsonl"):
            raise ValueError(f"KURA_EVENTS_URL must be 'demo', a .jsonl file or postgresql://..., got {url!r}")
        _stage_lines(con, read_ahead(line_batches(path)), path, start, end, event_types)


def read_events(url: str, start: datetime, end: datetime, event_types=DEFAULT_EVENT_TYPES) -> pd.DataFrame:
    """The rows of :data:`RAW_COLUMNS` read for ``[start, end)``, as a frame (see the module)."""
    con = duckdb.connect()
    try:
        stage_events(con, url, start, end, event_types)
        return staged_frame(con)
    finally:
        con.close()


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


def line_batches(path: str, chunk_bytes: int = 32 << 20) -> Iterator[pa.Array]:
    """The file's non-empty lines as byte arrays, split at ``\n``, ``\r\n`` and a lone ``\r``, from
    chunks of ``chunk_bytes`` read one at a time (Arrow's CSV reader would read ahead, holding
    much of a large file at once) and split by Arrow compute (no Python object per line)."""
    rest = b""
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            data = rest + chunk
            cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1  # lines end here; the rest waits for more
            rest = data[cut:]
            if cut:
                yield _split_lines(data[:cut])
    if rest:
        yield _split_lines(rest)


def read_ahead(items: Iterator, depth: int = 1) -> Iterator:
    """``items``, produced by a thread of their own at most ``depth`` items ahead: the next chunk's
    lines are read and split while DuckDB parses this one (two cores busy, memory still bounded).
    The producer's error is raised here; stopping early stops the producer."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop, done = threading.Event(), object()

    def offer(item) -> bool:  # False once the consumer has stopped
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
            offer(done)
        except BaseException as error:  # handed to the consumer, which raises it
            offer(error)
        finally:
            if hasattr(items, "close"):  # a generator's file is closed now, not when collected
                items.close()

    producer = threading.Thread(target=produce, name="read-ahead", daemon=True)
    producer.start()
    try:
        while (item := ready.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        producer.join()


def _split_lines(data: bytes) -> pa.Array:
    text = pa.array([data], pa.large_binary())
    if b"\r" in data:
        text = pc.replace_substring(pc.replace_substring(text, b"\r\n", b"\n"), b"\r", b"\n")
    lines = pc.list_flatten(pc.split_pattern(text, b"\n"))
    return lines.filter(pc.greater(pc.binary_length(lines), 0))


def _stage_lines(
    con: duckdb.DuckDBPyConnection, batches: Iterator[pa.Array], path: str, start: datetime, end: datetime, event_types
) -> None:
    """Lines split in 32 MB chunks and parsed by DuckDB (no Python string per line); only the
    window's rows (and undated lines) go into table ``raw``, those of other event types without
    payloads."""
    lo, hi = pa.scalar(start, pa.timestamp("us")), pa.scalar(end, pa.timestamp("us"))
    wanted_types = pa.array(list(event_types))
    name, n = os.path.basename(path), 0
    create_raw(con)
    con.execute("CREATE TEMP TABLE undated (pos BIGINT)")
    con.execute("CREATE OR REPLACE TABLE source_days (day DATE, lines BIGINT)")
    for line_array in batches:
        text, utf8_ok = as_text(line_array)
        lines = pa.table(
            {"line": text, "utf8_ok": utf8_ok, "line_no": pa.array(range(n + 1, n + 1 + len(line_array)), pa.int64())}
        )
        n += len(line_array)
        con.register("lines", lines)
        batch = _outside_partitions_as_undated(con.sql(_PARSE_LINES_SQL).to_arrow_table())
        con.unregister("lines")
        del lines, text
        t = batch["row_time"]
        con.register("_dated", pa.table({"row_time": t}))
        con.execute(
            "INSERT INTO source_days SELECT coalesce(CAST(row_time AS DATE), $1), count(*) FROM _dated GROUP BY 1",
            [date.fromisoformat(START_DATE)],
        )
        con.unregister("_dated")
        in_window = pc.and_(pc.greater_equal(t, lo), pc.less(t, hi))
        batch = batch.filter(pc.or_(pc.fill_null(in_window, False), pc.is_null(t)))
        other = pc.invert(
            pc.fill_null(pc.or_(pc.is_in(batch["event_type"], wanted_types), pc.is_null(batch["event_type"])), True)
        )
        for column in ("data", "metadata"):
            light = pc.if_else(other, pa.scalar(None, batch[column].type), batch[column])
            batch = batch.set_column(batch.schema.get_field_index(column), column, light)
        con.register("_batch", batch)
        try:
            con.execute(
                f"""INSERT INTO raw BY NAME
                    SELECT '{name.replace("'", "''")}:' || lpad(CAST(line_no AS VARCHAR), 9, '0') AS source_ref,
                           id, user_id, "timestamp", event_type, data, metadata, parse_error,
                           CAST(NULL AS TIMESTAMP) AS fallback_time, line_no AS pos
                    FROM _batch"""
            )
            con.execute("INSERT INTO undated SELECT line_no FROM _batch WHERE row_time IS NULL")
        finally:
            con.unregister("_batch")
    # Undated lines have no time to place them by: the first partition's day keeps them, whatever
    # the other lines' dates (one line dated days earlier moves none of them).
    first = _midnight(START_DATE)
    con.execute("CREATE OR REPLACE TABLE source_days AS SELECT day, sum(lines) AS lines FROM source_days GROUP BY day")
    if start <= first < end:
        con.execute("UPDATE raw SET fallback_time = $1 WHERE pos IN (SELECT pos FROM undated)", [first])
    else:
        con.execute("DELETE FROM raw WHERE pos IN (SELECT pos FROM undated)")
    con.execute("DROP TABLE undated")


def postgres_batches(
    url: str, start: datetime, end: datetime, event_types=DEFAULT_EVENT_TYPES, rows_per_batch: int = 100_000
) -> Iterator[pd.DataFrame]:
    """Rows of the kura event store's ``events`` table (id, user_id, timestamp, event_type, data,
    metadata) in the window, in frames of ``rows_per_batch`` (a server-side cursor): every type,
    payloads only of the types asked for."""
    import psycopg2

    select = """
        SELECT id::text, user_id,
               to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               event_type, CASE WHEN asked THEN data::text END, CASE WHEN asked THEN metadata::text END
        FROM (SELECT *, event_type IS NULL OR event_type = ANY(%s) AS asked FROM events) AS e
    """
    first = _midnight(START_DATE)
    queries = [
        (
            select + ' WHERE "timestamp" >= %s AND "timestamp" < %s ORDER BY "timestamp", id',
            [list(event_types), start.isoformat() + "+00:00", end.isoformat() + "+00:00"],
            False,
        ),
    ]
    if start <= first < end:
        # Events dated outside every partition (or not at all) belong to no day: the window
        # holding the first partition's day reads them, to be kept there.
        queries.append(
            (
                select + ' WHERE "timestamp" IS NULL OR "timestamp" < %s OR "timestamp" >= %s ORDER BY id',
                [list(event_types), first.isoformat() + "+00:00", _midnight(END_DATE).isoformat() + "+00:00"],
                True,
            )
        )
    con = psycopg2.connect(url)
    try:
        for i, (sql, params, placed) in enumerate(queries):
            with con.cursor(name=f"kura_events_{i}") as cur:
                cur.itersize = rows_per_batch
                cur.execute(sql, params)
                while rows := cur.fetchmany(rows_per_batch):
                    yield _postgres_frame(rows, placed, first)
    finally:
        con.close()


def postgres_days(url: str) -> list[tuple[date, int]]:
    """The ``events`` table's rows by the day they are kept on (undated or outside every partition:
    the first partition's day), one aggregate on the server."""
    import psycopg2

    first, end = _midnight(START_DATE), _midnight(END_DATE)
    sql = """SELECT CASE WHEN "timestamp" IS NULL OR "timestamp" < %s OR "timestamp" >= %s THEN %s
                         ELSE CAST("timestamp" AT TIME ZONE 'UTC' AS DATE) END AS day, count(*)
             FROM events GROUP BY 1 ORDER BY 1"""
    con = psycopg2.connect(url)
    try:
        with con.cursor() as cur:
            cur.execute(sql, [first.isoformat() + "+00:00", end.isoformat() + "+00:00", first.date()])
            return [(day, int(n)) for day, n in cur.fetchall()]
    finally:
        con.close()


def _postgres_frame(rows: list[tuple], placed: bool, first: datetime) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["id", "user_id", "timestamp", "event_type", "data", "metadata"], dtype="object")
    frame["source_ref"] = "events:" + frame["id"].astype(str)
    frame["parse_error"] = pd.Series(OUTSIDE_PARTITIONS if placed else None, index=frame.index, dtype="object").where(
        frame["timestamp"].notna(), None
    )
    frame["fallback_time"] = pd.Series(first if placed else pd.NaT, index=frame.index, dtype="datetime64[us]")
    return frame[RAW_COLUMNS]


def source_days(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The source's lines by the day they are kept on (``{}`` when the reader does not see the
    whole source), as ISO day -> lines."""
    if not con.sql("SELECT 1 FROM duckdb_tables() WHERE table_name = 'source_days'").fetchall():
        return {}
    return {d.isoformat(): int(n) for d, n in con.execute("SELECT day, lines FROM source_days ORDER BY day").fetchall()}


def window_rows(
    con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, rows_per_batch: int = 20_000
) -> Iterator[pd.DataFrame]:
    """The staged raw rows placed in ``[start, end)`` (by their row time, or, for a line undated or
    dated outside every partition, the time the reader placed it at; rows whose time does not parse
    are in every window): what a partition was computed from, in batches of :data:`RAW_COLUMNS`."""
    columns = ", ".join(f'"{c}"' for c in RAW_COLUMNS)
    placed = """coalesce(fallback_time, timezone('UTC', TRY_CAST("timestamp" AS TIMESTAMPTZ)))"""
    sql = f"SELECT {columns} FROM raw WHERE {placed} IS NULL OR ({placed} >= $1 AND {placed} < $2)"
    reader = con.cursor().sql(sql, params=[start, end]).to_arrow_reader(rows_per_batch)
    for batch in reader:
        yield batch.to_pandas()
