"""The kura graph through Dagster: checks, replay, refusals, privacy, single-run ranges, schedules."""

import json
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from kura_assets import demo
from kura_assets import tables as kura_tables
from kura_assets.assets import (
    CLUSTERS_DAY_KEY,
    SIGNALS_KEY,
    learning_issue_clusters_day,
    learning_issue_clusters_week,
    learning_signals,
)
from kura_assets.definitions import defs
from kura_assets.resources import KuraEventSource
from kura_assets.tables import (
    LEARNING_ISSUE_CLUSTER_RUNS,
    LEARNING_ISSUE_CLUSTERS_DAY,
    LEARNING_ISSUE_CLUSTERS_WEEK,
    LEARNING_SIGNALS,
)
from platform_core.privacy import find_raw_ids, pseudonymize
from platform_core.resources import Pseudonymizer, WarehouseResource
from platform_core.warehouse import backend_for

DAYS = demo.demo_days()
WEEK1, WEEK2 = DAYS[0], DAYS[7]
signals_asset, clusters_day, clusters_week = learning_signals, learning_issue_clusters_day, learning_issue_clusters_week


def resources(url: str, events: str = "demo") -> dict:
    return {
        "warehouse": WarehouseResource(url=url),
        "kura_events": KuraEventSource(url=events),
        "pseudonymizer": Pseudonymizer(salt="test-salt"),
    }


def run(
    assets, url: str, first: date, last: date | None = None, events: str = "demo", **kw
) -> dg.ExecuteInProcessResult:
    tags = {
        ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
        ASSET_PARTITION_RANGE_END_TAG: (last or first).isoformat(),
    }
    return dg.materialize(assets, resources=resources(url, events), tags=tags, raise_on_error=False, **kw)


def check_evaluations(result) -> list:
    return [e.asset_check_evaluation_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]


def metadata(result, key: dg.AssetKey, partition: str | None = None) -> dict:
    """The metadata of ``key``'s materialization of ``partition`` (the first one when not named)."""
    events = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key == key and (partition is None or e.materialization.partition == partition)
    ]
    return {k: v.value for k, v in events[0].materialization.metadata.items()}


@pytest.fixture(scope="module")
def demo_warehouse(tmp_path_factory) -> dict:
    url = f"duckdb:///{tmp_path_factory.mktemp('wh')}/warehouse.duckdb"
    days = run([signals_asset, clusters_day], url, DAYS[0], DAYS[-1])
    weeks = run([clusters_week], url, WEEK1, WEEK2)
    return {"url": url, "days": days, "weeks": weeks}


def test_the_demo_graph_materializes_in_two_runs_with_every_check_passing(demo_warehouse):
    for result in (demo_warehouse["days"], demo_warehouse["weeks"]):
        assert result.success
        evaluations = check_evaluations(result)
        assert evaluations and all(e.passed for e in evaluations)
    planned = demo_warehouse["days"].get_asset_materialization_events()
    assert {e.partition for e in planned if e.asset_key == SIGNALS_KEY} == {d.isoformat() for d in DAYS}
    names = {(e.asset_key.path[-1], e.check_name) for e in check_evaluations(demo_warehouse["weeks"])}
    assert ("learning_issue_clusters_week", "deterministic_replay") in names


def test_week_clusters_hold_the_planted_issues(demo_warehouse):
    week = backend_for(demo_warehouse["url"]).read(LEARNING_ISSUE_CLUSTERS_WEEK, where={"period_start": WEEK2})
    planted = {p.signature: p.name for p in demo.PLANTED}
    scores = {planted.get(s, s): v for s, v in zip(week["cluster_signature"], week["score"])}
    assert scores == {
        "save_mismatch": 1.0,
        "workflow_skip_high": 0.9025,
        "save_mismatch_violation": 0.676875,
        "dominated_quality": 0.6063,
        "clarification_loop": 0.476928,
        "workflow_skip_medium": 0.363256,
    }
    assert set(week["period_key"]) == {"2026-W46"}


def test_run_telemetry_counts_every_filter_and_reject(demo_warehouse):
    runs = backend_for(demo_warehouse["url"]).read(LEARNING_ISSUE_CLUSTER_RUNS)
    assert sorted(runs["period_granularity"].value_counts().items()) == [("day", 14), ("week", 2)]
    day = runs[(runs["period_granularity"] == "day")].iloc[0]
    assert (
        day["considered"],
        day["rejected"],
        day["retracted"],
        day["low_confidence_filtered"],
        day["dominance_dropped"],
    ) == (49, 21, 2, 4, 7)
    assert (
        day["candidate_clusters"],
        day["clusters_written"],
        day["filtered_min_support"],
        day["filtered_min_users"],
    ) == (21, 3, 17, 1)
    assert json.loads(day["rejects_by_reason"])["payload_too_large"] == 1
    assert json.loads(day["config"])["min_support"] == 3


def test_no_raw_user_id_appears_in_any_table(demo_warehouse):
    raw_ids = set(pd.concat([demo.generate_day(d) for d in DAYS])["user_id"].dropna()) - {""}
    path = demo_warehouse["url"][len("duckdb:///") :]
    con = duckdb.connect(path, read_only=True)
    tables = [
        r[0]
        for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'kura'").fetchall()
    ]
    frames = {t: con.execute(f"SELECT * FROM kura.{t}").df().astype(str) for t in tables}
    con.close()
    assert len(tables) >= 6 and len(raw_ids) > 50
    assert find_raw_ids(frames, raw_ids) == {}


@pytest.fixture
def warehouse_copy(demo_warehouse, tmp_path) -> str:
    src = Path(demo_warehouse["url"][len("duckdb:///") :])
    shutil.copy(src, tmp_path / "copy.duckdb")
    return f"duckdb:///{tmp_path}/copy.duckdb"


def test_rematerializing_replaces_rows_and_reproduces_the_hash(demo_warehouse, warehouse_copy):
    day = DAYS[3]
    before = backend_for(warehouse_copy).read(LEARNING_SIGNALS, where={"period_day": day})
    again = run([signals_asset, clusters_day], warehouse_copy, day)
    assert again.success
    after = backend_for(warehouse_copy).read(LEARNING_SIGNALS, where={"period_day": day})
    assert len(after) == len(before) and after["event_id"].is_unique
    original = metadata(demo_warehouse["days"], CLUSTERS_DAY_KEY, day.isoformat())["content_hash"]
    assert metadata(again, CLUSTERS_DAY_KEY)["content_hash"] == original
    replay = [e for e in check_evaluations(again) if e.check_name == "deterministic_replay"]
    assert replay and all(e.passed for e in replay)
    assert "same inputs, same content hash" in json.dumps([e.metadata["details"].value for e in replay])


def test_a_week_refuses_to_run_until_all_seven_days_exist(tmp_path):
    url = f"duckdb:///{tmp_path}/w.duckdb"
    assert run([signals_asset], url, WEEK1, WEEK1 + timedelta(days=4)).success
    result = run([clusters_week], url, WEEK1)
    assert not result.success
    failure = result.failure_data_for_node("kura__learning_issue_clusters_week").error.message
    assert "2026-W45: 2026-11-07, 2026-11-08" in failure
    assert backend_for(url).read(LEARNING_ISSUE_CLUSTERS_WEEK).empty


def test_a_failing_blocking_check_writes_nothing_and_keeps_the_previous_partition(tmp_path, monkeypatch):
    from platform_core.privacy import RawIds

    day, url = DAYS[2], f"duckdb:///{tmp_path}/w.duckdb"
    rows = pd.concat([demo.generate_day(day + timedelta(days=i)) for i in (-1, 0, 1)], ignore_index=True)
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(demo.to_jsonl_lines(rows)) + "\n")
    first = run([signals_asset], url, day, events=str(events))
    assert first.success
    before = backend_for(url).read(LEARNING_SIGNALS, where={"period_day": day})

    # One user's attributes name another user's raw id: scrubbed, the day goes on.
    leaky = rows.copy()
    on_day = leaky["timestamp"].str.startswith(day.isoformat())
    victim = leaky.index[on_day & leaky["user_id"].str.startswith("user-clar", na=False)][0]
    leaky.loc[victim, "data"] = leaky.loc[victim, "data"].replace(
        '"attributes":{}', '"attributes":{"seen_with":"user-save-0004"}'
    )
    events.write_text("\n".join(demo.to_jsonl_lines(leaky)) + "\n")
    quoted = run([signals_asset], url, day, events=str(events))
    assert quoted.success
    scrubbed = backend_for(url).read(LEARNING_SIGNALS, where={"period_day": day})
    assert (scrubbed["attributes"] == '{"seen_with":"[user]"}').sum() == 1
    events.write_text("\n".join(demo.to_jsonl_lines(rows)) + "\n")
    assert run([signals_asset], url, day, events=str(events)).success

    # A bug in the scrubbing: the blocking check catches the leak and nothing is written.
    monkeypatch.setattr(RawIds, "scrub_json", lambda self, texts, replacement="[user]": texts)
    events.write_text("\n".join(demo.to_jsonl_lines(leaky)) + "\n")
    second = run([signals_asset], url, day, events=str(events))
    assert not second.success
    failed = [e for e in check_evaluations(second) if not e.passed]
    assert [(e.asset_key, e.check_name) for e in failed] == [(SIGNALS_KEY, "no_raw_user_ids")]
    after = backend_for(url).read(LEARNING_SIGNALS, where={"period_day": day})
    pd.testing.assert_frame_equal(before, after)


def test_daily_schedule_asks_for_yesterday_and_the_day_before():
    schedule = defs.resolve_schedule_def("kura_daily_schedule")
    context = dg.build_schedule_context(
        repository_def=defs.get_repository_def(), scheduled_execution_time=datetime(2026, 11, 20, 0, 30)
    )
    requests = list(schedule.evaluate_tick(context).run_requests)
    assert [r.partition_key for r in requests] == ["2026-11-19", "2026-11-18"]


def test_weekly_schedule_asks_for_the_last_complete_iso_week():
    schedule = defs.resolve_schedule_def("kura_weekly_schedule")
    context = dg.build_schedule_context(
        repository_def=defs.get_repository_def(), scheduled_execution_time=datetime(2026, 11, 16, 3, 0)
    )
    (request,) = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-11-09"


def test_each_partition_of_a_range_run_reports_its_own_facts(demo_warehouse):
    """One run over 14 days: every day's page shows that day's row count, hashes and top clusters."""
    events = [e for e in demo_warehouse["days"].get_asset_materialization_events() if e.asset_key == CLUSTERS_DAY_KEY]
    assert sorted(e.materialization.partition for e in events) == [d.isoformat() for d in DAYS], "one event per day"
    written = (
        backend_for(demo_warehouse["url"]).manifest("kura", "learning_issue_clusters_day").set_index("partition_key")
    )
    for e in events:
        facts = {k: v.value for k, v in e.materialization.metadata.items()}
        assert facts["content_hash"] == written.loc[f"period_start={e.materialization.partition}", "content_hash"]
        assert facts["dagster/row_count"] == facts["clusters_written"] > 0
        assert facts["top"].startswith("| score | frequency | severity | impact | reproducibility | summary |")
    schema = defs.resolve_assets_def(SIGNALS_KEY).specs_by_key[SIGNALS_KEY].metadata["dagster/column_schema"]
    tags = {c.name: c.tags for c in schema.columns}
    assert tags["pseudo_user_id"] == {"pii": "pseudonym"} and tags["event_id"] == {}


def _line(user: str, at: datetime, **changes) -> bytes:
    """A signal's JSONL line, with ``changes`` to its data (``signature`` facets merged in)."""
    from tests.kura_assets.factories import raw_event

    e = raw_event(user, at)
    data = json.loads(e["data"])
    data["signature"].update(changes.pop("signature", {}))
    data.update(changes)
    row = {k: e[k] for k in ("id", "user_id", "timestamp", "event_type")}
    return json.dumps({**row, "data": data, "metadata": {}}).encode()


def test_the_privacy_rule_holds_on_every_text_column_of_the_day_and_its_clusters(tmp_path):
    """Users named like an e-mail, like the placeholder and like a word, and signals that name
    another user in their type, facets, signature and attributes: the day publishes its clusters,
    no e-mail is anywhere in them, and others keep the word ``checkout``."""
    day = DAYS[0]
    noon = datetime.combine(day, datetime.min.time()) + timedelta(hours=12)
    mail = "alice@example.com"
    users = [mail, "user", "[user]", "checkout", "dana-0042", "erin-0043"]
    lines = [
        _line(u, noon + timedelta(minutes=i), attributes={"step": "checkout", "by": u}) for i, u in enumerate(users)
    ]
    lines += [
        _line(
            u,
            noon + timedelta(minutes=10 + i),
            signal_type=f"leak_{mail}",
            signature={"invariant_id": f"INV {mail}"},
            cluster_signature=f"sig/{mail}",
            attributes={"note": f"ask {mail}", "step": "checkout"},
        )
        for i, u in enumerate(["dana-0042", "erin-0043", "checkout", "user"])
    ]
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    url = f"duckdb:///{tmp_path}/w.duckdb"
    result = run([signals_asset, clusters_day], url, day, events=str(events))
    assert result.success
    failed = [e for e in check_evaluations(result) if not e.passed]
    assert failed == []
    privacy = [e for e in check_evaluations(result) if e.check_name == "no_raw_user_ids"]
    assert {e.asset_key for e in privacy} == {
        SIGNALS_KEY,
        dg.AssetKey(["kura", "learning_signal_rejects"]),
        CLUSTERS_DAY_KEY,
    }
    backend = backend_for(url)
    signals = backend.read(LEARNING_SIGNALS)
    clusters = backend.read(LEARNING_ISSUE_CLUSTERS_DAY)
    assert len(signals) == len(lines) and len(clusters) >= 2
    for frame in (signals, clusters):
        text = frame.astype(str)
        assert not text.apply(lambda c: c.str.contains(mail, regex=False)).any().any()
    others = signals[signals["pseudo_user_id"] != pseudonymize(pd.Series(["checkout"]), "test-salt")[0]]
    assert others["attributes"].str.contains('"step":"checkout"').all(), "a user named checkout erases no word"
    assert clusters["representative_examples"].str.contains("checkout").any()


def test_a_line_dated_days_earlier_moves_nothing_is_reported_and_its_day_runs_again(tmp_path):
    """Undated lines are kept on the first day whatever other lines say; the day run names the days
    the source's other lines are kept on; the sensor runs again the written day that changed."""
    from kura_assets.schedules import kura_changed_days_sensor

    first, earlier, later = DAYS[0], DAYS[1], DAYS[3]

    def at(day, hour):
        return datetime.combine(day, datetime.min.time()) + timedelta(hours=hour)

    lines = [_line(f"user-{i:04d}", at(day, 10 + i)) for day in (earlier, later) for i in range(4)]
    lines += [b"{not json", b'{"id": "x", "event_type": "learning.signal.logged"}']  # undated
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    url, instance = f"duckdb:///{tmp_path}/w.duckdb", dg.DagsterInstance.ephemeral()
    assert run([signals_asset], url, earlier, events=str(events), instance=instance).success
    events.write_bytes(events.read_bytes() + _line("user-late", at(earlier, 20)) + b"\n")  # arrives late
    result = run([signals_asset], url, later, events=str(events), instance=instance)
    assert result.success
    facts = metadata(result, SIGNALS_KEY, later.isoformat())
    by_day = {first.isoformat(): 2, earlier.isoformat(): 5, later.isoformat(): 4}
    assert facts["source_lines_by_day"] == by_day and facts["source_lines"] == 4
    rejects = backend_for(url).read(kura_tables.LEARNING_SIGNAL_REJECTS)
    assert rejects["period_day"].dt.date.tolist() == [], "the undated lines are on the first day, not run yet"
    context = dg.build_sensor_context(instance=instance)
    requests = kura_changed_days_sensor(context)
    assert [r.partition_key for r in requests] == [earlier.isoformat()]
    assert run([signals_asset], url, earlier, events=str(events), instance=instance).success
    assert isinstance(kura_changed_days_sensor(dg.build_sensor_context(instance=instance)), dg.SkipReason)
    assert (backend_for(url).read(LEARNING_SIGNALS)["period_day"].dt.date == earlier).sum() == 5
