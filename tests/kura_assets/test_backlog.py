"""The learning-to-backlog bridge: reference priorities, noise filters, dedupe and caps, the
approval lifecycle, and decisions through Dagster (refusals write nothing, replays are exact)."""

from datetime import datetime

import dagster as dg
import pandas as pd
import pytest

from kura_assets import demo
from kura_assets.assets import (
    extraction_calibration_week,
    extraction_claims,
    extraction_underperforming_classes,
    learning_backlog,
    learning_backlog_candidates,
    learning_backlog_decisions,
    learning_issue_clusters_week,
)
from kura_assets.backlog import (
    BridgeParams,
    InvalidDecision,
    backlog_state,
    calibration_priority,
    candidate_key,
    check_decision,
    cluster_priority,
    finalize,
    priority_label,
    select_candidates,
)
from kura_assets.tables import (
    LEARNING_BACKLOG,
    LEARNING_BACKLOG_BRIDGE_RUNS,
    LEARNING_BACKLOG_CANDIDATES,
    LEARNING_BACKLOG_DECISIONS,
)
from platform_core.warehouse import backend_for
from tests.kura_assets.test_assets import check_evaluations, clusters_day, resources, run, signals_asset

PARAMS = BridgeParams()
DAYS = demo.demo_days()
W45, W46 = DAYS[0], DAYS[7]


def test_reference_priorities_and_labels():
    assert cluster_priority([0.362604], [6], [2]).tolist() == [0.417604]
    assert calibration_priority([0.35], [None], [20], [1.0]).tolist() == [0.945]  # 0.45 + 0.35 * 0.5 + 0.20 + 0.12
    assert calibration_priority([0.0875], [0.9], [5], [0.0]).tolist() == [
        pytest.approx(0.1975)
    ]  # 0.1125 + 0.035 + 0.05
    assert [priority_label(p, PARAMS) for p in (0.6, 0.59, 0.35, 0.34)] == ["P1", "P2", "P2", "P3"]
    assert candidate_key("cluster", "ls_x") == candidate_key("cluster", "ls_x") != candidate_key("calibration", "ls_x")


def candidates(n_clusters: int, n_classes: int) -> pd.DataFrame:
    rows = [
        {"source_type": "cluster", "source_ref": f"ls_{i:020d}", "priority_score": round(0.9 - i / 100, 6)}
        for i in range(n_clusters)
    ]
    rows += [
        {"source_type": "calibration", "source_ref": f"c{i}:p:degraded", "priority_score": round(0.85 - i / 100, 6)}
        for i in range(n_classes)
    ]
    frame = pd.DataFrame(rows)
    frame.insert(0, "candidate_key", [candidate_key(s, r) for s, r in zip(frame["source_type"], frame["source_ref"])])
    return frame


def test_selection_dedupes_orders_and_caps():
    pool = candidates(10, 8)
    pool = pd.concat([pool, pool.iloc[[0]].assign(priority_score=0.1)], ignore_index=True)  # same key, lower priority
    selected, stats = select_candidates(pool, {}, PARAMS)
    assert stats["duplicates_in_run"] == 1 and stats["written"] == 12
    assert selected.groupby("source_type").size().to_dict() == {"calibration": 6, "cluster": 6}
    assert selected["priority_score"].is_monotonic_decreasing
    assert selected.iloc[0]["priority_score"] == 0.9, "the duplicate kept its higher priority"
    assert stats["limited_by_source_cap"] == 6 and stats["limited_by_run_cap"] == 0


def test_decided_candidates_are_skipped_and_dismissed_ones_recur():
    pool = candidates(3, 0)
    keys = pool["candidate_key"].tolist()
    existing = {keys[0]: "approved", keys[1]: "dismissed", keys[2]: "promoted"}
    selected, stats = select_candidates(pool, existing, PARAMS)
    assert selected["candidate_key"].tolist() == [keys[1]] and stats["skipped_already_decided"] == 2
    row = finalize(
        selected.assign(
            source_period_key="2026-W46",
            title="Fix a recurring thing",
            root_cause_hypothesis="h",
            impacted_metrics=[["m"]],
            suggested_updates=[{"invariants": []}],
        ),
        existing,
        PARAMS,
        W46,
        "2026-W46",
    ).iloc[0]
    assert (row["previous_status"], row["status"], row["approval_required"]) == ("dismissed", "candidate", True)


def proposal(week: datetime, key: str, title: str) -> dict:
    return {
        "period_start": pd.Timestamp(week),
        "period_key": str(week.date()),
        "candidate_key": key,
        "source_type": "cluster",
        "source_period_key": "w",
        "source_ref": "r",
        "priority_score": 0.5,
        "priority_label": "P2",
        "title": title,
        "root_cause_hypothesis": "h",
        "impacted_metrics": "[]",
        "suggested_updates": "{}",
        "promotion_checklist": "[]",
        "issue_payload": "{}",
        "approval_required": True,
    }


def decision(key: str, what: str, at: str) -> dict:
    return {
        "decision_id": f"{key}-{what}",
        "candidate_key": key,
        "decision": what,
        "previous_status": "candidate",
        "actor": "jz",
        "note": None,
        "decided_at": pd.Timestamp(at),
    }


def test_lifecycle_freezes_approved_content_and_reopens_dismissed_ones():
    w1, w2, w3 = datetime(2026, 11, 2), datetime(2026, 11, 9), datetime(2026, 11, 16)  # proposals count at week end
    proposals = pd.DataFrame(
        [
            proposal(w1, "a", "A first"),
            proposal(w1, "d", "D first"),
            proposal(w2, "a", "A second"),
            proposal(w2, "d", "D second"),
        ]
    )
    decisions = pd.DataFrame([decision("a", "approved", "2026-11-17"), decision("d", "dismissed", "2026-11-17")])
    state = backlog_state(proposals, decisions).set_index("candidate_key")
    assert (state.loc["a", "status"], state.loc["a", "title"]) == ("approved", "A second")
    assert (state.loc["d", "status"], state.loc["d", "title"]) == ("dismissed", "D second")
    later = pd.concat([proposals, pd.DataFrame([proposal(w3, "a", "A third"), proposal(w3, "d", "D third")])])
    state = backlog_state(later, decisions).set_index("candidate_key")
    assert (state.loc["a", "status"], state.loc["a", "title"]) == ("approved", "A second"), (
        "approved is never rewritten"
    )
    assert (state.loc["d", "status"], state.loc["d", "title"], state.loc["d", "weeks_proposed"]) == (
        "candidate",
        "D third",
        3,
    )


@pytest.mark.parametrize(
    "current, decision_, message",
    [
        (None, "approved", "no backlog candidate has the key"),
        ("candidate", "promoted", "can become approved, dismissed, not promoted"),
        ("dismissed", "promoted", "comes back only if it recurs"),
        ("candidate", "maybe", "decision must be one of"),
    ],
)
def test_invalid_decisions_are_refused(current, decision_, message):
    with pytest.raises(InvalidDecision, match=message):
        check_decision(current, "cluster:x:0123456789abcdef", decision_)


@pytest.fixture(scope="module")
def bridged(tmp_path_factory) -> str:
    url = f"duckdb:///{tmp_path_factory.mktemp('bridge')}/w.duckdb"
    assert run([signals_asset, clusters_day, extraction_claims], url, DAYS[0], DAYS[-1]).success
    weekly = [
        learning_issue_clusters_week,
        extraction_calibration_week,
        extraction_underperforming_classes,
        learning_backlog_candidates,
    ]
    result = run(weekly, url, W45, W46)
    assert result.success and all(e.passed for e in check_evaluations(result))
    assert dg.materialize([learning_backlog], resources=resources(url)).success
    return url


def decide(url: str, key: str, what: str, actor: str = "jz") -> dg.ExecuteInProcessResult:
    config = {
        "ops": {
            "kura__learning_backlog_decisions": {"config": {"candidate_key": key, "decision": what, "actor": actor}}
        }
    }
    return dg.materialize(
        [learning_backlog_decisions, learning_backlog],
        resources=resources(url),
        run_config=config,
        raise_on_error=False,
    )


def test_the_demo_week_yields_ranked_gated_candidates(bridged):
    week = backend_for(bridged).read(LEARNING_BACKLOG_CANDIDATES, where={"period_start": W46})
    assert len(week) == 9 and week["approval_required"].all()  # 6 planted week clusters, 3 calibration classes
    sources = dict(zip(week["source_ref"].str.split(":").str[0], week["priority_label"]))
    assert sources["set.reps"] == "P1" and sources["session.notes"] == "P2"
    runs = backend_for(bridged).read(LEARNING_BACKLOG_BRIDGE_RUNS, where={"period_start": W46}).iloc[0]
    assert (runs["written"], runs["skipped_already_decided"]) == (9, 0)


def test_decisions_flow_through_the_job_and_refusals_write_nothing(bridged):
    backlog = backend_for(bridged).read(LEARNING_BACKLOG).set_index("candidate_key")
    key = backlog.index[backlog["title"].str.contains("set.reps")][0]
    other = backlog.index[backlog["title"].str.contains("session.notes")][0]
    assert decide(bridged, key, "approved").success
    assert decide(bridged, key, "promoted").success
    assert decide(bridged, other, "dismissed").success
    refused = decide(bridged, other, "promoted")
    assert not refused.success
    assert (
        "comes back only if it recurs"
        in refused.failure_data_for_node("kura__learning_backlog_decisions").error.message
    )
    assert not decide(bridged, "cluster:nope:0123456789abcdef", "approved").success
    log = backend_for(bridged).read(LEARNING_BACKLOG_DECISIONS)
    assert log["decision"].tolist() == ["approved", "promoted", "dismissed"] and set(log["actor"]) == {"jz"}
    state = backend_for(bridged).read(LEARNING_BACKLOG).set_index("candidate_key")
    assert (state.loc[key, "status"], state.loc[other, "status"]) == ("promoted", "dismissed")


def test_replaying_a_week_ignores_decisions_made_after_it(bridged):
    before = backend_for(bridged).read(LEARNING_BACKLOG_CANDIDATES, where={"period_start": W46})
    assert run([learning_backlog_candidates], bridged, W46).success  # decisions above were made after the week ended
    after = backend_for(bridged).read(LEARNING_BACKLOG_CANDIDATES, where={"period_start": W46})
    pd.testing.assert_frame_equal(
        before.sort_values("candidate_key").reset_index(drop=True),
        after.sort_values("candidate_key").reset_index(drop=True),
    )


def test_a_decision_inside_the_week_is_honoured_by_that_week(tmp_path, bridged):
    import shutil

    copy = tmp_path / "w.duckdb"
    shutil.copy(bridged[len("duckdb:///") :], copy)
    url = f"duckdb:///{copy}"
    first_week = backend_for(url).read(LEARNING_BACKLOG_CANDIDATES, where={"period_start": W45})
    key = first_week.sort_values("priority_score", ascending=False)["candidate_key"].iloc[0]
    backend_for(url).append(LEARNING_BACKLOG_DECISIONS, pd.DataFrame([decision(key, "approved", "2026-11-11")]))
    assert run([learning_backlog_candidates], url, W46).success
    week = backend_for(url).read(LEARNING_BACKLOG_CANDIDATES, where={"period_start": W46})
    assert key not in set(week["candidate_key"])
    runs = backend_for(url).read(LEARNING_BACKLOG_BRIDGE_RUNS, where={"period_start": W46}).iloc[0]
    assert runs["skipped_already_decided"] == 1


def test_permuted_inputs_give_the_same_candidates():
    pool = candidates(9, 5)
    a, stats_a = select_candidates(pool, {}, PARAMS)
    b, stats_b = select_candidates(pool.sample(frac=1.0, random_state=11), {}, PARAMS)
    pd.testing.assert_frame_equal(a, b)
    assert stats_a == stats_b


def test_bridge_constants_come_from_run_config_and_are_recorded(tmp_path, bridged):
    import shutil

    copy = tmp_path / "w.duckdb"
    shutil.copy(bridged[len("duckdb:///") :], copy)
    url = f"duckdb:///{copy}"
    config = {"ops": {"learning_backlog_candidates": {"config": {"max_per_run": 3, "cluster_min_score": 0.5}}}}
    assert run([learning_backlog_candidates], url, W46, run_config=config).success
    week = backend_for(url).read(LEARNING_BACKLOG_CANDIDATES, where={"period_start": W46})
    runs = backend_for(url).read(LEARNING_BACKLOG_BRIDGE_RUNS, where={"period_start": W46}).iloc[0]
    assert (
        len(week) == 3 and runs["limited_by_run_cap"] > 0 and runs["filtered_as_noise"] == 2
    )  # clarification_loop 0.477, workflow_skip_medium 0.363 < 0.5
    assert '"max_per_run":3' in runs["config"]


def test_the_command_line_decides_shows_and_exports(tmp_path, bridged):
    import json
    import os
    import shutil
    import subprocess
    import sys

    copy = tmp_path / "w.duckdb"
    shutil.copy(bridged[len("duckdb:///") :], copy)
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "WAREHOUSE_URL": f"duckdb:///{copy}", "DAGSTER_HOME": str(home)}
    backlog = backend_for(f"duckdb:///{copy}").read(LEARNING_BACKLOG)
    key = backlog.loc[backlog["status"] == "candidate", "candidate_key"].iloc[0]

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "kura_assets.cli", *args], env=env, capture_output=True, text=True)

    assert cli("decide", key, "approved", "--actor", "reviewer-1", "--note", "real issue").returncode == 0
    refused = cli("decide", key, "dismissed", "--actor", "reviewer-1")
    assert refused.returncode == 2 and "can become promoted, not dismissed" in refused.stderr
    assert "Traceback" not in refused.stderr and refused.stderr.strip().splitlines()[-1].startswith(
        "Decision refused"
    ), "one line, the reason"
    assert "approved  " in cli("backlog").stdout
    out = tmp_path / "export"
    assert cli("export", str(out)).returncode == 0
    (exported,) = out.glob("*.json")
    payload = json.loads(exported.read_text())
    assert (
        payload["candidate_key"] == key
        and payload["approval_required"] is True
        and payload["priority"] in ("P1", "P2", "P3")
    )
    (approval,) = [s for s in payload["promotion_checklist"] if s["step"] == "human_approval"]
    assert approval["done"] is True and approval["by"] == "reviewer-1" and approval["at"], approval
