"""The replay graph through Dagster: ticks in order, replay, gaps refused, rejects kept, privacy,
the Parquet source, the LLM labeler, the team sensor and the schedule."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from platform_core.privacy import find_raw_ids
from platform_core.resources import Pseudonymizer, WarehouseResource
from platform_core.warehouse import backend_for
from replay_assets import demo
from replay_assets.definitions import ASSETS
from replay_assets.partitions import partition_key_for, team_partitions
from replay_assets.resources import SegmentSource, TaskLabeler
from replay_assets.schedules import replay_enabled_teams, replay_every_30_minutes
from replay_assets.tables import (
    VIDEO_SEGMENT_CLUSTERS,
    VIDEO_SEGMENT_REJECTS,
    VIDEO_SEGMENT_TASK_LINKS,
    VIDEO_SEGMENT_TASKS,
    VIDEO_SEGMENTS,
)
from tests.replay_assets.conftest import FakeLLM

DAY = pd.Timestamp("2026-11-20")


def tick(k: int) -> pd.Timestamp:
    return DAY + k * demo.TICK


def run(
    url: str,
    team: int,
    first: int,
    last: int | None = None,
    source: str = "demo",
    labeler: TaskLabeler | None = None,
    last_team: int | None = None,
):
    """Ticks ``first..last`` of ``team`` (through ``last_team``: a range over teams too) as one run."""
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(team_partitions.name, [str(t) for t in range(team, (last_team or team) + 1)])
    resources = {
        "warehouse": WarehouseResource(url=url),
        "replay_segments": SegmentSource(url=source),
        "replay_pseudonymizer": Pseudonymizer(salt="test-salt"),
        "replay_labeler": labeler or TaskLabeler(),
    }
    tags = {
        ASSET_PARTITION_RANGE_START_TAG: str(partition_key_for(team, tick(first))),
        ASSET_PARTITION_RANGE_END_TAG: str(partition_key_for(last_team or team, tick(last or first))),
    }
    return dg.materialize(ASSETS, instance=instance, resources=resources, tags=tags, raise_on_error=False)


def checks(result) -> dict[str, bool]:
    return {
        f"{e.asset_check_evaluation_data.asset_key.path[-1]}:{e.asset_check_evaluation_data.check_name}": e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def read(url: str, spec, team: int, k: int) -> pd.DataFrame:
    return backend_for(url).read(spec, where={"team_id": team, "tick_end": tick(k)})


@pytest.fixture(scope="module")
def four_ticks(tmp_path_factory):
    url = f"duckdb:///{tmp_path_factory.mktemp('replay')}/warehouse.duckdb"
    return url, run(url, 1, 1, 4)


def test_ticks_run_in_order_with_every_check_passing(four_ticks):
    url, result = four_ticks
    assert result.success
    assert checks(result) and all(checks(result).values()), checks(result)
    tasks = read(url, VIDEO_SEGMENT_TASKS, 1, 4)
    assert set(tasks["status"]) <= {"new", "updated", "unchanged", "merged"}
    planted = pd.concat(
        [
            pd.Series(t.to_numpy(), index=r["document_id"])
            for r, t in (demo.generate_tick(1, tick(k)) for k in range(1, 5))
        ]
    )
    links = pd.concat([read(url, VIDEO_SEGMENT_TASK_LINKS, 1, k) for k in range(1, 5)])
    links = links.sort_values("tick_end").drop_duplicates(
        "document_id", keep="last"
    )  # a segment's task: its latest link
    topic_of_task = links.groupby("task_id")["document_id"].agg(lambda d: planted.loc[d].value_counts().index[0])
    owners = topic_of_task.value_counts()
    assert all(owners.get(t.name) == 1 for t in demo.TOPICS[1]), (
        f"each planted topic is one task after four ticks: {owners}"
    )
    clusters = read(url, VIDEO_SEGMENT_CLUSTERS, 1, 4)
    last = read(url, VIDEO_SEGMENT_TASK_LINKS, 1, 4)
    made = last[last["linked_by"] != "merge"]
    assert len(made) == clusters["linked_now"].sum() and set(last["task_id"]) <= set(tasks["task_id"])
    assert made["distance"].between(0, 2).all()


def test_bad_segments_are_kept_with_their_reason(four_ticks):
    url, _ = four_ticks
    rejects = read(url, VIDEO_SEGMENT_REJECTS, 1, 2)
    assert sorted(rejects["reason"]) == ["non_finite_embedding", "wrong_dimension"]
    raw, _ = demo.generate_tick(1, tick(2))
    assert len(read(url, VIDEO_SEGMENTS, 1, 2)) + len(rejects) == len(raw)


def test_no_raw_user_id_reaches_clusters_tasks_or_links(four_ticks):
    url, _ = four_ticks
    raw_ids = set(pd.concat([demo.generate_tick(1, tick(k))[0]["distinct_id"] for k in range(1, 5)]))
    frames = {
        spec.name: backend_for(url).read(spec).drop(columns=["centroid"], errors="ignore")
        for spec in (VIDEO_SEGMENT_CLUSTERS, VIDEO_SEGMENT_TASKS, VIDEO_SEGMENT_TASK_LINKS)
    }
    assert find_raw_ids(frames, raw_ids) == {}
    assert frames["video_segment_task_links"]["user_ref"].str.startswith("p_").all()


def two_ticks() -> pd.DataFrame:
    """Team 1's source rows of ticks 1 and 2, with embeddings as lists (as a Parquet file holds them)."""
    raw = pd.concat([demo.generate_tick(1, tick(k))[0] for k in range(1, 3)], ignore_index=True)
    raw["embedding"] = [np.asarray(e, dtype=np.float32).tolist() for e in raw["embedding"]]
    return raw


def run_two_ticks(tmp_path, raw: pd.DataFrame) -> str:
    """Ticks 1 and 2 of team 1 from ``raw`` into a new warehouse, every check passing: its URL."""
    path = tmp_path / "segments.parquet"
    raw.to_parquet(path)
    url = f"duckdb:///{tmp_path}/w.duckdb"
    result = run(url, 1, 1, 2, source=str(path))
    assert result.success and all(checks(result).values()), checks(result)
    return url


def test_a_description_naming_another_user_is_scrubbed_not_a_stop(tmp_path):
    raw = two_ticks()
    someone, talker = raw["distinct_id"].iat[0], raw.index[raw["distinct_id"] != raw["distinct_id"].iat[0]][0]
    raw.loc[talker, "content"] = f"{raw.loc[talker, 'content']} (like {someone} said)"
    bad = raw.index[raw["distinct_id"] != someone][5]
    raw.at[bad, "embedding"] = raw.at[bad, "embedding"][:3]  # a reject, quoting the same user
    raw.loc[bad, "content"] = f"ask {someone}"
    url = run_two_ticks(tmp_path, raw)
    frames = {
        spec.name: backend_for(url).read(spec).drop(columns=["centroid", "embedding"], errors="ignore")
        for spec in (VIDEO_SEGMENT_CLUSTERS, VIDEO_SEGMENT_TASKS, VIDEO_SEGMENT_TASK_LINKS, VIDEO_SEGMENT_REJECTS)
    }
    assert find_raw_ids(frames, set(raw["distinct_id"])) == {}
    segments = backend_for(url).read(VIDEO_SEGMENTS)
    assert segments["content"].str.contains(r"\(like \[user\] said\)").sum() == 1
    rejects = frames["video_segment_rejects"]
    assert "ask [user]" in set(rejects["content"]) and rejects["user_ref"].str.startswith("p_").all()


def test_replaying_a_tick_replaces_it_with_identical_rows(four_ticks):
    url, _ = four_ticks
    before = {
        spec.name: read(url, spec, 1, 2) for spec in (VIDEO_SEGMENTS, VIDEO_SEGMENT_CLUSTERS, VIDEO_SEGMENT_TASKS)
    }
    result = run(url, 1, 2)
    assert result.success and checks(result)["video_segment_tasks:deterministic_replay"]
    for spec in (VIDEO_SEGMENTS, VIDEO_SEGMENT_CLUSTERS, VIDEO_SEGMENT_TASKS):
        after = read(url, spec, 1, 2)
        pd.testing.assert_frame_equal(
            before[spec.name].drop(columns=[c for c in ("embedding", "centroid") if c in after]),
            after.drop(columns=[c for c in ("embedding", "centroid") if c in after]),
        )
    assert backend_for(url).manifest("replay", "video_segment_tasks")["partition_key"].is_unique


def test_a_tick_refuses_to_run_after_a_gap(four_ticks):
    url, _ = four_ticks
    result = run(url, 1, 6)
    assert not result.success
    error = str(result.get_step_failure_events()[0].event_specific_data.error)
    assert (
        "team 1 @ 2026-11-20 03:00 needs replay.video_segments for team_id=1;tick_end=2026-11-20T02:30:00" in error
    ), "the tick clusters the day's ticks before it, one of which is missing"
    assert read(url, VIDEO_SEGMENT_CLUSTERS, 1, 6).empty and read(url, VIDEO_SEGMENT_TASKS, 1, 6).empty, (
        "nothing was written"
    )


def test_parquet_rows_in_any_order_give_the_same_tasks(four_ticks, tmp_path):
    url, result = four_ticks
    raw = pd.concat([demo.generate_tick(1, tick(k))[0] for k in range(1, 5)], ignore_index=True)
    shuffled = raw.sample(frac=1.0, random_state=7).reset_index(drop=True)
    shuffled["embedding"] = [np.asarray(e, dtype=np.float32).tolist() for e in shuffled["embedding"]]
    path = tmp_path / "segments.parquet"
    shuffled.to_parquet(path)
    other = f"duckdb:///{tmp_path}/warehouse.duckdb"
    assert run(other, 1, 1, 4, source=str(path)).success
    hashes = [
        backend_for(u).manifest("replay", "video_segment_tasks").sort_values("partition_key")["content_hash"].tolist()
        for u in (url, other)
    ]
    assert hashes[0] == hashes[1]


def test_the_llm_labels_new_tasks_once_and_a_replay_reuses_them(fake_llm, duck_url):
    FakeLLM.mode = "ok"
    labeler = TaskLabeler(llm_url=fake_llm, api_key="test-key")
    assert run(duck_url, 2, 1, 2, labeler=labeler).success
    asked = len(FakeLLM.seen)
    tasks = read(duck_url, VIDEO_SEGMENT_TASKS, 2, 2)
    assert asked == len(tasks) > 0, "each task was new in one of the two ticks and labelled once"
    assert (tasks["label_source"] == "llm").all() and (tasks["title"] == "Fix failing checkout payments").all()
    assert run(duck_url, 2, 2, labeler=labeler).success
    assert len(FakeLLM.seen) == asked, "a replayed tick keeps its labels"


def test_the_sensor_adds_enabled_teams_and_the_schedule_requests_the_ended_tick():
    source = SegmentSource(url="demo")
    at = pd.Timestamp("2026-11-20 10:35", tz="UTC").to_pydatetime()
    # Contexts as context managers: they open (and must close) their own handle on the instance.
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources={"replay_segments": source}) as context:
            (request,) = replay_enabled_teams(context).dynamic_partitions_requests
        assert sorted(request.partition_keys) == ["1", "2"]
        instance.add_dynamic_partitions(team_partitions.name, ["1"])
        with dg.build_schedule_context(
            instance=instance, resources={"replay_segments": source}, scheduled_execution_time=at
        ) as context:
            requests = list(replay_every_30_minutes(context))
    assert [str(r.partition_key) for r in requests] == ["1|2026-11-20-10:00"], (
        "only teams already added; the tick 10:00-10:30"
    )


def test_postgres_warehouse_gives_byte_identical_ticks(four_ticks, pg_url):
    url, _ = four_ticks
    assert run(pg_url, 1, 1, 4).success
    for table in ("video_segments", "video_segment_clusters", "video_segment_tasks", "video_segment_task_links"):
        duck, pg = (
            dict(backend_for(u).manifest("replay", table)[["partition_key", "content_hash"]].to_numpy())
            for u in (url, pg_url)
        )
        assert len(pg) == 4 and pg == {k: duck[k] for k in pg}, table


def test_a_team_enabled_from_the_command_line_is_scheduled_for_a_file_source(tmp_path):
    import os
    import subprocess
    import sys

    home = tmp_path / "home"
    home.mkdir()
    cli = [sys.executable, "-m", "replay_assets.cli", "enable", "7"]
    flagged = subprocess.run(
        cli,
        capture_output=True,
        text=True,
        env={**os.environ, "DAGSTER_HOME": str(home), "REPLAY_SEGMENTS_URL": "demo"},
    )
    assert flagged.returncode == 2 and "the sensor adds them" in flagged.stderr, (
        "the demo source says which teams are on"
    )
    (tmp_path / "segments.parquet").touch()  # a source that exists (a missing one is refused)
    env = {**os.environ, "DAGSTER_HOME": str(home), "REPLAY_SEGMENTS_URL": str(tmp_path / "segments.parquet")}
    first = subprocess.run(cli, capture_output=True, text=True, env=env)
    again = subprocess.run(cli, capture_output=True, text=True, env=env)
    assert first.returncode == again.returncode == 0, first.stderr
    assert first.stdout.startswith("team 7 enabled") and "already enabled" in again.stdout
    assert "Warning" not in first.stderr, first.stderr
    source = SegmentSource(url=str(tmp_path / "segments.parquet"))  # a file: it has no flags of its own
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_dynamic_partitions(team_partitions.name) == ["7"]
        at = pd.Timestamp("2026-11-20 10:35", tz="UTC").to_pydatetime()
        with dg.build_schedule_context(
            instance=instance, resources={"replay_segments": source}, scheduled_execution_time=at
        ) as context:
            requests = list(replay_every_30_minutes(context))
    assert [str(r.partition_key) for r in requests] == ["7|2026-11-20-10:00"]


def test_a_team_whose_first_tick_failed_cannot_start_from_its_second(tmp_path):
    url = f"duckdb:///{tmp_path}/w.duckdb"
    first = run(url, 1, 1, source=str(tmp_path / "not-there.parquet"))
    assert not first.success, "the first tick's source is missing"
    second = run(url, 1, 2)
    assert not second.success
    error = str(second.get_step_failure_events()[0].event_specific_data.error)
    assert "needs replay.video_segments for team_id=1;tick_end=2026-11-20T00:30:00" in error
    assert read(url, VIDEO_SEGMENT_TASKS, 1, 2).empty, "nothing was written"
    assert run(url, 1, 1, 2).success, "once the first tick runs, the team goes on"


def test_a_nul_in_a_segment_is_stored_alike_on_both_backends(tmp_path, pg_url):
    """Postgres text holds no NUL: one segment's description with a NUL is kept with U+FFFD in its
    place, an id with one is a reject with its reason, on both stores alike; the tick runs."""
    raw, _ = demo.generate_tick(1, tick(1))
    raw["embedding"] = [np.asarray(e, dtype=np.float32).tolist() for e in raw["embedding"]]
    raw.loc[0, "content"] = "User clicked pay\x00 and nothing happened"
    raw.loc[1, "document_id"] = raw.loc[1, "session_id"] + ":0\x00:5"
    path = tmp_path / "segments.parquet"
    raw.to_parquet(path)
    hashes = []
    for url in (f"duckdb:///{tmp_path}/w.duckdb", pg_url):
        result = run(url, 1, 1, source=str(path))
        assert result.success, url
        rejects = read(url, VIDEO_SEGMENT_REJECTS, 1, 1)
        assert "malformed_id" in set(rejects["reason"])
        segments = read(url, VIDEO_SEGMENTS, 1, 1)
        assert (
            segments["content"].str.contains("\ufffd").sum() == 1 and not segments["content"].str.contains("\x00").any()
        )
        hashes.append(backend_for(url).manifest("replay", "video_segments")["content_hash"].tolist())
    assert hashes[0] == hashes[1]


def test_a_user_named_like_a_word_or_the_placeholder_erases_nothing_and_blocks_nothing(tmp_path):
    """Users named ``checkout``, ``user`` and ``[user]``: other users' descriptions, and the tasks
    made of them, keep the word; only their own rows lose their own id; every check passes."""
    raw = two_ticks()
    raw["content"] = raw["content"] + " at checkout"
    named = {raw.index[0]: "checkout", raw.index[1]: "user", raw.index[2]: "[user]"}
    for row, name in named.items():
        raw.loc[row, "distinct_id"] = name
        raw.loc[row, "content"] = f"{name} reports {raw.loc[row, 'content']}"
    url = run_two_ticks(tmp_path, raw)
    segments = backend_for(url).read(VIDEO_SEGMENTS).set_index("document_id")
    theirs = segments.loc[raw.loc[list(named), "document_id"]]
    assert theirs["content"].str.startswith("[user] reports").all()
    assert theirs.loc[theirs["distinct_id"] != "checkout", "content"].str.endswith("at checkout").all()
    others = segments[~segments.index.isin(theirs.index)]
    assert len(others) > 20 and others["content"].str.endswith(" at checkout").all()
    tasks = backend_for(url).read(VIDEO_SEGMENT_TASKS)
    assert len(tasks) and not tasks["description"].str.contains(r"\[user\]", regex=True).all()


def test_a_row_whose_arrival_is_missing_or_no_time_is_a_reject_of_its_own_times_tick(tmp_path):
    """The arrival places a row in a tick; a row without a readable one is a reject in the tick of
    its own latest time, counted with its reason, and fails no read."""
    raw = two_ticks()
    raw["inserted_at"] = pd.to_datetime(raw["inserted_at"]).map(lambda t: t.isoformat()).astype(object)
    missing, garbage = raw.index[3], raw.index[-3]
    raw.loc[missing, "inserted_at"] = None
    raw.loc[garbage, "inserted_at"] = "yesterday-ish"
    url = run_two_ticks(tmp_path, raw)
    segments, rejects = backend_for(url).read(VIDEO_SEGMENTS), backend_for(url).read(VIDEO_SEGMENT_REJECTS)
    assert len(segments) + len(rejects) == len(raw), "every row of the two ticks is a segment or a reject"
    lost = rejects[rejects["document_id"].isin(raw.loc[[missing, garbage], "document_id"])]
    assert len(lost) == 2 and lost["reason"].notna().all(), rejects[["reason", "detail"]]
    assert "inserted_at is not a time" in set(lost["detail"])
