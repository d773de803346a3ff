"""Times read from sources: one parser for every system's time columns."""

from __future__ import annotations

import pandas as pd

#: Words pandas reads as the clock's time: a source that says "now" names no time of its own.
_RELATIVE = {"now", "today"}


def parse_times(values: pd.Series) -> pd.Series:
    """Times or texts of times as naive UTC, NaT where a value is not one. Each value is parsed on
    its own merits (ISO 8601 first, the rest one by one), so one row's format does not decide the
    others'; a relative word (``now``, ``today``) is not a time (it would read as the clock)."""
    if pd.api.types.is_datetime64_any_dtype(values):  # typed times (any unit, any zone) as they are
        times = values if values.dt.tz is None else values.dt.tz_convert("UTC").dt.tz_localize(None)
        return times.astype("datetime64[us]")
    values = values.astype(object)
    relative = values.map(lambda v: isinstance(v, str) and v.strip().lower() in _RELATIVE).astype(bool)
    values = values.where(~relative, None)
    # In microseconds, as the warehouse keeps times: each pass would pick its own unit, and a time
    # nanoseconds cannot hold (year 1) would not fit beside one that has nanoseconds.
    times = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601").dt.as_unit("us")
    retry = times.isna() & values.notna()
    if retry.any():
        times[retry] = pd.to_datetime(values[retry], errors="coerce", utc=True, format="mixed").dt.as_unit("us")
    return times.dt.tz_localize(None).astype("datetime64[us]")
