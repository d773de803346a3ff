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
from platform_core.times import parse_times
from platform_core.warehouse import Backend

DEMO_SERIES = int(os.environ.get("MR_DEMO_SERIES", "200"))
_RAW = (
    Column("store_id", "TEXT", True),
    Column("sku", "TEXT", True),
    Column("ts", "TEXT", True),
    Column("units", "TEXT", True),
    Column("price", "TEXT", True),
)


def read_sales(url: str, start: pd.Timestamp, end: pd.Timestamp, warehouse: Backend | None = None) -> pd.DataFrame:
    """Rows with ``start <= ts < end`` as the source has them (validation comes after). A file row
    whose ``ts`` does not parse goes with the row before it in the file (or after, at the top), so
    a tick reads it and keeps it as a reject; :func:`unplaced_rows` counts the rows no tick can
    hold (a file without one parseable ``ts``, a table's rows without ``ts``)."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if url == "demo":
        return demo.sales(DEMO_SERIES, start, end)
    if _is_file(url):
        frame, ts = _file_rows(url, os.stat(url).st_mtime_ns)
        return frame[(ts >= start) & (ts < end)].reset_index(drop=True)
    if url.startswith("warehouse:"):
        schema, table = _warehouse_table(url, warehouse)
        spec = TableSpec(schema, table, _RAW, (), ())
        p = warehouse.placeholder
        columns = ", ".join(f"CAST({c} AS TEXT) AS {c}" for c in COLUMNS)  # as text: validation parses it
        sql = f"SELECT {columns} FROM {schema}.{table} WHERE ts >= {p} AND ts < {p}"
        return warehouse.query(spec, sql, [start, end], over=[spec])
    raise ValueError(f"SALES_URL must be demo, a .csv or .parquet file, or warehouse:schema.table, got {url!r}")


def unplaced_rows(url: str, warehouse: Backend | None = None) -> int:
    """Source rows no tick can hold (reported, not silently lost)."""
    if _is_file(url):
        return int(_file_rows(url, os.stat(url).st_mtime_ns)[1].isna().sum())
    if url.startswith("warehouse:"):
        schema, table = _warehouse_table(url, warehouse)
        spec = TableSpec(schema, table, (Column("rows", "BIGINT"),), (), ())
        return int(
            warehouse.query(spec, f"SELECT count(*) AS rows FROM {schema}.{table} WHERE ts IS NULL", [], over=[spec])[
                "rows"
            ].iat[0]
        )
    return 0


#: The columns a sales row cannot do without (``price`` may be absent).
REQUIRED = ["store_id", "sku", "ts", "units"]


def _warehouse_table(url: str, warehouse: Backend | None = None, required: list[str] = REQUIRED) -> tuple[str, str]:
    """``warehouse:schema.table`` -> (schema, table); with ``warehouse``, one clear error when the
    table is not there or lacks a ``required`` column."""
    schema, _, table = url[len("warehouse:") :].partition(".")
    if warehouse is not None:
        columns = warehouse.columns(schema, table)
        if not columns:
            raise ValueError(f"{url}: the warehouse has no table {schema}.{table}")
        missing = [c for c in required if c not in columns]
        if missing:
            raise ValueError(f"{url}: the table lacks the columns {missing} (it has {columns})")
    return schema, table


def _is_file(url: str) -> bool:
    return url.endswith(".csv") or url.endswith(".parquet")


#: The texts pandas reads as missing by default: missing in a CSV's ts, units and price, but a store
#: or SKU id is its text ("NA", "null", "None" are ids), missing only when the field is empty.
_NA_TEXTS = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>"]
_NA_TEXTS += ["N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
_CSV_MISSING = {c: [""] if c in ("store_id", "sku") else _NA_TEXTS for c in COLUMNS}


@functools.lru_cache(maxsize=1)  # a run's ticks read the same file: parse it once (until it changes)
def _file_rows(path: str, mtime_ns: int) -> tuple[pd.DataFrame, pd.Series]:
    """The file's rows and the time that places each in a tick (an unparseable ``ts`` takes its neighbour's)."""
    try:
        frame = (
            pd.read_csv(path, dtype=str, keep_default_na=False, na_values=_CSV_MISSING)
            if path.endswith(".csv")
            else pd.read_parquet(path)
        )
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: the file is empty (not even a header row of {COLUMNS})") from None
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: sales need the columns {REQUIRED} (price optional); the file lacks {missing}")
    frame = frame.reindex(columns=COLUMNS)
    ts = parse_times(frame["ts"])
    return frame, ts.ffill().bfill()


LABEL_COLUMNS = ["report_id", "cluster_name"]


def read_labels(url: str, warehouse: Backend | None = None) -> pd.DataFrame:
    """Labelled history for a library refit: ``report_id, cluster_name`` per row, from a ``.csv`` or
    ``.parquet`` file or ``warehouse:schema.table``."""
    if _is_file(url):
        frame = pd.read_csv(url, dtype=str) if url.endswith(".csv") else pd.read_parquet(url)
        missing = sorted(set(LABEL_COLUMNS) - set(frame.columns))
        if missing:
            raise ValueError(f"{url}: labels need the columns {LABEL_COLUMNS}, missing {missing}")
        return frame[LABEL_COLUMNS].astype(str)
    if url.startswith("warehouse:"):
        schema, table = _warehouse_table(url, warehouse, LABEL_COLUMNS)
        spec = TableSpec(schema, table, tuple(Column(c, "TEXT", True) for c in LABEL_COLUMNS), (), ())
        return warehouse.query(
            spec,
            f"SELECT {', '.join(f'CAST({c} AS TEXT) AS {c}' for c in LABEL_COLUMNS)} FROM {schema}.{table}",
            [],
            over=[spec],
        )
    raise ValueError(f"labels must be a .csv or .parquet file or warehouse:schema.table, got {url!r}")
