"""A small, fixed world for the web console's tests: two groups, two officials, two supervisors, an
admin, four tickets (answered on time and rated, overdue, answered late, one of last week) with the
conversation around them, all written through the store's own methods."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.text.hot_topics import question_phrases
from bot.web.auth import hash_password
from storage import Store

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=ZONE)
"""A Friday: 本周 is Monday 2026-11-16 to now."""
PASSWORD = "correct-horse-1"
PHONE = "13812345678"
MASKED_PHONE = "138****5678"
HOUSING, TRANSPORT = "住房和城乡建设局", "交通运输局"
XFL, CYL = "幸福里小区", "创业路商户群"
HOSTILE = "<script>alert('x')</script>噪音扰民投诉无门，电话13900001111"
COMPLAINTS = ("物业太差了，垃圾三天没人收", HOSTILE, "电梯又停了，投诉！")
"""Three complaints on Thursday 11-19: a spike."""


@dataclass(frozen=True)
class World:
    """The ids the tests refer to."""

    elevator: int
    parking: int
    bus_stop: int
    last_week: int
    zhang: int
    li: int


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A local time in November 2026."""
    return datetime(2026, 11, day, hour, minute, tzinfo=ZONE)


def build_world(store: Store) -> World:
    """Write the world into ``store`` and give everyone the console password ``PASSWORD``."""
    t0 = at(1, 8)
    zhang = store.add_official("张伟", HOUSING, "official", t0)
    li = store.add_official("李娜", TRANSPORT, "official", t0)
    store.add_official("陈静", "", "supervisor", t0)
    store.add_official("周芳", TRANSPORT, "supervisor", t0)
    store.add_official("管理员", "", "admin", t0)
    store.bind_identity("张伟", "test", "zhangwei", t0)
    store.bind_identity("李娜", "test", "lina", t0)
    store.assign("张伟", "test", "xfl", t0, title=XFL)
    store.assign("李娜", "test", "cyl", t0, title=CYL)
    # 陈静 oversees both groups (a supervisor's jurisdiction: her groups on the roster and her
    # department, which she has none of).
    store.assign("陈静", "test", "xfl", t0, title=XFL)
    store.assign("陈静", "test", "cyl", t0, title=CYL)
    password_hash = hash_password(PASSWORD)
    for name in ("张伟", "李娜", "陈静", "周芳", "管理员"):
        store.set_password_hash(name, password_hash, t0)

    counter = iter(range(1, 1000))

    def say(
        chat: str, who: str, text: str, when: datetime, *, official: bool = False, intent: str = ""
    ) -> str:
        message_id = str(next(counter))
        store.record_message(
            platform="test",
            chat_id=chat,
            chat_title=XFL if chat == "xfl" else CYL,
            is_group=True,
            platform_message_id=message_id,
            sender_id=who,
            sender_name=who,
            text=text,
            sent_at=when,
            intent=intent or ("question" if "@" in text else "chatter"),
            intent_confidence=0.9,
            intent_confident=True,
            from_official=official,
        )
        return message_id

    def ask(chat: str, who: str, text: str, when: datetime, department: str, assignee: int) -> int:
        message_id = say(chat, who, f"@政务助手 {text}", when)
        return store.open_question(
            platform="test",
            chat_id=chat,
            chat_title=XFL if chat == "xfl" else CYL,
            is_group=True,
            platform_message_id=message_id,
            asker_id=who,
            asker_name=who,
            text=text,
            department=department,
            department_confident=True,
            created_at=when,
            due_at=when + timedelta(hours=24),
            assignee_id=assignee,
            phrases=question_phrases(text),
        ).id

    say("xfl", "刘先生", "大家早上好", at(16, 8, 50))
    elevator = ask("xfl", "王阿姨", f"3号楼电梯又坏了，请回电{PHONE}", at(16, 9), HOUSING, zhang.id)
    say("xfl", "孙大爷", "是啊，爬楼太难了", at(16, 9, 5))
    store.answer_question(
        elevator,
        official_id=zhang.id,
        text="已通知物业和维保单位到场检修。",
        at=at(16, 9, 10),
        answer_platform_message_id="a1",
    )
    store.record_rating(
        elevator, platform="test", user_id="王阿姨", score="satisfied", at=at(16, 10)
    )
    store.transition(elevator, "resolved", at=at(16, 10), by=("test", "王阿姨"), note="居民满意")
    parking = ask(
        "xfl", "刘先生", "小区停车位太少了，晚上没地方停", at(17, 10), TRANSPORT, zhang.id
    )
    bus_stop = ask("cyl", "周老板", "公交站台什么时候修好？", at(18, 8), TRANSPORT, li.id)
    store.answer_question(
        bus_stop,
        official_id=li.id,
        text="预计下周完工。",
        at=at(19, 9),
        answer_platform_message_id="a2",
    )
    store.record_rating(
        bus_stop, platform="test", user_id="周老板", score="unsatisfied", at=at(19, 10)
    )
    store.record_engagement(li.id, "speak", at(19, 11), platform="test", chat_id="cyl")
    store.record_engagement(zhang.id, "chat", at(17, 11), platform="test", chat_id="xfl")
    say("xfl", "刘先生", "建议小区增加充电桩", at(17, 20), intent="suggestion")
    for minute, text in enumerate(COMPLAINTS):
        say("xfl", "孙大爷", text, at(19, 20, minute), intent="complaint")
    last_week = ask("cyl", "周老板", "电梯加装补贴怎么申请？", at(12, 9), HOUSING, li.id)
    return World(elevator, parking, bus_stop, last_week, zhang.id, li.id)
