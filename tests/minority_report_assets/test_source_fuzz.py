"""Fuzz the minority-report sales source contract through Dagster, on DuckDB and Postgres: a CSV
file, a Parquet file (text or typed columns) or a warehouse table of 5-minute sales with hostile
values in every field (NUL bytes, huge and non-finite numbers incl. 3.5e38 and inf/nan, empty and
very long texts, unicode, numbers that are not numbers, duplicate buckets, times off the grid,
outside the tick or unparseable) mixed into valid rows. Whatever the source holds, materializing
``sales_timeseries_data`` for one tick succeeds; every row of the tick is a bucket or a reject with
its reason; the valid series come out as a run of them alone writes them; and the same rows in
another order write the same bytes."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given
from hypothesis import strategies as st

from minority_report_assets.assets import sales_timeseries_data
from minority_report_assets.partitions import START_TS, TICK, tick_key
from minority_report_assets.resources import SalesSource
from minority_report_assets.sales import COLUMNS, MAX_VALUE, validate_sales
from minority_report_assets.tables import SALES_TIMESERIES_DATA, SALES_TIMESERIES_REJECTS
from platform_core.resources import WarehouseResource
from platform_core.times import parse_times
from platform_core.warehouse import backend_for
from tests.fuzzing import FUZZ, NO_TIME_TEXTS, quietly_materialize

_TICKS = itertools.count(8)  # a fresh tick per example: one database serves every example
_TABLES = itertools.count()
LONG = "x" * 20_000

# --- hostile values: each listed one is in every example, the strategies add more --------------------
IDS = [None, "", " ", "\x00", "a\x00b", "\\u0000", LONG, "会话🎥", "\u202eevil\u0301", "\ufeff", "'; DROP TABLE x; --"]
NUMBERS_TEXT = [
    None,
    "",
    "inf",
    "-inf",
    "Infinity",
    "nan",
    "NaN",
    "1e309",
    "3.5e38",
    "-3.5e38",
    "1e308",
    "-1",
    "-0",
    "5e-324",
    "abc",
    "0x10",
    "1_000",
    " 5 ",
    "５",
    "1,5",
    "\x00",
    "true",
    "9" * 400,
]
NUMBERS_TYPED = [None, float("inf"), float("-inf"), float("nan"), 3.5e38, -3.5e38, 1e308, -1.0, -0.0, 5e-324]
NUMBERS_TYPED.append(MAX_VALUE * 1.001)  # finite, but a year of it overflows float32
#: Texts of a ts that name no time: a file row with one goes with its neighbour's tick.
NO_TIMES = [*NO_TIME_TEXTS, "2026-13-45T10:00:00", "NaT"]


def _ts_text(t: pd.Timestamp, style: int) -> str:
    """A naive-UTC time as one of the texts a file may hold for it (each parses to ``t``)."""
    return [
        t.strftime("%Y-%m-%dT%H:%M:%SZ"),
        t.strftime("%Y-%m-%d %H:%M:%S"),
        (t + pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+01:00"),
        t.strftime("%Y-%m-%d %H:%M"),
    ][style % 4]


#: Store ids a user may have that look like something else: each is a valid store.
ODD_STORES = ["NA", "null", "None", "N/A", "nan", "0001", "1e5", "  padded  ", "店舗", "a,b", 'q"d', "line\nbreak"]


@st.composite
def sales_sources(draw):
    """(layout, tick_end, rows, places, kinds, seed): how the source holds the rows (csv,
    parquet_text, parquet_typed, warehouse), the tick, its rows (dicts: ts a Timestamp, or a text
    where the layout holds texts), where each row's ts places it (in: the tick; out: elsewhere;
    none: no time), each row's kind (valid, hostile, copy, twin), and a seed to shuffle with."""
    layout = draw(st.sampled_from(["csv", "parquet_text", "parquet_typed", "warehouse"]))
    texts = layout in ("csv", "parquet_text")
    end = START_TS + next(_TICKS) * TICK
    start = end - TICK
    buckets = list(pd.date_range(start, end - pd.Timedelta(minutes=5), freq="5min"))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def number(value: float | None, style: int):
        return value if not texts or value is None else [repr(value), f"{value:.6g}", f"{value:e}"][style % 3]

    def row(store: str, sku: str, ts: pd.Timestamp, units: float, price: float | None, style: int) -> dict:
        return {
            "store_id": store,
            "sku": sku,
            "ts": _ts_text(ts, style) if texts else ts,
            "units": number(units, style),
            "price": number(price, style + 1),
        }

    rows, places, kinds = [], [], []
    stores = ODD_STORES + [f"store-{i}" for i in range(draw(st.integers(1, 4)))]
    for i, store in enumerate(stores):
        for b, ts in enumerate(buckets[: draw(st.integers(1, len(buckets)))]):
            units = float(rng.choice([0.0, 1.0, 2.5, 1e6]))
            price = None if rng.random() < 0.3 else float(rng.choice([0.0, 1.99, 250.0]))
            rows.append(row(store, f"sku-{i}", ts, units, price, i + b))
            places.append("in")
            kinds.append("valid")
    numbers = NUMBERS_TEXT if texts else NUMBERS_TYPED
    in_tick = [(start + pd.Timedelta(minutes=2), "in"), (end - pd.Timedelta(microseconds=1), "in")]
    outside = [
        (start - pd.Timedelta(minutes=5), "out"),
        (end, "out"),
        (end + pd.Timedelta(days=1), "out"),
        (pd.Timestamp("1970-01-01"), "out"),
    ]
    if texts:
        times = [(t, "none") for t in NO_TIMES] + [(_ts_text(t, k), p) for k, (t, p) in enumerate(in_tick + outside)]
        # Beside a time with nanoseconds, one nanoseconds cannot hold (each parsed on its own merits).
        nanos = (start + pd.Timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000000001Z")
        times += [(nanos, "in"), ("0001-01-01T00:00:00", "out"), ("9999-12-31T23:55:00", "out")]
    else:  # a typed ts: null is no time (a table's null-ts rows are in no tick), far times are elsewhere
        far = [(pd.Timestamp("0001-01-01"), "out"), (pd.Timestamp("9999-12-31 23:55"), "out")]
        times = [(None, "out" if layout == "warehouse" else "none"), *in_tick, *outside, *far]
    listed = [("store_id", v, "in") for v in IDS] + [("sku", v, "in") for v in IDS]
    listed += [("units", v, "in") for v in numbers] + [("price", v, "in") for v in numbers]
    listed += [("ts", v, p) for v, p in times]
    text = st.one_of(st.sampled_from(IDS), st.text(max_size=12))
    drawn = {
        "store_id": text,
        "sku": text,
        "units": st.one_of(st.sampled_from(numbers), st.text(max_size=8) if texts else st.floats()),
        "price": st.one_of(st.sampled_from(numbers), st.text(max_size=8) if texts else st.floats()),
    }
    for _ in range(draw(st.integers(1, 6))):
        field = draw(st.sampled_from(sorted(drawn)))
        listed.append((field, draw(drawn[field]), "in"))
    if texts:
        for value in draw(st.lists(st.text(max_size=12), min_size=1, max_size=3)):
            parsed = parse_times(pd.Series([value], dtype=object)).iat[0]
            place = "none" if pd.isna(parsed) else "in" if start <= parsed < end else "out"
            listed.append(("ts", value, place))
    for j, (field, value, place) in enumerate(listed):
        rows.append({**row(f"bad-store-{j}", f"bad-sku-{j}", start, 1.0, 2.0, j), field: value})
        places.append(place)
        kinds.append("hostile")
    # Duplicate buckets: rows sent again as they are, and a bucket sent again with other units.
    for i in draw(st.lists(st.integers(0, len(rows) - 1), min_size=1, max_size=3)):
        rows.append(dict(rows[i]))
        places.append(places[i])
        kinds.append("copy")
    twin = draw(st.integers(0, len(rows) - 1))
    rows.append({**rows[twin], "units": number(7.0, 0)})
    places.append(places[twin])
    kinds.append("twin")
    return layout, end, rows, places, kinds, draw(st.integers(0, 2**32 - 1))


def arrange(rows: list[dict], places: list[str], seed: int | None) -> list[dict]:
    """The rows in file order: the tick's (those with no time among them, after a row that has one:
    a row with no time goes with the row before it), then the others; ``seed`` shuffles each part."""
    rng = np.random.default_rng(seed) if seed is not None else None
    tick = [i for i, p in enumerate(places) if p in ("in", "none")]
    others = [i for i, p in enumerate(places) if p == "out"]
    if rng is not None:
        tick, others = list(rng.permutation(tick)), list(rng.permutation(others))
    first = next(i for i in tick if places[i] == "in")
    tick = [first] + [i for i in tick if i != first]
    order = (others + tick) if rng is not None and rng.random() < 0.5 else (tick + others)
    return [rows[i] for i in order]


def raw_table(url: str, name: str, rows: list[dict]) -> str:
    """The rows as a table of the warehouse, typed, written with the database's own client as a
    user's loader would (a Postgres text holds no NUL: U+FFFD in its place)."""
    postgres = url.startswith("postgresql")
    values = [
        tuple(
            v.to_pydatetime()
            if isinstance(v, pd.Timestamp)
            else v.replace("\x00", "\ufffd")
            if postgres and isinstance(v, str)
            else v
            for v in (r[c] for c in COLUMNS)
        )
        for r in rows
    ]
    ddl = [
        "CREATE SCHEMA IF NOT EXISTS raw",
        f"CREATE TABLE raw.{name} (store_id TEXT, sku TEXT, ts TIMESTAMP, units DOUBLE PRECISION, price DOUBLE PRECISION)",
    ]
    if postgres:
        import psycopg2

        con = psycopg2.connect(url)
        with con, con.cursor() as cur:
            for sql in ddl:
                cur.execute(sql)
            cur.executemany(f"INSERT INTO raw.{name} VALUES (%s, %s, %s, %s, %s)", values)
        con.close()
    else:
        import duckdb

        with duckdb.connect(url.removeprefix("duckdb:///")) as con:
            for sql in ddl:
                con.execute(sql)
            con.executemany(f"INSERT INTO raw.{name} VALUES (?, ?, ?, ?, ?)", values)
    return f"warehouse:raw.{name}"


def write_source(url: str, tmp_path, layout: str, rows: list[dict]) -> str:
    """The rows as the layout holds them; the source's URL."""
    frame = pd.DataFrame(rows, columns=COLUMNS)
    name = f"sales_{next(_TABLES)}"
    if layout == "csv":
        path = tmp_path / f"{name}.csv"
        frame.to_csv(path, index=False)
        return str(path)
    if layout == "warehouse":
        return raw_table(url, name, rows)
    typed = layout == "parquet_typed"
    schema = pa.schema(
        [
            ("store_id", pa.string()),
            ("sku", pa.string()),
            ("ts", pa.timestamp("us") if typed else pa.string()),
            ("units", pa.float64() if typed else pa.string()),
            ("price", pa.float64() if typed else pa.string()),
        ]
    )
    path = tmp_path / f"{name}.parquet"
    values = [{c: (r[c].to_pydatetime() if isinstance(r[c], pd.Timestamp) else r[c]) for c in COLUMNS} for r in rows]
    pq.write_table(pa.Table.from_pylist(values, schema=schema), path)
    return str(path)


# --- the runs --------------------------------------------------------------------------------------
def materialize(url: str, source: str, end: pd.Timestamp) -> None:
    quietly_materialize(
        [sales_timeseries_data],
        resources={"warehouse": WarehouseResource(url=url), "sales_source": SalesSource(url=source)},
        partition_key=tick_key(end, shard=0),
    )


def written(url: str, end: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, list[str]]]:
    """The tick's buckets and rejects (sorted), and their content hashes from the manifest."""
    backend = backend_for(url)
    where = {"written_at": end, "shard": 0}
    key = f"shard=0;written_at={end.isoformat()}"
    with backend.session():  # one connection (a DuckDB file is slow to open)
        buckets = backend.read(SALES_TIMESERIES_DATA, where=where).sort_values(["store_id", "sku", "ts"])
        rejects = backend.read(SALES_TIMESERIES_REJECTS, where=where).sort_values("row_number")
        hashes = {
            spec.name: backend.manifest(spec.schema, spec.name, key)["content_hash"].tolist()
            for spec in (SALES_TIMESERIES_DATA, SALES_TIMESERIES_REJECTS)
        }
    return buckets.reset_index(drop=True), rejects.reset_index(drop=True), hashes


def stored_id(value) -> str | None:
    """A store id as it is kept (a NUL as U+FFFD; missing and empty alike: a CSV cannot tell them apart)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "":
        return None
    return str(value).replace("\x00", "\ufffd")


@FUZZ
@given(sales_sources())
def test_any_sales_source_gives_a_tick_of_buckets_and_counted_rejects(warehouse_url, tmp_path, case):
    layout, end, rows, places, kinds, seed = case
    tick_rows = [r for r, p in zip(rows, places) if p != "out"]

    # (a) the tick runs, every check passing
    materialize(warehouse_url, write_source(warehouse_url, tmp_path, layout, arrange(rows, places, None)), end)
    buckets, rejects, hashes = written(warehouse_url, end)

    # (b) every row of the tick is a bucket or a reject with its reason; no row of another tick is
    assert len(buckets) + len(rejects) == len(tick_rows), (len(buckets), len(rejects), len(tick_rows))
    assert rejects["reason"].notna().all() and rejects["detail"].notna().all()
    assert sorted(rejects["row_number"]) == sorted(set(rejects["row_number"]))
    assert sorted(map(repr, map(stored_id, [*buckets["store_id"], *rejects["store_id"]]))) == sorted(
        repr(stored_id(r["store_id"])) for r in tick_rows
    ), "each row of the tick once, as a bucket or a reject"
    assert np.isfinite(buckets["units"]).all() and (buckets["units"] >= 0).all()
    twin = next(r for r, k in zip(rows, kinds) if k == "twin")
    touched = (twin["store_id"], twin["sku"])  # the series a bucket sent twice with other units is in
    expected = Counter((r["store_id"], r["sku"]) for r, k in zip(rows, kinds) if k == "valid")
    expected.pop(touched, None)
    found = Counter(s for s in zip(buckets["store_id"], buckets["sku"]) if s in expected)
    assert found == expected, "every valid row is a bucket"

    # (d) the same rows in another order change no byte of the written tables
    shuffled = write_source(warehouse_url, tmp_path, layout, arrange(rows, places, seed))
    materialize(warehouse_url, shuffled, end)
    buckets_again, rejects_again, hashes_again = written(warehouse_url, end)
    assert hashes_again == hashes and len(hashes["sales_timeseries_data"]) == 1
    pd.testing.assert_frame_equal(buckets_again, buckets)
    pd.testing.assert_frame_equal(rejects_again, rejects)

    # (c) the valid series (a bucket no hostile row shares) come out as a run of them alone writes them
    alone = [r for r, k in zip(rows, kinds) if k == "valid"]
    materialize(warehouse_url, write_source(warehouse_url, tmp_path, layout, alone), end)
    only_valid, no_rejects, _ = written(warehouse_url, end)
    assert no_rejects.empty and len(only_valid) == len(alone)
    keep = [s in expected for s in zip(buckets["store_id"], buckets["sku"])]
    mine = [s in expected for s in zip(only_valid["store_id"], only_valid["sku"])]
    pd.testing.assert_frame_equal(buckets[keep].reset_index(drop=True), only_valid[mine].reset_index(drop=True))


# --- what the fuzz found, one case each ------------------------------------------------------------
def test_now_and_today_are_no_time():
    """pandas reads them as the clock: a row that said "now" went to whichever tick ran at the time,
    and a replay of its tick lost it."""
    parsed = parse_times(pd.Series(["now", "today", " NOW ", "2026-11-20T10:05:00Z"], dtype=object))
    assert parsed.isna().tolist() == [True, True, True, False]


def test_a_time_with_nanoseconds_beside_one_they_cannot_hold_parses_both():
    """The two parsing passes picked different units, and putting them together raised: every tick
    reading the file failed."""
    parsed = parse_times(pd.Series(["2026-11-20T10:05:00.000000001Z", "0001-01-01T00:00:00"], dtype=object))
    assert parsed.tolist() == [pd.Timestamp("2026-11-20 10:05:00"), pd.Timestamp("0001-01-01")]


def test_a_csv_store_or_sku_that_reads_like_missing_is_an_id(tmp_path):
    """pandas reads "NA", "null", "None", "nan" as missing by default: those stores' rows were all
    rejects (missing_field) from a CSV, and buckets from Parquet. A price of "NA" is still no price."""
    from minority_report_assets.sources import read_sales

    path = tmp_path / "sales.csv"
    path.write_text(
        "store_id,sku,ts,units,price\n"
        "NA,null,2026-11-20T10:05:00Z,1,NA\n"
        "None,nan,2026-11-20T10:05:00Z,2,\n"
        ",sku,2026-11-20T10:05:00Z,3,1.5\n"
    )
    start = pd.Timestamp("2026-11-20 10:00")
    raw = read_sales(str(path), start, start + TICK)
    buckets, rejects = validate_sales(raw)
    assert list(zip(buckets["store_id"], buckets["sku"])) == [("NA", "null"), ("None", "nan")]
    assert buckets["price"].isna().all() and rejects["reason"].tolist() == ["missing_field"]
