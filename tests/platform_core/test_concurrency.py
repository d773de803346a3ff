"""Runs queue for the warehouse, visibly: every asset is in the warehouse pool, the instance
limits it (1 on DuckDB's SQLite instance), and a DuckDB reader held up by a writer says so."""

import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from platform_core.resources import WAREHOUSE_POOL
from platform_core.warehouse import DuckDBBackend

ROOT = Path(__file__).resolve().parents[2]


def test_every_asset_writes_the_warehouse_through_its_pool():
    from kura_assets.definitions import defs as kura
    from minority_report_assets.definitions import defs as minority
    from replay_assets.definitions import defs as replay

    pools = {}
    for defs in (kura, replay, minority):
        for assets in defs.resolve_asset_graph().assets_defs:
            if assets.is_executable:
                pools[assets.node_def.name] = assets.op.pool
    assert len(pools) >= 15 and set(pools.values()) == {WAREHOUSE_POOL}, pools


@pytest.mark.parametrize("config, limit", [("dagster.yaml", 1), ("dagster.postgres.yaml", 4)])
def test_the_instance_configs_limit_the_pool(tmp_path, monkeypatch, config, limit):
    shutil.copy(ROOT / config, tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", "postgresql+psycopg2://unused@127.0.0.1:5432/unused")
    from dagster._core.instance.config import dagster_instance_config

    values, _ = dagster_instance_config(str(tmp_path))
    assert values["concurrency"]["pools"]["default_limit"] == limit
    assert values["concurrency"]["runs"]["max_concurrent_runs"] == 2


WAITING_RUN = f"""
import dagster as dg

@dg.asset(pool={WAREHOUSE_POOL!r})
def writes_the_warehouse():
    return 1

result = dg.materialize([writes_the_warehouse], instance=dg.DagsterInstance.get())
blocked = any("blocked by limit for pool {WAREHOUSE_POOL}" in (e.message or "") for e in result.all_events)
print("success" if result.success else "failure", "blocked" if blocked else "not-blocked")
"""


def test_a_run_waits_for_the_pool_and_says_so(tmp_path, monkeypatch):
    """The waiting run is its own process (as a second run is), so nothing in this one's state can hold it."""
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    instance = dg.DagsterInstance.get()
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
    assert storage.claim_concurrency_slot(WAREHOUSE_POOL, "a-run-writing-now", "its-step").is_claimed

    waiting = subprocess.Popen([sys.executable, "-c", WAITING_RUN], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not storage.get_concurrency_info(WAREHOUSE_POOL).pending_step_count:
            assert waiting.poll() is None and time.monotonic() < deadline, "the second writer queues for the slot"
            time.sleep(0.2)
        assert waiting.poll() is None, "the second writer waits while the slot is held"
        storage.free_concurrency_slots_for_run("a-run-writing-now")
        out, _ = waiting.communicate(timeout=120)
    finally:
        waiting.kill()
    assert out.split() == ["success", "blocked"]


def test_a_duckdb_reader_held_up_by_a_writer_says_who_holds_the_file(tmp_path, caplog, monkeypatch):
    path = tmp_path / "w.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('held', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setattr("platform_core.warehouse.LOCK_NOTICE_S", 0.5)
        backend = DuckDBBackend(str(path), lock_timeout_s=1.5)
        with caplog.at_level(logging.WARNING, logger="platform_core.warehouse"), pytest.raises(Exception, match="lock"):
            backend.columns("s", "t")
        lines = [r.getMessage() for r in caplog.records]
        assert lines and all(f"waiting for {path}: held by process {holder.pid}" in line for line in lines), lines
    finally:
        holder.kill()
        holder.wait()
