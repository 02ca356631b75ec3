"""Parse what people type into a command: slash form (``/status Q12``) or Chinese (``@政务助手 进度 Q12``).

The parser is pure: it takes the text and the names that address the bot and returns a ``Command`` or
``None`` (plain talk). Handlers match on ``Command.name``, which is always the English canonical name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command: its canonical name, the words that mean it, and how help and menus show it.

    This table is the one place command words live: the parser, ``/help`` (per role, from the routes
    that answer each command) and the Telegram command menu are all made from it.
    """

    name: str
    words: tuple[str, ...]
    usage: str = ""
    """The help line (empty: not listed)."""
    menu: str = ""
    """The command menu's description (empty: not in the menu)."""


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("help", ("帮助", "help", "菜单", "幫助"), menu="使用说明"),
    CommandSpec("start", ()),
    CommandSpec(
        "status",
        (
            "进度",
            "查询",
            "状态",
            "進度",
            "查詢",
            "狀態",
            "查进度",
            "查進度",
            "我的问题",
            "我的問題",
        ),
        usage="查询进度：「@{name} 进度 Q12」或 /status Q12",
        menu="查询问题进度，例如 /status Q12",
    ),
    CommandSpec(
        "rate", ("评价", "評價"), usage="评价答复：点按钮，或回复「满意 / 基本满意 / 不满意」"
    ),
    CommandSpec(
        "suggest",
        ("推荐", "模板", "推薦"),
        usage="/suggest Q12（推荐）— 获取推荐答复",
        menu="查看问题的推荐答复模板",
    ),
    CommandSpec(
        "reply",
        ("回复", "答复", "回覆", "答覆", "回復"),
        usage="/reply Q12 2（回复）— 发布第2条推荐；/reply Q12 答复内容 — 自行答复；私聊中直接回复数字也可\n"
        "· 在群里「回复」居民的提问消息，也算作答复",
        menu="答复问题，例如 /reply Q12 答复内容",
    ),
    CommandSpec(
        "transfer",
        ("转办", "转交", "轉辦", "轉交"),
        usage="/transfer Q12 部门（转办）— 转交其他部门",
        menu="转办问题到其他部门",
    ),
    CommandSpec(
        "ticket",
        ("立案", "工单", "工單"),
        usage="/ticket（立案）— 回复一条居民消息，将其登记为问题",
    ),
    CommandSpec(
        "speak",
        ("发声", "公告", "通知", "發聲"),
        usage="/speak 内容（发声）— 私聊中发到您负责的所有群，群里发到本群；/speak 全部 内容 — 发到所有群；"
        "/speak #群名 内容 — 发到指定群",
        menu="在分管群发声（发布通知）",
    ),
    CommandSpec(
        "digest",
        ("潜水", "摘要", "动态", "潛水", "動態", "lurk"),
        usage="/digest（潜水）— 查看负责群的最新动态",
        menu="潜水：查看分管群的最新动态",
    ),
    CommandSpec(
        "bind",
        ("绑定", "綁定"),
        usage="/bind 绑定码（绑定）— 绑定本平台账号",
        menu="用邀请码绑定工作人员身份",
    ),
    CommandSpec(
        "summary",
        ("统计", "汇总", "報表", "统计报表", "統計", "匯總", "report"),
        usage="/summary today|7d|30d（统计）— 履职统计：响应率、解决率、满意率、首次响应时间、超时问题",
        menu="统计报表，例如 /summary today",
    ),
    CommandSpec(
        "unmask",
        ("原文", "查看原文"),
        usage="/unmask Q12（原文）— 私聊查看一条问题的未遮盖原文（会记入审计日志）",
        menu="查看一条问题的原文（记入审计）",
    ),
)
COMMANDS += (
    CommandSpec(
        "history",
        ("记录", "办理记录", "历史", "記錄", "歷史"),
        usage="/history Q12（办理记录）— 查看问题的每一步：时间、经办人、说明",
        menu="查看问题的办理记录",
    ),
    CommandSpec(
        "extend",
        ("延期", "申请延期"),
        usage="/extend Q12 3d 原因（延期）— 申请延长办理期限，督查人员批准后生效",
        menu="申请延期，例如 /extend Q12 3d 原因",
    ),
    CommandSpec(
        "approve",
        ("批准", "审批"),
        usage="/approve Q12（批准）— 批准延期；/approve Q12 驳回 原因 — 驳回；/approve — 待批列表",
        menu="审批延期申请",
    ),
    CommandSpec(
        "return",
        ("退回", "退單", "退单"),
        usage="/return Q12 原因（退回）— 转办来的问题不属本部门时，在2个工作日内退回",
        menu="退回误转的问题",
    ),
    CommandSpec(
        "visit",
        ("走访", "回访"),
        usage="/visit Q12 内容（走访）— 记录线下走访或电话；/visit Q12 满意 说明 — 登记回访评价",
        menu="记录走访、回访结果",
    ),
    CommandSpec(
        "case",
        ("登记", "線下登記"),
        usage="/case 内容（登记）— 把线下收集的诉求（走访、来电、来信）登记为问题",
        menu="登记线下收集的诉求",
    ),
    CommandSpec(
        "close",
        ("关闭", "關閉"),
        usage="/close Q12 原因（关闭）— 关闭问题并说明原因",
        menu="关闭问题",
    ),
)
# Public opinion (issue 17): 同问 and the suggestions registry.
COMMANDS += (
    CommandSpec(
        "link",
        ("并案", "並案", "关联", "關聯"),
        usage="/link Q12 Q15（并案）— 同问：将 Q15 并入 Q12 一并办理，答复 Q12 时同时答复 Q15 的居民",
    ),
    CommandSpec(
        "unlink",
        ("取消并案", "取消並案", "取消关联", "取消關聯"),
        usage="/unlink Q15（取消关联）— Q15 重新单独办理",
    ),
    CommandSpec(
        "adopt",
        ("采纳", "採納"),
        usage="/adopt（采纳）— 在群里回复居民的建议，登记为好想法好建议",
    ),
    CommandSpec(
        "suggestion",
        ("建议进展", "建議進展"),
        usage="/suggestion S3 研究中 备注（建议进展）— 更新建议状态：已收到、研究中、已采纳、部分采纳、暂不采纳",
    ),
    CommandSpec(
        "suggestions",
        ("建议台账", "好想法", "建議台賬"),
        usage="/suggestions（建议台账）— 好想法好建议：登记的居民建议及办理状态",
        menu="好想法好建议台账",
    ),
)
# Scheduled work (issue 17): announcements at a time, broadcasts, the asker's jobs.
COMMANDS += (
    CommandSpec(
        "schedule",
        ("定时", "定时任务", "定時", "定時任務"),
        usage="/speak 明天 9点 内容 — 定时公告；/schedule（定时）— 查看您待发的定时任务",
        menu="查看待发的定时公告",
    ),
    CommandSpec(
        "cancel",
        ("取消", "取消定时", "取消定時"),
        usage="/cancel J3（取消）— 取消一个待发的定时任务",
    ),
    CommandSpec(
        "broadcast",
        ("群发", "群發"),
        usage="/broadcast 内容（群发）— 发到辖区内所有群；/broadcast 12月5日 09:00 内容 — 定时群发",
        menu="向辖区内所有群群发通知",
    ),
)
COMMAND_SPECS: dict[str, CommandSpec] = {spec.name: spec for spec in COMMANDS}
COMMAND_WORDS: dict[str, tuple[str, ...]] = {spec.name: spec.words for spec in COMMANDS}
"""Canonical name → words that mean it. Slash forms are the canonical name itself plus these words."""

RATING_WORDS: dict[str, str] = {
    "满意": "satisfied",
    "非常满意": "satisfied",
    "滿意": "satisfied",
    "基本满意": "basically_satisfied",
    "基本滿意": "basically_satisfied",
    "一般": "basically_satisfied",
    "不满意": "unsatisfied",
    "不滿意": "unsatisfied",
}
"""Rating words residents type (Simplified and Traditional) → the stored score."""

QUESTION_NUMBER = re.compile(r"^[#＃]?[QqＱｑ](\d{1,9})$")
TICKET_LIKE = re.compile(r"^[#＃]?[QqＱｑ]\d*$")
"""A word meant as a ticket number, well formed or not (``Q``, ``Q999999999999999999999``)."""

_WORD_TO_NAME = {word.lower(): name for name, words in COMMAND_WORDS.items() for word in words}
_SLASH = re.compile(r"^[/／]([A-Za-z_]+)(?:@(\S+))?(?:\s+(.*))?$", re.S)


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed command: canonical ``name`` and the words after it."""

    name: str
    args: tuple[str, ...]
    rest: str
    """Everything after the command word, white space kept (free-text answers, announcements)."""


def strip_mention(text: str, names: Iterable[str]) -> tuple[str, bool]:
    """Remove a leading or embedded ``@name`` addressed to the bot; return (text, was_mentioned)."""
    mentioned = False
    out = text
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        for prefix in ("@", "＠"):
            token = prefix + name
            if token in out:
                mentioned = True
                out = out.replace(token, " ")
    return " ".join(out.split()), mentioned


def parse_question_number(word: str) -> int | None:
    """``Q12``, ``q12``, ``#Q12`` or ``12`` → 12; anything else → None."""
    word = word.strip()
    match = QUESTION_NUMBER.match(word)
    if match:
        return int(match.group(1))
    if word.isdigit() and len(word) < 10:
        return int(word)
    return None


def looks_like_ticket(word: str) -> bool:
    """True for a word meant as a ticket number, even a mistyped one (``Q``, ``Q`` + 20 digits)."""
    return bool(TICKET_LIKE.match(word.strip()))


def is_status_request(text: str) -> bool:
    """「进度 Q12」 (or 「进度Q12」) typed in a group without an @-mention: the acknowledgement tells
    residents to send exactly this, so it is a command all the same."""
    command = parse_command(text)
    return (
        command is not None
        and command.name == "status"
        and len(command.args) == 1
        and parse_question_number(command.args[0]) is not None
        and not text.lstrip().startswith(("/", "／"))
    )


def parse_rating(text: str) -> str | None:
    """A rating word (满意 / 基本满意 / 不满意, also Traditional) → its stored score.

    The word may stand alone or open the message followed by punctuation and a comment
    (「不满意，还是老样子」); 「满意度调查」 is not a rating.
    """
    cleaned = text.strip().strip("。.!！~～ ")
    if cleaned in RATING_WORDS:
        return RATING_WORDS[cleaned]
    for word in sorted(RATING_WORDS, key=len, reverse=True):
        if cleaned.startswith(word) and cleaned[len(word)] in _RATING_BREAKS:
            return RATING_WORDS[word]
    return None


_RATING_BREAKS = frozenset("，,。.!！ ~～;；、")


def parse_command(text: str, bot_username: str | None = None) -> Command | None:
    """Parse ``text`` (with any @-mention of the bot already stripped) into a command.

    Slash commands addressed to another bot (``/status@other_bot``) are not ours and give ``None``.
    Chinese commands must be the first word.
    """
    text = text.strip()
    if not text:
        return None
    slash = _SLASH.match(text)
    if slash:
        word, target, rest = slash.group(1).lower(), slash.group(2), slash.group(3) or ""
        if target and bot_username and target.lower() != bot_username.lower():
            return None
        name = word if word in COMMAND_WORDS else _WORD_TO_NAME.get(word)
        if name is None:
            return Command(name="unknown", args=(word,), rest=rest.strip())
        return Command(name=name, args=tuple(rest.split()), rest=rest.strip())
    first, _, rest = text.partition(" ")
    name = _WORD_TO_NAME.get(first.lower())
    if name is None:
        # "进度Q12" written without a space is common in chat.
        lowered = text.lower()
        for word, candidate in _WORD_TO_NAME.items():
            if not lowered.startswith(word):
                continue
            tail = text[len(word) :]
            if QUESTION_NUMBER.match(tail.split(" ")[0] or "-"):
                name, rest = candidate, tail
                break
        else:
            return None
    return Command(name=name, args=tuple(rest.split()), rest=rest.strip())
