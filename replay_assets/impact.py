"""How bad a segment description sounds: failure 0.4, confusion 0.3, abandonment 0.2, capped at 1 (pure).

Unlike the replaced clustering system's substring test, terms match on word boundaries, a term under a negation
("no errors", "did not fail", "without any crash") does not count, and ordinary UI words do not
pass for abandonment ("left sidebar", "closed the modal after saving").
"""

from __future__ import annotations

import re

import pandas as pd

WEIGHTS = {"failure": 0.4, "confusion": 0.3, "abandonment": 0.2}

_TERMS = {
    "failure": r"errors?|failed|fails?|failure|exceptions?|crash(?:ed|es)?|404|500|time[sd]? ?out|bugs?|broken|not working"
    r"|did ?n[o']t (?:load|work|respond|save)|nothing happened|frozen|froze",
    "confusion": r"confus(?:ed|ing|ion)|struggled|struggling|repeatedly|tried to|unable to find|could ?n[o']t find|lost"
    r"|back and forth|rage[- ]?click(?:ed|s|ing)?|hesitat(?:ed|es|ing)",
    "abandonment": r"abandon(?:ed|s|ing)?|gave up|giving up|exited|navigated away|left (?:the )?(?:page|site|app|checkout|flow)"
    r"|closed the (?:tab|window|browser)|quit|bounced",
}
_NEGATION = r"\b(?:no|not|never|without|none|zero|didn'?t|did not|wasn'?t|was not)\b(?:\W+\w+){0,2}\W+$"
_PATTERNS = {k: re.compile(rf"\b(?:{v})\b", re.IGNORECASE) for k, v in _TERMS.items()}
_NEGATED = re.compile(_NEGATION, re.IGNORECASE)


def categories(text: str) -> list[str]:
    """The impact categories a description shows, negated mentions excluded."""
    found = []
    for category, pattern in _PATTERNS.items():
        for match in pattern.finditer(text or ""):
            if not _NEGATED.search(text[: match.start()]):
                found.append(category)
                break
    return found


def impact_score(text: str) -> float:
    return min(1.0, sum(WEIGHTS[c] for c in categories(text)))


def impact_scores(texts: pd.Series) -> pd.Series:
    """Impact per description (each distinct text scored once)."""
    scores = {t: impact_score(t) for t in pd.unique(texts.fillna(""))}
    return texts.fillna("").map(scores).astype("float64")
