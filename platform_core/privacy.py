"""Pseudonymization, and the one rule for raw user ids in text.

**The rule.** A raw id is where it is an id, and is replaced by :data:`PLACEHOLDER` there:

* in a row that belongs to a user (a row with that user's pseudonym), the user's own id as a
  whole token, whatever it looks like (a user named ``high`` has "high" replaced in their own text);
* in any row, any user's id as a whole token when the id can only be an id: it holds a digit or an
  ``@`` (an account number, an e-mail address, a UUID), which no word of text does.

An id that is a plain word (``checkout``, ``high``, ``schema_version``) is left alone in other
users' rows and in rows of many users: there it is the word, and replacing it would let one user
erase a word from everyone's text. Ids shorter than four characters are never matched (a
two-letter id would be in every text and prove nothing), and the placeholder itself never counts
as an id (a user named ``user`` cannot make every scrubbed row a leak).

:class:`RawIds` applies the rule where the raw ids are known (the steps that read raw input);
:class:`People` checks it on any output, also far from the raw input, from the pseudonyms alone.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping

import ahocorasick
import orjson
import pandas as pd

from platform_core.hashing import canonical_json

PSEUDONYM_PREFIX = "p_"
PLACEHOLDER = "[user]"
MIN_ID_LENGTH = 4


def pseudonymize(user_ids: pd.Series, salt: str) -> pd.Series:
    """HMAC-SHA256 of each raw id keyed by ``salt``: ``p_`` + 24 hex; nulls stay null.

    Hashes each distinct id once, so a day with 100k events from 3k users costs 3k HMACs.
    """
    key = salt.encode()
    mapping = {uid: _pseudonym(key, uid) for uid in pd.unique(user_ids.dropna()).tolist()}
    return user_ids.map(mapping).astype("object").where(user_ids.notna(), None)


def _pseudonym(key: bytes, uid: str) -> str:
    return PSEUDONYM_PREFIX + hmac.new(key, uid.encode(), hashlib.sha256).hexdigest()[:24]


def id_shaped(token: str) -> bool:
    """Whether ``token`` can only be an id: it holds a digit or an ``@``, as no word does."""
    return any(c.isdigit() or c == "@" for c in token)


def _word_char(c: str) -> bool:
    # Letters and digits only: "_" joins an id to a word (``by_alice@example.com``), not a longer id.
    return c.isalnum()


def _whole_token(text: str, start: int, end: int) -> bool:
    return (start == 0 or not _word_char(text[start - 1])) and (end == len(text) or not _word_char(text[end]))


def _placeholders(text: str) -> list[tuple[int, int]]:
    spans, at = [], text.find(PLACEHOLDER)
    while at >= 0:
        spans.append((at, at + len(PLACEHOLDER)))
        at = text.find(PLACEHOLDER, at + 1)
    return spans


def _non_overlapping(found: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Of overlapping spans, the one starting first (the longest of those starting together)."""
    kept, reach = [], -1
    for start, end in sorted(found, key=lambda se: (se[0], se[0] - se[1])):
        if start >= reach:
            kept.append((start, end))
            reach = end
    return kept


def _owners(owners: pd.Series | None, n: int) -> list:
    return [None] * n if owners is None else owners.tolist()


class RawIds:
    """The raw user ids of a partition, matched in text by :mod:`the rule <platform_core.privacy>`.
    One Aho-Corasick automaton for all the ids; ``owners`` give each row's own raw id (or None)."""

    def __init__(self, raw_ids: Iterable[str], min_length: int = MIN_ID_LENGTH):
        self._automaton = ahocorasick.Automaton()
        for uid in {u for u in raw_ids if isinstance(u, str) and len(u) >= min_length}:
            self._automaton.add_word(uid, uid)
        self._empty = len(self._automaton) == 0
        if not self._empty:
            self._automaton.make_automaton()

    def spans(self, text: str, owner: str | None = None) -> list[tuple[int, int]]:
        """``(start, end)`` of each id in ``text`` the rule replaces, in a row of ``owner``."""
        found = [
            (last - len(uid) + 1, last + 1)
            for last, uid in self._automaton.iter(text)
            if (uid == owner or id_shaped(uid)) and _whole_token(text, last - len(uid) + 1, last + 1)
        ]
        if found and PLACEHOLDER in text:
            marks = _placeholders(text)
            found = [(s, e) for s, e in found if not any(ms <= s and e <= me for ms, me in marks)]
        return _non_overlapping(found)

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

    def anywhere(self, text: str) -> bool:
        """Whether any id is in ``text`` at all, as any substring (for text whose rows are unknown)."""
        return not self._empty and next(self._automaton.iter(text), None) is not None

    def _replace(self, text: str, owner: str | None) -> str:
        for start, end in reversed(self.spans(text, owner)):
            text = text[:start] + PLACEHOLDER + text[end:]
        return text

    def scrub(self, texts: pd.Series, owners: pd.Series | None = None) -> pd.Series:
        """The texts with every id the rule names replaced by the placeholder."""
        if self._empty or texts.empty:
            return texts
        values, who = texts.tolist(), _owners(owners, len(texts))
        for i in self._rows_with_candidates(values):
            values[i] = self._replace(values[i], who[i])
        return pd.Series(values, index=texts.index, dtype="object").where(texts.notna(), None)

    def scrub_json(self, texts: pd.Series, owners: pd.Series | None = None) -> pd.Series:
        """JSON texts with the rule applied inside their strings and keys, and a number that is an
        id the rule names replaced by the placeholder; re-serialized canonically where changed (a
        text replace could break the JSON)."""
        if self._empty or texts.empty:
            return texts
        values, who = texts.tolist(), _owners(owners, len(texts))

        def clean(value, owner):
            if isinstance(value, str):
                return self._replace(value, owner)
            if isinstance(value, dict):
                return {clean(k, owner): clean(v, owner) for k, v in value.items()}
            if isinstance(value, list):
                return [clean(v, owner) for v in value]
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                text = str(value)
                return PLACEHOLDER if self.spans(text, owner) == [(0, len(text))] else value
            return value

        for i in self._rows_with_candidates(values):
            values[i] = canonical_json(clean(orjson.loads(values[i]), who[i]))
        return pd.Series(values, index=texts.index, dtype="object").where(texts.notna(), None)

    def count(self, texts: pd.Series, owners: pd.Series | None = None) -> int:
        """Ids the rule names, still in the texts."""
        if self._empty:
            return 0
        values, who = texts.tolist(), _owners(owners, len(texts))
        return sum(
            len(self.spans(values[i], who[i])) for i in self._rows_with_candidates(values) if isinstance(values[i], str)
        )


#: Where a candidate token ends in text: space, quotes, brackets, separators of lists and pairs.
_SEPARATORS = re.compile(r"""[\s"'`,;=<>(){}\[\]]+""")
_PIECES = re.compile(r"[^\W_]+")
#: The most word pieces one id is looked for across (a UUID has five, an e-mail address three or four).
_MAX_PIECES = 8


class People:
    """The people a partition's inputs name, for checking the rule on what a step writes.

    From the raw ids (a step that read them) the check is :class:`RawIds`'; from the pseudonyms
    and the salt alone (a step downstream of pseudonymization, which never sees a raw id) each
    candidate token of the text (each run of word pieces between separators) is pseudonymized and
    looked up: the same rule, without bringing raw ids back into the step."""

    def __init__(self, salt: str, raw_ids: Iterable[str] | None = None, pseudonyms: Iterable[str] = ()):
        self._key = salt.encode()
        self.raw = None if raw_ids is None else sorted({u for u in raw_ids if isinstance(u, str) and u})
        if self.raw is not None:
            self._ids = RawIds(self.raw)
            self._owner_of = {_pseudonym(self._key, u): u for u in self.raw}
        self._pseudonyms = set(pseudonyms) if self.raw is None else set(self._owner_of)
        self._memo: dict[str, str] = {}

    def count(self, texts: pd.Series, owners: pd.Series | None = None) -> int:
        """Ids the rule names in ``texts``; ``owners``: each row's pseudonym (or None)."""
        if self.raw is not None:
            raw_owners = None if owners is None else owners.map(self._owner_of)
            return self._ids.count(texts, raw_owners)
        who = _owners(owners, len(texts))
        return sum(self._hashed_hits(text, owner) for text, owner in zip(texts.tolist(), who) if isinstance(text, str))

    def _hashed_hits(self, text: str, owner: str | None) -> int:
        hits = 0
        for run in _SEPARATORS.split(text.replace(PLACEHOLDER, " ")):
            pieces = [m.span() for m in _PIECES.finditer(run)]
            for i, (start, _) in enumerate(pieces):
                for _, end in pieces[i : i + _MAX_PIECES]:
                    token = run[start:end]
                    if len(token) < MIN_ID_LENGTH:
                        continue
                    pseudonym = self._memo.get(token) or self._memo.setdefault(token, _pseudonym(self._key, token))
                    if pseudonym in self._pseudonyms and (pseudonym == owner or id_shaped(token)):
                        hits += 1
        return hits


def find_raw_ids(
    frames: Mapping[str, pd.DataFrame],
    people: People | Iterable[str],
    owners: Mapping[str, str] | None = None,
) -> dict[str, int]:
    """Ids the rule names per ``table.column``, over every text column of each frame except its
    pseudonyms; ``owners[table]``: the column holding each row's pseudonym, if rows have owners."""
    people = people if isinstance(people, People) else People("", raw_ids=people)
    hits: dict[str, int] = {}
    for table, frame in frames.items():
        owner = (owners or {}).get(table)
        for column in frame.columns:
            if column == owner:
                continue
            values = frame[column]
            present = values.dropna()
            if present.empty or pd.api.types.infer_dtype(present, skipna=True) != "string":
                continue
            found = people.count(values, frame[owner] if owner else None)
            if found:
                hits[f"{table}.{column}"] = found
    return hits
