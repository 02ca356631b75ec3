"""Topic grouping for early warning: one topic for one problem, across groups, small talk left out."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from bot.text import TextAnalyzer
from bot.text.topics import TopicGrouper, TopicMessage, topic_key, topic_of

T0 = datetime(2026, 12, 1, 7, 30)
WATER_OUTAGE = [
    ("xingfuli", "又停水了！一点通知都没有"),
    ("xingfuli", "请问停水什么时候恢复啊"),
    ("yangguang", "我们这边也没水了，怎么回事"),
    ("heping", "什么时候来水啊，饭都做不了"),
    ("xingfuli", "家里水龙头一滴水都没有，是停水了吗"),
    ("heping", "停水也不提前通知一声，太过分了"),
    ("yangguang", "又停水，孩子上学前都没法洗漱"),
    ("heping", "停水到底要停到几点"),
    ("yangguang", "物業說停水要到中午，真的假的"),
    ("xingfuli", "停水了，老人在家没法做饭"),
    ("heping", "我家也停水了，楼上楼下都没水"),
    ("yangguang", "水停了一早上了，有人管吗"),
]
CHATTER = [
    ("xingfuli", "今天包了饺子，谁家要尝尝"),
    ("yangguang", "周末有人一起去爬山吗"),
    ("heping", "早上好呀各位邻居"),
    ("heping", "哈哈哈笑死我了"),
]
OTHER = [("heping", "楼下烧烤店油烟太大了，窗户都不敢开")]


def burst() -> list[TopicMessage]:
    """The issue's burst: 12 water-outage messages in 3 groups within half an hour, among small talk
    and an unrelated complaint."""
    lines = WATER_OUTAGE + CHATTER + OTHER
    order = list(range(len(lines)))
    random.Random(17).shuffle(order)
    return [
        TopicMessage(f"m{i}", lines[i][0], lines[i][1], T0 + timedelta(minutes=2 * n))
        for n, i in enumerate(order)
    ]


@pytest.fixture(scope="module")
def grouper() -> TopicGrouper:
    return TopicGrouper(TextAnalyzer().intent)


def test_a_water_outage_in_three_groups_is_one_topic(grouper: TopicGrouper) -> None:
    messages = burst()
    topics = grouper.group(messages)
    outage = topics[0]
    assert outage.key == "停水" and outage.label == "停水"
    assert outage.groups == ("heping", "xingfuli", "yangguang")
    assert sorted(m.text for m in outage.messages) == sorted(t for _, t in WATER_OUTAGE)
    assert outage.first.at == min(m.at for m in outage.messages if m.at)
    assert outage.latest.at == max(m.at for m in outage.messages if m.at)
    assert (outage.latest.at - outage.first.at) <= timedelta(minutes=30)


def test_small_talk_is_left_out_and_other_problems_are_their_own_topic(
    grouper: TopicGrouper,
) -> None:
    topics = grouper.group(burst())
    grouped = {m.text for t in topics for m in t.messages}
    assert not grouped & {t for _, t in CHATTER}
    assert [(t.key, t.label, len(t.messages)) for t in topics[1:]] == [
        ("heping|油烟", "烧烤店油烟", 1)
    ]


def test_keys_are_stable_whatever_the_batch(grouper: TopicGrouper) -> None:
    messages = burst()
    whole = {t.key for t in grouper.group(messages)}
    assert {t.key for t in grouper.group(messages[::-1])} == whole
    assert {t.key for t in grouper.group(messages[:5])} <= whole
    assert topic_of("又停水了").key("any-group") == topic_of("什麼時候來水").key("other") == "停水"


def test_a_facility_is_a_topic_of_its_own_group(grouper: TopicGrouper) -> None:
    messages = [
        TopicMessage("a1", "yangguang", "3号楼电梯又坏了，困了人"),
        TopicMessage("a2", "yangguang", "电梯又停了，天天爬楼"),
        TopicMessage("b1", "xingfuli", "3号楼的电梯什么时候修好"),
        TopicMessage("b2", "xingfuli", "5栋电梯也坏了"),
    ]
    topics = {t.key: (t.label, [m.id for m in t.messages]) for t in grouper.group(messages)}
    assert topics == {
        "yangguang|3号楼电梯": ("3号楼电梯", ["a1", "a2"]),
        "xingfuli|3号楼电梯": ("3号楼电梯", ["b1"]),
        "xingfuli|5栋电梯": ("5栋电梯", ["b2"]),
    }


def test_traditional_messages_join_the_same_topics(grouper: TopicGrouper) -> None:
    messages = [
        TopicMessage("s", "heping", "楼下烧烤店油烟太大了"),
        TopicMessage("t", "heping", "樓下燒烤店油煙又飄上來了，窗戶都不敢開"),
        TopicMessage("u", "yangguang", "又停水了"),
        TopicMessage("v", "xingfuli", "怎麼又停水了，什麼時候來水"),
    ]
    topics = {t.key: (t.label, [m.id for m in t.messages]) for t in grouper.group(messages)}
    assert topics == {"heping|油烟": ("烧烤店油烟", ["s", "t"]), "停水": ("停水", ["u", "v"])}


@pytest.mark.parametrize(
    ("text", "subject"),
    [
        ("自来水发黄，还能喝吗", "水质"),
        ("停电了，电梯也停了", "停电"),
        ("暖气一点都不热", "供暖"),
        ("广场舞音响太吵了", "噪音"),
        ("公交站改到哪里去了", "公交站"),
    ],
)
def test_what_a_message_is_about(text: str, subject: str) -> None:
    ref = topic_of(text)
    assert ref is not None and ref.subject == subject


def test_without_a_classifier_every_message_naming_a_topic_is_kept() -> None:
    messages = [TopicMessage("1", "g", "哈哈好的"), TopicMessage("2", "g", "停电了")]
    assert [[m.id for m in t.messages] for t in TopicGrouper().group(messages)] == [["2"]]


def test_one_messages_key_is_the_key_of_its_topic(grouper: TopicGrouper) -> None:
    for topic in grouper.group(burst()):
        assert {topic_key(m.text, m.group) for m in topic.messages} == {topic.key}
    assert topic_key("哈哈好的", "heping") is None
