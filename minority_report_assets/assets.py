"""Minority-report assets: sales per tick -> detected log (MRDL) -> clustered log (MRCL), with a
daily baseline, the pattern library, a daily 2-D map and an attribution summary.

MRDL, the minority reports' detected log: one row per open or just-closed report per tick; its
step also writes the source's outages (stretches with no sales row at all, read as missing).
MRCL, their clustered log: per report per tick, its shape and the library pattern it matches;
append-only. Each asset is its tables and a step (see :mod:`platform_core.table_asset`); what
the steps read beyond one partition is in :mod:`minority_report_assets.inputs`. Ticks run in
order: a tick refuses to run before the tick it continues exists.
"""

import base64
import hashlib
import itertools

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from minority_report_assets import library as lib
from minority_report_assets.baseline import (
    BaselineParams,
    daily_price,
    fit_baseline,
    history_matrix,
    regular_prices,
    series_of,
    stack_days,
)
from minority_report_assets.detection import WINDOWS, DetectionParams
from minority_report_assets.features import feature_vector
from minority_report_assets.inputs import (
    current_library,
    day_reports,
    load_window,
    map_day,
    map_days,
    map_placer,
)
from minority_report_assets.map import MapPlacer, fit_map, scatter_png
from minority_report_assets.matching import Matcher, MatchWindow, dispersion, price_cut_seen
from minority_report_assets.outages import outage_rows
from minority_report_assets.partitions import (
    FIRST_TICK_END,
    PREVIOUS_TICK,
    SHARDS,
    TICK,
    Tick,
    daily_partitions,
    day_ticks,
    days_of,
    shard_of,
    tick_partitions,
    ticks_of,
)
from minority_report_assets.reports import BUCKET, by_stake, detect_tick
from minority_report_assets.sales import validate_sales
from minority_report_assets.sources import read_labels, unplaced_rows
from minority_report_assets.tables import (
    CLUSTER_LIBRARY,
    MINORITY_REPORT_ATTRIBUTION_SUMMARY,
    MINORITY_REPORT_MAP,
    MINORITY_REPORTS_CLUSTERED_LOG,
    MINORITY_REPORTS_DETECTED_LOG,
    SALES_BASELINE,
    SALES_TIMESERIES_DATA,
    SALES_TIMESERIES_REJECTS,
    SOURCE_OUTAGES,
)
from platform_core.checks import require_partitions, require_predecessors
from platform_core.hashing import canonical_json, frames_hash, rows_fingerprint
from platform_core.table_asset import SOURCE_RETRY, Check, Output, Run, Written, asset_key, source_spec, table_asset

GROUP = "minority_report"
OWNERS = ["team:minority-report"]
SALES_KEY = asset_key(SALES_TIMESERIES_DATA)
SALES_REJECTS_KEY = asset_key(SALES_TIMESERIES_REJECTS)
BASELINE_KEY = asset_key(SALES_BASELINE)
LIBRARY_KEY = asset_key(CLUSTER_LIBRARY)
MRDL_KEY = asset_key(MINORITY_REPORTS_DETECTED_LOG)
OUTAGES_KEY = asset_key(SOURCE_OUTAGES)
MRCL_KEY = asset_key(MINORITY_REPORTS_CLUSTERED_LOG)
MAP_KEY = asset_key(MINORITY_REPORT_MAP)
SUMMARY_KEY = asset_key(MINORITY_REPORT_ATTRIBUTION_SUMMARY)

#: The raw input, outside the graph: the 5-minute sales the tick and baseline assets read.
SALES_SOURCE = source_spec(
    ["minority_report", "sales"],
    group=GROUP,
    owners=OWNERS,
    kinds={"csv", "parquet"},
    description="5-minute unit sales per store and SKU (SALES_URL: the demo generator, a .csv / .parquet file or a "
    "warehouse table), by bucket time. Read, never written here.",
    columns=[("store_id", "TEXT"), ("sku", "TEXT"), ("ts", "TIMESTAMP"), ("units", "DOUBLE"), ("price", "DOUBLE")],
)


class TickConfig(dg.Config, DetectionParams):
    """Detection constants, the lookback, and the run id every row carries (stable on replay)."""

    run_id: str = Field("scheduled", description="Written to every row: set it in run config to tag a run.")
    lookback_buckets: int = Field(144, description="Buckets of sales each tick looks back over (12 hours).")
    min_similarity: float = Field(0.75, description="Below this shape similarity a report is 'unknown'.")


class BaselineConfig(dg.Config, BaselineParams):
    """Baseline model constants (see :mod:`minority_report_assets.baseline`)."""


def _sales_ticks(run: Run):
    source = run.resources.sales_source
    unplaced = unplaced_rows(source.url, run.backend)
    if unplaced:
        run.log.warning(f"{unplaced} source rows have no ts to place them in a tick")
    for tick in ticks_of(run.context):
        raw = source.read(tick.start, tick.end, run.backend)
        raw = raw[shard_of(raw["store_id"]) == tick.shard]  # a store's rows, valid or not, go to its shard
        buckets, rejects = validate_sales(raw, source.bucket)
        at = tick.partition
        part = Written(
            tick.label,
            tick.partition_key,
            {
                SALES_TIMESERIES_DATA.name: (at, buckets.assign(**at)),
                SALES_TIMESERIES_REJECTS.name: (at, rejects.assign(**at)),
            },
            frames_hash(rows_fingerprint(raw)),
            facts={
                SALES_TIMESERIES_DATA.name: {
                    "series": int(buckets[["store_id", "sku"]].drop_duplicates().shape[0]),
                    "unplaced_source_rows": unplaced,
                },
                SALES_TIMESERIES_REJECTS.name: {
                    "rejects_by_reason": {
                        str(k): int(v) for k, v in rejects["reason"].value_counts().sort_index().items()
                    }
                },
            },
        )
        per_row = int(source.bucket / BUCKET)  # 5-minute buckets a source row becomes
        part.check(
            SALES_TIMESERIES_DATA,
            "every_row_accounted",
            len(buckets) == per_row * (len(raw) - len(rejects)),
            f"{len(raw)} rows = {len(buckets)} buckets / {per_row} + {len(rejects)} rejects",
        )
        yield part


sales_timeseries_data = table_asset(
    name="sales_timeseries_data",
    group=GROUP,
    owners=OWNERS,
    partitions_def=tick_partitions,
    step=_sales_ticks,
    resources=["sales_source"],
    retry_policy=SOURCE_RETRY,
    outputs=[
        Output(
            SALES_TIMESERIES_DATA,
            "The tick's validated 5-minute sales buckets (an hourly or daily source's rows spread evenly over theirs).",
            deps=[SALES_SOURCE.key],
        ),
        Output(
            SALES_TIMESERIES_REJECTS,
            "Every source row of the tick that is not a usable bucket, with its reason.",
            replayed=False,
            deps=[SALES_SOURCE.key],
            shown=lambda r: r[["reason", "store_id", "sku", "ts"]],
        ),
    ],
    checks=[
        Check(
            SALES_TIMESERIES_DATA,
            "every_row_accounted",
            "Source rows of the tick = their 5-minute buckets / the buckets a row spans + rejects.",
        )
    ],
)


def _baseline_days(run: Run):
    params = BaselineParams.model_validate(run.config.model_dump())
    source = run.resources.sales_source
    for day in days_of(run.context):
        history_days = list(
            pd.date_range(day - pd.Timedelta(days=params.history_days), day - pd.Timedelta(days=1), freq="D")
        )
        per_day, prices = [], []
        for d in history_days:  # one day at a time: 28 days of 10,000 series are 80M rows
            buckets, _ = validate_sales(source.read(d, d + pd.Timedelta(days=1), run.backend), source.bucket)
            day_keys, _ = series_of(buckets)
            per_day.append((day_keys, history_matrix(buckets, day_keys, [d])[:, 0, :].astype(np.float32)))
            prices.append(daily_price(buckets))
        keys, history, observed = stack_days(per_day)
        fit = fit_baseline(history, np.array([d.day_of_week for d in history_days]), day.day_of_week, params, observed)
        regular = regular_prices(prices, keys)
        frame = fit.rows(keys, day, regular, shard_of(keys["store_id"]))
        input_hash = frames_hash(
            hashlib.sha256(np.ascontiguousarray(history).tobytes()).hexdigest(),
            hashlib.sha256(regular.tobytes()).hexdigest(),
            canonical_json(params.model_dump()),
            hashlib.sha256("|".join(keys["store_id"] + "/" + keys["sku"]).encode()).hexdigest(),
            f"shards={SHARDS}",
        )
        yield Written(
            str(day.date()),
            str(day.date()),
            {SALES_BASELINE.name: ({"day": day}, frame)},
            input_hash,
            facts={SALES_BASELINE.name: {"series": len(keys), "warming_up": int(fit.warming_up.sum())}},
        )


sales_baseline = table_asset(
    name="minority_report__sales_baseline",
    group=GROUP,
    owners=OWNERS,
    partitions_def=daily_partitions,
    config=BaselineConfig,
    resources=["sales_source"],
    step=_baseline_days,
    retry_policy=SOURCE_RETRY,
    outputs=[
        Output(
            SALES_BASELINE,
            "Expected units per store/SKU and 5-minute bucket of the day, from the 28 days before "
            "(robust to past anomalies), with each series' learned noise.",
            deps=[SALES_SOURCE.key],
        )
    ],
)


class LibraryConfig(dg.Config):
    """Where a refit of the library learns from (empty: the checked-in spec as it is)."""

    labels: str = Field(
        "",
        description="Labelled history: a .csv / .parquet file or warehouse:schema.table of report_id, "
        "cluster_name. Each pattern with enough labelled reports gets their durations and magnitudes.",
    )
    min_labels: int = Field(20, description="Labelled reports a pattern needs before its ranges are refit.")


def _library(run: Run):
    spec, facts = lib.load_spec(), {}
    if run.config.labels:
        detected = run.backend.read(
            MINORITY_REPORTS_DETECTED_LOG,
            columns=[
                "report_id",
                "version",
                "report_status",
                "window_start",
                "window_end",
                "baseline_sales_total",
                "attributed_sales_total",
            ],
        )
        labelled, left_out = lib.labelled_windows(read_labels(run.config.labels, run.backend), detected, spec)
        spec, per_pattern = lib.refit_spec(spec, labelled, run.config.min_labels)
        facts = {"labels_used": len(labelled), "labels_left_out": left_out, "labels_per_pattern": per_pattern}
        run.log.info(f"refit from {len(labelled)} labelled reports {per_pattern}; left out {left_out}")
    clusters = lib.library_clusters(spec)
    entries = {e["cluster_id"]: e for e in spec["clusters"]}
    frame = clusters.assign(
        library_version=spec["version"],
        duration_buckets=[canonical_json(entries[c]["duration_buckets"]) for c in clusters["cluster_id"]],
        magnitude=[canonical_json(entries[c]["magnitude"]) for c in clusters["cluster_id"]],
    )
    centroids = np.stack(frame["centroid"])
    similarity = np.where(np.eye(len(frame), dtype=bool), -np.inf, centroids @ centroids.T)
    a, b = np.unravel_index(int(np.argmax(similarity)), similarity.shape)
    closest = float(similarity[a, b])
    part = Written(
        spec["version"],
        None,
        {CLUSTER_LIBRARY.name: ({}, frame)},
        hashlib.sha256(canonical_json(spec).encode()).hexdigest(),
        facts={
            CLUSTER_LIBRARY.name: {
                "library_version": spec["version"],
                "closest_centroids_cosine": round(closest, 4),
                "ranges": {
                    e["name"]: {"duration_buckets": e["duration_buckets"], "magnitude": e["magnitude"]}
                    for e in spec["clusters"]
                },
                **facts,
            }
        },
    )
    part.check(
        CLUSTER_LIBRARY,
        "centroids_apart",
        closest < 0.9,
        f"closest pair of centroids: {frame['cluster_name'].iat[a]} and {frame['cluster_name'].iat[b]}, cosine {closest:.3f}",
    )
    yield part


cluster_library = table_asset(
    name="minority_report__cluster_library",
    group=GROUP,
    owners=OWNERS,
    code_version=lib.load_spec()["version"],  # the checked-in spec is the library's logic
    config=LibraryConfig,
    step=_library,
    outputs=[
        Output(
            CLUSTER_LIBRARY,
            "The named anomaly patterns (versioned: the checked-in spec, or its refit from labelled reports "
            "of the detected log) with their centroids; the clustered log matches against the version materialized here.",
            replayed=False,
            shown=lambda c: c[["cluster_name", "duration_buckets", "magnitude"]],
        )
    ],
    checks=[Check(CLUSTER_LIBRARY, "centroids_apart", "No two centroids are more similar than 0.9 (cosine).")],
)


def _detected_ticks(run: Run):
    config = run.config
    params = DetectionParams.model_validate(config.model_dump())
    for shard, ticks in _by_shard(ticks_of(run.context)):
        window = load_window(run.backend, shard, [t.end for t in ticks], config.lookback_buckets)
        for tick in ticks:
            before = require_predecessors(
                run.backend,
                MINORITY_REPORTS_DETECTED_LOG,
                [Tick(shard, tick.start).partition],
                f"The tick {tick.label}",
                "written_at",
                FIRST_TICK_END,
            )
            lookback = window.tick(tick.end, config.lookback_buckets, params)
            previous = run.backend.read(
                MINORITY_REPORTS_DETECTED_LOG, where={"shard": shard}, between=("written_at", lookback.start, tick.end)
            )
            rows = detect_tick(
                window.keys,
                lookback.actual,
                lookback.expected,
                lookback.start,
                tick.end,
                previous,
                int(TICK / BUCKET),
                params,
                lookback.noise,
                lookback.observed,
            )
            status = rows["report_status"].value_counts()
            n_buckets = lookback.actual.shape[1]
            gaps = outage_rows(lookback.outages, lookback.start, tick.start, n_buckets, BUCKET)
            # the tick's own buckets read as missing, not as zero sales
            missing = int((~lookback.observed[n_buckets - int(TICK / BUCKET) :]).sum())
            part = Written(
                tick.label,
                tick.partition_key,
                {
                    MINORITY_REPORTS_DETECTED_LOG.name: (
                        tick.partition,
                        rows.assign(**tick.partition, run_id=config.run_id),
                    ),
                    SOURCE_OUTAGES.name: (tick.partition, gaps.assign(**tick.partition)),
                },
                frames_hash(lookback.inputs, *before, canonical_json(config.model_dump())),
                facts={
                    MINORITY_REPORTS_DETECTED_LOG.name: {
                        "open": int(status.get("open", 0)),
                        "closed": int(status.get("closed", 0)),
                        "series": len(window.keys),
                        "source_outage_buckets": missing,
                    },
                    SOURCE_OUTAGES.name: {"outages": len(gaps), "missing_buckets": missing},
                },
            )
            part.check(SOURCE_OUTAGES, "sales_delivered", missing == 0, _outage_text(gaps))
            yield part


def _outage_text(gaps: pd.DataFrame) -> str:
    """What a tick's outage check says."""
    if gaps.empty:
        return "the source delivered rows wherever sales were expected"
    return "; ".join(
        f"no sales row for any series from {g.bucket_start} to {g.bucket_end} ({g.buckets} buckets, "
        f"{g.expected_total:.0f} units expected{', ongoing' if g.ongoing else ''})"
        for g in gaps.itertuples()
    )


def _by_shard(ticks: list[Tick]) -> list[tuple[int, list[Tick]]]:
    """A run's ticks per shard, in time order (each shard's sales window is read once)."""
    return [(shard, list(group)) for shard, group in itertools.groupby(sorted(ticks), key=lambda t: t.shard)]


def _by_stake(reports: pd.DataFrame) -> pd.DataFrame:
    """The tick's reports by what is at stake: units above (+) or below (-) expected over the
    report, largest first, beside the expected units and the severity."""
    return (
        by_stake(reports)
        .rename(columns={"impact_estimate": "units_vs_expected", "baseline_sales_total": "expected_units"})[
            ["report_status", "store_id", "sku", "window_start", "window_end", "units_vs_expected", "expected_units"]
            + ["severity_score", "report_id"]
        ]
        .round({"units_vs_expected": 1, "expected_units": 1, "severity_score": 3})
    )


minority_reports_detected_log = table_asset(
    name="minority_report__minority_reports_detected_log",
    group=GROUP,
    owners=OWNERS,
    partitions_def=tick_partitions,
    config=TickConfig,
    step=_detected_ticks,
    outputs=[
        Output(
            MINORITY_REPORTS_DETECTED_LOG,
            "One row per open or just-closed minority report per tick (MRDL): stable report ids, back-dated windows.",
            deps=[SALES_KEY, BASELINE_KEY, dg.AssetDep(MRDL_KEY, partition_mapping=PREVIOUS_TICK)],
            shown=_by_stake,
        ),
        Output(
            SOURCE_OUTAGES,
            "Stretches of the tick's lookback in which the sales source delivered no row for any series of the "
            "shard while the baseline expected sales: read as missing, not as zero sales, so they open no reports.",
            deps=[SALES_KEY, BASELINE_KEY],
            shown=lambda r: r[["bucket_start", "bucket_end", "buckets", "expected_total", "ongoing"]],
        ),
    ],
    checks=[
        Check(
            SOURCE_OUTAGES,
            "sales_delivered",
            "The source delivered rows in every bucket of the tick where sales were expected (warns on an outage).",
            blocking=False,
        )
    ],
)


def _clustered_ticks(run: Run):
    config, backend = run.config, run.backend
    ticks = ticks_of(run.context)
    params = DetectionParams.model_validate(config.model_dump())
    spec = current_library(backend, f"The ticks from {ticks[0].label}")
    matcher = Matcher(spec, config.min_similarity)
    placers: dict[pd.Timestamp | None, MapPlacer] = {}
    existing_maps = map_days(backend)
    for shard, shard_ticks in _by_shard(ticks):
        window = load_window(backend, shard, [t.end for t in shard_ticks], config.lookback_buckets)
        index = pd.MultiIndex.from_frame(window.keys)
        for tick in shard_ticks:
            what = f"The tick {tick.label}"
            mrdl_hash = require_partitions(backend, MINORITY_REPORTS_DETECTED_LOG, [tick.partition], what)
            detected = backend.read(MINORITY_REPORTS_DETECTED_LOG, where=tick.partition)
            lookback = window.tick(tick.end, config.lookback_buckets, params)
            rows_of = index.get_indexer(pd.MultiIndex.from_frame(detected[["store_id", "sku"]]))
            # Where each report begins in the lookback; the lookback before it is context.
            firsts = np.maximum(((detected["window_start"] - lookback.start) // BUCKET).to_numpy(dtype=np.int64), 0)
            spans = []
            for series, first in zip(rows_of, firsts):
                spans.append(
                    MatchWindow(
                        lookback.actual[series],
                        lookback.expected[series],
                        first,
                        price_cut_seen(lookback.prices[series, first:], window.regular_prices[series]),
                        dispersion(
                            lookback.noise.model_error[series, 0], lookback.expected[series, first:], WINDOWS[0]
                        ),
                    )
                )
            vectors = [feature_vector(w.actual[w.start :], w.expected[w.start :]).astype(np.float32) for w in spans]
            matches = matcher.match(spans)
            day = map_day(backend, tick, existing_maps)
            if day not in placers:  # one map (and its affinities) per day, not per tick
                placers[day] = map_placer(backend, day, what, spec)
            coords = placers[day].place(np.stack(vectors)) if vectors else np.empty((0, 2))
            rows = detected.drop(
                columns=["severity_score", "impact_estimate", "baseline_sales_total", "attributed_sales_total"]
            )
            rows = pd.concat(
                [
                    rows.reset_index(drop=True),
                    pd.DataFrame(
                        matches, columns=["cluster_id", "cluster_name", "similarity_score", "cluster_match_confidence"]
                    ),
                ],
                axis=1,
            )
            rows = rows.assign(
                feature_vector=vectors,
                tsne_x=coords[:, 0],
                tsne_y=coords[:, 1],
                map_day=day,
                library_version=spec["version"],
                run_id=config.run_id,
            )
            names = rows["cluster_name"].value_counts()
            part = Written(
                tick.label,
                tick.partition_key,
                {MINORITY_REPORTS_CLUSTERED_LOG.name: (tick.partition, rows)},
                frames_hash(*mrdl_hash, lookback.inputs, canonical_json(spec), canonical_json(config.model_dump())),
                facts={MINORITY_REPORTS_CLUSTERED_LOG.name: {"by_cluster": {str(k): int(v) for k, v in names.items()}}},
            )
            part.check(
                MINORITY_REPORTS_CLUSTERED_LOG,
                "every_report_clustered",
                len(rows) == len(detected),
                f"{len(rows)} rows for {len(detected)} reports",
            )
            yield part


minority_reports_clustered_log = table_asset(
    name="minority_report__minority_reports_clustered_log",
    group=GROUP,
    owners=OWNERS,
    partitions_def=tick_partitions,
    config=TickConfig,
    step=_clustered_ticks,
    outputs=[
        Output(
            MINORITY_REPORTS_CLUSTERED_LOG,
            "Append-only: per report per tick, its shape feature vector, the library pattern "
            "it matches (or unknown), similarity, confidence and its place on the map (MRCL).",
            replayed=False,
            append_only=True,
            deps=[MRDL_KEY, SALES_KEY, BASELINE_KEY, LIBRARY_KEY],
            # a tick every 15 minutes, as soon as it ends
            freshness=dg.FreshnessPolicy.time_window(
                fail_window=(3 * TICK).to_pytimedelta(), warn_window=(2 * TICK).to_pytimedelta()
            ),
            shown=lambda r: r.sort_values(["cluster_match_confidence", "report_id"], ascending=[False, True])[
                ["cluster_name", "cluster_match_confidence", "similarity_score", "store_id", "sku", "report_id"]
            ],
        )
    ],
    checks=[
        Check(
            MINORITY_REPORTS_CLUSTERED_LOG, "every_report_clustered", "One row per report of the tick's detected log."
        )
    ],
)


def _map_days(run: Run):
    for day in days_of(run.context):
        what = f"The map of {day.date()}"
        require_partitions(run.backend, MINORITY_REPORTS_CLUSTERED_LOG, [t.partition for t in day_ticks(day)], what)
        reports = day_reports(run.backend, day)
        points = pd.concat(
            [
                lib.library_points(current_library(run.backend, what)).assign(point_kind="library"),
                pd.DataFrame(
                    {
                        "point_id": reports["report_id"],
                        "cluster_name": reports["cluster_name"],
                        "vector": reports["feature_vector"],
                        "point_kind": "report",
                    }
                ),
            ],
            ignore_index=True,
        )
        coords = fit_map(np.stack(points["vector"]))
        frame = points.assign(day=day, x=coords[:, 0], y=coords[:, 1])
        library = frame[frame["point_kind"] == "library"].groupby("cluster_name")[["x", "y"]].mean()
        shown = frame[frame["point_kind"] == "report"]
        png = scatter_png(
            shown[["x", "y"]].to_numpy(),
            shown["cluster_name"].tolist(),
            library.to_numpy(),
            library.index.tolist(),
            f"Minority reports of {day.date()} by pattern",
        )
        yield Written(
            str(day.date()),
            str(day.date()),
            {MINORITY_REPORT_MAP.name: ({"day": day}, frame)},
            "",
            facts={
                MINORITY_REPORT_MAP.name: {
                    "reports": len(shown),
                    "map": dg.MetadataValue.md(f"![map](data:image/png;base64,{base64.b64encode(png).decode()})"),
                }
            },
        )


minority_report_map = table_asset(
    name="minority_report__minority_report_map",
    group=GROUP,
    owners=OWNERS,
    partitions_def=daily_partitions,
    step=_map_days,
    outputs=[
        Output(
            MINORITY_REPORT_MAP,
            "A seeded t-SNE map of the day's report shapes with the library's patterns; later ticks "
            "place their reports into the latest map there is.",
            replayed=False,
            deps=[MRCL_KEY, LIBRARY_KEY],
            # run by mr_day_complete minutes after the day's last tick
            freshness=dg.FreshnessPolicy.cron(
                deadline_cron="0 1 * * *", lower_bound_delta=pd.Timedelta(hours=1).to_pytimedelta()
            ),
        )
    ],
)


def _summary_days(run: Run):
    for day in days_of(run.context):
        reports = day_reports(run.backend, day)
        high = reports["cluster_match_confidence"] >= 0.8
        summary = (
            reports.assign(high=high)
            .groupby(["cluster_name", "store_id", "sku"], as_index=False)
            .agg(reports=("report_id", "size"), high_confidence_reports=("high", "sum"))
        )
        summary = summary.assign(
            day=day, high_confidence_share=(summary["high_confidence_reports"] / summary["reports"]).round(6)
        )
        yield Written(
            str(day.date()),
            str(day.date()),
            {MINORITY_REPORT_ATTRIBUTION_SUMMARY.name: ({"day": day}, summary)},
            "",
            facts={MINORITY_REPORT_ATTRIBUTION_SUMMARY.name: {"reports": int(summary["reports"].sum())}},
        )


def _by_pattern(summary: pd.DataFrame) -> pd.DataFrame:
    """The day's reports by pattern (the rows themselves are per store and SKU)."""
    return (
        summary.groupby("cluster_name", as_index=False)[["reports", "high_confidence_reports"]]
        .sum()
        .sort_values(["reports", "cluster_name"], ascending=[False, True])
    )


minority_report_attribution_summary = table_asset(
    name="minority_report__minority_report_attribution_summary",
    group=GROUP,
    owners=OWNERS,
    partitions_def=daily_partitions,
    step=_summary_days,
    outputs=[
        Output(
            MINORITY_REPORT_ATTRIBUTION_SUMMARY,
            "For attribution: the day's reports per pattern, store and SKU, with the "
            "share of high-confidence matches (>= 0.8).",
            replayed=False,
            deps=[MRCL_KEY],
            shown=_by_pattern,
        )
    ],
)
