"""Day and ISO-week (Monday start) partitions of the kura graph."""

import os
from datetime import date, datetime, timedelta

import dagster as dg

#: First partition; a Monday so days and ISO weeks line up.
START_DATE = os.environ.get("KURA_START_DATE", "2026-01-05")

daily_partitions = dg.DailyPartitionsDefinition(start_date=START_DATE)
weekly_partitions = dg.WeeklyPartitionsDefinition(start_date=START_DATE, day_offset=1)


def days_in(window: dg.TimeWindow) -> list[date]:
    """The calendar days a (possibly multi-partition) time window covers."""
    first, last = window.start.date(), (window.end - timedelta(microseconds=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def weeks_in(window: dg.TimeWindow) -> list[date]:
    """The Mondays starting each ISO week of a weekly window."""
    return [d for d in days_in(window) if d.weekday() == 0]


def as_datetime(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())
