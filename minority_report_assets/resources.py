"""Resources of the minority-report location: where sales come from."""

import os

import dagster as dg
import pandas as pd
from pydantic import Field

from minority_report_assets.partitions import TICK
from minority_report_assets.sales import check_bucket
from minority_report_assets.sources import read_sales
from platform_core.resources import env_or_default
from platform_core.warehouse import Backend


class SalesSource(dg.ConfigurableResource):
    """``SALES_URL``: ``demo`` (default), a ``.csv`` / ``.parquet`` file, or ``warehouse:schema.table``;
    ``SALES_BUCKET_MINUTES``: the size of its rows."""

    url: str = "demo"
    bucket_minutes: int = Field(
        5,
        description="The size of the source's rows (``SALES_BUCKET_MINUTES``): 5, or an hourly (60) or daily "
        "(1440) feed, taken as it is; the tick must be a multiple of it.",
    )

    @property
    def bucket(self) -> pd.Timedelta:
        """The source's bucket size, when ticks can read it (else one clear error)."""
        return check_bucket(pd.Timedelta(minutes=self.bucket_minutes), TICK)

    def read(self, start: pd.Timestamp, end: pd.Timestamp, warehouse: Backend) -> pd.DataFrame:
        return read_sales(self.url, start, end, warehouse)


def sales_source_from_env() -> SalesSource:
    """The source ``SALES_URL`` names (the demo by default), its rows ``SALES_BUCKET_MINUTES`` long
    (5 by default); a size ticks cannot read is one clear error when the location loads."""
    text = os.environ.get("SALES_BUCKET_MINUTES", "5")
    if not text.strip().isdigit():
        raise ValueError(f"SALES_BUCKET_MINUTES={text!r} is not a whole number of minutes")
    check_bucket(pd.Timedelta(minutes=int(text)), TICK)  # now, not at the first tick
    return SalesSource(url=env_or_default("SALES_URL", "demo"), bucket_minutes=int(text))
