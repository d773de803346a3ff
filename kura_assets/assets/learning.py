"""Kura assets: raw events -> validated signals (+ rejects) -> day and week issue clusters.

Each asset reads its upstream partitions from the warehouse, calls the pure logic, checks
the frames, and commits them in one transaction (or writes nothing and fails the run).
A range of partitions runs as one run (single-run backfill policy), one commit per period.
"""

# No `from __future__ import annotations`: Dagster reads the config and resource annotations at definition time.
import hashlib
import json
from datetime import date, timedelta

import dagster as dg
import pandas as pd

from platform_core.checks import (
    BlockingCheckFailed, CheckOutcome, RunReport, check_results, commit, fail_with_results, prepare, previous_hashes, privacy_check,
    replay_check, spec_for,
)
from platform_core.hashing import canonical_json, frames_hash
from platform_core.resources import WAREHOUSE_POOL, WarehouseResource
from platform_core.tables import TableSpec
from platform_core.warehouse import partition_key
from kura_assets.clustering import cluster_periods, period_days, period_key
from kura_assets.contracts import contract_problems
from kura_assets.partitions import daily_partitions, days_in, require_days, weekly_partitions, weeks_in
from kura_assets.resources import KuraEventSource
from platform_core.resources import Pseudonymizer
from kura_assets.sources import row_times, window_fingerprint
from kura_assets.scoring import ScoringParams
from kura_assets.signals import SignalRules, validate_signals
from kura_assets.tables import (
    LEARNING_ISSUE_CLUSTER_RUNS, LEARNING_ISSUE_CLUSTERS_DAY, LEARNING_ISSUE_CLUSTERS_WEEK, LEARNING_SIGNAL_REJECTS,
    LEARNING_SIGNALS,
)

GROUP = "kura"
SIGNALS_KEY = dg.AssetKey(["kura", "learning_signals"])
REJECTS_KEY = dg.AssetKey(["kura", "learning_signal_rejects"])
CLUSTERS_DAY_KEY = dg.AssetKey(["kura", "learning_issue_clusters_day"])
CLUSTERS_WEEK_KEY = dg.AssetKey(["kura", "learning_issue_clusters_week"])


class SignalConfig(dg.Config, SignalRules):
    """Validation rules of learning signals (see :class:`kura_assets.signals.SignalRules`)."""


class ClusterConfig(dg.Config, ScoringParams):
    """Publication thresholds and scoring constants (see :class:`kura_assets.scoring.ScoringParams`)."""


@dg.multi_asset(pool=WAREHOUSE_POOL,
    name="learning_signals",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    specs=[
        dg.AssetSpec(SIGNALS_KEY, group_name=GROUP, kinds={"python", "table"},
                     description="The day's learning.signal.logged events, validated and pseudonymized, retractions excluded."),
        dg.AssetSpec(REJECTS_KEY, group_name=GROUP, kinds={"python", "table"},
                     description="Every raw row of the day that did not become a signal, with its reason (raw user id removed)."),
    ],
    check_specs=[
        spec_for("schema_valid", SIGNALS_KEY, "Columns, types and keys match kura.learning_signals."),
        spec_for("schema_valid", REJECTS_KEY, "Columns, types and keys match kura.learning_signal_rejects."),
        spec_for("no_raw_user_ids", SIGNALS_KEY, "No raw user id of the day's inputs appears in any column."),
        spec_for("no_raw_user_ids", REJECTS_KEY, "No raw user id of the day's inputs appears in the kept raw rows."),
        spec_for("every_row_accounted", SIGNALS_KEY, "Every input line of the day is a signal, a reject, a retraction or "
                                                     "a counted line of another event type: nothing dropped."),
        spec_for("deterministic_replay", SIGNALS_KEY, "Same inputs as the last write give the same content hash."),
    ],
)
def learning_signals(
    context: dg.AssetExecutionContext,
    config: SignalConfig,
    warehouse: WarehouseResource,
    kura_events: KuraEventSource,
    pseudonymizer: Pseudonymizer,
):
    default_salt = pseudonymizer.warn_if_default(context.log)
    rules = SignalRules.model_validate(config.model_dump())
    backend = warehouse.backend()
    previous = previous_hashes(backend, LEARNING_SIGNALS)
    outcomes: list[CheckOutcome] = []
    signals_report, rejects_report = RunReport(), RunReport()
    days = days_in(context.partition_time_window)
    # One read and one validation pass for the whole range (day windows overlap by the capture lag).
    raw = kura_events.read(*rules.read_window(days[0], days[-1]))
    validated = validate_signals(raw, days[0], pseudonymizer.salt, rules, last_day=days[-1])
    times = row_times(raw)
    rules_and_salt = (canonical_json(rules.model_dump()), hashlib.sha256(pseudonymizer.salt.encode()).hexdigest())
    try:
        for day in days:
            v = validated.day(day)
            ledger = v.ledger
            input_hash = frames_hash(window_fingerprint(raw, times, *rules.read_window(day)), *rules_and_salt)
            part = {"period_day": day}
            w_signals, o_signals = prepare(SIGNALS_KEY, LEARNING_SIGNALS, part, v.signals, input_hash)
            w_rejects, o_rejects = prepare(REJECTS_KEY, LEARNING_SIGNAL_REJECTS, part, v.rejects, input_hash)
            label = day.isoformat()
            day_outcomes = [
                o_signals, o_rejects,
                privacy_check(SIGNALS_KEY, {"learning_signals": v.signals}, v.raw_user_ids, label,
                              {"learning_signals": ["attributes"]}),
                privacy_check(REJECTS_KEY, {"learning_signal_rejects": v.rejects}, v.raw_user_ids, label,
                              {"learning_signal_rejects": ["raw_data", "raw_metadata"]}),
                CheckOutcome(SIGNALS_KEY, "every_row_accounted", label, ledger.accounts_for(v.rows), ledger.describe(v.rows)),
            ]
            if w_signals is not None:
                day_outcomes.append(replay_check(SIGNALS_KEY, w_signals, previous))
            outcomes += day_outcomes
            commit(backend, [w for w in (w_signals, w_rejects) if w is not None], day_outcomes)
            signals_report.add(label, rows=len(v.signals), content_hash=w_signals.content_hash, input_hash=input_hash,
                               default_salt=default_salt, input_lines=ledger.lines, retractions=ledger.retractions,
                               other_event_types=ledger.other_event_types)
            rejects_report.add(label, rows=len(v.rejects), content_hash=w_rejects.content_hash,
                               rejects_by_reason=v.rejects_by_reason)
            context.log.info(f"{label}: {len(v.signals)} signals, {len(v.rejects)} rejects {v.rejects_by_reason}")
    except BlockingCheckFailed as exc:
        yield from fail_with_results(outcomes, exc)
    yield dg.MaterializeResult(asset_key=SIGNALS_KEY, metadata=signals_report.metadata())
    yield dg.MaterializeResult(asset_key=REJECTS_KEY, metadata=rejects_report.metadata())
    yield from check_results(outcomes)


def _cluster_periods(context, granularity: str, starts: list[date], config: ClusterConfig,
                     warehouse: WarehouseResource, key: dg.AssetKey, spec: TableSpec):
    params = ScoringParams.model_validate(config.model_dump())
    backend = warehouse.backend()
    signal_parts = previous_hashes(backend, LEARNING_SIGNALS)
    reject_parts = previous_hashes(backend, LEARNING_SIGNAL_REJECTS)
    previous = previous_hashes(backend, spec)
    days = {start: period_days(granularity, start) for start in starts}
    require_days("learning_signals", {period_key(granularity, s): ds for s, ds in days.items()}, signal_parts)
    # One read and one clustering pass for the whole range; checks and commits stay per period.
    window = ("period_day", days[starts[0]][0], days[starts[-1]][-1] + timedelta(days=1))
    signals = backend.read(LEARNING_SIGNALS, between=window)
    rejects = backend.read(LEARNING_SIGNAL_REJECTS, between=window, columns=["period_day", "reason"])
    by_reason, input_hashes = {}, {}
    for start, ds in days.items():
        in_period = rejects["period_day"].between(pd.Timestamp(ds[0]), pd.Timestamp(ds[-1]))
        by_reason[start] = {str(k): int(v) for k, v in rejects.loc[in_period, "reason"].value_counts().sort_index().items()}
        day_keys = [partition_key({"period_day": d}) for d in ds]
        input_hashes[start] = frames_hash(*(signal_parts[k][1] for k in day_keys), *(reject_parts[k][1] for k in day_keys),
                                          canonical_json(params.model_dump()))
    results = cluster_periods(signals, granularity, starts, params,
                              {s: {"low_confidence_filtered_events": r.get("low_confidence_filtered", 0)} for s, r in by_reason.items()})
    outcomes: list[CheckOutcome] = []
    report = RunReport()
    try:
        for start in starts:
            label, result, reasons, input_hash = period_key(granularity, start), results[start], by_reason[start], input_hashes[start]
            w_clusters, o_clusters = prepare(key, spec, {"period_start": start}, result.clusters, input_hash)
            s = result.stats
            runs = pd.DataFrame([{
                "period_granularity": granularity, "period_start": pd.Timestamp(start), "period_key": label,
                "events_read": s["considered"] + sum(reasons.values()), "considered": s["considered"], "rejected": sum(reasons.values()),
                "retracted": reasons.get("retracted", 0), "low_confidence_filtered": reasons.get("low_confidence_filtered", 0),
                "dominance_dropped": s["dominance_dropped"], "candidate_clusters": s["candidate_clusters"],
                "clusters_written": s["clusters_written"], "filtered_min_support": s["filtered_min_support"],
                "filtered_min_users": s["filtered_min_users"], "rejects_by_reason": canonical_json(reasons),
                "status": "published" if s["clusters_written"] else "no_clusters",
                "config": canonical_json(params.model_dump()),
                "clusters_content_hash": w_clusters.content_hash if w_clusters else "",
            }])
            w_runs, o_runs = prepare(key, LEARNING_ISSUE_CLUSTER_RUNS, {"period_granularity": granularity, "period_start": start}, runs, input_hash)
            problems = contract_problems(result.clusters)
            agg = [json.loads(x) for x in result.clusters["aggregates"]]
            below = [a for a in agg if a["event_count"] < params.min_support or a["unique_pseudo_users"] < params.min_unique_users]
            period_outcomes = [
                o_clusters, o_runs,
                CheckOutcome(key, "contract_valid", label, not problems, "; ".join(problems[:5]) or "every cluster matches the output contract"),
                CheckOutcome(key, "publication_thresholds", label, not below,
                             f"{len(below)} published clusters below min support {params.min_support} or min users {params.min_unique_users}"),
            ]
            if w_clusters is not None:
                period_outcomes.append(replay_check(key, w_clusters, previous))
            outcomes += period_outcomes
            commit(backend, [w for w in (w_clusters, w_runs) if w is not None], period_outcomes)
            top = result.clusters.sort_values(["score", "cluster_signature"], ascending=[False, True]).head(5)
            report.add(label, clusters=s["clusters_written"], content_hash=w_clusters.content_hash, input_hash=input_hash,
                       telemetry=dict(s), rejects_by_reason=reasons,
                       top=[{"score": float(r.score), "summary": r.summary} for r in top.itertuples()])
            context.log.info(f"{granularity} {label}: {s}")
    except BlockingCheckFailed as exc:
        yield from fail_with_results(outcomes, exc)
    yield dg.MaterializeResult(asset_key=key, metadata=report.metadata())
    yield from check_results(outcomes)


_CLUSTER_CHECKS = (
    ("schema_valid", "Columns, types and keys match the table (clusters and their run telemetry)."),
    ("contract_valid", "Every cluster row matches the output contract (pydantic)."),
    ("publication_thresholds", "No published cluster is below the minimum support or unique-user thresholds."),
    ("deterministic_replay", "Same inputs as the last write give the same content hash."),
)


def _cluster_asset(granularity: str, key: dg.AssetKey, spec: TableSpec, partitions_def, periods, description: str):
    """The day and week cluster assets: the same logic over different partitions."""

    @dg.asset(pool=WAREHOUSE_POOL,
        key=key, group_name=GROUP, kinds={"python", "table"}, partitions_def=partitions_def,
        deps=[SIGNALS_KEY, REJECTS_KEY], backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[spec_for(n, key, d) for n, d in _CLUSTER_CHECKS], description=description,
    )
    def cluster_asset(context: dg.AssetExecutionContext, config: ClusterConfig, warehouse: WarehouseResource):
        yield from _cluster_periods(context, granularity, periods(context.partition_time_window), config, warehouse, key, spec)

    return cluster_asset


learning_issue_clusters_day = _cluster_asset(
    "day", CLUSTERS_DAY_KEY, LEARNING_ISSUE_CLUSTERS_DAY, daily_partitions, days_in,
    "Published cross-user issue clusters of the day, scored and explained; telemetry in learning_issue_cluster_runs.",
)
learning_issue_clusters_week = _cluster_asset(
    "week", CLUSTERS_WEEK_KEY, LEARNING_ISSUE_CLUSTERS_WEEK, weekly_partitions, weeks_in,
    "Published cross-user issue clusters of the ISO week (Monday start); runs only when all seven days exist.",
)
