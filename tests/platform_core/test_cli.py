"""The three command lines from a plain shell: a bad input is one line naming it and what is
expected, with exit code 2, before any work starts; a reader that stops early ends them quietly."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from platform_core import cli
from platform_core.warehouse import DuckDBBackend

ROOT = Path(__file__).resolve().parents[2]
BAD_INPUTS = [
    (["kura_assets.cli", "top", "2026-13-45"], "'2026-13-45' is not a day"),
    (["minority_report_assets.cli", "reports", "2026-99-01"], "'2026-99-01' is not a day"),
    (["minority_report_assets.cli", "run", "--from", "2015-02-30", "--to", "2015-03-02"], "'2015-02-30' is not a day"),
    (["minority_report_assets.cli", "run", "--from", "2015-03-02", "--to", "2015-03-01"], "is before --from"),
    (
        ["minority_report_assets.cli", "run", "--from", "2015-03-01", "--to", "2015-03-02", "--sales", "missing.csv"],
        "'missing.csv': no such file",
    ),
    (["replay_assets.cli", "top", "1", "--tick-end", "garbage"], "'garbage' is not a time"),
    (["replay_assets.cli", "top", "1", "--tick-end", "2026-11-20 12:10"], "is not a tick end"),
]


def shell(args: list[str], tmp_path, **env) -> subprocess.CompletedProcess:
    (tmp_path / "dagster.yaml").touch()  # an instance of its own, configured (Dagster warns otherwise)
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path),
        "WAREHOUSE_URL": f"duckdb:///{tmp_path}/warehouse.duckdb",
        **env,
    }
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=environment)


@pytest.mark.parametrize("args, says", BAD_INPUTS, ids=[" ".join(a[1:]) for a, _ in BAD_INPUTS])
def test_a_bad_input_is_one_line_naming_it(args, says, tmp_path):
    done = shell(args, tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and says in done.stderr, done.stderr
    assert done.stdout == ""


def test_a_team_of_a_missing_file_is_refused_and_an_enabled_team_can_be_disabled(tmp_path):
    missing = shell(["replay_assets.cli", "enable", "7"], tmp_path, REPLAY_SEGMENTS_URL=str(tmp_path / "no.parquet"))
    assert missing.returncode == 2 and "no such file" in missing.stderr and len(missing.stderr.splitlines()) == 1
    source = tmp_path / "segments.parquet"
    source.write_bytes(b"")
    enabled = shell(["replay_assets.cli", "enable", "7"], tmp_path, REPLAY_SEGMENTS_URL=str(source))
    disabled = shell(["replay_assets.cli", "disable", "7"], tmp_path, REPLAY_SEGMENTS_URL=str(source))
    again = shell(["replay_assets.cli", "disable", "7"], tmp_path, REPLAY_SEGMENTS_URL=str(source))
    assert enabled.returncode == disabled.returncode == 0, (enabled.stderr, disabled.stderr)
    assert disabled.stdout.startswith("team 7 disabled")
    assert again.returncode == 2 and again.stderr.strip() == "replay: team 7 is not enabled"


def test_a_tick_the_warehouse_does_not_hold_is_named(tmp_path):
    import pandas as pd

    from platform_core.warehouse import PartitionWrite
    from replay_assets.pipeline import TaskState
    from replay_assets.tables import VIDEO_SEGMENT_TASKS

    at = pd.Timestamp("2026-11-20 12:00")
    row = {c: 0 for c in TaskState.empty().tasks.columns} | {
        "task_id": "task_a",
        "first_seen": at,
        "last_occurrence": at,
    }
    row |= {"title": "Fix a", "description": "", "keywords": "[]", "label_source": "keywords", "status": "new"}
    tasks = pd.DataFrame([row]).assign(merged_into=None, team_id=1, tick_end=at)
    partition = {"team_id": 1, "tick_end": pd.Timestamp("2026-11-20 12:00")}
    DuckDBBackend(str(tmp_path / "warehouse.duckdb")).write([PartitionWrite(VIDEO_SEGMENT_TASKS, partition, tasks, "")])
    done = shell(["replay_assets.cli", "top", "1", "--tick-end", "2026-11-20 12:30"], tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "replay: team 1 has no tick ending 2026-11-20 12:30 in the warehouse; "
        "its ticks end from 2026-11-20 12:00 to 2026-11-20 12:00"
    )


def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path):
    script = (
        "import sys\nfrom platform_core import cli\n"
        "def main(argv):\n    for i in range(100000):\n        print('line', i)\n    return 0\n"
        "sys.exit(cli.run('lines', main))\n"
    )
    done = subprocess.run(
        f'{sys.executable} -c "{script}" | head -n 2', shell=True, capture_output=True, text=True, cwd=ROOT
    )
    assert done.stdout.splitlines() == ["line 0", "line 1"]
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_a_cli_error_is_one_line_with_the_programs_name(capsys):
    def main(argv):
        raise cli.CliError("nothing to read at 'x'")

    assert cli.run("kura", main, []) == 2
    assert capsys.readouterr().err == "kura: nothing to read at 'x'\n"
