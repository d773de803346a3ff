"""The kura event contract fuzzed through the signals asset, on DuckDB and Postgres.

Hostile lines (NUL bytes and ``\\u0000`` escapes, huge and non-finite numbers, empty and very long
strings, wrong types, unparseable and out-of-range timestamps, broken JSON) mixed into a day of
valid signals: the run succeeds, every line is a signal, a reject with its reason or a counted
line of another type, the valid lines' signals are exactly those of a run without the hostile
ones, and shuffling the file changes no byte of the signals (nor of the rejects but their line
references, which name a place in the file).
"""

import json
import random
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from kura_assets import demo
from kura_assets.assets import learning_signals
from kura_assets.signals import RAW_COLUMNS
from kura_assets.tables import LEARNING_SIGNAL_REJECTS, LEARNING_SIGNALS
from platform_core.warehouse import backend_for
from tests.fuzzing import FUZZ
from tests.kura_assets.factories import raw_event
from tests.kura_assets.test_assets import run

DAY = demo.demo_days()[0]  # the first partition: undated lines are kept on it too
NOON = datetime.combine(DAY, datetime.min.time()) + timedelta(hours=12)

_HOSTILE = st.one_of(
    st.sampled_from(
        [
            "",
            "\x00",
            "a\x00b",
            "\\u0000",
            "9" * 400,
            "x" * 20_000,
            "NaN",
            "Infinity",
            "2026-13-45T99:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "\ud7ff\ue000\U0010ffff",
        ]
    ),
    st.sampled_from([None, True, 0, -1, 3.5e38, 1e308, [], {}, [1, "a"], {"k": {"deep": [None]}}]),
    st.text(max_size=30),
)
#: A line's own fields (what a reader stages, but its place and parse outcome), then the signal's.
_LINE_FIELDS = tuple(c for c in RAW_COLUMNS if c not in ("source_ref", "parse_error", "fallback_time"))
_FIELDS = (
    *_LINE_FIELDS,
    "signal_type",
    "category",
    "signature",
    "cluster_signature",
    "captured_at",
    "attributes",
    "schema_version",
)


def _valid(i: int) -> dict:
    e = raw_event(f"user-{i % 5:04d}", NOON + timedelta(minutes=i), event_id=f"ok-{i:04d}")
    return {**{k: e[k] for k in ("id", "user_id", "timestamp", "event_type")}, "data": json.loads(e["data"])}


@st.composite
def hostile_day(draw):
    """Valid lines, and hostile ones (their own ids, never a retraction) each with 1-3 fields spoiled."""
    valid = [json.dumps(_valid(i)).encode() for i in range(12)]
    hostile = []
    for k in range(draw(st.integers(3, 8))):
        line = {**_valid(100 + k), "id": f"bad-{k:04d}"}
        for field in draw(st.lists(st.sampled_from(_FIELDS), min_size=1, max_size=3)):
            value = draw(_HOSTILE)
            if field in ("id",) and not isinstance(value, str):
                value = f"bad-{k:04d}-{value!r}"  # an id stays its own: no line may retract or duplicate a valid one
            if field in _LINE_FIELDS:
                line[field] = value
            elif isinstance(line["data"], dict):
                line["data"][field] = value
        if line.get("event_type") == "event.retracted":
            line["event_type"] = "x"
        text = json.dumps(line, allow_nan=True)
        hostile.append(text[: draw(st.sampled_from([len(text), len(text) // 2]))].encode("utf-8", "surrogatepass"))
    hostile.append(b"\x00\xff not utf-8")
    return valid, hostile


def _run(url: str, path) -> dict:
    result = run([learning_signals], url, DAY, events=str(path))
    assert result.success
    checks = [
        e.asset_check_evaluation_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert len(checks) >= 5 and all(c.passed for c in checks), [
        (c.check_name, c.metadata) for c in checks if not c.passed
    ]
    backend = backend_for(url)
    facts = {k: v.value for k, v in result.get_asset_materialization_events()[0].materialization.metadata.items()}
    return {
        "signals": backend.read(LEARNING_SIGNALS, where={"period_day": DAY}),
        "rejects": backend.read(LEARNING_SIGNAL_REJECTS, where={"period_day": DAY}),
        "hash": backend.manifest("kura", "learning_signals")["content_hash"].tolist(),
        "facts": facts,
    }


@settings(FUZZ, max_examples=3)
@given(day=hostile_day())
def test_hostile_lines_are_counted_rejects_and_touch_nothing_else(warehouse_url, tmp_path, day):
    valid, hostile = day
    lines = valid + hostile
    (tmp_path / "all.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (tmp_path / "valid.jsonl").write_bytes(b"\n".join(valid) + b"\n")
    shuffled = lines[:]
    random.Random(len(lines)).shuffle(shuffled)
    (tmp_path / "shuffled.jsonl").write_bytes(b"\n".join(shuffled) + b"\n")

    alone = _run(warehouse_url, tmp_path / "valid.jsonl")["signals"]
    mixed = _run(warehouse_url, tmp_path / "all.jsonl")
    signals, rejects = mixed["signals"], mixed["rejects"]
    others = sum(mixed["facts"]["other_event_types"].values())
    assert len(signals) + len(rejects) + others == mixed["facts"]["input_lines"]
    assert mixed["facts"]["input_lines"] >= len(lines), "every line of the file is counted on the first day"
    assert rejects["reason"].notna().all() and (rejects["detail"].str.len() > 0).all()
    ok = signals[signals["event_id"].str.startswith("ok-")].reset_index(drop=True)
    assert ok.equals(alone), "a hostile line changes no valid line's signal"

    again = _run(warehouse_url, tmp_path / "shuffled.jsonl")
    assert again["signals"].equals(signals) and again["hash"][-1] == mixed["hash"][-1]
    key = [c for c in LEARNING_SIGNAL_REJECTS.column_names if c != "source_ref"]
    assert (
        again["rejects"][key]
        .sort_values(key)
        .reset_index(drop=True)
        .equals(rejects[key].sort_values(key).reset_index(drop=True))
    )
