"""The learning-to-backlog bridge: the week's clusters and underperforming extraction classes
-> approval-gated candidates (+ bridge run counts); human decisions, appended to a log; the
current backlog a reviewer opens, rebuilt whenever candidates or decisions change."""

import hashlib
import json
from datetime import datetime, timedelta, timezone

import dagster as dg
import pandas as pd

from kura_assets.assets.calibration import UNDERPERFORMING_KEY
from kura_assets.assets.learning import CLUSTERS_WEEK_KEY, GROUP, OWNERS
from kura_assets.backlog import (
    FROZEN,
    BridgeParams,
    InvalidDecision,
    IssuePayload,
    backlog_state,
    calibration_candidates,
    check_decision,
    cluster_candidates,
    finalize,
    select_candidates,
)
from kura_assets.clustering import period_key
from kura_assets.partitions import weekly_partitions, weeks_in
from kura_assets.tables import (
    EXTRACTION_UNDERPERFORMING_CLASSES,
    LEARNING_BACKLOG,
    LEARNING_BACKLOG_BRIDGE_RUNS,
    LEARNING_BACKLOG_CANDIDATES,
    LEARNING_BACKLOG_DECISIONS,
    LEARNING_ISSUE_CLUSTERS_WEEK,
)
from platform_core.checks import previous_hashes, require_partitions
from platform_core.hashing import canonical_json, content_hash, frames_hash
from platform_core.resources import WAREHOUSE_POOL, WarehouseResource
from platform_core.table_asset import Check, Output, Run, Written, asset_key, column_schema, storage_kind, table_asset
from platform_core.warehouse import partition_key

CANDIDATES_KEY = asset_key(LEARNING_BACKLOG_CANDIDATES)
BRIDGE_RUNS_KEY = asset_key(LEARNING_BACKLOG_BRIDGE_RUNS)
DECISIONS_KEY = asset_key(LEARNING_BACKLOG_DECISIONS)
BACKLOG_KEY = asset_key(LEARNING_BACKLOG)


class BridgeConfig(dg.Config, BridgeParams):
    """Noise filters, caps and label thresholds (see :class:`kura_assets.backlog.BridgeParams`)."""


class DecisionConfig(dg.Config):
    """One human decision on a backlog candidate."""

    candidate_key: str
    decision: str  # approved | dismissed | promoted
    actor: str
    note: str = ""


# Not a table_asset: a decision appends one row to a log (it replaces no partition), and is refused
# before anything is computed.
@dg.asset(
    pool=WAREHOUSE_POOL,
    key=DECISIONS_KEY,
    group_name=GROUP,
    kinds={"pandas", storage_kind()},
    owners=OWNERS,
    metadata={
        "dagster/column_schema": column_schema(LEARNING_BACKLOG_DECISIONS),
        "dagster/table_name": LEARNING_BACKLOG_DECISIONS.qualified_name,
    },
    description="Append-only log of human decisions on backlog candidates (who, what, when, why). "
    "Materialize with run config to approve, dismiss or promote one candidate.",
)
def learning_backlog_decisions(context: dg.AssetExecutionContext, config: DecisionConfig, warehouse: WarehouseResource):
    backend = warehouse.backend()
    state = backlog_state(backend.read(LEARNING_BACKLOG_CANDIDATES), backend.read(LEARNING_BACKLOG_DECISIONS))
    current = dict(zip(state["candidate_key"], state["status"])).get(config.candidate_key)
    try:
        check_decision(current, config.candidate_key, config.decision)
    except InvalidDecision as exc:
        raise dg.Failure(description=f"Decision refused, nothing was written: {exc}") from exc
    if not config.actor.strip():
        raise dg.Failure(description="Decision refused, nothing was written: an actor (who decides) is required")
    decision_id = hashlib.sha256(f"{context.run_id}:{config.candidate_key}:{config.decision}".encode()).hexdigest()[:24]
    row = pd.DataFrame(
        [
            {
                "decision_id": decision_id,
                "candidate_key": config.candidate_key,
                "decision": config.decision,
                "previous_status": current,
                "actor": config.actor,
                "note": config.note or None,
                "decided_at": datetime.now(timezone.utc).replace(
                    tzinfo=None
                ),  # when the human decided: a fact, not computed data
            }
        ]
    )
    added = backend.append(LEARNING_BACKLOG_DECISIONS, row)
    context.log.info(f"{config.actor}: {config.candidate_key} {current} -> {config.decision}")
    return dg.MaterializeResult(
        metadata={
            "candidate_key": config.candidate_key,
            "decision": config.decision,
            "previous_status": current,
            "actor": config.actor,
            "rows_added": added,
        }
    )


def _candidate_partitions(run: Run):
    params = BridgeParams.model_validate(run.config.model_dump())
    backend = run.backend
    cluster_weeks = previous_hashes(backend, LEARNING_ISSUE_CLUSTERS_WEEK)
    class_weeks = previous_hashes(backend, EXTRACTION_UNDERPERFORMING_CLASSES)
    decisions = backend.read(LEARNING_BACKLOG_DECISIONS)
    starts = weeks_in(run.context.partition_time_window)
    for spec in (LEARNING_ISSUE_CLUSTERS_WEEK, EXTRACTION_UNDERPERFORMING_CLASSES):
        require_partitions(backend, spec, [{"period_start": s} for s in starts], "The backlog bridge")
    for start in starts:
        label, part = period_key("week", start), partition_key({"period_start": start})
        week_end = pd.Timestamp(start) + pd.Timedelta(days=7)
        known = decisions[decisions["decided_at"] < week_end]  # what a replay of this week sees
        earlier = backend.read(
            LEARNING_BACKLOG_CANDIDATES, between=("period_start", pd.Timestamp("1970-01-01"), pd.Timestamp(start))
        )
        state = backlog_state(earlier, known)
        existing = dict(zip(state["candidate_key"], state["status"]))
        from_clusters, noisy_clusters = cluster_candidates(
            backend.read(LEARNING_ISSUE_CLUSTERS_WEEK, where={"period_start": start}), params
        )
        from_classes, noisy_classes = calibration_candidates(
            backend.read(EXTRACTION_UNDERPERFORMING_CLASSES, where={"period_start": start}), params
        )
        selected, stats = select_candidates(
            pd.concat([from_clusters, from_classes], ignore_index=True), existing, params
        )
        rows = finalize(selected, existing, params, start, label)
        counts = {
            **stats,
            "considered": stats["considered"] + noisy_clusters + noisy_classes,
            "filtered_as_noise": noisy_clusters + noisy_classes,
        }
        runs = pd.DataFrame(
            [
                {
                    "period_start": pd.Timestamp(start),
                    "period_key": label,
                    **counts,
                    "config": canonical_json(params.model_dump()),
                }
            ]
        )
        input_hash = frames_hash(
            cluster_weeks[part][1],
            class_weeks[part][1],
            content_hash(LEARNING_BACKLOG_DECISIONS, known),
            content_hash(LEARNING_BACKLOG_CANDIDATES, earlier),
            canonical_json(params.model_dump()),
        )
        written = Written(
            label,
            start.isoformat(),
            {
                LEARNING_BACKLOG_CANDIDATES.name: ({"period_start": start}, rows),
                LEARNING_BACKLOG_BRIDGE_RUNS.name: ({"period_start": start}, runs),
            },
            input_hash,
            facts={LEARNING_BACKLOG_BRIDGE_RUNS.name: counts},
        )
        bad_payloads = [k for k, p in zip(rows["candidate_key"], rows["issue_payload"]) if not _valid_payload(p)]
        per_source = rows.groupby("source_type").size().max() if len(rows) else 0
        rewritten = [k for k in rows["candidate_key"] if existing.get(k) in FROZEN]
        guard_ok = (
            per_source <= params.max_per_source
            and len(rows) <= params.max_per_run
            and not rewritten
            and bool(rows["approval_required"].all())
        )
        written.check(
            LEARNING_BACKLOG_CANDIDATES,
            "payloads_valid",
            not bad_payloads,
            f"invalid payloads: {bad_payloads}" if bad_payloads else "all payloads valid",
        )
        written.check(
            LEARNING_BACKLOG_CANDIDATES,
            "guardrails_hold",
            guard_ok,
            f"{len(rows)} written (cap {params.max_per_run}), at most {per_source} per source "
            f"(cap {params.max_per_source}), decided ones rewritten: {rewritten}",
        )
        yield written


def _valid_payload(text: str) -> bool:
    try:
        IssuePayload.model_validate(json.loads(text))
        return True
    except ValueError:
        return False


learning_backlog_candidates = table_asset(
    name="learning_backlog_candidates",
    group=GROUP,
    owners=OWNERS,
    partitions_def=weekly_partitions,
    config=BridgeConfig,
    step=_candidate_partitions,
    outputs=[
        Output(
            LEARNING_BACKLOG_CANDIDATES,
            "The week's ranked, deduplicated, approval-gated backlog candidates with issue payloads.",
            deps=[CLUSTERS_WEEK_KEY, UNDERPERFORMING_KEY, DECISIONS_KEY],
            freshness=dg.FreshnessPolicy.cron(deadline_cron="0 5 * * 2", lower_bound_delta=timedelta(hours=2)),
            shown=lambda rows: rows.sort_values(["priority_score", "candidate_key"], ascending=[False, True])[
                ["priority_label", "priority_score", "source_type", "title", "candidate_key"]
            ],
        ),
        Output(
            LEARNING_BACKLOG_BRIDGE_RUNS,
            "What the week's bridge considered, wrote, filtered, skipped and capped.",
            replayed=False,
            deps=[CLUSTERS_WEEK_KEY, UNDERPERFORMING_KEY],
        ),
    ],
    checks=[
        Check(LEARNING_BACKLOG_CANDIDATES, "payloads_valid", "Every issue_payload validates against IssuePayload."),
        Check(
            LEARNING_BACKLOG_CANDIDATES,
            "guardrails_hold",
            "Caps hold, every candidate needs approval, none rewrites a decided one.",
        ),
    ],
)


def _backlog_state(run: Run):
    state = backlog_state(run.backend.read(LEARNING_BACKLOG_CANDIDATES), run.backend.read(LEARNING_BACKLOG_DECISIONS))
    counts = {str(k): int(v) for k, v in state["status"].value_counts().sort_index().items()}
    yield Written(
        "current", None, {LEARNING_BACKLOG.name: ({}, state)}, "", facts={LEARNING_BACKLOG.name: {"by_status": counts}}
    )


learning_backlog = table_asset(
    name="kura__learning_backlog",
    group=GROUP,
    owners=OWNERS,
    step=_backlog_state,
    outputs=[
        Output(
            LEARNING_BACKLOG,
            "The current state of every backlog candidate with its latest decision: what a reviewer opens.",
            replayed=False,
            deps=[CANDIDATES_KEY, DECISIONS_KEY],
            freshness=dg.FreshnessPolicy.time_window(fail_window=timedelta(days=8)),  # rebuilt after every weekly run
            shown=lambda state: state.sort_values(
                ["status", "priority_score", "candidate_key"], ascending=[True, False, True]
            )[["status", "priority_label", "title", "decided_by", "candidate_key"]],
        )
    ],
    # Refreshed by the decision job and after every weekly run (kura_assets.schedules): one mechanism, no automation condition.
)
