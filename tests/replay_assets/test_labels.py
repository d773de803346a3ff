"""Labels: deterministic offline keywords, and the LLM client against local fake servers."""

import pytest

from replay_assets.labels import ClusterText, KeywordLabeler, LLMLabeler
from tests.replay_assets.conftest import FakeLLM

CLUSTERS = [
    ClusterText(
        0,
        [
            "User clicked the checkout submit button repeatedly but payment failed with an error",
            "Checkout payment failed after submit, error banner shown",
            "Payment error on checkout submit",
        ],
        3,
        3,
    ),
    ClusterText(
        1,
        [
            "User searched the help center for export settings and could not find them",
            "Looked for export settings in the help center, struggled",
        ],
        2,
        2,
    ),
]


def test_keyword_labels_are_deterministic_and_distinguishing():
    a, b = KeywordLabeler().label(CLUSTERS), KeywordLabeler().label(CLUSTERS)
    assert a == b
    assert a[0].title.startswith("Fix") and any(k in a[0].title for k in ("checkout", "payment", "error"))
    assert a[1].title.startswith("Improve") and "export" in " ".join(a[1].keywords)
    assert not set(a[0].keywords) & set(a[1].keywords)
    assert "3 segments from 3 users" in a[0].description


def test_llm_labels_with_the_schema_and_the_key(fake_llm):
    FakeLLM.mode = "ok"
    labels = LLMLabeler(fake_llm, "sk-test").label(CLUSTERS[:1])
    assert labels[0] == labels[0].__class__(
        "Fix failing checkout payments", "Payments fail after submit.", labels[0].keywords, "llm"
    )
    auth, body = FakeLLM.seen[0]
    assert auth == "Bearer sk-test" and body["response_format"]["json_schema"]["name"] == "task_label"
    assert "Payment error on checkout submit" in body["messages"][0]["content"]


@pytest.mark.parametrize("mode", ["error", "garbage", "slow"])
def test_llm_failures_fall_back_to_keywords(fake_llm, mode):
    FakeLLM.mode = mode
    labels = LLMLabeler(fake_llm, None, timeout_s=0.5).label(CLUSTERS)
    assert {label.source for label in labels.values()} == {"keywords"}
    assert labels == KeywordLabeler().label(CLUSTERS)
