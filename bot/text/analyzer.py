"""``TextAnalyzer``: the one object the bot uses to normalise, segment and classify residents' messages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple, Protocol

from bot.text.department import KeywordDepartmentClassifier
from bot.text.hot_topics import hot_phrases
from bot.text.intent import DefaultIntentClassifier
from bot.text.model import TextModel
from bot.text.normalise import analysed_part, normalise
from bot.text.results import Prediction
from bot.text.segment import load_tagger, tokens
from bot.text.topics import TopicRef, topic_of

WARM_UP = ("热身", "今天包了饺子，谁家要尝尝", "请问小区电梯坏了什么时候能修好？")
"""Texts through every branch of the default intent classifier (rules, chatter gate, seed model)."""


class Classifier(Protocol):
    """Anything that labels already-normalised text."""

    def predict(self, normalised: str) -> Prediction:
        """Classify one already-normalised text."""
        ...


def _load(path: str | Path, kind: str) -> TextModel:
    """Load a trained model and check that it is of ``kind``; ``ValueError`` names the file."""
    model = TextModel.load(path)
    if model.kind != kind:
        raise ValueError(f"{path}: expected a {kind} model, found a {model.kind} model")
    return model


class AnalyzerSpec(NamedTuple):
    """The arguments a ``TextAnalyzer`` was built with, plain values another process can rebuild it
    from."""

    departments: dict[str, list[str]]
    intent_model: str | None
    department_model: str | None

    def build(self) -> TextAnalyzer:
        """A ``TextAnalyzer`` like the one this spec came from."""
        return TextAnalyzer(self.departments, self.intent_model, self.department_model)


TextFacts = tuple[Prediction, Prediction, TopicRef | None]
"""What ``TextAnalyzer.facts`` makes of one text: its intent, its department and its topic."""


class TextAnalyzer:
    """Normalise, segment and classify Chinese chat messages.

    ``departments`` maps department names to keywords (from bot.toml) for keyword routing; ``intent_model``
    and ``department_model`` are paths to models made by ``minyi train`` and replace the defaults.
    """

    def __init__(
        self,
        departments: Mapping[str, Sequence[str]] | None = None,
        intent_model: str | Path | None = None,
        department_model: str | Path | None = None,
    ) -> None:
        self.departments = {k: list(v) for k, v in (departments or {}).items()}
        self.spec = AnalyzerSpec(
            self.departments,
            str(intent_model) if intent_model else None,
            str(department_model) if department_model else None,
        )
        """What builds this analyzer again (in ``bot.text.offload``'s process)."""
        self._intent: Classifier = DefaultIntentClassifier()
        self._department: Classifier = KeywordDepartmentClassifier(self.departments)
        if intent_model:
            self._intent = _load(intent_model, "intent")
        if department_model:
            self._department = _load(department_model, "department")

    def warm_up(self) -> None:
        """Load what classification, topics and topic words load on first use (jieba's dictionary
        and part-of-speech data, the chatter gate, the seed model, OpenCC), so that no message
        waits for it."""
        self.intents(WARM_UP)
        self.department(WARM_UP[-1])
        load_tagger()
        self.topic_words(WARM_UP)

    def normalise(self, text: str) -> str:
        """Traditional→Simplified, full-width→half-width, lower-case latin, folded white space."""
        return normalise(text)

    def tokens(self, text: str) -> list[str]:
        """jieba tokens of the normalised text (its first ``MAX_ANALYSED_CHARS``), stop words and
        punctuation dropped."""
        return tokens(analysed_part(text))

    def intent(self, text: str) -> Prediction:
        """The intent of ``text`` (its first ``MAX_ANALYSED_CHARS``): question, suggestion, complaint or
        chatter."""
        return self._intent.predict(normalise(analysed_part(text)))

    def intents(self, texts: Sequence[str]) -> list[Prediction]:
        """``intent`` of each of ``texts``, classified together (many times faster than one by one)."""
        normalised = [normalise(analysed_part(text)) for text in texts]
        many = getattr(self._intent, "predict_many", None)
        if many is not None:
            return list(many(normalised))
        return [self._intent.predict(text) for text in normalised]

    def facts(self, texts: Sequence[str]) -> list[TextFacts]:
        """The intent, department and topic of each of ``texts``, intents classified together. The
        topic is left out (None) for sure small talk, which never has one
        (``handlers.record.message_topic``)."""
        return [
            (
                intent,
                self.department(text),
                None if intent.label == "chatter" and intent.confident else self.topic(text),
            )
            for intent, text in zip(self.intents(texts), texts, strict=True)
        ]

    def department(self, text: str) -> Prediction:
        """The department ``text`` (its first ``MAX_ANALYSED_CHARS``) belongs to, or ``""`` when unknown."""
        return self._department.predict(normalise(analysed_part(text)))

    def topic(self, text: str) -> TopicRef | None:
        """What ``text`` (its first ``MAX_ANALYSED_CHARS``) is about, for early warning: see
        ``bot.text.topics.topic_of``; ``TopicRef.key(group)`` is the key stored beside a message."""
        return topic_of(text)

    def topic_words(self, texts: Iterable[str], k: int = 5) -> list[tuple[str, int]]:
        """The ``k`` topic phrases mentioned by the most of ``texts``, with how many mention each.

        Phrases are the nouns residents name, joined as they wrote them (停水, 3号楼电梯, 烧烤店油烟), never
        question words or words every community message uses (小区, 楼下, 什么时候): see ``hot_topics``.
        """
        return hot_phrases(texts, k)
