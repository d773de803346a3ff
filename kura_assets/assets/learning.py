"""Kura assets: raw events -> validated signals (+ rejects) -> day and week issue clusters.

Each asset is its tables and a step (see :mod:`platform_core.table_asset`): the range's inputs
read and computed in one pass, then each period's frames, checked and committed on their own.
"""

import hashlib
import json
from contextlib import closing
from datetime import timedelta

import dagster as dg
import pandas as pd

from kura_assets.clustering import cluster_periods, period_days, period_key
from kura_assets.contracts import contract_problems
from kura_assets.partitions import daily_partitions, days_in, require_days, weekly_partitions, weeks_in
from kura_assets.scoring import ScoringParams
from kura_assets.signals import SignalRules, validate_staged, validation_database
from kura_assets.sources import source_days, window_rows
from kura_assets.tables import (
    LEARNING_ISSUE_CLUSTER_RUNS,
    LEARNING_ISSUE_CLUSTERS_DAY,
    LEARNING_ISSUE_CLUSTERS_WEEK,
    LEARNING_SIGNAL_REJECTS,
    LEARNING_SIGNALS,
)
from platform_core.checks import previous_hashes
from platform_core.hashing import canonical_json, frames_hash, rows_fingerprint
from platform_core.privacy import People
from platform_core.scratch import scratch_directory
from platform_core.table_asset import (
    SOURCE_RETRY,
    Check,
    Output,
    Run,
    Written,
    asset_key,
    markdown_table,
    source_spec,
    table_asset,
)
from platform_core.tables import TableSpec
from platform_core.warehouse import partition_key

GROUP = "kura"
OWNERS = ["team:kura"]
SIGNALS_KEY = asset_key(LEARNING_SIGNALS)
REJECTS_KEY = asset_key(LEARNING_SIGNAL_REJECTS)
CLUSTERS_DAY_KEY = asset_key(LEARNING_ISSUE_CLUSTERS_DAY)
CLUSTERS_WEEK_KEY = asset_key(LEARNING_ISSUE_CLUSTERS_WEEK)

#: The raw input, outside the graph: the event store the signal and claim assets read.
EVENT_STORE = source_spec(
    ["kura", "event_store"],
    group=GROUP,
    owners=OWNERS,
    kinds={"jsonl", "postgres"},
    description="The kura event store (KURA_EVENTS_URL: the demo generator, a .jsonl file or Postgres table events): "
    "learning.signal.logged, event.retracted, claims, corrections and any other type, one line per event. "
    "Read, never written here; it holds raw user ids.",
    columns=[
        ("id", "TEXT"),
        ("user_id", "TEXT"),
        ("timestamp", "TIMESTAMPTZ"),
        ("event_type", "TEXT"),
        ("data", "JSON"),
        ("metadata", "JSON"),
    ],
    raw_ids=["user_id"],
)


class SignalConfig(dg.Config, SignalRules):
    """Validation rules of learning signals (see :class:`kura_assets.signals.SignalRules`)."""


class ClusterConfig(dg.Config, ScoringParams):
    """Publication thresholds and scoring constants (see :class:`kura_assets.scoring.ScoringParams`)."""


def _signal_partitions(run: Run):
    """The range's events staged and validated in one pass (day windows overlap by the capture lag),
    in a DuckDB file of their own, then each day written batch by batch: a day of millions of
    lines is never in memory whole."""
    default_salt = run.resources.pseudonymizer.warn_if_default(run.log)
    salt = run.resources.pseudonymizer.salt
    rules = SignalRules.model_validate(run.config.model_dump())
    days = days_in(run.context.partition_time_window)
    # What decides the rows (how much memory DuckDB may use does not): part of each day's input hash.
    deciding = rules.model_dump(exclude={"working_memory_mb"})
    rules_and_salt = (canonical_json(deciding), hashlib.sha256(salt.encode()).hexdigest())
    with (
        scratch_directory("kura-signals-") as tmp,
        closing(validation_database(rules, f"{tmp}/day.duckdb")) as con,
    ):
        run.resources.kura_events.stage(con, *rules.read_window(days[0], days[-1]))
        staged = validate_staged(con, days[0], salt, rules, last_day=days[-1])
        by_day = source_days(con)
        people = People(salt, raw_ids=staged.raw_user_ids)
        for day in days:
            label, ledger = day.isoformat(), staged.ledger(day)
            signals, rejects = staged.signal_batches(day), staged.rejects(day)
            accepted, by_reason = staged.counts(day)
            rows = accepted + sum(by_reason.values())
            part = Written(
                label,
                label,
                {
                    LEARNING_SIGNALS.name: ({"period_day": day}, signals),
                    LEARNING_SIGNAL_REJECTS.name: ({"period_day": day}, rejects),
                },
                frames_hash(rows_fingerprint(window_rows(con, *rules.read_window(day))), *rules_and_salt),
                facts={
                    LEARNING_SIGNALS.name: {
                        "default_salt": default_salt,
                        "input_lines": ledger.lines,
                        "retractions": ledger.retractions,
                        "other_event_types": ledger.other_event_types,
                        # What the day was computed from, and where the source's other lines are kept:
                        # the changed-days sensor runs again a day whose lines have changed since.
                        **({"source_lines": by_day.get(label, 0), "source_lines_by_day": by_day} if by_day else {}),
                    },
                    LEARNING_SIGNAL_REJECTS.name: {
                        "rejects_by_reason": by_reason,
                        "top": dg.MetadataValue.md(
                            markdown_table(
                                pd.DataFrame({"reason": list(by_reason), "rejects": list(by_reason.values())})
                            )
                        ),
                    },
                },
                log=f"{label}: {accepted} signals, {rows - accepted} rejects {by_reason}"
                + (f"; the source's other lines are kept on {elsewhere(by_day, label)}" if len(by_day) > 1 else ""),
                people=people,
            )
            part.check(LEARNING_SIGNALS, "every_row_accounted", ledger.accounts_for(rows), ledger.describe(rows))
            yield part


learning_signals = table_asset(
    name="learning_signals",
    group=GROUP,
    owners=OWNERS,
    partitions_def=daily_partitions,
    config=SignalConfig,
    resources=["kura_events", "pseudonymizer"],
    step=_signal_partitions,
    retry_policy=SOURCE_RETRY,
    people=True,
    outputs=[
        Output(
            LEARNING_SIGNALS,
            "The day's learning.signal.logged events, validated and pseudonymized, retractions excluded.",
            deps=[EVENT_STORE.key],
        ),
        Output(
            LEARNING_SIGNAL_REJECTS,
            "Every line of the day that is neither a signal, a retraction nor another event type, with its reason "
            "(raw user id removed).",
            replayed=False,
            deps=[EVENT_STORE.key],
        ),
    ],
    checks=[
        Check(
            LEARNING_SIGNALS,
            "every_row_accounted",
            "Every input line of the day is a signal, a reject, a retraction or "
            "a counted line of another event type: nothing dropped.",
        ),
    ],
)


def elsewhere(by_day: dict[str, int], day: str, shown: int = 5) -> str:
    """The source's lines kept on days other than ``day``, most first: ``2026-11-02: 40, ...``."""
    others = sorted(((n, d) for d, n in by_day.items() if d != day), key=lambda nd: (-nd[0], nd[1]))
    more = f" and {len(others) - shown} more days" if len(others) > shown else ""
    return ", ".join(f"{d}: {n}" for n, d in others[:shown]) + more


def _cluster_step(granularity: str, spec: TableSpec, periods):
    """The day or week clusters: every period of the range clustered in one pass, then each period."""

    def step(run: Run):
        params = ScoringParams.model_validate(run.config.model_dump())
        backend = run.backend
        starts = periods(run.context.partition_time_window)
        signal_parts = previous_hashes(backend, LEARNING_SIGNALS)
        reject_parts = previous_hashes(backend, LEARNING_SIGNAL_REJECTS)
        days = {start: period_days(granularity, start) for start in starts}
        require_days("learning_signals", {period_key(granularity, s): ds for s, ds in days.items()}, signal_parts)
        window = ("period_day", days[starts[0]][0], days[starts[-1]][-1] + timedelta(days=1))
        signals = backend.read(LEARNING_SIGNALS, between=window)
        salt = run.resources.pseudonymizer.salt
        rejects = backend.read(LEARNING_SIGNAL_REJECTS, between=window, columns=["period_day", "reason"])
        by_reason = {}
        for start, ds in days.items():
            in_period = rejects["period_day"].between(pd.Timestamp(ds[0]), pd.Timestamp(ds[-1]))
            by_reason[start] = {
                str(k): int(v) for k, v in rejects.loc[in_period, "reason"].value_counts().sort_index().items()
            }
        results = cluster_periods(
            signals,
            granularity,
            starts,
            params,
            {s: {"low_confidence_filtered_events": r.get("low_confidence_filtered", 0)} for s, r in by_reason.items()},
        )
        config_text = canonical_json(params.model_dump())
        for start in starts:
            label, result, reasons, s = (
                period_key(granularity, start),
                results[start],
                by_reason[start],
                results[start].stats,
            )
            day_keys = [partition_key({"period_day": d}) for d in days[start]]
            input_hash = frames_hash(
                *(signal_parts[k][1] for k in day_keys), *(reject_parts[k][1] for k in day_keys), config_text
            )
            telemetry = {
                "period_granularity": granularity,
                "period_start": pd.Timestamp(start),
                "period_key": label,
                "events_read": s["considered"] + sum(reasons.values()),
                "considered": s["considered"],
                "rejected": sum(reasons.values()),
                "retracted": reasons.get("retracted", 0),
                "low_confidence_filtered": reasons.get("low_confidence_filtered", 0),
                "dominance_dropped": s["dominance_dropped"],
                "candidate_clusters": s["candidate_clusters"],
                "clusters_written": s["clusters_written"],
                "filtered_min_support": s["filtered_min_support"],
                "filtered_min_users": s["filtered_min_users"],
                "rejects_by_reason": canonical_json(reasons),
                "status": "published" if s["clusters_written"] else "no_clusters",
                "config": config_text,
            }
            part = Written(
                label,
                start.isoformat(),
                {
                    spec.name: ({"period_start": start}, result.clusters),
                    LEARNING_ISSUE_CLUSTER_RUNS.name: (
                        {"period_granularity": granularity, "period_start": start},
                        lambda hashes, row=telemetry: pd.DataFrame(
                            [{**row, "clusters_content_hash": hashes[spec.name]}]
                        ),
                    ),
                },
                input_hash,
                facts={spec.name: {**s, "rejects_by_reason": reasons}},
                log=f"{granularity} {label}: {s}",
                # Far from the raw input: the people are the pseudonyms of the period's signals.
                people=People(
                    salt,
                    pseudonyms=signals.loc[
                        signals["period_day"].between(pd.Timestamp(days[start][0]), pd.Timestamp(days[start][-1])),
                        "pseudo_user_id",
                    ],
                ),
            )
            problems = contract_problems(result.clusters)
            agg = [json.loads(x) for x in result.clusters["aggregates"]]
            below = [
                a
                for a in agg
                if a["event_count"] < params.min_support or a["unique_pseudo_users"] < params.min_unique_users
            ]
            part.check(
                spec,
                "contract_valid",
                not problems,
                "; ".join(problems[:5]) or "every cluster matches the output contract",
            )
            part.check(
                spec,
                "publication_thresholds",
                not below,
                f"{len(below)} published clusters below min support {params.min_support} or min users {params.min_unique_users}",
            )
            yield part

    return step


def _top_clusters(clusters: pd.DataFrame) -> pd.DataFrame:
    """The period's clusters by score, with the factors the score is the product of."""
    top = clusters.sort_values(["score", "cluster_signature"], ascending=[False, True])
    factors = pd.DataFrame([json.loads(f) for f in top["score_factors"]], index=top.index)
    return pd.DataFrame(
        {
            "score": top["score"],
            **{f: factors[f] for f in ("frequency", "severity", "impact", "reproducibility")},
            "summary": top["summary"],
        }
    )


def _cluster_asset(
    granularity: str, spec: TableSpec, partitions_def, periods, description: str, freshness: dg.FreshnessPolicy
):
    """The day and week cluster assets: the same logic over different partitions."""
    return table_asset(
        group=GROUP,
        owners=OWNERS,
        partitions_def=partitions_def,
        config=ClusterConfig,
        step=_cluster_step(granularity, spec, periods),
        outputs=[
            Output(spec, description, shown=_top_clusters, freshness=freshness, deps=[SIGNALS_KEY, REJECTS_KEY]),
            Output(
                LEARNING_ISSUE_CLUSTER_RUNS,
                "Run telemetry of each cluster partition, written in the same transaction.",
                replayed=False,
                own_asset=False,
            ),
        ],
        name="kura__" + spec.name,
        resources=["pseudonymizer"],
        people=True,
        checks=[
            Check(spec, "contract_valid", "Every cluster row matches the output contract (pydantic)."),
            Check(
                spec,
                "publication_thresholds",
                "No published cluster is below the minimum support or unique-user thresholds.",
            ),
        ],
    )


learning_issue_clusters_day = _cluster_asset(
    "day",
    LEARNING_ISSUE_CLUSTERS_DAY,
    daily_partitions,
    days_in,
    "Published cross-user issue clusters of the day, scored and explained; telemetry in learning_issue_cluster_runs.",
    # kura_daily runs at 00:30 UTC: yesterday's clusters by 02:00.
    dg.FreshnessPolicy.cron(deadline_cron="0 2 * * *", lower_bound_delta=timedelta(hours=2)),
)
learning_issue_clusters_week = _cluster_asset(
    "week",
    LEARNING_ISSUE_CLUSTERS_WEEK,
    weekly_partitions,
    weeks_in,
    "Published cross-user issue clusters of the ISO week (Monday start); runs only when all seven days exist.",
    # kura_weekly runs Tuesdays 03:00 UTC: the week before by 05:00.
    dg.FreshnessPolicy.cron(deadline_cron="0 5 * * 2", lower_bound_delta=timedelta(hours=2)),
)
