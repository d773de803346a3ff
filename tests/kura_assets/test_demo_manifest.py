"""The kura demo's written partitions, pinned: every table's partitions, row counts, content and
input hashes. A change that moves an asset onto another shape must leave these bytes alone; a change
that means to alter outputs updates the snapshot (``KURA_WRITE_DEMO_MANIFEST=1``) in the same commit."""

import json
import os
from pathlib import Path

import dagster as dg

from kura_assets import demo
from kura_assets.assets import (
    extraction_calibration_day, extraction_calibration_week, extraction_claims, extraction_underperforming_classes,
    learning_backlog, learning_backlog_candidates, learning_issue_clusters_day, learning_issue_clusters_week,
    learning_signals,
)
from platform_core.warehouse import backend_for
from tests.kura_assets.test_assets import resources, run

SNAPSHOT = Path(__file__).with_name("demo_manifest.json")
DAYS = demo.demo_days()


def demo_manifest(url: str) -> list[dict]:
    backend = backend_for(url)
    tables = sorted({"learning_signals", "learning_signal_rejects", "learning_issue_clusters_day", "learning_issue_clusters_week",
                     "learning_issue_cluster_runs", "extraction_claims", "extraction_claim_rejects", "extraction_calibration_day",
                     "extraction_calibration_week", "extraction_underperforming_classes", "learning_backlog_candidates",
                     "learning_backlog_bridge_runs", "learning_backlog"})
    rows = []
    for table in tables:
        m = backend.manifest("kura", table).sort_values("partition_key")
        rows += [{"table": table, "partition": k, "rows": int(n), "content_hash": h, "input_hash": i}
                 for k, n, h, i in zip(m["partition_key"], m["row_count"], m["content_hash"], m["input_hash"])]
    return rows


def test_the_demo_writes_the_pinned_partitions(tmp_path):
    url = f"duckdb:///{tmp_path}/w.duckdb"
    daily = [learning_signals, learning_issue_clusters_day, extraction_claims, extraction_calibration_day]
    weekly = [learning_issue_clusters_week, extraction_calibration_week, extraction_underperforming_classes, learning_backlog_candidates]
    assert run(daily, url, DAYS[0], DAYS[-1]).success
    assert run(weekly, url, DAYS[0], DAYS[7]).success
    assert dg.materialize([learning_backlog], resources=resources(url)).success
    written = demo_manifest(url)
    if os.environ.get("KURA_WRITE_DEMO_MANIFEST"):
        SNAPSHOT.write_text(json.dumps(written, indent=1) + "\n")
    pinned = json.loads(SNAPSHOT.read_text())
    assert len(written) == len(pinned) > 40
    assert written == pinned
