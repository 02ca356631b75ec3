"""Scheduled work as transcripts: timestamped console lines drive the clock, so an announcement
scheduled with ``/speak 明天 9点 …`` is confirmed with the time as read, fires once at its time (not
before) even across a restart, can be cancelled by its author (or an admin) only; supervisors broadcast
to their jurisdiction; the daily digest and the weekly brief arrive privately at bot.toml's times,
once; and two workers racing on the same due jobs fire each once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from dialogue_support import CONSOLE_ROSTER, Dialogue, Transcript

pytestmark = pytest.mark.asyncio
NOTICE = "明天上午9点起3号楼停水，请提前储水"

# The transcripts' roster, and a supervisor overseeing no group.
ROSTER = [*CONSOLE_ROSTER, {"name": "周八", "role": "supervisor", "identities": ["console:周八"]}]


@pytest.fixture
def transcript(db_url: str) -> Any:
    built = Transcript(db_url, ROSTER)
    yield built
    built.app.close()


def to(posted: list[Any], chat_id: str) -> list[str]:
    return [p.text for p in posted if p.chat_id == chat_id]


def announcements(posted: list[Any], chat_id: str) -> list[str]:
    return [t for t in to(posted, chat_id) if t.startswith("【公告】")]


async def test_a_scheduled_announcement_fires_once_at_its_time_across_a_restart(db_url):
    first = Transcript(db_url, ROSTER)
    try:
        posted = await first.feed(f"[2026-11-16 09:00] ~张伟: /speak 明天 9点 {NOTICE}")
        [confirmation] = to(posted, "张伟")
        assert "J1" in confirmation and "2026年11月17日（周二）09:00" in confirmation
        assert "幸福里小区" in confirmation and NOTICE in confirmation
        assert "/cancel J1" in confirmation and "取消 J1" in confirmation
        assert announcements(posted, "幸福里小区") == []  # not now
        [listed] = to(await first.feed("[2026-11-16 09:05] ~张伟: 定时"), "张伟")
        assert "J1" in listed and "11月17日" in listed
        # A minute before its time: still nothing.
        posted = await first.feed("[2026-11-17 08:59] 王阿姨: 早上好")
        assert announcements(posted, "幸福里小区") == []
    finally:
        first.app.close()
    again = Transcript(db_url, ROSTER)  # a restart: a new process on the same database
    try:
        posted = await again.feed("[2026-11-17 09:30] 王阿姨: 停水了吗")
        assert announcements(posted, "幸福里小区") == [
            f"【公告】{NOTICE}\n——张伟（住房和城乡建设局）"
        ]
        # Before the line that moved the clock past it, and reported to its author.
        assert posted[0].chat_id == "幸福里小区"
        assert any("已发布到 1 个群：幸福里小区" in t for t in to(posted, "张伟"))
        posted = await again.feed("[2026-11-18 09:30] 王阿姨: 谢谢通知")
        assert announcements(posted, "幸福里小区") == []  # once
        assert again.app.store.pending_jobs() == []
        [listed] = to(await again.feed("[2026-11-18 09:31] ~张伟: /schedule"), "张伟")
        assert "没有待发的定时任务" in listed
    finally:
        again.app.close()


async def test_a_cancelled_job_never_fires_and_only_its_author_or_an_admin_may_cancel(transcript):
    await transcript.feed(
        f"[2026-11-16 09:00] ~张伟: /speak 12月5日 09:00 {NOTICE}\n"
        "[2026-11-16 09:01] ~张伟: /speak 2026-12-06 10:00 周日上午消防演练"
    )
    posted = await transcript.feed("[2026-11-16 09:02] ~李娜: 取消 J1")
    assert "不是您安排的" in to(posted, "李娜")[0]
    posted = await transcript.feed("[2026-11-16 09:03] ~陈静: /cancel J1")  # a supervisor neither
    assert "不是您安排的" in to(posted, "陈静")[0]
    posted = await transcript.feed("[2026-11-16 09:04] ~张伟: 取消 J1")
    assert "已取消定时公告 J1" in to(posted, "张伟")[0]
    posted = await transcript.feed("[2026-11-16 09:05] ~赵局: /cancel J2")  # an admin may
    assert "已取消定时公告 J2" in to(posted, "赵局")[0]
    posted = await transcript.feed("[2026-11-16 09:06] ~张伟: /cancel J1")
    assert "J1 已取消，无法取消" in to(posted, "张伟")[0]
    assert "没有找到定时任务 J9" in to(await transcript.feed("~张伟: /cancel J9"), "张伟")[0]
    posted = await transcript.feed("[2026-12-08 09:00] 王阿姨: 怎么没通知")
    assert announcements(posted, "幸福里小区") == []


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("/speak 今天 8点 开会", "2026年11月16日（周一）08:00 已经过去了"),
        ("/speak 2026-12-05 停水", "请在日期后写明几点"),
        ("/speak 12月32日 09:00 停水", "没有这一天：12月32日"),
        ("/speak 明天 25:00 停水", "没有这个时间"),
        ("/speak 明天 9点", "请在时间后写明发布内容"),
    ],
)
async def test_an_unusable_time_is_explained_and_nothing_is_scheduled(transcript, typed, why):
    posted = await transcript.feed(f"[2026-11-16 09:00] 张伟: {typed}")
    # Typed in the group: the answer comes privately, and the group sees nothing.
    assert to(posted, "幸福里小区") == []
    [answer] = to(posted, "张伟")
    assert why in answer
    assert transcript.app.store.pending_jobs() == []


async def test_an_official_schedules_only_for_their_own_groups(transcript):
    posted = await transcript.feed("[2026-11-16 09:00] ~张伟: /speak #阳光花园 明天 9点 停水")
    assert "您负责的群里没有「阳光花园」" in to(posted, "张伟")[0]
    posted = await transcript.feed("[2026-11-16 09:01] ~张伟: /broadcast 明天 9点 停水")
    assert "抱歉" in to(posted, "张伟")[0]  # the role refusal: supervisors broadcast
    assert transcript.app.store.pending_jobs() == []
    # Typed in a group, it is that group's announcement, confirmed privately.
    posted = await transcript.feed("[2026-11-16 09:02] 张伟: /speak 明天 10:00 电梯检修")
    assert to(posted, "幸福里小区") == [] and "发布到 幸福里小区。" in to(posted, "张伟")[0]


async def test_a_supervisor_broadcasts_to_the_groups_of_her_jurisdiction(transcript):
    posted = await transcript.feed("[2026-11-16 09:00] ~陈静: 群发 明天 10:00 周六上午社区义诊")
    [confirmation] = to(posted, "陈静")
    assert "已安排定时群发 J1" in confirmation and "幸福里小区、阳光花园" in confirmation
    posted = await transcript.feed("[2026-11-17 10:01] 王阿姨: 好的")
    expected = ["【公告】周六上午社区义诊\n——陈静"]
    assert announcements(posted, "幸福里小区") == announcements(posted, "阳光花园") == expected
    assert any("已发布到 2 个群" in t for t in to(posted, "陈静"))
    # Now, to her jurisdiction only: 周八 oversees no group.
    posted = await transcript.feed("[2026-11-17 10:05] ~周八: /broadcast 今晚停电")
    assert "辖区里还没有群" in to(posted, "周八")[0] and announcements(posted, "幸福里小区") == []
    posted = await transcript.feed("[2026-11-17 10:06] ~陈静: /broadcast 今晚8点停电检修")
    assert len(announcements(posted, "幸福里小区")) == len(announcements(posted, "阳光花园")) == 1


async def test_the_daily_digest_and_the_weekly_brief_arrive_privately_at_their_time_once(db_url):
    transcript = Transcript(
        db_url, ROSTER, schedule={"digest": "每天 18:00", "brief": "周一 09:00"}
    )
    try:
        await transcript.feed(
            "[2026-11-16 10:00] 王阿姨: @政务助手 3号楼电梯坏了什么时候修？\n"
            "[2026-11-16 10:05] #阳光花园 刘先生: @政务助手 小区门口公交站台什么时候修好？"
        )
        posted = await transcript.feed("[2026-11-16 17:59] 王阿姨: 有人吗")
        assert not any("潜水摘要" in p.text for p in posted)
        posted = await transcript.feed("[2026-11-16 18:30] 王阿姨: 谢谢")
        digests = {p.chat_id: p.text for p in posted if "潜水摘要" in p.text}
        assert set(digests) == {"张伟", "李娜"}  # officials; supervisors get the brief
        assert "Q1" in digests["张伟"] and "Q2" in digests["李娜"] and "Q2" not in digests["张伟"]
        assert all(p.message.is_private for p in posted if "潜水摘要" in p.text)
        posted = await transcript.feed("[2026-11-18 18:30] 王阿姨: 又一天")
        assert [p.chat_id for p in posted if "潜水摘要" in p.text] == ["张伟", "李娜"] * 2
        assert not any("网情动态" in p.text for p in posted)
        posted = await transcript.feed("[2026-11-23 09:30] 王阿姨: 新的一周")
        briefs = {p.chat_id: p.text for p in posted if p.text.startswith("【网情动态】")}
        assert set(briefs) == {"陈静", "周八", "赵局"}
        assert "2026年第47周（11月16日—11月22日）" in briefs["赵局"]
        assert "居民提问 2 个" in briefs["赵局"] and "居民提问 2 个" in briefs["陈静"]
        assert "居民提问 0 个" in briefs["周八"]  # nothing in his jurisdiction
        posted = await transcript.feed("[2026-11-23 12:00] 王阿姨: 中午好")
        assert not any("网情动态" in p.text for p in posted)  # once
    finally:
        transcript.app.close()


async def test_a_recurring_job_turned_off_in_bot_toml_is_not_sent_after_a_restart(db_url):
    first = Transcript(db_url, ROSTER, schedule={"digest": "每天 18:00"})
    try:
        await first.feed("[2026-11-16 10:00] 王阿姨: 早上好")  # plans today's 18:00
    finally:
        first.app.close()
    again = Transcript(db_url, ROSTER)  # restarted without [schedule] digest
    try:
        posted = await again.feed("[2026-11-17 10:00] 王阿姨: 早")
        assert not any("潜水摘要" in p.text for p in posted)
    finally:
        again.app.close()


# ---------------------------------------------------------------- two workers


async def test_two_workers_racing_on_the_same_due_jobs_fire_each_once(app_factory, db_url, clock):
    """Two apps on one database (two processes' worth of connections and database threads), their
    schedulers started together on 20 due jobs: each job fires once, in one worker."""
    from handlers.scheduler import Scheduler
    from storage import JobKind

    first = Dialogue(app_factory(db_url), clock)
    second = Dialogue(app_factory(db_url), clock)
    store = first.app.store
    zhang = store.official_for_identity("test", "zhangwei")
    due = clock.now + timedelta(hours=1)
    for n in range(20):
        store.schedule_job(
            JobKind.ANNOUNCE,
            official_id=zhang.id,
            platform="test",
            targets=[("test", "xingfuli", "幸福里小区")],
            text=f"通知{n}",
            due_at=due,
            at=clock.now,
        )
    clock.now = due + timedelta(minutes=1)
    fired = await asyncio.gather(
        Scheduler(first.app.dispatcher).run_once(), Scheduler(second.app.dispatcher).run_once()
    )
    numbers = [job.id for worker in fired for job in worker]
    assert sorted(numbers) == sorted(set(numbers)) and len(numbers) == 20
    posted = [t for d in (first, second) for t in announcements(d.bot.outbox, "xingfuli")]
    assert sorted(posted) == sorted(
        f"【公告】通知{n}\n——张伟（住房和城乡建设局）" for n in range(20)
    )
    assert store.next_job_at(clock.now - timedelta(days=1)) is None  # none left pending


async def test_a_group_taken_from_the_official_before_the_time_is_not_posted_to(transcript):
    await transcript.feed(f"[2026-11-16 09:00] ~张伟: /speak 明天 9点 {NOTICE}")
    zhang = transcript.app.store.official_for_identity("console", "张伟")
    transcript.app.store.unassign(zhang.id, "console", "幸福里小区")  # moved to other work
    posted = await transcript.feed("[2026-11-17 09:30] 王阿姨: 停水了吗")
    assert announcements(posted, "幸福里小区") == []
    assert any("J1 未发往 幸福里小区：您已不再负责这些群" in t for t in to(posted, "张伟"))


async def test_an_official_whose_groups_were_silent_gets_no_daily_digest(db_url):
    transcript = Transcript(db_url, ROSTER, schedule={"digest": "每天 18:00"})
    try:
        await transcript.feed("[2026-11-16 10:00] 王阿姨: 早上好，今天天气不错")  # 幸福里小区 only
        posted = await transcript.feed("[2026-11-16 18:30] 王阿姨: 晚上好")
        # 张伟's group spoke; 李娜's 阳光花园 was silent and nothing waits on her.
        assert [p.chat_id for p in posted if "潜水摘要" in p.text] == ["张伟"]
    finally:
        transcript.app.close()
