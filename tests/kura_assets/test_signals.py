"""Validation: every raw row becomes a signal or a kept, reasoned reject; nothing raw leaks."""

import json
from datetime import date, datetime, timedelta


from platform_core.hashing import content_hash
from platform_core.privacy import find_raw_ids
from kura_assets import sources
from kura_assets.signals import SignalRules, validate_signals
from kura_assets.tables import LEARNING_SIGNAL_REJECTS, LEARNING_SIGNALS
from tests.kura_assets.factories import raw_event, raw_frame, retraction

DAY = date(2026, 11, 4)
NOON = datetime(2026, 11, 4, 12)
RULES = SignalRules()


def demo_raw(day=DAY):
    return sources.read_events("demo", *RULES.read_window(day))


def test_every_planted_bad_row_is_rejected_with_its_reason():
    v = validate_signals(demo_raw(), DAY, "salt")
    assert v.rejects_by_reason == {
        "duplicate_event_id": 1, "invalid_payload": 5, "invalid_signature": 2, "invalid_timestamp": 2,
        "low_confidence_filtered": 4, "missing_cluster_signature": 1, "missing_user_ref": 2, "payload_too_large": 1,
        "retracted": 2, "unknown_signal_type": 1,
    }
    assert v.rows_in_day == len(v.signals) + len(v.rejects)
    assert v.rejects["detail"].str.len().gt(0).all()


def test_input_order_does_not_change_the_output():
    raw = demo_raw()
    a = validate_signals(raw, DAY, "salt")
    b = validate_signals(raw.sample(frac=1.0, random_state=7), DAY, "salt")
    assert content_hash(LEARNING_SIGNALS, a.signals) == content_hash(LEARNING_SIGNALS, b.signals)
    assert content_hash(LEARNING_SIGNAL_REJECTS, a.rejects) == content_hash(LEARNING_SIGNAL_REJECTS, b.rejects)


def test_no_raw_user_id_reaches_signals_or_rejects():
    raw = raw_frame([
        raw_event("user-alice-01", NOON, attributes={"note": "reported by user-alice-01"}),
        raw_event("user-bob-0002", NOON, signal_type="made_up", attributes={"who": "user-bob-0002"}),
    ])
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
    assert nxt.rows_in_day == 0


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
    assert sorted(v.rejects["detail"]) == sorted([
        "data.schema_version is not 1", "data.category is not one of quality_signal, friction_signal, outcome_signal, correction_signal",
        "data is not valid JSON", "event id is missing"])


def test_accepted_signal_types_are_configurable():
    raw = raw_frame([raw_event("user-erin-001", NOON, signal_type="made_up_signal")])
    assert validate_signals(raw, DAY, "salt").rejects["reason"].tolist() == ["unknown_signal_type"]
    rules = SignalRules(accepted_signal_types=["made_up_signal"])
    assert len(validate_signals(raw, DAY, "salt", rules).signals) == 1


def test_huge_payloads_are_kept_truncated():
    raw = raw_frame([raw_event("user-fay-0001", NOON, attributes={"blob": "x" * 100_000})])
    reject = validate_signals(raw, DAY, "salt").rejects.iloc[0]
    assert reject["reason"] == "payload_too_large"
    assert len(reject["raw_data"]) < RULES.max_kept_text_chars + 100 and "truncated" in reject["raw_data"]


def test_empty_input_gives_empty_frames():
    v = validate_signals(raw_frame([]), DAY, "salt")
    assert v.signals.empty and v.rejects.empty and v.rows_in_day == 0
