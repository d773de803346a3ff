import pandas as pd
import pytest

from replay_assets.impact import categories, impact_score, impact_scores
from replay_assets.priority import priority


@pytest.mark.parametrize(
    "text, expected",
    [
        ("User clicked submit repeatedly but nothing happened, then a 500 error appeared", ["failure", "confusion"]),
        ("Checkout failed with a timeout; the user gave up and left the page", ["failure", "abandonment"]),
        ("User opened the left sidebar and browsed settings", []),  # peer false positive: "left"
        ("User closed the modal after saving the profile", []),  # peer false positive: "closed"
        ("Form submitted with no errors and the confirmation showed", []),  # peer false positive: negated
        ("The export did not fail this time", []),
        ("User struggled to find the billing tab", ["confusion"]),
        (
            "Terrorists? No: the user read the error message about a bug",
            ["failure"],
        ),  # 'error' matches on its own, not inside words
    ],
)
def test_impact_categories(text, expected):
    assert categories(text) == expected


def test_impact_is_capped_and_vectorised():
    text = "crash, confused, abandoned, error, struggled, gave up"
    assert impact_score(text) == pytest.approx(0.9)
    assert impact_scores(pd.Series(["error", None, "all good"])).tolist() == [0.4, 0.0, 0.0]


def test_priority_uses_the_tick_time_not_the_wall_clock():
    as_of = pd.Timestamp("2026-11-20 12:00")
    f = priority([9, 9], [0.4, 0.4], [as_of, as_of - pd.Timedelta(days=7)], as_of)
    assert f["recency_factor"].tolist() == [0.3, 0.15]
    assert f.loc[0, "priority"] == pytest.approx(2.302585 + 0.2 + 0.3, abs=1e-6)
