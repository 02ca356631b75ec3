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
        keywords = sorted(
            {w for kws in self.departments.values() for w in kws}, key=len, reverse=True
        )
        # The longest keyword starting at each position of a text (a lookahead finds overlapping
        # ones; the first character tested first lets the engine skip the other positions fast).
        firsts = re.escape("".join(sorted({w[0] for w in keywords})))
        alternatives = "|".join(map(re.escape, keywords))
        self._starts = re.compile(f"(?=[{firsts}])(?=({alternatives}))" if keywords else "(?!)")
        # A keyword found there means every keyword that is a prefix of it is there too: the
        # departments of either have a keyword in the text.
        self._owners = {
            word: {
                name for name, kws in self.departments.items() for k in kws if word.startswith(k)
            }
            for word in keywords
        }

    def predict(self, normalised: str) -> Prediction:
        """Best department for already-normalised text, or ``""`` when no keyword matches."""
        scores: dict[str, float] = {}
        # One scan finds the departments with a keyword in the text (few, most often none); only
        # their patterns, which find something exactly then, scan it again.
        named = set().union(*map(self._owners.__getitem__, set(self._starts.findall(normalised))))
        if not named:
            return Prediction("", 0.0, False)
        for name, pattern in self._patterns.items():
            if name not in named:
                continue
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
