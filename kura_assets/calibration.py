"""Extraction calibration (Kura 2zc.5): how well claim confidences match what users later
corrected or withdrew (pure: frames in, frames out).

A claim (``evidence.claim.logged``) is wrong when the event it was extracted from is retracted,
or corrected by a ``set.corrected`` whose changed fields include the claimed field (the part
of the claim type after the last "."). Labels count what was logged up to the end of the
claim's day plus ``label_grace_hours``, so replaying a day reproduces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from kura_assets.signals import RETRACTION_EVENT, register_raw
from platform_core.hashing import canonical_json
from platform_core.privacy import RawIds

CLAIM_EVENT = "evidence.claim.logged"
CORRECTION_EVENT = "set.corrected"
CALIBRATION_EVENTS = (CLAIM_EVENT, CORRECTION_EVENT, RETRACTION_EVENT)
STATUSES = ("healthy", "monitor", "degraded")


class CalibrationParams(BaseModel):
    """Thresholds of the calibration the kura notes specify; every one recorded with each row."""

    high_confidence: float = 0.86
    medium_confidence: float = 0.60
    min_samples: int = 3
    degraded_brier: float = 0.30
    degraded_precision: float = 0.55
    monitor_brier: float = 0.20
    monitor_precision: float = 0.70
    drift_brier_rise: float = 0.06
    label_grace_hours: float = Field(
        48.0, description="Corrections and retractions logged up to this long after the day count."
    )

    def read_window(self, first_day: date, last_day: date | None = None) -> tuple[datetime, datetime]:
        """Row-timestamp window with the days' claims and the corrections and retractions that label them."""
        start = datetime.combine(first_day, datetime.min.time())
        end = datetime.combine(last_day or first_day, datetime.min.time()) + timedelta(days=1)
        return start, end + timedelta(hours=self.label_grace_hours)


@dataclass
class LabelledClaims:
    claims: pd.DataFrame  # one row per valid claim of the days, with its label (1 right, 0 wrong)
    rejects: pd.DataFrame  # claims that could not be used, with the reason


_CLAIM_RULES = [  # (reason, SQL condition, detail) in precedence order
    ("invalid_payload", "data_kind IS DISTINCT FROM 'OBJECT'", "data is not a JSON object"),
    ("invalid_payload", "coalesce(id, '') = ''", "event id is missing"),
    ("invalid_timestamp", "row_time IS NULL", "row timestamp is missing or unparseable"),
    (
        "invalid_claim",
        "coalesce(claim_type, '') = '' OR claim_type_kind IS DISTINCT FROM 'VARCHAR'",
        "data.claim_type is missing",
    ),
    (
        "invalid_claim",
        "confidence IS NULL OR confidence < 0 OR confidence > 1",
        "data.confidence is not a number in [0, 1]",
    ),
    ("invalid_claim", "coalesce(parser_version, '') = ''", "data.provenance.parser_version is missing"),
    ("invalid_claim", "coalesce(source_event_id, '') = ''", "data.lineage.event_id is missing"),
    ("duplicate_event_id", "id_rank > 1", "event id seen earlier in the same window"),
    # Decided after the SQL, by the privacy rule (see label_claims): a claim is keyed by these texts.
    ("invalid_claim", "false", "an id, the claim type or the parser version names a user"),
]
#: A claim's texts that reach the cross-user tables: one naming a user rejects the claim.
_CLAIM_TEXTS = ("event_id", "claim_type", "parser_version", "source_event_id")


def label_claims(
    raw: pd.DataFrame, first_day: date, last_day: date | None = None, params: CalibrationParams | None = None
) -> LabelledClaims:
    """Valid claims of ``first_day..last_day`` with labels, and the invalid ones as rejects.

    ``raw`` holds the rows of :data:`RAW_COLUMNS` in ``params.read_window(first_day, last_day)``.
    """
    params = params or CalibrationParams()
    last_day = last_day or first_day
    rule = "CASE " + " ".join(f"WHEN {c} THEN {i}" for i, (_, c, _) in enumerate(_CLAIM_RULES, 1)) + " ELSE 0 END"
    grace = f"INTERVAL {float(params.label_grace_hours) * 3600} SECOND"
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        raw = register_raw(con, raw)
        con.execute("""
            CREATE TEMP TABLE events AS
            SELECT pos, id, user_id, event_type, source_ref, timezone('UTC', TRY_CAST("timestamp" AS TIMESTAMPTZ)) AS row_time,
                   try(json_type(data)) AS data_kind, data
            FROM raw""")
        result = (
            con.sql(
                f"""
            WITH claims AS (
                SELECT *, CAST(row_time AS DATE) AS period_day,
                       row_number() OVER (PARTITION BY id ORDER BY row_time, source_ref) AS id_rank
                FROM (SELECT pos, id, event_type, source_ref, row_time, data_kind,
                             try(data->>'$.claim_type') AS claim_type, try(json_type(data, '$.claim_type')) AS claim_type_kind,
                             try(CAST(data->>'$.confidence' AS DOUBLE)) AS confidence,
                             try(data->>'$.provenance.parser_version') AS parser_version,
                             try(data->>'$.lineage.event_id') AS source_event_id
                      FROM events WHERE event_type = '{CLAIM_EVENT}')
            ),
            retracted AS (SELECT DISTINCT try(data->>'$.retracted_event_id') AS source_event_id, min(row_time) AS at
                          FROM events WHERE event_type = '{RETRACTION_EVENT}' GROUP BY ALL),
            corrected AS (SELECT try(data->>'$.target_event_id') AS source_event_id, unnest(try(json_keys(data, '$.changed_fields'))) AS field,
                                 row_time AS at
                          FROM events WHERE event_type = '{CORRECTION_EVENT}')
            SELECT c.pos, c.period_day, c.id AS event_id, c.row_time AS claim_time, c.source_ref, c.claim_type,
                   regexp_extract(c.claim_type, '[^.]*$') AS claimed_field, c.parser_version, c.confidence, c.source_event_id,
                   {rule} AS rule,
                   CASE WHEN EXISTS (SELECT 1 FROM retracted r WHERE r.source_event_id = c.source_event_id
                                     AND r.at < CAST(c.period_day AS TIMESTAMP) + INTERVAL 1 DAY + {grace})
                          OR EXISTS (SELECT 1 FROM corrected k WHERE k.source_event_id = c.source_event_id
                                     AND k.field = regexp_extract(c.claim_type, '[^.]*$')
                                     AND k.at < CAST(c.period_day AS TIMESTAMP) + INTERVAL 1 DAY + {grace})
                        THEN 0 ELSE 1 END AS label
            FROM claims c
            WHERE c.period_day BETWEEN $first AND $last
            ORDER BY c.source_ref
        """,
                params={"first": first_day, "last": last_day},
            )
            .to_arrow_table()
            .to_pandas()
        )
    finally:
        con.close()
    result["period_day"] = pd.to_datetime(result["period_day"]).astype("datetime64[us]")
    ids, owners = (
        RawIds(raw["user_id"].dropna().tolist()),
        raw["user_id"].iloc[result["pos"].to_numpy()].set_axis(result.index),
    )
    names_user = pd.concat(
        [ids.scrub(result[c].astype("object"), owners).ne(result[c]) & result[c].notna() for c in _CLAIM_TEXTS], axis=1
    ).any(axis=1)
    result.loc[names_user & (result["rule"] == 0), "rule"] = len(_CLAIM_RULES)
    ok = (result["rule"] == 0).to_numpy()
    claims = result.loc[
        ok,
        [
            "period_day",
            "event_id",
            "claim_time",
            "claim_type",
            "claimed_field",
            "parser_version",
            "confidence",
            "source_event_id",
            "label",
        ],
    ].reset_index(drop=True)
    claims["label"] = claims["label"].astype("int64")
    bad = result[~ok]
    kept = raw.iloc[bad["pos"].to_numpy()].set_axis(bad.index)
    rejects = pd.DataFrame(
        {
            "period_day": bad["period_day"],
            "source_ref": bad["source_ref"],
            "event_id": ids.scrub(bad["event_id"].astype("object"), owners[~ok]),
            "reason": bad["rule"].map(lambda i: _CLAIM_RULES[i - 1][0]),
            "detail": bad["rule"].map(lambda i: _CLAIM_RULES[i - 1][2]),
            "raw_data": ids.scrub(kept["data"].astype("object"), owners[~ok]),
        }
    ).reset_index(drop=True)
    return LabelledClaims(claims, rejects)


def calibration_rows(
    claims: pd.DataFrame,
    previous: pd.DataFrame,
    granularity: str,
    period_start: date,
    period_key: str,
    params: CalibrationParams | None = None,
) -> pd.DataFrame:
    """One row per claim class and parser version of the period, with the drift against ``previous``
    (the labelled claims of the period before; empty when it has none)."""
    params = params or CalibrationParams()
    now, before = _metrics(claims, params), _metrics(previous, params)
    rows = now.merge(
        before[["claim_type", "parser_version", "brier_score"]].rename(columns={"brier_score": "previous_brier"}),
        on=["claim_type", "parser_version"],
        how="left",
    )
    rows["brier_delta"] = (rows["brier_score"] - rows["previous_brier"]).round(6)
    rows["drift_alert"] = (rows["brier_delta"] >= params.drift_brier_rise - 1e-12).fillna(False).astype(bool)
    rows["status"] = [_status(r, params) for r in rows.itertuples()]
    rows.insert(0, "period_start", pd.Timestamp(period_start))
    rows.insert(1, "period_granularity", granularity)
    rows.insert(2, "period_key", period_key)
    rows["thresholds"] = canonical_json(params.model_dump())
    return rows.sort_values(["claim_type", "parser_version"]).reset_index(drop=True)


def _metrics(claims: pd.DataFrame, params: CalibrationParams) -> pd.DataFrame:
    columns = [
        "claim_type",
        "parser_version",
        "sample_count",
        "brier_score",
        "high_confidence_count",
        "precision_at_high",
        "recall_at_high",
        "precision_by_band",
    ]
    if claims.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    c = claims.assign(
        sq=(claims["confidence"] - claims["label"]) ** 2,
        high=claims["confidence"] >= params.high_confidence,
        band=np.select(
            [claims["confidence"] >= params.high_confidence, claims["confidence"] >= params.medium_confidence],
            ["high", "medium"],
            "low",
        ),
    )
    rows = []
    for (claim_type, parser), g in c.groupby(["claim_type", "parser_version"], sort=True):
        high = g[g["high"]]
        right = int(g["label"].sum())
        rows.append(
            {
                "claim_type": claim_type,
                "parser_version": parser,
                "sample_count": len(g),
                "brier_score": round(float(g["sq"].mean()), 6),
                "high_confidence_count": len(high),
                "precision_at_high": round(float(high["label"].mean()), 6) if len(high) else None,
                "recall_at_high": round(float(high["label"].sum()) / right, 6) if right else None,
                "precision_by_band": canonical_json(
                    {b: round(float(x["label"].mean()), 6) for b, x in g.groupby("band", sort=True)}
                ),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def _status(row, params: CalibrationParams) -> str:
    """The kura notes' status rules, in their order."""
    if row.sample_count < params.min_samples or row.high_confidence_count == 0:
        return "monitor"
    precision = row.precision_at_high
    if row.brier_score >= params.degraded_brier or precision < params.degraded_precision:
        return "degraded"
    if row.brier_score >= params.monitor_brier or precision < params.monitor_precision:
        return "monitor"
    return "healthy"


def underperforming(calibration: pd.DataFrame) -> pd.DataFrame:
    """The week's classes that are not healthy or whose Brier score drifted up."""
    return calibration[(calibration["status"] != "healthy") | calibration["drift_alert"]].reset_index(drop=True)
