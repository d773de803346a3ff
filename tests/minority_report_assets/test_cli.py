"""``python -m minority_report_assets.cli run``: one command for a span of one's own sales."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd

from minority_report_assets import demo
from minority_report_assets.tables import MINORITY_REPORTS_CLUSTERED_LOG, MINORITY_REPORTS_DETECTED_LOG, SALES_BASELINE
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


def test_an_hourly_feed_gives_the_reports_of_its_hours_spread_over_5_minute_rows(tmp_path):
    """The same detection: an hourly file run with ``--bucket-minutes 60`` reports exactly what the
    same hours, each spread evenly over its twelve 5-minute rows, report."""
    start = demo.DEMO_DAY - pd.Timedelta(days=8)
    five = demo.sales(20, start, demo.DEMO_DAY + pd.Timedelta(days=1))
    five["ts"] = pd.to_datetime(five["ts"])
    hourly = (
        five.assign(ts=five["ts"].dt.floor("h"))
        .groupby(["store_id", "sku", "ts"], as_index=False)
        .agg(units=("units", "sum"), price=("price", "first"))
    )
    spread = hourly.loc[hourly.index.repeat(12)].reset_index(drop=True)
    spread = spread.assign(
        ts=spread["ts"] + pd.to_timedelta(np.tile(np.arange(12) * 5, len(hourly)), unit="min"),
        units=spread["units"] / 12,
    )
    day = str(demo.DEMO_DAY.date())
    logs = []
    for name, frame, extra in (("hourly", hourly, ["--bucket-minutes", "60"]), ("spread", spread, [])):
        path = tmp_path / f"{name}.csv"
        frame.to_csv(path, index=False)
        url = f"duckdb:///{tmp_path}/{name}.duckdb"
        env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "MR_START", "SALES_URL")}
        env.update(WAREHOUSE_URL=url, MR_TICK_MINUTES="60", DAGSTER_HOME=str(tmp_path / f"home-{name}"))
        (tmp_path / f"home-{name}").mkdir()
        done = cli("run", "--from", day, "--to", day, "--sales", str(path), *extra, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        detected = backend_for(url).read(MINORITY_REPORTS_DETECTED_LOG)
        logs.append(detected.drop(columns=["input_hash"], errors="ignore").sort_values(["report_id", "written_at"]))
    assert len(logs[0]) > 0, "the planted day opens reports"
    pd.testing.assert_frame_equal(logs[0].reset_index(drop=True), logs[1].reset_index(drop=True))
