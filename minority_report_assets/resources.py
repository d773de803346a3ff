"""Resources of the minority-report location: where sales come from."""

import dagster as dg
import pandas as pd

from minority_report_assets.sources import read_sales
from platform_core.warehouse import Backend


class SalesSource(dg.ConfigurableResource):
    """``SALES_URL``: ``demo`` (default), a ``.csv`` / ``.parquet`` file, or ``warehouse:schema.table``."""

    url: str = "demo"

    def read(self, start: pd.Timestamp, end: pd.Timestamp, warehouse: Backend) -> pd.DataFrame:
        return read_sales(self.url, start, end, warehouse)
