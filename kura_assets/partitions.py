"""Day and ISO-week (Monday start) partitions of the kura graph."""

import os
from datetime import date, timedelta

import dagster as dg

from platform_core.warehouse import partition_key

#: First partition; a Monday so days and ISO weeks line up.
START_DATE = os.environ.get("KURA_START_DATE", "2026-11-02")  # the demo's first Monday
#: The day no partition reaches: an event dated on or after it (a year-9999 typo) is outside every
#: partition. Far ahead by default; partitions themselves still end at today.
END_DATE = os.environ.get("KURA_END_DATE", "2100-01-04")

daily_partitions = dg.DailyPartitionsDefinition(start_date=START_DATE, end_date=END_DATE)
weekly_partitions = dg.WeeklyPartitionsDefinition(start_date=START_DATE, end_date=END_DATE, day_offset=1)


def days_in(window: dg.TimeWindow) -> list[date]:
    """The calendar days a (possibly multi-partition) time window covers."""
    first, last = window.start.date(), (window.end - timedelta(microseconds=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def weeks_in(window: dg.TimeWindow) -> list[date]:
    """The Mondays starting each ISO week of a weekly window."""
    return [d for d in days_in(window) if d.weekday() == 0]


def require_days(table: str, periods: dict[str, list[date]], materialized: dict) -> None:
    """Fail, naming them, unless every day of every period has its ``table`` partition
    (``materialized``: the table's manifest, keyed ``period_day=<day>``)."""
    missing = {
        label: [d.isoformat() for d in days if partition_key({"period_day": d}) not in materialized]
        for label, days in periods.items()
    }
    missing = {label: days for label, days in missing.items() if days}
    if missing:
        raise dg.Failure(
            description=f"Every day of a period needs its {table} partition; missing: "
            + "; ".join(f"{label}: {', '.join(days)}" for label, days in missing.items())
            + ". Materialize those days first (nothing was written).",
            metadata={"missing_days": missing},
            allow_retries=False,
        )
