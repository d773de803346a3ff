"""Extraction calibration assets: claims (+ rejects) per day -> calibration per day and ISO week
-> the week's underperforming classes. Same shape as the learning assets (platform_core.table_asset)."""

from contextlib import closing
from datetime import date, timedelta

import dagster as dg
import duckdb
import pandas as pd

from kura_assets.assets.learning import EVENT_STORE, GROUP, OWNERS
from kura_assets.calibration import (
    CALIBRATION_EVENTS,
    STATUSES,
    CalibrationParams,
    calibration_rows,
    label_claims,
    underperforming,
)
from kura_assets.clustering import period_days, period_key
from kura_assets.partitions import START_DATE, daily_partitions, days_in, require_days, weekly_partitions, weeks_in
from kura_assets.signals import staged_frame
from kura_assets.sources import window_rows
from kura_assets.tables import (
    EXTRACTION_CALIBRATION_DAY,
    EXTRACTION_CALIBRATION_WEEK,
    EXTRACTION_CLAIM_REJECTS,
    EXTRACTION_CLAIMS,
    EXTRACTION_UNDERPERFORMING_CLASSES,
)
from platform_core.checks import previous_hashes, require_partitions, require_predecessors
from platform_core.hashing import canonical_json, frames_hash, rows_fingerprint
from platform_core.privacy import People
from platform_core.table_asset import SOURCE_RETRY, Check, Output, Run, Written, asset_key, table_asset
from platform_core.tables import TableSpec
from platform_core.warehouse import Backend, partition_key

CLAIMS_KEY = asset_key(EXTRACTION_CLAIMS)
CLAIM_REJECTS_KEY = asset_key(EXTRACTION_CLAIM_REJECTS)
CALIBRATION_DAY_KEY = asset_key(EXTRACTION_CALIBRATION_DAY)
CALIBRATION_WEEK_KEY = asset_key(EXTRACTION_CALIBRATION_WEEK)
UNDERPERFORMING_KEY = asset_key(EXTRACTION_UNDERPERFORMING_CLASSES)


class CalibrationConfig(dg.Config, CalibrationParams):
    """Calibration thresholds (see :class:`kura_assets.calibration.CalibrationParams`)."""


def _claim_partitions(run: Run):
    """The range's claims labelled in one pass over its events, then each day."""
    params = CalibrationParams.model_validate(run.config.model_dump())
    days = days_in(run.context.partition_time_window)
    with closing(duckdb.connect()) as con:
        run.resources.kura_events.stage(con, *params.read_window(days[0], days[-1]), event_types=CALIBRATION_EVENTS)
        raw = staged_frame(con)
        labelled = label_claims(raw, days[0], days[-1], params)
        people = People(run.resources.pseudonymizer.salt, raw_ids=raw["user_id"].dropna().astype(str))
        for day in days:
            at, label = pd.Timestamp(day), day.isoformat()
            claims = labelled.claims[labelled.claims["period_day"] == at]
            rejects = labelled.rejects[labelled.rejects["period_day"] == at]
            part = Written(
                label,
                label,
                {
                    EXTRACTION_CLAIMS.name: ({"period_day": day}, claims),
                    EXTRACTION_CLAIM_REJECTS.name: ({"period_day": day}, rejects),
                },
                frames_hash(
                    rows_fingerprint(window_rows(con, *params.read_window(day))), canonical_json(params.model_dump())
                ),
                facts={
                    EXTRACTION_CLAIMS.name: {"wrong": int((claims["label"] == 0).sum())},
                    EXTRACTION_CLAIM_REJECTS.name: {
                        "rejects_by_reason": {
                            str(k): int(v) for k, v in rejects["reason"].value_counts().sort_index().items()
                        }
                    },
                },
                people=people,
            )
            yield part


extraction_claims = table_asset(
    name="extraction_claims",
    group=GROUP,
    owners=OWNERS,
    partitions_def=daily_partitions,
    config=CalibrationConfig,
    resources=["kura_events", "pseudonymizer"],
    people=True,
    step=_claim_partitions,
    retry_policy=SOURCE_RETRY,
    outputs=[
        Output(
            EXTRACTION_CLAIMS,
            "The day's extraction claims, labelled right (1) or wrong (0) by later retractions and corrections.",
            deps=[EVENT_STORE.key],
        ),
        Output(
            EXTRACTION_CLAIM_REJECTS,
            "Claims that could not be used, with the reason (raw user id removed).",
            replayed=False,
            deps=[EVENT_STORE.key],
        ),
    ],
)


def _claims_of(backend: Backend, days: list[date]) -> pd.DataFrame:
    """Labelled claims of consecutive days, each materialized."""
    if not days:
        return EXTRACTION_CLAIMS.empty_frame()
    return backend.read(EXTRACTION_CLAIMS, between=("period_day", days[0], days[-1] + timedelta(days=1)))


def _calibration_step(granularity: str, spec: TableSpec, periods):
    def step(run: Run):
        params = CalibrationParams.model_validate(run.config.model_dump())
        parts = previous_hashes(run.backend, EXTRACTION_CLAIMS)
        starts = periods(run.context.partition_time_window)
        require_days(
            "extraction_claims", {period_key(granularity, s): period_days(granularity, s) for s in starts}, parts
        )
        for start in starts:
            label, days = period_key(granularity, start), period_days(granularity, start)
            claims, hashes = _claims_of(run.backend, days), [parts[partition_key({"period_day": d})][1] for d in days]
            earlier = period_days(granularity, start - timedelta(days=len(days)))
            before_hashes = require_predecessors(
                run.backend,
                EXTRACTION_CLAIMS,
                [{"period_day": d} for d in earlier],
                f"The calibration of {label}",
                "period_day",
                START_DATE,
            )
            before = _claims_of(run.backend, earlier[len(earlier) - len(before_hashes) :])
            rows = calibration_rows(claims, before, granularity, start, label, params)
            part = Written(
                label,
                start.isoformat(),
                {spec.name: ({"period_start": start}, rows)},
                frames_hash(*hashes, "previous", *before_hashes, canonical_json(params.model_dump())),
                facts={
                    spec.name: {
                        "statuses": {str(k): int(v) for k, v in rows["status"].value_counts().sort_index().items()},
                        "drift_alerts": int(rows["drift_alert"].sum()),
                        "previous_period_days": len(before_hashes),
                    }
                },
            )
            in_range = rows["brier_score"].between(0, 1).all() and rows["status"].isin(STATUSES).all()
            part.check(
                spec, "metrics_valid", in_range, "Brier scores in [0, 1] and every status one of " + ", ".join(STATUSES)
            )
            yield part

    return step


def _calibration_shown(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.sort_values(["status", "claim_type", "parser_version"])[
        ["status", "claim_type", "parser_version", "sample_count", "brier_score", "precision_at_high", "drift_alert"]
    ]


def _calibration_asset(granularity, spec, partitions_def, periods, description):
    return table_asset(
        name="kura__" + spec.name,
        group=GROUP,
        owners=OWNERS,
        partitions_def=partitions_def,
        config=CalibrationConfig,
        step=_calibration_step(granularity, spec, periods),
        outputs=[Output(spec, description, shown=_calibration_shown, deps=[CLAIMS_KEY])],
        checks=[Check(spec, "metrics_valid", "Brier scores in [0, 1], statuses known.")],
    )


extraction_calibration_day = _calibration_asset(
    "day",
    EXTRACTION_CALIBRATION_DAY,
    daily_partitions,
    days_in,
    "Per claim class and parser version: Brier score, precision/recall at high confidence, status and drift vs the day before.",
)
extraction_calibration_week = _calibration_asset(
    "week",
    EXTRACTION_CALIBRATION_WEEK,
    weekly_partitions,
    weeks_in,
    "Per claim class and parser version for the ISO week, with drift against the week before.",
)


def _underperforming_partitions(run: Run):
    weeks = previous_hashes(run.backend, EXTRACTION_CALIBRATION_WEEK)
    starts = weeks_in(run.context.partition_time_window)
    require_partitions(
        run.backend,
        EXTRACTION_CALIBRATION_WEEK,
        [{"period_start": s} for s in starts],
        "extraction_underperforming_classes",
    )
    for start in starts:
        rows = underperforming(run.backend.read(EXTRACTION_CALIBRATION_WEEK, where={"period_start": start}))
        yield Written(
            period_key("week", start),
            start.isoformat(),
            {EXTRACTION_UNDERPERFORMING_CLASSES.name: ({"period_start": start}, rows)},
            weeks[partition_key({"period_start": start})][1],
        )


extraction_underperforming_classes = table_asset(
    name="kura__extraction_underperforming_classes",
    group=GROUP,
    owners=OWNERS,
    partitions_def=weekly_partitions,
    step=_underperforming_partitions,
    outputs=[
        Output(
            EXTRACTION_UNDERPERFORMING_CLASSES,
            "The week's claim classes that are not healthy or drifted: the calibration source of the backlog bridge.",
            replayed=False,
            deps=[CALIBRATION_WEEK_KEY],
            shown=lambda rows: rows[["claim_type", "parser_version", "status"]],
        )
    ],
)
