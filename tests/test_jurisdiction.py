"""Supervisors see and act only within their jurisdiction (the groups listed for them on the roster and
their department's questions); admins see everything."""

from __future__ import annotations

import pytest

from bot.text.hot_topics import hot_phrases
from handlers.overdue import OverdueReminder
from handlers.summary import HOT_PHRASES, hot_topics
from storage import Jurisdiction
from storage.reports import ReportScope

pytestmark = pytest.mark.asyncio

ROSTER = [
    {
        "name": "张伟",
        "department": "住房和城乡建设局",
        "identities": ["test:zhangwei"],
        "groups": ["test:xingfuli", "test:chuangye"],
    },
    {
        "name": "李娜",
        "department": "交通运输局",
        "identities": ["test:lina"],
        "groups": ["test:yangguang"],
    },
    # 陈静 oversees the group 幸福里; 周八 the transport department, wherever it is asked.
    {
        "name": "陈静",
        "role": "supervisor",
        "identities": ["test:chenjing"],
        "groups": ["test:xingfuli"],
    },
    {
        "name": "周八",
        "role": "supervisor",
        "department": "交通运输局",
        "identities": ["test:zhouba"],
    },
    {"name": "吴九", "role": "admin", "identities": ["test:wujiu"]},
    {"name": "郑十", "role": "supervisor", "identities": ["test:zhengshi"]},
]


@pytest.fixture
def town(dialogue):
    chat = dialogue(officials=ROSTER)
    chat.third_group = chat.bot.group("创业路商户群", "chuangye")
    return chat


async def three_questions(chat) -> None:
    """Q1 幸福里 (housing), Q2 阳光花园 (transport), Q3 创业路 (housing)."""
    await chat.ask("3号楼电梯坏了，物业不管")
    await chat.ask("公交站台什么时候恢复？", by=chat.liu, chat=chat.other_group)
    await chat.ask("小区漏水，物业推诿", by=chat.liu, chat=chat.third_group)
    assert [chat.app.store.question(n).department for n in (1, 2, 3)] == [
        "住房和城乡建设局",
        "交通运输局",
        "住房和城乡建设局",
    ]
    chat.clock.advance(minutes=5)  # a period ends before now: the questions fall inside it


async def summary_for(chat, user_id: str) -> str:
    [posted] = await chat.bot.say("/summary 7d", by=chat.bot.person(user_id, user_id))
    return posted.text


async def test_summary_counts_only_the_supervisors_jurisdiction(town):
    await three_questions(town)
    by_group = await summary_for(town, "chenjing")
    assert "问题 1 个" in by_group
    assert "幸福里小区" in by_group and "阳光花园" not in by_group and "创业路" not in by_group
    assert "张伟" in by_group and "李娜" not in by_group
    by_department = await summary_for(town, "zhouba")
    assert "问题 1 个" in by_department and "交通运输局" in by_department
    assert "住房和城乡建设局" not in by_department and "李娜" in by_department
    everything = await summary_for(town, "wujiu")
    assert "问题 3 个" in everything
    assert all(g in everything for g in ("幸福里小区", "阳光花园", "创业路商户群"))
    nothing = await summary_for(
        town, "zhengshi"
    )  # a supervisor given neither groups nor department
    assert "问题 0 个" in nothing and "幸福里" not in nothing


async def test_overdue_alerts_reach_only_the_supervisors_whose_jurisdiction_holds_the_question(
    town,
):
    await three_questions(town)
    town.clock.advance(days=10)  # past any working-day deadline
    before = len(town.bot.outbox)
    await OverdueReminder(town.app.dispatcher).run_once()
    sent = town.bot.outbox[before:]

    def alerted(user_id: str) -> list[str]:
        return sorted(
            p.text.split("】")[0].removeprefix("【超时督办 ")
            for p in sent
            if p.chat_id == user_id and p.text.startswith("【超时督办 ")
        )

    assert alerted("chenjing") == ["Q1"]
    assert alerted("zhouba") == ["Q2"]
    assert alerted("wujiu") == ["Q1", "Q2", "Q3"]
    assert alerted("zhengshi") == []


async def test_a_supervisor_acts_only_within_the_jurisdiction(town):
    await three_questions(town)
    outside = await town.bot.say("/reply Q3 已处理", by=town.bot.person("陈静", "chenjing"))
    assert all(p.chat_id == "chenjing" for p in outside)
    assert "不属于您负责" in outside[0].text
    assert town.app.store.question(3).state == "open"
    inside = await town.bot.say("/reply Q1 已处理", by=town.bot.person("陈静", "chenjing"))
    assert any(p.chat_id == "xingfuli" and "已处理" in p.text for p in inside)
    admin = await town.bot.say("/reply Q3 已处理", by=town.bot.person("吴九", "wujiu"))
    assert any(p.chat_id == "chuangye" for p in admin)


async def test_the_store_scopes_a_summary_by_groups_and_department(town):
    await three_questions(town)
    store, now = town.app.store, town.clock.now
    since = now.replace(year=now.year - 1)
    chen = store.official_for_identity("test", "chenjing")
    zhou = store.official_for_identity("test", "zhouba")
    scoped = store.summary(
        since,
        now,
        now,
        ReportScope.of(Jurisdiction(chen.id, chen.department)),
        phrase_support=HOT_PHRASES,
    )
    assert [g.label for g in scoped.groups] == ["幸福里小区"]
    assert scoped.total.questions == 1
    # The hot topics are those of her one question: not 漏水 (创业路) nor 公交站台 (阳光花园).
    assert hot_topics(scoped, k=10) == hot_phrases(["3号楼电梯坏了，物业不管"], k=10)
    assert hot_topics(scoped, k=10) == [("3号楼电梯", 1), ("物业", 1)]
    everything = store.summary(since, now, now, phrase_support=HOT_PHRASES)
    assert dict(hot_topics(everything, k=10)) == {
        "物业": 2,
        "3号楼电梯": 1,
        "公交站台": 1,
        "漏水": 1,
    }
    by_department = store.summary(
        since, now, now, ReportScope.of(Jurisdiction(zhou.id, zhou.department))
    )
    assert [d.label for d in by_department.departments] == ["交通运输局"]
    assert store.summary(since, now, now).total.questions == 3


async def test_public_opinion_figures_and_the_registry_follow_the_jurisdiction(town):
    """/suggestions and the opinion lines under /summary count only what the supervisor oversees:
    a suggestion made in 幸福里 reaches 陈静 (her group) and the admin, not 周八 or 郑十."""
    lockers = "建议小区多装几个快递柜"
    await town.bot.say(lockers, by=town.liu, chat=town.group)  # registered as S1

    async def listed(user_id: str) -> str:
        [posted] = await town.bot.say("/suggestions", by=town.bot.person(user_id, user_id))
        return posted.text

    assert "好想法好建议 1 条" in await listed("chenjing") and lockers in await listed("chenjing")
    assert lockers in await listed("wujiu")
    for elsewhere in ("zhouba", "zhengshi"):
        shown = await listed(elsewhere)
        assert "好想法好建议 0 条" in shown and lockers not in shown
    assert "好想法好建议 1 条" in await summary_for(town, "chenjing")
    assert "好想法好建议 0 条" in await summary_for(town, "zhengshi")


async def test_the_extensions_waiting_are_listed_only_to_who_oversees_them(town):
    await three_questions(town)  # Q1 is 幸福里's, housing
    await town.bot.say("/extend Q1 3d 需要协调物业", by=town.zhang)

    async def waiting(user_id: str) -> str:
        [posted] = await town.bot.say("/approve", by=town.bot.person(user_id, user_id))
        return posted.text

    assert "Q1 延至" in await waiting("chenjing")  # her group
    assert "Q1 延至" in await waiting("wujiu")  # admin
    assert "Q1" not in await waiting("zhouba")  # the transport department's supervisor
