"""Command line for the minority-report location: ``python -m minority_report_assets.cli demo|run|reports``.

``demo`` materializes the demo day on the instance in ``DAGSTER_HOME``: the day's baseline, the
pattern library, the day's 96 ticks as one run (sales -> detected log -> clustered log, every
check), then the day's map and attribution summary, and prints the reports by pattern.
``run --from DAY --to DAY`` does the same for a span of one's own sales (``--sales`` or
``SALES_URL``): the span's baselines as one run, the library, each day's ticks as one run (a line
of progress per day), then the span's maps and summaries as one run.
"""

from __future__ import annotations

import argparse
import os
import sys

import pandas as pd

from minority_report_assets.sales import check_bucket
from platform_core import cli


def window_text(start: pd.Timestamp, end: pd.Timestamp, dated: bool = False) -> str:
    """A report's window: ``HH:MM-HH:MM`` within a day (``24:00`` for midnight at its end), the
    dates too when it spans midnight or ``dated`` asks for them."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if end <= start.normalize() + pd.Timedelta(days=1):
        hours = f"{start:%H:%M}-{'24:00' if end == start.normalize() + pd.Timedelta(days=1) else f'{end:%H:%M}'}"
        return f"{start:%Y-%m-%d} {hours}" if dated else hours
    return f"{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M}"


def latest_reports(first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    """Each report's latest clustered-log row of the days ``first..last``, with what is at stake
    from its detected-log row of the same tick: ``impact_estimate`` (units above or below expected
    over the report) and ``baseline_sales_total`` (the units expected)."""
    from minority_report_assets.partitions import TICK
    from minority_report_assets.tables import MINORITY_REPORTS_CLUSTERED_LOG, MINORITY_REPORTS_DETECTED_LOG
    from platform_core.resources import warehouse_backend_from_env

    span = ("written_at", first + TICK, last + pd.Timedelta(days=1, seconds=1))
    backend = warehouse_backend_from_env()
    rows = backend.read(MINORITY_REPORTS_CLUSTERED_LOG, between=span)
    latest = rows.sort_values(["report_id", "written_at"]).groupby("report_id").tail(1)
    stake = backend.read(MINORITY_REPORTS_DETECTED_LOG, between=span)[
        ["report_id", "written_at", "impact_estimate", "baseline_sales_total"]
    ]
    return latest.merge(stake, on=["report_id", "written_at"], how="left")


def reports_by_pattern(first: pd.Timestamp, last: pd.Timestamp | None = None, limit: int = 3) -> str:
    """Each report's latest match of the days, grouped by pattern, what is at stake first."""
    from minority_report_assets.reports import by_stake

    last = first if last is None else last
    span = f"{first.date()}" if first == last else f"{first.date()}..{last.date()}"
    latest = latest_reports(first, last)
    if latest.empty:
        return f"no minority reports on {span}"
    open_now = latest[latest["report_status"] == "open"]
    lines = [f"Minority reports of {span}: {len(latest)} reports, {len(open_now)} still open at the end"]
    for name, group in latest.groupby("cluster_name"):
        group = by_stake(group)
        lines.append(
            f"  {name}: {len(group)} reports ({int((group['report_status'] == 'open').sum())} open), "
            f"mean similarity {group['similarity_score'].mean():.2f}"
        )
        for r in group.head(limit).itertuples():
            lines.append(
                f"    {r.store_id} {r.sku}  {window_text(r.window_start, r.window_end, first != last)}"
                f"  {r.impact_estimate:+,.0f} units vs {r.baseline_sales_total:,.0f} expected"
                f"  similarity {r.similarity_score:.2f}  confidence {r.cluster_match_confidence:.2f}  {r.report_status}"
            )
    return "\n".join(lines)


def run_steps(first: pd.Timestamp, last: pd.Timestamp) -> int:
    """Baselines, library, each day's ticks (a run per shard), then the days' maps and summaries, a line per run."""
    from minority_report_assets.definitions import defs
    from minority_report_assets.partitions import SHARDS, TICK, tick_key
    from minority_report_assets.schedules import mr_baseline_job, mr_daily_job, mr_library_job, mr_tick_job
    from platform_core.runs import cli_instance, run_job, run_summary

    instance, span = cli_instance(), f"{first.date()}..{last.date()}"
    steps = [
        (mr_baseline_job.name, str(first.date()), str(last.date()), f"baselines {span}", None),
        (mr_library_job.name, None, None, "pattern library", None),
    ]
    steps += [
        (
            mr_tick_job.name,
            tick_key(day + TICK, shard),
            tick_key(day + pd.Timedelta(days=1), shard),
            f"ticks {day.date()}" + (f" shard {shard}" if SHARDS > 1 else ""),
            day if shard == SHARDS - 1 else None,
        )
        for day in pd.date_range(first, last, freq="D")
        for shard in range(SHARDS)
    ]
    steps.append((mr_daily_job.name, str(first.date()), str(last.date()), f"maps and summaries {span}", None))
    for job_name, start, end, label, day in steps:
        ok, line = run_summary(run_job(defs, job_name, start, end, instance), label)
        if day is not None and ok:
            line += f"; {len(latest_reports(day, day))} reports"
        print(line, flush=True)
        if not ok:
            return 1
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from minority_report_assets import demo

    day = demo.DEMO_DAY
    code = run_steps(day, day)
    if code == 0:
        print()
        print(reports_by_pattern(day))
    return code


def cmd_run(args: argparse.Namespace) -> int:
    first, last = pd.Timestamp(args.first), pd.Timestamp(args.last)
    if last < first:
        raise cli.CliError(f"--to {last.date()} is before --from {first.date()}")
    code = run_steps(first, last)
    if code == 0:
        print()
        print(reports_by_pattern(first, last))
    return code


def cmd_reports(args: argparse.Namespace) -> int:
    print(reports_by_pattern(pd.Timestamp(args.day)))
    return 0


def prepare_environment(args: argparse.Namespace) -> str | None:
    """Point the location at the user's data before it is imported (partitions and the sales
    source are read from the environment): ``--sales`` as ``SALES_URL``, ``--bucket-minutes`` as
    ``SALES_BUCKET_MINUTES`` (and ticks of that size, unless ``MR_TICK_MINUTES`` is set); the tick and day
    partitions start on ``--from`` unless ``MR_START`` says otherwise. An error line, or None."""
    if getattr(args, "sales", None):
        os.environ["SALES_URL"] = args.sales
    if getattr(args, "bucket_minutes", None):
        os.environ["SALES_BUCKET_MINUTES"] = str(args.bucket_minutes)
        # Ticks of the feed's own size unless told otherwise (15 minutes hold three 5-minute buckets).
        os.environ.setdefault("MR_TICK_MINUTES", str(15 if 15 % args.bucket_minutes == 0 else args.bucket_minutes))
        try:
            check_bucket(
                pd.Timedelta(minutes=args.bucket_minutes), pd.Timedelta(minutes=int(os.environ["MR_TICK_MINUTES"]))
            )
        except ValueError as error:
            return str(error)
    if getattr(args, "first", None):
        first = pd.Timestamp(args.first)
        start = os.environ.setdefault("MR_START", f"{first:%Y-%m-%d}-00:00")
        if pd.to_datetime(start, format="%Y-%m-%d-%H:%M") > first:
            return f"MR_START={start} is after --from {first.date()}: the partitions would not hold the span"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = cli.Parser(prog="minority-report", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="materialize the demo day and print the reports by pattern").set_defaults(run=cmd_demo)
    run = sub.add_parser(
        "run", help="baselines, library, ticks, maps and summaries of one's own sales over a span of days"
    )
    run.add_argument(
        "--from",
        dest="first",
        type=cli.day,
        required=True,
        help="first day, e.g. 2015-03-27 (28 days of sales before it make full baselines)",
    )
    run.add_argument("--to", dest="last", type=cli.day, required=True, help="last day (included)")
    run.add_argument(
        "--sales",
        type=cli.existing_file,
        help="a .csv / .parquet file or warehouse:schema.table (default: SALES_URL, else the demo)",
    )
    run.add_argument(
        "--bucket-minutes",
        type=int,
        help="the size of the source's rows: 5 (default), 60 for an hourly feed, 1440 for a daily one; taken as they are",
    )
    run.set_defaults(run=cmd_run)
    reports = sub.add_parser("reports", help="print a day's reports by pattern")
    reports.add_argument("day", type=cli.day, help="e.g. 2026-11-20")
    reports.set_defaults(run=cmd_reports)
    args = parser.parse_args(argv)
    error = prepare_environment(args)
    if error:
        raise cli.CliError(error)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(cli.run("minority-report", main))
