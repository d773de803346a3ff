"""Store shards split a tick's work and change none of its results: the demo morning in two shards
(``MR_SHARDS=2``, read at import, so in its own process) holds the same reports, row for row, as
in one; each shard holds only its own stores; a shard without stores writes empty ticks."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd

from minority_report_assets import demo
from minority_report_assets.assets import cluster_library, sales_baseline
from minority_report_assets.partitions import shard_of
from minority_report_assets.sources import DEMO_SERIES
from minority_report_assets.tables import (
    MINORITY_REPORTS_CLUSTERED_LOG,
    MINORITY_REPORTS_DETECTED_LOG,
    SALES_BASELINE,
    SALES_TIMESERIES_DATA,
)
from platform_core.warehouse import backend_for
from tests.minority_report_assets.test_assets import DAY, resources, run_ticks

ROOT = Path(__file__).resolve().parents[2]
LAST = 56  # 00:15 .. 14:00: the morning's reports open and close

IN_SHARDS = """
import sys
import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from minority_report_assets import demo
from minority_report_assets.assets import cluster_library, sales_baseline
from minority_report_assets.partitions import TICK, tick_key
from tests.minority_report_assets.test_assets import DAY, TICKS, resources

url, last, shards = sys.argv[1], int(sys.argv[2]), [int(s) for s in sys.argv[3].split(",")]
assert dg.materialize([sales_baseline], resources=resources(url), partition_key=str(DAY.date())).success
assert dg.materialize([cluster_library], resources=resources(url)).success
for shard in shards:
    tags = {
        ASSET_PARTITION_RANGE_START_TAG: tick_key(DAY + TICK, shard),
        ASSET_PARTITION_RANGE_END_TAG: tick_key(DAY + last * TICK, shard),
    }
    assert dg.materialize(TICKS, resources=resources(url), tags=tags).success
"""


def in_shards(url: str, shards: int, last: int, run: list[int]) -> None:
    """The baseline, the library and ticks 1..``last`` of the shards ``run``, with ``MR_SHARDS=shards``
    (read at import: its own process)."""
    env = {**os.environ, "MR_SHARDS": str(shards), "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-c", IN_SHARDS, url, str(last), ",".join(map(str, run))]
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def reports(url: str, spec) -> pd.DataFrame:
    rows = backend_for(url).read(spec).drop(columns=["shard"])
    return rows.sort_values(["written_at", "report_id"]).reset_index(drop=True)


def test_two_shards_hold_the_same_reports_as_one(tmp_path):
    one, two = f"duckdb:///{tmp_path}/one.duckdb", f"duckdb:///{tmp_path}/two.duckdb"
    assert dg.materialize([sales_baseline], resources=resources(one), partition_key=str(DAY.date())).success
    assert dg.materialize([cluster_library], resources=resources(one)).success
    assert run_ticks(one, 1, LAST).success
    in_shards(two, 2, LAST, [0, 1])

    for spec in (MINORITY_REPORTS_DETECTED_LOG, MINORITY_REPORTS_CLUSTERED_LOG):
        expected = reports(one, spec)
        assert len(expected) > 100, f"the morning opens reports in {spec.name}"
        pd.testing.assert_frame_equal(reports(two, spec), expected)

    backend = backend_for(two)
    for spec in (SALES_TIMESERIES_DATA, SALES_BASELINE, MINORITY_REPORTS_DETECTED_LOG):
        rows = backend.read(spec, columns=["store_id", "shard"])
        assert set(rows["shard"]) == {0, 1}, f"both shards hold {spec.name}"
        assert (shard_of(rows["store_id"], 2) == rows["shard"].to_numpy()).all(), (
            f"a store's {spec.name} is in its shard"
        )
    ticks = backend.manifest("minority_report", MINORITY_REPORTS_CLUSTERED_LOG.name)["partition_key"]
    assert len(ticks) == 2 * LAST and ticks.str.startswith("shard=1;").sum() == LAST


def test_a_shard_without_stores_writes_empty_ticks(tmp_path):
    """Eight shards of the demo's ten stores leave some empty: their ticks are written, with no rows."""
    url = f"duckdb:///{tmp_path}/eight.duckdb"
    stores = demo.series_keys(DEMO_SERIES)["store_id"].drop_duplicates()
    empty = sorted(set(range(8)) - set(shard_of(stores, 8)))
    assert empty, "the demo's stores fill every one of eight shards: pick another count"
    in_shards(url, 8, 4, empty[:1])
    written = backend_for(url).manifest("minority_report", MINORITY_REPORTS_CLUSTERED_LOG.name)
    assert len(written) == 4 and (written["row_count"] == 0).all(), written
    assert written["partition_key"].str.startswith(f"shard={empty[0]};").all()
