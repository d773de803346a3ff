"""The replay demo's partitions, pinned (see tests/manifests.py): both demo teams, eight ticks each."""

import json
from pathlib import Path

from tests.manifests import assert_pinned, manifest_rows
from tests.replay_assets.test_assets import run


def test_the_demo_writes_the_pinned_partitions(tmp_path):
    url = f"duckdb:///{tmp_path}/w.duckdb"
    for team in (1, 2):
        assert run(url, team, 1, 8).success
    assert_pinned(manifest_rows(url, "replay"), Path(__file__).with_name("demo_manifest.json"), at_least=60)


def test_one_run_may_carry_many_teams(tmp_path):
    """A range over the team dimension too (teams 1..2 x eight ticks): what a deployment uses to keep
    a run's fixed cost small against its work (docs/scaling.md); the same partitions, byte for byte."""
    url = f"duckdb:///{tmp_path}/w.duckdb"
    assert run(url, 1, 1, 8, last_team=2).success
    assert manifest_rows(url, "replay") == json.loads(Path(__file__).with_name("demo_manifest.json").read_text())
