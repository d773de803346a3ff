"""Each code location loads, and its catalog is what the snapshot says: asset keys, their upstream
assets, checks, partitions, kinds and owners; jobs, schedules and sensors, each described.
An intended change rewrites the snapshot (``WRITE_DEFINITIONS=1``) in the same commit."""

import importlib
import json
import os
from pathlib import Path

import dagster as dg
import pytest

from platform_core.table_asset import storage_kind

SNAPSHOTS = Path(__file__).with_name("definitions")
LOCATIONS = ["kura_assets", "replay_assets", "minority_report_assets"]


def partitions_of(p) -> str | None:
    if p is None:
        return None
    if isinstance(p, dg.MultiPartitionsDefinition):
        return " x ".join(f"{d.name}: {partitions_of(d.partitions_def)}" for d in p.partitions_defs)
    if isinstance(p, dg.TimeWindowPartitionsDefinition):
        return f"{p.cron_schedule} from {p.start:%Y-%m-%d %H:%M}"
    return type(p).__name__


def catalog(defs: dg.Definitions) -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "upstream": sorted(k.to_user_string() for k in node.parent_keys),
            "checks": sorted(c.name for c in graph.get_check_keys_for_assets({key})),
            "partitions": partitions_of(node.partitions_def),
            # the warehouse kind follows WAREHOUSE_URL where the location loads
            "kinds": sorted("<warehouse>" if node.is_materializable and k == storage_kind() else k for k in node.kinds),
            "owners": list(node.owners),
            "group": node.group_name,
            "materializable": node.is_materializable,
            "column_schema": "dagster/column_schema" in node.metadata,
            "freshness": repr(node.freshness_policy) if node.freshness_policy else None,
            "code_version": node.code_version,
        }
    jobs = {j.name: j.description for j in defs.resolve_all_job_defs() if not j.name.startswith("__")}
    repository = defs.get_repository_def()
    schedules = {
        s.name: {
            "cron": s.cron_schedule,
            "job": s.job_name,
            "default_status": s.default_status.value,
            "description": s.description,
        }
        for s in repository.schedule_defs
    }
    sensors = {
        s.name: {"default_status": s.default_status.value, "description": s.description} for s in repository.sensor_defs
    }
    return {"assets": assets, "jobs": jobs, "schedules": schedules, "sensors": sensors}


@pytest.mark.parametrize("location", LOCATIONS)
def test_the_location_loads_as_the_snapshot_says(location):
    found = json.loads(json.dumps(catalog(importlib.import_module(f"{location}.definitions").defs), default=str))
    snapshot = SNAPSHOTS / f"{location}.json"
    if os.environ.get("WRITE_DEFINITIONS"):
        SNAPSHOTS.mkdir(exist_ok=True)
        snapshot.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    assert found == json.loads(snapshot.read_text())


@pytest.mark.parametrize("location", LOCATIONS)
def test_every_job_schedule_sensor_and_asset_says_what_it_is(location):
    defs = importlib.import_module(f"{location}.definitions").defs
    found = catalog(defs)
    assert found["jobs"] and all(found["jobs"].values()), found["jobs"]
    assert all(s["description"] for s in [*found["schedules"].values(), *found["sensors"].values()])
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and node.owners, key
        assert "dagster/column_schema" in node.metadata, f"{key.to_user_string()} has no column schema"
