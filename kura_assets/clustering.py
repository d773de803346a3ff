"""Cross-user clusters of learning signals for one period (pure: signals in, clusters out).

Grouping is explicit: by default a cluster is the events sharing their own ``cluster_signature``
(no hidden semantic merge), published under it; ``ScoringParams.group_by = "facets"`` regroups them
by the signature facets under a signature recomputed from those. Within a cluster
each pseudonymous user contributes at most ``max_events_per_user`` events; clusters below
the support or unique-user thresholds are counted but never published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import duckdb
import pandas as pd
import pyarrow as pa

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
    """``ls_`` + 20 hex of SHA-256 over the facet values joined by ``|`` (the kura notes' hashing
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


#: Columns each cluster is broken down by (never null in learning_signals).
_BREAKDOWNS = ("signal_type", "confidence_band", "workflow_phase", "source_cluster_signature")
#: ISO text of a timestamp as Python's isoformat writes it (microseconds only when there are some).
_ISO_SQL = (
    "CASE WHEN epoch_us({column}) % 1000000 = 0 THEN strftime({column}, '%Y-%m-%dT%H:%M:%S') "
    "ELSE strftime({column}, '%Y-%m-%dT%H:%M:%S.%f') END"
)


def _literal(value) -> str:
    """A Python value as a DuckDB literal (structs with sorted keys, like canonical_json)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "struct_pack(" + ", ".join(f'"{k}" := {_literal(v)}' for k, v in sorted(value.items())) + ")"
    raise TypeError(f"no literal for {value!r}")


def _assemble_sql(granularity: str, params: ScoringParams, control_columns: list[str]) -> str:
    """SQL for the published cluster rows; every JSON column canonical (struct fields in sorted order)."""
    facets = params.signature_facets
    what = "facets.issue_type" if "issue_type" in facets else "'issue'"
    where = " || ', ' || ".join(f"'{f}=' || facets.{f}" for f in facets if f != "issue_type") or "''"
    references = {
        "frequency_reference_events": params.frequency_reference_events,
        "reproducibility_reference_users": params.reproducibility_reference_users,
        "reproducibility_reference_events_per_user": params.reproducibility_reference_events_per_user,
    }
    controls = {
        "min_support": _literal(params.min_support),
        "min_unique_users": _literal(params.min_unique_users),
        "max_events_per_user": _literal(params.max_events_per_user),
        "signature_facets": _literal(list(facets)),
        "group_by": _literal(params.group_by),
        "status": "'published'",
        "dominance_dropped_events": "coalesce(d.dropped, 0)",
        **{c: f"period_info.{c}" for c in control_columns},
    }
    return f"""
        SELECT period_start, '{granularity}' AS period_granularity, period_key, cluster_signature,
               to_json(struct_pack({", ".join(f'"{f}" := facets.{f}' for f in sorted(facets))})) AS signature,
               {what} || ' (' || {where} || '): ' || events || ' events from ' || users || ' users in {granularity} '
                   || period_key || '; signals: ' || top3 AS summary,
               score,
               to_json(struct_pack(formula := {_literal(FORMULA)}, frequency := frequency, impact := impact,
                                   "references" := {_literal(references)}, reproducibility := reproducibility,
                                   severity := severity)) AS score_factors,
               to_json(struct_pack(confidence_bands := CAST(bands AS JSON), event_count := events,
                                   first_seen := {_ISO_SQL.format(column="first_seen")},
                                   last_seen := {_ISO_SQL.format(column="last_seen")},
                                   signal_counts := CAST(signal_counts AS JSON),
                                   source_cluster_signatures := CAST(sources AS JSON),
                                   top_signals := CAST(top_signals AS JSON), unique_pseudo_users := users)) AS aggregates,
               phases AS affected_workflow_phases,
               examples AS representative_examples,
               to_json(struct_pack({", ".join(f'"{k}" := {v}' for k, v in sorted(controls.items()))})) AS false_positive_controls
        FROM scored
        JOIN period_facets USING (period_start, ck)
        JOIN details USING (period_start, cluster_signature)
        JOIN period_info USING (period_start)
        LEFT JOIN dropped AS d USING (period_start, cluster_signature)
        ORDER BY period_start, cluster_signature
    """


def _details_sql(params: ScoringParams) -> str:
    """SQL for each published cluster's breakdowns and representative examples, as canonical JSON
    pieces (compact, keys in byte order, as canonical_json writes them), from ``ev`` and ``dims``."""
    key = "period_start, cluster_signature"
    return f"""
            WITH examples AS (
                SELECT {key}, to_json(list(struct_pack(
                           attributes := CAST(attributes AS JSON), captured_at := {_ISO_SQL.format(column="event_time")},
                           confidence_band := confidence_band, event_id := event_id, signal_type := signal_type,
                           workflow_phase := workflow_phase) ORDER BY -severity, event_time, event_id)) AS examples
                FROM (SELECT unnest(min_by(rowid, struct_pack(s := -severity, t := event_time, i := event_id),
                                           {int(params.representative_examples)})) AS rid
                      FROM ev WHERE NOT capped GROUP BY period_start, ck)
                JOIN ev ON ev.rowid = rid JOIN published USING (period_start, ck)
                GROUP BY ALL
            ),
            -- Each breakdown is one unordered list, sorted after: by value, and by count (descending) then value.
            breakdowns AS (
                SELECT {key},
                       list_sort(list(struct_pack(k := signal_type, v := n)) FILTER (signal_type IS NOT NULL)) AS signals,
                       list_sort(list(struct_pack(k := confidence_band, v := n)) FILTER (confidence_band IS NOT NULL)) AS bands,
                       list_sort(list(struct_pack(m := -n, k := workflow_phase)) FILTER (workflow_phase IS NOT NULL)) AS phases,
                       list_sort(list(source_cluster_signature) FILTER (source_cluster_signature IS NOT NULL)) AS sources
                FROM dims GROUP BY ALL
            )
            SELECT {key}, to_json(map_from_entries(signals)) AS signal_counts,
                   to_json(list_transform(ranked, lambda e: e.k)) AS top_signals,
                   array_to_string(list_transform(ranked[1:3], lambda e: e.k || ' x' || -e.m), ', ') AS top3,
                   to_json(map_from_entries(bands)) AS bands,
                   to_json(list_transform(phases, lambda e: struct_pack(events := -e.m, workflow_phase := e.k))) AS phases,
                   to_json(sources) AS sources, examples
            FROM (SELECT *, list_sort(list_transform(signals, lambda e: struct_pack(m := -e.v, k := e.k))) AS ranked FROM breakdowns)
            JOIN examples USING (period_start, cluster_signature)
    """


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
    facets = ", ".join(params.signature_facets)
    # What a cluster is: the events' own signature, or the facets (then the signature is recomputed).
    group = "source_cluster_signature" if params.group_by == "cluster_signature" else facets
    weighted = "signal_type, category, mismatch_severity, confidence_band"
    dimensions = ", ".join(_BREAKDOWNS)
    key = "period_start, cluster_signature"
    con = duckdb.connect()
    try:
        for name, table in weight_tables(params).items():
            con.register(name, table)
        con.register("signals", pa.Table.from_pandas(signals, preserve_index=False))  # Arrow scans in parallel
        con.register(
            "periods", pd.DataFrame({"period_start": pd.to_datetime(pd.Series(period_starts)).astype("datetime64[us]")})
        )
        con.execute("SET preserve_insertion_order = false")  # every result below is ordered explicitly
        # Events are keyed by 64-bit hashes of their cluster key (signature or facets), user and weight
        # inputs, so every join and grouping below runs on integers. The few distinct values of each are hashed on their
        # own first: two values sharing a hash (odds ~1e-13 here) fail the run instead of merging.
        if params.group_by == "cluster_signature":
            con.execute("""CREATE TEMP TABLE sigs AS
                           SELECT DISTINCT hash(source_cluster_signature) AS ck, source_cluster_signature AS cluster_signature
                           FROM signals""")
        else:
            con.execute(f"""CREATE TEMP TABLE sigs AS
                            SELECT hash({facets}) AS ck, {signature_sql(params.signature_facets)} AS cluster_signature
                            FROM (SELECT DISTINCT {facets} FROM signals)""")
        # The facets a cluster shows, from its own period's events: an upstream signature normally
        # fixes them; should it span several, the first in sort order, whatever the events' order
        # or the range run with them.
        con.execute(f"""CREATE TEMP TABLE period_facets AS
                        SELECT {_period_sql(granularity)} AS period_start, hash({group}) AS ck, min(struct_pack({facets})) AS facets
                        FROM signals GROUP BY ALL""")
        con.execute(f"""CREATE TEMP TABLE weights AS
                        SELECT hash({weighted}) AS wk, CAST({severity} AS DECIMAL(18, 12)) AS severity,
                               CAST({impact} AS DECIMAL(18, 12)) AS impact
                        FROM (SELECT DISTINCT {weighted} FROM signals) {WEIGHT_JOINS}""")
        collisions = con.sql("""SELECT (SELECT count(*) - count(DISTINCT ck) FROM sigs) + (SELECT count(*) - count(DISTINCT wk) FROM weights)
                                       + (SELECT count(*) - count(DISTINCT hash(pseudo_user_id)) FROM (SELECT DISTINCT pseudo_user_id FROM signals))
                             """).fetchall()[0][0]
        if collisions:
            raise RuntimeError(
                f"{collisions} 64-bit key collisions among facets, users or weights: cannot cluster safely"
            )
        con.execute(f"""
            CREATE TEMP TABLE ev AS
            SELECT * FROM (
                SELECT {_period_sql(granularity)} AS period_start, hash({group}) AS ck, hash(pseudo_user_id) AS uk,
                       event_id, event_time, {dimensions}, attributes, severity, impact, false AS capped
                FROM signals JOIN weights ON wk = hash({weighted})
            ) SEMI JOIN periods USING (period_start)
        """)
        # Events per user and cluster: the distinct users, and where the dominance cap applies.
        con.execute("CREATE TEMP TABLE pairs AS SELECT period_start, ck, uk, count(*) AS n FROM ev GROUP BY ALL")
        # Dominance cap: only the events of users over the cap in a cluster are ranked; they are
        # marked in place, so the steps below read the kept events with a filter, not a copy.
        con.execute(f"""
            UPDATE ev SET capped = true WHERE rowid IN (
                SELECT rid FROM (
                    SELECT rowid AS rid, row_number() OVER (PARTITION BY period_start, ck, uk ORDER BY event_time, event_id) AS nth
                    FROM ev SEMI JOIN (SELECT * FROM pairs WHERE n > {cap}) USING (period_start, ck, uk))
                WHERE nth > {cap})
        """)
        agg = con.sql(f"""
            SELECT {key}, events, users, CAST(severity_sum AS DOUBLE) AS severity_sum, CAST(impact_sum AS DOUBLE) AS impact_sum,
                   first_seen, last_seen, ck
            FROM (SELECT period_start, ck, count(*) AS events, sum(severity) AS severity_sum, sum(impact) AS impact_sum,
                         min(event_time) AS first_seen, max(event_time) AS last_seen
                  FROM ev WHERE NOT capped GROUP BY ALL)
            JOIN (SELECT period_start, ck, count(*) AS users FROM pairs WHERE least(n, {cap}) > 0 GROUP BY ALL) USING (period_start, ck)
            JOIN sigs USING (ck)
            ORDER BY {key}
        """).df()
        considered = dict(con.sql("SELECT period_start, count(*) FROM ev GROUP BY ALL").fetchall())
        con.execute(
            f"CREATE TEMP TABLE dropped AS SELECT {key}, count(*) AS dropped FROM ev JOIN sigs USING (ck) WHERE capped GROUP BY ALL"
        )
        dropped = {(p, sig): n for p, sig, n in con.sql("SELECT * FROM dropped").fetchall()}
        agg["below_support"] = agg["events"] < params.min_support
        agg["below_users"] = ~agg["below_support"] & (agg["users"] < params.min_unique_users)
        pub = agg[~agg["below_support"] & ~agg["below_users"]].reset_index(drop=True)
        con.register("published", pub[["period_start", "cluster_signature", "ck"]])
        # Breakdowns and examples are built in SQL, so Python handles one row per cluster.
        con.execute(f"""
            CREATE TEMP TABLE dims AS
            SELECT {key}, {dimensions}, n FROM (
                SELECT period_start, ck, {dimensions}, count(*) AS n
                FROM ev SEMI JOIN published USING (period_start, ck) WHERE NOT capped
                GROUP BY GROUPING SETS ({", ".join(f"(period_start, ck, {d})" for d in _BREAKDOWNS)})
            ) JOIN published USING (period_start, ck)
        """)
        con.execute(f"CREATE TEMP TABLE details AS {_details_sql(params)}")
        # The score formula stays in numpy (score_clusters); SQL assembles the published rows.
        scores = score_clusters(
            pub["events"].to_numpy(),
            pub["users"].to_numpy(),
            pub["severity_sum"].to_numpy() / pub["events"].to_numpy(),
            pub["impact_sum"].to_numpy() / pub["events"].to_numpy(),
            params,
        )
        con.register(
            "scored",
            pd.concat(
                [
                    pub[["period_start", "cluster_signature", "ck", "events", "users", "first_seen", "last_seen"]],
                    scores,
                ],
                axis=1,
            ),
        )
        con.register(
            "period_info",
            pd.DataFrame(
                {
                    "period_start": pd.to_datetime(pd.Series(period_starts)).astype("datetime64[us]"),
                    "period_key": [period_key(granularity, p) for p in period_starts],
                    **{
                        c: [controls.get(p, {}).get(c) for p in period_starts]
                        for c in sorted({k for c in controls.values() for k in c})
                    },
                }
            ),
        )
        clusters = con.sql(_assemble_sql(granularity, params, sorted({k for c in controls.values() for k in c}))).df()
    finally:
        con.close()

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
        }
        frame = clusters[clusters["period_start"] == at].reset_index(drop=True)
        stats["clusters_written"] = len(frame)
        results[start] = ClusterResult(frame if len(frame) else LEARNING_ISSUE_CLUSTERS_DAY.empty_frame(), stats)
    return results
