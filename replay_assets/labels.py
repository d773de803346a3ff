"""Titles and descriptions for new tasks: a labeler interface with two implementations (pure but
for the HTTP call).

``KeywordLabeler`` (default) works offline and is deterministic: the words that distinguish a
cluster from the tick's other clusters (class-based TF-IDF, as BERTopic does) and the member
nearest the centroid make an actionable title and a short description. ``LLMLabeler`` asks an
OpenAI-compatible chat API for a JSON title and description and falls back to the default on
any failure (network, status, timeout, malformed answer).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from replay_assets.impact import categories


@dataclass(frozen=True)
class ClusterText:
    cluster_id: int
    descriptions: list[str]  # ordered nearest-to-centroid first
    segments: int
    distinct_users: int


@dataclass(frozen=True)
class Label:
    title: str
    description: str
    keywords: tuple[str, ...]
    source: str  # "keywords" or "llm"


class Labeler(Protocol):
    def label(self, clusters: list[ClusterText]) -> dict[int, Label]: ...


#: English stop words, plus words every replay description shares ("User clicked ...").
STOP_WORDS = sorted(ENGLISH_STOP_WORDS | {"user", "users", "segment", "session"})
_VERB = {"failure": "Fix", "confusion": "Improve", "abandonment": "Investigate"}


def distinguishing_keywords(clusters: list[ClusterText], top: int = 4) -> dict[int, list[str]]:
    """c-TF-IDF: term frequency within a cluster's text, weighted by rarity across the clusters."""
    docs = [" ".join(c.descriptions) for c in clusters]
    if not any(d.strip() for d in docs):
        return {c.cluster_id: [] for c in clusters}
    vectorizer = CountVectorizer(
        stop_words=STOP_WORDS, token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z0-9]+\b", ngram_range=(1, 2)
    )
    try:
        counts = vectorizer.fit_transform(docs).toarray().astype(np.float64)
    except ValueError:  # only stop words
        return {c.cluster_id: [] for c in clusters}
    terms = vectorizer.get_feature_names_out()
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    idf = np.log(1 + counts.sum(axis=1).mean() / np.maximum(counts.sum(axis=0), 1))
    scores = tf * idf
    out = {}
    for row, cluster in enumerate(clusters):
        order = sorted(np.flatnonzero(scores[row] > 0), key=lambda j: (-scores[row, j], terms[j]))
        picked: list[str] = []
        for j in order:  # skip words already inside a picked phrase
            if not any(terms[j] in p or p in terms[j] for p in picked):
                picked.append(str(terms[j]))
            if len(picked) == top:
                break
        out[cluster.cluster_id] = picked
    return out


class KeywordLabeler:
    """Deterministic, offline labels from distinguishing keywords and the most central member."""

    def label(self, clusters: list[ClusterText]) -> dict[int, Label]:
        keywords = distinguishing_keywords(clusters)
        labels = {}
        for c in clusters:
            central = c.descriptions[0] if c.descriptions else ""
            found = categories(" ".join(c.descriptions[:5]))
            verb = _VERB[found[0]] if found else "Investigate"
            words = (
                keywords[c.cluster_id][:3]
                or [w for w in re.findall(r"[A-Za-z]+", central)[:3]]
                or ["session", "friction"]
            )
            title = f"{verb} {' / '.join(words)}"
            description = (
                f'{c.segments} segments from {c.distinct_users} users show: "{central[:160]}". '
                f"Distinguishing terms: {', '.join(keywords[c.cluster_id]) or 'none'}."
            )
            labels[c.cluster_id] = Label(title[:120], description, tuple(keywords[c.cluster_id]), "keywords")
        return labels


_SCHEMA = {
    "name": "task_label",
    "schema": {
        "type": "object",
        "properties": {"title": {"type": "string"}, "description": {"type": "string"}},
        "required": ["title", "description"],
        "additionalProperties": False,
    },
}


class LLMLabeler:
    """An OpenAI-compatible chat API (``REPLAY_LLM_URL``, key ``REPLAY_LLM_API_KEY``) with the default as fallback."""

    def __init__(
        self,
        url: str,
        api_key: str | None,
        model: str = "gpt-4o-mini",
        timeout_s: float = 20.0,
        fallback: Labeler | None = None,
        members: int = 5,
    ):
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.model = model
        self.timeout_s = timeout_s
        self.fallback = fallback or KeywordLabeler()
        self.members = members

    def _ask(self, cluster: ClusterText) -> tuple[str, str]:
        import requests

        prompt = (
            "These session-replay segment descriptions show the same user friction. Write an actionable task "
            "title of 5-10 words starting with Fix, Investigate or Improve, and a 1-3 sentence description.\n\n"
            + "\n".join(f"- {d}" for d in cluster.descriptions[: self.members])
        )
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        response = requests.post(
            f"{self.url}/chat/completions",
            timeout=self.timeout_s,
            headers=headers,
            json={
                "model": self.model,
                "temperature": 0,
                "messages": [{"role": "user", "content": prompt}],
                "response_format": {"type": "json_schema", "json_schema": _SCHEMA},
            },
        )
        response.raise_for_status()
        answer = json.loads(response.json()["choices"][0]["message"]["content"])
        title, description = str(answer["title"]).strip(), str(answer["description"]).strip()
        if not (3 <= len(title) <= 200 and description):
            raise ValueError("empty or oversized label")
        return title, description

    def label(self, clusters: list[ClusterText]) -> dict[int, Label]:
        fallback = self.fallback.label(clusters)
        labels = {}
        for c in clusters:
            try:
                title, description = self._ask(c)
                labels[c.cluster_id] = Label(title, description, fallback[c.cluster_id].keywords, "llm")
            except Exception:  # any failure of the outside service: the offline label stands
                labels[c.cluster_id] = fallback[c.cluster_id]
        return labels
