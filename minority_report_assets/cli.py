"""Command line for the minority-report location: ``python -m minority_report_assets.cli demo|reports``.

``demo`` materializes the demo day on the instance in ``DAGSTER_HOME``: the day's baseline, the
pattern library, the day's 96 ticks as one run (sales -> MRDL -> MRCL, every check), then the
day's map and attribution summary, and prints the reports by pattern.
"""

from __future__ import annotations

import argparse
import sys

import dagster as dg
import pandas as pd

from minority_report_assets import demo
from minority_report_assets.definitions import defs
from minority_report_assets.partitions import TICK, tick_key
from minority_report_assets.schedules import mr_baseline_job, mr_daily_job, mr_library_job, mr_tick_job
from minority_report_assets.tables import MINORITY_REPORTS_CLUSTERED_LOG
from platform_core.resources import warehouse_backend_from_env
from platform_core.runs import run_job, run_summary


def reports_by_pattern(day: pd.Timestamp, limit: int = 3) -> str:
    """Each report's latest match of the day, grouped by pattern, strongest first."""
    backend = warehouse_backend_from_env()
    rows = backend.read(MINORITY_REPORTS_CLUSTERED_LOG, between=("written_at", day + TICK, day + pd.Timedelta(days=1, seconds=1)))
    if rows.empty:
        return f"no minority reports on {day.date()}"
    latest = rows.sort_values(["report_id", "written_at"]).groupby("report_id").tail(1)
    open_now = latest[latest["report_status"] == "open"]
    lines = [f"Minority reports of {day.date()}: {len(latest)} reports, {len(open_now)} still open at the day's end"]
    for name, group in latest.groupby("cluster_name"):
        group = group.sort_values(["cluster_match_confidence", "report_id"], ascending=[False, True])
        lines.append(f"  {name}: {len(group)} reports ({int((group['report_status'] == 'open').sum())} open), "
                     f"mean similarity {group['similarity_score'].mean():.2f}")
        for r in group.head(limit).itertuples():
            lines.append(f"    {r.store_id} {r.sku}  {r.window_start:%H:%M}-{r.window_end:%H:%M}  similarity {r.similarity_score:.2f}"
                         f"  confidence {r.cluster_match_confidence:.2f}  {r.report_status}")
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> int:
    instance = dg.DagsterInstance.get()
    day = demo.DEMO_DAY
    first, last = tick_key(day + TICK), tick_key(day + pd.Timedelta(days=1))
    steps = [(mr_baseline_job.name, str(day.date()), str(day.date())), (mr_library_job.name, None, None),
             (mr_tick_job.name, first, last), (mr_daily_job.name, str(day.date()), str(day.date()))]
    for job_name, start, end in steps:
        ok, line = run_summary(run_job(defs, job_name, start, end, instance), f"{job_name} {f'{start}..{end}' if start else ''}")
        print(line)
        if not ok:
            return 1
    print()
    print(reports_by_pattern(day))
    return 0


def cmd_reports(args: argparse.Namespace) -> int:
    print(reports_by_pattern(pd.Timestamp(args.day)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minority-report", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="materialize the demo day and print the reports by pattern").set_defaults(run=cmd_demo)
    reports = sub.add_parser("reports", help="print a day's reports by pattern")
    reports.add_argument("day", help="e.g. 2026-11-20")
    reports.set_defaults(run=cmd_reports)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
