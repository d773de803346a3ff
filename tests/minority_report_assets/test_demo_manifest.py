"""The minority-report demo's partitions, pinned (see tests/manifests.py): the day's baseline, the
library and the first three hours of ticks."""

from pathlib import Path

import dagster as dg

from minority_report_assets.assets import cluster_library, sales_baseline
from tests.manifests import assert_pinned, manifest_rows
from tests.minority_report_assets.test_assets import DAY, resources, run_ticks


def test_the_demo_writes_the_pinned_partitions(tmp_path):
    url = f"duckdb:///{tmp_path}/w.duckdb"
    assert dg.materialize([sales_baseline], resources=resources(url), partition_key=str(DAY.date())).success
    assert dg.materialize([cluster_library], resources=resources(url)).success
    assert run_ticks(url, 1, 12).success
    assert_pinned(manifest_rows(url, "minority_report"), Path(__file__).with_name("demo_manifest.json"), at_least=30)
