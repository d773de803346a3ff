"""Shard x tick partitions of the minority-report ticks, and day partitions.

A tick is 15 minutes by default (``MR_TICK_MINUTES``); Dagster keys it by its start
(``2026-11-20-00:00``), the tables by its end (``written_at = 00:15``). A shard is the stores whose
SHA-256 of ``store_id`` is the shard's number modulo ``MR_SHARDS`` (default 1): a store's series
stay in one shard, so a report and its continuation are always computed in the same partition,
and one tick of a large catalogue is ``MR_SHARDS`` runs that spread over workers. Changing
``MR_SHARDS`` re-keys every tick partition: materialize the baselines and ticks again from the start.
"""

import hashlib
import os
from dataclasses import dataclass

import dagster as dg
import numpy as np
import pandas as pd

from platform_core.partitions import partitions_by_dimension

TICK_MINUTES = int(os.environ.get("MR_TICK_MINUTES", "15"))
TICK = pd.Timedelta(minutes=TICK_MINUTES)
START = os.environ.get("MR_START", "2026-11-20-00:00")
SHARDS = int(os.environ.get("MR_SHARDS", "1"))
START_TS = pd.Timestamp(pd.to_datetime(START, format="%Y-%m-%d-%H:%M"))
#: The end of the first tick, whose partition (``written_at``) nothing lies before.
FIRST_TICK_END = START_TS + TICK


def tick_cron(minutes: int) -> str:
    """The cron of ticks ``minutes`` long (a divisor of a day): every N minutes below an hour, on
    the hour every N hours from an hour up (``*/60`` is not a cron Dagster reads as hourly)."""
    if minutes < 60:
        return f"*/{minutes} * * * *"
    return f"0 */{minutes // 60} * * *" if minutes < 24 * 60 else "0 0 * * *"


shard_partitions = dg.StaticPartitionsDefinition([str(s) for s in range(SHARDS)])
tick_times = dg.TimeWindowPartitionsDefinition(
    start=START, cron_schedule=tick_cron(TICK_MINUTES), fmt="%Y-%m-%d-%H:%M", timezone="UTC"
)
tick_partitions = dg.MultiPartitionsDefinition({"shard": shard_partitions, "tick": tick_times})
#: A day exists from its start (not only once it has ended): its baseline is made at 00:05 for its ticks.
daily_partitions = dg.DailyPartitionsDefinition(start_date=START[:10], end_offset=1)
#: A tick's detected log continues the one before it, of the same shard.
PREVIOUS_TICK = dg.MultiPartitionMapping(
    {
        "shard": dg.DimensionPartitionMapping("shard", dg.IdentityPartitionMapping()),
        "tick": dg.DimensionPartitionMapping("tick", dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)),
    }
)


@dataclass(frozen=True, order=True)
class Tick:
    shard: int
    end: pd.Timestamp  # naive UTC

    @property
    def start(self) -> pd.Timestamp:
        return self.end - TICK

    @property
    def partition(self) -> dict:
        """The tick's partition in the tick tables."""
        return {"written_at": self.end, "shard": self.shard}

    @property
    def label(self) -> str:
        return f"shard {self.shard} @ {self.end:%Y-%m-%d %H:%M}"

    @property
    def partition_key(self) -> dg.MultiPartitionKey:
        return tick_key(self.end, self.shard)


def ticks_of(context: dg.AssetExecutionContext) -> list[Tick]:
    """The (shard, tick) pairs a run covers (one, or a range from a backfill), in time order per shard."""
    return sorted(
        Tick(int(dims["shard"]), pd.Timestamp(pd.to_datetime(dims["tick"], format="%Y-%m-%d-%H:%M")) + TICK)
        for dims in partitions_by_dimension(context)
    )


def day_ticks(day: pd.Timestamp | str) -> list[Tick]:
    """Every shard's ticks of ``day`` from START on (a day's first tick ends at 00:15, its last at midnight)."""
    day = pd.Timestamp(day)
    ends = [t for t in pd.date_range(day + TICK, day + pd.Timedelta(days=1), freq=TICK) if t - TICK >= START_TS]
    return [Tick(shard, end) for shard in range(SHARDS) for end in ends]


def days_of(context: dg.AssetExecutionContext) -> list[pd.Timestamp]:
    window = context.partition_time_window
    start, end = (pd.Timestamp(t).tz_convert("UTC").tz_localize(None) for t in (window.start, window.end))
    return list(pd.date_range(start, end - pd.Timedelta(days=1), freq="D"))


def tick_key(tick_end: pd.Timestamp, shard: int) -> dg.MultiPartitionKey:
    """The Dagster partition key of the tick ending at ``tick_end`` in ``shard``."""
    return dg.MultiPartitionKey(
        {"shard": str(shard), "tick": (pd.Timestamp(tick_end) - TICK).strftime("%Y-%m-%d-%H:%M")}
    )


def shard_of(store_ids: pd.Series, shards: int = SHARDS) -> np.ndarray:
    """Each row's shard, from its ``store_id`` as text (missing: the empty text): the first 8 bytes
    of its SHA-256 modulo ``shards``. Stable across processes and machines, unlike ``hash()``."""
    text = store_ids.astype(str).where(store_ids.notna(), "")
    codes, stores = pd.factorize(text)
    per_store = np.fromiter(
        (int.from_bytes(hashlib.sha256(s.encode()).digest()[:8], "big") % shards for s in stores),
        dtype=np.int64,
        count=len(stores),
    )
    return per_store[codes]
