"""Pseudonymization and the proof that no raw user id leaked into a cross-user table."""

from __future__ import annotations

import bisect
import hashlib
import hmac
from collections.abc import Iterable, Mapping

import ahocorasick
import orjson
import pandas as pd

from platform_core.hashing import canonical_json

PSEUDONYM_PREFIX = "p_"


def pseudonymize(user_ids: pd.Series, salt: str) -> pd.Series:
    """HMAC-SHA256 of each raw id keyed by ``salt``: ``p_`` + 24 hex; nulls stay null.

    Hashes each distinct id once, so a day with 100k events from 3k users costs 3k HMACs.
    """
    key = salt.encode()
    mapping = {
        uid: PSEUDONYM_PREFIX + hmac.new(key, uid.encode(), hashlib.sha256).hexdigest()[:24]
        for uid in pd.unique(user_ids.dropna()).tolist()
    }
    return user_ids.map(mapping).astype("object").where(user_ids.notna(), None)


class RawIds:
    """The raw user ids of a partition, found in text as whole tokens: an id counts where the
    characters on either side of it are not letters, digits or ``_`` (so the id ``high`` is in
    "priority high" but not in "highly", and ``123456789`` is not inside ``1234567890``). Ids
    shorter than ``min_length`` are left alone: a two-character id would be in every text and
    prove nothing. One Aho-Corasick automaton for all the ids."""

    def __init__(self, raw_ids: Iterable[str], min_length: int = 4):
        self._automaton = ahocorasick.Automaton()
        for uid in {u for u in raw_ids if isinstance(u, str) and len(u) >= min_length}:
            self._automaton.add_word(uid, len(uid))
        self._empty = len(self._automaton) == 0
        if not self._empty:
            self._automaton.make_automaton()

    def spans(self, text: str) -> list[tuple[int, int]]:
        """``(start, end)`` of each whole-token id in ``text``, longest first where they overlap."""
        found = []
        for last, length in self._automaton.iter(text):
            start, end = last - length + 1, last + 1
            if (start == 0 or not _word_char(text[start - 1])) and (end == len(text) or not _word_char(text[end])):
                found.append((start, end))
        kept, reach = [], -1
        for start, end in sorted(found, key=lambda se: (se[0], se[0] - se[1])):
            if start >= reach:
                kept.append((start, end))
                reach = end
        return kept

    def _rows_with_candidates(self, texts: list) -> list[int]:
        """Rows whose text holds some id (as a substring): one pass over all texts joined."""
        joined, starts, at = [], [], 0
        for t in texts:
            starts.append(at)
            s = t if isinstance(t, str) else ""
            joined.append(s)
            at += len(s) + 1
        rows = {bisect.bisect_right(starts, last) - 1 for last, _ in self._automaton.iter("\x00".join(joined))}
        return sorted(rows)

    def scrub(self, texts: pd.Series, replacement: str = "[user]") -> pd.Series:
        """The texts with every whole-token raw id replaced."""
        if self._empty or texts.empty:
            return texts
        values = texts.tolist()
        for i in self._rows_with_candidates(values):
            text = values[i]
            for start, end in reversed(self.spans(text)):
                text = text[:start] + replacement + text[end:]
            values[i] = text
        return pd.Series(values, index=texts.index, dtype="object").where(texts.notna(), None)

    def scrub_json(self, texts: pd.Series, replacement: str = "[user]") -> pd.Series:
        """JSON texts with every whole-token raw id replaced inside their strings and keys, and any
        number that is a raw id replaced by the string; re-serialized canonically where changed
        (a text replace could break the JSON)."""
        if self._empty or texts.empty:
            return texts
        values = texts.tolist()

        def clean(value):
            if isinstance(value, str):
                for start, end in reversed(self.spans(value)):
                    value = value[:start] + replacement + value[end:]
                return value
            if isinstance(value, dict):
                return {clean(k): clean(v) for k, v in value.items()}
            if isinstance(value, list):
                return [clean(v) for v in value]
            if (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and self.spans(str(value)) == [(0, len(str(value)))]
            ):
                return replacement
            return value

        for i in self._rows_with_candidates(values):
            values[i] = canonical_json(clean(orjson.loads(values[i])))
        return pd.Series(values, index=texts.index, dtype="object").where(texts.notna(), None)

    def count(self, texts: pd.Series) -> int:
        """Whole-token ids in the texts."""
        if self._empty:
            return 0
        values = [t for t in texts.tolist() if isinstance(t, str)]
        return sum(len(self.spans(values[i])) for i in self._rows_with_candidates(values))


def _word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def find_raw_ids(
    frames: Mapping[str, pd.DataFrame],
    raw_ids: Iterable[str] | RawIds,
    min_length: int = 4,
    columns: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, int]:
    """Whole-token occurrences of any raw id per ``table.column`` holding text: every text column,
    or only ``columns[table]`` (the columns that can carry an id by construction: free text
    derived from user input, not enumerations or file names)."""
    ids = raw_ids if isinstance(raw_ids, RawIds) else RawIds(raw_ids, min_length)
    hits: dict[str, int] = {}
    for table, frame in frames.items():
        for column in (columns or {}).get(table, frame.columns):
            values = frame[column].dropna()
            if values.empty or pd.api.types.infer_dtype(values, skipna=True) != "string":
                continue
            found = ids.count(values)
            if found:
                hits[f"{table}.{column}"] = found
    return hits
