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


def test_how_ticks_are_grouped_into_runs_changes_no_byte(tmp_path):
    """A range over the team dimension too (teams 1..2 x eight ticks: what a deployment uses to keep a
    run's fixed cost small, docs/scaling.md), and a run per tick (as the schedule runs them): the
    pinned partitions, content and input hashes alike."""
    pinned = json.loads(Path(__file__).with_name("demo_manifest.json").read_text())
    many = f"duckdb:///{tmp_path}/many.duckdb"
    assert run(many, 1, 1, 8, last_team=2).success
    assert manifest_rows(many, "replay") == pinned
    one_by_one = f"duckdb:///{tmp_path}/one_by_one.duckdb"
    for team in (1, 2):
        for k in range(1, 9):
            assert run(one_by_one, team, k).success
    assert manifest_rows(one_by_one, "replay") == pinned
