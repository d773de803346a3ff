"""Partition writes: replace never duplicate, all-or-nothing, validated before write, on both backends."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from platform_core.hashing import content_hash
from platform_core.tables import Column, TableSpec
from platform_core.warehouse import InvalidPartition, PartitionWrite, backend_for

SPEC = TableSpec(
    "test",
    "things",
    (
        Column("day", "DATE"),
        Column("name", "TEXT"),
        Column("value", "DOUBLE"),
        Column("payload", "JSON"),
        Column("note", "TEXT", nullable=True),
    ),
    partition_columns=("day",),
    key=("name",),
)
D1, D2 = date(2026, 11, 2), date(2026, 11, 3)


def frame(day: date, names: list[str], value: float = 1.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": pd.Timestamp(day),
            "name": names,
            "value": value,
            "payload": ['{"k":1}'] * len(names),
            "note": [None] * len(names),
        }
    )


@pytest.fixture(params=["duckdb", "postgres"])
def backend(request, tmp_path):
    if request.param == "duckdb":
        return backend_for(f"duckdb:///{tmp_path}/w.duckdb")
    return backend_for(request.getfixturevalue("pg_url"))


def test_round_trip_and_manifest(backend):
    w = PartitionWrite(SPEC, {"day": D1}, frame(D1, ["b", "a"]), input_hash="in-1")
    backend.write([w])
    back = backend.read(SPEC, where={"day": D1})
    assert sorted(back["name"]) == ["a", "b"]
    assert back["note"].isna().all() and (back["value"] == 1.0).all()
    manifest = backend.manifest("test", "things")
    assert manifest["content_hash"].tolist() == [w.content_hash]
    assert manifest["input_hash"].tolist() == ["in-1"] and manifest["row_count"].tolist() == [2]


def test_rewrite_replaces_the_partition_and_leaves_others(backend):
    backend.write([PartitionWrite(SPEC, {"day": D1}, frame(D1, ["a", "b", "c"]))])
    backend.write([PartitionWrite(SPEC, {"day": D2}, frame(D2, ["x"]))])
    backend.write([PartitionWrite(SPEC, {"day": D1}, frame(D1, ["a"], value=2.0))])
    everything = backend.read(SPEC)
    assert sorted(zip(everything["day"].dt.date, everything["name"], everything["value"])) == [
        (D1, "a", 2.0),
        (D2, "x", 1.0),
    ]
    assert len(backend.manifest("test", "things")) == 2


def fail_inserts_into(monkeypatch, backend, qualified: str, message: str) -> None:
    """Make the backend die when it inserts into ``qualified``: after the delete, before the commit."""
    real_insert = type(backend)._insert

    def dying_insert(self, con, table, data, columns):
        if table == qualified:
            raise RuntimeError(message)
        return real_insert(self, con, table, data, columns)

    monkeypatch.setattr(type(backend), "_insert", dying_insert)


def test_crash_between_delete_and_insert_leaves_previous_partition(backend, monkeypatch):
    backend.write([PartitionWrite(SPEC, {"day": D1}, frame(D1, ["a", "b"]))])
    fail_inserts_into(monkeypatch, backend, SPEC.qualified_name, "process killed mid-write")
    with pytest.raises(RuntimeError, match="mid-write"):
        backend.write([PartitionWrite(SPEC, {"day": D1}, frame(D1, ["z"]))])
    monkeypatch.undo()
    assert sorted(backend.read(SPEC, where={"day": D1})["name"]) == ["a", "b"]


def test_a_multi_table_write_is_all_or_nothing(backend, monkeypatch):
    other = TableSpec("test", "others", SPEC.columns, ("day",), ("name",))
    backend.write(
        [PartitionWrite(SPEC, {"day": D1}, frame(D1, ["a"])), PartitionWrite(other, {"day": D1}, frame(D1, ["a"]))]
    )
    fail_inserts_into(monkeypatch, backend, other.qualified_name, "second table failed")
    with pytest.raises(RuntimeError, match="second table failed"):
        backend.write(
            [
                PartitionWrite(SPEC, {"day": D1}, frame(D1, ["new"])),
                PartitionWrite(other, {"day": D1}, frame(D1, ["new"])),
            ]
        )
    monkeypatch.undo()
    assert backend.read(SPEC)["name"].tolist() == ["a"]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda f: f.assign(name=[None, "b"]), "null values in a non-nullable column"),
        (lambda f: f.assign(name=["a", "a"]), "repeat the key"),
        (lambda f: f.assign(day=pd.Timestamp(D2)), "outside partition"),
        (lambda f: f.assign(value=[1.0, float("inf")]), "non-finite"),
        (lambda f: f.drop(columns=["payload"]), "missing columns"),
        (lambda f: f.assign(extra=1), "unexpected columns"),
    ],
)
def test_invalid_frames_are_refused_before_any_write(mutate, message):
    with pytest.raises(InvalidPartition, match=message):
        PartitionWrite(SPEC, {"day": D1}, mutate(frame(D1, ["a", "b"])))


def test_a_table_whose_columns_changed_gets_a_clear_error(tmp_path):
    backend = backend_for(f"duckdb:///{tmp_path}/w.duckdb")
    backend.write([PartitionWrite(SPEC, {"day": D1}, frame(D1, ["a"]))])
    changed = TableSpec("test", "things", SPEC.columns[:-1], ("day",), ("name",))
    with pytest.raises(RuntimeError, match="drop or migrate"):
        backend.write([PartitionWrite(changed, {"day": D1}, frame(D1, ["a"]).drop(columns=["note"]))])


def test_duckdb_urls():
    assert backend_for("duckdb:///data/w.duckdb").path == "data/w.duckdb"
    assert backend_for("duckdb:////tmp/w.duckdb").path == "/tmp/w.duckdb"
    with pytest.raises(ValueError, match="WAREHOUSE_URL"):
        backend_for("mysql://x")


def test_appends_are_checked_like_partition_writes(tmp_path):
    log = TableSpec("test", "log", (Column("id", "TEXT"), Column("note", "TEXT", nullable=True)), (), ("id",))
    backend = backend_for(f"duckdb:///{tmp_path}/w.duckdb")
    assert backend.append(log, pd.DataFrame({"id": ["a"], "note": ["x"]})) == 1
    assert backend.append(log, pd.DataFrame({"id": ["a", "b"], "note": [None, None]})) == 1, "known keys are skipped"
    with pytest.raises(InvalidPartition, match="missing columns"):
        backend.append(log, pd.DataFrame({"id": ["c"]}))


VECTORS = TableSpec(
    "test",
    "vectors",
    (Column("day", "DATE"), Column("name", "TEXT"), Column("v", "VECTOR")),
    partition_columns=("day",),
    key=("name",),
)


def test_vectors_round_trip_exactly_and_hash_by_their_bytes(backend):
    rng = np.random.default_rng(3)
    values = [rng.standard_normal(5).astype(np.float32), np.array([1e-8, -3.4e38, 0.1], dtype=np.float32)]
    w = PartitionWrite(VECTORS, {"day": D1}, pd.DataFrame({"day": pd.Timestamp(D1), "name": ["a", "b"], "v": values}))
    with backend.session():  # one connection for both calls
        backend.write([w])
        back = backend.read(VECTORS, where={"day": D1}).sort_values("name")
    assert all(got.dtype == np.float32 and np.array_equal(got, want) for got, want in zip(back["v"], values))
    assert content_hash(VECTORS, back) == w.content_hash
    nudged = [values[0], values[1] + np.float32(1e-7)]
    assert content_hash(VECTORS, back.assign(v=nudged)) != w.content_hash


def test_non_finite_vectors_are_refused():
    bad = pd.DataFrame({"day": pd.Timestamp(D1), "name": ["a"], "v": [np.array([np.nan, 1.0], dtype=np.float32)]})
    with pytest.raises(InvalidPartition, match="not finite float32 vectors"):
        PartitionWrite(VECTORS, {"day": D1}, bad)


def test_two_writers_of_one_partition_at_once_leave_one_copy(pg_url, monkeypatch):
    """Forced overlap: each writer, after its delete, waits for the other to delete too before it
    inserts. Without serialization both delete nothing visible, both insert: twice the rows."""
    import threading
    import time

    from platform_core.warehouse import PostgresBackend

    backend_for(pg_url).write([PartitionWrite(SPEC, {"day": D1}, frame(D1, ["seed"]))])  # the table exists
    deleted, real_delete = [], PostgresBackend._delete

    def delete_then_wait(self, con, qualified, partition):
        real_delete(self, con, qualified, partition)
        if qualified == SPEC.qualified_name:
            deleted.append(threading.get_ident())
            give_up = time.monotonic() + 2.0  # a serialized second writer cannot delete before we commit
            while len(deleted) < 2 and time.monotonic() < give_up:
                time.sleep(0.01)

    monkeypatch.setattr(PostgresBackend, "_delete", delete_then_wait)
    names = [f"n{i:02d}" for i in range(48)]
    writers = [
        threading.Thread(
            target=lambda v=v: backend_for(pg_url).write([PartitionWrite(SPEC, {"day": D1}, frame(D1, names, v))])
        )
        for v in (1.0, 2.0)
    ]
    for t in writers:
        t.start()
    for t in writers:
        t.join(timeout=30)
    monkeypatch.undo()
    rows = backend_for(pg_url).read(SPEC, where={"day": D1})
    assert len(rows) == 48 and rows["name"].is_unique, f"{len(rows)} rows for 48 names"
    assert rows["value"].nunique() == 1, "one writer's rows, whole"
    assert backend_for(pg_url).manifest("test", "things")["row_count"].tolist() == [48]


def test_a_continuation_needs_its_predecessors_except_before_the_first_partition(tmp_path):
    import dagster as dg

    from platform_core.checks import require_predecessors

    backend = backend_for(f"duckdb:///{tmp_path}/w.duckdb")
    backend.write([PartitionWrite(SPEC, {"day": D2}, frame(D2, ["a"]), "in")])
    days = [{"day": D1}, {"day": D2}]
    written = require_predecessors(backend, SPEC, days, "day 3", "day", D2)
    assert written == [content_hash(SPEC, frame(D2, ["a"]))], "the day before the first is not required"
    with pytest.raises(dg.Failure, match="day 3 needs test.things for day=2026-11-02"):
        require_predecessors(backend, SPEC, days, "day 3", "day", D1)


def test_a_partition_written_in_batches_is_the_partition_written_whole(backend):
    """A table too large to hold is written batch by batch in one transaction: the same rows, the
    same content hash, the same manifest as one frame would give."""
    from platform_core.warehouse import Batches

    whole = frame(D1, [f"n{i:03d}" for i in range(25)])
    parts = Batches(lambda: (whole.iloc[i : i + 10] for i in range(0, 25, 10)))
    batched = PartitionWrite(SPEC, {"day": D1}, parts, "in")
    assert (batched.rows, batched.content_hash) == (25, content_hash(SPEC, whole))
    backend.write([batched])
    back = backend.read(SPEC, where={"day": D1}).sort_values("name").reset_index(drop=True)
    assert back["name"].tolist() == whole["name"].tolist()
    assert backend.manifest("test", "things")["content_hash"].tolist() == [content_hash(SPEC, whole)]


@pytest.mark.parametrize(
    "batches, message",
    [
        (lambda w: [w.iloc[10:], w.iloc[:10]], "not in key order"),  # out of order
        (lambda w: [w.iloc[:10], w.iloc[9:]], "not in key order"),  # a key in two batches
        (lambda w: [w.iloc[:10], w.iloc[10:].assign(value=float("inf"))], "non-finite"),  # a bad later batch
    ],
)
def test_batches_that_break_the_contract_are_refused_before_any_write(batches, message):
    from platform_core.warehouse import Batches

    whole = frame(D1, [f"n{i:03d}" for i in range(25)])
    with pytest.raises(InvalidPartition, match=message):
        PartitionWrite(SPEC, {"day": D1}, Batches(lambda: iter(batches(whole))), "in")
