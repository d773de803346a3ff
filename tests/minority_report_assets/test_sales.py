"""Sales validation: every source row becomes a bucket or a kept reject; a whole input that cannot
be read fails with one line naming it."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minority_report_assets.sales import COLUMNS, check_bucket, validate_sales
from minority_report_assets.sources import read_sales
from platform_core.warehouse import backend_for

TS = "2026-11-20T10:05:00Z"


def test_infinite_units_and_negative_prices_are_rejected_as_rows():
    raw = pd.DataFrame(
        {
            "store_id": ["s"] * 5,
            "sku": ["a", "b", "c", "d", "e"],
            "ts": [TS] * 5,
            "units": ["inf", "1e309", "3", "-inf", "2"],
            "price": ["1.5", "1.5", "-2", "1.5", "inf"],
        }
    )
    buckets, rejects = validate_sales(raw)
    assert buckets.empty
    assert dict(zip(rejects["sku"], rejects["reason"])) == {
        "a": "non_finite_value",
        "b": "non_finite_value",
        "c": "negative_price",
        "d": "non_finite_value",
        "e": "non_finite_value",
    }


@st.composite
def raw_rows(draw):
    text = st.one_of(st.none(), st.text(max_size=8), st.sampled_from(["s1", "s2", "", " "]))
    number = st.one_of(
        st.none(),
        st.text(max_size=6),
        st.sampled_from(["inf", "-inf", "nan", "1e309", "-0", "NaN", "3", "2.5"]),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
    )
    ts = st.one_of(
        st.none(),
        st.text(max_size=10),
        st.sampled_from(
            [TS, "2026-11-20 10:07:00", "0001-01-01", "9999-12-31T23:55:00", "2026-11-20T10:05:00+25:00", "yesterday"]
        ),
    )
    n = draw(st.integers(0, 12))
    return pd.DataFrame(
        {
            "store_id": draw(st.lists(text, min_size=n, max_size=n)),
            "sku": draw(st.lists(text, min_size=n, max_size=n)),
            "ts": draw(st.lists(ts, min_size=n, max_size=n)),
            "units": draw(st.lists(number, min_size=n, max_size=n)),
            "price": draw(st.lists(number, min_size=n, max_size=n)),
        },
        columns=COLUMNS,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_rows())
def test_any_rows_are_each_a_bucket_or_a_reject_and_buckets_are_usable(raw):
    buckets, rejects = validate_sales(raw)
    assert len(buckets) + len(rejects) == len(raw)
    assert rejects["reason"].notna().all()
    assert np.isfinite(buckets["units"]).all() and (buckets["units"] >= 0).all()
    assert (buckets["price"].isna() | (np.isfinite(buckets["price"]) & (buckets["price"] >= 0))).all()
    assert not buckets.duplicated(["store_id", "sku", "ts"]).any()
    shuffled_b, shuffled_r = validate_sales(raw.sample(frac=1.0, random_state=1))
    pd.testing.assert_frame_equal(buckets, shuffled_b)
    pd.testing.assert_frame_equal(rejects, shuffled_r)


def test_an_unreadable_source_fails_with_one_line_naming_it(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv: the file is empty"):
        read_sales(str(empty), pd.Timestamp("2026-11-20"), pd.Timestamp("2026-11-21"))
    headless = tmp_path / "wrong.csv"
    headless.write_text("store,sku,when,units\nx,y,2026-11-20T10:00:00Z,3\n")
    with pytest.raises(ValueError, match=r"wrong\.csv: sales need the columns .* lacks \['store_id', 'ts'\]"):
        read_sales(str(headless), pd.Timestamp("2026-11-20"), pd.Timestamp("2026-11-21"))
    backend = backend_for(f"duckdb:///{tmp_path}/w.duckdb")
    with pytest.raises(ValueError, match=r"warehouse:raw\.sales: the warehouse has no table raw\.sales"):
        read_sales("warehouse:raw.sales", pd.Timestamp("2026-11-20"), pd.Timestamp("2026-11-21"), backend)


def test_the_cli_says_what_is_wrong_with_the_input(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    env = {
        "PATH": "/usr/bin:/bin",
        "WAREHOUSE_URL": f"duckdb:///{tmp_path}/w.duckdb",
        "DAGSTER_HOME": str(tmp_path),
        "MR_TICK_MINUTES": "60",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "minority_report_assets.cli",
            "run",
            "--from",
            "2026-11-20",
            "--to",
            "2026-11-20",
            "--sales",
            str(empty),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert "FAILED" in done.stdout and "empty.csv: the file is empty" in done.stdout, done.stdout + done.stderr


def test_an_hourly_feed_is_taken_as_it_is_each_hour_spread_over_its_buckets():
    raw = pd.DataFrame(
        {
            "store_id": ["s1", "s1", "s1"],
            "sku": ["a", "a", "a"],
            "ts": ["2026-11-20 10:00", "2026-11-20 11:00", "2026-11-20 11:05"],
            "units": ["120", "6", "1"],
            "price": ["2.5", None, "2.5"],
        }
    )
    buckets, rejects = validate_sales(raw, pd.Timedelta(hours=1))
    assert len(buckets) == 24 and buckets["ts"].is_monotonic_increasing
    assert buckets["ts"].iat[0] == pd.Timestamp("2026-11-20 10:00") and buckets["ts"].iat[-1] == pd.Timestamp(
        "2026-11-20 11:55"
    )
    assert buckets["units"].tolist() == [10.0] * 12 + [0.5] * 12, "an hour's units spread evenly"
    assert buckets["price"].iloc[:12].eq(2.5).all() and buckets["price"].iloc[12:].isna().all()
    assert rejects[["ts", "reason"]].values.tolist() == [["2026-11-20 11:05", "unaligned_bucket"]]
    assert rejects["detail"].iat[0] == "ts is not the start of a 60-minute bucket"


@pytest.mark.parametrize("minutes, tick", [(7, 15), (60, 15), (50, 100), (0, 15)])
def test_a_bucket_size_ticks_cannot_read_is_one_clear_error(minutes, tick):
    with pytest.raises(ValueError, match=f"sales rows of {minutes} minutes cannot be taken as they are"):
        check_bucket(pd.Timedelta(minutes=minutes), pd.Timedelta(minutes=tick))
    assert check_bucket(pd.Timedelta(hours=1), pd.Timedelta(hours=2)) == pd.Timedelta(hours=1)
