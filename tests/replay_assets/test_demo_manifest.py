"""The replay demo's partitions, pinned (see tests/manifests.py): both demo teams, eight ticks each."""

from pathlib import Path

from tests.manifests import assert_pinned, manifest_rows
from tests.replay_assets.test_assets import run


def test_the_demo_writes_the_pinned_partitions(tmp_path):
    url = f"duckdb:///{tmp_path}/w.duckdb"
    for team in (1, 2):
        assert run(url, team, 1, 8).success
    assert_pinned(manifest_rows(url, "replay"), Path(__file__).with_name("demo_manifest.json"), at_least=60)
