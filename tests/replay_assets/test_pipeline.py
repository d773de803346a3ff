"""One tick of the pure step on a crafted window: waiting segments linked, a merge recorded with
its links moved, counts from the links, labels reused."""

import numpy as np
import pandas as pd

from replay_assets.pipeline import LINK_COLUMNS, ReplayParams, TaskState, Window, run_tick

END = pd.Timestamp("2026-11-20 12:00")


def window(topics: int = 6, per_topic: int = 20, seed: int = 0):
    """Segments of planted topics; topic 0's first ten rows linked to task_a, its next ten to task_b."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((topics, 64))
    topic = np.repeat(np.arange(topics), per_topic)
    embeddings = (centers[topic] + 0.3 * rng.standard_normal((len(topic), 64))).astype(np.float32)
    n = len(topic)
    at = END - pd.Timedelta(minutes=29) + pd.to_timedelta(np.arange(n), unit="s")
    task = np.full(n, None, dtype=object)
    task[:10], task[10:20] = "task_a", "task_b"
    segments = pd.DataFrame(
        {
            "document_id": [f"s{i:03d}:0:5" for i in range(n)],
            "session_id": [f"s{i:03d}" for i in range(n)],
            "start_time": at,
            "end_time": at + pd.Timedelta(seconds=5),
            "timestamp": at,
            "inserted_at": at,
            "tick_end": np.where(task == None, END, END - pd.Timedelta(minutes=30)),  # noqa: E711
            "user_ref": [f"p_{i % 7}" for i in range(n)],
            "content": [f"user struggled with thing {t}" for t in topic],
            "task_id": task,
        }
    )
    return Window(segments, embeddings), topic


def state(segments: pd.DataFrame) -> TaskState:
    linked = segments[segments["task_id"].notna()].assign(impact=0.3, distance=0.1)[["task_id", *LINK_COLUMNS]]
    tasks = pd.DataFrame(
        {
            "task_id": ["task_a", "task_b"],
            "title": ["Fix thing a", "Fix thing b"],
            "description": ["", ""],
            "keywords": ["[]", "[]"],
            "label_source": ["keywords", "keywords"],
            "status": ["new", "new"],
            "merged_into": [None, None],
            "priority": [1.0, 1.0],
            "users_factor": [0.5, 0.5],
            "impact_factor": [0.2, 0.2],
            "recency_factor": [0.3, 0.3],
            "occurrences": [10, 10],
            "distinct_users": [7, 7],
            "mean_impact": [0.3, 0.3],
            "segments_this_tick": [10, 10],
            "first_seen": [END - pd.Timedelta(minutes=60), END - pd.Timedelta(minutes=30)],
            "last_occurrence": [END - pd.Timedelta(minutes=40), END - pd.Timedelta(minutes=40)],
        }
    )
    return TaskState(tasks, linked)


def test_two_tasks_the_window_shows_to_be_one_problem_merge_into_the_first_seen():
    w, topic = window()
    result = run_tick(1, END, w, state(w.segments), ReplayParams())
    merge = result.merges.set_index("task_id").loc["task_b"]
    assert merge["merged_into"] == "task_a" and "one problem" in merge["reason"]
    moved = result.links[result.links["linked_by"] == "merge"]
    assert sorted(moved["document_id"]) == sorted(w.segments["document_id"][10:20])
    assert (moved["task_id"] == "task_a").all() and (moved["previous_task_id"] == "task_b").all()
    tasks = result.tasks.set_index("task_id")
    assert tasks.loc["task_b", "status"] == "merged" and tasks.loc["task_b", "merged_into"] == "task_a"
    assert tasks.loc["task_a", "status"] == "updated" and tasks.loc["task_a", "occurrences"] == 20
    assert tasks.loc["task_a", "title"] == "Fix thing a", "a task keeps its labels"


def test_waiting_segments_of_a_new_problem_open_one_task_each_and_are_linked_once():
    w, topic = window()
    result = run_tick(1, END, w, state(w.segments), ReplayParams())
    new = result.tasks[result.tasks["status"] == "new"]
    assert len(new) == 5, "topics 1-5 each open a task"
    linked = result.links[result.links["linked_by"] == "cluster"]
    assert linked["document_id"].is_unique and len(linked) == int(result.clusters["linked_now"].sum())
    by_task = linked.assign(topic=topic[linked["document_id"].str.slice(1, 4).astype(int)]).groupby("task_id")
    assert (by_task["topic"].nunique() == 1).all(), "no task mixes two topics"
    assert result.tasks.set_index("task_id").loc[new["task_id"], "first_seen"].eq(END).all()


def test_the_same_window_gives_the_same_rows():
    w, _ = window()
    first = run_tick(1, END, w, state(w.segments), ReplayParams())
    again = run_tick(1, END, Window(w.segments.copy(), w.embeddings.copy()), state(w.segments), ReplayParams())
    for name in ("tasks", "links", "merges", "clusters"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(again, name))


def test_a_tick_of_one_description_repeated_is_one_task():
    w, _ = window(topics=1, per_topic=30)
    same = np.repeat(w.embeddings[:1], 30, axis=0)
    segments = w.segments.assign(task_id=None, tick_end=END)
    result = run_tick(1, END, Window(segments, same), TaskState.empty(), ReplayParams())
    assert len(result.tasks) == 1 and result.tasks["occurrences"].iat[0] == 30
    assert len(result.links) == 30 and result.links["document_id"].is_unique
