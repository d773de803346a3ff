#!/usr/bin/env bash
# Prepare DAGSTER_HOME (default .dagster) with the instance config the environment asks for:
# Postgres storage when DAGSTER_PG_URL is set, SQLite otherwise.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
home="${DAGSTER_HOME:-$root/.dagster}"
mkdir -p "$home"
if [ -n "${DAGSTER_PG_URL:-}" ]; then
  cp "$root/dagster.postgres.yaml" "$home/dagster.yaml"
else
  cp "$root/dagster.yaml" "$home/dagster.yaml"
fi
