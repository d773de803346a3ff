"""Hand-made raw events and signals for focused tests."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta

import orjson
import pandas as pd

from kura_assets.demo import _signal_data
from kura_assets.signals import RAW_COLUMNS, RETRACTION_EVENT, SIGNAL_EVENT

FACETS = {
    "issue_type": "save_claim_mismatch",
    "invariant_id": "INV-1",
    "agent_version": "a-1",
    "workflow_phase": "save",
    "modality": "chat",
}
_ids = itertools.count()


def raw_event(
    user: str,
    at: datetime,
    signal_type: str = "workflow_violation",
    band: str = "high",
    facets: dict | None = None,
    attributes: dict | None = None,
    captured: datetime | None = None,
    event_id: str | None = None,
    **data_changes,
) -> dict:
    data = _signal_data(
        signal_type, facets or FACETS, band, user, captured or at - timedelta(seconds=5), attributes or {}
    )
    data.update(data_changes)
    n = next(_ids)
    return {
        "source_ref": f"t:{n:06d}",
        "id": event_id or f"evt-{n:06d}",
        "user_id": user,
        "timestamp": at.isoformat() + "Z",
        "event_type": SIGNAL_EVENT,
        "data": orjson.dumps(data).decode(),
        "metadata": "{}",
        "parse_error": None,
        "fallback_time": None,
    }


def retraction(user: str, at: datetime, event_id: str) -> dict:
    n = next(_ids)
    return {
        "source_ref": f"t:{n:06d}",
        "id": f"evt-{n:06d}",
        "user_id": user,
        "timestamp": at.isoformat() + "Z",
        "event_type": RETRACTION_EVENT,
        "data": orjson.dumps({"retracted_event_id": event_id}).decode(),
        "metadata": "{}",
        "parse_error": None,
        "fallback_time": None,
    }


def raw_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=RAW_COLUMNS)


def signal_rows(day: date, spec: list[tuple[str, str, str, str | None]], facets: dict | None = None) -> pd.DataFrame:
    """Signals from (user, signal_type, band, mismatch_severity) tuples, one minute apart."""
    base = datetime.combine(day, datetime.min.time()) + timedelta(hours=8)
    rows = []
    for i, (user, signal_type, band, mismatch) in enumerate(spec):
        rows.append(
            {
                "period_day": pd.Timestamp(day),
                "event_id": f"e{i:04d}",
                "event_time": base + timedelta(minutes=i),
                "pseudo_user_id": f"p_{user}",
                "signal_type": signal_type,
                "category": "friction_signal" if signal_type != "save_claim_mismatch_attempt" else "quality_signal",
                **(facets or FACETS),
                "confidence_band": band,
                "source_cluster_signature": "ls_" + "0" * 20,
                "mismatch_severity": mismatch,
                "attributes": "{}",
            }
        )
    frame = pd.DataFrame(rows)
    frame["event_time"] = frame["event_time"].astype("datetime64[us]")
    return frame
