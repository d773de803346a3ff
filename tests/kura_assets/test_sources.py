"""The same events read from the demo, a JSONL file or a Postgres event store give the same signals."""

from datetime import timedelta
from pathlib import Path

import orjson
import pandas as pd
import pytest

from platform_core.hashing import content_hash
from kura_assets import demo, sources
from kura_assets.signals import SignalRules, validate_signals
from kura_assets.tables import LEARNING_SIGNALS

DAY = demo.DEMO_START + timedelta(days=1)
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
            cur.execute("INSERT INTO events VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                        (r.id, r.user_id, r.timestamp, r.event_type, r.data, r.metadata))
    con.close()


def test_postgres_event_store_gives_the_demo_signals(pg_url):
    load_events_table(pg_url, demo_rows())
    assert signals_hash(pg_url) == signals_hash("demo")


def test_a_line_holding_the_split_byte_is_kept_as_malformed(tmp_path: Path):
    lines = demo.to_jsonl_lines(demo.generate_day(DAY))
    lines.insert(3, '{"id": "odd", "data": "a\x1eb"')  # the byte the reader splits lines on
    path = tmp_path / "odd.jsonl"
    path.write_text("\n".join(lines) + "\n")
    raw = sources.read_events(str(path), *RULES.read_window(DAY))
    odd = raw[raw["data"].astype("object").str.contains("\x1e", na=False)]
    assert len(odd) == 1 and odd["parse_error"].iloc[0] == "line is not a JSON object"
    rejects = validate_signals(raw, DAY, "salt").rejects
    assert "line is not a JSON object" in set(rejects["detail"])
