"""One tick of the detected log (MRDL), pure: the open and just-closed reports at ``written_at``.

Events are found again over the lookback window each tick (same data, same events), then
joined to the reports of the ticks before (the previous tick's, and those closed within the
lookback): a report on the same store/SKU that was open, or closed less than ``merge_gap``
buckets before the new deviation began, continues (same ``report_id``,
``first_detected_from`` and earliest ``window_start``, ``version`` + 1). A new report's id is a
hash of store, SKU and where it was first detected from. A report is ``open`` until it has
been quiet for ``close_after`` buckets, then written once more as ``closed``.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from minority_report_assets.detection import DetectionParams, SeriesNoise, find_events, merge_events

BUCKET = pd.Timedelta(minutes=5)
COLUMNS = [
    "report_id",
    "version",
    "store_id",
    "sku",
    "first_detected_from",
    "window_start",
    "window_end",
    "severity_score",
    "impact_estimate",
    "report_status",
    "baseline_sales_total",
    "attributed_sales_total",
]


def by_stake(reports: pd.DataFrame) -> pd.DataFrame:
    """``reports`` with what is at stake first: the units a report is above or below expected
    (``impact_estimate``, either sign), largest first, then by report id."""
    order = np.lexsort((reports["report_id"].to_numpy(), -reports["impact_estimate"].abs().to_numpy()))
    return reports.iloc[order]  # by position: an index with repeated labels is not copied twice


def report_id(store_id: str, sku: str, first_detected_from: pd.Timestamp) -> str:
    return hashlib.sha256(f"{store_id}|{sku}|{pd.Timestamp(first_detected_from).isoformat()}".encode()).hexdigest()[:20]


def detect_tick(
    keys: pd.DataFrame,
    actual: np.ndarray,
    expected: np.ndarray,
    lookback_start: pd.Timestamp,
    written_at: pd.Timestamp,
    previous: pd.DataFrame,
    tick_buckets: int,
    params: DetectionParams | None = None,
    noise: SeriesNoise | None = None,
    observed: np.ndarray | None = None,
) -> pd.DataFrame:
    """MRDL rows (``COLUMNS``) of the tick ending at ``written_at``.

    ``keys``: ``store_id, sku`` per row of ``actual`` / ``expected`` ``(n_series, buckets)``, whose
    first bucket starts at ``lookback_start`` and last ends at ``written_at``. ``previous``: the
    MRDL rows of the earlier ticks within the lookback (at least the previous tick's).
    ``tick_buckets``: buckets per tick (a report closing within the tick is written as closed).
    ``noise``: what the baseline learned of each series (see ``detection.find_events``).
    ``observed``: per bucket, False in a source outage (see :mod:`minority_report_assets.outages`):
    a report's sales totals count the buckets the source delivered, not what stands in for the rest.
    """
    params = params or DetectionParams()
    n_buckets = actual.shape[1]
    seen = np.ones(n_buckets, dtype=bool) if observed is None else observed
    events = merge_events(find_events(actual, expected, params, noise), params.merge_gap)
    # Buckets since the deviation was last seen (a deviation confirmed after it ended is news).
    events = events.assign(quiet=(n_buckets - 1) - np.maximum(events["end"], events["detected_at"]))
    live = events[events["quiet"] < params.close_after + tick_buckets]  # open now, or closed during this tick
    carried = _carried(previous)
    rows = []
    for e in live.itertuples(index=False):
        store, sku = keys["store_id"].iat[e.series], keys["sku"].iat[e.series]
        start_ts = lookback_start + int(e.start) * BUCKET
        end_ts = lookback_start + (int(e.end) + 1) * BUCKET
        prior = carried.get((store, sku))
        if prior is not None and start_ts <= prior["window_end"] + params.merge_gap * BUCKET:
            rid, first, version = prior["report_id"], prior["first_detected_from"], int(prior["version"]) + 1
            window_start = min(prior["window_start"], start_ts)
        else:
            rid, first, version, window_start = report_id(store, sku, start_ts), start_ts, 1, start_ts
        status = "open" if e.quiet < params.close_after else "closed"
        if status == "closed" and prior is None:
            continue  # opened and closed between two ticks' views: nothing new to say
        span = slice(int(e.start), int(e.end) + 1)
        kept = seen[span]
        baseline, attributed = float(expected[e.series, span][kept].sum()), float(actual[e.series, span][kept].sum())
        rows.append(
            {
                "report_id": rid,
                "version": version,
                "store_id": store,
                "sku": sku,
                "first_detected_from": first,
                "window_start": window_start,
                "window_end": end_ts,
                "severity_score": round(min(1.0, float(e.peak) / 10.0), 6),
                "impact_estimate": round(attributed - baseline, 6),
                "report_status": status,
                "baseline_sales_total": round(baseline, 6),
                "attributed_sales_total": round(attributed, 6),
            }
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.sort_values(["store_id", "sku", "window_start"], kind="mergesort").reset_index(drop=True)


def _carried(previous: pd.DataFrame) -> dict[tuple[str, str], dict]:
    """The latest row per store/SKU of the earlier ticks."""
    if previous is None or previous.empty:
        return {}
    latest = (
        previous.sort_values(["store_id", "sku", "window_end", "version"], kind="mergesort")
        .groupby(["store_id", "sku"])
        .tail(1)
    )
    return {(r["store_id"], r["sku"]): r for r in latest.to_dict("records")}
