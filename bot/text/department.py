"""Guess which department a message belongs to from the keywords configured for each department.

Used when no trained department model is configured. A keyword counts once per message; longer keywords
weigh more. An empty label means "unknown".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from bot.text.normalise import normalise
from bot.text.results import Prediction


class KeywordDepartmentClassifier:
    """Score each department by the configured keywords found in the text."""

    def __init__(self, departments: Mapping[str, Sequence[str]] | None = None) -> None:
        self.departments: dict[str, list[str]] = {}
        for name, words in (departments or {}).items():
            kws = sorted({normalise(w) for w in words if w and normalise(w)}, key=len, reverse=True)
            self.departments[name] = kws
        self._patterns = {
            name: re.compile("|".join(re.escape(w) for w in kws))
            for name, kws in self.departments.items()
            if kws
        }
        # Any keyword of any department: one scan rules out a text that names none (most texts).
        self._any = re.compile("|".join(p.pattern for p in self._patterns.values()) or "(?!)")

    def predict(self, normalised: str) -> Prediction:
        """Best department for already-normalised text, or ``""`` when no keyword matches."""
        scores: dict[str, float] = {}
        if not self._any.search(normalised):
            return Prediction("", 0.0, False)
        for name, pattern in self._patterns.items():
            found = set(pattern.findall(normalised))
            if found:
                scores[name] = sum(1.0 + 0.25 * (len(w) - 1) for w in found)
        if not scores:
            return Prediction("", 0.0, False)
        ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
        best, top = ranked[0]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        conf = top / (top + second + 0.5)
        return Prediction(best, round(conf, 4), top > second and conf >= 0.5)
