"""Validate and pseudonymize raw ``learning.signal.logged`` events (pure: frames in, frames out).

Every raw row ends up either as one accepted signal or as one reject with its reason;
nothing is dropped. The JSON is parsed and typed by DuckDB in one vectorised pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from platform_core.hashing import canonical_json_text
from platform_core.privacy import pseudonymize, scrub
from kura_assets.scoring import REFERENCE_SEVERITY
from kura_assets.tables import LEARNING_SIGNAL_REJECTS, LEARNING_SIGNALS

SIGNAL_EVENT = "learning.signal.logged"
RETRACTION_EVENT = "event.retracted"
RAW_COLUMNS = ["source_ref", "id", "user_id", "timestamp", "event_type", "data", "metadata", "parse_error", "fallback_time"]
CATEGORIES = ("quality_signal", "friction_signal", "outcome_signal", "correction_signal")
FACETS = ("issue_type", "invariant_id", "agent_version", "workflow_phase", "modality")
CONFIDENCE_BANDS = ("high", "medium", "low")

#: Reject reasons in precedence order: a row gets the first that applies.
REJECT_REASONS = (
    "payload_too_large", "invalid_payload", "duplicate_event_id", "invalid_timestamp", "unknown_signal_type",
    "missing_user_ref", "invalid_signature", "missing_cluster_signature", "retracted", "low_confidence_filtered",
)


class SignalRules(BaseModel):
    """What makes a raw event an accepted learning signal."""

    accepted_signal_types: list[str] = Field(
        default_factory=lambda: sorted(REFERENCE_SEVERITY),
        description="Signal types accepted; others are rejected as unknown_signal_type.",
    )
    exclude_low_confidence: bool = True
    max_payload_bytes: int = 64 * 1024
    max_capture_lag_hours: float = Field(24.0, description="How long before its row timestamp an event may be captured.")
    max_clock_skew_minutes: float = Field(5.0, description="How far after its row timestamp captured_at may lie.")
    retraction_grace_hours: float = Field(24.0, description="Retractions logged up to this long after the day still count.")
    max_kept_text_chars: int = Field(4000, description="Kept raw payloads and attributes are cut to this length.")

    def read_window(self, day: date) -> tuple[datetime, datetime]:
        """Row-timestamp window holding every event of ``day`` and the retractions that count."""
        start = datetime.combine(day, datetime.min.time())
        late = max(self.max_capture_lag_hours, self.retraction_grace_hours)
        return start - timedelta(minutes=self.max_clock_skew_minutes), start + timedelta(days=1, hours=late)


@dataclass
class ValidatedSignals:
    signals: pd.DataFrame
    rejects: pd.DataFrame
    raw_user_ids: list[str]  # for the privacy check: ids that must not appear in any output
    rows_in_day: int  # raw rows (retractions aside) that belong to the day: signals + rejects

    @property
    def rejects_by_reason(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.rejects["reason"].value_counts().sort_index().items()}


_EXTRACT_SQL = """
SELECT
    pos,
    strlen(data) AS data_bytes,
    j IS NOT NULL AS data_valid,
    json_type(j) AS data_kind,
    CAST(json_extract(j, '$.schema_version') AS VARCHAR) AS schema_version,
    j->>'$.signal_type' AS signal_type, json_type(j, '$.signal_type') AS signal_type_kind,
    j->>'$.category' AS category,
    j->>'$.captured_at' AS captured_at_text,
    timezone('UTC', TRY_CAST(j->>'$.captured_at' AS TIMESTAMPTZ)) AS captured_at,
    timezone('UTC', TRY_CAST("timestamp" AS TIMESTAMPTZ)) AS row_time,
    json_type(j, '$.user_ref') AS user_ref_kind,
    j->>'$.user_ref.pseudonymized_user_id' AS user_ref,
    json_type(j, '$.signature') AS signature_kind,
    {facet_columns},
    j->>'$.cluster_signature' AS cluster_signature, json_type(j, '$.cluster_signature') AS cluster_signature_kind,
    j->>'$.attributes.mismatch_severity' AS mismatch_severity,
    CASE WHEN json_type(j, '$.attributes') = 'OBJECT' THEN CAST(j->'$.attributes' AS VARCHAR) ELSE '{{}}' END AS attributes,
    j->>'$.retracted_event_id' AS retracted_event_id
FROM (SELECT *, CASE WHEN json_valid(data) THEN CAST(data AS JSON) END AS j FROM raw)
"""
_FACET_SQL = ", ".join(
    f"j->>'$.signature.{f}' AS {f}, json_type(j, '$.signature.{f}') AS {f}_kind" for f in FACETS + ("confidence_band",)
)


def _extract(raw: pd.DataFrame) -> pd.DataFrame:
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("raw", raw[RAW_COLUMNS].assign(pos=np.arange(len(raw))))
        out = con.execute(_EXTRACT_SQL.format(facet_columns=_FACET_SQL)).df().sort_values("pos")
    finally:
        con.close()
    out.index = raw.index
    return out


def _text(series: pd.Series) -> pd.Series:
    return series.astype("object").where(series.notna(), None)


def validate_signals(raw: pd.DataFrame, day: date, salt: str, rules: SignalRules | None = None) -> ValidatedSignals:
    """Split the raw events read for ``day`` into accepted signals and kept rejects.

    ``raw`` holds the rows of :data:`RAW_COLUMNS` whose row timestamp lies in
    ``rules.read_window(day)``. Signals belong to the day of their event time (``captured_at``
    when valid, else the row timestamp); rows of neighbouring days are left to their own
    partition. Retractions logged before the window's end exclude the events they name.
    """
    rules = rules or SignalRules()
    raw = raw.reset_index(drop=True)
    x = _extract(raw)
    event_type = raw["event_type"]

    retracted_ids = set(x.loc[(event_type == RETRACTION_EVENT) & x["retracted_event_id"].notna(), "retracted_event_id"])
    rows = (event_type != RETRACTION_EVENT) | event_type.isna()
    raw, x = raw[rows], x[rows]

    # Which day each row belongs to: event time, else row time, else the reader's fallback.
    lag = pd.Timedelta(hours=rules.max_capture_lag_hours)
    skew = pd.Timedelta(minutes=rules.max_clock_skew_minutes)
    captured_ok = x["captured_at"].notna() & x["row_time"].notna() & x["captured_at"].between(x["row_time"] - lag, x["row_time"] + skew)
    fallback = pd.to_datetime(raw["fallback_time"]).astype("datetime64[us]")
    event_time = x["captured_at"].where(captured_ok, x["row_time"]).fillna(fallback)
    in_day = event_time.dt.normalize() == pd.Timestamp(day)
    raw, x, event_time, captured_ok = raw[in_day], x[in_day], event_time[in_day], captured_ok[in_day]

    ids = raw["id"]
    has_id = ids.notna() & (ids.astype("object").fillna("").str.len() > 0)
    order = pd.DataFrame({"id": ids, "t": x["row_time"], "ref": raw["source_ref"]}).sort_values(["id", "t", "ref"], kind="mergesort")
    duplicate = (order["id"].duplicated() & has_id.loc[order.index]).reindex(raw.index)

    is_signal = event_type.loc[raw.index] == SIGNAL_EVENT
    facet_kinds_ok = np.logical_and.reduce([x[f"{f}_kind"].eq("VARCHAR") & x[f].fillna("").str.len().gt(0) for f in FACETS])
    captured_given = x["captured_at_text"].notna()
    band = x["confidence_band"]
    user_ids = raw["user_id"]

    conditions = [
        ("payload_too_large", x["data_bytes"].fillna(0) > rules.max_payload_bytes, f"data exceeds {rules.max_payload_bytes} bytes"),
        ("invalid_payload", raw["parse_error"].notna(), "line is not a JSON object"),
        ("invalid_payload", ~is_signal, "event_type is missing or not " + SIGNAL_EVENT),
        ("invalid_payload", ~has_id, "event id is missing"),
        ("invalid_payload", ~x["data_valid"].fillna(False).astype(bool), "data is not valid JSON"),
        ("invalid_payload", x["data_kind"] != "OBJECT", "data is not a JSON object"),
        ("invalid_payload", x["schema_version"] != "1", "data.schema_version is not 1"),
        ("invalid_payload", x["signal_type_kind"] != "VARCHAR", "data.signal_type is missing or not a string"),
        ("invalid_payload", ~x["category"].isin(CATEGORIES), "data.category is not one of " + ", ".join(CATEGORIES)),
        ("duplicate_event_id", duplicate, "event id seen earlier in the same window"),
        ("invalid_timestamp", x["row_time"].isna(), "row timestamp is missing or unparseable"),
        ("invalid_timestamp", captured_given & x["captured_at"].isna(), "data.captured_at is unparseable"),
        ("invalid_timestamp", captured_given & ~captured_ok, "data.captured_at is out of range of the row timestamp"),
        ("unknown_signal_type", ~x["signal_type"].isin(rules.accepted_signal_types), "signal type is not accepted"),
        ("missing_user_ref", user_ids.isna() | (user_ids.astype("object").fillna("") == ""), "row has no user id"),
        ("missing_user_ref", ~x["user_ref"].fillna("").str.fullmatch(r"u_[0-9a-f]{24}"), "data.user_ref.pseudonymized_user_id missing or malformed"),
        ("invalid_signature", x["signature_kind"] != "OBJECT", "data.signature is missing or not an object"),
        ("invalid_signature", ~facet_kinds_ok, "a signature facet is missing or not a string"),
        ("invalid_signature", ~band.isin(CONFIDENCE_BANDS), "signature.confidence_band is not high, medium or low"),
        ("missing_cluster_signature", x["cluster_signature_kind"] != "VARCHAR", "data.cluster_signature is missing"),
        ("invalid_signature", ~x["cluster_signature"].fillna("").str.fullmatch(r"ls_[0-9a-f]{20}"), "data.cluster_signature is malformed"),
        ("retracted", ids.isin(retracted_ids), "retracted by a later event.retracted"),
        ("low_confidence_filtered", (band == "low") & rules.exclude_low_confidence, "confidence band is low"),
    ]
    masks = [np.asarray(m, dtype=bool) for _, m, _ in conditions]
    reason = pd.Series(np.select(masks, [r for r, _, _ in conditions], default=""), index=raw.index)
    detail = pd.Series(np.select(masks, [d for _, _, d in conditions], default=""), index=raw.index)
    accepted = reason == ""

    pseudo = pseudonymize(user_ids.astype("object").where(user_ids.notna() & (user_ids != ""), None), salt)
    period = pd.Timestamp(day)
    ok = accepted.to_numpy()
    a = x[ok]
    signals = pd.DataFrame({
        "period_day": period,
        "event_id": _text(ids[ok]),
        "event_time": event_time[ok].astype("datetime64[us]"),
        "pseudo_user_id": pseudo[ok],
        "signal_type": a["signal_type"], "category": a["category"],
        **{f: a[f] for f in FACETS},
        "confidence_band": a["confidence_band"],
        "source_cluster_signature": a["cluster_signature"],
        "mismatch_severity": _text(a["mismatch_severity"]),
        "attributes": _clip(scrub(_canonical(a["attributes"]), user_ids[ok]), rules.max_kept_text_chars, '{"truncated":true}'),
    })
    bad = ~ok
    rejects = pd.DataFrame({
        "period_day": period,
        "source_ref": _text(raw["source_ref"][bad]),
        "event_id": _text(ids[bad]),
        "event_type": _text(event_type.loc[raw.index][bad]),
        "row_timestamp": _text(raw["timestamp"][bad]),
        "pseudo_user_id": pseudo[bad],
        "reason": reason[bad], "detail": detail[bad],
        "raw_data": _clip(scrub(raw["data"][bad], user_ids[bad]), rules.max_kept_text_chars),
        "raw_metadata": _clip(scrub(raw["metadata"][bad], user_ids[bad]), rules.max_kept_text_chars),
    })
    raw_user_ids = sorted({u for u in user_ids.dropna() if u})
    return ValidatedSignals(
        signals.sort_values(["event_time", "event_id"], kind="mergesort").reset_index(drop=True),
        rejects.sort_values("source_ref", kind="mergesort").reset_index(drop=True),
        raw_user_ids,
        rows_in_day=len(raw),
    )


def _canonical(texts: pd.Series) -> pd.Series:
    """Sorted-key compact JSON: the same attributes give the same text whatever store they came from."""
    out = [canonical_json_text(t) for t in texts]
    return pd.Series(out, index=texts.index, dtype="object")


def _clip(texts: pd.Series, limit: int, too_long: str | None = None) -> pd.Series:
    """Cut kept text to ``limit`` characters (a marker says so), or replace it by ``too_long``."""
    def clip(t):
        if not isinstance(t, str) or len(t) <= limit:
            return t
        return too_long if too_long is not None else t[:limit] + f"...[truncated {len(t) - limit} chars]"
    return pd.Series([clip(t) for t in texts], index=texts.index, dtype="object")


def empty_signals() -> pd.DataFrame:
    return LEARNING_SIGNALS.empty_frame()


def empty_rejects() -> pd.DataFrame:
    return LEARNING_SIGNAL_REJECTS.empty_frame()
