"""Validate and pseudonymize raw ``learning.signal.logged`` events (pure: frames in, frames out).

Every raw line of a day ends up once: an accepted signal, a reject with its reason, a retraction,
or a counted line of another event type (``LineLedger``); nothing is dropped. DuckDB parses and
types the JSON, vectorised; Python only sees distinct user ids (for the HMAC) and distinct
attribute texts (for canonical JSON).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import duckdb
import pandas as pd
import pyarrow as pa
from pydantic import BaseModel, Field

from kura_assets.partitions import END_DATE, START_DATE
from kura_assets.tables import LEARNING_SIGNAL_REJECTS, LEARNING_SIGNALS
from platform_core.hashing import canonical_json_text
from platform_core.privacy import RawIds, id_shaped, pseudonymize
from platform_core.tables import conform
from platform_core.warehouse import Batches

SIGNAL_EVENT = "learning.signal.logged"
RETRACTION_EVENT = "event.retracted"
#: A reader's mark on a line dated outside every day partition (placed like an undated line).
OUTSIDE_PARTITIONS = "timestamp outside every partition"
RAW_COLUMNS = [
    "source_ref",
    "id",
    "user_id",
    "timestamp",
    "event_type",
    "data",
    "metadata",
    "parse_error",
    "fallback_time",
]
CATEGORIES = ("quality_signal", "friction_signal", "outcome_signal", "correction_signal")
FACETS = ("issue_type", "invariant_id", "agent_version", "workflow_phase", "modality")
CONFIDENCE_BANDS = ("high", "medium", "low")
#: A signal's text columns besides its key and attributes: where the privacy rule is applied.
SIGNAL_TEXTS = ("signal_type", "category", *FACETS, "confidence_band", "source_cluster_signature", "mismatch_severity")
#: The rejects of lines that did not parse: their text is kept only when no id can be in it.
UNPARSED_LINES = ("line is not valid UTF-8", "line is not a JSON object")
EVENT_ID_NAMES_USER = "event id names a user (a user's own id, or an id no word could be)"
UNHOLDABLE_ATTRIBUTES = (
    "data.attributes is not strict JSON (Infinity or NaN, nesting past 1,024 levels) "
    "or holds \\u0000, which JSON in Postgres cannot store"
)
#: The longest cluster signature accepted (any printable text: upstream systems key their own way).
MAX_SIGNATURE_CHARS = 128


class SignalRules(BaseModel):
    """What makes a raw event an accepted learning signal."""

    exclude_low_confidence: bool = True
    max_payload_bytes: int = 64 * 1024
    max_capture_lag_hours: float = Field(
        24.0, description="How long before its row timestamp an event may be captured."
    )
    max_clock_skew_minutes: float = Field(5.0, description="How far after its row timestamp captured_at may lie.")
    retraction_grace_hours: float = Field(
        24.0, description="Retractions logged up to this long after the day still count."
    )
    max_kept_text_chars: int = Field(4000, description="Kept raw payloads and attributes are cut to this length.")
    working_memory_mb: int = Field(
        512, description="DuckDB memory for staging and validation; beyond it, tables spill to disk."
    )

    def read_window(self, first_day: date, last_day: date | None = None) -> tuple[datetime, datetime]:
        """Row-timestamp window holding every event of the days and the retractions that count."""
        start = datetime.combine(first_day, datetime.min.time())
        end = datetime.combine(last_day or first_day, datetime.min.time()) + timedelta(days=1)
        late = max(self.max_capture_lag_hours, self.retraction_grace_hours)
        return start - timedelta(minutes=self.max_clock_skew_minutes), end + timedelta(hours=late)


@dataclass(frozen=True)
class LineLedger:
    """Where the raw lines of some days went, counted from the input (every line of any type):
    a line belongs to the day it is dated, or, undated or dated outside every partition, to the
    day the reader placed it on."""

    lines: int = 0  # every line of the days
    retractions: int = 0  # event.retracted lines: read, they exclude the events they name
    other_event_types: dict[str, int] = field(
        default_factory=dict
    )  # lines of other event types (counted, never rejects), by type
    moved_out: int = 0  # signal lines whose row went to a day outside these (by their captured_at)
    moved_in: int = 0  # rows of these days from lines dated on another day

    @classmethod
    def of(cls, counts: pd.DataFrame, days: list[date]) -> LineLedger:
        """From rows ``line_day, period_day, kind, event_type, lines`` (see ``_validation_steps``)."""
        wanted = [pd.Timestamp(d) for d in days]
        mine, goes_to = counts["line_day"].isin(wanted), counts["period_day"].isin(wanted)
        signal = counts["kind"] == "signal"
        other = counts[mine & (counts["kind"] == "other")].groupby("event_type")["lines"].sum()
        return cls(
            int(counts.loc[mine, "lines"].sum()),
            int(counts.loc[mine & (counts["kind"] == "retraction"), "lines"].sum()),
            {str(k): int(v) for k, v in other.sort_index().items()},
            int(counts.loc[mine & signal & ~goes_to, "lines"].sum()),
            int(counts.loc[~mine & signal & goes_to, "lines"].sum()),
        )

    def accounts_for(self, rows: int) -> bool:
        """Whether ``rows`` written (signals + rejects) and the counted lines add up to every line."""
        return self.lines == rows - self.moved_in + self.moved_out + self.retractions + sum(
            self.other_event_types.values()
        )

    def describe(self, rows: int) -> str:
        return (
            f"{self.lines} lines = {rows} signals and rejects - {self.moved_in} from other days + {self.moved_out} "
            f"to other days + {self.retractions} retractions + {sum(self.other_event_types.values())} of other event types"
        )


@dataclass
class ValidatedSignals:
    signals: pd.DataFrame
    rejects: pd.DataFrame
    raw_user_ids: list[str]  # for the privacy check: ids that must not appear in any output
    line_counts: pd.DataFrame  # the input's lines by day and outcome, for LineLedger
    days: list[date]

    @property
    def ledger(self) -> LineLedger:
        return LineLedger.of(self.line_counts, self.days)

    @property
    def rows(self) -> int:
        return len(self.signals) + len(self.rejects)

    @property
    def rejects_by_reason(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.rejects["reason"].value_counts().sort_index().items()}

    def day(self, day: date) -> "ValidatedSignals":
        """The part of a multi-day result that belongs to one day."""
        at = pd.Timestamp(day)
        return ValidatedSignals(
            self.signals[self.signals["period_day"] == at].reset_index(drop=True),
            self.rejects[self.rejects["period_day"] == at].reset_index(drop=True),
            self.raw_user_ids,
            self.line_counts,
            [day],
        )


#: Fields read from ``data`` as text, and fields whose JSON type is checked; each list is
#: extracted with one parse per row (DuckDB re-parses the text for every separate path).
_TEXT_PATHS = {
    "schema_version": "$.schema_version",
    "signal_type": "$.signal_type",
    "category": "$.category",
    "captured_at_text": "$.captured_at",
    "user_ref": "$.user_ref.pseudonymized_user_id",
    **{f: f"$.signature.{f}" for f in FACETS + ("confidence_band",)},
    "cluster_signature": "$.cluster_signature",
    "mismatch_severity": "$.attributes.mismatch_severity",
    "attributes": "$.attributes",
}
_KIND_PATHS = {
    "data_kind": "$",
    "schema_version_kind": "$.schema_version",
    "signal_type_kind": "$.signal_type",
    "signature_kind": "$.signature",
    **{f"{f}_kind": f"$.signature.{f}" for f in FACETS},
    "cluster_signature_kind": "$.cluster_signature",
    "attributes_kind": "$.attributes",
}


def _sql_list(values) -> str:
    return "[" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) + "]"


def _reject_rules(rules: SignalRules) -> list[tuple[str, str, str]]:
    """(reason, SQL condition, detail) in precedence order: a row gets the first that holds."""
    facets_ok = " AND ".join(
        f"coalesce({f}_kind = 'VARCHAR' AND {f} <> '' AND NOT contains({f}, chr(0)), false)" for f in FACETS
    )
    low = "confidence_band = 'low'" if rules.exclude_low_confidence else "false"
    return [
        (
            "payload_too_large",
            f"coalesce(data_bytes, 0) > {int(rules.max_payload_bytes)}",
            f"data exceeds {rules.max_payload_bytes} bytes",
        ),
        (
            "outside_window",
            f"parse_error = '{OUTSIDE_PARTITIONS}'",
            "row timestamp lies outside every day partition (before KURA_START_DATE or from KURA_END_DATE): kept on the first partition's day",
        ),
        (
            "outside_window",
            "coalesce(event_outside, false)",
            "data.captured_at lies on a day outside every partition: kept on the day of its row timestamp",
        ),
        ("invalid_payload", "parse_error = 'line is not valid UTF-8'", UNPARSED_LINES[0]),
        ("invalid_payload", "parse_error IS NOT NULL", UNPARSED_LINES[1]),
        (
            "invalid_payload",
            f"event_type IS DISTINCT FROM '{SIGNAL_EVENT}'",
            "event_type is missing or not " + SIGNAL_EVENT,
        ),
        ("invalid_payload", "coalesce(id, '') = ''", "event id is missing"),
        ("invalid_payload", "contains(id, chr(0))", "event id holds a NUL character"),
        ("invalid_payload", "NOT data_valid", "data is not valid JSON"),
        ("invalid_payload", "data_kind IS DISTINCT FROM 'OBJECT'", "data is not a JSON object"),
        (
            "invalid_payload",
            "NOT coalesce(schema_version_kind IN ('UBIGINT', 'BIGINT') AND schema_version = '1', false)",
            "data.schema_version is not 1",
        ),
        (
            "invalid_payload",
            "signal_type_kind IS DISTINCT FROM 'VARCHAR'",
            "data.signal_type is missing or not a string",
        ),
        ("invalid_payload", "contains(signal_type, chr(0))", "data.signal_type holds a NUL character"),
        (
            "invalid_payload",
            f"NOT coalesce(category IN {_sql_list(CATEGORIES)[1:-1].join('()')}, false)",
            "data.category is not one of " + ", ".join(CATEGORIES),
        ),
        (
            "duplicate_event_id",
            "id_rank > 1",
            "event id seen earlier in the same window (same time: the content decides which)",
        ),
        ("invalid_timestamp", "row_time IS NULL", "row timestamp is missing or unparseable"),
        (
            "invalid_timestamp",
            "captured_at_text IS NOT NULL AND captured_at IS NULL",
            "data.captured_at is unparseable",
        ),
        (
            "invalid_timestamp",
            "captured_at_text IS NOT NULL AND NOT captured_ok",
            "data.captured_at is out of range of the row timestamp",
        ),
        ("missing_user_ref", "coalesce(user_id, '') = ''", "row has no user id"),
        (
            "missing_user_ref",
            "NOT regexp_full_match(coalesce(user_ref, ''), 'u_[0-9a-f]{24}')",
            "data.user_ref.pseudonymized_user_id missing or malformed",
        ),
        ("invalid_signature", "signature_kind IS DISTINCT FROM 'OBJECT'", "data.signature is missing or not an object"),
        ("invalid_signature", f"NOT ({facets_ok})", "a signature facet is missing, not a string or holds a NUL"),
        (
            "invalid_signature",
            f"NOT coalesce(confidence_band IN {_sql_list(CONFIDENCE_BANDS)[1:-1].join('()')}, false)",
            "signature.confidence_band is not high, medium or low",
        ),
        (
            "missing_cluster_signature",
            "cluster_signature_kind IS DISTINCT FROM 'VARCHAR'",
            "data.cluster_signature is missing",
        ),
        (
            "invalid_signature",
            f"NOT regexp_full_match(cluster_signature, '[^\\x00-\\x1f\\x7f]{{1,{MAX_SIGNATURE_CHARS}}}')",
            f"data.cluster_signature is empty, longer than {MAX_SIGNATURE_CHARS} characters or holds a control character",
        ),
        ("retracted", "retracted", "retracted by a later event.retracted"),
        ("low_confidence_filtered", low, "confidence band is low"),
        # Decided after the SQL, in Python (see _accept): DuckDB reads JSON more leniently than the
        # strict parser the outputs are written with, and ids are found by the privacy rule.
        ("invalid_payload", "false", EVENT_ID_NAMES_USER),
        (
            "invalid_payload",
            "false",
            UNHOLDABLE_ATTRIBUTES,
        ),
    ]


def _validation_steps(rules: SignalRules) -> list[str]:
    """The validation as narrow steps over table ``raw``; the last one builds table ``result``.

    Steps, not one query with CTEs: DuckDB would carry every column through each CTE it
    reuses. A first, light pass places rows in time and finds duplicates and retractions; the
    second parses each payload once (one call for every text field, one for every JSON type)
    and keeps only the output columns with the index of the first failing rule (0 = accepted).
    """
    rule = (
        "CASE "
        + " ".join(f"WHEN {cond} THEN {i}" for i, (_, cond, _) in enumerate(_reject_rules(rules), 1))
        + " ELSE 0 END"
    )
    lag, skew = (
        f"INTERVAL {float(rules.max_capture_lag_hours) * 3600} SECOND",
        f"INTERVAL {float(rules.max_clock_skew_minutes) * 60} SECOND",
    )
    # A row sees the rows of its own day's read window (rules.read_window), whatever range the run
    # covers, so a day's rows are the same run alone or in a backfill: a duplicate id or a
    # retraction counts when it lies in that window (undated rows: on the same day).
    day_start = "CAST({day} AS TIMESTAMP)"
    late = f"INTERVAL {max(rules.max_capture_lag_hours, rules.retraction_grace_hours) * 3600} SECOND"

    def in_day_window(row: str, day: str) -> str:
        start = day_start.format(day=day)
        return (
            f"CASE WHEN {row}.row_time IS NULL THEN {row}.line_day = {day} "
            f"ELSE {row}.row_time >= {start} - {skew} AND {row}.row_time < {start} + INTERVAL 1 DAY + {late} END"
        )

    return [
        f"""CREATE OR REPLACE TABLE placed AS
            SELECT pos, id, kind, row_time, captured_at, captured_ok, line_day, tie, source_ref,
                   -- an event captured on a day no partition holds stays on its line's day, rejected
                   event_day NOT BETWEEN DATE '{START_DATE}' AND DATE '{END_DATE}' - 1 AS event_outside,
                   CASE WHEN event_day BETWEEN DATE '{START_DATE}' AND DATE '{END_DATE}' - 1 THEN event_day
                        ELSE line_day END AS period_day,
                   CASE WHEN kind = 'retraction' THEN try(json_extract_string(data, '$.retracted_event_id')) END AS retracts
            FROM (SELECT *, CAST(coalesce(CASE WHEN captured_ok THEN captured_at END, row_time, fallback_time) AS DATE) AS event_day
            FROM (SELECT *, coalesce(captured_at BETWEEN row_time - {lag} AND row_time + {skew}, false) AS captured_ok,
                         CAST(coalesce(row_time, fallback_time) AS DATE) AS line_day,
                         -- Two events with one id and one time: their content decides, not their place in the file
                         -- (hashed only for such ties, which are rare).
                         CASE WHEN count(*) OVER (PARTITION BY id, row_time) > 1
                              THEN md5(concat_ws('|', coalesce(data, ''), coalesce(metadata, ''), coalesce(user_id, ''))) END AS tie
                  FROM (SELECT pos, id, source_ref, data, metadata, user_id, fallback_time,
                               -- a line that parsed, of a type this pipeline does not read, is counted, never a reject
                               CASE WHEN event_type = '{RETRACTION_EVENT}' THEN 'retraction'
                                    WHEN coalesce(event_type, '') NOT IN ('', '{SIGNAL_EVENT}')
                                         AND (parse_error IS NULL OR parse_error = '{OUTSIDE_PARTITIONS}') THEN 'other'
                                    ELSE 'signal' END AS kind,
                               -- the reader placed a line dated outside every partition like an undated one
                               CASE WHEN parse_error IS DISTINCT FROM '{OUTSIDE_PARTITIONS}'
                                    THEN timezone('UTC', TRY_CAST("timestamp" AS TIMESTAMPTZ)) END AS row_time,
                               timezone('UTC', TRY_CAST(try(json_extract_string(data, '$.captured_at')) AS TIMESTAMPTZ)) AS captured_at
                        FROM raw)))""",
        # The events with the same id before each one in its day's window (by time, then content).
        f"""CREATE OR REPLACE TABLE ranks AS
            SELECT p.pos, 1 + count(*) AS id_rank
            FROM placed p JOIN placed q ON q.id = p.id AND q.kind = 'signal' AND q.pos <> p.pos
            WHERE p.kind = 'signal' AND coalesce(p.id, '') <> '' AND {in_day_window("q", "p.period_day")}
              AND (coalesce(q.row_time, TIMESTAMP '9999-12-31'), coalesce(q.tie, ''), q.source_ref)
                < (coalesce(p.row_time, TIMESTAMP '9999-12-31'), coalesce(p.tie, ''), p.source_ref)
            GROUP BY p.pos""",
        # Every raw line of the days, counted from the input (not from what became a row): by the day
        # it is dated (or placed, when undated), the day its row went to, and its kind.
        """CREATE OR REPLACE TABLE ledger AS
            SELECT line_day, period_day, kind, CASE WHEN kind = 'other' THEN event_type END AS event_type, count(*) AS lines
            FROM placed JOIN raw USING (pos)
            WHERE line_day BETWEEN $first AND $last OR (kind = 'signal' AND period_day BETWEEN $first AND $last)
            GROUP BY ALL""",
        f"""CREATE OR REPLACE TABLE result AS
            SELECT pos, period_day, source_ref, id, user_id, event_type, event_time,
                   signal_type, category, {", ".join(FACETS)}, confidence_band, cluster_signature, mismatch_severity,
                   CASE WHEN attributes_kind = 'OBJECT' THEN attributes ELSE '{{}}' END AS attributes,
                   {rule} AS rule
            FROM (
                SELECT * EXCLUDE (s, k), k IS NOT NULL AS data_valid,
                       {", ".join(f"s[{i}] AS {c}" for i, c in enumerate(_TEXT_PATHS, 1))},
                       {", ".join(f"k[{i}] AS {c}" for i, c in enumerate(_KIND_PATHS, 1))}
                FROM (
                    SELECT raw.pos, raw.id, user_id, event_type, raw.source_ref, parse_error, strlen(data) AS data_bytes,
                           placed.row_time, captured_at, captured_ok, period_day, event_outside,
                           CASE WHEN coalesce(raw.id, '') <> '' THEN coalesce(ranks.id_rank, 1) END AS id_rank,
                           EXISTS (SELECT 1 FROM placed r WHERE r.kind = 'retraction' AND r.retracts = raw.id
                                   AND {in_day_window("r", "placed.period_day")}) AS retracted,
                           coalesce(CASE WHEN captured_ok THEN captured_at END, row_time) AS event_time,
                           try(json_extract_string(data, {_sql_list(_TEXT_PATHS.values())})) AS s,
                           try(json_type(data, {_sql_list(_KIND_PATHS.values())})) AS k
                    FROM raw JOIN placed USING (pos) LEFT JOIN ranks USING (pos)
                    WHERE kind = 'signal' AND period_day BETWEEN $first AND $last
                )
            )""",
    ]


def validate_signals(
    raw: pd.DataFrame, first_day: date, salt: str, rules: SignalRules | None = None, last_day: date | None = None
) -> ValidatedSignals:
    """Split the raw events read for ``first_day..last_day`` into accepted signals and kept rejects.

    ``raw`` holds the rows of :data:`RAW_COLUMNS` whose row timestamp lies in
    ``rules.read_window(first_day, last_day)``. A signal belongs to the day of its event time
    (``captured_at`` when valid, else the row timestamp); rows of days outside the range are
    left to their own partitions. A retraction in an event's own day window excludes it.
    The frames of :func:`validate_staged` on rows staged in memory.
    """
    rules = rules or SignalRules()
    con = validation_database(rules)
    try:
        stage_frame(con, raw)
        staged = validate_staged(con, first_day, salt, rules, last_day)
        signals = pd.concat([staged.signals(d, "event_time, event_id") for d in staged.days], ignore_index=True)
        rejects = pd.concat([b for d in staged.days for b in staged.rejects(d).read()], ignore_index=True)
        return ValidatedSignals(
            conform(LEARNING_SIGNALS, signals),
            conform(LEARNING_SIGNAL_REJECTS, rejects.sort_values("source_ref", kind="mergesort")),
            staged.raw_user_ids,
            staged.line_counts,
            staged.days,
        )
    finally:
        con.close()


@dataclass
class StagedSignals:
    """The validation of some days, held in tables of a DuckDB connection (on disk for a large
    day) and read out per day in batches: a day's signals are never all in Python at once."""

    con: duckdb.DuckDBPyConnection
    rules: SignalRules
    raw_user_ids: list[str]  # for the privacy check: ids that must not appear in any output
    line_counts: pd.DataFrame  # the input's lines by day and outcome, for LineLedger
    days: list[date]
    rows_per_batch: int = 20_000

    def ledger(self, day: date) -> LineLedger:
        return LineLedger.of(self.line_counts, [day])

    def counts(self, day: date) -> tuple[int, dict[str, int]]:
        """The day's accepted signals and its rejects by reason."""
        checks = _reject_rules(self.rules)
        found = self.con.execute(
            "SELECT rule, count(*) FROM result WHERE period_day = $1 GROUP BY rule ORDER BY rule", [day]
        ).fetchall()
        by_reason: dict[str, int] = {}
        for rule, n in found:
            if rule:
                reason = checks[rule - 1][0]
                by_reason[reason] = by_reason.get(reason, 0) + n
        return sum(n for rule, n in found if rule == 0), dict(sorted(by_reason.items()))

    def _batches(self, sql: str, params: list, finish) -> Iterator[pd.DataFrame]:
        reader = self.con.cursor().sql(sql, params=params).to_arrow_reader(self.rows_per_batch)
        empty = True
        for batch in reader:
            empty = False
            yield finish(batch.to_pandas())
        if empty:  # no rows: still one (empty) frame, with the columns
            yield finish(reader.schema.empty_table().to_pandas())

    def signals(self, day: date, order: str = "event_id") -> pd.DataFrame:
        return pd.concat(list(self.signal_batches(day, order).read()), ignore_index=True)

    def signal_batches(self, day: date, order: str = "event_id") -> Batches:
        """The day's accepted signals, by ``order`` (by ``event_id``: the table's canonical order)."""
        sql = f"SELECT * EXCLUDE (pos) FROM accepted WHERE period_day = $1 ORDER BY {order}"
        return Batches(lambda: self._batches(sql, [day], lambda f: conform(LEARNING_SIGNALS, f)))

    def rejects(self, day: date) -> Batches:
        """The day's rejects by ``source_ref``, with their raw text under the privacy rule (cut to
        length); a line that did not parse keeps its text only when no id can be in it, else its
        hash (its ``source_ref`` finds it in the source)."""
        checks, ids, limit = _reject_rules(self.rules), RawIds(self.raw_user_ids), self.rules.max_kept_text_chars
        unparsed = [i for i, (_, _, detail) in enumerate(checks, 1) if detail in UNPARSED_LINES]
        sql = """
            SELECT r.period_day, r.source_ref, r.id AS event_id, r.event_type, raw."timestamp" AS row_timestamp,
                   p.pseudo_user_id, r.rule, raw.data AS raw_data, raw.metadata AS raw_metadata, r.user_id
            FROM result r JOIN raw ON raw.pos = r.pos LEFT JOIN pseudonyms p ON p.user_id = r.user_id
            WHERE r.rule > 0 AND r.period_day = $1
            ORDER BY r.source_ref"""

        def finish(r: pd.DataFrame) -> pd.DataFrame:
            owners = r.pop("user_id")
            raw_data = r["raw_data"].astype("object")
            lines = r["rule"].isin(unparsed)
            raw_data = raw_data.where(~lines, raw_data[lines].map(lambda t: _id_free_or_hash(t, ids)))
            rejects = r.drop(columns=["rule"]).assign(
                reason=r["rule"].map(lambda i: checks[i - 1][0]),
                detail=r["rule"].map(lambda i: checks[i - 1][2]),
                raw_data=_clip(ids.scrub(raw_data, owners), limit),
                raw_metadata=_clip(ids.scrub(r["raw_metadata"].astype("object"), owners), limit),
                **{c: ids.scrub(r[c].astype("object"), owners) for c in ("event_id", "event_type", "row_timestamp")},
            )
            return conform(LEARNING_SIGNAL_REJECTS, rejects)

        return Batches(lambda: self._batches(sql, [day], finish))


def _id_free_or_hash(line, ids: RawIds):
    """An unparsed line as it is only when nothing in it can be an id: no digit, no ``@`` and no
    user's id (any shape) anywhere; else its SHA-256 and length (whose the line is, is unknown)."""
    if not isinstance(line, str):
        return line
    if not id_shaped(line) and not ids.anywhere(line):
        return line
    return f"sha256:{hashlib.sha256(line.encode()).hexdigest()} ({len(line)} characters, not kept: it may name a user)"


def validation_database(rules: SignalRules, path: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """The DuckDB database events are staged and validated in: a file for a large day. Bounded
    from the start (staging included): past ``working_memory_mb`` DuckDB spills to disk, so a day
    of any size validates within a couple of GB."""
    config = {
        "memory_limit": f"{rules.working_memory_mb}MB",
        "preserve_insertion_order": False,  # order is set explicitly where it matters
    }
    if path == ":memory:":  # a file spills beside itself; a shared directory would mix two processes' spills
        config["temp_directory"] = f"{tempfile.gettempdir()}/kura-duckdb-{os.getpid()}"
    con = duckdb.connect(path, config=config)
    con.execute("SET TimeZone = 'UTC'")
    return con


def validate_staged(
    con: duckdb.DuckDBPyConnection,
    first_day: date,
    salt: str,
    rules: SignalRules | None = None,
    last_day: date | None = None,
) -> StagedSignals:
    """:func:`validate_signals` of the rows staged as table ``raw`` of ``con`` (see
    ``kura_assets.sources.stage_events``), leaving its results in tables of ``con``. Python touches
    batches of rows (attribute texts) and distinct user ids only."""
    rules = rules or SignalRules()
    last_day = last_day or first_day
    raw_user_ids = sorted(
        u for (u,) in con.execute("SELECT DISTINCT user_id FROM raw WHERE coalesce(user_id, '') <> ''").fetchall()
    )
    placed, ranks, ledger, result = _validation_steps(rules)
    con.execute(placed)
    con.execute(ranks)
    con.execute(ledger, {"first": first_day, "last": last_day})
    con.execute(result, {"first": first_day, "last": last_day})
    con.execute("DROP TABLE placed")
    lines = (
        con.sql("SELECT * FROM ledger").to_df().astype({"line_day": "datetime64[us]", "period_day": "datetime64[us]"})
    )
    users = pd.Series(
        [u for (u,) in con.sql("SELECT DISTINCT user_id FROM result WHERE coalesce(user_id, '') <> ''").fetchall()],
        dtype="str",
    )
    con.register(
        "_pseudonyms", pd.DataFrame({"user_id": users, "pseudo_user_id": pseudonymize(users, salt).astype("str")})
    )
    con.execute("CREATE OR REPLACE TABLE pseudonyms AS SELECT * FROM _pseudonyms")
    con.unregister("_pseudonyms")
    _accept(con, RawIds(raw_user_ids), rules)
    # The tables are written out before the day is read back in sorted batches: left in memory, a
    # 2M-line day's validation tables made the rejects' sort fail DuckDB's memory limit.
    con.execute("CHECKPOINT")
    days = [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]
    return StagedSignals(con, rules, raw_user_ids, lines, days)


def _accept(con: duckdb.DuckDBPyConnection, ids: RawIds, rules: SignalRules, rows: int = 20_000) -> None:
    """Table ``accepted``: the accepted rows as signals, with the privacy rule applied to every
    text column (a user's id in their own row, an id no word could be in any row: see
    :mod:`platform_core.privacy`), the attributes as canonical JSON cut to a marker past the kept
    length. A row the outputs could not hold becomes a reject instead: attributes that are not
    strict JSON, or an event id naming a user (the row's key, which no placeholder may stand in
    for). Batch by batch, each batch's distinct attribute texts parsed once."""
    limit = int(rules.max_kept_text_chars)
    signals = f"""SELECT period_day, id AS event_id, event_time, pseudo_user_id, {", ".join(SIGNAL_TEXTS)},
                         attributes, pos, user_id
                  FROM (SELECT *, cluster_signature AS source_cluster_signature FROM result)
                  LEFT JOIN pseudonyms USING (user_id) WHERE rule = 0"""
    con.execute(f"CREATE OR REPLACE TABLE accepted AS SELECT * EXCLUDE (user_id) FROM ({signals}) WHERE false")
    con.execute("CREATE OR REPLACE TABLE unholdable (pos BIGINT, rule INTEGER)")
    rule_of = {detail: i for i, (_, _, detail) in enumerate(_reject_rules(rules), 1)}
    writer = con.cursor()
    reader = con.cursor().sql(signals).to_arrow_reader(rows)
    for batch in reader:
        frame = batch.to_pandas()
        owners = frame.pop("user_id")
        texts = frame["attributes"].astype("object")
        distinct = pd.Series(texts.unique(), dtype="object")
        canonical = pd.Series([_strict_json(t) for t in distinct], index=distinct.to_numpy(), dtype="object")
        per_row = pd.Series(canonical.reindex(texts.to_numpy()).to_numpy(), index=frame.index, dtype="object")
        kept = ids.scrub_json(per_row.dropna(), owners).reindex(frame.index)
        frame["attributes"] = kept.where(kept.isna() | (kept.str.len() <= limit), '{"truncated":true}')
        for column in SIGNAL_TEXTS:
            frame[column] = ids.scrub(frame[column].astype("object"), owners)
        named = ids.scrub(frame["event_id"].astype("object"), owners) != frame["event_id"]
        rule = pd.Series(0, index=frame.index)
        rule[frame["attributes"].isna()] = rule_of[UNHOLDABLE_ATTRIBUTES]
        rule[named] = rule_of[EVENT_ID_NAMES_USER]
        out = frame[rule == 0]
        unheld = pd.DataFrame({"pos": frame.loc[rule > 0, "pos"], "rule": rule[rule > 0]})
        writer.register(
            "_rows",
            pa.Table.from_pandas(
                out, schema=batch.schema.remove(batch.schema.get_field_index("user_id")), preserve_index=False
            ),
        )
        writer.execute("INSERT INTO accepted SELECT * FROM _rows")
        writer.unregister("_rows")
        writer.register("_unheld", unheld)
        writer.execute("INSERT INTO unholdable SELECT pos, rule FROM _unheld")
        writer.unregister("_unheld")
    writer.close()
    con.execute("UPDATE result SET rule = u.rule FROM unholdable u WHERE result.pos = u.pos")
    con.execute("DROP TABLE unholdable")


#: ``\u0000`` as a JSON escape (not an escaped backslash followed by ``u0000``).
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _strict_json(text: str) -> str | None:
    """The canonical text of an attributes object, or None when the outputs could not hold it."""
    try:
        canonical = canonical_json_text(text)
    except (ValueError, RecursionError):  # orjson.JSONDecodeError is a ValueError
        return None
    return None if _ESCAPED_NUL.search(canonical) else canonical


def register_raw(con: duckdb.DuckDBPyConnection, raw: pd.DataFrame) -> pd.DataFrame:
    """Stage raw rows as table ``raw`` (see :func:`stage_frame`); returns them as a frame whose row
    ``pos`` is at ``iloc[pos]``."""
    stage_frame(con, raw)
    return raw.reindex(columns=RAW_COLUMNS).reset_index(drop=True)


_RAW_DDL = (
    ", ".join(f'"{c}" {"TIMESTAMP" if c == "fallback_time" else "VARCHAR"}' for c in RAW_COLUMNS) + ", pos BIGINT"
)


def create_raw(con: duckdb.DuckDBPyConnection) -> None:
    """The empty table ``raw`` readers stage rows in: :data:`RAW_COLUMNS` and a unique position ``pos``."""
    con.execute(f"CREATE TABLE IF NOT EXISTS raw ({_RAW_DDL})")


def stage_frame(con: duckdb.DuckDBPyConnection, raw: pd.DataFrame, offset: int = 0) -> None:
    """Add raw rows (any reader's frame) to table ``raw``, created if missing, at positions from ``offset``."""
    frame = raw.reindex(columns=RAW_COLUMNS)
    columns = {
        c: pa.Array.from_pandas(frame[c].astype("str"), type=pa.string()) for c in RAW_COLUMNS if c != "fallback_time"
    }
    times = pd.to_datetime(frame["fallback_time"]).astype("datetime64[us]")
    table = pa.table(
        {
            **columns,
            "fallback_time": pa.Array.from_pandas(times, type=pa.timestamp("us")),
            "pos": pa.array(range(offset, offset + len(frame)), pa.int64()),
        }
    )
    create_raw(con)
    con.register("_staged", table)
    try:
        con.execute("INSERT INTO raw BY NAME SELECT * FROM _staged")
    finally:
        con.unregister("_staged")


def staged_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Table ``raw`` as a frame of :data:`RAW_COLUMNS`, in position order."""
    columns = ", ".join(f'"{c}"' for c in RAW_COLUMNS)
    return con.sql(f"SELECT {columns} FROM raw ORDER BY pos").to_arrow_table().to_pandas()


def _clip(texts: pd.Series, limit: int, too_long: str | None = None) -> pd.Series:
    """Cut kept text to ``limit`` characters (a marker says so), or replace it by ``too_long``."""
    long = texts.str.len() > limit
    if not long.any():
        return texts.astype("object").where(texts.notna(), None)

    def clip(t):
        return too_long if too_long is not None else t[:limit] + f"...[truncated {len(t) - limit} chars]"

    return texts.astype("object").where(~long, texts[long].map(clip)).where(texts.notna(), None)
