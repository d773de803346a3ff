"""A tick's sales buckets, validated (pure): every row becomes a bucket or a kept reject with its reason."""

from __future__ import annotations

import numpy as np
import pandas as pd

from platform_core.times import parse_times

BUCKET = pd.Timedelta(minutes=5)
COLUMNS = ["store_id", "sku", "ts", "units", "price"]
#: The largest units (or price) a bucket may hold: a year of a series' 5-minute buckets sums finite in float32.
MAX_VALUE = float(np.finfo(np.float32).max) / (288 * 366)


def _has_ties(parsed: pd.DataFrame, order: np.ndarray) -> bool:
    """Whether two rows of ``parsed`` that are neighbours in ``order`` are equal in every column
    (missing equal to missing)."""
    if len(order) < 2:
        return False
    same = np.ones(len(order) - 1, dtype=bool)
    for column in ("ts", "units", "price"):  # numbers first: cheap, and they rule out almost every pair
        v = parsed[column].to_numpy()[order]
        missing = np.isnat(v) if v.dtype.kind == "M" else np.isnan(v)
        same &= (v[1:] == v[:-1]) | (missing[1:] & missing[:-1])
        if not same.any():
            return False
    pairs = np.flatnonzero(same)
    for column in ("store_id", "sku"):  # texts only for the pairs left
        v = parsed[column].to_numpy()[order]
        pairs = pairs[v[pairs + 1] == v[pairs]]
    return len(pairs) > 0


def sort_keys(parsed: pd.DataFrame) -> list[np.ndarray]:
    """``COLUMNS`` of parsed rows as numbers that order as the values sort, missing values last:
    texts as their rank among the distinct texts, times as integers, numbers as they are."""
    keys = [pd.factorize(parsed[c], sort=True)[0] for c in ("store_id", "sku")]
    ts = parsed["ts"].to_numpy().view(np.int64)  # in the parsed times' own unit: year 9999 fits
    keys.append(np.where(parsed["ts"].isna().to_numpy(), np.iinfo(np.int64).max, ts))
    keys += [parsed[c].to_numpy(np.float64, na_value=np.nan) for c in ("units", "price")]  # NaN sorts last
    return keys


def in_order(keys: list[np.ndarray]) -> bool:
    """Whether the rows are already sorted by ``keys[0]``, then ``keys[1]``, ... (ties allowed)."""
    if len(keys[0]) < 2:
        return True
    undecided = np.ones(len(keys[0]) - 1, dtype=bool)
    for k in keys:
        before, after = k[:-1], k[1:]
        later, same = before > after, before == after
        if k.dtype.kind == "f":
            gap_before, gap_after = np.isnan(before), np.isnan(after)
            later |= gap_before & ~gap_after
            same |= gap_before & gap_after
        if (undecided & later).any():
            return False
        undecided &= same
    return True


def check_bucket(bucket: pd.Timedelta, tick: pd.Timedelta) -> pd.Timedelta:
    """``bucket``, the size of a source's rows, when the product can take them as they are: a
    whole number of 5-minute buckets that tiles a day and a tick (so a tick reads whole rows and
    never a row whose hour has not ended); else one clear error."""
    bucket = pd.Timedelta(bucket)
    if bucket < BUCKET or bucket % BUCKET or pd.Timedelta(days=1) % bucket or tick % bucket:
        raise ValueError(
            f"sales rows of {bucket / pd.Timedelta(minutes=1):g} minutes cannot be taken as they are: the size must be "
            f"a multiple of 5 minutes that divides a day and the tick ({tick / pd.Timedelta(minutes=1):g} minutes; "
            "set MR_TICK_MINUTES to a multiple of it)"
        )
    return bucket


def spread(buckets: pd.DataFrame, bucket: pd.Timedelta) -> pd.DataFrame:
    """Rows of ``bucket`` size as the 5-minute buckets detection reads: each row's units spread
    evenly over its buckets (an hour's 120 units are 10 a bucket), its price on each; in order."""
    k = int(bucket / BUCKET)
    if k == 1:
        return buckets
    rows = buckets.loc[buckets.index.repeat(k)].reset_index(drop=True)
    offset = np.tile(np.arange(k), len(buckets)) * BUCKET
    return rows.assign(ts=rows["ts"] + offset, units=rows["units"] / k)


def validate_sales(raw: pd.DataFrame, bucket: pd.Timedelta = BUCKET) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(buckets, rejects)``: 5-minute buckets in canonical order (store, SKU, ts), from source
    rows of ``bucket`` size (5 minutes; an hourly or daily source's rows are spread, see
    :func:`spread`); rejects keep their fields as text with ``row_number``, ``reason`` and
    ``detail`` (missing field, unparseable value, an infinite number, negative units or price, a
    timestamp off the source's bucket grid, a duplicate of an earlier row)."""
    frame = raw.reindex(columns=COLUMNS).reset_index(drop=True)
    parsed = pd.DataFrame(
        {
            "store_id": frame["store_id"].astype(str).where(frame["store_id"].notna(), ""),
            "sku": frame["sku"].astype(str).where(frame["sku"].notna(), ""),
            "ts": parse_times(frame["ts"]),
            "units": pd.to_numeric(frame["units"], errors="coerce"),
            "price": pd.to_numeric(frame["price"], errors="coerce"),
        }
    )
    # Canonical order (the same rows in any order give the same buckets and rejects): the parsed
    # values, then, only where rows tie on them (rare), their raw texts.
    keys = sort_keys(parsed)
    order = (  # sources mostly deliver rows in this order already: then nothing is sorted or moved
        np.arange(len(parsed))
        if in_order(keys)
        else parsed.sort_values(COLUMNS, kind="mergesort", na_position="last").index.to_numpy()
    )
    if _has_ties(parsed, order):
        texts = frame.map(
            lambda v: "\x00" if v is None or (isinstance(v, float) and np.isnan(v)) else repr(v)
        ).add_prefix("raw_")
        order = (
            pd.concat([parsed, texts], axis=1)
            .sort_values(COLUMNS + list(texts.columns), kind="mergesort", na_position="last")
            .index.to_numpy()
        )
    if not np.array_equal(order, np.arange(len(order))):
        frame, parsed = frame.take(order).reset_index(drop=True), parsed.take(order).reset_index(drop=True)
        keys = [k[order] for k in keys[:3]]  # the bucket's: what duplicates are found by
    ts, units, price = parsed["ts"], parsed["units"], parsed["price"]
    reason = pd.Series(None, index=frame.index, dtype=object)
    detail = pd.Series(None, index=frame.index, dtype=object)

    def flag(mask, why: str, text: str) -> None:
        fresh = mask & reason.isna()
        reason[fresh], detail[fresh] = why, text

    flag(
        frame["store_id"].isna() | frame["sku"].isna() | frame["ts"].isna() | frame["units"].isna(),
        "missing_field",
        "store_id, sku, ts and units are required",
    )
    flag(
        ts.isna() | units.isna() | (frame["price"].notna() & price.isna()),
        "unparseable_value",
        "ts, units or price does not parse",
    )
    flag(
        ~np.isfinite(units) | (price.notna() & ~np.isfinite(price)),
        "non_finite_value",
        "units or price is infinite (or beyond a float: 1e309)",
    )
    flag(
        (units > MAX_VALUE) | (price.notna() & (price > MAX_VALUE)),
        "out_of_range",
        f"units or price above {MAX_VALUE:.1e}: a year of a series' buckets would overflow the float32 the baseline sums in",
    )
    flag(units < 0, "negative_units", "units below zero")
    flag(price < 0, "negative_price", "price below zero")
    flag(
        ts.notna() & (ts != ts.dt.floor(bucket)),
        "unaligned_bucket",
        f"ts is not the start of a {bucket.total_seconds() / 60:g}-minute bucket",
    )
    # In canonical order the rows of one bucket are neighbours: a row that has not been rejected
    # repeats the bucket of the previous such row (a rejected row does not make a later valid one a duplicate).
    still = np.flatnonzero(reason.isna().to_numpy())
    repeated = np.ones(max(len(still) - 1, 0), dtype=bool)
    for k in keys[:3]:  # store, SKU, ts
        repeated &= k[still[1:]] == k[still[:-1]]
    duplicate = np.zeros(len(frame), dtype=bool)
    duplicate[still[1:][repeated]] = True
    flag(pd.Series(duplicate, index=frame.index), "duplicate_bucket", "the same store, SKU and bucket came earlier")
    ok = reason.isna()
    buckets = pd.DataFrame(
        {
            "store_id": frame["store_id"][ok].astype(str),
            "sku": frame["sku"][ok].astype(str),
            "ts": ts[ok],
            "units": units[ok].astype("float64"),
            "price": price[ok].astype("float64"),
        }
    )
    bad = frame[~ok]
    rejects = pd.DataFrame({c: [None if pd.isna(v) else str(v) for v in bad[c]] for c in COLUMNS})
    rejects = rejects.assign(
        row_number=np.flatnonzero(~ok.to_numpy()), reason=reason[~ok].to_numpy(), detail=detail[~ok].to_numpy()
    )
    return spread(buckets.reset_index(drop=True), bucket), rejects.reset_index(drop=True)
