"""The minority-report code location: sales -> detected anomalies (MRDL) -> shape and pattern per
tick (MRCL), append-only and replayable, with the pattern library, a daily map and summary."""

import dagster as dg

from minority_report_assets.assets import (
    SALES_SOURCE,
    cluster_library,
    minority_report_attribution_summary,
    minority_report_map,
    minority_reports_clustered_log,
    minority_reports_detected_log,
    sales_baseline,
    sales_timeseries_data,
)
from minority_report_assets.resources import sales_source_from_env
from minority_report_assets.schedules import (
    mr_baseline_job,
    mr_baseline_schedule,
    mr_daily_job,
    mr_day_complete,
    mr_library_job,
    mr_tick_job,
    mr_tick_schedule,
)
from platform_core.resources import warehouse_from_env

ASSETS = [
    SALES_SOURCE,
    sales_timeseries_data,
    sales_baseline,
    cluster_library,
    minority_reports_detected_log,
    minority_reports_clustered_log,
    minority_report_map,
    minority_report_attribution_summary,
]

defs = dg.Definitions(
    assets=ASSETS,
    jobs=[mr_tick_job, mr_baseline_job, mr_library_job, mr_daily_job],
    schedules=[mr_tick_schedule, mr_baseline_schedule],
    sensors=[mr_day_complete],
    resources={
        "warehouse": warehouse_from_env(),
        "sales_source": sales_source_from_env(),
    },
)
