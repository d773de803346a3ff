"""The privacy rule, end to end, on every input contract that names people, on DuckDB and Postgres.

Each example plants user ids (e-mail addresses, account numbers, UUIDs: ids no word could be) in
every field of the kura event contract and of the replay segment contract, as whole values and
inside text, the row's own user's or another's, and in lines that do not parse. The runs succeed,
every privacy check passes, and no planted id is anywhere in the warehouse but in a column tagged
``raw_id`` (the per-user segments' own ``distinct_id``). The minority reports' sales contract
names no person (store and item ids), so it has no id to plant.
"""

import json
from datetime import datetime, timedelta

import dagster as dg
import numpy as np
import pandas as pd
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from hypothesis import given, settings
from hypothesis import strategies as st

import kura_assets.tables as kura_tables
import replay_assets.tables as replay_tables
from kura_assets import demo as kura_demo
from kura_assets.assets import learning_issue_clusters_day, learning_signals
from kura_assets.signals import SIGNAL_EVENT
from platform_core.resources import Pseudonymizer, WarehouseResource
from platform_core.tables import TableSpec
from platform_core.warehouse import backend_for
from replay_assets import demo as replay_demo
from replay_assets.definitions import ASSETS as REPLAY_ASSETS
from replay_assets.partitions import partition_key_for, team_partitions
from replay_assets.resources import SegmentSource, TaskLabeler
from tests.fuzzing import FUZZ
from tests.kura_assets.factories import raw_event
from tests.kura_assets.test_assets import run as run_kura

_ID = st.one_of(
    st.from_regex(r"[a-z]{3,8}\.[a-z]{2,6}@[a-z]{3,6}\.com", fullmatch=True),
    st.from_regex(r"u-[0-9]{5,7}", fullmatch=True),
    st.from_regex(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", fullmatch=True),
    st.from_regex(r"acct_[a-z]{2}[0-9]{4,6}", fullmatch=True),
)
_USERS = st.lists(_ID, min_size=3, max_size=4, unique=True)
#: How an id sits in a text: the whole value, a word of it, glued to a word by "_" or "/".
_FORMS = ("{}", "see {} now", "by_{}", "x/{}/y")

SETTINGS = settings(FUZZ, max_examples=4)


def _specs(module) -> list[TableSpec]:
    return [v for v in vars(module).values() if isinstance(v, TableSpec)]


def _leaks(url: str, specs: list[TableSpec], ids: list[str]) -> dict[str, list[str]]:
    """``table.column`` -> the planted ids found in it, over every text column not tagged raw_id."""
    backend, found = backend_for(url), {}
    for spec in specs:
        frame = backend.read(spec)
        for column in spec.columns:
            if column.type not in ("TEXT", "JSON") or column.privacy == "raw_id":
                continue
            text = "\n".join(frame[column.name].dropna().astype(str))
            hits = [i for i in ids if i in text]
            if hits:
                found[f"{spec.name}.{column.name}"] = hits
    return found


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    evaluations = [
        e.asset_check_evaluation_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    return {f"{'/'.join(e.asset_key.path)}:{e.check_name}": e.passed for e in evaluations}


# --- kura: the event line --------------------------------------------------------------------

_KURA_FIELDS = (
    "id",
    "timestamp",
    "event_type",
    "signal_type",
    "category",
    "issue_type",
    "invariant_id",
    "agent_version",
    "workflow_phase",
    "modality",
    "confidence_band",
    "cluster_signature",
    "captured_at",
    "attribute_value",
    "attribute_key",
    "metadata",
)


def _kura_line(user: str, at: datetime, n: int, field: str | None = None, text: str = "") -> bytes:
    data = json.loads(raw_event(user, at, attributes={"n": n})["data"])
    line = {"id": f"evt-{n:05d}", "user_id": user, "timestamp": at.isoformat() + "Z", "event_type": SIGNAL_EVENT}
    metadata = {}
    if field in ("id", "timestamp", "event_type"):
        line[field] = text
    elif field in ("signal_type", "category", "cluster_signature", "captured_at"):
        data[field] = text
    elif field == "attribute_value":
        data["attributes"] = {"note": text}
    elif field == "attribute_key":
        data["attributes"] = {text: 1}
    elif field == "metadata":
        metadata = {"from": text}
    elif field is not None:
        data["signature"][field] = text
    return json.dumps({**line, "data": data, "metadata": metadata}).encode()


@st.composite
def kura_day(draw):
    """Lines of one day: each user's plain signals, then one line per field with an id planted."""
    users = draw(_USERS)
    noon = datetime.combine(DAY, datetime.min.time()) + timedelta(hours=12)
    lines = [_kura_line(u, noon + timedelta(minutes=i), i) for i, u in enumerate(users * 3)]
    for k, field in enumerate(_KURA_FIELDS):
        owner = draw(st.sampled_from(users))
        named = draw(st.sampled_from(users))
        text = draw(st.sampled_from(_FORMS)).format(named)
        lines.append(_kura_line(owner, noon + timedelta(minutes=30 + k), 100 + k, field, text))
    victim = draw(st.sampled_from(users))
    lines.append(f"{{'id': 'evt-x', 'user_id': '{victim}', 'note': 'python repr'}}".encode())
    lines.append(b'{"id": "evt-y", "user_id": "' + victim.encode() + b'", "data": {"cut')
    return users, lines


DAY = kura_demo.demo_days()[0]


@SETTINGS
@given(example=kura_day())
def test_no_planted_id_reaches_any_kura_table(warehouse_url, tmp_path, example):
    users, lines = example
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = run_kura([learning_signals, learning_issue_clusters_day], warehouse_url, DAY, events=str(path))
    assert result.success
    checks = _checks(result)
    assert sum(name.endswith(":no_raw_user_ids") for name in checks) == 3 and all(checks.values()), checks
    assert _leaks(warehouse_url, _specs(kura_tables), users) == {}
    published = backend_for(warehouse_url).read(kura_tables.LEARNING_ISSUE_CLUSTERS_DAY, where={"period_start": DAY})
    assert len(published) >= 1, "the users' plain signals still publish"


# --- replay: the segment row -----------------------------------------------------------------

TICK_END = pd.Timestamp("2026-11-20") + replay_demo.TICK


@st.composite
def replay_tick(draw):
    """One tick of team 1: the demo's segments under the drawn users, with ids planted in each field."""
    users = draw(_USERS)
    raw, _ = replay_demo.generate_tick(1, TICK_END)
    raw = raw.reset_index(drop=True)
    raw["embedding"] = [np.asarray(e, dtype=np.float32).tolist() for e in raw["embedding"]]
    raw["distinct_id"] = [users[i % len(users)] for i in range(len(raw))]
    # Times as text, as a JSON-fed source holds them: a field an id can be planted in.
    for column in ("start_time", "end_time"):
        raw[column] = pd.to_datetime(raw[column]).map(lambda t: t.isoformat())
    for k, field in enumerate(("document_id", "session_id", "content", "content", "start_time", "end_time")):
        named = draw(st.sampled_from(users))
        raw.at[k, field] = draw(st.sampled_from(_FORMS)).format(named)
    return users, raw


@SETTINGS
@given(example=replay_tick())
def test_no_planted_id_reaches_any_replay_table_but_the_segments_own_user(warehouse_url, tmp_path, example):
    users, raw = example
    path = tmp_path / "segments.parquet"
    raw.to_parquet(path)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(team_partitions.name, ["1"])
    key = str(partition_key_for(1, TICK_END))
    result = dg.materialize(
        REPLAY_ASSETS,
        instance=instance,
        resources={
            "warehouse": WarehouseResource(url=warehouse_url),
            "replay_segments": SegmentSource(url=str(path)),
            "replay_pseudonymizer": Pseudonymizer(salt="privacy-salt"),
            "replay_labeler": TaskLabeler(),
        },
        tags={ASSET_PARTITION_RANGE_START_TAG: key, ASSET_PARTITION_RANGE_END_TAG: key},
        raise_on_error=False,
    )
    assert result.success
    checks = _checks(result)
    assert sum(name.endswith(":no_raw_user_ids") for name in checks) >= 2 and all(checks.values()), checks
    assert _leaks(warehouse_url, _specs(replay_tables), users) == {}
    segments = backend_for(warehouse_url).read(replay_tables.VIDEO_SEGMENTS)
    assert len(segments) >= len(raw) - 6, "one planted id rejects only its own row"
