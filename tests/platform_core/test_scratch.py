"""Staging directories of runs that died are swept by the next run; a live run's never are."""

import os
import signal
import subprocess
import sys
import textwrap

from platform_core.scratch import scratch_directory, sweep_abandoned


def _killed_run(root, prefix: str) -> str:
    """A process that makes a scratch directory, fills it, and is killed with -9 inside the block."""
    code = textwrap.dedent(
        f"""
        import os, sys, time
        from platform_core.scratch import scratch_directory
        with scratch_directory({prefix!r}, {str(root)!r}) as d:
            open(os.path.join(d, "day.duckdb"), "wb").write(b"x" * 100_000)
            print(d, flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    path = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return path


def test_a_killed_runs_directory_is_removed_by_the_next_run(tmp_path):
    left = _killed_run(tmp_path, "kura-signals-")
    assert os.path.isdir(left)  # kill -9 skips every cleanup
    with scratch_directory("kura-signals-", str(tmp_path)) as mine:
        assert not os.path.exists(left)
        assert os.path.isdir(mine)
    assert not os.path.exists(mine)
    assert list(tmp_path.iterdir()) == []


def test_a_live_runs_directory_and_others_files_are_kept(tmp_path):
    other = tmp_path / "kura-signals-by-hand"
    other.mkdir()  # no lock file: not made by a run, not ours to remove
    with scratch_directory("kura-signals-", str(tmp_path)) as live:
        assert sweep_abandoned("kura-signals-", str(tmp_path)) == []
        with scratch_directory("kura-signals-", str(tmp_path)) as second:
            assert os.path.isdir(live) and os.path.isdir(second)
    assert other.is_dir()
