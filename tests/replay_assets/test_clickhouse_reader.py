"""The ClickHouse reader against a real ClickHouse engine (embedded chdb): paging with a
watermark, tick boundaries, float32 embeddings, feature flags."""

import numpy as np
import pandas as pd
import pytest

from replay_assets.sources import ChdbClickHouse, enabled_teams, read_segments

T0 = pd.Timestamp("2026-11-20 10:00:00")


@pytest.fixture(scope="module")
def clickhouse(tmp_path_factory):
    ch = ChdbClickHouse(str(tmp_path_factory.mktemp("chdb")))
    ch.execute("""CREATE TABLE document_embeddings (
        team_id Int64, document_id String, session_id String, distinct_id String, start_time DateTime64(6, 'UTC'),
        end_time DateTime64(6, 'UTC'), timestamp DateTime64(6, 'UTC'), inserted_at DateTime64(6, 'UTC'), content String, embedding Array(Float32)
    ) ENGINE = MergeTree ORDER BY (team_id, inserted_at, document_id)""")
    # 2,500 rows for team 1 in the tick (many sharing a timestamp), rows at both edges, another team.
    ch.execute("""INSERT INTO document_embeddings
        SELECT 1, concat('s', toString(number), ':0:10'), concat('s', toString(number)), concat('u', toString(number % 50)),
               toDateTime64('2026-11-20 09:59:00', 6), toDateTime64('2026-11-20 09:59:10', 6), toDateTime64('2026-11-20 09:59:00', 6),
               toDateTime64('2026-11-20 10:00:00', 6) + toIntervalSecond(intDiv(number, 10)),
               concat('segment ', toString(number)), [toFloat32(number), 0.5, -1.25]
        FROM numbers(2500)""")
    ch.execute("""INSERT INTO document_embeddings VALUES
        (1, 'edge-end:0:1', 'edge-end', 'u', '2026-11-20 10:29:00', '2026-11-20 10:29:01', '2026-11-20 10:29:00', '2026-11-20 10:30:00', 'at the end', [1, 2, 3]),
        (1, 'edge-before:0:1', 'edge-before', 'u', '2026-11-20 09:29:00', '2026-11-20 09:29:01', '2026-11-20 09:29:00', '2026-11-20 09:59:59.999999', 'before', [1, 2, 3]),
        (2, 'other:0:1', 'other', 'u', '2026-11-20 10:01:00', '2026-11-20 10:01:01', '2026-11-20 10:01:00', '2026-11-20 10:01:00', 'team 2', [1, 2, 3])""")
    ch.execute(
        "CREATE TABLE feature_flags (team_id Int64, flag String, enabled Bool) ENGINE = MergeTree ORDER BY team_id"
    )
    ch.execute("""INSERT INTO feature_flags VALUES (3, 'video-segment-clustering-enabled', true), (1, 'video-segment-clustering-enabled', true),
                  (2, 'video-segment-clustering-enabled', false), (2, 'something-else', true)""")
    return ch


def test_pages_through_a_tick_exactly_once(clickhouse):
    frame = read_segments(clickhouse, 1, T0, T0 + pd.Timedelta(minutes=30), page_size=333)
    assert len(frame) == 2500 and frame["document_id"].is_unique
    assert frame["inserted_at"].is_monotonic_increasing
    assert "edge-end:0:1" not in set(frame["document_id"]) and "edge-before:0:1" not in set(frame["document_id"])
    assert set(frame["team_id"]) == {1}
    first = frame.set_index("document_id").loc["s7:0:10", "embedding"]
    assert first.dtype == np.float32 and first.tolist() == [7.0, 0.5, -1.25]
    assert frame["inserted_at"].dtype == "datetime64[us]"


def test_an_empty_tick_and_the_enabled_teams(clickhouse):
    assert read_segments(clickhouse, 1, T0 - pd.Timedelta(days=1), T0 - pd.Timedelta(hours=23)).empty
    assert enabled_teams(clickhouse) == [1, 3]
