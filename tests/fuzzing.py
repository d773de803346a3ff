"""What the source-contract fuzz tests share: the settings, and a run that must pass whole."""

import dagster as dg
from hypothesis import HealthCheck, Phase, settings

#: Few examples, the same ones every run; a failing one is reported as drawn (shrinking reruns Dagster).
FUZZ = settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def quietly_materialize(assets: list, **kwargs) -> None:
    """Materialize (console logs off: a failure is told here), asserting the run and every check passed."""
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    result = dg.materialize(assets, raise_on_error=False, run_config=quiet, **kwargs)
    failures = [str(e.event_specific_data.error) for e in result.get_step_failure_events()]
    assert result.success, failures[0][-2500:] if failures else "the run failed"
    checks = {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert checks and all(checks.values()), checks


#: Texts of a time that name none (pandas reads "now" and "today" as the clock's time).
NO_TIME_TEXTS = [None, "", " ", "\x00", "yesterday", "now", "today", "2026-11-20 25:61", "1e309", "inf"]
