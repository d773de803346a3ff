"""Command line for the kura location: ``python -m kura_assets.cli demo|top``.

``demo`` materializes the whole graph over the demo weeks (days as one run, weeks as one
run, every check evaluated) on the instance in ``DAGSTER_HOME``, then prints the top
clusters of the last week: what a user looks at first.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from kura_assets import demo
from kura_assets.definitions import defs
from kura_assets.schedules import kura_backlog_refresh_job, kura_daily_job, kura_decision_job, kura_weekly_job
from kura_assets.tables import (
    EXTRACTION_CALIBRATION_WEEK,
    LEARNING_BACKLOG,
    LEARNING_BACKLOG_CANDIDATES,
    LEARNING_ISSUE_CLUSTERS_WEEK,
)
from platform_core import cli
from platform_core.resources import warehouse_backend_from_env
from platform_core.runs import cli_instance, run_job, run_summary


def top_clusters(week_start: date, limit: int = 10) -> str:
    frame = warehouse_backend_from_env().read(LEARNING_ISSUE_CLUSTERS_WEEK, where={"period_start": week_start})
    if frame.empty:
        return f"no published clusters for the week of {week_start}"
    frame = frame.sort_values(["score", "cluster_signature"], ascending=[False, True]).head(limit)
    lines = [f"Top clusters of {frame['period_key'].iloc[0]} ({len(frame)} shown)"]
    for rank, r in enumerate(frame.itertuples(), 1):
        f = json.loads(r.score_factors)
        lines.append(
            f"{rank:>2}. score {r.score:.6f}  [frequency {f['frequency']:.3f} x severity {f['severity']:.3f} "
            f"x impact {f['impact']:.3f} x reproducibility {f['reproducibility']:.3f}]\n    {r.summary}"
        )
    return "\n".join(lines)


def calibration(week_start: date) -> str:
    frame = warehouse_backend_from_env().read(EXTRACTION_CALIBRATION_WEEK, where={"period_start": week_start})
    if frame.empty:
        return f"no extraction calibration for the week of {week_start}"
    lines = [f"Extraction calibration of {frame['period_key'].iloc[0]}"]
    for r in frame.sort_values(["status", "claim_type"]).itertuples():
        drift = f", Brier +{r.brier_delta:.3f} vs the week before: DRIFT" if r.drift_alert else ""
        precision = "n/a" if pd.isna(r.precision_at_high) else f"{r.precision_at_high:.3f}"
        lines.append(
            f"  {r.status:<9} {r.claim_type} ({r.parser_version}): {r.sample_count} claims, "
            f"Brier {r.brier_score:.3f}, precision at high confidence {precision}{drift}"
        )
    return "\n".join(lines)


def candidates(week_start: date) -> str:
    frame = warehouse_backend_from_env().read(LEARNING_BACKLOG_CANDIDATES, where={"period_start": week_start})
    if frame.empty:
        return f"no backlog candidates for the week of {week_start}"
    lines = [f"Backlog candidates of {frame['period_key'].iloc[0]} (approval required)"]
    for r in frame.sort_values(["priority_score", "candidate_key"], ascending=[False, True]).itertuples():
        lines.append(f"  {r.priority_label} {r.priority_score:.3f}  {r.title}\n         {r.candidate_key}")
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> int:
    instance = cli_instance()
    days = demo.demo_days()
    weeks = [d for d in days if d.weekday() == 0]
    steps = [
        (kura_daily_job.name, days[0].isoformat(), days[-1].isoformat()),
        (kura_weekly_job.name, weeks[0].isoformat(), weeks[-1].isoformat()),
        (kura_backlog_refresh_job.name, None, None),
    ]
    for job_name, first, last in steps:
        ok, line = run_summary(
            run_job(defs, job_name, first, last, instance), f"{job_name} {f'{first}..{last}' if first else ''}"
        )
        print(line)
        if not ok:
            return 1
    print()
    print(top_clusters(weeks[-1]))
    print()
    print(calibration(weeks[-1]))
    print()
    print(candidates(weeks[-1]))
    return 0


def cmd_decide(args: argparse.Namespace) -> int:
    """Approve, dismiss or promote one candidate: the same Dagster job the UI launches."""
    config = {
        "ops": {
            "kura__learning_backlog_decisions": {
                "config": {
                    "candidate_key": args.candidate_key,
                    "decision": args.decision,
                    "actor": args.actor,
                    "note": args.note,
                }
            }
        }
    }
    # A refused decision is the user's to read in one line, not as the step's traceback.
    result = run_job(defs, kura_decision_job.name, None, None, cli_instance(), config, console_level="CRITICAL")
    if not result.success:
        failure = result.failure_data_for_node("kura__learning_backlog_decisions")
        message = failure.error.message.strip() if failure else "the decision run failed"
        kind, _, reason = message.partition(": ")
        print(reason if kind.endswith("Failure") else message, file=sys.stderr)
        return 2
    print(f"{args.candidate_key}: {args.decision} by {args.actor} (run {result.run_id})")
    return 0


def cmd_backlog(args: argparse.Namespace) -> int:
    frame = warehouse_backend_from_env().read(LEARNING_BACKLOG)
    if frame.empty:
        print("the backlog is empty: no week has been bridged yet (make demo, or the kura_weekly job)")
        return 0
    for r in frame.sort_values(["status", "priority_score"], ascending=[True, False]).itertuples():
        print(f"{r.status:<9} {r.priority_label} {r.priority_score:.3f}  {r.title}\n          {r.candidate_key}")
    return 0


def approved_payload(row) -> dict:
    """An approved candidate's issue payload with its approval recorded (the stored payload is the
    candidate's, written before anyone decided)."""
    payload = json.loads(row.issue_payload)
    for step in payload.get("promotion_checklist", []):
        if step.get("step") == "human_approval":
            step.update(
                done=True,
                by=row.decided_by,
                at=None if pd.isna(row.decided_at) else pd.Timestamp(row.decided_at).isoformat(),
            )
    return payload


def cmd_export(args: argparse.Namespace) -> int:
    """Write each approved candidate's issue payload as JSON, ready to file in a tracker."""
    frame = warehouse_backend_from_env().read(LEARNING_BACKLOG, where={"status": "approved"})
    out = Path(args.directory)
    out.mkdir(parents=True, exist_ok=True)
    for r in frame.itertuples():
        name = r.candidate_key.replace(":", "_") + ".json"
        (out / name).write_text(json.dumps(approved_payload(r), indent=2, sort_keys=True) + "\n")
    print(f"{len(frame)} approved candidates written to {out}")
    return 0


def cmd_top(args: argparse.Namespace) -> int:
    print(top_clusters(args.week - timedelta(days=args.week.weekday()), args.limit))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = cli.Parser(prog="kura", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="materialize the demo weeks and print the top clusters").set_defaults(run=cmd_demo)
    top = sub.add_parser("top", help="print the top clusters of the ISO week holding a date")
    top.add_argument("week", type=cli.day, help="any date of the week, e.g. 2026-11-09")
    top.add_argument("--limit", type=int, default=10)
    top.set_defaults(run=cmd_top)
    decide = sub.add_parser("decide", help="approve, dismiss or promote a backlog candidate")
    decide.add_argument("candidate_key")
    decide.add_argument("decision", choices=["approved", "dismissed", "promoted"])
    decide.add_argument("--actor", required=True, help="who decides")
    decide.add_argument("--note", default="")
    decide.set_defaults(run=cmd_decide)
    sub.add_parser("backlog", help="print the current backlog").set_defaults(run=cmd_backlog)
    export = sub.add_parser("export", help="write approved candidates' issue payloads as JSON files")
    export.add_argument("directory")
    export.set_defaults(run=cmd_export)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(cli.run("kura", main))
