"""Team x 30-minute tick partitions of the replay graph.

A tick is a window of ``inserted_at`` (when segments arrived), so every segment belongs to
exactly one tick, late arrivals included. Dagster keys a window by its start
(``2026-11-20-10:00``); the tables key it by its end (``tick_end = 10:30``). Teams are dynamic
partitions, added by a sensor when their feature flag turns on.
"""

import os
from dataclasses import dataclass

import dagster as dg
import pandas as pd

from platform_core.partitions import partitions_by_dimension

TICK = pd.Timedelta(minutes=30)
START = os.environ.get("REPLAY_START", "2026-11-20-00:00")  # the demo's day

team_partitions = dg.DynamicPartitionsDefinition(name="replay_teams")
tick_partitions = dg.TimeWindowPartitionsDefinition(
    start=START, cron_schedule="*/30 * * * *", fmt="%Y-%m-%d-%H:%M", timezone="UTC"
)
replay_partitions = dg.MultiPartitionsDefinition({"team": team_partitions, "tick": tick_partitions})

#: The previous tick of the same team: what the tasks of a tick start from.
PREVIOUS_TICK = dg.MultiPartitionMapping(
    {
        "team": dg.DimensionPartitionMapping("team", dg.IdentityPartitionMapping()),
        "tick": dg.DimensionPartitionMapping("tick", dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)),
    }
)

#: The tick and the one before it, of the same team: what a tick is clustered with.
TICK_AND_PREVIOUS = dg.MultiPartitionMapping(
    {
        "team": dg.DimensionPartitionMapping("team", dg.IdentityPartitionMapping()),
        "tick": dg.DimensionPartitionMapping("tick", dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=0)),
    }
)


@dataclass(frozen=True, order=True)
class Tick:
    team_id: int
    end: pd.Timestamp  # naive UTC

    @property
    def start(self) -> pd.Timestamp:
        return self.end - TICK

    @property
    def partition(self) -> dict:
        return {"team_id": self.team_id, "tick_end": self.end}

    @property
    def label(self) -> str:
        return f"team {self.team_id} @ {self.end:%Y-%m-%d %H:%M}"

    @property
    def partition_key(self) -> dg.MultiPartitionKey:
        return partition_key_for(self.team_id, self.end)


def ticks_of(context: dg.AssetExecutionContext) -> list[Tick]:
    """The (team, tick) pairs a run covers (one, or a range from a backfill), in time order per team."""
    return sorted(
        Tick(int(dims["team"]), pd.Timestamp(pd.to_datetime(dims["tick"], format="%Y-%m-%d-%H:%M")) + TICK)
        for dims in partitions_by_dimension(context)
    )


def partition_key_for(team_id: int, tick_end: pd.Timestamp) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey(
        {"team": str(team_id), "tick": (pd.Timestamp(tick_end) - TICK).strftime("%Y-%m-%d-%H:%M")}
    )
