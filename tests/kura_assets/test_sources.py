"""The same events read from the demo, a JSONL file or a Postgres event store give the same signals."""

from datetime import date, timedelta
from pathlib import Path

import orjson
import pandas as pd
import pytest

from kura_assets import demo, sources
from kura_assets.partitions import START_DATE
from kura_assets.signals import SignalRules, validate_signals
from kura_assets.tables import LEARNING_SIGNAL_REJECTS, LEARNING_SIGNALS
from platform_core.hashing import content_hash
from platform_core.warehouse import backend_for

DAY = demo.DEMO_START + timedelta(days=1)
FIRST = date.fromisoformat(START_DATE)
RULES = SignalRules()


def demo_rows(days: int = 3) -> pd.DataFrame:
    return pd.concat([demo.generate_day(demo.DEMO_START + timedelta(days=i)) for i in range(days)], ignore_index=True)


def signals_hash(url: str) -> str:
    raw = sources.read_events(url, *RULES.read_window(DAY))
    return content_hash(LEARNING_SIGNALS, validate_signals(raw, DAY, "salt").signals)


def test_jsonl_gives_the_demo_signals_and_places_broken_lines(tmp_path: Path):
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(demo.to_jsonl_lines(demo_rows())) + "\n")
    assert signals_hash(str(path)) == signals_hash("demo")
    first_day = sources.read_events(str(path), *RULES.read_window(demo.DEMO_START))
    v = validate_signals(first_day, demo.DEMO_START, "salt")
    broken = v.rejects[v.rejects["detail"] == "line is not a JSON object"]
    assert len(broken) == 3, "each day's malformed line is kept, on the file's first day"


def test_unknown_url_is_a_clear_error():
    with pytest.raises(ValueError, match="KURA_EVENTS_URL"):
        sources.read_events("s3://bucket/events", *RULES.read_window(DAY))


def load_events_table(dsn: str, rows: pd.DataFrame) -> None:
    import psycopg2

    con = psycopg2.connect(dsn)
    with con, con.cursor() as cur:
        cur.execute("""CREATE TABLE events (id uuid PRIMARY KEY, user_id text, "timestamp" timestamptz NOT NULL,
                       event_type text NOT NULL, data jsonb NOT NULL, metadata jsonb NOT NULL)""")
        for r in rows.itertuples(index=False):
            try:  # a JSONB column cannot hold broken JSON: such rows cannot exist in a real store
                orjson.loads(r.data)
            except orjson.JSONDecodeError:
                continue
            cur.execute(
                "INSERT INTO events VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (r.id, r.user_id, r.timestamp, r.event_type, r.data, r.metadata),
            )
    con.close()


def test_postgres_event_store_gives_the_demo_signals(pg_url):
    load_events_table(pg_url, demo_rows())
    assert signals_hash(pg_url) == signals_hash("demo")


def test_lines_are_split_the_same_whatever_the_chunk_they_are_read_in(tmp_path: Path):
    path = tmp_path / "lines.jsonl"
    path.write_bytes(b"a\r\nbb\rccc\n\n\xff\x1e\n" * 50 + b"last")
    expected = [b"a", b"bb", b"ccc", b"\xff\x1e"] * 50 + [b"last"]
    for chunk in (7, 64, 1 << 20):  # chunks that cut lines, and a \r\n, anywhere
        assert [line for b in sources.line_batches(str(path), chunk) for line in b.to_pylist()] == expected, chunk


def test_chunks_read_ahead_arrive_in_order_and_a_reading_error_reaches_the_reader():
    assert list(sources.read_ahead(iter(range(50)))) == list(range(50))

    def failing():
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(sources.read_ahead(failing()))

    closed = []

    def chunks():
        try:
            yield from range(1000)
        finally:
            closed.append(True)

    ahead = sources.read_ahead(chunks())
    assert [next(ahead), next(ahead)] == [0, 1]
    ahead.close()  # a reader that stops early: the producer stops, and the file is closed
    assert closed == [True]


def test_a_line_holding_a_control_byte_is_kept_as_malformed(tmp_path: Path):
    lines = demo.to_jsonl_lines(demo.generate_day(DAY))
    lines.insert(3, '{"id": "odd", "data": "a\x1eb"')  # a broken line, with a record separator
    path = tmp_path / "odd.jsonl"
    path.write_text("\n".join(lines) + "\n")
    raw = sources.read_events(str(path), *RULES.read_window(FIRST))  # undated: kept on the first day
    odd = raw[raw["data"].astype("object").str.contains("\x1e", na=False)]
    assert len(odd) == 1 and odd["parse_error"].iloc[0] == "line is not a JSON object"
    rejects = validate_signals(raw, FIRST, "salt").rejects
    assert "line is not a JSON object" in set(rejects["detail"])


def bad_line_file(tmp_path: Path, bad: bytes) -> str:
    """A JSONL file of the demo day with one bad line among its good ones."""
    lines = [line.encode() for line in demo.to_jsonl_lines(demo.generate_day(DAY))]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines[:5] + [bad] + lines[5:]) + b"\n")
    return str(path)


def signal_line(user: str, attributes: str) -> bytes:
    """A valid signal's line with ``attributes`` spliced in as raw JSON text."""
    from tests.kura_assets.factories import raw_event

    e = raw_event(user, pd.Timestamp(DAY).to_pydatetime() + timedelta(hours=12))
    data = orjson.loads(e["data"])
    data["attributes"] = {"__slot__": 1}
    text = orjson.dumps(
        {
            "id": e["id"],
            "user_id": user,
            "timestamp": e["timestamp"],
            "event_type": e["event_type"],
            "data": data,
            "metadata": {},
        }
    ).decode()
    return text.replace('{"__slot__":1}', attributes).encode()


@pytest.mark.parametrize(
    "bad, detail",
    [
        (signal_line("user-inf-0001", '{"x": Infinity}'), "data.attributes is not strict JSON"),
        (signal_line("user-deep-001", '{"x": ' + "[" * 1100 + "]" * 1100 + "}"), "data.attributes is not strict JSON"),
        (signal_line("user-nul-0001", '{"x": "a\\u0000b"}'), "data.attributes is not strict JSON"),
        (
            signal_line("user-utf8-001", '{"x": "ok"}').replace(b"user-utf8-001", b"user-\xff\xfe8-001"),
            "line is not valid UTF-8",
        ),
    ],
)
def test_one_unreadable_line_is_a_reject_not_a_crash_of_the_day(tmp_path, bad, detail):
    # Over the file's days: a line without a readable time goes to the file's first day.
    days = (DAY - timedelta(days=1), DAY)
    raw = sources.read_events(bad_line_file(tmp_path, bad), *RULES.read_window(*days))
    v = validate_signals(raw, days[0], "salt", last_day=days[1])
    assert (v.rejects["detail"].str.startswith(detail)).sum() == 1, v.rejects["detail"].tolist()
    plain = sources.read_events(bad_line_file(tmp_path, b"{}"), *RULES.read_window(*days))
    assert len(v.signals) == len(validate_signals(plain, days[0], "salt", last_day=days[1]).signals), (
        "every other line counts"
    )


def test_a_line_that_does_not_parse_keeps_its_text_only_when_no_id_can_be_in_it(tmp_path):
    """A broken line's user is known only by pattern: a JSON line names it as "user_id": "...", a
    Python-repr line as 'user_id': '...', and a line may name anyone anywhere. Its text is kept
    only when nothing in it can be an id; else its hash, and the line is found by source_ref."""
    import hashlib

    from platform_core.privacy import find_raw_ids

    at = f"{DAY}T12:00:00Z".encode()
    json_cut = b'{"id": "e1", "user_id": "alice@example.com", "timestamp": "' + at + b'", "data": {"sig'
    python_repr = b"{'id': 'e2', 'user_id': 'bob-0042', 'timestamp': '" + at + b"'}"
    id_free = b"{not json at all"
    lines = [json_cut, python_repr, id_free]
    path = tmp_path / "broken.jsonl"
    path.write_bytes(b"\n".join([*lines, signal_line("carol-0007", "{}")]) + b"\n")
    raw = sources.read_events(str(path), *RULES.read_window(FIRST))  # undated: kept on the first day
    v = validate_signals(raw, FIRST, "salt")
    broken = v.rejects[v.rejects["detail"] == "line is not a JSON object"].set_index("source_ref")["raw_data"]
    assert len(broken) == 3, v.rejects[["source_ref", "detail"]]
    kept = set(broken)
    for line in (json_cut, python_repr):
        assert any(k.startswith("sha256:" + hashlib.sha256(line.decode().encode()).hexdigest()) for k in kept)
    assert id_free.decode() in kept
    assert v.rejects.loc[v.rejects["raw_data"].str.startswith("sha256:"), "pseudo_user_id"].notna().sum() >= 1
    everyone = ["alice@example.com", "bob-0042"]
    assert find_raw_ids({"rejects": v.rejects}, everyone) == {}
    assert not v.rejects.astype(str).apply(lambda c: c.str.contains("bob-0042|alice@example", regex=True)).any().any()


def test_a_nul_in_attributes_has_the_same_outcome_on_both_backends(tmp_path, pg_url):
    path = bad_line_file(tmp_path, signal_line("user-nul-0001", '{"x": "a\\u0000b"}'))
    outcomes = []
    for url, result in signals_on_both_backends(tmp_path, pg_url, path):
        rejects = backend_for(url).read(LEARNING_SIGNAL_REJECTS)
        outcomes.append(
            (result.success, int((rejects["detail"].str.startswith("data.attributes is not strict JSON")).sum()))
        )
    assert outcomes == [(True, 1), (True, 1)]


def signals_on_both_backends(tmp_path, pg_url: str, path) -> list:
    """``(warehouse url, run result)`` of the day's signals from ``path``, on DuckDB then Postgres."""
    from kura_assets.assets.learning import learning_signals
    from tests.kura_assets.test_assets import run

    urls = (f"duckdb:///{tmp_path}/w.duckdb", pg_url)
    return [(url, run([learning_signals], url, DAY, events=str(path))) for url in urls]


def test_a_stray_old_event_is_kept_and_the_undated_lines_stay_on_the_first_day(tmp_path):
    """One event dated year 0001 used to pull every undated line onto its day, which no partition
    holds: they vanished. It is placed like an undated line now, with its own reason."""
    stray = bytes(signal_line("user-old-0001", "{}")).replace(f"{DAY}T12".encode(), b"0001-01-01T12")
    assert b"0001-01-01" in stray
    days = (DAY - timedelta(days=1), DAY)
    raw = sources.read_events(bad_line_file(tmp_path, stray), *RULES.read_window(*days))
    v = validate_signals(raw, days[0], "salt", last_day=days[1])
    reasons = v.rejects["reason"].tolist()
    assert reasons.count("outside_window") == 1
    assert (v.rejects["detail"] == "line is not a JSON object").sum() == 1, "the day's malformed line is still counted"


def test_every_line_of_a_file_is_accounted_for_once_whatever_its_date_or_type(tmp_path):
    """Lines dated outside every partition (year 0001 or 9999), with an impossible offset, or of an
    event type kura does not read: each ends up a reject or a counted line, none vanishes."""

    def dated(text: bytes, when: bytes) -> bytes:
        return text.replace(f"{DAY}T12:00:00".encode(), when)

    def good(n: int) -> bytes:
        return signal_line(f"user-any-{n:04d}", "{}")

    odd = [
        dated(good(1), b"0001-01-01T12:00:00"),
        dated(good(2), b"9999-12-31T12:00:00"),
        dated(good(3), b"2026-11-10T12:00:00+25:00"),
        good(4).replace(b"learning.signal.logged", b"page.viewed"),
        dated(good(5).replace(b"learning.signal.logged", b"page.viewed"), b"9999-12-31T12:00:00"),
    ]
    assert all(line != good(n) for n, line in enumerate(odd, 1))
    lines = [line.encode() for line in demo.to_jsonl_lines(demo.generate_day(DAY))]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines[:5] + odd + lines[5:]) + b"\n")
    days = (DAY - timedelta(days=1), DAY + timedelta(days=1))  # every dated line of the demo day lies in these
    v = validate_signals(sources.read_events(str(path), *RULES.read_window(*days)), days[0], "salt", last_day=days[1])
    ledger = v.ledger
    assert ledger.accounts_for(v.rows), ledger.describe(v.rows)
    assert ledger.lines == len(lines) + len(odd)
    assert v.rejects["reason"].tolist().count("outside_window") == 2
    assert "row timestamp is missing or unparseable" in set(v.rejects["detail"])
    assert ledger.other_event_types["page.viewed"] == 2, "another event type is counted, never a reject"
    assert ledger.retractions > 0


def test_undated_lines_of_a_file_without_a_dated_line_go_to_the_first_partition(tmp_path):
    from kura_assets.partitions import START_DATE

    path = tmp_path / "undated.jsonl"
    path.write_bytes(b'not json\n{"id": 1}\n')
    first = pd.Timestamp(START_DATE).date()
    v = validate_signals(sources.read_events(str(path), *RULES.read_window(first)), first, "salt")
    assert v.rows == 2 and v.ledger.lines == 2 and v.ledger.accounts_for(2)
    assert v.rejects["period_day"].eq(pd.Timestamp(first)).all()


def test_postgres_events_dated_outside_every_partition_are_kept_on_the_first_partition(pg_url):
    import uuid

    from kura_assets.partitions import START_DATE

    first = pd.Timestamp(START_DATE).date()
    good = demo.generate_day(first)
    stray = good[good["event_type"] == "learning.signal.logged"].head(2).copy()
    stray["id"] = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"stray-{i}")) for i in range(2)]
    stray["timestamp"] = ["0001-01-01T12:00:00Z", "9999-12-31T12:00:00Z"]
    load_events_table(pg_url, pd.concat([good, stray], ignore_index=True))
    v = validate_signals(sources.read_events(pg_url, *RULES.read_window(first)), first, "salt")
    outside = v.rejects[v.rejects["reason"] == "outside_window"]
    assert sorted(outside["event_id"]) == sorted(stray["id"]) and v.ledger.accounts_for(v.rows)
    later = first + timedelta(days=1)
    assert not set(stray["id"]) & set(sources.read_events(pg_url, *RULES.read_window(later))["id"]), (
        "read once, on the first day"
    )


def test_a_nul_anywhere_in_a_line_has_the_same_outcome_on_both_backends(tmp_path, pg_url):
    """Postgres text cannot hold NUL: a NUL in an event id, a signal type, a timestamp, or a line
    that does not parse, stored as U+FFFD on both backends, never a failed day."""
    good = signal_line("user-nul-0002", "{}")
    nul = "\\u0000"
    lines = [
        good.replace(b'"id":"', f'"id":"{nul}'.encode(), 1),
        signal_line("user-nul-0003", "{}").replace(b'"signal_type":"', f'"signal_type":"x{nul}'.encode(), 1),
        signal_line("user-nul-0004", "{}").replace(b'"timestamp":"', f'"timestamp":"{nul}'.encode(), 1),
        b"not json \x00 at all",
    ]
    path = tmp_path / "nul.jsonl"
    demo_lines = [line.encode() for line in demo.to_jsonl_lines(demo.generate_day(DAY))]
    path.write_bytes(b"\n".join(demo_lines[:5] + lines + demo_lines[5:]) + b"\n")
    outcomes = []
    for url, result in signals_on_both_backends(tmp_path, pg_url, path):
        manifest = backend_for(url).manifest("kura", LEARNING_SIGNAL_REJECTS.name)
        rejects = backend_for(url).read(LEARNING_SIGNAL_REJECTS)
        outcomes.append((result.success, manifest["content_hash"].tolist()))
        assert not rejects["raw_data"].fillna("").str.contains("\x00").any()
    assert outcomes[0][0] and outcomes[0] == outcomes[1]
