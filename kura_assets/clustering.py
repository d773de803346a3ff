"""Cross-user clusters of learning signals for one period (pure: signals in, clusters out).

Grouping is explicit, by the signature facets (no hidden semantic merge). Within a cluster
each pseudonymous user contributes at most ``max_events_per_user`` events; clusters below
the support or unique-user thresholds are counted but never published.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta

import duckdb
import pandas as pd

from platform_core.hashing import canonical_json
from kura_assets.scoring import FORMULA, WEIGHT_JOINS, ScoringParams, score_clusters, weight_sql, weight_tables
from kura_assets.tables import LEARNING_ISSUE_CLUSTERS_DAY


def period_key(granularity: str, start: date) -> str:
    """``2026-11-02`` for a day, ``2026-W45`` for the ISO week starting on that Monday."""
    if granularity == "day":
        return start.isoformat()
    iso = start.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def period_days(granularity: str, start: date) -> list[date]:
    return [start + timedelta(days=i) for i in range(1 if granularity == "day" else 7)]


def signature_sql(facets: list[str]) -> str:
    """``ls_`` + 20 hex of SHA-256 over the facet values joined by ``|`` (same as the reference's hashing
    scheme, computed in one place for every backend)."""
    return "'ls_' || left(sha256(concat_ws('|', " + ", ".join(f"coalesce({f}, '')" for f in facets) + ")), 20)"


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
    events the validation filtered out). Aggregation runs in DuckDB; sums of weights are exact
    decimals, so parallel aggregation cannot change a score's last digit between runs.
    """
    params = params or ScoringParams()
    severity, impact = weight_sql(params)
    con = duckdb.connect()
    try:
        for name, table in weight_tables(params).items():
            con.register(name, table)
        con.register("signals", signals)
        needed = ["event_id", "event_time", "pseudo_user_id", "signal_type", "confidence_band", "workflow_phase", "source_cluster_signature"]
        carried = ", ".join(needed + [f for f in params.signature_facets if f not in needed])
        con.execute(f"""
            CREATE TEMP TABLE ranked AS  -- narrow on purpose: the window sorts these columns only
            SELECT *, row_number() OVER (PARTITION BY cluster_signature, pseudo_user_id ORDER BY event_time, event_id) AS nth
            FROM (SELECT {carried}, {signature_sql(params.signature_facets)} AS cluster_signature,
                         CAST({severity} AS DECIMAL(18, 12)) AS severity, CAST({impact} AS DECIMAL(18, 12)) AS impact
                  FROM signals {WEIGHT_JOINS})
        """)
        con.execute(f"CREATE TEMP TABLE kept AS SELECT * FROM ranked WHERE nth <= {int(params.max_events_per_user)}")
        agg = con.sql(f"""
            SELECT cluster_signature, count(*) AS events, count(DISTINCT pseudo_user_id) AS users,
                   CAST(sum(severity) AS DOUBLE) AS severity_sum, CAST(sum(impact) AS DOUBLE) AS impact_sum,
                   min(event_time) AS first_seen, max(event_time) AS last_seen,
                   {", ".join(f"any_value({f}) AS {f}" for f in params.signature_facets)}
            FROM kept GROUP BY cluster_signature ORDER BY cluster_signature
        """).df()
        dropped = dict(con.sql("SELECT cluster_signature, count(*) FROM ranked WHERE nth > "
                               f"{int(params.max_events_per_user)} GROUP BY ALL").fetchall())
        below_support = agg["events"] < params.min_support
        below_users = ~below_support & (agg["users"] < params.min_unique_users)
        pub = agg[~below_support & ~below_users].reset_index(drop=True)
        stats = {
            "considered": int(len(signals)),
            "dominance_dropped": int(sum(dropped.values())),
            "candidate_clusters": int(len(agg)),
            "filtered_min_support": int(below_support.sum()),
            "filtered_min_users": int(below_users.sum()),
            "clusters_written": int(len(pub)),
        }
        if pub.empty:
            return ClusterResult(LEARNING_ISSUE_CLUSTERS_DAY.empty_frame(), stats)
        con.register("published", pub[["cluster_signature"]])
        counts = con.sql("""
            SELECT dim, cluster_signature, value, n FROM (
                SELECT 'signal_type' AS dim, cluster_signature, signal_type AS value, count(*) AS n FROM kept GROUP BY ALL
                UNION ALL SELECT 'confidence_band', cluster_signature, confidence_band, count(*) FROM kept GROUP BY ALL
                UNION ALL SELECT 'workflow_phase', cluster_signature, workflow_phase, count(*) FROM kept GROUP BY ALL
                UNION ALL SELECT 'source', cluster_signature, source_cluster_signature, count(*) FROM kept GROUP BY ALL
            ) SEMI JOIN published USING (cluster_signature)
            ORDER BY dim, cluster_signature, n DESC, value
        """).fetchall()
        examples = con.sql(f"""
            SELECT cluster_signature, event_id, e.event_time, e.signal_type, e.confidence_band, e.workflow_phase, attributes
            FROM (SELECT *, row_number() OVER (PARTITION BY cluster_signature ORDER BY severity DESC, event_time, event_id) AS rn
                  FROM kept SEMI JOIN published USING (cluster_signature)) AS e
            JOIN signals USING (event_id)
            WHERE rn <= {int(params.representative_examples)}
            ORDER BY cluster_signature, rn
        """).fetchall()
    finally:
        con.close()

    by_dim: dict[str, dict[str, dict[str, int]]] = {}
    for dim, sig, value, n in counts:
        by_dim.setdefault(dim, {}).setdefault(sig, {})[value] = int(n)
    example_rows: dict[str, list[dict]] = {}
    for sig, event_id, event_time, signal_type, band, phase, attributes in examples:
        example_rows.setdefault(sig, []).append({
            "event_id": event_id, "captured_at": event_time.isoformat(), "signal_type": signal_type,
            "confidence_band": band, "workflow_phase": phase, "attributes": json.loads(attributes),
        })

    scores = score_clusters(pub["events"].to_numpy(), pub["users"].to_numpy(),
                            pub["severity_sum"].to_numpy() / pub["events"].to_numpy(),
                            pub["impact_sum"].to_numpy() / pub["events"].to_numpy(), params)
    key = period_key(granularity, period_start)
    references = {
        "frequency_reference_events": params.frequency_reference_events,
        "reproducibility_reference_users": params.reproducibility_reference_users,
        "reproducibility_reference_events_per_user": params.reproducibility_reference_events_per_user,
    }
    rows = []
    for a, s in zip(pub.to_dict("records"), scores.to_dict("records")):
        sig = a["cluster_signature"]
        facet_values = {f: a[f] for f in params.signature_facets}
        signal_counts = by_dim["signal_type"][sig]
        top = sorted(signal_counts.items(), key=lambda kv: (-kv[1], kv[0]))
        rows.append({
            "period_start": pd.Timestamp(period_start),
            "period_granularity": granularity,
            "period_key": key,
            "cluster_signature": sig,
            "signature": canonical_json(facet_values),
            "summary": _summary(facet_values, int(a["events"]), int(a["users"]), top, granularity, key),
            "score": float(s["score"]),
            "score_factors": canonical_json({
                "frequency": float(s["frequency"]), "severity": float(s["severity"]), "impact": float(s["impact"]),
                "reproducibility": float(s["reproducibility"]), "formula": FORMULA, "references": references,
            }),
            "aggregates": canonical_json({
                "event_count": int(a["events"]), "unique_pseudo_users": int(a["users"]),
                "first_seen": a["first_seen"].isoformat(), "last_seen": a["last_seen"].isoformat(),
                "signal_counts": signal_counts, "top_signals": [t for t, _ in top],
                "confidence_bands": by_dim["confidence_band"][sig], "source_cluster_signatures": sorted(by_dim["source"][sig]),
            }),
            "affected_workflow_phases": canonical_json(
                [{"workflow_phase": p, "events": n} for p, n in sorted(by_dim["workflow_phase"][sig].items(), key=lambda kv: (-kv[1], kv[0]))]
            ),
            "representative_examples": canonical_json(example_rows.get(sig, [])),
            "false_positive_controls": canonical_json({
                "min_support": params.min_support, "min_unique_users": params.min_unique_users,
                "max_events_per_user": params.max_events_per_user,
                "dominance_dropped_events": int(dropped.get(sig, 0)),
                "signature_facets": params.signature_facets,
                **(controls or {}),
                "status": "published",
            }),
        })
    return ClusterResult(pd.DataFrame(rows), stats)


def _summary(facets: dict, events: int, users: int, top: list[tuple[str, int]], granularity: str, key: str) -> str:
    what = facets.get("issue_type", "issue")
    where = ", ".join(f"{k}={v}" for k, v in facets.items() if k != "issue_type")
    signals = ", ".join(f"{t} x{n}" for t, n in top[:3])
    return f"{what} ({where}): {events} events from {users} users in {granularity} {key}; signals: {signals}"
