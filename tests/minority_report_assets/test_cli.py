"""``python -m minority_report_assets.cli run``: one command for a span of one's own sales."""

import os
import subprocess
import sys

import pandas as pd

from minority_report_assets import demo
from minority_report_assets.tables import MINORITY_REPORTS_CLUSTERED_LOG, SALES_BASELINE
from platform_core.warehouse import backend_for


def cli(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "minority_report_assets.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_run_materializes_a_span_of_own_sales_from_a_plain_shell(tmp_path):
    sales = tmp_path / "sales.csv"
    start = demo.DEMO_DAY - pd.Timedelta(days=8)
    demo.sales(40, start, demo.DEMO_DAY + pd.Timedelta(days=1)).to_csv(sales, index=False)
    url = f"duckdb:///{tmp_path}/w.duckdb"
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "MR_START", "SALES_URL")}
    env.update(WAREHOUSE_URL=url, MR_TICK_MINUTES="60")
    env["DAGSTER_HOME"] = str(tmp_path / "home")  # a throwaway instance (unset, the CLI uses the project's .dagster)
    (tmp_path / "home").mkdir()
    day = str(demo.DEMO_DAY.date())
    done = cli(
        "run", "--from", str((demo.DEMO_DAY - pd.Timedelta(days=1)).date()), "--to", day, "--sales", str(sales), env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:5]] == [
        f"baselines 2026-11-19..{day}",
        "pattern library",
        "ticks 2026-11-19",
        f"ticks {day}",
        f"maps and summaries 2026-11-19..{day}",
    ]
    assert "Minority reports of 2026-11-19..2026-11-20" in done.stdout
    # Each report says how much is at stake, and a pattern's reports come largest first.
    listed = [line for line in lines if line.startswith("    ")]
    assert listed and all(" expected  similarity " in line for line in listed), listed
    patterns = [i for i, line in enumerate(lines) if line.startswith("  ") and not line.startswith("    ")]
    for a, b in zip(patterns, [*patterns[1:], len(lines)]):
        own = [abs(float(line.split(" units vs ")[0].split()[-1].replace(",", ""))) for line in lines[a + 1 : b]]
        assert own == sorted(own, reverse=True), lines[a:b]
    backend = backend_for(url)
    baseline = backend.read(SALES_BASELINE)
    assert baseline["history_days"].max() == 8, "the days before the file starts are missing, not zero sales"
    assert len(backend.read(MINORITY_REPORTS_CLUSTERED_LOG)) > 0

    env["MR_START"] = "2026-11-21-00:00"
    refused = cli("run", "--from", day, "--to", day, env=env)
    assert refused.returncode == 2 and refused.stderr.strip().startswith(
        "minority-report: MR_START=2026-11-21-00:00 is after --from"
    )
