"""Validation: every raw row becomes a signal or a kept, reasoned reject; nothing raw leaks."""

import json
import re
from datetime import date, datetime, timedelta

import pandas as pd

from kura_assets import sources
from kura_assets.partitions import START_DATE
from kura_assets.signals import SignalRules, validate_signals
from kura_assets.tables import LEARNING_SIGNAL_REJECTS, LEARNING_SIGNALS
from platform_core.hashing import content_hash
from platform_core.privacy import People, find_raw_ids
from tests.kura_assets.factories import raw_event, raw_frame, retraction

DAY = date(2026, 11, 4)
NOON = datetime(2026, 11, 4, 12)
RULES = SignalRules()


def demo_raw(day=DAY):
    return sources.read_events("demo", *RULES.read_window(day))


def test_every_planted_bad_row_is_rejected_with_its_reason():
    v = validate_signals(demo_raw(), DAY, "salt")
    assert v.rejects_by_reason == {
        "duplicate_event_id": 1,
        "invalid_payload": 5,
        "invalid_signature": 3,
        "invalid_timestamp": 2,
        "low_confidence_filtered": 4,
        "missing_cluster_signature": 1,
        "missing_user_ref": 2,
        "payload_too_large": 1,
        "retracted": 2,
    }
    assert v.ledger.accounts_for(v.rows) and v.ledger.retractions > 0
    assert set(v.ledger.other_event_types) == {"evidence.claim.logged", "set.corrected"}, "counted, never rejects"
    assert v.rejects["detail"].str.len().gt(0).all()


def test_input_order_does_not_change_the_output():
    raw = demo_raw()
    a = validate_signals(raw, DAY, "salt")
    b = validate_signals(raw.sample(frac=1.0, random_state=7), DAY, "salt")
    assert content_hash(LEARNING_SIGNALS, a.signals) == content_hash(LEARNING_SIGNALS, b.signals)
    assert content_hash(LEARNING_SIGNAL_REJECTS, a.rejects) == content_hash(LEARNING_SIGNAL_REJECTS, b.rejects)


def test_no_raw_user_id_reaches_signals_or_rejects():
    raw = raw_frame(
        [
            raw_event("user-alice-01", NOON, attributes={"note": "reported by user-alice-01"}),
            raw_event("user-bob-0002", NOON, schema_version=2, attributes={"who": "user-bob-0002"}),
        ]
    )
    v = validate_signals(raw, DAY, "salt")
    assert len(v.signals) == 1 and len(v.rejects) == 1
    assert find_raw_ids({"s": v.signals, "r": v.rejects}, ["user-alice-01", "user-bob-0002"]) == {}
    assert json.loads(v.signals["attributes"][0]) == {"note": "reported by [user]"}
    assert v.signals["pseudo_user_id"][0].startswith("p_")


def test_an_event_belongs_to_the_day_it_was_captured():
    late = raw_event("user-late-001", datetime(2026, 11, 5, 0, 0, 10), captured=datetime(2026, 11, 4, 23, 59, 50))
    raw = raw_frame([late])
    assert len(validate_signals(raw, DAY, "salt").signals) == 1
    nxt = validate_signals(raw, DAY + timedelta(days=1), "salt")
    assert nxt.rows == 0 and nxt.ledger.lines == 1 and nxt.ledger.moved_out == 1 and nxt.ledger.accounts_for(0)


def test_retracted_events_are_excluded_and_kept_as_rejects():
    e = raw_event("user-carol-01", NOON)
    v = validate_signals(raw_frame([e, retraction("user-carol-01", NOON + timedelta(hours=1), e["id"])]), DAY, "salt")
    assert v.signals.empty and v.rejects["reason"].tolist() == ["retracted"]


def test_wrong_types_missing_fields_and_bad_json_are_invalid_payloads():
    rows = [raw_event("user-dave-001", NOON, schema_version="1"), raw_event("user-dave-001", NOON, category=None)]
    broken = raw_event("user-dave-001", NOON)
    broken["data"] = '{"schema_version": 1, "signal'
    no_id = raw_event("user-dave-001", NOON)
    no_id["id"] = None
    v = validate_signals(raw_frame(rows + [broken, no_id]), DAY, "salt")
    assert v.rejects["reason"].tolist() == ["invalid_payload"] * 4
    assert sorted(v.rejects["detail"]) == sorted(
        [
            "data.schema_version is not 1",
            "data.category is not one of quality_signal, friction_signal, outcome_signal, correction_signal",
            "data is not valid JSON",
            "event id is missing",
        ]
    )


def test_an_unknown_signal_type_is_accepted_and_scored_with_the_default_weights():
    from kura_assets.scoring import ScoringParams, event_weights

    numeric = raw_event("user-erin-001", NOON + timedelta(minutes=1))
    numeric["data"] = json.dumps({**json.loads(numeric["data"]), "signal_type": 17})
    raw = raw_frame([raw_event("user-erin-001", NOON, signal_type="made_up_signal"), numeric])
    v = validate_signals(raw, DAY, "salt")
    assert v.signals["signal_type"].tolist() == ["made_up_signal"]
    assert v.rejects["detail"].tolist() == ["data.signal_type is missing or not a string"]
    params = ScoringParams()
    severity, impact = event_weights(v.signals, params)
    assert severity.tolist() == [params.default_severity] and severity[0] == 0.60
    assert impact.tolist() == [params.category_impact[v.signals["category"].iat[0]]]


def test_any_printable_cluster_signature_up_to_its_length_is_accepted():
    from kura_assets.signals import MAX_SIGNATURE_CHARS

    signatures = [
        "ls_0123456789abcdef0123",
        "upstream/v2:save-mismatch",
        "é" * MAX_SIGNATURE_CHARS,
        "",
        "x" * (MAX_SIGNATURE_CHARS + 1),
        "tab\there",
    ]
    raw = raw_frame(
        [
            raw_event("user-gus-0001", NOON + timedelta(seconds=i), cluster_signature=sig)
            for i, sig in enumerate(signatures)
        ]
    )
    v = validate_signals(raw, DAY, "salt")
    assert sorted(v.signals["source_cluster_signature"]) == sorted(signatures[:3])
    assert v.rejects["reason"].tolist() == ["invalid_signature"] * 3


def test_huge_payloads_are_kept_truncated():
    raw = raw_frame([raw_event("user-fay-0001", NOON, attributes={"blob": "x" * 100_000})])
    reject = validate_signals(raw, DAY, "salt").rejects.iloc[0]
    assert reject["reason"] == "payload_too_large"
    assert len(reject["raw_data"]) < RULES.max_kept_text_chars + 100 and "truncated" in reject["raw_data"]


def test_empty_input_gives_empty_frames():
    v = validate_signals(raw_frame([]), DAY, "salt")
    assert v.signals.empty and v.rejects.empty and v.rows == 0 and v.ledger.lines == 0


def test_two_events_with_one_id_and_time_keep_the_same_winner_in_any_order():
    a = raw_event("user-hal-0001", NOON, event_id="evt-same", attributes={"v": 1})
    b = raw_event("user-hal-0001", NOON, event_id="evt-same", attributes={"v": 2})
    swapped = [dict(b, source_ref=a["source_ref"]), dict(a, source_ref=b["source_ref"])]  # the file's two lines swapped
    first, second = (validate_signals(raw_frame(rows), DAY, "salt") for rows in ([a, b], swapped))
    assert len(first.signals) == 1 and first.rejects["reason"].tolist() == ["duplicate_event_id"]
    assert content_hash(LEARNING_SIGNALS, first.signals) == content_hash(LEARNING_SIGNALS, second.signals)


# --- fuzz: any JSONL lines are each a signal or a reject, never a crash --------------------------------
def test_an_event_id_naming_a_user_is_a_reject_and_a_word_id_names_no_one_else():
    """The event id keys the row (no placeholder may stand in for part of it): one naming its own
    user, or anyone by an id no word could be, rejects the row; a user named ``checkout`` does not
    make another user's ``evt-checkout`` a reject."""
    from kura_assets.signals import EVENT_ID_NAMES_USER

    raw = raw_frame(
        [
            raw_event("alice@example.com", NOON, event_id="evt-alice@example.com"),
            raw_event("bob-0002", NOON, event_id="evt-for-alice@example.com"),
            raw_event("checkout", NOON, event_id="checkout-1"),
            raw_event("bob-0002", NOON + timedelta(minutes=1), event_id="evt-checkout"),
        ]
    )
    v = validate_signals(raw, DAY, "salt")
    assert sorted(v.signals["event_id"]) == ["evt-checkout"]
    assert (v.rejects["detail"] == EVENT_ID_NAMES_USER).sum() == 3
    assert find_raw_ids({"r": v.rejects}, ["alice@example.com", "bob-0002"]) == {}
    assert v.rejects["event_id"].str.contains(r"\[user\]").sum() == 3


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=8,
)


@st.composite
def jsonl_lines(draw):
    """Signal-shaped lines with any field bent out of shape, and lines of any bytes."""
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.booleans()):
            lines.append(draw(st.binary(max_size=40)).replace(b"\n", b" "))
            continue
        event = raw_event(
            draw(st.sampled_from(["user-zed-0001", "user-yan-0002", ""])),
            NOON + timedelta(minutes=draw(st.integers(-5, 5))),
        )
        row = {k: event[k] for k in ("id", "user_id", "timestamp", "event_type")}
        row["data"], row["metadata"] = json.loads(event["data"]), {}
        for field in draw(
            st.lists(
                st.sampled_from(
                    [
                        "data",
                        "timestamp",
                        "id",
                        "event_type",
                        "signal_type",
                        "attributes",
                        "cluster_signature",
                        "captured_at",
                    ]
                ),
                max_size=3,
            )
        ):
            value = draw(_JSON)
            inside = field in ("signal_type", "attributes", "cluster_signature", "captured_at")
            if not inside:
                row[field] = value
            elif isinstance(row["data"], dict):
                row["data"][field] = value
        lines.append(json.dumps(row, allow_nan=True).encode())
    return lines


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(jsonl_lines())
def test_any_lines_are_each_a_signal_or_a_reject_and_signals_are_clean(tmp_path, lines):
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    # Every line, as Arrow splits them, is counted once: on DAY, or (undated, with no dated line
    # in the file) on the first partition's day.
    lines_in_file = [line for line in re.split(rb"\r\n|\n|\r", path.read_bytes()) if line]
    counted = 0
    for day in (DAY, date.fromisoformat(START_DATE)):
        raw = sources.read_events(str(path), *RULES.read_window(day))
        v = validate_signals(raw, day, "salt")
        assert v.ledger.accounts_for(v.rows), v.ledger.describe(v.rows)
        counted += v.ledger.lines
    assert counted == len(lines_in_file)
    raw = sources.read_events(str(path), *RULES.read_window(DAY))
    v = validate_signals(raw, DAY, "salt")
    assert v.rejects["reason"].notna().all()
    assert v.signals["pseudo_user_id"].str.startswith("p_").all()
    assert (
        find_raw_ids(
            {"s": v.signals, "r": v.rejects},
            People("salt", raw_ids=v.raw_user_ids),
            owners={"s": "pseudo_user_id", "r": "pseudo_user_id"},
        )
        == {}
    )


def test_a_days_rows_are_the_same_run_alone_or_in_a_range():
    """A retraction logged after the day's grace and an id seen again two days later: the day's rows
    do not depend on which other days the run covers (a backfill replays the daily runs exactly)."""
    event = raw_event("user-ivy-0001", NOON)
    late = retraction("user-ivy-0001", NOON + timedelta(days=3), json.loads(json.dumps(event))["id"])
    again = raw_event("user-jon-0001", NOON + timedelta(days=2), event_id="evt-again")
    first = raw_event("user-jon-0001", NOON, event_id="evt-again")
    raw = raw_frame([event, late, first, again])
    days = [DAY + timedelta(days=i) for i in range(4)]
    ranged = validate_signals(raw, days[0], "salt", last_day=days[-1])
    times = pd.to_datetime(raw["timestamp"], utc=True).dt.tz_localize(None)
    for day in days:
        start, end = RULES.read_window(day)
        alone = validate_signals(raw[(times >= start) & (times < end)].reset_index(drop=True), day, "salt")
        part = ranged.day(day)
        assert content_hash(LEARNING_SIGNALS, part.signals) == content_hash(LEARNING_SIGNALS, alone.signals), day
        assert sorted(part.rejects["reason"]) == sorted(alone.rejects["reason"]), day
    assert set(ranged.day(DAY).signals["event_id"]) == {event["id"], "evt-again"}, (
        "the late retraction is past the day's grace"
    )
    assert "evt-again" in set(ranged.day(days[2]).signals["event_id"]), "two days later is beyond the day's window"


def test_an_event_captured_before_the_first_partition_is_kept_on_its_lines_day():
    first = date.fromisoformat(START_DATE)
    at = datetime.combine(first, datetime.min.time()) + timedelta(minutes=1)
    raw = raw_frame([raw_event("user-kim-0001", at, captured=at - timedelta(minutes=3))])
    v = validate_signals(raw, first, "salt")
    assert v.signals.empty and v.rejects["reason"].tolist() == ["outside_window"]
    assert v.rejects["period_day"].tolist() == [pd.Timestamp(first)] and v.ledger.accounts_for(v.rows)


def test_a_day_read_in_small_batches_writes_what_the_frames_hold(tmp_path):
    """The asset's path: the day staged in a DuckDB file and read out batch by batch (here 7 rows
    at a time), never whole; the partitions it writes are those of the in-memory frames."""
    from contextlib import closing

    from kura_assets.signals import stage_frame, validate_staged, validation_database
    from platform_core.warehouse import PartitionWrite

    raw = demo_raw()
    frames = validate_signals(raw, DAY, "salt")
    with closing(validation_database(RULES, str(tmp_path / "day.duckdb"))) as con:
        stage_frame(con, raw)
        staged = validate_staged(con, DAY, "salt", RULES)
        staged.rows_per_batch = 7
        batches = [len(b) for b in staged.signal_batches(DAY).read()]
        assert len(batches) > 3 and max(batches) == 7, batches
        for spec, streamed, whole in (
            (LEARNING_SIGNALS, staged.signal_batches(DAY), frames.signals),
            (LEARNING_SIGNAL_REJECTS, staged.rejects(DAY), frames.rejects),
        ):
            written = PartitionWrite(spec, {"period_day": DAY}, streamed)
            assert (written.rows, written.content_hash) == (len(whole), content_hash(spec, whole)), spec.name
        assert staged.counts(DAY) == (len(frames.signals), frames.rejects_by_reason)
