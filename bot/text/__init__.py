"""Chinese text understanding for minyi: normalise, segment, classify intent and department, rank templates.

The public API is small and stable::

    analyzer = TextAnalyzer(departments={"住建局": ["物业", "小区"]})
    analyzer.intent("请问小区停水什么时候恢复？")      # Prediction(label="question", ...)
    analyzer.department("小区物业不管事")               # Prediction(label="住建局", ...)
    ranker = TemplateRanker(analyzer, [RankDoc(id="t1", text="停水通知 …")])
    ranker.rank("什么时候来水", k=3)                     # [Ranked(id="t1", score=...)]

Nothing here imports the rest of the bot; the bot passes plain values in and gets dataclasses back.
"""

from __future__ import annotations

from bot.text.analyzer import TextAnalyzer
from bot.text.ranking import TemplateRanker
from bot.text.results import INTENTS, Prediction, RankDoc, Ranked

__all__ = ["INTENTS", "Prediction", "RankDoc", "Ranked", "TemplateRanker", "TextAnalyzer"]
