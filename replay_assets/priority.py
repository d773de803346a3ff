"""Task priority (the design note's formula) measured from the tick's time, with its factors (pure)."""

from __future__ import annotations

import numpy as np
import pandas as pd

HALF_LIFE_DAYS = 7.0


def priority(
    distinct_users, mean_impact, last_occurrence, as_of: pd.Timestamp, half_life_days: float = HALF_LIFE_DAYS
) -> pd.DataFrame:
    """``ln(1 + users) + 0.5 * impact + 0.3 * 0.5 ** (days since last occurrence / half-life)``.

    ``as_of`` is the tick's end, never the wall clock, so a replayed tick scores the same.
    """
    users = np.asarray(distinct_users, dtype="float64")
    impact = np.asarray(mean_impact, dtype="float64")
    age_days = np.maximum(
        0.0, (pd.Timestamp(as_of) - pd.to_datetime(pd.Series(last_occurrence))).dt.total_seconds().to_numpy() / 86400
    )
    factors = pd.DataFrame(
        {
            "users_factor": np.log1p(users),
            "impact_factor": 0.5 * impact,
            "recency_factor": 0.3 * np.power(0.5, age_days / half_life_days),
        }
    )
    factors["priority"] = factors.sum(axis=1).round(6)
    return factors.round(6)
