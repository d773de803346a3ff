#!/usr/bin/env bash
# Prepare DAGSTER_HOME (default .dagster) with the instance config the environment asks for:
# Postgres storage when DAGSTER_PG_URL is set, SQLite otherwise.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
home="${DAGSTER_HOME:-$root/.dagster}"
mkdir -p "$home"
if [ -n "${DAGSTER_PG_URL:-}" ]; then
  cp "$root/dagster.postgres.yaml" "$home/dagster.yaml"
  # Create the warehouse pool's limit row once, before any run: two runs starting at the same
  # moment on a fresh Postgres instance both try to, and one fails (dagster-io/dagster#33552).
  DAGSTER_HOME="$home" "$root/.venv/bin/python" -c \
    "import dagster as dg
with dg.DagsterInstance.get() as instance:
    instance.event_log_storage.initialize_concurrency_limit_to_default('warehouse')"
else
  cp "$root/dagster.yaml" "$home/dagster.yaml"
fi
