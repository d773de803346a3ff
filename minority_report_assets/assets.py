"""Minority-report assets: sales per tick -> detected log (MRDL) -> clustered log (MRCL), with a
daily baseline, the pattern library, a daily 2-D map and an attribution summary.

Each asset reads its inputs from the source or the warehouse, calls the pure steps, checks the
frames and commits each partition in one transaction (or writes nothing and fails the run).
Ticks run in order: a tick refuses to run before the tick it continues exists.
"""

# No `from __future__ import annotations`: Dagster reads the config and resource annotations at definition time.
import base64
import functools
import hashlib
import json
from dataclasses import dataclass
from typing import NamedTuple

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from minority_report_assets import library as lib
from minority_report_assets.baseline import (
    BaselineParams, daily_price, fit_baseline, history_matrix, regular_prices, stack_days,
)
from minority_report_assets.detection import WINDOWS, DetectionParams, SeriesNoise
from minority_report_assets.features import feature_vector
from minority_report_assets.map import MapPlacer, fit_map, scatter_png
from minority_report_assets.matching import Matcher, MatchWindow, dispersion, price_cut_seen
from minority_report_assets.partitions import (
    PREVIOUS_TICK, START, TICK, daily_partitions, days_of, tick_ends, tick_partitions,
)
from minority_report_assets.reports import BUCKET, detect_tick
from minority_report_assets.resources import SalesSource
from minority_report_assets.sales import validate_sales
from minority_report_assets.sources import read_labels, unplaced_rows
from minority_report_assets.tables import (
    CLUSTER_LIBRARY, MINORITY_REPORT_ATTRIBUTION_SUMMARY, MINORITY_REPORT_MAP, MINORITY_REPORTS_CLUSTERED_LOG,
    MINORITY_REPORTS_DETECTED_LOG, SALES_BASELINE, SALES_TIMESERIES_DATA, SALES_TIMESERIES_REJECTS,
)
from platform_core.checks import (
    BlockingCheckFailed, CheckOutcome, RunReport, check_results, commit, fail_with_results, prepare, replay_check, spec_for,
    require_partitions, written,
)
from platform_core.hashing import canonical_json, frames_hash
from platform_core.resources import WAREHOUSE_POOL, WarehouseResource
from platform_core.warehouse import Backend, partition_key

GROUP = "minority_report"
SALES_KEY = dg.AssetKey(["minority_report", "sales_timeseries_data"])
SALES_REJECTS_KEY = dg.AssetKey(["minority_report", "sales_timeseries_rejects"])
BASELINE_KEY = dg.AssetKey(["minority_report", "sales_baseline"])
LIBRARY_KEY = dg.AssetKey(["minority_report", "cluster_library"])
MRDL_KEY = dg.AssetKey(["minority_report", "minority_reports_detected_log"])
MRCL_KEY = dg.AssetKey(["minority_report", "minority_reports_clustered_log"])
MAP_KEY = dg.AssetKey(["minority_report", "minority_report_map"])
SUMMARY_KEY = dg.AssetKey(["minority_report", "minority_report_attribution_summary"])
START_TS = pd.Timestamp(pd.to_datetime(START, format="%Y-%m-%d-%H:%M"))


class TickConfig(dg.Config, DetectionParams):
    """Detection constants, the lookback, and the run id every row carries (stable on replay)."""

    run_id: str = Field("scheduled", description="Written to every row: set it in run config to tag a run.")
    lookback_buckets: int = Field(144, description="Buckets of sales each tick looks back over (12 hours).")
    min_similarity: float = Field(0.75, description="Below this shape similarity a report is 'unknown'.")


class BaselineConfig(dg.Config, BaselineParams):
    """Baseline model constants (see :mod:`minority_report_assets.baseline`)."""


@dg.multi_asset(pool=WAREHOUSE_POOL,
    name="sales_timeseries_data",
    partitions_def=tick_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    specs=[
        dg.AssetSpec(SALES_KEY, group_name=GROUP, kinds={"python", "table"}, description="The tick's validated 5-minute sales buckets."),
        dg.AssetSpec(SALES_REJECTS_KEY, group_name=GROUP, kinds={"python", "table"},
                     description="Every source row of the tick that is not a usable bucket, with its reason."),
    ],
    check_specs=[
        spec_for("schema_valid", SALES_KEY, "Columns, types and keys match the sales table."),
        spec_for("schema_valid", SALES_REJECTS_KEY, "Columns, types and keys match the rejects table."),
        spec_for("every_row_accounted", SALES_KEY, "Buckets + rejects = source rows of the tick."),
        spec_for("deterministic_replay", SALES_KEY, "Same source rows give the same content hash."),
    ],
)
def sales_timeseries_data(context: dg.AssetExecutionContext, warehouse: WarehouseResource, sales_source: SalesSource):
    backend = warehouse.backend()
    outcomes, report, rejects_report = [], RunReport(), RunReport()
    unplaced = unplaced_rows(sales_source.url, backend)
    if unplaced:
        context.log.warning(f"{unplaced} source rows have no ts to place them in a tick")
    try:
        with backend.session():
            for end in tick_ends(context):
                raw = sales_source.read(end - TICK, end, backend)
                buckets, rejects = validate_sales(raw)
                part, label = {"written_at": end}, str(end)
                input_hash = frames_hash(hashlib.sha256(raw.astype(str).sort_values(list(raw.columns)).to_csv(index=False).encode()).hexdigest())
                w_data, o_data = prepare(SALES_KEY, SALES_TIMESERIES_DATA, part, buckets.assign(written_at=end), input_hash)
                w_rej, o_rej = prepare(SALES_REJECTS_KEY, SALES_TIMESERIES_REJECTS, part, rejects.assign(written_at=end), input_hash)
                tick_outcomes = [o_data, o_rej, CheckOutcome(SALES_KEY, "every_row_accounted", label, len(raw) == len(buckets) + len(rejects),
                                                             f"{len(raw)} rows = {len(buckets)} buckets + {len(rejects)} rejects")]
                if w_data is not None:
                    tick_outcomes.append(replay_check(SALES_KEY, w_data, written(backend, SALES_TIMESERIES_DATA, part)))
                outcomes += tick_outcomes
                commit(backend, [w for w in (w_data, w_rej) if w is not None], tick_outcomes)
                by_reason = {str(k): int(v) for k, v in rejects["reason"].value_counts().sort_index().items()}
                report.add(label, buckets=len(buckets), series=int(buckets[["store_id", "sku"]].drop_duplicates().shape[0]),
                           content_hash=w_data.content_hash, unplaced_source_rows=unplaced)
                rejects_report.add(label, rejects=len(rejects), rejects_by_reason=by_reason)
    except BlockingCheckFailed as exc:
        yield from fail_with_results(outcomes, exc)
    yield dg.MaterializeResult(asset_key=SALES_KEY, metadata=report.metadata())
    yield dg.MaterializeResult(asset_key=SALES_REJECTS_KEY, metadata=rejects_report.metadata())
    yield from check_results(outcomes)


@dg.asset(pool=WAREHOUSE_POOL,
    key=BASELINE_KEY, group_name=GROUP, kinds={"python", "table"}, partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="Expected units per store/SKU and 5-minute bucket of the day, from the 28 days before (robust to past anomalies).",
    check_specs=[spec_for("schema_valid", BASELINE_KEY, "Columns, types and keys match sales_baseline."),
                 spec_for("deterministic_replay", BASELINE_KEY, "Same history gives the same content hash.")],
)
def sales_baseline(context: dg.AssetExecutionContext, config: BaselineConfig, warehouse: WarehouseResource, sales_source: SalesSource):
    params = BaselineParams.model_validate(config.model_dump())
    backend = warehouse.backend()
    outcomes, report = [], RunReport()
    try:
        for day in days_of(context):
            history_days = list(pd.date_range(day - pd.Timedelta(days=params.history_days), day - pd.Timedelta(days=1), freq="D"))
            per_day, prices = [], []
            for d in history_days:  # one day at a time: 28 days of 10,000 series are 80M rows
                buckets, _ = validate_sales(sales_source.read(d, d + pd.Timedelta(days=1), backend))
                day_keys = buckets[["store_id", "sku"]].drop_duplicates().sort_values(["store_id", "sku"]).reset_index(drop=True)
                per_day.append((day_keys, history_matrix(buckets, day_keys, [d])[:, 0, :].astype(np.float32)))
                prices.append(daily_price(buckets))
            keys, history, observed = stack_days(per_day)
            fit = fit_baseline(history, np.array([d.day_of_week for d in history_days]), day.day_of_week, params, observed)
            regular = regular_prices(prices, keys)
            frame = keys.assign(day=day, expected=list(fit.expected.astype(np.float32)), model_error=list(fit.model_error.astype(np.float32)),
                                open_threshold=fit.threshold, regular_price=regular, history_days=fit.history_days, warming_up=fit.warming_up)
            input_hash = frames_hash(hashlib.sha256(np.ascontiguousarray(history).tobytes()).hexdigest(),
                                     hashlib.sha256(regular.tobytes()).hexdigest(), canonical_json(params.model_dump()),
                                     hashlib.sha256("|".join(keys["store_id"] + "/" + keys["sku"]).encode()).hexdigest())
            write, outcome = prepare(BASELINE_KEY, SALES_BASELINE, {"day": day}, frame, input_hash)
            day_outcomes = [outcome] + ([replay_check(BASELINE_KEY, write, written(backend, SALES_BASELINE, {"day": day}))] if write else [])
            outcomes += day_outcomes
            commit(backend, [write] if write else [], day_outcomes)
            report.add(str(day.date()), series=len(keys), warming_up=int(fit.warming_up.sum()), content_hash=write.content_hash)
    except BlockingCheckFailed as exc:
        yield from fail_with_results(outcomes, exc)
    yield dg.MaterializeResult(metadata=report.metadata())
    yield from check_results(outcomes)


class LibraryConfig(dg.Config):
    """Where a refit of the library learns from (empty: the checked-in spec as it is)."""

    labels: str = Field("", description="Labelled history: a .csv / .parquet file or warehouse:schema.table of report_id, "
                                        "cluster_name. Each pattern with enough labelled reports gets their durations and magnitudes.")
    min_labels: int = Field(20, description="Labelled reports a pattern needs before its ranges are refit.")


@dg.asset(pool=WAREHOUSE_POOL, key=LIBRARY_KEY, group_name=GROUP, kinds={"python", "table"},
          description="The named anomaly patterns (versioned: the checked-in spec, or its refit from labelled reports of "
                      "the detected log) with their centroids; the clustered log matches against the version materialized here.",
          check_specs=[spec_for("centroids_apart", LIBRARY_KEY, "No two centroids are more similar than 0.9 (cosine).")])
def cluster_library(context: dg.AssetExecutionContext, config: LibraryConfig, warehouse: WarehouseResource):
    backend = warehouse.backend()
    spec, metadata = lib.load_spec(), {}
    if config.labels:
        detected = backend.read(MINORITY_REPORTS_DETECTED_LOG, columns=["report_id", "version", "report_status", "window_start", "window_end",
                                                                        "baseline_sales_total", "attributed_sales_total"])
        labelled, left_out = lib.labelled_windows(read_labels(config.labels, backend), detected, spec)
        spec, per_pattern = lib.refit_spec(spec, labelled, config.min_labels)
        metadata = {"labels_used": len(labelled), "labels_left_out": dg.MetadataValue.json(left_out),
                    "labels_per_pattern": dg.MetadataValue.json(per_pattern)}
        context.log.info(f"refit from {len(labelled)} labelled reports {per_pattern}; left out {left_out}")
    clusters = lib.library_clusters(spec)
    entries = {e["cluster_id"]: e for e in spec["clusters"]}
    frame = clusters.assign(library_version=spec["version"],
                            duration_buckets=[canonical_json(entries[c]["duration_buckets"]) for c in clusters["cluster_id"]],
                            magnitude=[canonical_json(entries[c]["magnitude"]) for c in clusters["cluster_id"]])
    centroids = np.stack(frame["centroid"])
    similarity = np.where(np.eye(len(frame), dtype=bool), -np.inf, centroids @ centroids.T)
    a, b = np.unravel_index(int(np.argmax(similarity)), similarity.shape)
    closest = float(similarity[a, b])
    outcome = CheckOutcome(LIBRARY_KEY, "centroids_apart", spec["version"], closest < 0.9,
                           f"closest pair of centroids: {frame['cluster_name'].iat[a]} and {frame['cluster_name'].iat[b]}, cosine {closest:.3f}")
    write, schema = prepare(LIBRARY_KEY, CLUSTER_LIBRARY, {}, frame, hashlib.sha256(canonical_json(spec).encode()).hexdigest())
    try:
        commit(backend, [write] if write else [], [schema, outcome])
    except BlockingCheckFailed as exc:
        yield from fail_with_results([outcome], exc)
    yield dg.MaterializeResult(metadata={"library_version": spec["version"], "clusters": len(frame),
                                         "closest_centroids_cosine": round(closest, 4), "content_hash": write.content_hash,
                                         "ranges": dg.MetadataValue.json({e["name"]: {"duration_buckets": e["duration_buckets"],
                                                                                      "magnitude": e["magnitude"]} for e in spec["clusters"]}),
                                         **metadata})
    yield dg.AssetCheckResult(asset_key=LIBRARY_KEY, check_name="centroids_apart", passed=outcome.passed,
                              metadata={"detail": outcome.detail})


def current_library(backend: Backend, what: str) -> dict:
    """The library spec as last materialized: the checked-in spec's patterns with the stored
    version and ranges (a refit's, or the seed's)."""
    stored = backend.read(CLUSTER_LIBRARY)
    if stored.empty:
        raise dg.Failure(f"{what} needs the pattern library: materialize minority_report/cluster_library first")
    spec = lib.load_spec()
    by_id = stored.set_index("cluster_id")
    if sorted(by_id.index) != sorted(e["cluster_id"] for e in spec["clusters"]):
        raise dg.Failure(f"{what}: the stored pattern library ({stored['library_version'].iat[0]}) has other patterns than "
                         f"library_spec.json ({spec['version']}): materialize minority_report/cluster_library again")
    for entry in spec["clusters"]:
        row = by_id.loc[entry["cluster_id"]]
        entry["duration_buckets"], entry["magnitude"] = json.loads(row["duration_buckets"]), json.loads(row["magnitude"])
    spec["version"] = str(stored["library_version"].iat[0])
    return spec


class Tick(NamedTuple):
    """One tick's lookback: units, expected units and prices per series and bucket."""

    actual: np.ndarray
    expected: np.ndarray
    prices: np.ndarray  # NaN where nothing sold or no price came
    start: pd.Timestamp  # the first bucket
    inputs: str          # a hash of the partitions it was read from
    noise: SeriesNoise   # the baseline's view of each series on the tick's day


@dataclass
class SalesWindow:
    """Actual and expected units (and prices) of every series over a run's ticks and their
    lookback, read once (a backfilled day of ticks slides over it instead of reading its lookback
    96 times)."""

    keys: pd.DataFrame           # store_id, sku per row
    start: pd.Timestamp          # the first bucket
    actual: np.ndarray           # (series, buckets)
    expected: np.ndarray
    prices: np.ndarray
    regular_prices: np.ndarray   # per series, from the latest baseline (NaN: none seen)
    sales_hashes: dict[str, str]  # content hash per sales tick partition key
    baseline_hashes: list[str]
    noise: dict[pd.Timestamp, SeriesNoise]  # per day: each series' learned noise (unscored: no baseline row that day)

    def tick(self, end: pd.Timestamp, lookback: int) -> Tick:
        """The lookback before ``end``."""
        start = max(end - lookback * BUCKET, self.start)
        i, j = int((start - self.start) / BUCKET), int((end - self.start) / BUCKET)
        ticks = [partition_key({"written_at": t}) for t in pd.date_range(start + TICK, end, freq=TICK)]
        return Tick(self.actual[:, i:j], self.expected[:, i:j], self.prices[:, i:j], start,
                    frames_hash(*(self.sales_hashes[k] for k in ticks), *self.baseline_hashes),
                    self.noise[(end - BUCKET).normalize()])


def load_window(backend: Backend, ends: list[pd.Timestamp], lookback: int) -> SalesWindow:
    """The sales and baseline of ``ends``' ticks and their lookback (clipped at the first tick); a
    failure naming what is missing."""
    start, end = max(ends[0] - lookback * BUCKET, START_TS), ends[-1]
    ticks = list(pd.date_range(start + TICK, end, freq=TICK))
    days = list(pd.date_range(start.normalize(), (end - BUCKET).normalize(), freq="D"))
    what = f"Ticks {ends[0]}..{end}"
    sales_hashes = dict(zip([partition_key({"written_at": t}) for t in ticks],
                            require_partitions(backend, SALES_TIMESERIES_DATA, [{"written_at": t} for t in ticks], what)))
    baseline_hashes = require_partitions(backend, SALES_BASELINE, [{"day": d} for d in days], what)
    baseline = backend.read(SALES_BASELINE, between=("day", days[0], days[-1] + pd.Timedelta(days=1)))
    keys = baseline[["store_id", "sku"]].drop_duplicates().sort_values(["store_id", "sku"]).reset_index(drop=True)
    index = pd.MultiIndex.from_frame(keys)
    expected = np.full((len(keys), len(days) * 288), 0.05)
    regular = np.full(len(keys), np.nan)
    noise = {}
    for i, day in enumerate(days):
        rows = baseline[baseline["day"] == day]
        where = index.get_indexer(pd.MultiIndex.from_frame(rows[["store_id", "sku"]]))
        expected[where, i * 288:(i + 1) * 288] = np.stack(rows["expected"].to_numpy())
        regular[where] = rows["regular_price"].to_numpy(dtype=np.float64)
        noise[day] = SeriesNoise.unscored(len(keys), len(WINDOWS) if rows.empty else len(rows["model_error"].iat[0]))
        if len(rows):
            noise[day].model_error[where] = np.stack(rows["model_error"].to_numpy())
            noise[day].open_threshold[where] = rows["open_threshold"].to_numpy(dtype=np.float64, na_value=np.nan)
            noise[day].scored[where] = ~rows["warming_up"].to_numpy(dtype=bool)
    offset, n_buckets = int((start - days[0]) / BUCKET), int((end - start) / BUCKET)
    expected = np.maximum(expected[:, offset:offset + n_buckets], 0.05)
    sales = backend.read(SALES_TIMESERIES_DATA, between=("written_at", start + TICK, end + pd.Timedelta(seconds=1)))
    actual, prices = np.zeros((len(keys), n_buckets)), np.full((len(keys), n_buckets), np.nan)
    where = index.get_indexer(pd.MultiIndex.from_frame(sales[["store_id", "sku"]]))
    slot = ((sales["ts"] - start) / BUCKET).astype(int).to_numpy()
    ok = (where >= 0) & (slot >= 0) & (slot < n_buckets)
    actual[where[ok], slot[ok]] = sales["units"].to_numpy()[ok]
    prices[where[ok], slot[ok]] = sales["price"].to_numpy(dtype=np.float64, na_value=np.nan)[ok]
    return SalesWindow(keys, start, actual, expected, prices, regular, sales_hashes, baseline_hashes, noise)


@dg.asset(pool=WAREHOUSE_POOL,
    key=MRDL_KEY, group_name=GROUP, kinds={"python", "table"}, partitions_def=tick_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[SALES_KEY, BASELINE_KEY, dg.AssetDep(MRDL_KEY, partition_mapping=PREVIOUS_TICK)],
    description="One row per open or just-closed minority report per tick (MRDL): stable report ids, back-dated windows.",
    check_specs=[spec_for("schema_valid", MRDL_KEY, "Columns, types and keys match the detected log."),
                 spec_for("deterministic_replay", MRDL_KEY, "Same inputs give the same content hash.")],
)
def minority_reports_detected_log(context: dg.AssetExecutionContext, config: TickConfig, warehouse: WarehouseResource):
    params = DetectionParams.model_validate(config.model_dump())
    backend = warehouse.backend()
    outcomes, report = [], RunReport()
    try:
        with backend.session():
            ends = tick_ends(context)
            window = load_window(backend, ends, config.lookback_buckets)
            for end in ends:
                before = require_partitions(backend, MINORITY_REPORTS_DETECTED_LOG, [{"written_at": end - TICK}],
                                 f"The tick ending {end}") if end - TICK > START_TS else []
                tick = window.tick(end, config.lookback_buckets)
                previous = backend.read(MINORITY_REPORTS_DETECTED_LOG, between=("written_at", tick.start, end))
                rows = detect_tick(window.keys, tick.actual, tick.expected, tick.start, end, previous, int(TICK / BUCKET), params,
                                   tick.noise)
                rows = rows.assign(written_at=end, run_id=config.run_id)
                input_hash = frames_hash(tick.inputs, *before, canonical_json(config.model_dump()))
                write, outcome = prepare(MRDL_KEY, MINORITY_REPORTS_DETECTED_LOG, {"written_at": end}, rows, input_hash)
                tick_outcomes = [outcome] + ([replay_check(MRDL_KEY, write, written(backend, MINORITY_REPORTS_DETECTED_LOG, {"written_at": end}))]
                                             if write else [])
                outcomes += tick_outcomes
                commit(backend, [write] if write else [], tick_outcomes)
                status = rows["report_status"].value_counts()
                report.add(str(end), open=int(status.get("open", 0)), closed=int(status.get("closed", 0)),
                           series=len(window.keys), content_hash=write.content_hash)
    except BlockingCheckFailed as exc:
        yield from fail_with_results(outcomes, exc)
    yield dg.MaterializeResult(metadata=report.metadata())
    yield from check_results(outcomes)


def map_days(backend: Backend) -> list[pd.Timestamp]:
    """The days whose map exists, in order (read once per run: a tick run writes no map)."""
    keys = backend.manifest(MINORITY_REPORT_MAP.schema, MINORITY_REPORT_MAP.name)["partition_key"]
    return sorted(pd.Timestamp(k.split("=", 1)[1]) for k in keys)


def map_day(backend: Backend, end: pd.Timestamp, existing: list[pd.Timestamp]) -> pd.Timestamp | None:
    """The day whose map a tick places its reports into: the one it used when it was first written
    (so a replay places them the same way), else the latest of the ``existing`` map days before
    the tick's day, else None (the library's own map). Never a reason to wait: a day's first ticks
    run before the day before has its map."""
    before = backend.read(MINORITY_REPORTS_CLUSTERED_LOG, where={"written_at": end}, columns=["map_day"])
    if len(before):
        day = before["map_day"].iat[0]
        return None if pd.isna(day) else pd.Timestamp(day)
    earlier = [d for d in existing if d < (end - TICK).normalize()]
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


@dg.asset(pool=WAREHOUSE_POOL,
    key=MRCL_KEY, group_name=GROUP, kinds={"python", "table"}, partitions_def=tick_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(), deps=[MRDL_KEY, SALES_KEY, BASELINE_KEY, LIBRARY_KEY],
    description="Append-only: per report per tick, its shape feature vector, the library pattern it matches "
                "(or unknown), similarity, confidence and its place on the map (MRCL).",
    check_specs=[spec_for("schema_valid", MRCL_KEY, "Columns, types and keys match the clustered log."),
                 spec_for("append_only", MRCL_KEY, "A tick already written is never rewritten with other rows."),
                 spec_for("every_report_clustered", MRCL_KEY, "One row per report of the tick's detected log.")],
)
def minority_reports_clustered_log(context: dg.AssetExecutionContext, config: TickConfig, warehouse: WarehouseResource):
    backend = warehouse.backend()
    outcomes, report = [], RunReport()
    try:
        with backend.session():
            ends = tick_ends(context)
            spec = current_library(backend, f"The ticks from {ends[0]}")
            window = load_window(backend, ends, config.lookback_buckets)
            row_of = pd.Series(np.arange(len(window.keys)), index=pd.MultiIndex.from_frame(window.keys))
            matcher = Matcher(spec, config.min_similarity)
            placers: dict[pd.Timestamp | None, MapPlacer] = {}
            existing_maps = map_days(backend)
            for end in ends:
                mrdl_hash = require_partitions(backend, MINORITY_REPORTS_DETECTED_LOG, [{"written_at": end}], f"The tick ending {end}")
                detected = backend.read(MINORITY_REPORTS_DETECTED_LOG, where={"written_at": end})
                tick = window.tick(end, config.lookback_buckets)
                spans = []
                for r in detected.itertuples():
                    series = row_of.loc[(r.store_id, r.sku)]
                    first = max(0, int((r.window_start - tick.start) / BUCKET))  # the lookback before it is context
                    spans.append(MatchWindow(tick.actual[series], tick.expected[series], first,
                                             price_cut_seen(tick.prices[series, first:], window.regular_prices[series]),
                                             dispersion(tick.noise.model_error[series, 0], tick.expected[series, first:], WINDOWS[0])))
                vectors = [feature_vector(w.actual[w.start:], w.expected[w.start:]).astype(np.float32) for w in spans]
                matches = matcher.match(spans)
                day = map_day(backend, end, existing_maps)
                if day not in placers:  # one map (and its affinities) per day, not per tick
                    placers[day] = map_placer(backend, day, f"The tick ending {end}", spec)
                coords = placers[day].place(np.stack(vectors)) if vectors else np.empty((0, 2))
                rows = detected.drop(columns=["severity_score", "impact_estimate", "baseline_sales_total", "attributed_sales_total"])
                rows = pd.concat([rows.reset_index(drop=True), pd.DataFrame(matches, columns=["cluster_id", "cluster_name", "similarity_score",
                                                                                               "cluster_match_confidence"])], axis=1)
                rows = rows.assign(feature_vector=vectors, tsne_x=coords[:, 0], tsne_y=coords[:, 1], map_day=day,
                                   library_version=spec["version"], run_id=config.run_id)
                input_hash = frames_hash(*mrdl_hash, tick.inputs, canonical_json(spec), canonical_json(config.model_dump()))
                part = {"written_at": end}
                write, outcome = prepare(MRCL_KEY, MINORITY_REPORTS_CLUSTERED_LOG, part, rows, input_hash)
                before = written(backend, MINORITY_REPORTS_CLUSTERED_LOG, part)
                rewrites = write is not None and before and next(iter(before.values()))[1] != write.content_hash
                tick_outcomes = [outcome,
                                 CheckOutcome(MRCL_KEY, "append_only", str(end), not rewrites,
                                              "the tick's rows differ from those already written" if rewrites else "new tick, or identical rows"),
                                 CheckOutcome(MRCL_KEY, "every_report_clustered", str(end), len(rows) == len(detected),
                                              f"{len(rows)} rows for {len(detected)} reports")]
                outcomes += tick_outcomes
                commit(backend, [write] if write else [], tick_outcomes)
                names = rows["cluster_name"].value_counts()
                report.add(str(end), reports=len(rows), by_cluster={str(k): int(v) for k, v in names.items()},
                           content_hash=write.content_hash)
    except BlockingCheckFailed as exc:
        yield from fail_with_results(outcomes, exc)
    yield dg.MaterializeResult(metadata=report.metadata())
    yield from check_results(outcomes)


def day_reports(backend: Backend, day: pd.Timestamp) -> pd.DataFrame:
    """Each report's latest MRCL row of the day."""
    rows = backend.read(MINORITY_REPORTS_CLUSTERED_LOG, between=("written_at", day + TICK, day + pd.Timedelta(days=1) + pd.Timedelta(seconds=1)))
    return rows.sort_values(["report_id", "written_at"]).groupby("report_id").tail(1).sort_values("report_id").reset_index(drop=True)


@dg.asset(pool=WAREHOUSE_POOL,
    key=MAP_KEY, group_name=GROUP, kinds={"python", "table"}, partitions_def=daily_partitions, deps=[MRCL_KEY, LIBRARY_KEY],
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="A seeded t-SNE map of the day's report shapes with the library's patterns; later ticks place their reports into "
                "the latest map there is.",
)
def minority_report_map(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    backend = warehouse.backend()
    report, png = RunReport(), b""
    for day in days_of(context):
        require_partitions(backend, MINORITY_REPORTS_CLUSTERED_LOG, [{"written_at": t} for t in pd.date_range(day + TICK, day + pd.Timedelta(days=1), freq=TICK)
                                                          if t > START_TS], f"The map of {day.date()}")
        reports = day_reports(backend, day)
        points = pd.concat([lib.library_points(current_library(backend, f"The map of {day.date()}")).assign(point_kind="library"),
                            pd.DataFrame({"point_id": reports["report_id"], "cluster_name": reports["cluster_name"],
                                          "vector": reports["feature_vector"], "point_kind": "report"})], ignore_index=True)
        coords = fit_map(np.stack(points["vector"]))
        frame = points.assign(day=day, x=coords[:, 0], y=coords[:, 1])
        write, outcome = prepare(MAP_KEY, MINORITY_REPORT_MAP, {"day": day}, frame, "")
        commit(backend, [write] if write else [], [outcome])
        library = frame[frame["point_kind"] == "library"].groupby("cluster_name")[["x", "y"]].mean()
        shown = frame[frame["point_kind"] == "report"]
        png = scatter_png(shown[["x", "y"]].to_numpy(), shown["cluster_name"].tolist(), library.to_numpy(), library.index.tolist(),
                          f"Minority reports of {day.date()} by pattern")
        report.add(str(day.date()), reports=len(shown), content_hash=write.content_hash)
    # The picture of the run's last day (one image per run keeps the event log light).
    return dg.MaterializeResult(metadata={**report.metadata(), "map": dg.MetadataValue.md(f"![map](data:image/png;base64,{base64.b64encode(png).decode()})")})


@dg.asset(pool=WAREHOUSE_POOL,
    key=SUMMARY_KEY, group_name=GROUP, kinds={"python", "table"}, partitions_def=daily_partitions, deps=[MRCL_KEY],
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="For attribution: the day's reports per pattern, store and SKU, with the share of high-confidence matches (>= 0.8).",
)
def minority_report_attribution_summary(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    backend = warehouse.backend()
    report = RunReport()
    for day in days_of(context):
        reports = day_reports(backend, day)
        high = reports["cluster_match_confidence"] >= 0.8
        summary = (reports.assign(high=high).groupby(["cluster_name", "store_id", "sku"], as_index=False)
                   .agg(reports=("report_id", "size"), high_confidence_reports=("high", "sum")))
        summary = summary.assign(day=day, high_confidence_share=(summary["high_confidence_reports"] / summary["reports"]).round(6))
        write, outcome = prepare(SUMMARY_KEY, MINORITY_REPORT_ATTRIBUTION_SUMMARY, {"day": day}, summary, "")
        commit(backend, [write] if write else [], [outcome])
        by_cluster = summary.groupby("cluster_name")["reports"].sum().sort_values(ascending=False)
        report.add(str(day.date()), reports=int(summary["reports"].sum()), content_hash=write.content_hash,
                   by_cluster={str(k): int(v) for k, v in by_cluster.items()})
    return dg.MaterializeResult(metadata=report.metadata())
