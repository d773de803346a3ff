"""The one asset shape: a failing partition writes nothing, and what was committed before it is
known to Dagster with its own facts; a non-blocking check never stops a write."""

import dagster as dg
import pandas as pd
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from platform_core.resources import WarehouseResource
from platform_core.table_asset import Check, Output, Written, table_asset
from platform_core.tables import Column, TableSpec
from platform_core.warehouse import backend_for

SPEC = TableSpec("t", "numbers", (Column("day", "DATE"), Column("n", "BIGINT")), ("day",), ("n",))
DAYS = dg.DailyPartitionsDefinition(start_date="2026-11-01")


def numbers(bad_day: str | None, warn_day: str | None = None):
    def step(run):
        for day in run.context.partition_keys:
            part = Written(
                day,
                day,
                {SPEC.name: ({"day": pd.Timestamp(day)}, pd.DataFrame({"day": [pd.Timestamp(day)], "n": [1]}))},
                input_hash=day,
                facts={SPEC.name: {"day_of_month": int(day[-2:])}},
            )
            part.check(SPEC, "not_bad", day != bad_day, f"{day} is {'bad' if day == bad_day else 'fine'}")
            part.check(SPEC, "just_a_warning", day != warn_day, "a warning only")
            yield part

    return table_asset(
        outputs=[Output(SPEC, "Numbers per day.")],
        step=step,
        group="t",
        owners=["team:t"],
        partitions_def=DAYS,
        checks=[Check(SPEC, "not_bad", "The day is not bad."), Check(SPEC, "just_a_warning", "Warns.", blocking=False)],
    )


def run(asset, url, first, last):
    return dg.materialize(
        [asset],
        resources={"warehouse": WarehouseResource(url=url)},
        raise_on_error=False,
        tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
    )


def test_a_failing_partition_writes_nothing_and_the_ones_before_it_are_reported(tmp_path):
    url = f"duckdb:///{tmp_path}/w.duckdb"
    result = run(numbers(bad_day="2026-11-02"), url, "2026-11-01", "2026-11-03")
    assert not result.success
    written = backend_for(url).read(SPEC)
    assert sorted(written["day"].dt.strftime("%Y-%m-%d")) == ["2026-11-01"], "day 2 failed: nothing of it, nor of day 3"
    events = result.get_asset_materialization_events()
    assert [(e.materialization.partition, e.materialization.metadata["day_of_month"].value) for e in events] == [
        ("2026-11-01", 1)
    ]
    checks = [
        e.asset_check_evaluation_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert any(c.check_name == "not_bad" and not c.passed for c in checks)


def test_a_failing_non_blocking_check_still_writes(tmp_path):
    url = f"duckdb:///{tmp_path}/w.duckdb"
    result = run(numbers(bad_day=None, warn_day="2026-11-02"), url, "2026-11-01", "2026-11-03")
    assert result.success
    assert len(backend_for(url).read(SPEC)) == 3
    assert sorted(e.materialization.partition for e in result.get_asset_materialization_events()) == [
        "2026-11-01",
        "2026-11-02",
        "2026-11-03",
    ]


def reading(error: Exception):
    """An asset with the source retry policy whose step fails reading its source with ``error``."""
    tries = []

    def step(run):
        tries.append(1)
        raise error
        yield  # a generator, as steps are

    asset = table_asset(
        outputs=[Output(SPEC, "Numbers per day.")],
        step=step,
        group="t",
        owners=["team:t"],
        partitions_def=DAYS,
        retry_policy=dg.RetryPolicy(max_retries=2, delay=0),
    )
    return asset, tries


def test_an_error_the_inputs_decide_fails_once_in_one_line_and_a_dropped_connection_is_retried(tmp_path):
    import errno

    from platform_core.table_asset import transient

    url = f"duckdb:///{tmp_path}/w.duckdb"
    asset, tries = reading(FileNotFoundError(2, "No such file or directory", "sales.csv"))
    result = run(asset, url, "2026-11-01", "2026-11-01")
    assert not result.success and len(tries) == 1, "a missing file stays missing: no retry"
    failure = result.get_step_failure_events()[0].event_specific_data.error
    assert failure.message.strip().endswith("FileNotFoundError: [Errno 2] No such file or directory: 'sales.csv'")
    asset, tries = reading(ConnectionResetError(errno.ECONNRESET, "connection reset by peer"))
    assert not run(asset, url, "2026-11-01", "2026-11-01").success and len(tries) == 3, "tried, then retried twice"
    assert transient(RuntimeError("reading failed")) is False
    try:
        raise ValueError("while reading") from TimeoutError("read timed out")
    except ValueError as chained:
        assert transient(chained), "a timeout anywhere in the chain of causes"
