"""One shape for every asset that writes warehouse tables partition by partition.

An asset is its output tables (:class:`Output`), the checks it adds, and one step: a function
of the run (:class:`Run`) that yields each partition's frames (:class:`Written`), in order.
:func:`table_asset` owns everything else, once: the Dagster specs (keys from the table
contracts, column schemas with privacy tags, storage kinds, owners), the contract and replay
checks, evaluating every check *before* the write, the atomic commit of each partition, the
partition's own metadata (row count, hashes, facts, a markdown table of what a reviewer reads),
and the failure path (a failing blocking check writes nothing and fails the run, naming it).

The step is a generator: it may do the range's shared work once before its first partition,
and everything it reads after a ``yield`` sees the partitions committed before (a tick starting
from the one before it). A partition too large to hold (a kura day of millions of lines) is
yielded as :class:`~platform_core.warehouse.Batches`: checked, hashed and written batch by
batch (no markdown table of its rows; the step's facts can carry one).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import dagster as dg
import pandas as pd

from platform_core.checks import (
    BlockingCheckFailed,
    CheckOutcome,
    check_results,
    commit,
    fail_with_results,
    prepare,
    replay_check,
    spec_for,
    written,
)
from platform_core.privacy import People, find_raw_ids
from platform_core.resources import WAREHOUSE_POOL
from platform_core.tables import TableSpec
from platform_core.warehouse import DEFAULT_WAREHOUSE_URL, Backend, Batches

#: Steps that read an outside source retry twice, and only on what a retry can mend (``transient``:
#: a dropped connection, a timeout, a lock); a failure the inputs decide (a missing file, a wrong
#: column type, a failing check, a missing upstream partition) fails once, in one line.
SOURCE_RETRY = dg.RetryPolicy(max_retries=2, delay=2, backoff=dg.Backoff.EXPONENTIAL)

#: errno values of a network that may come back.
_NETWORK_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.ETIMEDOUT,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ENETDOWN,
    errno.EPIPE,
}


def transient(exc: BaseException) -> bool:
    """Whether retrying could succeed: a connection that dropped or was refused, a timeout, a lock
    held by another process, anywhere in the chain of causes; anything else the inputs decide."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        name = f"{type(exc).__module__}.{type(exc).__name__}"
        if isinstance(exc, (ConnectionError, TimeoutError)) or (
            isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS
        ):
            return True
        if name.startswith(("requests.exceptions.", "urllib3.exceptions.")) and any(
            word in type(exc).__name__ for word in ("Connection", "Timeout")
        ):
            return True
        if name.endswith(("OperationalError", "IOException")) and any(
            word in str(exc).lower() for word in ("lock", "connection", "timeout", "could not connect")
        ):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def asset_key(spec: TableSpec) -> dg.AssetKey:
    """Every table asset is keyed ``[schema, table]``."""
    return dg.AssetKey([spec.schema, spec.name])


@dataclass(frozen=True)
class Output:
    """One table an asset writes, and how the catalog shows it."""

    spec: TableSpec
    description: str
    replayed: bool = True  # checked: the same inputs as the last write give the same content hash
    append_only: bool = False  # checked: a partition once written is never rewritten with other rows
    #: The rows a reviewer reads first, shown as a markdown table on each partition's page (of a frame).
    shown: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    deps: Sequence[dg.AssetKey | dg.AssetDep] = ()
    #: False: a side table written in the same transaction (run telemetry several assets share),
    #: checked and reported on the asset of the first output instead of being an asset of its own.
    own_asset: bool = True
    #: When a user expects the table fresh (shown, and checked, on the asset page).
    freshness: dg.FreshnessPolicy | None = None

    def __post_init__(self) -> None:
        if not self.own_asset and (self.replayed or self.append_only):
            raise ValueError(
                f"{self.spec.name}: a side table has no checks of its own (replayed=False, append_only=False)"
            )


@dataclass(frozen=True)
class Check:
    """A check the step adds to every partition of ``spec``'s asset (see :meth:`Written.check`)."""

    spec: TableSpec
    name: str
    description: str
    blocking: bool = True


@dataclass
class Written:
    """One partition from the step: a frame per output table (by table name) with the partition it
    replaces, the hash of what it was computed from, the checks the asset adds, and facts shown on
    the partition's page (per table name; numbers plot over partitions)."""

    label: str  # how checks and logs name the partition, e.g. 2026-W46
    partition_key: str | None  # Dagster's partition key (None: an unpartitioned table)
    #: table name -> (partition, frame or Batches); the frame may be a function of the content hashes
    #: of the outputs before it ("" where invalid), for telemetry that names what was written.
    frames: dict[str, tuple[dict[str, Any], pd.DataFrame | Batches | Callable[[dict[str, str]], pd.DataFrame]]]
    input_hash: str
    checks: list[CheckOutcome] = field(default_factory=list)
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: str = ""
    #: Who the partition's inputs name, for an asset that reads people's data (``table_asset(people=True)``).
    people: People | None = None

    def check(self, spec: TableSpec, name: str, passed: bool, detail: str) -> None:
        """Report a check the asset declares (whether it blocks is the declaration's to say)."""
        self.checks.append(CheckOutcome(asset_key(spec), name, self.label, bool(passed), detail))


@dataclass
class Run:
    """What a step sees: the Dagster context, the warehouse, and the run's validated config."""

    context: dg.AssetExecutionContext
    backend: Backend
    config: Any

    @property
    def resources(self):
        return self.context.resources

    @property
    def log(self):
        return self.context.log


def storage_kind() -> str:
    """The warehouse kind the catalog shows, from ``WAREHOUSE_URL`` as the code location loads."""
    return "postgres" if (os.environ.get("WAREHOUSE_URL") or DEFAULT_WAREHOUSE_URL).startswith("postgres") else "duckdb"


_TYPE_NAMES = {"VECTOR": "FLOAT[]"}


def column_schema(spec: TableSpec) -> dg.TableSchema:
    """The table contract as Dagster's column schema; privacy-relevant columns carry a ``pii`` tag."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                c.name,
                _TYPE_NAMES.get(c.type, c.type),
                description=c.description or None,
                constraints=dg.TableColumnConstraints(
                    nullable=c.nullable, unique=spec.key == (c.name,) and not spec.partition_columns
                ),
                tags={"pii": c.privacy} if c.privacy else None,
            )
            for c in spec.columns
        ]
    )


def source_spec(
    key: Sequence[str],
    *,
    group: str,
    owners: Sequence[str],
    kinds: set[str],
    description: str,
    columns: Sequence[tuple[str, str]],
    raw_ids: Sequence[str] = (),
) -> dg.AssetSpec:
    """A raw input the graph reads but never writes (an external asset upstream of the first
    assets), with its columns; ``raw_ids`` names the columns holding users' own ids."""
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn(name, kind, tags={"pii": "raw_id"} if name in raw_ids else None) for name, kind in columns
        ]
    )
    return dg.AssetSpec(
        list(key),
        group_name=group,
        owners=list(owners),
        kinds=kinds,
        description=description,
        metadata={"dagster/column_schema": schema},
    )


def markdown_table(frame: pd.DataFrame, limit: int = 20) -> str:
    """A frame as a GitHub markdown table (cells on one line, pipes escaped), at most ``limit`` rows."""

    def cell(value) -> str:
        text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    shown = frame.head(limit)
    lines = ["| " + " | ".join(map(cell, shown.columns)) + " |", "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    if len(frame) > limit:
        lines.append(f"\n{len(frame) - limit} more rows")
    return "\n".join(lines)


def _metadata_value(value: Any) -> Any:
    return dg.MetadataValue.json(value) if isinstance(value, (dict, list)) else value


def table_asset(
    *,
    outputs: Sequence[Output],
    step: Callable[[Run], Iterable[Written]],
    group: str,
    owners: Sequence[str],
    partitions_def: dg.PartitionsDefinition | None = None,
    checks: Sequence[Check] = (),
    config: type[dg.Config] | None = None,
    resources: Sequence[str] = (),
    name: str | None = None,
    code_version: str | None = None,
    retry_policy: dg.RetryPolicy | None = None,
    kinds: Sequence[str] = (),
    people: bool = False,
) -> dg.AssetsDefinition:
    """An asset writing ``outputs`` partition by partition as ``step`` yields them (see the module).

    ``checks``: the checks the step adds to each partition; every output also gets ``schema_valid``
    and, when ``replayed``, ``deterministic_replay``.
    ``resources``: the resource keys the step reads besides ``warehouse``; ``kinds``: what the
    step computes with beyond pandas and the warehouse (e.g. ``sklearn``). A range of partitions
    runs as one run (single-run backfill policy), each partition committed on its own.
    ``people``: the inputs name people (the step says whom, in :attr:`Written.people`): each output
    readable across users gets ``no_raw_user_ids``, the privacy rule on every text column.
    """
    kinds = {"pandas", storage_kind(), *kinds}
    assets = [o for o in outputs if o.own_asset]
    key_of = {o.spec.name: asset_key(o.spec) if o.own_asset else asset_key(assets[0].spec) for o in outputs}
    specs = [
        dg.AssetSpec(
            asset_key(o.spec),
            group_name=group,
            kinds=kinds,
            owners=list(owners),
            deps=list(o.deps),
            description=o.description,
            code_version=code_version,
            freshness_policy=o.freshness,
            metadata={
                "dagster/column_schema": column_schema(o.spec),
                "dagster/table_name": o.spec.qualified_name,
                "partition_columns": ", ".join(o.spec.partition_columns) or "(whole table)",
                "row_key": ", ".join(o.spec.key),
                **{
                    f"also_writes_{side.spec.name}": side.description
                    for side in outputs
                    if not side.own_asset and o is assets[0]
                },
            },
        )
        for o in assets
    ]
    check_specs = [
        spec_for(
            "schema_valid",
            asset_key(o.spec),
            f"Columns, types and keys match {o.spec.qualified_name}"
            + "".join(f" and {side.spec.qualified_name}" for side in outputs if not side.own_asset and o is assets[0])
            + ".",
        )
        for o in assets
    ]
    check_specs += [
        spec_for(
            "deterministic_replay", key_of[o.spec.name], "Same inputs as the last write give the same content hash."
        )
        for o in outputs
        if o.replayed
    ]
    check_specs += [
        spec_for("append_only", key_of[o.spec.name], "A partition already written is never rewritten with other rows.")
        for o in outputs
        if o.append_only
    ]
    private = sorted({key_of[o.spec.name] for o in outputs if cross_user(o.spec)} if people else [], key=str)
    check_specs += [
        spec_for(
            "no_raw_user_ids",
            key,
            "No raw user id of the inputs in any text column, where it is an id: a user's own id in "
            "their rows, and an id no word could be (a digit or an @) in any row.",
        )
        for key in private
    ]
    check_specs += [spec_for(c.name, asset_key(c.spec), c.description, c.blocking) for c in checks]
    #: Whether each declared check blocks the write: the spec decides, not the step.
    blocking = {(asset_key(c.spec), c.name): c.blocking for c in checks}
    blocking.update({(key, "no_raw_user_ids"): True for key in private})

    @dg.multi_asset(
        name=name or "__".join(asset_key(outputs[0].spec).path),
        specs=specs,
        check_specs=check_specs,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run() if partitions_def is not None else None,
        pool=WAREHOUSE_POOL,
        required_resource_keys={"warehouse", *resources},
        config_schema=config.to_fields_dict() if config else None,
        retry_policy=retry_policy,
    )
    def _table_asset(context):  # annotations are strings here (postponed), which Dagster cannot read
        backend = context.resources.warehouse.backend()
        run = Run(context, backend, config(**context.op_execution_context.op_config) if config else None)
        outcomes: list[CheckOutcome] = []
        committed: list[dg.AssetMaterialization] = []
        try:
            with backend.session():  # one connection for every partition of the run
                for part in step(run):
                    _write_partition(context, backend, outputs, key_of, blocking, part, outcomes, committed)
        except Exception as exc:
            # The partitions committed before the failure exist: Dagster learns of them, each with its
            # own facts, before the run fails (no MaterializeResult will report them).
            for event in committed:
                context.log_event(event)
            if isinstance(exc, BlockingCheckFailed):
                yield from fail_with_results(outcomes, exc)
            yield from check_results(outcomes)
            if retry_policy is not None and not isinstance(exc, dg.Failure) and not transient(exc):
                # The same inputs would fail the same way: one line, and no retry.
                first_line = (str(exc).strip().splitlines() or [""])[0]
                raise dg.Failure(description=f"{type(exc).__name__}: {first_line}", allow_retries=False) from exc
            raise
        for o in assets:
            yield dg.MaterializeResult(asset_key=asset_key(o.spec))
        yield from check_results(outcomes)

    return _table_asset


def cross_user(spec: TableSpec) -> bool:
    """Whether a table is read across users: it holds no raw id (the pii tags say so)."""
    return not any(c.privacy == "raw_id" for c in spec.columns)


def privacy_outcomes(
    outputs: Sequence[Output], key_of: dict[str, dg.AssetKey], part: Written, frames: dict[str, Any]
) -> list[CheckOutcome]:
    """``no_raw_user_ids`` of each asset, over every text column of its cross-user outputs (a row's
    owner from the table's pseudonym column), by :class:`~platform_core.privacy.People`."""
    if part.people is None:
        raise ValueError(f"{part.label}: an asset that reads people's data must say whom its inputs name")
    hits: dict[dg.AssetKey, dict[str, int]] = {}
    for o in outputs:
        if not cross_user(o.spec):
            continue
        frame = frames[o.spec.name]
        owners = [c.name for c in o.spec.columns if c.privacy == "pseudonym"][:1]
        found = hits.setdefault(key_of[o.spec.name], {})
        for batch in frame.read() if isinstance(frame, Batches) else [frame]:
            # (a frame that breaks its contract may lack columns: its schema check says so)
            text = batch.drop(
                columns=[c.name for c in o.spec.columns if c.type not in ("TEXT", "JSON")], errors="ignore"
            )
            for where, n in find_raw_ids(
                {o.spec.name: text}, part.people, {o.spec.name: owners[0]} if owners else None
            ).items():
                found[where] = found.get(where, 0) + n
    return [
        CheckOutcome(
            key,
            "no_raw_user_ids",
            part.label,
            not found,
            f"raw user ids found in {found}" if found else "no raw user id of the inputs appears in the output",
        )
        for key, found in sorted(hits.items(), key=lambda kv: str(kv[0]))
    ]


def _write_partition(
    context,
    backend: Backend,
    outputs: Sequence[Output],
    key_of: dict[str, dg.AssetKey],
    blocking: dict[tuple[dg.AssetKey, str], bool],
    part: Written,
    outcomes: list[CheckOutcome],
    committed: list[dg.AssetMaterialization],
) -> None:
    """Check one partition's frames, commit them in one transaction unless a blocking check fails
    (then raise, with every outcome in ``outcomes``), and put its facts on its assets' pages (and
    in ``committed``, for the failure path)."""
    undeclared = [c.name for c in part.checks if (c.asset_key, c.name) not in blocking]
    if undeclared:
        raise ValueError(f"{part.label}: the step reports checks the asset does not declare: {undeclared}")
    writes, hashes, frames = [], {}, {}
    evaluated = []
    for o in outputs:
        partition, frame = part.frames[o.spec.name]
        frame = frames[o.spec.name] = frame(hashes) if callable(frame) else frame
        write, schema = prepare(key_of[o.spec.name], o.spec, partition, frame, part.input_hash)
        evaluated.append(schema)
        hashes[o.spec.name] = write.content_hash if write is not None else ""
        if write is not None:
            writes.append((o, write))
            before = written(backend, o.spec, partition) if o.replayed or o.append_only else {}
            if o.replayed:
                evaluated.append(replay_check(key_of[o.spec.name], write, before))
            if o.append_only:
                rewrites = bool(before) and next(iter(before.values()))[1] != write.content_hash
                evaluated.append(
                    CheckOutcome(
                        key_of[o.spec.name],
                        "append_only",
                        part.label,
                        not rewrites,
                        "the partition's rows differ from those already written"
                        if rewrites
                        else "new partition, or identical rows",
                    )
                )
    if any(name == "no_raw_user_ids" for _, name in blocking):
        evaluated += privacy_outcomes(outputs, key_of, part, frames)
    evaluated += [replace(c, blocking=blocking[(c.asset_key, c.name)]) for c in part.checks]
    outcomes += evaluated
    commit(backend, [w for _, w in writes], evaluated)
    for o, write in writes:
        if o.own_asset:
            facts = {
                "dagster/row_count": write.rows,
                "content_hash": write.content_hash,
                "input_hash": part.input_hash,
                **part.facts.get(o.spec.name, {}),
            }
            if o.shown is not None and isinstance(write.frame, pd.DataFrame):
                facts["top"] = dg.MetadataValue.md(markdown_table(o.shown(write.frame)))
            metadata = {k: _metadata_value(v) for k, v in facts.items()}
            context.add_asset_metadata(metadata, asset_key=key_of[o.spec.name], partition_key=part.partition_key)
            committed.append(
                dg.AssetMaterialization(key_of[o.spec.name], partition=part.partition_key, metadata=metadata)
            )
    if part.log:
        context.log.info(part.log)
