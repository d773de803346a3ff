"""Extraction calibration: labels from retractions and field corrections, the reference's status
and drift rules, kept rejects, and the planted demo classes through Dagster."""

from datetime import date, datetime, timedelta

import orjson
import pandas as pd
import pytest

from kura_assets import demo
from kura_assets.assets import (
    extraction_calibration_day,
    extraction_calibration_week,
    extraction_claims,
    extraction_underperforming_classes,
)
from kura_assets.calibration import CalibrationParams, calibration_rows, label_claims
from kura_assets.signals import RAW_COLUMNS
from kura_assets.tables import EXTRACTION_CALIBRATION_WEEK, EXTRACTION_UNDERPERFORMING_CLASSES
from platform_core.warehouse import backend_for
from tests.kura_assets.test_assets import check_evaluations, run

DAY = date(2026, 11, 4)
NOON = datetime(2026, 11, 4, 12)


def event(n: int, event_type: str, data, at: datetime, user: str = "user-cal-0001") -> dict:
    return {
        "source_ref": f"c:{n:04d}",
        "id": f"evt-{n:04d}",
        "user_id": user,
        "timestamp": at.isoformat() + "Z",
        "event_type": event_type,
        "data": data if isinstance(data, str) else orjson.dumps(data).decode(),
        "metadata": "{}",
        "parse_error": None,
        "fallback_time": None,
    }


def claim(n: int, source: str, claim_type: str = "set.weight_kg", confidence: float = 0.9, **changes) -> dict:
    data = {
        "claim_type": claim_type,
        "confidence": confidence,
        "provenance": {"parser_version": "p-1"},
        "lineage": {"event_id": source},
        **changes,
    }
    return event(n, demo.CLAIM_EVENT, data, NOON)


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=RAW_COLUMNS)


def test_claims_are_wrong_when_withdrawn_or_corrected_in_the_claimed_field():
    rows = [
        claim(1, "src-retracted"),
        claim(2, "src-corrected"),
        claim(3, "src-other-field"),
        claim(4, "src-untouched"),
        claim(5, "src-late"),
        event(10, "event.retracted", {"retracted_event_id": "src-retracted"}, NOON + timedelta(hours=1)),
        event(
            11,
            demo.CORRECTION_EVENT,
            {"target_event_id": "src-corrected", "changed_fields": {"weight_kg": {}}},
            NOON + timedelta(hours=2),
        ),
        event(
            12,
            demo.CORRECTION_EVENT,
            {"target_event_id": "src-other-field", "changed_fields": {"reps": {}}},
            NOON + timedelta(hours=2),
        ),
        event(
            13,
            demo.CORRECTION_EVENT,
            {"target_event_id": "src-late", "changed_fields": {"weight_kg": {}}},
            NOON + timedelta(days=5),
        ),
    ]
    labelled = label_claims(frame(rows), DAY)
    labels = dict(zip(labelled.claims["source_event_id"], labelled.claims["label"]))
    assert labels == {
        "src-retracted": 0,
        "src-corrected": 0,
        "src-other-field": 1,
        "src-untouched": 1,
        "src-late": 1,
    }, "a correction after the grace period does not change a replayed day"


def test_unusable_claims_are_kept_as_rejects_with_reasons():
    rows = [
        claim(1, "s1", confidence=1.7),
        claim(2, "s2", provenance={}),
        claim(3, "s3", claim_type=5),
        event(4, demo.CLAIM_EVENT, "not json", NOON),
        claim(5, "s5"),
    ]
    labelled = label_claims(frame(rows), DAY)
    assert len(labelled.claims) == 1
    assert sorted(labelled.rejects["detail"]) == sorted(
        [
            "data.confidence is not a number in [0, 1]",
            "data.provenance.parser_version is missing",
            "data.claim_type is missing",
            "data is not a JSON object",
        ]
    )


def labelled(spec: list[tuple[float, int]], claim_type: str = "set.reps") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "claim_type": claim_type,
            "parser_version": "p-1",
            "confidence": [c for c, _ in spec],
            "label": [lbl for _, lbl in spec],
        }
    )


@pytest.mark.parametrize(
    "spec, status",
    [
        ([(0.9, 1), (0.9, 1)], "monitor"),  # fewer than 3 claims
        ([(0.7, 1)] * 5, "monitor"),  # none at high confidence
        ([(0.9, 1), (0.9, 0), (0.9, 0), (0.9, 1)], "degraded"),  # Brier 0.41 >= 0.30
        ([(0.87, 1)] + [(0.87, 0)] * 3 + [(0.6, 1)] * 16, "degraded"),  # Brier 0.24, but precision 0.25 < 0.55
        ([(0.9, 1)] * 6 + [(0.9, 0)] * 3, "monitor"),  # Brier 0.277 >= 0.20, precision 0.667
        ([(0.95, 1)] * 20, "healthy"),
    ],
)
def test_status_follows_the_reference_rules(spec, status):
    row = calibration_rows(labelled(spec), labelled([]), "day", DAY, "2026-11-04").iloc[0]
    assert row["status"] == status


def test_drift_alert_when_brier_rises_by_the_threshold():
    before = labelled([(0.9, 1)] * 10)  # Brier 0.01
    rose = labelled([(0.9, 1)] * 9 + [(0.9, 0)])  # Brier 0.09: +0.08
    flat = labelled([(0.9, 1)] * 10)
    assert calibration_rows(rose, before, "day", DAY, "d").iloc[0]["drift_alert"]
    assert not calibration_rows(flat, before, "day", DAY, "d").iloc[0]["drift_alert"]
    first = calibration_rows(rose, labelled([]), "day", DAY, "d").iloc[0]
    assert not first["drift_alert"] and pd.isna(first["previous_brier"])
    assert not calibration_rows(rose, before, "day", DAY, "d", CalibrationParams(drift_brier_rise=0.1)).iloc[0][
        "drift_alert"
    ]


def test_the_planted_classes_come_out_of_the_weekly_graph(tmp_path):
    url = f"duckdb:///{tmp_path}/w.duckdb"
    days = demo.demo_days()
    assert run([extraction_claims, extraction_calibration_day], url, days[0], days[-1]).success
    weeks = run([extraction_calibration_week, extraction_underperforming_classes], url, days[0], days[7])
    assert weeks.success and all(e.passed for e in check_evaluations(weeks))
    week = backend_for(url).read(EXTRACTION_CALIBRATION_WEEK, where={"period_start": days[7]}).set_index("claim_type")
    assert week.loc["set.weight_kg", "status"] == "healthy"
    assert week.loc["set.reps", "status"] == "degraded"
    assert week.loc["set.rpe", "drift_alert"] and week.loc["set.rpe", "brier_delta"] == pytest.approx(0.21)
    assert week.loc["session.notes", "status"] == "monitor"
    flagged = backend_for(url).read(EXTRACTION_UNDERPERFORMING_CLASSES, where={"period_start": days[7]})
    assert sorted(flagged["claim_type"]) == ["session.notes", "set.reps", "set.rpe"]
    first_week = backend_for(url).read(EXTRACTION_UNDERPERFORMING_CLASSES, where={"period_start": days[0]})
    assert "set.rpe" not in set(first_week["claim_type"]), "the drifting class was still healthy in the first week"


def test_a_calibration_week_waits_for_its_days(tmp_path):
    url = f"duckdb:///{tmp_path}/w.duckdb"
    days = demo.demo_days()
    assert run([extraction_claims], url, days[0], days[5]).success
    result = run([extraction_calibration_week], url, days[0])
    assert not result.success
    assert "2026-W45: 2026-11-08" in result.failure_data_for_node("kura__extraction_calibration_week").error.message


def test_drift_needs_the_period_before_unless_it_is_the_first(tmp_path):
    url = f"duckdb:///{tmp_path}/w.duckdb"
    days = demo.demo_days()
    assert run([extraction_claims], url, days[2]).success
    result = run([extraction_calibration_day], url, days[2])
    assert not result.success, "drift against a day that was never materialized is not drift"
    message = result.failure_data_for_node("kura__extraction_calibration_day").error.message
    assert "2026-11-03" in message and "extraction_claims" in message
    assert run([extraction_claims], url, days[0]).success
    assert run([extraction_calibration_day], url, days[0]).success, "the first day has no day before it"
