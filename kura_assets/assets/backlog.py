"""The learning-to-backlog bridge: the week's clusters and underperforming extraction classes
-> approval-gated candidates (+ bridge run counts); human decisions, appended to a log; the
current backlog a reviewer opens, rebuilt whenever candidates or decisions change."""

import hashlib
import json
from datetime import datetime, timezone

import dagster as dg
import pandas as pd

from platform_core.checks import (
    BlockingCheckFailed, CheckOutcome, RunReport, check_results, commit, fail_with_results, prepare, previous_hashes, replay_check, spec_for,
)
from platform_core.hashing import canonical_json, content_hash, frames_hash
from platform_core.resources import WAREHOUSE_POOL, WarehouseResource
from platform_core.warehouse import partition_key
from kura_assets.assets.calibration import UNDERPERFORMING_KEY
from kura_assets.assets.learning import CLUSTERS_WEEK_KEY, GROUP
from kura_assets.backlog import (
    FROZEN, BridgeParams, InvalidDecision, IssuePayload, backlog_state, calibration_candidates, check_decision,
    cluster_candidates, finalize, select_candidates,
)
from kura_assets.clustering import period_key
from kura_assets.partitions import weekly_partitions, weeks_in
from kura_assets.tables import (
    EXTRACTION_UNDERPERFORMING_CLASSES, LEARNING_BACKLOG, LEARNING_BACKLOG_BRIDGE_RUNS, LEARNING_BACKLOG_CANDIDATES,
    LEARNING_BACKLOG_DECISIONS, LEARNING_ISSUE_CLUSTERS_WEEK,
)

CANDIDATES_KEY = dg.AssetKey(["kura", "learning_backlog_candidates"])
BRIDGE_RUNS_KEY = dg.AssetKey(["kura", "learning_backlog_bridge_runs"])
DECISIONS_KEY = dg.AssetKey(["kura", "learning_backlog_decisions"])
BACKLOG_KEY = dg.AssetKey(["kura", "learning_backlog"])


class BridgeConfig(dg.Config, BridgeParams):
    """Noise filters, caps and label thresholds (see :class:`kura_assets.backlog.BridgeParams`)."""


class DecisionConfig(dg.Config):
    """One human decision on a backlog candidate."""

    candidate_key: str
    decision: str  # approved | dismissed | promoted
    actor: str
    note: str = ""


@dg.asset(pool=WAREHOUSE_POOL, key=DECISIONS_KEY, group_name=GROUP, kinds={"python", "table"},
          description="Append-only log of human decisions on backlog candidates (who, what, when, why). "
                      "Materialize with run config to approve, dismiss or promote one candidate.")
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
    row = pd.DataFrame([{
        "decision_id": decision_id, "candidate_key": config.candidate_key, "decision": config.decision,
        "previous_status": current, "actor": config.actor, "note": config.note or None,
        "decided_at": datetime.now(timezone.utc).replace(tzinfo=None),  # when the human decided: a fact, not computed data
    }])
    added = backend.append(LEARNING_BACKLOG_DECISIONS, row)
    context.log.info(f"{config.actor}: {config.candidate_key} {current} -> {config.decision}")
    return dg.MaterializeResult(metadata={"candidate_key": config.candidate_key, "decision": config.decision,
                                          "previous_status": current, "actor": config.actor, "rows_added": added})


@dg.multi_asset(pool=WAREHOUSE_POOL,
    name="learning_backlog_candidates",
    partitions_def=weekly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    specs=[
        dg.AssetSpec(CANDIDATES_KEY, group_name=GROUP, kinds={"python", "table"}, deps=[CLUSTERS_WEEK_KEY, UNDERPERFORMING_KEY, DECISIONS_KEY],
                     description="The week's ranked, deduplicated, approval-gated backlog candidates with issue payloads."),
        dg.AssetSpec(BRIDGE_RUNS_KEY, group_name=GROUP, kinds={"python", "table"}, deps=[CLUSTERS_WEEK_KEY, UNDERPERFORMING_KEY],
                     description="What the week's bridge considered, wrote, filtered, skipped and capped."),
    ],
    check_specs=[
        spec_for("schema_valid", CANDIDATES_KEY, "Columns, types and keys match the table."),
        spec_for("schema_valid", BRIDGE_RUNS_KEY, "Columns, types and keys match the table."),
        spec_for("payloads_valid", CANDIDATES_KEY, "Every issue_payload validates against IssuePayload."),
        spec_for("guardrails_hold", CANDIDATES_KEY, "Caps hold, every candidate needs approval, none rewrites a decided one."),
        spec_for("deterministic_replay", CANDIDATES_KEY, "Same inputs as the last write give the same content hash."),
    ],
)
def learning_backlog_candidates(context: dg.AssetExecutionContext, config: BridgeConfig, warehouse: WarehouseResource):
    params = BridgeParams.model_validate(config.model_dump())
    backend = warehouse.backend()
    cluster_weeks = previous_hashes(backend, LEARNING_ISSUE_CLUSTERS_WEEK)
    class_weeks = previous_hashes(backend, EXTRACTION_UNDERPERFORMING_CLASSES)
    previous = previous_hashes(backend, LEARNING_BACKLOG_CANDIDATES)
    decisions = backend.read(LEARNING_BACKLOG_DECISIONS)
    outcomes, report, runs_report = [], RunReport(), RunReport()
    try:
        for start in weeks_in(context.partition_time_window):
            label, part = period_key("week", start), partition_key({"period_start": start})
            missing = [name for name, parts in (("learning_issue_clusters_week", cluster_weeks),
                                                ("extraction_underperforming_classes", class_weeks)) if part not in parts]
            if missing:
                raise dg.Failure(description=f"The bridge for {label} needs {' and '.join(missing)} of that week; "
                                 "materialize them first (nothing was written).")
            week_end = pd.Timestamp(start) + pd.Timedelta(days=7)
            known = decisions[decisions["decided_at"] < week_end]  # what a replay of this week sees
            earlier = backend.read(LEARNING_BACKLOG_CANDIDATES, between=("period_start", pd.Timestamp("1970-01-01"), pd.Timestamp(start)))
            state = backlog_state(earlier, known)
            existing = dict(zip(state["candidate_key"], state["status"]))
            from_clusters, noisy_clusters = cluster_candidates(backend.read(LEARNING_ISSUE_CLUSTERS_WEEK, where={"period_start": start}), params)
            from_classes, noisy_classes = calibration_candidates(
                backend.read(EXTRACTION_UNDERPERFORMING_CLASSES, where={"period_start": start}), params)
            selected, stats = select_candidates(pd.concat([from_clusters, from_classes], ignore_index=True), existing, params)
            rows = finalize(selected, existing, params, start, label)
            counts = {**stats, "considered": stats["considered"] + noisy_clusters + noisy_classes,
                      "filtered_as_noise": noisy_clusters + noisy_classes}
            runs = pd.DataFrame([{"period_start": pd.Timestamp(start), "period_key": label, **counts,
                                  "config": canonical_json(params.model_dump())}])
            input_hash = frames_hash(cluster_weeks[part][1], class_weeks[part][1], content_hash(LEARNING_BACKLOG_DECISIONS, known),
                                     content_hash(LEARNING_BACKLOG_CANDIDATES, earlier), canonical_json(params.model_dump()))
            w_rows, o_rows = prepare(CANDIDATES_KEY, LEARNING_BACKLOG_CANDIDATES, {"period_start": start}, rows, input_hash)
            w_runs, o_runs = prepare(BRIDGE_RUNS_KEY, LEARNING_BACKLOG_BRIDGE_RUNS, {"period_start": start}, runs, input_hash)
            bad_payloads = [k for k, p in zip(rows["candidate_key"], rows["issue_payload"]) if not _valid_payload(p)]
            per_source = rows.groupby("source_type").size().max() if len(rows) else 0
            rewritten = [k for k in rows["candidate_key"] if existing.get(k) in FROZEN]
            guard_ok = (per_source <= params.max_per_source and len(rows) <= params.max_per_run and not rewritten
                        and bool(rows["approval_required"].all()))
            week_outcomes = [o_rows, o_runs,
                             CheckOutcome(CANDIDATES_KEY, "payloads_valid", label, not bad_payloads, f"invalid payloads: {bad_payloads}" if bad_payloads else "all payloads valid"),
                             CheckOutcome(CANDIDATES_KEY, "guardrails_hold", label, guard_ok,
                                          f"{len(rows)} written (cap {params.max_per_run}), at most {per_source} per source "
                                          f"(cap {params.max_per_source}), decided ones rewritten: {rewritten}")]
            if w_rows is not None:
                week_outcomes.append(replay_check(CANDIDATES_KEY, w_rows, previous))
            outcomes += week_outcomes
            commit(backend, [w for w in (w_rows, w_runs) if w is not None], week_outcomes)
            report.add(label, candidates=[{"key": r.candidate_key, "priority": r.priority_label, "score": r.priority_score, "title": r.title}
                                          for r in rows.itertuples()], content_hash=w_rows.content_hash)
            runs_report.add(label, **counts)
    except BlockingCheckFailed as exc:
        yield from fail_with_results(outcomes, exc)
    yield dg.MaterializeResult(asset_key=CANDIDATES_KEY, metadata=report.metadata())
    yield dg.MaterializeResult(asset_key=BRIDGE_RUNS_KEY, metadata=runs_report.metadata())
    yield from check_results(outcomes)


def _valid_payload(text: str) -> bool:
    try:
        IssuePayload.model_validate(json.loads(text))
        return True
    except ValueError:
        return False


@dg.asset(pool=WAREHOUSE_POOL, key=BACKLOG_KEY, group_name=GROUP, kinds={"python", "table"}, deps=[CANDIDATES_KEY, DECISIONS_KEY],
          automation_condition=dg.AutomationCondition.eager(),
          check_specs=[spec_for("schema_valid", BACKLOG_KEY, "Columns, types and keys match the table.")],
          description="The current state of every backlog candidate with its latest decision: what a reviewer opens.")
def learning_backlog(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    backend = warehouse.backend()
    state = backlog_state(backend.read(LEARNING_BACKLOG_CANDIDATES), backend.read(LEARNING_BACKLOG_DECISIONS))
    write, outcome = prepare(BACKLOG_KEY, LEARNING_BACKLOG, {}, state, "")
    try:
        commit(backend, [write] if write is not None else [], [outcome])
    except BlockingCheckFailed as exc:
        yield from fail_with_results([outcome], exc)
    counts = {str(k): int(v) for k, v in state["status"].value_counts().sort_index().items()}
    yield dg.MaterializeResult(metadata={"candidates": len(state), "by_status": dg.MetadataValue.json(counts),
                                         "content_hash": write.content_hash})
    yield from check_results([outcome])
