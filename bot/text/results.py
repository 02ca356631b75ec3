"""The plain values that ``bot.text`` hands back to the bot: predictions and ranked template ids."""

from __future__ import annotations

from dataclasses import dataclass

INTENTS: tuple[str, ...] = ("question", "suggestion", "complaint", "chatter")
"""Every intent label, actionable ones first; ``chatter`` never opens a ticket."""

ACTIONABLE: tuple[str, ...] = ("question", "suggestion", "complaint")
"""Intents that may open a ticket or alert an official."""


@dataclass(frozen=True)
class Prediction:
    """One classification result.

    ``label`` is an intent (``question``/``suggestion``/``complaint``/``chatter``) or a department name
    (``""`` when unknown); ``confidence`` is in 0..1; when ``confident`` is False the bot marks the result
    as low-confidence and does not act on it.
    """

    label: str
    confidence: float
    confident: bool


@dataclass(frozen=True)
class RankDoc:
    """A reply template (or any answer text) that the ranker may suggest."""

    id: str
    text: str
    intent: str = ""
    department: str = ""


@dataclass(frozen=True)
class Ranked:
    """One ranked result: the id of a ``RankDoc`` and its score (higher is better)."""

    id: str
    score: float
