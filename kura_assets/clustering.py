"""Cross-user clusters of learning signals for one period (pure: signals in, clusters out).

Grouping is explicit, by the signature facets (no hidden semantic merge). Within a cluster
each pseudonymous user contributes at most ``max_events_per_user`` events; clusters below
the support or unique-user thresholds are counted but never published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import duckdb
import orjson
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
    """Score and publish the clusters of one period (see :func:`cluster_periods`)."""
    return cluster_periods(signals, granularity, [period_start], params, {period_start: controls or {}})[period_start]


#: Per-cluster breakdowns: name -> the column counted.
_DETAIL_DIMENSIONS = {"signal_types": "signal_type", "bands": "confidence_band", "phases": "workflow_phase",
                      "sources": "source_cluster_signature"}
#: ISO text of a timestamp as Python's isoformat writes it (microseconds only when there are some).
_ISO_SQL = ("CASE WHEN epoch_us({column}) % 1000000 = 0 THEN strftime({column}, '%Y-%m-%dT%H:%M:%S') "
            "ELSE strftime({column}, '%Y-%m-%dT%H:%M:%S.%f') END")


def _period_sql(granularity: str) -> str:
    return "period_day" if granularity == "day" else "CAST(date_trunc('week', period_day) AS TIMESTAMP)"  # ISO: Monday


def cluster_periods(
    signals: pd.DataFrame,
    granularity: str,
    period_starts: list[date],
    params: ScoringParams | None = None,
    controls: dict[date, dict] | None = None,
) -> dict[date, ClusterResult]:
    """Score and publish the clusters of each period (days, or ISO weeks by their Monday).

    ``signals`` are rows of ``kura.learning_signals`` covering the periods; ``controls`` are
    extra facts per period recorded in every cluster's ``false_positive_controls`` (e.g. how
    many low-confidence events the validation filtered out). All periods are aggregated in
    one DuckDB pass; sums of weights are exact decimals, so parallel aggregation cannot change
    a score's last digit between runs.
    """
    params = params or ScoringParams()
    controls = controls or {}
    severity, impact = weight_sql(params)
    cap = int(params.max_events_per_user)
    needed = ["event_id", "event_time", "pseudo_user_id", "signal_type", "confidence_band", "workflow_phase", "source_cluster_signature"]
    carried = ", ".join(needed + [f for f in params.signature_facets if f not in needed])
    con = duckdb.connect()
    try:
        for name, table in weight_tables(params).items():
            con.register(name, table)
        con.register("signals", signals)
        con.register("periods", pd.DataFrame({"period_start": pd.to_datetime(pd.Series(period_starts)).astype("datetime64[us]")}))
        con.execute("SET preserve_insertion_order = false")  # every result below is ordered explicitly
        facets = ", ".join(params.signature_facets)
        # Hash each distinct facet combination once, not every event.
        con.execute(f"""
            CREATE TEMP TABLE ranked AS  -- narrow on purpose: the window sorts these columns only
            SELECT *, row_number() OVER (PARTITION BY period_start, cluster_signature, pseudo_user_id ORDER BY event_time, event_id) AS nth
            FROM (SELECT {_period_sql(granularity)} AS period_start, {carried}, cluster_signature,
                         CAST({severity} AS DECIMAL(18, 12)) AS severity, CAST({impact} AS DECIMAL(18, 12)) AS impact
                  FROM signals {WEIGHT_JOINS}
                  JOIN (SELECT {facets}, {signature_sql(params.signature_facets)} AS cluster_signature
                        FROM (SELECT DISTINCT {facets} FROM signals)) USING ({facets})) AS s
            SEMI JOIN periods USING (period_start)
        """)
        con.execute(f"CREATE TEMP VIEW kept AS SELECT * FROM ranked WHERE nth <= {cap}")
        agg = con.sql(f"""
            SELECT period_start, cluster_signature, count(*) AS events, count(DISTINCT pseudo_user_id) AS users,
                   CAST(sum(severity) AS DOUBLE) AS severity_sum, CAST(sum(impact) AS DOUBLE) AS impact_sum,
                   min(event_time) AS first_seen, max(event_time) AS last_seen,
                   {", ".join(f"any_value({f}) AS {f}" for f in params.signature_facets)}
            FROM kept GROUP BY period_start, cluster_signature ORDER BY period_start, cluster_signature
        """).df()
        considered = dict(con.sql("SELECT period_start, count(*) FROM ranked GROUP BY ALL").fetchall())
        dropped = {(p, sig): n for p, sig, n in con.sql(
            f"SELECT period_start, cluster_signature, count(*) FROM ranked WHERE nth > {cap} GROUP BY ALL").fetchall()}
        agg["below_support"] = agg["events"] < params.min_support
        agg["below_users"] = ~agg["below_support"] & (agg["users"] < params.min_unique_users)
        pub = agg[~agg["below_support"] & ~agg["below_users"]].reset_index(drop=True)
        con.register("published", pub[["period_start", "cluster_signature"]])
        # Each cluster's details as canonical JSON pieces built in SQL (compact, keys in byte
        # order, as canonical_json writes them), so Python handles one row per cluster.
        details = con.sql(f"""
            WITH k AS (SELECT * FROM kept SEMI JOIN published USING (period_start, cluster_signature)),
            {", ".join(f"{dim} AS (SELECT period_start, cluster_signature, {col} AS v, count(*) AS n FROM k GROUP BY ALL)"
                       for dim, col in _DETAIL_DIMENSIONS.items())},
            examples AS (
                SELECT period_start, cluster_signature, to_json(list(struct_pack(
                           attributes := CAST(attributes AS JSON), captured_at := {_ISO_SQL.format(column="e.event_time")},
                           confidence_band := e.confidence_band, event_id := event_id, signal_type := e.signal_type,
                           workflow_phase := e.workflow_phase) ORDER BY rn)) AS examples
                FROM (SELECT *, row_number() OVER (PARTITION BY period_start, cluster_signature
                                                   ORDER BY severity DESC, event_time, event_id) AS rn FROM k) AS e
                JOIN signals USING (event_id)
                WHERE rn <= {int(params.representative_examples)}
                GROUP BY ALL
            )
            SELECT period_start, cluster_signature, signal_counts, top_signals, top3, bands, phases, sources, examples
            FROM (SELECT period_start, cluster_signature,
                         to_json(map_from_entries(list(struct_pack(k := v, v := n) ORDER BY v))) AS signal_counts,
                         to_json(list(v ORDER BY n DESC, v)) AS top_signals,
                         array_to_string(list_slice(list(v || ' x' || n ORDER BY n DESC, v), 1, 3), ', ') AS top3
                  FROM signal_types GROUP BY ALL)
            JOIN (SELECT period_start, cluster_signature, to_json(map_from_entries(list(struct_pack(k := v, v := n) ORDER BY v))) AS bands
                  FROM bands GROUP BY ALL) USING (period_start, cluster_signature)
            JOIN (SELECT period_start, cluster_signature,
                         to_json(list(struct_pack(events := n, workflow_phase := v) ORDER BY n DESC, v)) AS phases
                  FROM phases GROUP BY ALL) USING (period_start, cluster_signature)
            JOIN (SELECT period_start, cluster_signature, to_json(list(v ORDER BY v)) AS sources FROM sources GROUP BY ALL)
                  USING (period_start, cluster_signature)
            JOIN examples USING (period_start, cluster_signature)
        """).df()
    finally:
        con.close()

    pub = pub.merge(details, on=["period_start", "cluster_signature"], how="left", validate="one_to_one")
    scores = score_clusters(pub["events"].to_numpy(), pub["users"].to_numpy(),
                            pub["severity_sum"].to_numpy() / pub["events"].to_numpy(),
                            pub["impact_sum"].to_numpy() / pub["events"].to_numpy(), params)
    references = {
        "frequency_reference_events": params.frequency_reference_events,
        "reproducibility_reference_users": params.reproducibility_reference_users,
        "reproducibility_reference_events_per_user": params.reproducibility_reference_events_per_user,
    }
    raw = orjson.Fragment
    rows: dict[date, list[dict]] = {start: [] for start in period_starts}
    for a, s in zip(pub.to_dict("records"), scores.to_dict("records")):
        period, sig = a["period_start"].date(), a["cluster_signature"]
        key = period_key(granularity, period)
        facet_values = {f: a[f] for f in params.signature_facets}
        rows[period].append({
            "period_start": a["period_start"],
            "period_granularity": granularity,
            "period_key": key,
            "cluster_signature": sig,
            "signature": canonical_json(facet_values),
            "summary": _summary(facet_values, int(a["events"]), int(a["users"]), a["top3"], granularity, key),
            "score": float(s["score"]),
            "score_factors": canonical_json({
                "frequency": float(s["frequency"]), "severity": float(s["severity"]), "impact": float(s["impact"]),
                "reproducibility": float(s["reproducibility"]), "formula": FORMULA, "references": references,
            }),
            "aggregates": canonical_json({
                "event_count": int(a["events"]), "unique_pseudo_users": int(a["users"]),
                "first_seen": a["first_seen"].isoformat(), "last_seen": a["last_seen"].isoformat(),
                "signal_counts": raw(a["signal_counts"]), "top_signals": raw(a["top_signals"]),
                "confidence_bands": raw(a["bands"]), "source_cluster_signatures": raw(a["sources"]),
            }),
            "affected_workflow_phases": a["phases"],
            "representative_examples": a["examples"],
            "false_positive_controls": canonical_json({
                "min_support": params.min_support, "min_unique_users": params.min_unique_users,
                "max_events_per_user": params.max_events_per_user,
                "dominance_dropped_events": int(dropped.get((a["period_start"], sig), 0)),
                "signature_facets": params.signature_facets,
                **controls.get(period, {}),
                "status": "published",
            }),
        })

    results = {}
    for start in period_starts:
        at = pd.Timestamp(start)
        mine = agg[agg["period_start"] == at]
        stats = {
            "considered": int(considered.get(at, 0)),
            "dominance_dropped": int(sum(n for (p, _), n in dropped.items() if p == at)),
            "candidate_clusters": int(len(mine)),
            "filtered_min_support": int(mine["below_support"].sum()),
            "filtered_min_users": int(mine["below_users"].sum()),
            "clusters_written": len(rows[start]),
        }
        frame = pd.DataFrame(rows[start]) if rows[start] else LEARNING_ISSUE_CLUSTERS_DAY.empty_frame()
        results[start] = ClusterResult(frame, stats)
    return results


def _summary(facets: dict, events: int, users: int, top_signals: str, granularity: str, key: str) -> str:
    what = facets.get("issue_type", "issue")
    where = ", ".join(f"{k}={v}" for k, v in facets.items() if k != "issue_type")
    signals = top_signals
    return f"{what} ({where}): {events} events from {users} users in {granularity} {key}; signals: {signals}"
