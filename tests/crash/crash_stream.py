"""Seeded streams of what residents and officials say, for the crash suite.

``build_stream`` makes Telegram updates for 40 supergroups: ordinary chatter, residents' @-mention
questions, officials answering by replying on the platform to the question message, and the asker
rating the answer with an unquoted 满意 / 基本满意 / 不满意. In each group the order is kept (question →
answer → rating); the groups are interleaved at random. ``console_script`` makes the same kind of
conversation as console lines, each line's text unique so that it can be found in the store.

Every question text is one the default intent model does not take for chatter (so it opens a ticket;
``test_stream_questions_open_tickets`` checks it).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from crash_harness import BOT_NAME, BOT_USERNAME, DEPARTMENTS, RosterEntry
from fake_bot_api import FakeBotApi, supergroup, user

JSON = dict[str, Any]

QUESTIONS = (
    "{n}号楼电梯坏了什么时候修？",
    "{n}号楼电梯又坏了，什么时候能修好？",
    "{n}号楼楼下的垃圾好几天没人清运了，什么时候处理？",
    "{n}号楼前面的路面塌了一块，什么时候修补？",
    "请问{n}号楼下周停水吗？什么时候恢复供水？",
    "{n}号楼地下车库停车位怎么申请？",
    "请问{n}号楼的燃气管道什么时候检修？",
    "{n}号楼楼道漏水，物业不管怎么办？",
)
"""Question texts (``{n}`` a building number); the model labels them question or complaint."""

CHATTER = (
    "今天天气不错",
    "晚上一起去跳广场舞吗",
    "收到，谢谢大家",
    "楼下超市今天鸡蛋打折",
    "好的",
    "哈哈哈",
    "明天早上菜市场见",
    "大家周末愉快",
    "有人看到我家的猫了吗",
    "谢谢物业的师傅",
    "今天的快递到了",
    "孩子们放学注意安全",
    "晚饭吃了吗",
    "👍",
)
"""Group talk not addressed to the bot (none of it is a rating word or a bare digit)."""

ANSWERS = (
    "您好，已安排维修人员今天下午到场处理，请留意。",
    "已转物业跟进，明天上午前给您答复。",
    "收到，已联系相关单位，本周内处理完毕。",
    "您反映的情况已登记，施工队明天进场。",
)
"""What officials reply, on the platform, to a resident's question message."""

RATINGS = (("满意", "satisfied"), ("基本满意", "basically_satisfied"), ("不满意", "unsatisfied"))
RATING_WEIGHTS = (6, 3, 2)

OFFICIAL_NAMES = ("张伟", "李娜", "王强", "刘洋", "杨帆", "赵敏", "黄磊", "周涛", "吴芳", "徐杰")
SUPERVISOR = "陈静"


# --------------------------------------------------------------------------- the roster


@dataclass
class Roster:
    """Groups, the officials who answer for them (one per group) and a supervisor."""

    groups: list[JSON]
    """Supergroup ``Chat`` objects."""
    officials: list[JSON]
    """Telegram ``User`` objects, in the order of ``OFFICIAL_NAMES``."""
    official_of: dict[int, JSON]
    """Group id → its official."""
    entries: list[RosterEntry]
    """The roster as bot.toml has it."""


def telegram_roster(groups: int = 40, per_official: int = 4) -> Roster:
    """``groups`` supergroups, each answered by one of ``groups / per_official`` officials."""
    departments = list(DEPARTMENTS)
    chats = [supergroup(-1002000000000 - i, f"第{i}社区居民群") for i in range(1, groups + 1)]
    count = -(-groups // per_official)
    names = [OFFICIAL_NAMES[i] if i < len(OFFICIAL_NAMES) else f"官员{i}" for i in range(count)]
    officials = [user(5_200_000_000 + i, name) for i, name in enumerate(names)]
    official_of: dict[int, JSON] = {}
    entries = []
    for i, official in enumerate(officials):
        mine = chats[i * per_official : (i + 1) * per_official]
        for chat in mine:
            official_of[chat["id"]] = official
        entries.append(
            RosterEntry(
                name=official["first_name"],
                department=departments[i % len(departments)],
                identities=(f"telegram:{official['id']}",),
                groups=tuple(f"telegram:{c['id']}" for c in mine),
            )
        )
    supervisor = user(5_209_999_999, SUPERVISOR)
    entries.append(
        RosterEntry(SUPERVISOR, role="supervisor", identities=(f"telegram:{supervisor['id']}",))
    )
    return Roster(chats, officials, official_of, entries)


# --------------------------------------------------------------------------- Telegram stream


@dataclass
class QuestionThread:
    """One question, its answer and its rating, in one group."""

    chat_id: int
    asker_id: int
    official_id: int
    question_text: str
    """As the store keeps it (the @-mention removed)."""
    score: str
    question_mid: int = 0
    answer_mid: int = 0
    rating_mid: int = 0


@dataclass
class Stream:
    """Updates in the order they are to be injected, and what they should lead to."""

    updates: list[JSON] = field(default_factory=list)
    group_messages: list[tuple[int, int]] = field(default_factory=list)
    """(chat id, message id) of every group message: each must be stored exactly once."""
    threads: list[QuestionThread] = field(default_factory=list)

    def bursts(self, rng: random.Random, low: int, high: int) -> list[list[JSON]]:
        """The updates cut into consecutive bursts of ``low``-``high`` updates."""
        out, index = [], 0
        while index < len(self.updates):
            size = rng.randint(low, high)
            out.append(self.updates[index : index + size])
            index += size
        return out


def _group_plan(rng: random.Random, chatter: int, threads: Sequence[int]) -> list[tuple[str, int]]:
    """One group's steps: ``chatter`` times ("c", 0) and for each thread index t ("q", t) before
    ("a", t) before ("r", t), at random places."""
    steps: list[tuple[str, int]] = [("c", 0)] * chatter
    for t in threads:
        i = rng.randint(0, len(steps))
        steps.insert(i, ("q", t))
        j = rng.randint(i + 1, len(steps))
        steps.insert(j, ("a", t))
        k = rng.randint(j + 1, len(steps))
        steps.insert(k, ("r", t))
    return steps


def build_stream(
    api: FakeBotApi,
    roster: Roster,
    rng: random.Random,
    *,
    updates: int,
    threads: int,
    first_building: int = 1,
) -> Stream:
    """About ``updates`` group updates with ``threads`` question threads spread over the groups.

    Builds the messages with ``api.text_message`` (so the fake knows them and assigns message ids):
    call it on the fake's loop thread (``ThreadedFakeApi.call``).
    """
    groups = roster.groups
    per_group = [
        threads // len(groups) + (1 if i < threads % len(groups) else 0) for i in range(len(groups))
    ]
    chatter_total = max(0, updates - 3 * threads)
    chatter_of = [0] * len(groups)
    for _ in range(chatter_total):
        chatter_of[rng.randrange(len(groups))] += 1
    plans: list[list[tuple[str, int]]] = []
    plan_threads: list[QuestionThread] = []
    for g, chat in enumerate(groups):
        official = roster.official_of[chat["id"]]
        mine = []
        for _ in range(per_group[g]):
            t = len(plan_threads)
            building = first_building + t
            template = QUESTIONS[t % len(QUESTIONS)]
            score = rng.choices([s for _, s in RATINGS], weights=RATING_WEIGHTS)[0]
            plan_threads.append(
                QuestionThread(
                    chat_id=chat["id"],
                    asker_id=5_400_000_000 + first_building + t,
                    official_id=official["id"],
                    question_text=template.format(n=building),
                    score=score,
                )
            )
            mine.append(t)
        plans.append(_group_plan(rng, chatter_of[g], mine))
    residents = {
        chat["id"]: [user(5_300_000_000 + g * 100 + k, f"居民{g}-{k}") for k in range(12)]
        for g, chat in enumerate(groups)
    }
    askers = {
        t: user(th.asker_id, f"提问人{th.asker_id % 100000}") for t, th in enumerate(plan_threads)
    }
    words = {score: word for word, score in RATINGS}

    stream = Stream(threads=plan_threads)
    questions: dict[int, JSON] = {}
    cursors = [0] * len(groups)
    remaining = [len(p) for p in plans]
    while any(remaining):
        g = rng.choices(range(len(groups)), weights=remaining)[0]
        kind, t = plans[g][cursors[g]]
        cursors[g] += 1
        remaining[g] -= 1
        chat = groups[g]
        official = roster.official_of[chat["id"]]
        if kind == "c":
            sender = official if rng.random() < 0.08 else rng.choice(residents[chat["id"]])
            message = api.text_message(chat, sender, rng.choice(CHATTER))
        elif kind == "q":
            th = plan_threads[t]
            message = api.text_message(
                chat,
                askers[t],
                f"@{BOT_USERNAME} {th.question_text}",
                mention=f"@{BOT_USERNAME}",
            )
            questions[t] = message
            th.question_mid = message["message_id"]
        elif kind == "a":
            message = api.text_message(chat, official, rng.choice(ANSWERS), reply_to=questions[t])
            plan_threads[t].answer_mid = message["message_id"]
        else:
            th = plan_threads[t]
            message = api.text_message(chat, askers[t], words[th.score])
            th.rating_mid = message["message_id"]
        stream.updates.append({"message": message})
        stream.group_messages.append((chat["id"], message["message_id"]))
    return stream


# --------------------------------------------------------------------------- console


CONSOLE_GROUPS = ("幸福里小区", "阳光花园", "创业路商户群")
"""The console's default group first (``name: text`` speaks there)."""


def console_roster() -> list[RosterEntry]:
    """Officials for the console groups (console identities), and a supervisor."""
    return [
        RosterEntry(
            "张伟", "住房和城乡建设局", identities=("console:张伟",), groups=("console:幸福里小区",)
        ),
        RosterEntry(
            "李娜", "交通运输局", identities=("console:李娜",), groups=("console:阳光花园",)
        ),
        RosterEntry(
            "王强", "生态环境局", identities=("console:王强",), groups=("console:创业路商户群",)
        ),
        RosterEntry(SUPERVISOR, role="supervisor", identities=(f"console:{SUPERVISOR}",)),
    ]


@dataclass(frozen=True)
class ConsoleLine:
    """One console input line and what it is."""

    kind: str
    """``question``, ``chatter`` or ``status``."""
    group: str
    name: str
    text: str
    """The message text as typed (unique within a script)."""
    question_text: str = ""
    """For a question: the text its ticket keeps."""

    def render(self) -> str:
        """The line as the console reads it."""
        prefix = "" if self.group == CONSOLE_GROUPS[0] else f"#{self.group} "
        return f"{prefix}{self.name}: {self.text}"


def console_script(
    rng: random.Random, *, lines: int, tag: str, first_building: int
) -> list[ConsoleLine]:
    """``lines`` console lines: about 40 % questions (each by a new resident), 50 % chatter and 10 %
    ``/status`` from a resident who asked earlier in the same group. ``tag`` and ``first_building``
    keep the texts of two scripts apart."""
    out: list[ConsoleLine] = []
    askers: dict[str, list[str]] = {g: [] for g in CONSOLE_GROUPS}
    building = first_building
    for index in range(lines):
        group = rng.choice(CONSOLE_GROUPS)
        roll = rng.random()
        if roll < 0.1 and askers[group]:
            name = rng.choice(askers[group])
            out.append(ConsoleLine("status", group, name, "/status"))
        elif roll < 0.5:
            name = f"{tag}居民{index}"
            question = QUESTIONS[building % len(QUESTIONS)].format(n=building)
            building += 1
            askers[group].append(name)
            out.append(ConsoleLine("question", group, name, f"@{BOT_NAME} {question}", question))
        else:
            name = f"{tag}邻居{rng.randrange(20)}"
            out.append(
                ConsoleLine("chatter", group, name, f"{rng.choice(CHATTER)}（{tag}{index}）")
            )
    # Status lines repeat "/status": only questions and chatter have unique texts.
    return out
