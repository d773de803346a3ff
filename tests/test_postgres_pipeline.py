"""Production shape, for real: events from a Postgres event store, the warehouse on Postgres,
and Dagster's own instance on Postgres (dagster.postgres.yaml with DAGSTER_PG_URL): signals,
clusters, calibration, the backlog bridge and a decision."""

import shutil
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pandas as pd

from kura_assets import demo
from kura_assets.assets import (
    extraction_calibration_week,
    extraction_claims,
    extraction_underperforming_classes,
    learning_backlog,
    learning_backlog_candidates,
    learning_backlog_decisions,
)
from kura_assets.tables import LEARNING_BACKLOG, LEARNING_ISSUE_CLUSTERS_WEEK
from platform_core.hashing import content_hash
from platform_core.warehouse import backend_for
from tests.kura_assets.test_assets import check_evaluations, clusters_day, clusters_week, resources, run, signals_asset
from tests.kura_assets.test_sources import load_events_table

ROOT = Path(__file__).resolve().parents[1]
WEEK = demo.DEMO_START


def test_the_week_runs_on_postgres_end_to_end_and_matches_duckdb(pg_url, tmp_path, monkeypatch):
    days = [WEEK + timedelta(days=i) for i in range(7)]
    load_events_table(
        pg_url,
        pd.concat([demo.generate_day(d) for d in [days[0] - timedelta(days=1), *days, days[-1] + timedelta(days=1)]]),
    )

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.postgres.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", pg_url.replace("postgresql://", "postgresql+psycopg2://"))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        day_run = run([signals_asset, clusters_day], pg_url, days[0], days[-1], events=pg_url, instance=instance)
        week_run = run([clusters_week], pg_url, WEEK, events=pg_url, instance=instance)
        for result in (day_run, week_run):
            assert result.success and all(e.passed for e in check_evaluations(result))
        # Calibration, the bridge, the backlog and a human decision, on the same Postgres.
        assert run([extraction_claims], pg_url, days[0], days[-1], events=pg_url, instance=instance).success
        bridge = run(
            [extraction_calibration_week, extraction_underperforming_classes, learning_backlog_candidates],
            pg_url,
            WEEK,
            events=pg_url,
            instance=instance,
        )
        assert bridge.success and all(e.passed for e in check_evaluations(bridge))
        assert dg.materialize([learning_backlog], resources=resources(pg_url), instance=instance).success
        key = backend_for(pg_url).read(LEARNING_BACKLOG)["candidate_key"].iloc[0]
        config = {
            "ops": {
                "kura__learning_backlog_decisions": {
                    "config": {"candidate_key": key, "decision": "approved", "actor": "pg"}
                }
            }
        }
        assert dg.materialize(
            [learning_backlog_decisions, learning_backlog],
            resources=resources(pg_url),
            run_config=config,
            instance=instance,
        ).success
        assert backend_for(pg_url).read(LEARNING_BACKLOG, where={"candidate_key": key})["status"].tolist() == [
            "approved"
        ]
        stored = instance.get_run_by_id(week_run.run_id)
        assert stored is not None and stored.is_success
        assert "postgres" in type(instance.run_storage).__name__.lower()

    on_postgres = backend_for(pg_url).read(LEARNING_ISSUE_CLUSTERS_WEEK, where={"period_start": WEEK})
    duck = f"duckdb:///{tmp_path}/w.duckdb"
    assert (
        run([signals_asset, clusters_day], duck, days[0], days[-1]).success and run([clusters_week], duck, WEEK).success
    )
    on_duckdb = backend_for(duck).read(LEARNING_ISSUE_CLUSTERS_WEEK, where={"period_start": WEEK})
    assert len(on_postgres) == len([p for p in demo.PLANTED if p.week_events]) == 6
    assert content_hash(LEARNING_ISSUE_CLUSTERS_WEEK, on_postgres) == content_hash(
        LEARNING_ISSUE_CLUSTERS_WEEK, on_duckdb
    )
