"""Dagster resources every code location shares."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from platform_core.warehouse import DEFAULT_WAREHOUSE_URL, Backend, backend_for

#: The concurrency pool of every asset that writes the warehouse: DuckDB admits one writer process,
#: so its instance limits the pool to 1 (dagster.yaml) and runs queue there, visibly, instead of
#: waiting on the file lock; Postgres takes more (dagster.postgres.yaml).
WAREHOUSE_POOL = "warehouse"


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


class Pseudonymizer(dg.ConfigurableResource):
    """HMAC key for pseudonymous user ids, from the environment variable ``env_name``."""

    salt: str
    env_name: str = "PSEUDONYM_SALT"
    public_default: str = "public-default-salt"

    @classmethod
    def from_env(cls, env_name: str, public_default: str) -> "Pseudonymizer":
        return cls(salt=env_or_default(env_name, public_default), env_name=env_name, public_default=public_default)

    def warn_if_default(self, log) -> bool:
        if self.salt != self.public_default:
            return False
        log.warning(
            f"{self.env_name} is not set: pseudonyms use the public default salt, so anyone who can "
            f"guess a user id can recompute them. Set {self.env_name} before running on real data."
        )
        return True
