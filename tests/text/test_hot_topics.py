"""热点话题: the phrases residents use (停水, 3号楼电梯, 烧烤店油烟), never fragments or noise words."""

from __future__ import annotations

import re

import pytest

from bot.text import TextAnalyzer
from bot.text.hot_topics import hot_phrases, message_phrases

BURST = [
    "又停水了！一点通知都没有",
    "小区停水什么时候恢复啊",
    "我刚下楼看了，停水的通知贴在门口",
    "又停水，孩子放学回来都没法洗澡",
    "3号楼电梯又停了，有人知道啥时候修好吗",
    "3号楼的电梯又坏了，困了人半小时",
    "3号楼电梯天天坏，物业管不管",
    "楼下烧烤店油烟太大了，窗户都不敢开",
    "烧烤店的油烟又飘上来了",
    "那家烧烤店油烟呛死人，能不能管管",
    "广场舞音响太吵了，晚上九点还在跳",
    "广场舞能不能早点结束",
    "楼下个体摊贩把路堵了",
    "小区里有人乱扔垃圾",
    "下楼的时候差点摔一跤",
]
NOISE = {"下楼", "个体", "小区", "楼下", "通知", "时候", "什么时候", "物业"}


def test_a_burst_gives_the_phrases_people_use() -> None:
    hot = hot_phrases(BURST, k=5)
    assert hot[:3] == [("停水", 4), ("3号楼电梯", 3), ("烧烤店油烟", 3)]
    assert ("广场舞", 2) in hot
    assert not NOISE & {phrase for phrase, _ in hot}


def test_a_phrase_is_not_listed_again_inside_a_longer_one() -> None:
    hot = dict(hot_phrases(BURST, k=10))
    assert "电梯" not in hot and "烧烤店" not in hot and "油烟" not in hot
    assert "广场" not in hot  # 广场舞 is kept whole, never cut into 广场 + 舞


def test_a_count_is_the_number_of_messages_mentioning_it() -> None:
    texts = ["停水了停水了停水了", "又停水", "今天天气好", "吃了吗", "下午打球"]
    assert hot_phrases(texts, k=3) == [("停水", 2)]


def test_one_mention_in_a_day_of_traffic_is_not_hot() -> None:
    texts = ["东门路灯坏了", *["3号楼电梯坏了"] * 3, *["好的", "谢谢"] * 8]
    assert hot_phrases(texts, k=5) == [("3号楼电梯", 3)]


def test_a_handful_of_messages_each_name_their_subject() -> None:
    hot = hot_phrases(["建议多装几个快递柜", "东门的路灯坏了"], k=5)
    assert sorted(hot) == [("东门路灯", 1), ("快递柜", 1)]


def test_traditional_input_gives_simplified_phrases() -> None:
    texts = [
        "樓下燒烤店油煙太大了",
        "燒烤店的油煙又來了",
        "3號樓電梯壞了",
        "3號樓電梯又停了",
        "好的",
    ]
    assert hot_phrases(texts, k=2) == [("3号楼电梯", 2), ("烧烤店油烟", 2)]


@pytest.mark.parametrize(
    ("text", "phrases"),
    [
        ("5栋停电了", {"5栋", "5栋停电", "停电"}),
        ("二期的路灯又坏了", {"二期", "二期路灯", "路灯"}),
        ("张伟说下楼看看", set()),  # a person's name and a verb are no topic
    ],
)
def test_message_phrases(text: str, phrases: set[str]) -> None:
    assert message_phrases(text) == phrases


def test_analyzer_topic_words_use_the_phrases() -> None:
    assert TextAnalyzer().topic_words(BURST, k=3)[0] == ("停水", 4)


@pytest.mark.asyncio
async def test_an_officials_digest_names_the_burst(chat) -> None:  # type: ignore[no-untyped-def]
    for i, text in enumerate(BURST):
        resident = (chat.wang, chat.liu)[i % 2]
        await chat.bot.say(text, by=resident, chat=chat.group)
    # The digest (a batch of complaints nobody @-mentioned may come with it).
    [text] = [p.text for p in await chat.bot.say("潜水", by=chat.zhang) if "热词：" in p.text]
    hot = text.split("热词：")[1].splitlines()[0]
    listed = re.findall(r"([^、()]+)\((\d+)\)", hot)
    assert listed[:3] == [("停水", "4"), ("3号楼电梯", "3"), ("烧烤店油烟", "3")]
    assert not NOISE & {phrase for phrase, _ in listed}


@pytest.mark.asyncio
async def test_a_supervisors_summary_names_each_questions_subject(chat) -> None:  # type: ignore[no-untyped-def]
    for text in (
        "我们3号楼的电梯又坏了，什么时候能修好？上下楼太不方便了",
        "楼下烧烤店油烟太大，晚上十一点还在营业，能不能管一管？",
        "请问个体工商户的营业执照年报在哪里办理？",
    ):
        await chat.ask(text)
    chat.clock.advance(minutes=1)
    text = (await chat.bot.say("/summary 7d", by=chat.chen))[0].text
    line = next(line for line in text.splitlines() if line.startswith("热点话题："))
    listed = set(line.removeprefix("热点话题：").split("、"))
    assert {"3号楼电梯", "烧烤店油烟"} <= listed
    assert not NOISE & listed and "个体" not in listed
