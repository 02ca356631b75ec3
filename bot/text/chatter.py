"""Recognise small talk in group chats: greetings, thanks, acknowledgements, laughter and emoji.

A message that is chatter never opens a ticket nor alerts an official, so this detector errs on the side of
"actionable" whenever a message carries a question, a request or a problem word.
"""

from __future__ import annotations

import re

# Whole-message small talk (after normalisation and stripping punctuation/emoji), written for this project.
_PHRASES = frozenset(
    [
        "收到",
        "收到了",
        "好的",
        "好",
        "好滴",
        "好嘞",
        "好哒",
        "ok",
        "okk",
        "okay",
        "嗯",
        "嗯嗯",
        "嗯呢",
        "哦",
        "哦哦",
        "噢",
        "行",
        "可以",
        "没问题",
        "对",
        "对的",
        "是的",
        "是滴",
        "谢谢",
        "谢谢你",
        "谢谢您",
        "谢谢啦",
        "谢了",
        "多谢",
        "感谢",
        "感谢感谢",
        "非常感谢",
        "辛苦了",
        "辛苦",
        "辛苦啦",
        "大家辛苦了",
        "领导辛苦了",
        "您辛苦了",
        "哈哈",
        "哈哈哈",
        "哈哈哈哈",
        "呵呵",
        "嘿嘿",
        "嘻嘻",
        "hh",
        "hhh",
        "233",
        "666",
        "6666",
        "牛",
        "厉害",
        "赞",
        "点赞",
        "棒",
        "太棒了",
        "给力",
        "早",
        "早上好",
        "早安",
        "大家早",
        "大家早上好",
        "中午好",
        "下午好",
        "晚上好",
        "晚安",
        "大家好",
        "你好",
        "您好",
        "各位好",
        "hello",
        "hi",
        "嗨",
        "在吗",
        "在不在",
        "在",
        "来了",
        "到",
        "好久不见",
        "周末愉快",
        "节日快乐",
        "新年快乐",
        "春节快乐",
        "中秋快乐",
        "国庆快乐",
        "生日快乐",
        "明白",
        "明白了",
        "了解",
        "知道了",
        "晓得了",
        "懂了",
        "已阅",
        "已读",
        "已收到",
        "收到谢谢",
        "好的谢谢",
        "好的收到",
        "谢谢领导",
        "感谢领导",
        "欢迎",
        "欢迎欢迎",
        "欢迎新朋友",
        "欢迎加入",
        "拜拜",
        "再见",
        "回头聊",
        "吃了吗",
        "吃了没",
        "加油",
        "加油加油",
        "同意",
        "支持",
        "顶",
        "赞同",
        "+1",
        "1",
    ]
)
_SOFT_WORDS = (
    "哈",
    "呵",
    "嘿",
    "嘻",
    "早",
    "好",
    "谢",
    "收到",
    "辛苦",
    "晚安",
    "快乐",
    "加油",
    "欢迎",
    "点赞",
    "赞",
    "棒",
    "嗯",
    "哦",
    "了解",
    "明白",
)
_ACTION_CUES = re.compile(
    r"请问|吗|么|\?|怎么|如何|咋|啥|什么|哪|几|多少|能否|是否|可否|有没有|能不能|可不可以|会不会|"
    r"建议|希望|呼吁|应该|投诉|举报|反映|求助|帮帮|帮忙|问题|不能|没有|坏|漏|停|堵|吵|噪|臭|脏|乱|"
    r"拖欠|收费|罚|扰民|违|危险|隐患|何时|为什么|办理|申请|咨询|想问|请教"
)


_NOT_LETTER = re.compile(r"[\W_]+")
"""What is neither a letter nor a digit: ``\\w`` is ``str.isalnum`` (Unicode categories L and N)
plus ``_``."""


def _letters(text: str) -> str:
    """Only the letters and digits of ``text`` (emoji, punctuation and spaces removed)."""
    return _NOT_LETTER.sub("", text)


MAX_SHORT = 10
"""A message of more letters than this is not small talk by these rules (0.0)."""
_LONG = re.compile(rf"(?:[\W_]*+[^\W_]){{{max(MAX_SHORT, *map(len, _PHRASES)) + 1}}}")
"""Matches at the start of a text with more letters than ``MAX_SHORT`` or any stock phrase has: such a
text scores 0.0 whatever it says, and the match stops there, where removing every other character
(``_letters``) went through the whole text."""


def chatter_score(normalised: str) -> float:
    """How sure we are (0..1) that already-normalised ``normalised`` is small talk.

    1.0 for empty/emoji-only messages and stock phrases (收到, 好的, 谢谢, 哈哈 …); high for very short messages
    made of soft words; 0.0 as soon as the text carries a question, request or problem cue.
    """
    if _LONG.match(normalised):
        return 0.0
    core = _letters(normalised)
    if not core:
        return 1.0
    if core in _PHRASES:
        return 1.0
    if _ACTION_CUES.search(normalised):
        return 0.0
    n = len(core)
    if n > MAX_SHORT:
        return 0.0
    soft = sum(len(w) * core.count(w) for w in _SOFT_WORDS)
    if n <= 4:
        return 0.9 if soft else 0.6
    return 0.8 if soft >= n / 3 else 0.35
