"""The reference scoring is reproduced by default, and every constant is configurable and recorded."""

import json
from datetime import date

import pandas as pd
import pytest

from kura_assets.clustering import cluster_signals
from kura_assets.scoring import ScoringParams, event_weights
from tests.kura_assets.factories import signal_rows

DAY = date(2026, 11, 3)
WORKED_EXAMPLE = (
    [("u1", "save_claim_mismatch_attempt", "high", "critical")] * 2
    + [("u1", "workflow_violation", "high", None)]
    + [("u2", "save_claim_mismatch_attempt", "high", "critical")] * 2
    + [("u2", "workflow_violation", "high", None)]
)


def only_cluster(result):
    assert len(result.clusters) == 1
    return result.clusters.iloc[0]


def test_worked_example_scores_0_362604():
    row = only_cluster(cluster_signals(signal_rows(DAY, WORKED_EXAMPLE), "day", DAY))
    factors = json.loads(row["score_factors"])
    assert row["score"] == 0.362604
    assert (factors["frequency"], factors["severity"], factors["impact"], factors["reproducibility"]) == (
        0.5,
        0.983333,
        0.983333,
        0.75,
    )
    assert json.loads(row["aggregates"])["signal_counts"] == {"save_claim_mismatch_attempt": 4, "workflow_violation": 2}


def test_constants_are_configurable_and_recorded_in_the_output():
    params = ScoringParams(frequency_reference_events=6, min_unique_users=3)
    assert cluster_signals(signal_rows(DAY, WORKED_EXAMPLE), "day", DAY, params).clusters.empty  # 2 users < 3
    params = ScoringParams(frequency_reference_events=6)
    row = only_cluster(cluster_signals(signal_rows(DAY, WORKED_EXAMPLE), "day", DAY, params))
    assert row["score"] == pytest.approx(0.725208, abs=1e-6)
    assert json.loads(row["score_factors"])["references"]["frequency_reference_events"] == 6
    assert json.loads(row["false_positive_controls"])["min_unique_users"] == 2


def test_weights_follow_type_category_mismatch_severity_and_band():
    frame = signal_rows(
        DAY,
        [
            ("u1", "made_up_friction", "high", None),
            ("u1", "save_claim_mismatch_attempt", "high", "warning"),
            ("u1", "workflow_violation", "medium", None),
            ("u1", "save_claim_mismatch_attempt", "high", None),
        ],
    )
    severity, impact = event_weights(frame, ScoringParams())
    assert severity.round(4).tolist() == [0.6, 0.5, round(0.95 * 0.92, 4), 0.5]
    assert impact.round(4).tolist() == [0.82, 0.5, 0.95, 0.5]


def test_dominant_user_is_capped_and_the_drop_is_counted():
    spec = [("loud", "workflow_violation", "high", None)] * 10 + [
        ("a", "workflow_violation", "high", None),
        ("b", "workflow_violation", "high", None),
    ]
    result = cluster_signals(signal_rows(DAY, spec), "day", DAY)
    row = only_cluster(result)
    assert json.loads(row["aggregates"])["event_count"] == 5
    assert json.loads(row["false_positive_controls"])["dominance_dropped_events"] == 7
    assert result.stats["dominance_dropped"] == 7


def test_clusters_are_the_events_own_signatures_unless_facets_are_asked_for():
    """No hidden merge: two upstream signatures (here one per confidence band) are two clusters,
    published under those signatures; grouping by facets joins them under a recomputed one."""
    spec = [(f"u{i}", "workflow_violation", ("high", "medium")[i % 2], None) for i in range(6)]
    rows = signal_rows(DAY, spec)
    rows["source_cluster_signature"] = "ls_upstream_" + rows["confidence_band"]
    clusters = cluster_signals(rows, "day", DAY).clusters
    assert sorted(clusters["cluster_signature"]) == ["ls_upstream_high", "ls_upstream_medium"]
    joined = only_cluster(cluster_signals(rows, "day", DAY, ScoringParams(group_by="facets")))
    assert joined["cluster_signature"].startswith("ls_") and joined["cluster_signature"] not in set(
        rows["source_cluster_signature"]
    )
    assert json.loads(joined["false_positive_controls"])["group_by"] == "facets"


def test_below_threshold_clusters_are_counted_not_published():
    spec = [("u1", "workflow_violation", "high", None)] * 3  # support 3 but one user
    result = cluster_signals(signal_rows(DAY, spec), "day", DAY)
    assert result.clusters.empty and result.stats["filtered_min_users"] == 1
    result = cluster_signals(signal_rows(DAY, spec[:2] + [("u2", "workflow_violation", "high", None)])[:2], "day", DAY)
    assert result.clusters.empty and result.stats["filtered_min_support"] == 1


def test_examples_carry_their_capture_time_as_iso_text():
    frame = signal_rows(DAY, WORKED_EXAMPLE)
    frame.loc[0, "event_time"] = pd.Timestamp("2026-11-03 08:00:00.000250")
    examples = json.loads(only_cluster(cluster_signals(frame, "day", DAY))["representative_examples"])
    times = {e["event_id"]: e["captured_at"] for e in examples}
    assert times["e0000"] == "2026-11-03T08:00:00.000250"
    assert times["e0001"] == "2026-11-03T08:01:00"


def test_a_days_cluster_shows_its_own_facets_whether_run_alone_or_in_a_range():
    """One upstream signature whose events carry other facets on the next day: each day's row
    shows its own day's, and a range run writes the same rows as day-by-day runs."""
    from datetime import timedelta

    from kura_assets.clustering import cluster_periods
    from tests.kura_assets.factories import FACETS

    spec = [(f"u{i}", "workflow_violation", "high", None) for i in range(4)]
    nxt = DAY + timedelta(days=1)
    both = pd.concat(
        [signal_rows(DAY, spec), signal_rows(nxt, spec, facets={**FACETS, "issue_type": "aaa_renamed"})],
        ignore_index=True,
    )
    ranged = cluster_periods(both, "day", [DAY, nxt])
    for day in (DAY, nxt):
        alone = cluster_signals(both[both["period_day"] == pd.Timestamp(day)], "day", day).clusters
        pd.testing.assert_frame_equal(ranged[day].clusters.reset_index(drop=True), alone.reset_index(drop=True))
    assert json.loads(ranged[DAY].clusters["signature"].iat[0])["issue_type"] == FACETS["issue_type"]
    assert json.loads(ranged[nxt].clusters["signature"].iat[0])["issue_type"] == "aaa_renamed"
