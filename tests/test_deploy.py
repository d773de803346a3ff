"""The Kubernetes deployment in deploy/: what can be checked here without a cluster.

The instance the chart renders (deploy/instance.yaml) validates against Dagster's instance schema
and its run launcher's own config schema; the executor's run config (deploy/executor.yaml)
against dagster_k8s.k8s_job_executor's; the chart values deploy one user-code deployment per code
location of workspace.yaml, with modules that load. A cluster, the chart's rendering and the
image build are not run here.
"""

import importlib
import shutil
from pathlib import Path

import dagster as dg
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes.config_class import class_from_code_pointer
from dagster_k8s import k8s_job_executor

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def test_the_rendered_instance_validates_against_dagsters_schema(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "from-a-secret")
    shutil.copy(DEPLOY / "instance.yaml", tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))
    launcher = config["run_launcher"]
    cls = class_from_code_pointer(launcher["module"], launcher["class"])
    assert cls.__name__ == "K8sRunLauncher"
    checked = process_config(cls.config_type(), launcher["config"])
    assert checked.success, checked.errors
    assert config["concurrency"]["pools"]["default_limit"] > 1, "Postgres admits several writers of the warehouse pool"


def test_the_step_per_pod_executor_config_validates():
    run_config = yaml.safe_load((DEPLOY / "executor.yaml").read_text())
    checked = process_config(k8s_job_executor.config_schema.config_type, run_config["execution"]["config"])
    assert checked.success, checked.errors


def test_the_chart_deploys_every_code_location_of_the_workspace():
    values = yaml.safe_load((DEPLOY / "values.yaml").read_text())
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    modules = sorted(
        entry["python_module"]["module_name"] if isinstance(entry["python_module"], dict) else entry["python_module"]
        for entry in workspace["load_from"]
    )
    deployed = sorted(
        d["dagsterApiGrpcArgs"][d["dagsterApiGrpcArgs"].index("-m") + 1]
        for d in values["dagster-user-deployments"]["deployments"]
    )
    assert deployed == modules and len(modules) == 3
    for module in deployed:
        assert isinstance(importlib.import_module(module).defs, dg.Definitions)
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    secrets = {s["name"] for s in values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]}
    instance = yaml.safe_load((DEPLOY / "instance.yaml").read_text())
    assert secrets == set(instance["run_launcher"]["config"]["env_secrets"]), "values and rendered instance agree"
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert all(
        f"COPY {package} {package}" in dockerfile for package in ("platform_core", *[m.split(".")[0] for m in modules])
    )
