"""Checks evaluated on a partition *before* it is written, then reported to Dagster.

Dagster's own blocking checks run after the write; here the asset evaluates its checks on
the frames it is about to commit, refuses to write when a blocking one fails, and reports
every result as an ``AssetCheckResult`` either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pandas as pd

from platform_core.tables import TableSpec
from platform_core.warehouse import Backend, InvalidPartition, PartitionWrite, manifest_spec, partition_key


@dataclass
class CheckOutcome:
    asset_key: dg.AssetKey
    name: str
    partition: str
    passed: bool
    detail: str = ""
    blocking: bool = True


class BlockingCheckFailed(Exception):
    def __init__(self, failed: Sequence[CheckOutcome]):
        self.failed = list(failed)
        super().__init__(
            "; ".join(f"{o.asset_key.to_user_string()} {o.name} [{o.partition}]: {o.detail}" for o in failed)
        )


def spec_for(name: str, asset_key: dg.AssetKey, description: str, blocking: bool = True) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=asset_key, description=description, blocking=blocking)


def prepare(
    asset_key: dg.AssetKey, spec: TableSpec, partition: dict[str, Any], frame: pd.DataFrame, input_hash: str
) -> tuple[PartitionWrite | None, CheckOutcome]:
    """The write for one partition and its ``schema_valid`` outcome (no write when invalid)."""
    try:
        write = PartitionWrite(spec, partition, frame, input_hash)
    except InvalidPartition as exc:
        return None, CheckOutcome(asset_key, "schema_valid", partition_key(partition), False, str(exc))
    return write, CheckOutcome(
        asset_key, "schema_valid", write.key, True, f"{write.rows} rows match {spec.qualified_name}"
    )


def replay_check(
    asset_key: dg.AssetKey, write: PartitionWrite, previous: Mapping[str, tuple[str, str]]
) -> CheckOutcome:
    """Same inputs as the last write of this partition must give the same content hash."""
    before = previous.get(write.key)
    if before is None or before[0] != write.input_hash:
        return CheckOutcome(asset_key, "deterministic_replay", write.key, True, "first write with these inputs")
    same = before[1] == write.content_hash
    detail = (
        "same inputs, same content hash"
        if same
        else f"same inputs but content hash {write.content_hash} != {before[1]}"
    )
    return CheckOutcome(asset_key, "deterministic_replay", write.key, same, detail)


def previous_hashes(backend: Backend, spec: TableSpec) -> dict[str, tuple[str, str]]:
    """``partition_key -> (input_hash, content_hash)`` of the partitions already written."""
    m = backend.manifest(spec.schema, spec.name)
    return {k: (i, c) for k, i, c in zip(m["partition_key"], m["input_hash"], m["content_hash"])}


def written(backend: Backend, spec: TableSpec, partition: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """``{partition_key: (input_hash, content_hash)}`` of one partition of ``spec`` ({} when not written)."""
    key = partition_key(partition)
    m = backend.manifest(spec.schema, spec.name, key)
    return {key: (m["input_hash"].iat[0], m["content_hash"].iat[0])} if len(m) else {}


def require_partitions(backend: Backend, spec: TableSpec, partitions: Sequence[dict[str, Any]], what: str) -> list[str]:
    """Content hashes of upstream partitions of one partition column, in order; a failure naming
    the missing ones (nothing is written). One manifest read: a column's keys sort as their values."""
    keys = [partition_key(p) for p in partitions]
    if not keys:
        return []
    manifest, p = manifest_spec(spec.schema), backend.placeholder
    found = backend.query(
        manifest,
        f"SELECT * FROM {manifest.qualified_name} WHERE table_name = {p} AND partition_key >= {p} AND partition_key <= {p}",
        [spec.name, min(keys), max(keys)],
        over=[manifest],
    ).set_index("partition_key")["content_hash"]
    missing = [k for k in keys if k not in found.index]
    if missing:
        raise dg.Failure(
            description=f"{what} needs {spec.qualified_name} for {', '.join(missing[:6])}"
            f"{' and more' if len(missing) > 6 else ''}: materialize those first (nothing was written).",
            allow_retries=False,
        )
    return [found[k] for k in keys]


def require_predecessors(
    backend: Backend,
    spec: TableSpec,
    partitions: Sequence[dict[str, Any]],
    what: str,
    column: str,
    first: Any,
) -> list[str]:
    """Content hashes of the earlier partitions a partition continues from (``partitions``, in
    order), with a failure naming any that is missing: the one rule of every continuation.

    Nothing lies before a series' first partition: partitions whose time ``column`` is before ``first``
    (where the partitions start, or where a series was first written) are not required, so the first
    partition starts from nothing instead of failing.
    """
    after = [p for p in partitions if pd.Timestamp(p[column]) >= pd.Timestamp(first)]
    return require_partitions(backend, spec, after, what)


def commit(backend: Backend, writes: Sequence[PartitionWrite], outcomes: Sequence[CheckOutcome]) -> None:
    """Write ``writes`` in one transaction unless a blocking check failed."""
    failed = [o for o in outcomes if o.blocking and not o.passed]
    if failed:
        raise BlockingCheckFailed(failed)
    backend.write(writes)


def check_results(outcomes: Sequence[CheckOutcome]) -> list[dg.AssetCheckResult]:
    """One result per (asset, check) across the partitions of the run, detailing the failing partitions if any."""
    grouped: dict[tuple[dg.AssetKey, str], list[CheckOutcome]] = {}
    for o in outcomes:
        grouped.setdefault((o.asset_key, o.name), []).append(o)
    results = []
    for (key, name), items in grouped.items():
        failed = [o for o in items if not o.passed]
        shown = failed or items
        results.append(
            dg.AssetCheckResult(
                asset_key=key,
                check_name=name,
                passed=not failed,
                severity=dg.AssetCheckSeverity.ERROR if any(o.blocking for o in items) else dg.AssetCheckSeverity.WARN,
                metadata={
                    "partitions_checked": len(items),
                    "partitions_failed": len(failed),
                    "details": dg.MetadataValue.json({o.partition: o.detail for o in shown[:50]}),
                },
            )
        )
    return results


def fail_with_results(outcomes: Sequence[CheckOutcome], exc: Exception):
    """Report the checks evaluated so far, then fail the run: the failing partition was not written."""
    yield from check_results(outcomes)
    raise dg.Failure(description=f"Nothing was written for the failing partition: {exc}", allow_retries=False)
