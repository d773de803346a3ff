"""Fuzz the replay segment source contract through Dagster, on DuckDB and Postgres: a Parquet file
of a team's segments with hostile values in every field (NUL bytes, huge and non-finite numbers,
empty and very long texts, unicode, wrong column types, duplicate keys, times outside the tick or
unparseable) mixed into valid rows. Whatever the file holds, materializing ``video_segments`` for
one tick succeeds; every input row is a segment or a reject with its reason; the valid rows come out
as a run of them alone writes them; and the same rows in another order write the same bytes."""

from __future__ import annotations

import datetime as dt
import itertools

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given
from hypothesis import strategies as st

from platform_core.resources import Pseudonymizer, WarehouseResource
from platform_core.times import parse_times
from platform_core.warehouse import backend_for
from replay_assets.assets import video_segments
from replay_assets.partitions import TICK, partition_key_for, team_partitions
from replay_assets.resources import SegmentSource
from replay_assets.tables import VIDEO_SEGMENT_REJECTS, VIDEO_SEGMENTS
from tests.fuzzing import FUZZ, NO_TIME_TEXTS, quietly_materialize

END = pd.Timestamp("2026-11-20 10:30")
START = END - TICK
DIMENSION = 8
CONTENT = "clicked pay and the form froze"
TIMES = ("start_time", "end_time", "timestamp", "inserted_at")
_TEAMS = itertools.count(1000)  # a fresh team per example: one database serves every example

# --- hostile values: each listed one is in every example, the strategies add more --------------------
LONG = "x" * 20_000
TEXTS = [
    None,
    "",
    " ",
    "\t\n",
    "\x00",
    "a\x00b",
    "\\u0000",  # the six characters of a JSON escape of NUL
    LONG,
    "会话🎥",
    "\u202eevil\u0301",
    "\ufeff",
    "::",
    "s:1:2:3",
    "null",
    "NaN",
    "-1",
    "1e309",
    "9" * 40,
    "'; DROP TABLE replay.video_segments; --",
]
INTEGER_IDS = [None, 0, -1, 2**63 - 1, -(2**63), 10**18]
VECTORS = [
    None,
    [],
    [float("nan")] * DIMENSION,
    [float("inf")] * DIMENSION,
    [float("-inf")] + [1.0] * (DIMENSION - 1),
    [3.5e38] * DIMENSION,  # finite in float64, infinite in float32
    [3e38] * DIMENSION,  # finite in float32, its square is not
    [1e-45] * DIMENSION,  # subnormal
    [0.0] * DIMENSION,
    [-0.0] * DIMENSION,
    [1.0] * (DIMENSION - 1),
    [1.0] * 2000,
    [1.0, None] + [1.0] * (DIMENSION - 2),  # a null inside the list
]
TIMES_TYPED = [
    None,
    dt.datetime(1, 1, 1),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
    dt.datetime(1970, 1, 1),
    dt.datetime(1677, 9, 21),  # below what nanoseconds hold
    dt.datetime(2262, 4, 12),  # above it
]
TIMES_TEXT = [
    *NO_TIME_TEXTS,
    "2026-13-45 10:00",
    "0001-01-01T00:00:00",
    "2026-11-20T10:05:00.123456789Z",  # nanoseconds, beside a time they cannot hold (year 1)
    "9999-12-31T23:59:59.999999",
    "nan",
]
#: Where a row falls outside the tick: its arrival time, typed and as text (no tick of the team reads it).
OUTSIDE = [None, START - pd.Timedelta(microseconds=1), END, END + pd.Timedelta(days=400), pd.Timestamp("1970-01-01")]
OUTSIDE_TEXT = [None, "", " ", "now", "2026-11-20T10:05:00+01:00", "2026-11-20T10:30:00Z"]  # 09:05 UTC; the tick's end
#: A row without a readable arrival is placed by its own latest time: these rows' own times are not in the tick.
LATER = {"typed": END + pd.Timedelta(days=1), "text": "2026-11-21T10:00:00Z"}

_TEXT = st.one_of(st.sampled_from(TEXTS), st.text(max_size=12))
_INTEGER_ID = st.one_of(st.sampled_from(INTEGER_IDS), st.integers(-(2**63), 2**63 - 1))
_VECTOR = st.one_of(
    st.sampled_from(VECTORS),
    st.lists(st.floats(width=32), min_size=DIMENSION, max_size=DIMENSION),
    st.lists(st.floats(width=32), max_size=DIMENSION + 2),
)
_TIME_TYPED = st.one_of(st.sampled_from(TIMES_TYPED), st.datetimes())
_TIME_TEXT = st.one_of(st.sampled_from(TIMES_TEXT), st.text(max_size=12))


def _time_text(t: pd.Timestamp, style: int) -> str:
    """A naive-UTC time as one of the texts a file may hold for it (each parses to ``t``)."""
    return [
        t.strftime("%Y-%m-%d %H:%M:%S.%f"),
        t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        (t + pd.Timedelta(hours=5, minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.%f+05:30"),
    ][style % 3]


@st.composite
def segment_files(draw):
    """(layout, rows, kinds, seed): the file's column types, its rows (dicts, times naive UTC), each
    row's kind (valid, hostile, copy: a valid row sent twice, twin: a key sent twice with another
    embedding, outside: not the tick's), and a seed to shuffle them with."""
    layout = {
        "times": draw(st.sampled_from(["timestamp", "timestamp_tz", "text"])),
        "distinct_id": draw(st.sampled_from(["text", "integer"])),
        "embedding": draw(st.sampled_from(["float64", "float32"])),
    }
    team = next(_TEAMS)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    integer_ids = layout["distinct_id"] == "integer"

    def valid(i: int, name: str = "ok") -> dict:
        at = START + pd.Timedelta(minutes=1, seconds=i)
        return {
            "team_id": team,
            "document_id": f"{name}{i}:0:5",
            "session_id": f"{name}{i}",
            "distinct_id": 7000 + i if integer_ids else f"{name}user{i}",
            "start_time": at - pd.Timedelta(seconds=60),
            "end_time": at - pd.Timedelta(seconds=55),
            "timestamp": at - pd.Timedelta(seconds=60),
            "inserted_at": at,
            "content": f"{CONTENT} ({i})",
            "embedding": rng.standard_normal(DIMENSION).tolist(),
            "_style": i,  # how a file of text times writes this row's times
        }

    rows = [valid(i) for i in range(draw(st.integers(3, 6)))]
    kinds = ["valid"] * len(rows)
    times = TIMES_TEXT if layout["times"] == "text" else TIMES_TYPED
    listed = {
        "document_id": TEXTS,
        "session_id": TEXTS,
        # A long id in a long text costs the privacy scrub time quadratic in its length (reported):
        # the long id here is not a text of the tick.
        "distinct_id": INTEGER_IDS if integer_ids else [t if t != LONG else "u" * len(LONG) for t in TEXTS],
        "start_time": times,
        "end_time": times,
        "timestamp": times,
        "content": TEXTS,
        "embedding": VECTORS,
    }
    drawn = {
        **{f: _TEXT for f in ("document_id", "session_id", "content")},
        "distinct_id": _INTEGER_ID if integer_ids else _TEXT,
        **{f: _TIME_TEXT if layout["times"] == "text" else _TIME_TYPED for f in TIMES[:3]},
        "embedding": _VECTOR,
    }
    # Every listed value in one field of a row of its own, then rows with 1-3 drawn values. (Every
    # other row's embedding has the valid rows' size: the tick's most common size stays theirs.)
    mutations = [{field: value} for field, values in listed.items() for value in values]
    for _ in range(draw(st.integers(1, 8))):
        fields = draw(st.lists(st.sampled_from(sorted(drawn)), min_size=1, max_size=3, unique=True))
        mutations.append({f: draw(drawn[f]) for f in fields})
    for j, change in enumerate(mutations):
        row = {**valid(100 + j, "bad"), **change}
        if isinstance(row["distinct_id"], str) and len(row["distinct_id"]) >= 4 and row["distinct_id"] in CONTENT:
            # A raw id of the tick is scrubbed from every description of the tick (privacy): one that
            # is a word of the valid rows' descriptions would rewrite them, which is not what this tests.
            row["distinct_id"] = f"baduser{j}"
        rows.append(row)
        kinds.append("hostile")
    # Duplicate keys: rows sent again as they are, and a key sent again with another embedding.
    for i in draw(st.lists(st.integers(0, len(rows) - 1), max_size=3)):
        rows.append(dict(rows[i]))
        kinds.append("copy")
    twin = draw(st.integers(0, len(rows) - 1))
    rows.append({**rows[twin], "embedding": rng.standard_normal(DIMENSION).tolist()})
    kinds.append("twin")
    # Rows no tick of this team reads: another team's, and arrival times outside the tick or none.
    elsewhere = OUTSIDE_TEXT if layout["times"] == "text" else OUTSIDE
    later = LATER["text" if layout["times"] == "text" else "typed"]
    outside = [{"team_id": t} for t in (team + 1, -team, 0, 2**63 - 1, None)] + [
        {"inserted_at": t, **({c: later for c in TIMES[:3]} if arrival(t) is pd.NaT else {})} for t in elsewhere
    ]
    # Rows without a readable arrival whose own times are in the tick: its rejects.
    for k, t in enumerate(elsewhere):
        if arrival(t) is pd.NaT:
            rows.append({**valid(300 + k, "late"), "inserted_at": t})
            kinds.append("hostile")
    for k, change in enumerate(outside):
        rows.append({**valid(200 + k, "out"), **change})
        kinds.append("outside")
    return layout, rows, kinds, draw(st.integers(0, 2**32 - 1))


def arrival(value) -> pd.Timestamp:
    """An arrival time as the source reads it (NaT: missing or no time)."""
    return parse_times(pd.Series([value], dtype=object)).iat[0]


def write_file(path, layout: dict, rows: list[dict]) -> str:
    """The rows as a Parquet file with the layout's column types."""
    time_type = {
        "timestamp": pa.timestamp("us"),
        "timestamp_tz": pa.timestamp("us", tz="Asia/Kolkata"),
        "text": pa.string(),
    }[layout["times"]]
    schema = pa.schema(
        [
            ("team_id", pa.int64()),
            ("document_id", pa.string()),
            ("session_id", pa.string()),
            ("distinct_id", pa.int64() if layout["distinct_id"] == "integer" else pa.string()),
            *[(c, time_type) for c in TIMES[:3]],
            ("inserted_at", time_type),
            ("content", pa.string()),
            ("embedding", pa.list_(pa.float32() if layout["embedding"] == "float32" else pa.float64())),
        ]
    )
    out = []
    for row in rows:
        row = dict(row)
        style = row.pop("_style")
        for c in TIMES:
            t = row[c]
            if isinstance(t, pd.Timestamp):
                if layout["times"] == "text":
                    row[c] = _time_text(t, style)
                elif layout["times"] == "timestamp_tz":
                    row[c] = t.tz_localize("UTC").to_pydatetime()
                else:
                    row[c] = t.to_pydatetime()
            elif isinstance(t, dt.datetime) and layout["times"] == "timestamp_tz":
                row[c] = t.replace(tzinfo=dt.timezone.utc)
        if layout["embedding"] == "float32" and row["embedding"] is not None:
            with np.errstate(over="ignore"):
                row["embedding"] = [None if v is None else float(np.float32(v)) for v in row["embedding"]]
        out.append(row)
    pq.write_table(pa.Table.from_pylist(out, schema=schema), path)
    return str(path)


# --- the runs --------------------------------------------------------------------------------------
_INSTANCE: list[dg.DagsterInstance] = []


def materialize(url: str, source: str, team: int):
    if not _INSTANCE:
        _INSTANCE.append(dg.DagsterInstance.ephemeral())
    instance = _INSTANCE[0]
    if not instance.has_dynamic_partition(team_partitions.name, str(team)):
        instance.add_dynamic_partitions(team_partitions.name, [str(team)])
    resources = {
        "warehouse": WarehouseResource(url=url),
        "replay_segments": SegmentSource(url=source),
        "replay_pseudonymizer": Pseudonymizer(salt="fuzz-salt"),
    }
    quietly_materialize(
        [video_segments],
        instance=instance,
        resources=resources,
        partition_key=partition_key_for(team, END),
    )


def written(url: str, team: int) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """The tick's segments and rejects (sorted), and their content hashes from the manifest."""
    backend = backend_for(url)
    where = {"team_id": team, "tick_end": END}
    key = f"team_id={team};tick_end={END.isoformat()}"
    with backend.session():  # one connection (a DuckDB file is slow to open)
        segments = backend.read(VIDEO_SEGMENTS, where=where).sort_values("document_id").reset_index(drop=True)
        rejects = backend.read(VIDEO_SEGMENT_REJECTS, where=where).sort_values("row_number").reset_index(drop=True)
        hashes = {
            spec.name: backend.manifest(spec.schema, spec.name, key)["content_hash"].tolist()
            for spec in (VIDEO_SEGMENTS, VIDEO_SEGMENT_REJECTS)
        }
    return segments, rejects, hashes


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame whose vectors compare as lists of float32 values."""
    return frame.assign(embedding=[np.asarray(e, dtype=np.float32).tolist() for e in frame["embedding"]])


def stored(value) -> str | None:
    """A text as the warehouse keeps it (a NUL as U+FFFD)."""
    return None if value is None else str(value).replace("\x00", "\ufffd")


@FUZZ
@given(segment_files())
def test_any_segment_file_gives_a_tick_of_segments_and_counted_rejects(warehouse_url, tmp_path, case):
    layout, rows, kinds, seed = case
    team = rows[0]["team_id"]
    inputs = [r for r, k in zip(rows, kinds) if k != "outside"]

    # (a) the tick runs, every check passing
    materialize(warehouse_url, write_file(tmp_path / f"{team}.parquet", layout, rows), team)
    segments, rejects, hashes = written(warehouse_url, team)

    # (b) every input row is a segment or a reject with its reason; rows outside the tick are neither
    assert len(segments) + len(rejects) == len(inputs), (len(segments), len(rejects), len(inputs))
    assert rejects["reason"].notna().all() and rejects["detail"].notna().all()
    # Each input row has its own arrival time (a row sent twice, its twin's): ids may be scrubbed in a reject.
    arrivals = sorted(str(arrival(t)) for t in [*segments["inserted_at"], *rejects["inserted_at"]])
    assert arrivals == sorted(str(arrival(r["inserted_at"])) for r in inputs), (
        "each input row once, as a segment or a reject"
    )
    assert sorted(rejects["row_number"]) == sorted(set(rejects["row_number"]))
    valid_ids = {r["document_id"] for r, k in zip(rows, kinds) if k == "valid"}
    twins = {r["document_id"] for r, k in zip(rows, kinds) if k == "twin"}
    assert valid_ids - twins <= set(segments["document_id"]), "every valid row is a segment"
    assert segments["document_id"].is_unique and set(segments["document_id"]) <= valid_ids | {
        stored(r["document_id"]) for r in inputs
    }

    # (d) the same rows in another order change no byte of the written tables
    order = np.random.default_rng(seed).permutation(len(rows))
    shuffled = [rows[i] for i in order]
    materialize(warehouse_url, write_file(tmp_path / f"{team}-shuffled.parquet", layout, shuffled), team)
    segments_again, rejects_again, hashes_again = written(warehouse_url, team)
    assert hashes_again == hashes and len(hashes["video_segments"]) == 1
    pd.testing.assert_frame_equal(comparable(segments_again), comparable(segments))
    pd.testing.assert_frame_equal(rejects_again, rejects)

    # (c) the valid rows (a key no hostile row shares) come out as a run of them alone writes them
    alone = [r for r, k in zip(rows, kinds) if k == "valid"]
    materialize(warehouse_url, write_file(tmp_path / f"{team}-valid.parquet", layout, alone), team)
    only_valid, no_rejects, _ = written(warehouse_url, team)
    assert no_rejects.empty and len(only_valid) == len(alone)
    kept = sorted(valid_ids - twins)
    pd.testing.assert_frame_equal(
        comparable(segments.set_index("document_id").loc[kept].reset_index()),
        comparable(only_valid.set_index("document_id").loc[kept].reset_index()),
    )


# --- what the fuzz found, one case each ------------------------------------------------------------
def _segment(i: int, **changes) -> dict:
    at = START + pd.Timedelta(minutes=1, seconds=i)
    row = {
        "team_id": 1,
        "document_id": f"s{i}:0:5",
        "session_id": f"s{i}",
        "distinct_id": f"user{i}",
        "start_time": at,
        "end_time": at + pd.Timedelta(seconds=5),
        "timestamp": at,
        "inserted_at": at,
        "content": "clicked pay",
        "embedding": [1.0, float(i + 1), 0.5],
    }
    return {**row, **changes}


def test_a_file_of_text_times_reads_each_on_its_own_and_a_text_that_is_no_time_is_a_reject(tmp_path):
    """A text time column failed the whole tick when one value was unlike the first (pandas takes
    the first value's format), or when a time with nanoseconds sat beside one they cannot hold;
    "now" read as the clock, so a replay wrote other rows."""
    from replay_assets.segments import validate_segments
    from replay_assets.sources import read_segments_from

    texts = ["2026-11-20 10:01:00", "2026-11-20T10:01:01.000000123Z", "2026-11-20T15:31:02+05:30"]
    rows = [{**_segment(i), **{c: texts[i] for c in TIMES}} for i in range(3)]
    rows += [
        {**_segment(3), **{c: "2026-11-20T10:01:03Z" for c in TIMES}, "end_time": "yesterday"},
        {**_segment(4), **{c: "2026-11-20T10:01:04Z" for c in TIMES}, "end_time": "now"},
        {**_segment(5), **{c: "2026-11-20T10:01:05Z" for c in TIMES}, "start_time": "0001-01-01T00:00:00"},
        {**_segment(6), **{c: "2026-11-20T10:01:06Z" for c in TIMES}, "inserted_at": ""},  # placed by its own times
        {**_segment(7), **{c: "2026-11-20T10:01:07Z" for c in TIMES}, "inserted_at": "now"},
    ]
    pd.DataFrame(rows).to_parquet(tmp_path / "segments.parquet")
    raw = read_segments_from(str(tmp_path / "segments.parquet"), 1, START, END)
    assert sorted(raw["document_id"]) == [f"s{i}:0:5" for i in range(8)]
    v = validate_segments(raw)
    assert sorted(v.segments["document_id"]) == ["s0:0:5", "s1:0:5", "s2:0:5", "s5:0:5"]
    assert (v.segments["inserted_at"] == [START + pd.Timedelta(minutes=1, seconds=i) for i in (0, 1, 2, 5)]).all()
    rejected = dict(zip(v.rejects["document_id"], v.rejects["detail"]))
    assert {k: rejected[k] for k in ("s3:0:5", "s4:0:5", "s7:0:5")} == {
        "s3:0:5": "end_time is not a time",
        "s4:0:5": "end_time is not a time",
        "s7:0:5": "inserted_at is not a time",  # "now" included: the clock is no arrival
    }
    assert "inserted_at" in rejected["s6:0:5"] and len(rejected) == 4


def test_a_segment_without_its_timestamp_is_a_reject_not_a_failed_tick():
    """It passed validation and failed the tick's schema check (timestamp is never null), so the
    team's every later tick waited on it."""
    from replay_assets.segments import validate_segments

    v = validate_segments(pd.DataFrame([_segment(0), _segment(1, timestamp=None), _segment(2, timestamp="now")]))
    assert v.segments["document_id"].tolist() == ["s0:0:5"]
    assert v.rejects["detail"].tolist() == ["timestamp is missing", "timestamp is not a time"]


def test_integer_ids_in_a_file_are_read_as_their_digits(tmp_path):
    """A null in an integer distinct_id column made every id a float: user 7000 was "7000.0", a
    pseudonym no other tick gave them, and a raw id the privacy scrub did not look for."""
    from replay_assets.sources import read_segments_from

    frame = pd.DataFrame([_segment(0), _segment(1), _segment(2)])
    frame["distinct_id"] = pd.array([7000, None, 2**63 - 1], dtype="Int64")
    frame.to_parquet(tmp_path / "segments.parquet")
    raw = read_segments_from(str(tmp_path / "segments.parquet"), 1, START, END)
    assert [None if pd.isna(d) else d for d in raw["distinct_id"]] == ["7000", None, str(2**63 - 1)]
