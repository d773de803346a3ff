"""The cluster library: named anomaly patterns from a checked-in spec (pure).

``library_spec.json`` names each pattern: a shape of :mod:`minority_report_assets.shapes`, its
cause, the durations and magnitudes it comes in (the matcher's grid; the demo plants from the
same ranges) and, where it is not ``price_cut_otherwise``, the chance that it comes with a price
cut. ``grid_onsets`` are where, around a report's ``window_start``, the matcher lets a pattern
begin. :func:`refit_spec` refits the ranges from labelled history. A pattern's centroid, for the 2-D map, is the mean feature vector of its
noiseless curve from onset to an hour after it ends; the library is versioned by the spec's
``version``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from minority_report_assets.features import feature_vector
from minority_report_assets.shapes import LIBRARY_SHAPES

SPEC_PATH = Path(__file__).with_name("library_spec.json")
TAIL = 12  # quiet buckets after a pattern ends, seen with it


def load_spec(path: Path = SPEC_PATH) -> dict:
    return json.loads(path.read_text())


def pattern_curve(entry: dict) -> np.ndarray:
    """The noiseless sales multiplier of a pattern at the middle of its ranges, then a quiet tail."""
    duration = int(round(np.sqrt(entry["duration_buckets"][0] * entry["duration_buckets"][1])))
    magnitude = float(np.sqrt(entry["magnitude"][0] * entry["magnitude"][1]))
    u = (np.arange(duration + TAIL) + 0.5) / duration
    shape = np.where(u <= 1, LIBRARY_SHAPES[entry["shape"]](np.minimum(u, 1.0)), 0.0)
    return np.maximum(1.0 + magnitude * shape, 0.0)


def library_clusters(spec: dict | None = None) -> pd.DataFrame:
    """``cluster_id, cluster_name, cause_label, shape, centroid`` per pattern (unit centroids, float32)."""
    spec = spec or load_spec()
    rows = []
    for entry in spec["clusters"]:
        curve = pattern_curve(entry)
        centroid = feature_vector(curve, np.ones(len(curve)))
        rows.append(
            {
                "cluster_id": entry["cluster_id"],
                "cluster_name": entry["name"],
                "cause_label": entry["cause"],
                "shape": entry["shape"],
                "centroid": (centroid / np.linalg.norm(centroid)).astype(np.float32),
            }
        )
    return pd.DataFrame(rows)


def library_points(spec: dict | None = None) -> pd.DataFrame:
    """Noiseless variants of every pattern (each duration end, magnitude end, seen from a quarter
    of its length to an hour after it ends): ``point_id, cluster_name, vector``. They anchor the
    map, so a day with few reports still has a map to place them in."""
    spec = spec or load_spec()
    rows = []
    for entry in spec["clusters"]:
        for duration in entry["duration_buckets"]:
            for magnitude in sorted(set(entry["magnitude"])):
                u = (np.arange(duration + TAIL) + 0.5) / duration
                shape = np.where(u <= 1, LIBRARY_SHAPES[entry["shape"]](np.minimum(u, 1.0)), 0.0)
                curve = np.maximum(1.0 + magnitude * shape, 0.0)
                for share in (0.25, 0.5, 1.0):
                    age = max(6, int(round(share * len(curve))))
                    rows.append(
                        {
                            "point_id": f"library:{entry['shape']}:{duration}:{magnitude:g}:{share:g}",
                            "cluster_name": entry["name"],
                            "vector": feature_vector(curve[:age], np.ones(age)).astype(np.float32),
                        }
                    )
    return pd.DataFrame(rows)


def mean_uplift(entry: dict) -> float:
    """The shape's mean uplift over the pattern (a report's total uplift is its magnitude times this)."""
    u = (np.arange(1000) + 0.5) / 1000
    return float(LIBRARY_SHAPES[entry["shape"]](u).mean())


def refit_spec(
    spec: dict, labelled: pd.DataFrame, min_labels: int = 20, quantiles: tuple[float, float] = (0.1, 0.9)
) -> tuple[dict, dict]:
    """The library refit from labelled history, and how many labels each pattern had.

    ``labelled``: one row per labelled report, ``cluster_name``, ``duration_buckets`` (its
    window's length) and ``uplift`` (units sold over expected, minus 1, across the window). A
    pattern with at least ``min_labels`` reports takes the ``quantiles`` of their durations and of
    their magnitudes (uplift over the shape's :func:`mean_uplift`) as its ranges; a fixed
    magnitude stays fixed, and a pattern with fewer labels keeps the checked-in spec's ranges. The version
    is the seed's plus a hash of the labels, so the same labels give the same library.
    """
    out = copy.deepcopy(spec)
    counts = labelled["cluster_name"].value_counts()
    for entry in out["clusters"]:
        mine = labelled[labelled["cluster_name"] == entry["name"]]
        if len(mine) < min_labels:
            continue
        lo, hi = np.quantile(mine["duration_buckets"].to_numpy(dtype=np.float64), quantiles)
        entry["duration_buckets"] = [max(3, int(round(lo))), max(3, int(round(hi)))]
        if entry["magnitude"][0] != entry["magnitude"][1]:
            lo, hi = np.quantile(mine["uplift"].to_numpy(dtype=np.float64) / mean_uplift(entry), quantiles)
            entry["magnitude"] = [round(max(0.1, float(lo)), 4), round(max(0.1, float(hi), float(lo) + 0.01), 4)]
    canonical = labelled.sort_values(list(labelled.columns)).to_csv(index=False)
    out["version"] = f"{spec['version']}+refit-{hashlib.sha256(canonical.encode()).hexdigest()[:10]}"
    return out, {e["name"]: int(counts.get(e["name"], 0)) for e in spec["clusters"]}


def labelled_windows(labels: pd.DataFrame, detected: pd.DataFrame, spec: dict) -> tuple[pd.DataFrame, dict[str, int]]:
    """What :func:`refit_spec` learns from: each label (``report_id, cluster_name``) with its report's
    latest detected-log row as ``cluster_name, duration_buckets, uplift``; and the labels left out,
    by reason (a report labelled twice, a pattern the library does not have, a report the log
    does not have, a report still open)."""
    latest = detected.sort_values(["report_id", "version"]).groupby("report_id").tail(1).set_index("report_id")
    names = {e["name"] for e in spec["clusters"]}
    reasons = pd.Series("", index=labels.index)
    reasons[labels.duplicated("report_id", keep=False)] = "conflicting_or_repeated"
    reasons[(reasons == "") & ~labels["cluster_name"].isin(names)] = "unknown_pattern"
    reasons[(reasons == "") & ~labels["report_id"].isin(latest.index)] = "unknown_report"
    still_open = latest.index[latest["report_status"] == "open"]
    reasons[(reasons == "") & labels["report_id"].isin(still_open)] = (
        "still_open"  # its window is not its whole duration yet
    )
    kept = labels[reasons == ""]
    rows = latest.loc[kept["report_id"]]
    out = pd.DataFrame(
        {
            "cluster_name": kept["cluster_name"].to_numpy(),
            "duration_buckets": ((rows["window_end"] - rows["window_start"]) / pd.Timedelta(minutes=5)).to_numpy(
                dtype=np.int64
            ),
            "uplift": (rows["attributed_sales_total"] / rows["baseline_sales_total"].clip(lower=1e-9) - 1)
            .round(6)
            .to_numpy(),
        }
    )
    left_out = reasons[reasons != ""].value_counts().sort_index()
    return out, {str(k): int(v) for k, v in left_out.items()}
