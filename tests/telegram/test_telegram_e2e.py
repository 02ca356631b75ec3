"""minyi end to end on Telegram: the real app (store, handlers, dispatcher), the real
python-telegram-bot, and the fake Bot API server — by long polling and by webhook.

A resident asks in a supergroup, the official picks a suggested answer by button, the resident rates
it, a stranger's rating is refused, and the supervisor's summary shows it all. A restart in the middle
of a stream (and a redelivery after a crash) neither loses nor repeats anything.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fake_bot_api import FakeBotApi, private_chat, supergroup, user
from sqlalchemy import text
from telegram_support import TOKEN, free_port

from bot.events import OutgoingMessage
from bot.outbox import message_args
from storage.journal import OutboxEntry
from tests_support import ratings

GROUP = supergroup(-1001234567890, "幸福里小区居民群")
WANG = user(5012345678, "芳", "王")  # the resident who asks
LIU = user(5045678901, "洋", "刘")  # another resident
ZHANG = user(5023456789, "张伟")  # the official of the group
CHEN = user(5034567891, "陈静")  # the supervisor
SECRET = "hook-Secret_123"


def settings_for(api: FakeBotApi, db: Path, mode: str, port: int, **telegram: Any) -> Any:
    from bot.config import Settings

    return Settings.model_validate(
        {
            "database": {"url": f"sqlite:///{db}"},
            "telegram": {
                **telegram,
                "enabled": True,
                "base_url": api.base_url,
                "mode": mode,
                "webhook_listen": "127.0.0.1",
                "webhook_port": port,
                "webhook_url": f"http://127.0.0.1:{port}/minyi/telegram"
                if mode == "webhook"
                else "",
            },
            "departments": [
                {"name": "住房和城乡建设局", "keywords": ["物业", "电梯", "小区", "漏水"]},
                {"name": "交通运输局", "keywords": ["公交", "停车", "道路", "站台"]},
            ],
            "officials": [
                {
                    "name": "张伟",
                    "department": "住房和城乡建设局",
                    "identities": [f"telegram:{ZHANG['id']}"],
                    "groups": [f"telegram:{GROUP['id']}"],
                },
                {
                    "name": "陈静",
                    "role": "supervisor",
                    "identities": [f"telegram:{CHEN['id']}"],
                    "groups": [f"telegram:{GROUP['id']}"],  # her jurisdiction
                },
            ],
        }
    )


ENV = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": SECRET}


class Running:
    """Apps a test started, stopped and closed at teardown."""

    def __init__(self) -> None:
        self.apps: list[Any] = []

    async def start(self, api: FakeBotApi, db: Path, mode: str, **telegram: Any) -> Any:
        from bot.app import build_app

        app = build_app(settings_for(api, db, mode, free_port(), **telegram))
        self.apps.append(app)
        assert await app.start_platforms(env=ENV) == ["telegram"]
        return app

    async def stop(self, app: Any) -> None:
        await app.close_platforms()
        app.close()
        self.apps.remove(app)


@pytest.fixture
async def running():
    apps = Running()
    yield apps
    for app in list(apps.apps):
        await apps.stop(app)


def buttons(message: dict[str, Any]) -> list[str]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [b["callback_data"] for row in rows for b in row]


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_question_answer_rating_and_summary(api, running, tmp_path, mode):
    api.open_private_chat(ZHANG)  # officials press Start once, or the bot cannot write to them
    api.open_private_chat(CHEN)
    app = await running.start(api, tmp_path / "minyi.db", mode)
    if mode == "webhook":
        [hook] = api.calls_of("setWebhook")
        assert hook.params["secret_token"] == SECRET

    # 1. A resident @-mentions the bot in the supergroup.
    question = api.say(
        GROUP,
        WANG,
        "@minyi_test_bot 3号楼电梯坏了好几天了，什么时候能修好？",
        mention="@minyi_test_bot",
    )
    [ack] = await api.wait_sent(GROUP["id"], contains="Q1")
    assert ack["reply_to_message"]["message_id"] == question["message_id"]
    assert "已收到" in ack["text"]

    # 2. The official gets it privately with template buttons.
    [alert] = await api.wait_sent(ZHANG["id"], contains="Q1")
    picks = buttons(alert)
    assert picks and all(p.startswith("pick:1:") for p in picks), picks

    # 3. The official taps a suggestion; the answer quotes the resident's message in the group.
    pick_query = api.press(ZHANG, alert, picks[0])
    [answer] = await api.wait_sent(GROUP["id"], contains="答复】")
    assert answer["reply_to_message"]["message_id"] == question["message_id"]
    assert buttons(answer) == ["rate:1:s", "rate:1:b", "rate:1:u"]
    await api.wait_for(
        lambda c: c.method == "answerCallbackQuery" and c.params["callback_query_id"] == pick_query
    )

    # 4. The resident taps 满意.
    rate_query = api.press(WANG, answer, "rate:1:s")
    [answered] = await api.wait_for(
        lambda c: c.method == "answerCallbackQuery" and c.params["callback_query_id"] == rate_query
    )
    assert "感谢" in answered.params.get("text", "")
    [thanks] = await api.wait_sent(GROUP["id"], contains="感谢您的评价")
    assert thanks["reply_to_message"]["message_id"] == answer["message_id"]
    store = app.store
    assert store.question(1).state == "resolved"
    assert ratings(store, 1) == ["satisfied"]

    # 5. Somebody else taps 不满意: a notice for them alone, nothing changes.
    sent_before = len(api.sent())
    other_query = api.press(LIU, answer, "rate:1:u")
    [refused] = await api.wait_for(
        lambda c: c.method == "answerCallbackQuery" and c.params["callback_query_id"] == other_query
    )
    assert "只有提问的居民可以评价" in refused.params["text"]
    assert refused.params.get("show_alert") is False
    await asyncio.sleep(0.2)
    assert len(api.sent()) == sent_before
    assert store.question(1).state == "resolved" and ratings(store, 1) == ["satisfied"]

    # 6. The supervisor's summary shows the answer, its response time and the rating.
    now = app.services.clock()
    summary = store.summary(now - timedelta(days=1), now + timedelta(minutes=1), now)
    assert summary.total.questions == 1 and summary.total.answered == 1
    assert summary.total.satisfied == 1 and summary.total.rated == 1
    assert len(summary.total.response_seconds) == 1
    zhang = next(t for t in summary.officials if t.label == "张伟")
    assert zhang.answered == 1 and zhang.satisfied == 1
    api.say(private_chat(CHEN), CHEN, "/summary today")
    [report] = await api.wait_sent(CHEN["id"], contains="张伟")
    assert "满意" in report["text"]
    assert api.errors == []


async def test_only_sends_on_the_wire_are_claimed_while_telegram_is_slow(api, running, tmp_path):
    """Twenty groups' messages wait in the outbox (a restart's backlog: one delivery round) while
    Telegram does not answer: only as many are claimed (``sending``) as python-telegram-bot has
    connections on the wire (16); the rest stay ``pending``, so a crash now would leave them to go
    out after the restart instead of marking them ``uncertain``, never sent. Once Telegram answers,
    every one goes out, once."""
    groups = [supergroup(-1001000000100 - i, f"第{i}小区居民群") for i in range(20)]
    app = await running.start(api, tmp_path / "minyi.db", "polling")
    for group in groups:
        api.say(group, WANG, "大家好")  # the bot is in each group
    slow = api.hold("sendMessage")
    backlog = [
        OutboxEntry(
            "telegram",
            str(group["id"]),
            "message",
            json.dumps(
                message_args(OutgoingMessage("telegram", str(group["id"]), "通知：明天停水")),
                ensure_ascii=False,
            ),
        )
        for group in groups
    ]
    app.store.enqueue(backlog, app.services.clock())
    app.dispatcher.postman.wake()
    on_the_wire = await api.wait_held(16)

    def states() -> list[str]:
        with app.store.engine.connect() as connection:
            return [s for (s,) in connection.execute(text("select state from outbox"))]

    assert len(on_the_wire) == 16
    assert sorted(states()) == ["pending"] * 4 + ["sending"] * 16
    slow.set()
    for group in groups:
        await api.wait_sent(group["id"], contains="明天停水")
    await app.dispatcher.postman.flush()  # after the round under way: every outcome recorded
    assert all(len(api.sent(group["id"])) == 1 for group in groups)
    assert states() == ["sent"] * 20


async def test_restart_mid_stream_and_redelivery_act_once(api, running, tmp_path):
    api.open_private_chat(ZHANG)
    db = tmp_path / "minyi.db"
    asks = [
        "小区{}号楼电梯坏了，什么时候修？",
        "{}号楼楼道漏水，物业不管怎么办？",
        "小区{}号门口的路灯坏了，能修一下吗？",
    ]
    residents = [user(5_100_000_000 + i, f"居民{i}") for i in range(8)]
    updates: list[dict[str, Any]] = []

    def ask(i: int) -> dict[str, Any]:
        text = "@minyi_test_bot " + asks[i % len(asks)].format(i + 1)
        message = api.text_message(GROUP, residents[i], text, mention="@minyi_test_bot")
        update = {"update_id": 200_000 + i, "message": message}
        updates.append(update)
        api.inject(update)
        return message

    first = await running.start(api, db, "polling")
    questions = [ask(i) for i in range(5)]
    await api.wait_sent(GROUP["id"], contains="已收到", count=2)
    await running.stop(first)  # mid-stream: some handled, some still with "Telegram"
    questions += [ask(i) for i in range(5, 8)]  # arrive while minyi is down

    second = await running.start(api, db, "polling")
    acks = await api.wait_sent(GROUP["id"], contains="已收到", count=8, timeout=20)
    await running.stop(second)

    # A crash that never confirmed them: Telegram delivers the first three again.
    for update in updates[:3]:
        api.inject(update)
    third = await running.start(api, db, "polling")
    await api.wait_for(lambda c: c.method == "getUpdates" and bool(c.result), timeout=10)
    await asyncio.sleep(0.5)
    await running.stop(third)

    acks = [m for m in api.sent(GROUP["id"]) if "已收到" in m["text"]]
    replied = sorted(m["reply_to_message"]["message_id"] for m in acks)
    assert replied == sorted(q["message_id"] for q in questions)  # each exactly once
    numbers = sorted(int(m["text"].split("编号 Q")[1].split("。")[0]) for m in acks)
    assert numbers == list(range(1, 9))
    assert api.pending == []


async def test_official_who_never_pressed_start_does_not_break_the_ack(api, running, tmp_path):
    # No open_private_chat(ZHANG): Telegram answers 403 to the private alert.
    app = await running.start(api, tmp_path / "minyi.db", "polling")
    api.say(GROUP, WANG, "@minyi_test_bot 电梯坏了什么时候修？", mention="@minyi_test_bot")
    [ack] = await api.wait_sent(GROUP["id"], contains="Q1")
    assert "已收到" in ack["text"]
    await asyncio.sleep(0.3)
    # The group sees the acknowledgement only — no apology for an unreachable official.
    assert [m["text"][:3] for m in api.sent() if m["chat"]["id"] == GROUP["id"]] == [
        ack["text"][:3]
    ]
    assert app.store.question(1).state == "open"


async def test_an_answer_whose_confirmation_is_lost_is_posted_once(api, running, tmp_path):
    # Telegram posts the answer but its reply comes after bot.toml's read_timeout.
    api.open_private_chat(ZHANG)
    app = await running.start(api, tmp_path / "minyi.db", "polling", read_timeout=1.0)
    question = api.say(
        GROUP, WANG, "@minyi_test_bot 电梯坏了什么时候修？", mention="@minyi_test_bot"
    )
    [alert] = await api.wait_sent(ZHANG["id"], contains="Q1")
    api.lose_next_answer("sendMessage", delay=3.0)  # well within the default 5 s
    api.press(ZHANG, alert, buttons(alert)[0])
    [told] = await api.wait_sent(ZHANG["id"], contains="没有收到平台确认")
    assert "到群里查看" in told["text"]
    answers = [m for m in api.sent(GROUP["id"]) if "答复】" in m["text"]]
    assert len(answers) == 1  # posted once, never repeated
    assert app.store.question(1).state == "open"  # not recorded as answered on a guess
    # The official sees it in the group and records it by replying to the question.
    api.say(GROUP, ZHANG, "已答复，见上", reply_to=question)
    await api.wait_sent(GROUP["id"], contains="Q1 已答复")
    assert app.store.question(1).state == "answered"
    assert len([m for m in api.sent(GROUP["id"]) if "答复】" in m["text"]]) == 1


async def test_the_token_never_reaches_the_logs(api, running, tmp_path, caplog):
    import logging

    from telegram_support import TOKEN

    caplog.set_level(logging.DEBUG)
    api.open_private_chat(ZHANG)
    await running.start(api, tmp_path / "minyi.db", "polling")
    api.say(GROUP, WANG, "@minyi_test_bot 电梯坏了什么时候修？", mention="@minyi_test_bot")
    await api.wait_sent(ZHANG["id"], contains="Q1")
    assert caplog.records, "PTB and httpx log at DEBUG; nothing captured means no check"
    assert TOKEN not in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text
