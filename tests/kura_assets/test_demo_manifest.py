"""The kura demo's partitions, pinned (see tests/manifests.py)."""

from pathlib import Path

import dagster as dg

from kura_assets import demo
from kura_assets.assets import (
    extraction_calibration_day,
    extraction_calibration_week,
    extraction_claims,
    extraction_underperforming_classes,
    learning_backlog,
    learning_backlog_candidates,
    learning_issue_clusters_day,
    learning_issue_clusters_week,
    learning_signals,
)
from tests.kura_assets.test_assets import resources, run
from tests.manifests import assert_pinned, manifest_rows

DAYS = demo.demo_days()


def test_the_demo_writes_the_pinned_partitions(tmp_path):
    url = f"duckdb:///{tmp_path}/w.duckdb"
    daily = [learning_signals, learning_issue_clusters_day, extraction_claims, extraction_calibration_day]
    weekly = [
        learning_issue_clusters_week,
        extraction_calibration_week,
        extraction_underperforming_classes,
        learning_backlog_candidates,
    ]
    assert run(daily, url, DAYS[0], DAYS[-1]).success
    assert run(weekly, url, DAYS[0], DAYS[7]).success
    assert dg.materialize([learning_backlog], resources=resources(url)).success
    assert_pinned(manifest_rows(url, "kura"), Path(__file__).with_name("demo_manifest.json"), at_least=40)
