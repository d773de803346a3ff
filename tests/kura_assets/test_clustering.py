"""On the demo's planted ground truth: the planted issues are found with their expected scores,
the noise is not, and the result does not depend on input order."""

import json
from datetime import timedelta

import pandas as pd
import pytest

from kura_assets import demo, sources
from kura_assets.clustering import cluster_signals, period_key
from kura_assets.scoring import ScoringParams
from kura_assets.signals import SignalRules, validate_signals
from kura_assets.tables import LEARNING_ISSUE_CLUSTERS_WEEK
from platform_core.hashing import content_hash

WEEK = demo.DEMO_START + timedelta(days=7)
SEVERITY = {
    "save_claim_mismatch_attempt": 1.0,
    "workflow_violation": 0.95,
    "quality_issue_detected": 0.90,
    "clarification_requested": 0.72,
}
IMPACT = {
    "save_claim_mismatch_attempt": 1.0,
    "workflow_violation": 0.95,
    "quality_issue_detected": 0.86,
    "clarification_requested": 0.72,
}
BAND = {"high": 1.0, "medium": 0.92}


def reference_score(events: pd.DataFrame) -> float:
    """The reference formula written out plainly, over a cluster's kept events."""
    n, users = len(events), events["pseudo_user_id"].nunique()
    mismatch = events["mismatch_severity"].map({"critical": 1.0}).fillna(1.0)
    severity = (events["signal_type"].map(SEVERITY) * mismatch * events["confidence_band"].map(BAND)).mean()
    impact = (events["signal_type"].map(IMPACT) * mismatch).mean()
    reproducibility = (min(1, users / 4) + min(1, (n / users) / 2)) / 2
    return round(min(1, n / 12) * severity * impact * reproducibility, 6)


@pytest.fixture(scope="module")
def week_signals() -> pd.DataFrame:
    days = [WEEK + timedelta(days=i) for i in range(7)]
    return pd.concat(
        [validate_signals(sources.read_events("demo", *SignalRules().read_window(d)), d, "salt").signals for d in days],
        ignore_index=True,
    )


def by_issue(clusters: pd.DataFrame) -> dict[str, pd.Series]:
    return {json.loads(r["signature"])["issue_type"]: r for _, r in clusters.iterrows()}


def kept(signals: pd.DataFrame, signature: str, cap: int = 3) -> pd.DataFrame:
    events = signals[signals["source_cluster_signature"] == signature].sort_values(["event_time", "event_id"])
    return events[events.groupby("pseudo_user_id").cumcount() < cap]


@pytest.mark.parametrize("granularity", ["day", "week"])
def test_planted_issues_are_found_with_expected_counts_and_scores(week_signals, granularity):
    signals = week_signals if granularity == "week" else week_signals[week_signals["period_day"] == pd.Timestamp(WEEK)]
    found = cluster_signals(signals, granularity, WEEK).clusters.set_index("cluster_signature")
    counts = {
        p.name: (p.day_events, p.day_users) if granularity == "day" else (p.week_events, p.week_users)
        for p in demo.PLANTED
    }
    planted = [p for p in demo.PLANTED if counts[p.name][0]]
    assert len(planted) == (3 if granularity == "day" else 6)
    assert set(found.index) == {p.signature for p in planted}, "only planted issues are published, no noise"
    for p in planted:
        row = found.loc[p.signature]
        agg = json.loads(row["aggregates"])
        assert (agg["event_count"], agg["unique_pseudo_users"]) == counts[p.name], p.name
        assert agg["source_cluster_signatures"] == [p.signature], "published under the events' own signature"
        assert row["score"] == reference_score(kept(signals, p.signature)), p.name
        assert row["period_key"] == period_key(granularity, WEEK)


def test_grouping_by_facets_joins_one_issue_across_signal_types_and_bands(week_signals):
    """The option: one cluster per facet combination, the worked example's mix in one cluster."""
    day = week_signals[week_signals["period_day"] == pd.Timestamp(WEEK)]
    clusters = by_issue(cluster_signals(day, "day", WEEK, ScoringParams(group_by="facets")).clusters)
    save = json.loads(clusters["save_claim_mismatch"]["aggregates"])
    assert save["signal_counts"] == {"save_claim_mismatch_attempt": 4, "workflow_violation": 2}
    assert clusters["save_claim_mismatch"]["score"] == 0.362604  # the reference's worked example
    assert json.loads(clusters["workflow_skip"]["aggregates"])["confidence_bands"] == {"high": 2, "medium": 1}


def test_output_does_not_depend_on_input_order(week_signals):
    a = cluster_signals(week_signals, "week", WEEK).clusters
    b = cluster_signals(week_signals.sample(frac=1.0, random_state=3), "week", WEEK).clusters
    assert content_hash(LEARNING_ISSUE_CLUSTERS_WEEK, a) == content_hash(LEARNING_ISSUE_CLUSTERS_WEEK, b)
    assert (
        a.sort_values("cluster_signature")
        .reset_index(drop=True)
        .equals(b.sort_values("cluster_signature").reset_index(drop=True))
    )


def test_published_clusters_carry_the_whole_output_contract(week_signals):
    row = by_issue(cluster_signals(week_signals, "week", WEEK).clusters)["quality_regression"]
    assert row["period_key"] == "2026-W46"
    controls = json.loads(row["false_positive_controls"])
    assert controls["dominance_dropped_events"] == 67 and controls["status"] == "published"
    examples = json.loads(row["representative_examples"])
    assert len(examples) == 3 and all("pseudo_user_id" not in e for e in examples)
    assert json.loads(row["affected_workflow_phases"]) == [{"workflow_phase": "log", "events": 17}]
    assert "17 events from 15 users" in row["summary"]
