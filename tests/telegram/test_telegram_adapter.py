"""The Telegram adapter through the real python-telegram-bot against the fake Bot API server.

Covers start-up (getMe, command menus, polling or webhook), journaling before confirming (polling
offsets, webhook answers, poison updates, stop), sending (replies, buttons, long texts), 429 and
network retries, button answers, flood limits (unit tests with an injected clock, and in real time
against a fake that enforces them) and keeping the token and the webhook secret out of logs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import aiohttp
import pytest
from fake_bot_api import (
    FloodLimits,
    inject_unchecked,
    notify_polls,
    offsets_asked,
    supergroup,
    user,
)
from telegram.error import NetworkError
from telegram_support import BOT_USERNAME, TOKEN, free_port

from bot.adapters.shared import REDACTOR, install_redaction
from bot.adapters.telegram import (
    REDACTED_LOGGERS,
    FloodLimiter,
    RateLimits,
    TelegramAdapter,
    TelegramStartError,
)
from bot.events import Button, ButtonPress, DeliveryUncertain, MenuCommand, OutgoingMessage
from tests_support import RecordingJournal, SteppingClock

GROUP = supergroup(-1001234567890, "幸福里小区居民群")
WANG = user(5012345678, "芳", "王")
ZHANG = user(5023456789, "张伟")
SECRET = "s3cret-Webhook_token"


def out(chat_id: int, text: str, **kwargs) -> OutgoingMessage:
    return OutgoingMessage(platform="telegram", chat_id=str(chat_id), text=text, **kwargs)


class Pauses:
    """An injectable ``sleep`` that records the back-off and returns at once (or after ``real``
    seconds, where a test wants a wrong implementation to have time to show itself)."""

    def __init__(self, real: float = 0.0) -> None:
        self.slept: list[float] = []
        self.real = real

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        await asyncio.sleep(self.real)


def webhook_options(**extra):
    port = free_port()
    options = {
        "mode": "webhook",
        "webhook_listen": "127.0.0.1",
        "webhook_port": port,
        "webhook_url": f"http://127.0.0.1:{port}/telegram/hook",
        "webhook_secret": SECRET,
    }
    return {**options, **extra}


async def post(url: str, body: dict, secret: str | None = SECRET) -> int:
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as response,
    ):
        return response.status


# --------------------------------------------------------------------------- start-up


async def test_start_polling_publishes_menus_and_learns_its_name(api, make_adapter):
    notify_polls(api)
    commands = [
        MenuCommand("status", "查询问题进度，例如 /status Q12", in_groups=True, in_private=True),
        MenuCommand("summary", "统计报表", in_groups=False, in_private=True),
        MenuCommand("help", "使用说明", in_groups=True, in_private=True),
    ]
    adapter = make_adapter(RecordingJournal(), commands=commands)
    await adapter.start()
    assert adapter.username == BOT_USERNAME and adapter.buttons
    methods = [c.method for c in api.calls]
    assert methods[:1] == ["getMe"]
    menus = api.calls_of("setMyCommands")
    assert [c.params["scope"]["type"] for c in menus] == ["all_group_chats", "all_private_chats"]
    assert [c["command"] for c in menus[0].params["commands"]] == ["status", "help"]
    assert [c["command"] for c in menus[1].params["commands"]] == ["status", "summary", "help"]
    assert menus[0].params["commands"][0]["description"] == "查询问题进度，例如 /status Q12"
    assert api.calls_of("deleteWebhook")
    await api.wait_for(lambda c: c.method == "getUpdates")
    polls = api.calls_of("getUpdates", ok_only=False)
    assert set(polls[0].params["allowed_updates"]) == {
        "message",
        "edited_message",
        "callback_query",
    }
    assert polls[0].params["timeout"] == 2  # the long poll (poll_timeout, whole seconds)


async def test_receives_and_journals_a_mention(api, make_adapter):
    journal = RecordingJournal()
    adapter = make_adapter(journal)
    await adapter.start()
    message = api.say(GROUP, WANG, "@minyi_test_bot 电梯坏了", mention="@minyi_test_bot")
    [entry] = await journal.wait(1)
    event = entry.event
    assert event.mentions_bot and event.chat.chat_id == "-1001234567890"
    assert event.sender.display_name == "芳 王"
    assert entry.key == f"msg:-1001234567890:{message['message_id']}"
    assert entry.chat_key == "telegram:-1001234567890" and entry.platform == "telegram"
    assert json.loads(entry.raw)["message"] == message  # the update as Telegram sent it


async def test_wrong_token_fails_start_without_showing_it(api, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "7000000001:AAwrongTokenNobodyKnows_0123456789abc"
    adapter = TelegramAdapter(wrong, RecordingJournal(), base_url=api.base_url, aliases=[])
    with pytest.raises(TelegramStartError) as info:
        await adapter.start()
    assert wrong not in str(info.value) and "AAwrongToken" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert wrong not in caplog.text


def test_webhook_mode_needs_a_url():
    with pytest.raises(ValueError, match="webhook_url"):
        TelegramAdapter(TOKEN, RecordingJournal(), base_url=None, aliases=[], mode="webhook")
    with pytest.raises(ValueError, match="mode"):
        TelegramAdapter(TOKEN, RecordingJournal(), base_url=None, aliases=[], mode="carrier-pigeon")


# --------------------------------------------------------------------------- polling: journal first


async def test_offset_never_passes_an_update_the_journal_has_not_committed(api, make_adapter):
    notify_polls(api)
    journal = RecordingJournal()
    journal.fail(3)
    still_pending: list[list[int]] = []

    async def checking_journal(batch):
        # What Telegram still holds unconfirmed at each attempt: all three, until the commit.
        still_pending.append([u["update_id"] for u in api.pending])
        await journal(batch)

    pauses = Pauses(real=0.05)  # room for a premature getUpdates to reach the server
    adapter = make_adapter(checking_journal, sleep=pauses)
    ids = [api.say(GROUP, WANG, f"第{i}条")["message_id"] for i in range(3)]
    first_update = api.pending[0]["update_id"]
    await adapter.start()
    await journal.wait(3)
    # Three failed attempts, each followed by a back-off, then one commit of the whole batch.
    assert journal.calls == 4 and pauses.slept == [0.5, 1.0, 2.0]
    assert [e.event.message_id for e in journal.entries] == [str(i) for i in ids]
    assert still_pending == [[first_update, first_update + 1, first_update + 2]] * 4
    # The first offset after the commit confirms all three.
    await api.wait_for(lambda c: c.method == "getUpdates" and c.params.get("offset"))
    offsets = offsets_asked(api)
    first_confirmation = next(i for i, o in enumerate(offsets) if o is not None)
    assert offsets[:first_confirmation] == [None] * first_confirmation
    assert offsets[first_confirmation] == first_update + 3
    assert api.pending == []


async def test_updates_of_a_failing_journal_are_delivered_again_after_a_restart(api, make_adapter):
    broken = RecordingJournal()
    broken.fail(10**6)
    first = make_adapter(broken, retry_backoff=60.0)  # stop must cut the minute-long back-off
    await first.start()
    for i in range(3):
        api.say(GROUP, WANG, f"第{i}条")
    await broken.wait_until(lambda: broken.calls >= 1)
    await asyncio.wait_for(first.close(), 5)
    assert broken.entries == []
    assert [u["message"]["text"] for u in api.pending] == ["第0条", "第1条", "第2条"]

    journal = RecordingJournal()
    second = make_adapter(journal)
    await second.start()
    await journal.wait(3)
    await second.close()
    assert [e.event.text for e in journal.entries] == ["第0条", "第1条", "第2条"]
    assert api.pending == []


async def test_a_poison_update_is_journaled_as_unreadable_and_does_not_block(api, make_adapter):
    notify_polls(api)
    journal = RecordingJournal()
    adapter = make_adapter(journal)
    await adapter.start()
    poison = api.text_message(GROUP, WANG, "坏消息")
    poison["date"] = "yesterday"  # Update.de_json raises TypeError on it
    poison_id = inject_unchecked(api, {"message": poison})
    after = api.say(GROUP, WANG, "后来的消息")
    entries = await journal.wait(2)
    bad, good = entries
    assert bad.event is None and bad.key == f"update:{poison_id}"
    assert "TypeError" in bad.error and '"yesterday"' in bad.raw
    assert good.event.text == "后来的消息" and good.event.message_id == str(after["message_id"])
    await api.wait_for(lambda c: c.method == "getUpdates" and c.params.get("offset", 0) > poison_id)
    assert api.pending == []


async def test_getupdates_errors_are_retried_with_backoff(api, make_adapter, caplog):
    journal = RecordingJournal()
    pauses = Pauses()
    api.fail_next("getUpdates", status=502, times=2)
    adapter = make_adapter(journal, sleep=pauses, retry_backoff=0.25)
    await adapter.start()
    api.say(GROUP, WANG, "网络恢复后")
    [entry] = await journal.wait(1)
    assert entry.event.text == "网络恢复后"
    assert pauses.slept == [0.25, 0.5]
    assert [c.status for c in api.calls_of("getUpdates", ok_only=False)][:3] == [502, 502, 200]
    assert "getUpdates failed" in caplog.text and TOKEN not in caplog.text


async def test_stop_during_a_long_poll_returns_at_once(api, make_adapter):
    notify_polls(api)
    journal = RecordingJournal()
    adapter = make_adapter(journal, poll_timeout=30.0)
    await adapter.start()
    api.say(GROUP, WANG, "第一条")
    await journal.wait(1)
    # The next long poll (30 s) is waiting at the server.
    await api.wait_for(lambda c: c.method == "getUpdates" and c.params.get("offset"))
    await asyncio.wait_for(adapter.close(), 5)
    assert api.pending == []  # what was journaled is confirmed


async def test_stop_lets_the_journal_finish_then_confirms(api, make_adapter):
    journal = RecordingJournal()
    journal.hold()
    adapter = make_adapter(journal)
    await adapter.start()
    api.say(GROUP, WANG, "正在写入")
    await journal.entered.wait()
    stopping = asyncio.create_task(adapter.close())
    await asyncio.sleep(0)  # stop has begun and waits for the journal
    journal.release()
    await asyncio.wait_for(stopping, 5)
    assert [e.event.text for e in journal.entries] == ["正在写入"]
    assert api.pending == []  # confirmed at stop, after the commit


async def test_button_press_is_journaled_not_answered_by_the_adapter(api, make_adapter):
    journal = RecordingJournal()
    adapter = make_adapter(journal)
    await adapter.start()
    api.say(GROUP, WANG, "hi")
    sent = await adapter.send(out(GROUP["id"], "答复", buttons=((Button("满意", "rate:1:s"),),)))
    query_id = api.press(WANG, api.messages[(GROUP["id"], int(sent.message_id))], "rate:1:s")
    entries = await journal.wait(2)
    press = entries[-1]
    assert press.key == f"button:{query_id}"
    assert press.event.button == ButtonPress(query_id, "rate:1:s", sent.message_id)
    # An ignored press (from an inline-mode message) is not journaled but answered quietly.
    api.inject(
        {
            "callback_query": {
                "id": "777",
                "from": WANG,
                "inline_message_id": "AgAAAQ",
                "chat_instance": "42",
                "data": "x",
            }
        }
    )
    [call] = await api.wait_for(lambda c: c.method == "answerCallbackQuery")
    assert call.params == {"callback_query_id": "777"}
    assert len(journal.entries) == 2


async def test_restart_mid_stream_misses_nothing_and_repeats_nothing(api, make_adapter):
    journal = RecordingJournal()
    first = make_adapter(journal)
    await first.start()
    for i in range(10):
        api.say(GROUP, WANG, f"m{i}")
    await journal.wait(1)
    await first.close()
    journaled_before = len(journal.entries)
    for i in range(10, 15):
        api.say(GROUP, WANG, f"m{i}")  # arrive while the bot is down
    second = make_adapter(journal)
    await second.start()
    await journal.wait(15)
    await second.close()
    assert [e.event.text for e in journal.entries] == [f"m{i}" for i in range(15)]
    assert journaled_before >= 1
    assert api.pending == []  # everything confirmed


# --------------------------------------------------------------------------- webhook


async def test_webhook_answers_200_only_after_the_journal_committed(api, make_adapter):
    journal = RecordingJournal()
    options = webhook_options()
    adapter = make_adapter(journal, **options)
    await adapter.start()
    [hook] = api.calls_of("setWebhook")
    assert hook.params["url"] == options["webhook_url"] and hook.params["secret_token"] == SECRET
    assert set(hook.params["allowed_updates"]) == {"message", "edited_message", "callback_query"}
    assert "drop_pending_updates" not in hook.params or hook.params["drop_pending_updates"] is False
    update = {"update_id": 1, "message": api.text_message(GROUP, WANG, "直接投递")}
    status = await post(options["webhook_url"], update)
    journal.order.append(f"answered {status}")
    assert journal.order == ["committed", "answered 200"]
    assert [e.key for e in journal.entries] == [
        f"msg:{GROUP['id']}:{update['message']['message_id']}"
    ]


async def test_webhook_answers_500_while_journaling_fails_and_telegram_retries(api, make_adapter):
    journal = RecordingJournal()
    options = webhook_options()
    adapter = make_adapter(journal, **options)
    await adapter.start()
    journal.fail(1)
    update = {"update_id": 2, "message": api.text_message(GROUP, WANG, "写入失败")}
    assert await post(options["webhook_url"], update) == 500
    assert journal.entries == []
    # The fake Telegram re-posts an update until it gets a 200.
    journal.fail(2)
    api.say(GROUP, WANG, "@minyi_test_bot 你好", mention="@minyi_test_bot")
    [entry] = await journal.wait(1)
    assert entry.event.text == "@minyi_test_bot 你好"
    assert journal.calls == 1 + 3  # two 500s, then the commit


async def test_webhook_refuses_a_wrong_or_missing_secret(api, make_adapter):
    journal = RecordingJournal()
    options = webhook_options()
    adapter = make_adapter(journal, **options)
    await adapter.start()
    forged = {"update_id": 3, "message": api.text_message(GROUP, WANG, "伪造")}
    assert await post(options["webhook_url"], forged, secret="guess") == 403
    assert await post(options["webhook_url"], forged, secret=None) == 403
    assert journal.calls == 0
    assert await post(options["webhook_url"], forged) == 200  # the same update, signed
    assert journal.calls == 1


async def test_webhook_mode_refuses_to_start_without_a_secret(api, make_adapter):
    adapter = make_adapter(RecordingJournal(), **webhook_options(webhook_secret=None))
    with pytest.raises(TelegramStartError, match="TELEGRAM_WEBHOOK_SECRET"):
        await adapter.start()
    assert api.calls == []  # refused before talking to Telegram


async def test_webhook_poison_is_journaled_and_answered_200(api, make_adapter):
    journal = RecordingJournal()
    options = webhook_options()
    adapter = make_adapter(journal, **options)
    await adapter.start()
    poison = api.text_message(GROUP, WANG, "坏消息")
    poison["chat"] = "nope"
    assert await post(options["webhook_url"], {"update_id": 9, "message": poison}) == 200
    [entry] = journal.entries
    assert entry.event is None and entry.key == "update:9" and '"nope"' in entry.raw


async def test_debug_logs_of_a_webhook_run_hold_neither_token_nor_secret(api, make_adapter, caplog):
    caplog.set_level(logging.DEBUG)
    journal = RecordingJournal()
    adapter = make_adapter(journal, **webhook_options())
    await adapter.start()
    api.say(GROUP, WANG, "@minyi_test_bot 你好", mention="@minyi_test_bot")
    await journal.wait(1)
    await adapter.send(out(GROUP["id"], "收到"))
    await adapter.close()
    assert any("setWebhook" in r.getMessage() for r in caplog.records)  # PTB logged its parameters
    assert TOKEN not in caplog.text and TOKEN.split(":")[1] not in caplog.text
    assert SECRET not in caplog.text


# --------------------------------------------------------------------------- sending


async def test_send_reply_with_buttons(api, make_adapter):
    adapter = make_adapter(RecordingJournal())
    await adapter.start()
    question = api.say(GROUP, WANG, "@minyi_test_bot 电梯坏了", mention="@minyi_test_bot")
    sent = await adapter.send(
        out(
            GROUP["id"],
            "【Q1 答复】已安排维修。",
            reply_to_message_id=str(question["message_id"]),
            buttons=((Button("满意", "rate:1:s"), Button("基本满意", "rate:1:b")),),
        )
    )
    [call] = api.calls_of("sendMessage")
    assert call.params["chat_id"] == GROUP["id"]
    assert call.params["reply_parameters"] == {
        "message_id": question["message_id"],
        "allow_sending_without_reply": True,
    }
    keyboard = call.params["reply_markup"]["inline_keyboard"]
    assert [[b["callback_data"] for b in row] for row in keyboard] == [["rate:1:s", "rate:1:b"]]
    assert sent.message_id == str(call.result["message_id"])
    assert sent.chat_id == str(GROUP["id"]) and sent.platform == "telegram"
    assert sent.sent_at is not None and sent.sent_at.tzinfo is not None


async def test_private_message_goes_to_the_user_id(api, make_adapter):
    adapter = make_adapter(RecordingJournal())
    await adapter.start()
    api.open_private_chat(ZHANG)
    await adapter.send(out(ZHANG["id"], "【新问题 Q1】", is_private=True))
    [call] = api.calls_of("sendMessage")
    assert call.params["chat_id"] == ZHANG["id"] and "reply_parameters" not in call.params


async def test_long_text_is_split_reply_first_buttons_last(api, make_adapter):
    adapter = make_adapter(RecordingJournal())
    await adapter.start()
    question = api.say(GROUP, WANG, "@minyi_test_bot 汇总", mention="@minyi_test_bot")
    text = "\n".join(f"第{i:03d}行：" + "居民反映的问题和答复内容" * 3 + "谢谢" for i in range(200))
    sent = await adapter.send(
        out(
            GROUP["id"],
            text + "。",
            reply_to_message_id=str(question["message_id"]),
            buttons=((Button("满意", "rate:1:s"),),),
        )
    )
    calls = api.calls_of("sendMessage")
    assert len(calls) == 3
    assert "reply_parameters" in calls[0].params
    assert all("reply_parameters" not in c.params for c in calls[1:])
    assert "reply_markup" in calls[2].params
    assert all("reply_markup" not in c.params for c in calls[:2])
    assert "\n".join(c.params["text"] for c in calls) == text + "。"  # cut at line ends
    assert sent.message_id == str(calls[0].result["message_id"])


async def test_parts_of_concurrent_long_messages_never_interleave(api, make_adapter):
    adapter = make_adapter(RecordingJournal())
    await adapter.start()
    api.say(GROUP, WANG, "hi")
    texts = ["\n".join(f"{tag}{i:03d}" + "内容" * 60 for i in range(40)) for tag in "AB"]
    api.lose_next_answer("sendMessage", delay=0.3)  # a slow first answer: time for others to cut in
    await asyncio.gather(*(adapter.send(out(GROUP["id"], t)) for t in texts))
    tags = [m["text"][0] for m in api.sent(GROUP["id"])]
    assert tags in (["A", "A", "B", "B"], ["B", "B", "A", "A"])


async def test_oversized_button_data_is_refused_before_sending(api, make_adapter):
    adapter = make_adapter(RecordingJournal())
    await adapter.start()
    with pytest.raises(ValueError):
        await adapter.send(out(GROUP["id"], "x", buttons=((Button("b", "d" * 65),),)))
    assert api.calls_of("sendMessage", ok_only=False) == []


async def test_429_is_retried_after_retry_after(api, make_adapter):
    adapter = make_adapter(RecordingJournal())
    await adapter.start()
    api.say(GROUP, WANG, "hi")
    api.fail_next("sendMessage", retry_after=1)
    started = time.monotonic()
    sent = await adapter.send(out(GROUP["id"], "已收到您的问题，编号 Q1。"))
    elapsed = time.monotonic() - started
    attempts = api.calls_of("sendMessage", ok_only=False)
    assert [c.status for c in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 0.95
    assert elapsed >= 0.95
    assert sent.message_id == str(attempts[1].result["message_id"])


async def test_network_errors_are_retried_with_backoff_a_bounded_number_of_times(api, make_adapter):
    adapter = make_adapter(RecordingJournal(), max_retries=2, retry_backoff=0.05)
    await adapter.start()
    api.say(GROUP, WANG, "hi")
    api.fail_next("sendMessage", status=502, times=2)
    await adapter.send(out(GROUP["id"], "第一次"))
    assert [c.status for c in api.calls_of("sendMessage", ok_only=False)] == [502, 502, 200]
    api.fail_next("sendMessage", status=502, times=3)
    with pytest.raises(NetworkError):
        await adapter.send(out(GROUP["id"], "第二次"))
    assert [c.status for c in api.calls_of("sendMessage", ok_only=False)][3:] == [502] * 3


@pytest.mark.parametrize("loss", [0.6, None], ids=["answer-too-late", "connection-dropped"])
async def test_a_message_whose_answer_is_lost_is_not_posted_twice(api, make_adapter, loss, caplog):
    # Telegram posted it, but the bot never heard back: sending again would show it twice.
    adapter = make_adapter(RecordingJournal(), max_retries=3, retry_backoff=0.05, read_timeout=0.3)
    await adapter.start()
    api.say(GROUP, WANG, "hi")
    api.lose_next_answer("sendMessage", delay=loss)
    with pytest.raises(DeliveryUncertain, match="may already be posted"):
        await adapter.send(out(GROUP["id"], "【Q1 答复】周二上午修好。"))
    assert [m["text"] for m in api.sent(GROUP["id"])] == ["【Q1 答复】周二上午修好。"]
    assert len(api.calls_of("sendMessage", ok_only=False)) == 1
    assert TOKEN not in caplog.text
    await adapter.send(out(GROUP["id"], "下一条"))  # the connection pool recovers
    assert [m["text"] for m in api.sent(GROUP["id"])][-1] == "下一条"


async def test_a_button_answer_whose_reply_is_lost_is_retried_harmlessly(api, make_adapter, caplog):
    # Answering a press shows a notice once at most, so a lost answer is retried like any error.
    journal = RecordingJournal()
    adapter = make_adapter(journal, max_retries=3, retry_backoff=0.05, read_timeout=0.3)
    await adapter.start()
    api.say(GROUP, WANG, "hi")
    sent = await adapter.send(out(GROUP["id"], "答复", buttons=((Button("满意", "rate:1:s"),),)))
    api.lose_next_answer("answerCallbackQuery", delay=None)
    api.press(WANG, api.messages[(GROUP["id"], int(sent.message_id))], "rate:1:s")
    press = (await journal.wait(2))[-1].event.button
    await adapter.answer_button(press, "已记录")
    statuses = [c.status for c in api.calls_of("answerCallbackQuery", ok_only=False)]
    assert statuses == [200, 400]  # carried out, then "already answered": logged, not raised
    assert "could not answer button press" in caplog.text


async def test_send_to_a_migrated_group_follows_it_to_the_supergroup(api, make_adapter, caplog):
    adapter = make_adapter(RecordingJournal())
    await adapter.start()
    old = {"id": -4012345678, "title": "阳光花园业主群", "type": "group"}
    new = supergroup(-1009876543210, "阳光花园业主群")
    api.say(old, WANG, "hi")
    api.say(new, WANG, "hi")
    api.migrated[old["id"]] = new["id"]
    sent = await adapter.send(out(old["id"], "已收到"))
    assert sent.chat_id == str(new["id"])
    assert [m["text"] for m in api.sent(new["id"])] == ["已收到"]
    assert "became supergroup -1009876543210" in caplog.text and "bot.toml" in caplog.text


async def test_answer_button_with_notice(api, make_adapter):
    journal = RecordingJournal()
    adapter = make_adapter(journal)
    await adapter.start()
    api.say(GROUP, WANG, "hi")
    sent = await adapter.send(out(GROUP["id"], "答复", buttons=((Button("满意", "rate:1:s"),),)))
    answer = api.messages[(GROUP["id"], int(sent.message_id))]
    query_id = api.press(ZHANG, answer, "rate:1:s")
    event = (await journal.wait(2))[-1].event
    assert event.button == ButtonPress(query_id, "rate:1:s", sent.message_id)
    assert event.sender.user_id == str(ZHANG["id"])
    await adapter.answer_button(event.button, "只有提问的居民可以评价")
    [call] = api.calls_of("answerCallbackQuery")
    assert call.params == {
        "callback_query_id": query_id,
        "text": "只有提问的居民可以评价",
        "show_alert": False,
    }
    assert api.errors == []


# --------------------------------------------------------------------------- flood limits


async def test_limiter_queues_the_21st_message_of_a_group_for_a_minute():
    clock = SteppingClock()
    limiter = FloodLimiter(RateLimits(margin=0), clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(25):
        await limiter.acquire("-100111", group=True)
        times.append(clock.now - 1000.0)
    assert times[:20] == [0.0] * 20
    assert times[20:] == [60.0] * 5  # queued, not dropped
    # Another group is not held up by the first one's minute.
    await limiter.acquire("-100222", group=True)
    assert clock.now - 1000.0 == 60.0


async def test_limiter_concurrent_senders_all_get_through_in_order():
    clock = SteppingClock()
    limiter = FloodLimiter(RateLimits(margin=0), clock=clock, sleep=clock.sleep)
    order: list[int] = []

    async def send(i: int) -> None:
        await limiter.acquire("-100111", group=True)
        order.append(i)

    await asyncio.gather(*(send(i) for i in range(45)))
    assert order == list(range(45))
    assert clock.now - 1000.0 == 120.0  # 20 now, 20 after a minute, 5 after two


async def test_limiter_holds_the_bot_to_30_messages_a_second_overall():
    clock = SteppingClock()
    limiter = FloodLimiter(RateLimits(margin=0), clock=clock, sleep=clock.sleep)
    stamps = []
    for i in range(75):
        await limiter.acquire(str(5_000_000 + i), group=False)  # private chats
        stamps.append(clock.now - 1000.0)
    assert stamps.count(0.0) == 30 and stamps.count(1.0) == 30 and stamps.count(2.0) == 15
    # Groups count toward the overall limit too.
    await limiter.acquire("-100333", group=True)
    assert clock.now - 1000.0 == 2.0
    for _ in range(14):
        await limiter.acquire("-100333", group=True)
    assert clock.now - 1000.0 == 2.0  # 15 private + 15 group messages in the third second
    await limiter.acquire("-100333", group=True)
    assert clock.now - 1000.0 == 3.0


async def test_a_send_in_its_turn_goes_in_the_slot_the_turn_waited_for(api, make_adapter):
    """The outbox claims a send only once its chat's turn under the flood limits has come
    (``Sender.turn``): the send made in the turn takes that slot rather than queueing for another,
    and a turn left unused (the send was another worker's) is not kept for a later send."""
    clock = SteppingClock()
    limits = RateLimits(per_group=1, per_group_window=60.0, margin=0)
    adapter = make_adapter(
        RecordingJournal(), limiter=FloodLimiter(limits, clock=clock, sleep=clock.sleep)
    )
    await adapter.start()
    api.say(GROUP, WANG, "hi")  # the bot is in the group
    first = out(GROUP["id"], "第一条")
    async with adapter.turn(first):
        assert clock.now == 1000.0  # the group's first slot of the minute
        await adapter.send(first)
    assert clock.now == 1000.0  # no second wait for the same message
    async with adapter.turn(out(GROUP["id"], "第二条")):
        assert clock.now == 1060.0  # the next slot: a minute later
    await adapter.send(out(GROUP["id"], "第三条"))  # outside any turn: it waits for its own
    assert clock.now == 1120.0
    assert [m["text"] for m in api.sent(GROUP["id"])] == ["第一条", "第三条"]


async def test_a_send_that_comes_late_in_its_turn_is_counted_when_it_goes_out(api, make_adapter):
    """The turn's slot is counted when the turn comes; a send made later in it (its claim waited
    for the database writer) counts when it really goes out, so the next slot waits from then."""
    clock = SteppingClock()
    limits = RateLimits(per_group=1, per_group_window=60.0, margin=0)
    adapter = make_adapter(
        RecordingJournal(), limiter=FloodLimiter(limits, clock=clock, sleep=clock.sleep)
    )
    await adapter.start()
    api.say(GROUP, WANG, "hi")
    first = out(GROUP["id"], "第一条")
    async with adapter.turn(first):
        clock.now += 5.0  # the claim waited
        await adapter.send(first)
    assert clock.now == 1005.0  # the turn's slot given back, the send's own free at once
    async with adapter.turn(out(GROUP["id"], "第二条")):
        assert clock.now == 1065.0  # a minute after the first really went out, not after 1000.0


async def test_real_sends_respect_limits_the_fake_enforces(api, make_adapter):
    limits = RateLimits(per_group=3, per_group_window=0.5, overall=5, overall_window=0.25)
    # The server counts a request when it arrives, the limiter when it lets it go: on a busy machine
    # two requests let go a window apart can arrive closer together. The fake's windows are shorter
    # by that slack (what Telegram's real limits leave us with the default margin too).
    api.flood_limits = FloodLimits(3, 0.35, 5, 0.15)
    adapter = make_adapter(RecordingJournal(), rate_limits=limits)
    await adapter.start()
    api.say(GROUP, WANG, "hi")
    users = [user(6_000_000 + i, f"居民{i}") for i in range(4)]
    for person in users:
        api.open_private_chat(person)
    started = time.monotonic()
    await asyncio.gather(
        *(adapter.send(out(GROUP["id"], f"群消息{i}")) for i in range(7)),
        *(adapter.send(out(p["id"], f"私信{p['id']}")) for p in users),
    )
    elapsed = time.monotonic() - started
    statuses = [c.status for c in api.calls_of("sendMessage", ok_only=False)]
    assert statuses == [200] * 11  # the limiter kept us under the limits: no 429 at all
    assert [m["text"] for m in api.sent(GROUP["id"])] == [f"群消息{i}" for i in range(7)]
    assert elapsed >= 0.9  # 7 group messages at 3 per 0.5 s need two extra windows


# --------------------------------------------------------------------------- the token


def test_redaction_filter_hides_the_token_on_telegram_and_httpx_loggers(caplog):
    import telegram.ext  # noqa: F401 - makes sure PTB's child loggers exist

    install_redaction([TOKEN, TOKEN.split(":")[1]], REDACTED_LOGGERS)
    caplog.set_level(logging.DEBUG)
    url = f"https://api.telegram.org/bot{TOKEN}/getUpdates"
    for name in ("telegram", "telegram.ext.Updater", "telegram._bot", "httpx", "httpcore.http11"):
        logging.getLogger(name).debug("calling %s", url)
    try:
        raise RuntimeError(f"boom {url}")
    except RuntimeError:
        logging.getLogger("telegram.ext.Application").exception("failed")
    assert TOKEN not in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text
    assert caplog.text.count(REDACTOR.MASK) >= 6
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert TOKEN not in (record.exc_text or "")


async def test_no_log_record_of_a_real_session_contains_the_token(api, make_adapter, caplog):
    caplog.set_level(logging.DEBUG)
    journal = RecordingJournal()
    adapter = make_adapter(journal)
    await adapter.start()
    api.say(GROUP, WANG, "@minyi_test_bot 你好", mention="@minyi_test_bot")
    await journal.wait(1)
    await adapter.send(out(GROUP["id"], "收到"))
    logging.getLogger("telegram.ext").debug("the bot is %r", adapter._live_bot())
    await adapter.close()
    assert any(r.name.startswith("httpx") for r in caplog.records)  # httpx did log the URLs
    assert TOKEN not in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text
