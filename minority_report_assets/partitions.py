"""Tick (15 minutes by default, keyed by its end in the tables) and day partitions."""

import os

import dagster as dg
import pandas as pd

TICK_MINUTES = int(os.environ.get("MR_TICK_MINUTES", "15"))
TICK = pd.Timedelta(minutes=TICK_MINUTES)
START = os.environ.get("MR_START", "2026-11-20-00:00")

tick_partitions = dg.TimeWindowPartitionsDefinition(
    start=START, cron_schedule=f"*/{TICK_MINUTES} * * * *", fmt="%Y-%m-%d-%H:%M", timezone="UTC"
)
daily_partitions = dg.DailyPartitionsDefinition(start_date=START[:10])
#: A tick's detected log continues the one before it.
PREVIOUS_TICK = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)


def tick_ends(context: dg.AssetExecutionContext) -> list[pd.Timestamp]:
    """The ends of the ticks a run covers (one, or a backfilled range), in order (naive UTC)."""
    window = context.partition_time_window
    start, end = (pd.Timestamp(t).tz_convert("UTC").tz_localize(None) for t in (window.start, window.end))
    return list(pd.date_range(start + TICK, end, freq=TICK))


def days_of(context: dg.AssetExecutionContext) -> list[pd.Timestamp]:
    window = context.partition_time_window
    start, end = (pd.Timestamp(t).tz_convert("UTC").tz_localize(None) for t in (window.start, window.end))
    return list(pd.date_range(start, end - pd.Timedelta(days=1), freq="D"))


def tick_key(tick_end: pd.Timestamp) -> str:
    return (pd.Timestamp(tick_end) - TICK).strftime("%Y-%m-%d-%H:%M")
