"""Dagster resources every code location shares."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from platform_core.warehouse import DEFAULT_WAREHOUSE_URL, Backend, backend_for


def env_or_default(name: str, default: str) -> Any:
    """``EnvVar(name)`` when it is set (so the UI shows the name, never the value), else ``default``."""
    return dg.EnvVar(name) if os.environ.get(name) else default


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse every asset writes to: ``duckdb:///path`` (default) or ``postgresql://...``."""

    url: str = DEFAULT_WAREHOUSE_URL

    def backend(self) -> Backend:
        return backend_for(self.url)


def warehouse_from_env() -> WarehouseResource:
    return WarehouseResource(url=env_or_default("WAREHOUSE_URL", DEFAULT_WAREHOUSE_URL))


def warehouse_backend_from_env() -> Backend:
    """The warehouse outside a Dagster run (command line): resources resolve EnvVar only inside runs."""
    return backend_for(os.environ.get("WAREHOUSE_URL") or DEFAULT_WAREHOUSE_URL)
