"""What the minority-report assets read from the warehouse, beyond one partition: the pattern
library as last materialized, the sales and baselines of a run's ticks and their lookback (read
once per run), the map a tick places its reports into, and a day's latest report rows."""

import functools
import json
from dataclasses import dataclass
from typing import NamedTuple

import dagster as dg
import numpy as np
import pandas as pd

from minority_report_assets import library as lib
from minority_report_assets import outages
from minority_report_assets.detection import WINDOWS, DetectionParams, SeriesNoise
from minority_report_assets.map import MapPlacer, fit_map
from minority_report_assets.partitions import FIRST_TICK_END, TICK, Tick
from minority_report_assets.reports import BUCKET
from minority_report_assets.tables import (
    CLUSTER_LIBRARY,
    MINORITY_REPORT_MAP,
    MINORITY_REPORTS_CLUSTERED_LOG,
    SALES_BASELINE,
    SALES_TIMESERIES_DATA,
)
from platform_core.checks import require_partitions, require_predecessors
from platform_core.hashing import canonical_json, frames_hash
from platform_core.warehouse import Backend

#: The least units a series is expected to sell per bucket (the baseline's floor: no demand, it
#: keeps scores finite), also for series the baseline has no row for.
EXPECTED_FLOOR = 0.05


def current_library(backend: Backend, what: str) -> dict:
    """The library spec as last materialized: the checked-in spec's patterns with the stored
    version and ranges (a refit's, or the checked-in spec's)."""
    stored = backend.read(CLUSTER_LIBRARY)
    if stored.empty:
        raise dg.Failure(
            f"{what} needs the pattern library: materialize minority_report/cluster_library first", allow_retries=False
        )
    spec = lib.load_spec()
    by_id = stored.set_index("cluster_id")
    if sorted(by_id.index) != sorted(e["cluster_id"] for e in spec["clusters"]):
        raise dg.Failure(
            f"{what}: the stored pattern library ({stored['library_version'].iat[0]}) has other patterns than "
            f"library_spec.json ({spec['version']}): materialize minority_report/cluster_library again",
            allow_retries=False,
        )
    for entry in spec["clusters"]:
        row = by_id.loc[entry["cluster_id"]]
        entry["duration_buckets"], entry["magnitude"] = (
            json.loads(row["duration_buckets"]),
            json.loads(row["magnitude"]),
        )
    spec["version"] = str(stored["library_version"].iat[0])
    return spec


class Lookback(NamedTuple):
    """One tick's lookback: units, expected units and prices per series and bucket, and the
    source's outages in it (see :mod:`minority_report_assets.outages`)."""

    actual: np.ndarray  # as expected in an outage's buckets (no evidence either way)
    expected: np.ndarray
    prices: np.ndarray  # NaN where nothing sold or no price came
    start: pd.Timestamp  # the first bucket
    inputs: str  # a hash of the partitions it was read from
    noise: SeriesNoise  # the baseline's view of each series on the tick's day
    observed: np.ndarray  # per bucket: False in an outage
    outages: list[tuple[int, int, float]]  # (start, stop, units expected) of each outage, in buckets


@dataclass
class SalesWindow:
    """Actual and expected units (and prices) of every series over a run's ticks and their
    lookback, read once (a backfilled day of ticks slides over it instead of reading its lookback
    96 times)."""

    keys: pd.DataFrame  # store_id, sku per row
    start: pd.Timestamp  # the first bucket
    actual: np.ndarray  # (series, buckets)
    expected: np.ndarray
    prices: np.ndarray
    regular_prices: np.ndarray  # per series, from the latest baseline (NaN: none seen)
    delivered: np.ndarray  # per bucket: a sales row arrived for any series of the shard
    sales_hashes: dict[pd.Timestamp, str]  # content hash per sales tick, by its end
    baseline_hashes: list[str]
    noise: dict[pd.Timestamp, SeriesNoise]  # per day: each series' learned noise (unscored: no baseline row that day)

    def tick(self, end: pd.Timestamp, lookback: int, params: DetectionParams) -> Lookback:
        """The lookback before ``end``. Its outages are found from the lookback alone, so a tick
        reads the same whichever run computes it."""
        start = max(end - lookback * BUCKET, self.start)
        i, j = int((start - self.start) / BUCKET), int((end - self.start) / BUCKET)
        ticks = pd.date_range(start + TICK, end, freq=TICK)
        expected = self.expected[:, i:j]
        runs = outages.outages(self.delivered[i:j], expected, params, EXPECTED_FLOOR)
        seen = outages.observed(j - i, runs)
        return Lookback(
            outages.fill(self.actual[:, i:j], expected, seen) if runs else self.actual[:, i:j],
            expected,
            self.prices[:, i:j],
            start,
            frames_hash(*(self.sales_hashes[k] for k in ticks), *self.baseline_hashes),
            self.noise[(end - BUCKET).normalize()],
            seen,
            runs,
        )


def load_window(backend: Backend, shard: int, ends: list[pd.Timestamp], lookback: int) -> SalesWindow:
    """The sales and baseline of ``shard``'s series over ``ends``' ticks and their lookback (clipped
    at the first tick); a failure naming what is missing."""
    end, what = ends[-1], f"Ticks {ends[0]}..{ends[-1]} of shard {shard}"
    wanted = [Tick(shard, t) for t in pd.date_range(ends[0] - lookback * BUCKET + TICK, end, freq=TICK)]
    hashes = require_predecessors(
        backend, SALES_TIMESERIES_DATA, [t.partition for t in wanted], what, "written_at", FIRST_TICK_END
    )
    ticks = [t.end for t in wanted][len(wanted) - len(hashes) :]  # the lookback, from the first tick on
    sales_hashes, start = dict(zip(ticks, hashes)), ticks[0] - TICK
    days = list(pd.date_range(start.normalize(), (end - BUCKET).normalize(), freq="D"))
    baseline_hashes = require_partitions(backend, SALES_BASELINE, [{"day": d} for d in days], what)
    baseline = backend.read(
        SALES_BASELINE, where={"shard": shard}, between=("day", days[0], days[-1] + pd.Timedelta(days=1))
    )
    keys = baseline[["store_id", "sku"]].drop_duplicates().sort_values(["store_id", "sku"]).reset_index(drop=True)
    index = pd.MultiIndex.from_frame(keys)
    expected = np.full((len(keys), len(days) * 288), EXPECTED_FLOOR)
    regular = np.full(len(keys), np.nan)
    noise = {}
    for i, day in enumerate(days):
        rows = baseline[baseline["day"] == day]
        noise[day] = SeriesNoise.unscored(len(keys), len(WINDOWS) if rows.empty else len(rows["model_error"].iat[0]))
        if len(rows):  # none: a shard without stores, or a day without series
            where = index.get_indexer(pd.MultiIndex.from_frame(rows[["store_id", "sku"]]))
            expected[where, i * 288 : (i + 1) * 288] = np.stack(rows["expected"].to_numpy())
            regular[where] = rows["regular_price"].to_numpy(dtype=np.float64)
            noise[day].model_error[where] = np.stack(rows["model_error"].to_numpy())
            noise[day].open_threshold[where] = rows["open_threshold"].to_numpy(dtype=np.float64, na_value=np.nan)
            noise[day].scored[where] = ~rows["warming_up"].to_numpy(dtype=bool)
    offset, n_buckets = int((start - days[0]) / BUCKET), int((end - start) / BUCKET)
    expected = np.maximum(expected[:, offset : offset + n_buckets], EXPECTED_FLOOR)
    sales = backend.read(
        SALES_TIMESERIES_DATA,
        where={"shard": shard},
        between=("written_at", start + TICK, end + pd.Timedelta(seconds=1)),
    )
    actual, prices = np.zeros((len(keys), n_buckets)), np.full((len(keys), n_buckets), np.nan)
    where = index.get_indexer(pd.MultiIndex.from_frame(sales[["store_id", "sku"]]))
    slot = ((sales["ts"] - start) / BUCKET).astype(int).to_numpy()
    ok = (where >= 0) & (slot >= 0) & (slot < n_buckets)
    actual[where[ok], slot[ok]] = sales["units"].to_numpy()[ok]
    prices[where[ok], slot[ok]] = sales["price"].to_numpy(dtype=np.float64, na_value=np.nan)[ok]
    delivered = np.zeros(n_buckets, dtype=bool)  # a row of any series, known to the baseline or not
    delivered[slot[(slot >= 0) & (slot < n_buckets)]] = True
    return SalesWindow(keys, start, actual, expected, prices, regular, delivered, sales_hashes, baseline_hashes, noise)


def map_days(backend: Backend) -> list[pd.Timestamp]:
    """The days whose map exists, in order (read once per run: a tick run writes no map)."""
    keys = backend.manifest(MINORITY_REPORT_MAP.schema, MINORITY_REPORT_MAP.name)["partition_key"]
    return sorted(pd.Timestamp(k.split("=", 1)[1]) for k in keys)


def map_day(backend: Backend, tick: Tick, existing: list[pd.Timestamp]) -> pd.Timestamp | None:
    """The day whose map a tick places its reports into: the one it used when it was first written
    (so a replay places them the same way), else the latest of the ``existing`` map days before
    the tick's day, else None (the library's own map). Never a reason to wait: a day's first ticks
    run before the day before has its map."""
    before = backend.read(MINORITY_REPORTS_CLUSTERED_LOG, where=tick.partition, columns=["map_day"])
    if len(before):
        day = before["map_day"].iat[0]
        return None if pd.isna(day) else pd.Timestamp(day)
    earlier = [d for d in existing if d < tick.start.normalize()]
    return earlier[-1] if earlier else None


def map_placer(backend: Backend, day: pd.Timestamp | None, what: str, spec: dict) -> MapPlacer:
    if day is None:
        base = library_map(spec)
    else:
        require_partitions(backend, MINORITY_REPORT_MAP, [{"day": day}], what)
        base = backend.read(MINORITY_REPORT_MAP, where={"day": day})
    return MapPlacer(np.stack(base["vector"]), base[["x", "y"]].to_numpy())


def library_map(spec: dict) -> pd.DataFrame:
    """The map of the library's own pattern variants (pure and seeded: computed once per process and version)."""
    return _library_map(canonical_json(spec))


@functools.lru_cache(maxsize=2)
def _library_map(spec_json: str) -> pd.DataFrame:
    points = lib.library_points(json.loads(spec_json))
    coords = fit_map(np.stack(points["vector"]))
    return points.assign(x=coords[:, 0], y=coords[:, 1])


def day_reports(backend: Backend, day: pd.Timestamp) -> pd.DataFrame:
    """Each report's latest MRCL row of the day."""
    rows = backend.read(
        MINORITY_REPORTS_CLUSTERED_LOG,
        between=("written_at", day + TICK, day + pd.Timedelta(days=1) + pd.Timedelta(seconds=1)),
    )
    return (
        rows.sort_values(["report_id", "written_at"])
        .groupby("report_id")
        .tail(1)
        .sort_values("report_id")
        .reset_index(drop=True)
    )
