"""Extraction calibration assets: claims (+ rejects) per day -> calibration per day and ISO week
-> the week's underperforming classes. Same shape as the learning assets: read, call the pure
logic, check, commit each period in one transaction."""

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
from platform_core.warehouse import Backend, partition_key
from kura_assets.assets.learning import GROUP
from kura_assets.calibration import CALIBRATION_EVENTS, STATUSES, CalibrationParams, calibration_rows, label_claims, underperforming
from kura_assets.clustering import period_days, period_key
from kura_assets.partitions import daily_partitions, days_in, require_days, weekly_partitions, weeks_in
from kura_assets.resources import KuraEventSource
from kura_assets.sources import row_times, window_fingerprint
from kura_assets.tables import (
    EXTRACTION_CALIBRATION_DAY, EXTRACTION_CALIBRATION_WEEK, EXTRACTION_CLAIM_REJECTS, EXTRACTION_CLAIMS,
    EXTRACTION_UNDERPERFORMING_CLASSES,
)

CLAIMS_KEY = dg.AssetKey(["kura", "extraction_claims"])
CLAIM_REJECTS_KEY = dg.AssetKey(["kura", "extraction_claim_rejects"])
CALIBRATION_DAY_KEY = dg.AssetKey(["kura", "extraction_calibration_day"])
CALIBRATION_WEEK_KEY = dg.AssetKey(["kura", "extraction_calibration_week"])
UNDERPERFORMING_KEY = dg.AssetKey(["kura", "extraction_underperforming_classes"])


class CalibrationConfig(dg.Config, CalibrationParams):
    """Calibration thresholds (see :class:`kura_assets.calibration.CalibrationParams`)."""


@dg.multi_asset(pool=WAREHOUSE_POOL,
    name="extraction_claims",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    specs=[
        dg.AssetSpec(CLAIMS_KEY, group_name=GROUP, kinds={"python", "table"},
                     description="The day's extraction claims, labelled right (1) or wrong (0) by later retractions and corrections."),
        dg.AssetSpec(CLAIM_REJECTS_KEY, group_name=GROUP, kinds={"python", "table"},
                     description="Claims that could not be used, with the reason (raw user id removed)."),
    ],
    check_specs=[
        spec_for("schema_valid", CLAIMS_KEY, "Columns, types and keys match kura.extraction_claims."),
        spec_for("schema_valid", CLAIM_REJECTS_KEY, "Columns, types and keys match kura.extraction_claim_rejects."),
        spec_for("no_raw_user_ids", CLAIM_REJECTS_KEY, "No raw user id of the inputs appears in the kept raw claims."),
        spec_for("deterministic_replay", CLAIMS_KEY, "Same inputs as the last write give the same content hash."),
    ],
)
def extraction_claims(context: dg.AssetExecutionContext, config: CalibrationConfig, warehouse: WarehouseResource,
                      kura_events: KuraEventSource):
    params = CalibrationParams.model_validate(config.model_dump())
    backend = warehouse.backend()
    previous = previous_hashes(backend, EXTRACTION_CLAIMS)
    days = days_in(context.partition_time_window)
    raw = kura_events.read(*params.read_window(days[0], days[-1]), event_types=CALIBRATION_EVENTS)
    labelled = label_claims(raw, days[0], days[-1], params)
    raw_ids = sorted(set(raw["user_id"].dropna().astype(str)) - {""})
    times = row_times(raw)
    outcomes, claims_report, rejects_report = [], RunReport(), RunReport()
    try:
        for day in days:
            at, label = pd.Timestamp(day), day.isoformat()
            claims = labelled.claims[labelled.claims["period_day"] == at]
            rejects = labelled.rejects[labelled.rejects["period_day"] == at]
            input_hash = frames_hash(window_fingerprint(raw, times, *params.read_window(day)), canonical_json(params.model_dump()))
            w_claims, o_claims = prepare(CLAIMS_KEY, EXTRACTION_CLAIMS, {"period_day": day}, claims, input_hash)
            w_rejects, o_rejects = prepare(CLAIM_REJECTS_KEY, EXTRACTION_CLAIM_REJECTS, {"period_day": day}, rejects, input_hash)
            day_outcomes = [o_claims, o_rejects,
                            privacy_check(CLAIM_REJECTS_KEY, {"extraction_claim_rejects": rejects}, raw_ids, label,
                                          {"extraction_claim_rejects": ["raw_data"]})]
            if w_claims is not None:
                day_outcomes.append(replay_check(CLAIMS_KEY, w_claims, previous))
            outcomes += day_outcomes
            commit(backend, [w for w in (w_claims, w_rejects) if w is not None], day_outcomes)
            claims_report.add(label, rows=len(claims), wrong=int((claims["label"] == 0).sum()), content_hash=w_claims.content_hash)
            rejects_report.add(label, rows=len(rejects), rejects_by_reason={str(k): int(v) for k, v in rejects["reason"].value_counts().items()})
    except BlockingCheckFailed as exc:
        yield from fail_with_results(outcomes, exc)
    yield dg.MaterializeResult(asset_key=CLAIMS_KEY, metadata=claims_report.metadata())
    yield dg.MaterializeResult(asset_key=CLAIM_REJECTS_KEY, metadata=rejects_report.metadata())
    yield from check_results(outcomes)


def _claims_of(backend: Backend, days: list[date], parts: dict) -> tuple[pd.DataFrame, list[str]]:
    """Labelled claims of the days that are materialized, and the content hashes they come from."""
    present = [d for d in days if partition_key({"period_day": d}) in parts]
    if not present:
        return EXTRACTION_CLAIMS.empty_frame(), []
    claims = backend.read(EXTRACTION_CLAIMS, between=("period_day", present[0], present[-1] + timedelta(days=1)))
    claims = claims[claims["period_day"].dt.date.isin(present)]
    return claims, [parts[partition_key({"period_day": d})][1] for d in present]


def _calibrate_periods(context, granularity: str, starts: list[date], config, warehouse: WarehouseResource,
                       key: dg.AssetKey, spec: TableSpec):
    params = CalibrationParams.model_validate(config.model_dump())
    backend = warehouse.backend()
    parts = previous_hashes(backend, EXTRACTION_CLAIMS)
    previous = previous_hashes(backend, spec)
    require_days("extraction_claims", {period_key(granularity, s): period_days(granularity, s) for s in starts}, parts)
    outcomes, report = [], RunReport()
    try:
        for start in starts:
            label, days = period_key(granularity, start), period_days(granularity, start)
            claims, hashes = _claims_of(backend, days, parts)
            before_start = start - timedelta(days=len(days))
            before, before_hashes = _claims_of(backend, period_days(granularity, before_start), parts)
            rows = calibration_rows(claims, before, granularity, start, label, params)
            input_hash = frames_hash(*hashes, "previous", *before_hashes, canonical_json(params.model_dump()))
            write, o_schema = prepare(key, spec, {"period_start": start}, rows, input_hash)
            in_range = rows["brier_score"].between(0, 1).all() and rows["status"].isin(STATUSES).all()
            period_outcomes = [o_schema, CheckOutcome(key, "metrics_valid", label, bool(in_range),
                                                      "Brier scores in [0, 1] and every status one of " + ", ".join(STATUSES))]
            if write is not None:
                period_outcomes.append(replay_check(key, write, previous))
            outcomes += period_outcomes
            commit(backend, [write] if write is not None else [], period_outcomes)
            report.add(label, classes=len(rows), content_hash=write.content_hash, input_hash=input_hash,
                       statuses={str(k): int(v) for k, v in rows["status"].value_counts().sort_index().items()},
                       drift_alerts=int(rows["drift_alert"].sum()), previous_period_days=len(before_hashes))
    except BlockingCheckFailed as exc:
        yield from fail_with_results(outcomes, exc)
    yield dg.MaterializeResult(asset_key=key, metadata=report.metadata())
    yield from check_results(outcomes)


_CALIBRATION_CHECKS = (
    ("schema_valid", "Columns, types and keys match the table."),
    ("metrics_valid", "Brier scores in [0, 1], statuses known."),
    ("deterministic_replay", "Same inputs as the last write give the same content hash."),
)


def _calibration_asset(granularity, key, spec, partitions_def, periods, description):
    @dg.asset(pool=WAREHOUSE_POOL, key=key, group_name=GROUP, kinds={"python", "table"}, partitions_def=partitions_def, deps=[CLAIMS_KEY],
              backfill_policy=dg.BackfillPolicy.single_run(), description=description,
              check_specs=[spec_for(n, key, d) for n, d in _CALIBRATION_CHECKS])
    def calibration_asset(context: dg.AssetExecutionContext, config: CalibrationConfig, warehouse: WarehouseResource):
        yield from _calibrate_periods(context, granularity, periods(context.partition_time_window), config, warehouse, key, spec)

    return calibration_asset


extraction_calibration_day = _calibration_asset(
    "day", CALIBRATION_DAY_KEY, EXTRACTION_CALIBRATION_DAY, daily_partitions, days_in,
    "Per claim class and parser version: Brier score, precision/recall at high confidence, status and drift vs the day before.",
)
extraction_calibration_week = _calibration_asset(
    "week", CALIBRATION_WEEK_KEY, EXTRACTION_CALIBRATION_WEEK, weekly_partitions, weeks_in,
    "Per claim class and parser version for the ISO week, with drift against the week before.",
)


@dg.asset(pool=WAREHOUSE_POOL, key=UNDERPERFORMING_KEY, group_name=GROUP, kinds={"python", "table"}, partitions_def=weekly_partitions,
          deps=[CALIBRATION_WEEK_KEY], backfill_policy=dg.BackfillPolicy.single_run(),
          check_specs=[spec_for("schema_valid", UNDERPERFORMING_KEY, "Columns, types and keys match the table.")],
          description="The week's claim classes that are not healthy or drifted: the calibration source of the backlog bridge.")
def extraction_underperforming_classes(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    backend = warehouse.backend()
    weeks = previous_hashes(backend, EXTRACTION_CALIBRATION_WEEK)
    outcomes, report = [], RunReport()
    try:
        for start in weeks_in(context.partition_time_window):
            label, part = period_key("week", start), partition_key({"period_start": start})
            if part not in weeks:
                raise dg.Failure(description=f"extraction_calibration_week {label} is not materialized; materialize it first.")
            rows = underperforming(backend.read(EXTRACTION_CALIBRATION_WEEK, where={"period_start": start}))
            write, outcome = prepare(UNDERPERFORMING_KEY, EXTRACTION_UNDERPERFORMING_CLASSES, {"period_start": start}, rows, weeks[part][1])
            outcomes.append(outcome)
            commit(backend, [write] if write is not None else [], [outcome])
            report.add(label, classes=rows[["claim_type", "parser_version", "status"]].to_dict("records"), content_hash=write.content_hash)
    except BlockingCheckFailed as exc:
        yield from fail_with_results(outcomes, exc)
    yield dg.MaterializeResult(asset_key=UNDERPERFORMING_KEY, metadata=report.metadata())
    yield from check_results(outcomes)
