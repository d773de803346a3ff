import numpy as np
import pandas as pd

from replay_assets.segments import validate_segments

T = pd.Timestamp("2026-11-20 10:00")


def seg(doc="s1:0:10", session="s1", dim=4, vector=None, **changes):
    row = {
        "team_id": 1,
        "document_id": doc,
        "session_id": session,
        "distinct_id": "u1",
        "start_time": T,
        "end_time": T + pd.Timedelta(seconds=10),
        "timestamp": T,
        "inserted_at": T,
        "content": "User clicked submit",
        "embedding": vector if vector is not None else np.arange(1, dim + 1, dtype=float),
    }
    row.update(changes)
    return row


def test_every_bad_segment_is_kept_with_its_reason():
    rows = [
        seg(),
        seg("s2:0:5", "s2"),
        seg("s3:0:5", "s3", dim=3),
        seg("s4:0:5", "s4", vector=[1.0, np.nan, 0, 0]),
        seg("s5:0:5", "s5", vector=[0.0] * 4),
        seg("bad", "s6"),
        seg("s7:0:5", "s7", content=" "),
        seg("s8:0:5", "s8", end_time=T - pd.Timedelta(seconds=1)),
        seg(inserted_at=T + pd.Timedelta(minutes=1)),
    ]
    v = validate_segments(pd.DataFrame(rows))
    assert v.dimension == 4 and v.embeddings.shape == (2, 4) and v.embeddings.dtype == np.float32
    assert sorted(v.rejects["reason"]) == sorted(
        [
            "wrong_dimension",
            "non_finite_embedding",
            "zero_embedding",
            "malformed_document_id",
            "missing_field",
            "invalid_times",
            "duplicate_document_id",
        ]
    )
    assert len(v.segments) + len(v.rejects) == len(rows)


def test_the_teams_known_dimension_wins():
    v = validate_segments(pd.DataFrame([seg(dim=3), seg("s2:0:5", "s2", dim=3)]), known_dimension=4)
    assert v.segments.empty and set(v.rejects["reason"]) == {"wrong_dimension"}


def test_embeddings_too_small_or_too_large_for_float32_are_rejected_not_clustered():
    """Subnormal values (1e-45) or huge finite ones (3e38) would give NaN centroids or infinite
    distances, fail the tick's checks and stall every later tick of the team."""
    from replay_assets.clustering import cluster_embeddings

    rng = np.random.default_rng(0)
    topics = rng.standard_normal((3, 16))
    rows = [seg(f"s{i}:0:5", f"s{i}", vector=topics[i % 3] + 0.1 * rng.standard_normal(16)) for i in range(36)]
    rows += [seg(f"n{i}:0:5", f"n{i}", vector=rng.standard_normal(16)) for i in range(10)]
    rows += [seg("tiny:0:5", "tiny", vector=[1e-45] * 16), seg("huge:0:5", "huge", vector=[3e38] * 16)]
    v = validate_segments(pd.DataFrame(rows))
    assert dict(zip(v.rejects["document_id"], v.rejects["reason"])) == {
        "tiny:0:5": "unscalable_embedding",
        "huge:0:5": "unscalable_embedding",
    }
    clustering = cluster_embeddings(v.embeddings)
    assert (clustering.labels >= 0).any() and np.isfinite(clustering.coordinates).all()


def test_a_segment_file_with_text_embeddings_or_missing_columns_fails_with_one_line_naming_it(tmp_path):
    import pytest

    from replay_assets.sources import read_segments_from

    frame = pd.DataFrame([seg(vector=[0.1, 0.2, 0.3, 0.4])])
    as_text = frame.assign(embedding=frame["embedding"].map(str))
    as_text.to_parquet(tmp_path / "text.parquet")
    frame.drop(columns=["session_id"]).to_parquet(tmp_path / "short.parquet")
    window = (T - pd.Timedelta(minutes=30), T + pd.Timedelta(minutes=30))
    with pytest.raises(
        ValueError, match=r"text\.parquet: column embedding is (large_)?string, expected a list of numbers"
    ):
        read_segments_from(str(tmp_path / "text.parquet"), 1, *window)
    with pytest.raises(ValueError, match=r"short\.parquet: segment file lacks the column\(s\) session_id"):
        read_segments_from(str(tmp_path / "short.parquet"), 1, *window)
    frame.to_parquet(tmp_path / "good.parquet")
    assert len(read_segments_from(str(tmp_path / "good.parquet"), 1, *window)) == 1


# --- fuzz: any rows are each a segment or a reject, never a crash ------------------------------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_TS = st.one_of(
    st.none(),
    st.sampled_from([pd.Timestamp("2026-11-20 10:05"), pd.Timestamp("2026-11-20 10:05:07")]),
    st.text(max_size=6),
)
_FLOAT = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.sampled_from([1e-45, 3e38, 0.0, -1.0]))
_EMBEDDING = st.one_of(
    st.none(),
    st.text(max_size=5),
    st.lists(_FLOAT, min_size=0, max_size=5),
    st.lists(st.sampled_from([0.5, -0.25, 1.0]), min_size=4, max_size=4),
)


@st.composite
def segment_rows(draw):
    n = draw(st.integers(0, 10))

    def column(strategy):
        return draw(st.lists(strategy, min_size=n, max_size=n))

    text = st.one_of(st.none(), st.text(max_size=8), st.sampled_from(["s1:0:5", "s1:0:5", "s2:5:9"]))
    return pd.DataFrame(
        {
            "team_id": column(st.one_of(st.none(), st.sampled_from([1, 2]), st.text(max_size=3))),
            "document_id": column(text),
            "session_id": column(text),
            "distinct_id": column(text),
            "start_time": column(_TS),
            "end_time": column(_TS),
            "timestamp": column(_TS),
            "inserted_at": column(_TS),
            "content": column(st.one_of(st.none(), st.text(max_size=20))),
            "embedding": column(_EMBEDDING),
        }
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segment_rows())
def test_any_rows_are_each_a_segment_or_a_reject_and_segments_are_usable(raw):
    v = validate_segments(raw)
    assert len(v.segments) + len(v.rejects) == len(raw)
    assert v.rejects["reason"].notna().all()
    assert len(v.embeddings) == len(v.segments) and np.isfinite(v.embeddings).all()
    if len(v.embeddings):
        norms = np.linalg.norm(v.embeddings.astype(np.float32), axis=1)
        assert np.isfinite(norms).all() and (norms > 0).all()
    assert v.segments["document_id"].is_unique


def test_two_rows_under_one_document_id_keep_the_same_one_in_any_order():
    a = seg("s1:0:5", "s1", vector=[1.0, 0.0, 0.0, 0.0])
    b = {**a, "embedding": [0.0, 1.0, 0.0, 0.0]}  # the same row sent again with another embedding
    kept = [validate_segments(pd.DataFrame(rows)) for rows in ([a, b], [b, a])]
    assert [len(v.segments) for v in kept] == [1, 1] and [len(v.rejects) for v in kept] == [1, 1]
    assert np.array_equal(kept[0].embeddings, kept[1].embeddings)
    assert kept[0].rejects["reason"].tolist() == kept[1].rejects["reason"].tolist() == ["duplicate_document_id"]
