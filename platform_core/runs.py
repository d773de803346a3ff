"""Running a location's jobs from the command line (the demo, reviewer commands)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

ROOT = Path(__file__).resolve().parents[1]


def cli_instance() -> dg.DagsterInstance:
    """The Dagster instance in ``DAGSTER_HOME``; from a plain shell (``DAGSTER_HOME`` unset) the
    project's own ``.dagster``, prepared as ``make instance`` does (Postgres storage when
    ``DAGSTER_PG_URL`` is set), so the runs show in ``make ui``."""
    if not os.environ.get("DAGSTER_HOME"):
        home = ROOT / ".dagster"
        home.mkdir(exist_ok=True)
        if not (home / "dagster.yaml").exists():
            shutil.copy(
                ROOT / ("dagster.postgres.yaml" if os.environ.get("DAGSTER_PG_URL") else "dagster.yaml"),
                home / "dagster.yaml",
            )
        os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def run_job(
    defs: dg.Definitions,
    job_name: str,
    first: str | None,
    last: str | None,
    instance: dg.DagsterInstance,
    run_config: dict | None = None,
    console_level: str = "WARNING",
) -> dg.ExecuteInProcessResult:
    """Run a job, over partitions ``first..last`` as one run (single-run backfill) when given. The
    console shows ``console_level`` and above (the run's whole log is in the instance, for the UI)."""
    job = defs.resolve_job_def(job_name)
    tags = {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last} if first else {}
    quiet = {"loggers": {"console": {"config": {"log_level": console_level}}}}
    return job.execute_in_process(
        instance=instance, tags=tags, run_config={**quiet, **(run_config or {})}, raise_on_error=False
    )


def failed_checks(result: dg.ExecuteInProcessResult) -> list[str]:
    return [
        f"{e.asset_check_evaluation_data.asset_key.to_user_string()}:{e.asset_check_evaluation_data.check_name}"
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.asset_check_evaluation_data.passed
    ]


def step_errors(result: dg.ExecuteInProcessResult) -> list[str]:
    """Per failed step, the first line of its error's innermost cause (Dagster wraps what the
    step raised; the cause is what a user has to fix)."""
    out = []
    for e in result.all_events:
        if e.event_type_value == "STEP_FAILURE" and e.step_failure_data.error:
            error = e.step_failure_data.error
            while error.cause is not None:
                error = error.cause
            out.append(f"{e.step_key}: {(error.message.strip().splitlines() or [''])[0]}")
    return out


def run_summary(result: dg.ExecuteInProcessResult, label: str) -> tuple[bool, str]:
    """Whether the run succeeded with every check passing, and a one-line account of it."""
    failed = failed_checks(result)
    errors = [] if result.success else step_errors(result)
    line = (
        f"{label}: {'ok' if result.success else 'FAILED'}"
        f"{'; failed checks: ' + ', '.join(failed) if failed else ', all checks passed' if result.success else ''}"
        f"{'; ' + '; '.join(errors) if errors else ''} (run {result.run_id})"
    )
    return result.success and not failed, line
