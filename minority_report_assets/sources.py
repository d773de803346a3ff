"""Where sales come from: ``SALES_URL`` = ``demo`` (default), a ``.csv`` or ``.parquet`` file, or
``warehouse:schema.table`` (a table of the warehouse). Rows: ``store_id, sku, ts`` (bucket start,
5-minute buckets), ``units`` and optional ``price``."""

from __future__ import annotations

import functools
import os

import pandas as pd

from minority_report_assets import demo
from minority_report_assets.sales import COLUMNS
from platform_core.tables import Column, TableSpec
from platform_core.warehouse import Backend

DEMO_SERIES = int(os.environ.get("MR_DEMO_SERIES", "200"))
_RAW = (Column("store_id", "TEXT", True), Column("sku", "TEXT", True), Column("ts", "TEXT", True),
        Column("units", "TEXT", True), Column("price", "TEXT", True))


def read_sales(url: str, start: pd.Timestamp, end: pd.Timestamp, warehouse: Backend | None = None) -> pd.DataFrame:
    """Rows with ``start <= ts < end`` as the source has them (validation comes after). A file row
    whose ``ts`` does not parse belongs to no tick: :func:`unplaced_rows` counts them."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if url == "demo":
        return demo.sales(DEMO_SERIES, start, end)
    if _is_file(url):
        frame, ts = _file_rows(url, os.stat(url).st_mtime_ns)
        return frame[(ts >= start) & (ts < end)].reset_index(drop=True)
    if url.startswith("warehouse:"):
        schema, _, table = url[len("warehouse:"):].partition(".")
        spec = TableSpec(schema, table, _RAW, (), ())
        p = warehouse.placeholder
        columns = ", ".join(f"CAST({c} AS TEXT) AS {c}" for c in COLUMNS)  # as text: validation parses it
        sql = f"SELECT {columns} FROM {schema}.{table} WHERE ts >= {p} AND ts < {p}"
        return warehouse.query(spec, sql, [start, end], over=[spec])
    raise ValueError(f"SALES_URL must be demo, a .csv or .parquet file, or warehouse:schema.table, got {url!r}")


def unplaced_rows(url: str) -> int:
    """File rows whose ``ts`` does not parse, so no tick can hold them (reported, not silently lost)."""
    return int(_file_rows(url, os.stat(url).st_mtime_ns)[1].isna().sum()) if _is_file(url) else 0


def _is_file(url: str) -> bool:
    return url.endswith(".csv") or url.endswith(".parquet")


@functools.lru_cache(maxsize=1)  # a run's ticks read the same file: parse it once (until it changes)
def _file_rows(path: str, mtime_ns: int) -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.read_csv(path, dtype=str) if path.endswith(".csv") else pd.read_parquet(path)
    frame = frame.reindex(columns=COLUMNS)
    return frame, pd.to_datetime(frame["ts"], errors="coerce", utc=True).dt.tz_localize(None)
