"""Command line for the replay location: ``python -m replay_assets.cli demo|top|enable|disable``.

``demo`` adds the demo teams as partitions (what the flag sensor does), materializes a day of
30-minute ticks for each team as one run per team on the instance in ``DAGSTER_HOME``, every
check evaluated, then prints each team's top tasks after the day's last tick.
"""

from __future__ import annotations

import argparse
import os
import sys

import pandas as pd

from platform_core import cli
from platform_core.resources import warehouse_backend_from_env
from platform_core.runs import cli_instance, run_job, run_summary
from replay_assets.definitions import defs
from replay_assets.partitions import TICK, partition_key_for, team_partitions
from replay_assets.resources import SegmentSource
from replay_assets.schedules import replay_tick_job
from replay_assets.sources import enabled_teams_from
from replay_assets.tables import VIDEO_SEGMENT_TASKS

DEMO_DAY = pd.Timestamp("2026-11-20")


def top_tasks(team_id: int, tick_end: pd.Timestamp | None = None, limit: int = 8) -> str:
    """The team's tasks after a tick (default: its latest), ranked by priority, with the factors."""
    backend = warehouse_backend_from_env()
    if tick_end is None:
        ticks = backend.read(VIDEO_SEGMENT_TASKS, where={"team_id": team_id}, columns=["tick_end"])
        if ticks.empty:
            return f"team {team_id}: no tasks yet"
        tick_end = ticks["tick_end"].max()
    frame = backend.read(VIDEO_SEGMENT_TASKS, where={"team_id": team_id, "tick_end": tick_end})
    if frame.empty:
        ticks = backend.read(VIDEO_SEGMENT_TASKS, where={"team_id": team_id}, columns=["tick_end"])["tick_end"]
        span = (
            f"; its ticks end from {ticks.min():%Y-%m-%d %H:%M} to {ticks.max():%Y-%m-%d %H:%M}" if len(ticks) else ""
        )
        raise cli.CliError(f"team {team_id} has no tick ending {tick_end:%Y-%m-%d %H:%M} in the warehouse{span}")
    merged = int((frame["status"] == "merged").sum())
    frame = frame[frame["status"] != "merged"].sort_values(["priority", "task_id"], ascending=[False, True])
    lines = [
        f"Team {team_id}: top tasks after the tick ending {tick_end:%Y-%m-%d %H:%M} UTC "
        f"({len(frame)} tasks, {int((frame['status'] == 'new').sum())} opened by this tick, {merged} merged into others)"
    ]
    for rank, r in enumerate(frame.head(limit).itertuples(), 1):
        lines.append(
            f"{rank:>2}. priority {r.priority:.3f} [users {r.users_factor:.3f} + impact {r.impact_factor:.3f} "
            f"+ recency {r.recency_factor:.3f}]  {r.title}\n    {r.occurrences} segments, {r.distinct_users} users, "
            f"last seen {r.last_occurrence:%H:%M}, {r.status}"
        )
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> int:
    instance = cli_instance()
    teams = enabled_teams_from("demo")
    instance.add_dynamic_partitions(team_partitions.name, [str(t) for t in teams])
    first, last = DEMO_DAY + TICK, DEMO_DAY + pd.Timedelta(days=1)
    for team in teams:
        start, end = str(partition_key_for(team, first)), str(partition_key_for(team, last))
        ok, line = run_summary(
            run_job(defs, replay_tick_job.name, start, end, instance), f"{replay_tick_job.name} {start}..{end}"
        )
        print(line)
        if not ok:
            return 1
    for team in teams:
        print()
        print(top_tasks(team, last))
    return 0


def file_source() -> SegmentSource:
    """The segment source, which must be a file to enable or disable teams by hand (the demo and
    ClickHouse say which teams are on)."""
    source = SegmentSource(url=os.environ.get("REPLAY_SEGMENTS_URL") or "demo")
    if source.has_flags:
        raise cli.CliError(
            f"REPLAY_SEGMENTS_URL={source.url} says which teams are on (the demo's teams, ClickHouse's flag "
            "table): the sensor adds them; enable and disable are for a .parquet source"
        )
    if not os.path.isfile(source.url):
        raise cli.CliError(f"REPLAY_SEGMENTS_URL={source.url}: no such file")
    return source


def cmd_enable(args: argparse.Namespace) -> int:
    """Add a team's partition, as the flag sensor does for ClickHouse: for a file source, an added
    team is enabled, and the 30-minute schedule runs its ticks."""
    file_source()
    instance = cli_instance()
    known = set(instance.get_dynamic_partitions(team_partitions.name))
    if str(args.team) in known:
        print(f"team {args.team} is already enabled")
        return 0
    instance.add_dynamic_partitions(team_partitions.name, [str(args.team)])
    print(f"team {args.team} enabled: its ticks can run from the UI, and replay_every_30_minutes requests them")
    return 0


def cmd_disable(args: argparse.Namespace) -> int:
    """Remove a team's partition: the schedule stops requesting its ticks; its tables stay."""
    file_source()
    instance = cli_instance()
    if str(args.team) not in set(instance.get_dynamic_partitions(team_partitions.name)):
        raise cli.CliError(f"team {args.team} is not enabled")
    instance.delete_dynamic_partition(team_partitions.name, str(args.team))
    print(f"team {args.team} disabled: its tables stay, and replay_every_30_minutes no longer requests its ticks")
    return 0


def cmd_top(args: argparse.Namespace) -> int:
    print(top_tasks(args.team, args.tick_end, args.limit))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = cli.Parser(prog="replay", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "demo", help="materialize a day of demo ticks for each demo team and print the top tasks"
    ).set_defaults(run=cmd_demo)
    top = sub.add_parser("top", help="print a team's top tasks after a tick (default: its latest)")
    top.add_argument("team", type=int)
    top.add_argument("--tick-end", type=cli.tick_end(30), help="e.g. '2026-11-20 12:00' (UTC)")
    top.add_argument("--limit", type=int, default=8)
    top.set_defaults(run=cmd_top)
    enable = sub.add_parser("enable", help="enable a team (add its partition) for a file source")
    enable.add_argument("team", type=int)
    enable.set_defaults(run=cmd_enable)
    disable = sub.add_parser("disable", help="disable a team (remove its partition) for a file source")
    disable.add_argument("team", type=int)
    disable.set_defaults(run=cmd_disable)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(cli.run("replay", main))
