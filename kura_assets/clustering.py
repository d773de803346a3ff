"""Cross-user clusters of learning signals for one period (pure: signals in, clusters out).

Grouping is explicit, by the signature facets (no hidden semantic merge). Within a cluster
each pseudonymous user contributes at most ``max_events_per_user`` events; clusters below
the support or unique-user thresholds are counted but never published.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from platform_core.hashing import canonical_json
from kura_assets.scoring import FORMULA, ScoringParams, event_weights, score_clusters
from kura_assets.tables import LEARNING_ISSUE_CLUSTERS_DAY


def period_key(granularity: str, start: date) -> str:
    """``2026-11-02`` for a day, ``2026-W45`` for the ISO week starting on that Monday."""
    if granularity == "day":
        return start.isoformat()
    iso = start.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def period_days(granularity: str, start: date) -> list[date]:
    return [start + timedelta(days=i) for i in range(1 if granularity == "day" else 7)]


def cluster_signatures(signals: pd.DataFrame, facets: list[str]) -> pd.Series:
    """``ls_`` + 20 hex of SHA-256 over the facet values joined by ``|`` (one hash per distinct combo)."""
    joined = signals[facets].astype("object").fillna("").agg("|".join, axis=1) if len(signals) else pd.Series([], dtype="object")
    mapping = {k: "ls_" + hashlib.sha256(k.encode()).hexdigest()[:20] for k in pd.unique(joined)}
    return joined.map(mapping).astype("object")


@dataclass
class ClusterResult:
    clusters: pd.DataFrame
    stats: dict[str, int] = field(default_factory=dict)


def cluster_signals(
    signals: pd.DataFrame,
    granularity: str,
    period_start: date,
    params: ScoringParams | None = None,
    controls: dict | None = None,
) -> ClusterResult:
    """Score and publish the period's clusters.

    ``signals`` are rows of ``kura.learning_signals`` for the period; ``controls`` are extra
    facts recorded in every cluster's ``false_positive_controls`` (e.g. how many low-confidence
    events the validation filtered out).
    """
    params = params or ScoringParams()
    ev = signals.sort_values(["event_time", "event_id"], kind="mergesort").reset_index(drop=True)
    ev["cluster_signature"] = cluster_signatures(ev, params.signature_facets)

    # Dominance cap: a user's first N events (by time, id) in a cluster count, the rest are dropped.
    nth = ev.groupby(["cluster_signature", "pseudo_user_id"], sort=False).cumcount()
    capped = nth >= params.max_events_per_user
    dropped = ev[capped].groupby("cluster_signature").size()
    ev = ev[~capped].reset_index(drop=True)
    ev["severity"], ev["impact"] = event_weights(ev, params)

    g = ev.groupby("cluster_signature", sort=True)
    agg = g.agg(
        events=("event_id", "size"), users=("pseudo_user_id", "nunique"),
        severity=("severity", "mean"), impact=("impact", "mean"),
        first_seen=("event_time", "min"), last_seen=("event_time", "max"),
    )
    agg["dominance_dropped"] = dropped.reindex(agg.index, fill_value=0).astype("int64")
    below_support = agg["events"] < params.min_support
    below_users = ~below_support & (agg["users"] < params.min_unique_users)
    stats = {
        "considered": int(len(signals)),
        "dominance_dropped": int(capped.sum()),
        "candidate_clusters": int(len(agg)),
        "filtered_min_support": int(below_support.sum()),
        "filtered_min_users": int(below_users.sum()),
    }
    pub = agg[~below_support & ~below_users]
    stats["clusters_written"] = int(len(pub))
    if pub.empty:
        return ClusterResult(LEARNING_ISSUE_CLUSTERS_DAY.empty_frame(), stats)

    scores = score_clusters(pub["events"].to_numpy(), pub["users"].to_numpy(), pub["severity"].to_numpy(), pub["impact"].to_numpy(), params)
    scores.index = pub.index
    members = ev[ev["cluster_signature"].isin(pub.index)]
    signal_counts = _counts(members, "signal_type")
    band_counts = _counts(members, "confidence_band")
    phase_counts = _counts(members, "workflow_phase")
    sources = members.groupby("cluster_signature")["source_cluster_signature"].agg(lambda s: sorted(set(s)))
    examples = _examples(members, params.representative_examples)
    facets = members.drop_duplicates("cluster_signature").set_index("cluster_signature")[params.signature_facets]

    key = period_key(granularity, period_start)
    rows = []
    for sig, a in pub.iterrows():
        s = scores.loc[sig]
        top = sorted(signal_counts[sig].items(), key=lambda kv: (-kv[1], kv[0]))
        facet_values = {f: facets.at[sig, f] for f in params.signature_facets}
        rows.append({
            "period_start": pd.Timestamp(period_start),
            "period_granularity": granularity,
            "period_key": key,
            "cluster_signature": sig,
            "signature": canonical_json(facet_values),
            "summary": _summary(facet_values, int(a["events"]), int(a["users"]), top, granularity, key),
            "score": float(s["score"]),
            "score_factors": canonical_json({
                "frequency": float(s["frequency"]), "severity": float(s["severity"]),
                "impact": float(s["impact"]), "reproducibility": float(s["reproducibility"]),
                "formula": FORMULA,
                "references": {
                    "frequency_reference_events": params.frequency_reference_events,
                    "reproducibility_reference_users": params.reproducibility_reference_users,
                    "reproducibility_reference_events_per_user": params.reproducibility_reference_events_per_user,
                },
            }),
            "aggregates": canonical_json({
                "event_count": int(a["events"]), "unique_pseudo_users": int(a["users"]),
                "first_seen": a["first_seen"].isoformat(), "last_seen": a["last_seen"].isoformat(),
                "signal_counts": signal_counts[sig], "top_signals": [t for t, _ in top],
                "confidence_bands": band_counts[sig], "source_cluster_signatures": sources[sig],
            }),
            "affected_workflow_phases": canonical_json(
                [{"workflow_phase": p, "events": n} for p, n in sorted(phase_counts[sig].items(), key=lambda kv: (-kv[1], kv[0]))]
            ),
            "representative_examples": canonical_json(examples.get(sig, [])),
            "false_positive_controls": canonical_json({
                "min_support": params.min_support, "min_unique_users": params.min_unique_users,
                "max_events_per_user": params.max_events_per_user,
                "dominance_dropped_events": int(a["dominance_dropped"]),
                "signature_facets": params.signature_facets,
                **(controls or {}),
                "status": "published",
            }),
        })
    return ClusterResult(pd.DataFrame(rows), stats)


def _counts(members: pd.DataFrame, column: str) -> dict[str, dict[str, int]]:
    sizes = members.groupby(["cluster_signature", column]).size()
    out: dict[str, dict[str, int]] = {}
    for (sig, value), n in sizes.items():
        out.setdefault(sig, {})[value] = int(n)
    return out


def _examples(members: pd.DataFrame, n: int) -> dict[str, list[dict]]:
    """The ``n`` most severe events per cluster (ties: earliest, then by id): no user ids."""
    top = members.sort_values(["cluster_signature", "severity", "event_time", "event_id"], ascending=[True, False, True, True], kind="mergesort")
    top = top.groupby("cluster_signature").head(n)
    out: dict[str, list[dict]] = {}
    for r in top.itertuples(index=False):
        out.setdefault(r.cluster_signature, []).append({
            "event_id": r.event_id, "captured_at": r.event_time.isoformat(), "signal_type": r.signal_type,
            "confidence_band": r.confidence_band, "workflow_phase": r.workflow_phase,
            "attributes": json.loads(r.attributes),
        })
    return out


def _summary(facets: dict, events: int, users: int, top: list[tuple[str, int]], granularity: str, key: str) -> str:
    what = facets.get("issue_type", "issue")
    where = ", ".join(f"{k}={v}" for k, v in facets.items() if k != "issue_type")
    signals = ", ".join(f"{t} x{n}" for t, n in top[:3])
    return f"{what} ({where}): {events} events from {users} users in {granularity} {key}; signals: {signals}"
