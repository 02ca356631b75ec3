"""The Telegram adapter through the real python-telegram-bot against the fake Bot API server.

Covers start-up (getMe, command menus, polling or webhook), receiving, sending (replies, buttons,
long texts), 429 and network retries, button answers, error isolation, per-chat ordering, flood
limits (unit tests with an injected clock, and in real time against a fake that enforces them) and
keeping the token out of logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time

import aiohttp
import pytest
from fake_bot_api import FloodLimits, supergroup, user
from telegram.error import NetworkError
from telegram_support import BOT_USERNAME, TOKEN, free_port

from bot.adapters.telegram import (
    REDACTOR,
    RateLimiter,
    RateLimits,
    TelegramAdapter,
    TelegramStartError,
    install_redaction,
)
from bot.events import Button, ButtonPress, DeliveryUncertain, IncomingMessage, OutgoingMessage
from tests_support import SteppingClock

GROUP = supergroup(-1001234567890, "幸福里小区居民群")
WANG = user(5012345678, "芳", "王")
ZHANG = user(5023456789, "张伟")


class Recorder:
    """A stand-in for ``Dispatcher.handle`` that records events (and can be made slow or broken)."""

    def __init__(self, delay: float = 0.0, fail_on: str | None = None) -> None:
        self.events: list[IncomingMessage] = []
        self.delay = delay
        self.fail_on = fail_on
        self.changed = asyncio.Event()

    async def __call__(self, message: IncomingMessage) -> None:
        if self.delay:
            await asyncio.sleep(random.uniform(0, self.delay))
        self.events.append(message)
        self.changed.set()
        if self.fail_on and self.fail_on in message.text:
            raise RuntimeError("handler exploded")

    async def wait(self, count: int, timeout: float = 10.0) -> list[IncomingMessage]:
        deadline = time.monotonic() + timeout
        while len(self.events) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"got {len(self.events)} of {count} events")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)
        return self.events


def out(chat_id: int, text: str, **kwargs) -> OutgoingMessage:
    return OutgoingMessage(platform="telegram", chat_id=str(chat_id), text=text, **kwargs)


# --------------------------------------------------------------------------- start-up


async def test_start_polling_publishes_menus_and_learns_its_name(api, make_adapter):
    adapter = make_adapter(Recorder())
    await adapter.start()
    assert adapter.username == BOT_USERNAME
    methods = [c.method for c in api.calls]
    assert methods[:1] == ["getMe"]
    menus = api.calls_of("setMyCommands")
    assert [c.params["scope"]["type"] for c in menus] == ["all_group_chats", "all_private_chats"]
    group_menu = [c["command"] for c in menus[0].params["commands"]]
    assert "status" in group_menu and "summary" not in group_menu
    assert "summary" in [c["command"] for c in menus[1].params["commands"]]
    assert api.calls_of("deleteWebhook")
    await api.wait_for(lambda c: c.method == "getUpdates")
    polls = api.calls_of("getUpdates", ok_only=False)
    assert set(polls[0].params["allowed_updates"]) == {
        "message",
        "edited_message",
        "callback_query",
    }


async def test_receives_and_converts_a_mention(api, make_adapter):
    handle = Recorder()
    adapter = make_adapter(handle)
    await adapter.start()
    api.say(GROUP, WANG, "@minyi_test_bot 电梯坏了", mention="@minyi_test_bot")
    [event] = await handle.wait(1)
    assert event.mentions_bot and event.chat.chat_id == "-1001234567890"
    assert event.sender.display_name == "芳 王"


async def test_wrong_token_fails_start_without_showing_it(api, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "7000000001:AAwrongTokenNobodyKnows_0123456789abc"
    adapter = TelegramAdapter(wrong, Recorder(), base_url=api.base_url, aliases=[])
    with pytest.raises(TelegramStartError) as info:
        await adapter.start()
    assert wrong not in str(info.value) and "AAwrongToken" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert wrong not in caplog.text


def test_webhook_mode_needs_a_url():
    with pytest.raises(ValueError, match="webhook_url"):
        TelegramAdapter(TOKEN, Recorder(), base_url=None, aliases=[], mode="webhook")
    with pytest.raises(ValueError, match="mode"):
        TelegramAdapter(TOKEN, Recorder(), base_url=None, aliases=[], mode="carrier-pigeon")


async def test_webhook_mode_receives_posts_and_checks_the_secret(api, make_adapter):
    handle = Recorder()
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    adapter = make_adapter(
        handle,
        mode="webhook",
        webhook_listen="127.0.0.1",
        webhook_port=port,
        webhook_url=url,
        webhook_secret="s3cret-Webhook_token",
    )
    await adapter.start()
    [hook] = api.calls_of("setWebhook")
    assert hook.params["url"] == url and hook.params["secret_token"] == "s3cret-Webhook_token"
    assert "drop_pending_updates" not in hook.params or hook.params["drop_pending_updates"] is False
    api.say(GROUP, WANG, "@minyi_test_bot 你好", mention="@minyi_test_bot")
    [event] = await handle.wait(1)
    assert event.mentions_bot
    # A POST without the secret header is refused and never reaches the handler.
    async with aiohttp.ClientSession() as session:
        forged = {"update_id": 1, "message": api.text_message(GROUP, WANG, "伪造")}
        async with session.post(url, json=forged) as response:
            assert response.status == 403
    await asyncio.sleep(0.1)
    assert len(handle.events) == 1


# --------------------------------------------------------------------------- sending


async def test_send_reply_with_buttons(api, make_adapter):
    adapter = make_adapter(Recorder())
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
    adapter = make_adapter(Recorder())
    await adapter.start()
    api.open_private_chat(ZHANG)
    await adapter.send(out(ZHANG["id"], "【新问题 Q1】", is_private=True))
    [call] = api.calls_of("sendMessage")
    assert call.params["chat_id"] == ZHANG["id"] and "reply_parameters" not in call.params


async def test_long_text_is_split_reply_first_buttons_last(api, make_adapter):
    adapter = make_adapter(Recorder())
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


async def test_oversized_button_data_is_refused_before_sending(api, make_adapter):
    adapter = make_adapter(Recorder())
    await adapter.start()
    with pytest.raises(ValueError):
        await adapter.send(out(GROUP["id"], "x", buttons=((Button("b", "d" * 65),),)))
    assert api.calls_of("sendMessage", ok_only=False) == []


async def test_429_is_retried_after_retry_after(api, make_adapter):
    adapter = make_adapter(Recorder())
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
    adapter = make_adapter(Recorder(), max_retries=2, retry_backoff=0.05)
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
    adapter = make_adapter(Recorder(), max_retries=3, retry_backoff=0.05, read_timeout=0.3)
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

    async def handle(event: IncomingMessage) -> None:
        if event.button is not None:
            await adapter.answer_button(event.button, "已记录")

    adapter = make_adapter(handle, max_retries=3, retry_backoff=0.05, read_timeout=0.3)
    await adapter.start()
    api.say(GROUP, WANG, "hi")
    sent = await adapter.send(out(GROUP["id"], "答复", buttons=((Button("满意", "rate:1:s"),),)))
    api.lose_next_answer("answerCallbackQuery", delay=None)
    api.press(WANG, api.messages[(GROUP["id"], int(sent.message_id))], "rate:1:s")
    await api.wait_for(lambda c: c.method == "answerCallbackQuery")
    await asyncio.sleep(0.5)
    statuses = [c.status for c in api.calls_of("answerCallbackQuery", ok_only=False)]
    assert statuses[:2] == [200, 400]  # carried out, then "already answered": logged, not raised
    assert "could not answer button press" in caplog.text


async def test_send_to_a_migrated_group_follows_it_to_the_supergroup(api, make_adapter, caplog):
    adapter = make_adapter(Recorder())
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
    presses: list[IncomingMessage] = []

    async def handle(event: IncomingMessage) -> None:
        if event.button is not None:
            presses.append(event)
            await adapter.answer_button(event.button, "只有提问的居民可以评价")

    adapter = make_adapter(handle)
    await adapter.start()
    api.say(GROUP, WANG, "hi")
    sent = await adapter.send(out(GROUP["id"], "答复", buttons=((Button("满意", "rate:1:s"),),)))
    answer = api.messages[(GROUP["id"], int(sent.message_id))]
    query_id = api.press(ZHANG, answer, "rate:1:s")
    await api.wait_for(lambda c: c.method == "answerCallbackQuery")
    await asyncio.sleep(0.05)
    [event] = presses
    assert event.button == ButtonPress(query_id, "rate:1:s", sent.message_id)
    assert event.sender.user_id == str(ZHANG["id"])
    [call] = api.calls_of("answerCallbackQuery")  # answered once: no second, quiet answer
    assert call.params == {
        "callback_query_id": query_id,
        "text": "只有提问的居民可以评价",
        "show_alert": False,
    }
    assert api.errors == []


async def test_unanswered_button_press_is_answered_quietly(api, make_adapter):
    handle = Recorder()
    adapter = make_adapter(handle)
    await adapter.start()
    api.say(GROUP, WANG, "hi")
    sent = await adapter.send(out(GROUP["id"], "答复", buttons=((Button("满意", "rate:1:s"),),)))
    query_id = api.press(WANG, api.messages[(GROUP["id"], int(sent.message_id))], "rate:1:s")
    await api.wait_for(lambda c: c.method == "answerCallbackQuery")
    [call] = api.calls_of("answerCallbackQuery")
    assert call.params == {"callback_query_id": query_id}


# --------------------------------------------------------------------------- receiving


async def test_a_failing_handler_is_logged_and_polling_goes_on(api, make_adapter, caplog):
    handle = Recorder(fail_on="炸")
    adapter = make_adapter(handle)
    await adapter.start()
    api.say(GROUP, WANG, "炸")
    api.say(GROUP, WANG, "后来的消息")
    events = await handle.wait(2)
    assert [e.text for e in events] == ["炸", "后来的消息"]
    assert "handler exploded" in caplog.text or "failed" in caplog.text


async def test_events_of_one_chat_keep_their_order_other_chats_run_alongside(api, make_adapter):
    handle = Recorder(delay=0.03)
    adapter = make_adapter(handle)
    await adapter.start()
    other = supergroup(-1009999999999, "阳光花园")
    for i in range(8):
        api.say(GROUP, WANG, f"A{i}")
        api.say(other, ZHANG, f"B{i}")
    events = await handle.wait(16)
    assert [e.text for e in events if e.chat.chat_id == str(GROUP["id"])] == [
        f"A{i}" for i in range(8)
    ]
    assert [e.text for e in events if e.chat.chat_id == str(other["id"])] == [
        f"B{i}" for i in range(8)
    ]


async def test_restart_mid_stream_misses_nothing_and_repeats_nothing(api, make_adapter):
    handle = Recorder(delay=0.02)
    first = make_adapter(handle)
    await first.start()
    for i in range(10):
        api.say(GROUP, WANG, f"m{i}")
    await handle.wait(1)
    await first.stop()  # some received and finished, the rest stay with "Telegram"
    handled_before = len(handle.events)
    for i in range(10, 15):
        api.say(GROUP, WANG, f"m{i}")  # arrive while the bot is down
    second = make_adapter(handle)
    await second.start()
    await handle.wait(15)
    await asyncio.sleep(0.2)
    assert [e.text for e in handle.events] == [f"m{i}" for i in range(15)]
    assert handled_before >= 1
    await second.stop()
    assert api.pending == []  # everything confirmed


# --------------------------------------------------------------------------- flood limits


async def test_limiter_queues_the_21st_message_of_a_group_for_a_minute():
    clock = SteppingClock()
    limiter = RateLimiter(RateLimits(margin=0), clock=clock, sleep=clock.sleep)
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
    limiter = RateLimiter(RateLimits(margin=0), clock=clock, sleep=clock.sleep)
    order: list[int] = []

    async def send(i: int) -> None:
        await limiter.acquire("-100111", group=True)
        order.append(i)

    await asyncio.gather(*(send(i) for i in range(45)))
    assert order == list(range(45))
    assert clock.now - 1000.0 == 120.0  # 20 now, 20 after a minute, 5 after two


async def test_limiter_holds_the_bot_to_30_messages_a_second_overall():
    clock = SteppingClock()
    limiter = RateLimiter(RateLimits(margin=0), clock=clock, sleep=clock.sleep)
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


async def test_real_sends_respect_limits_the_fake_enforces(api, make_adapter):
    limits = RateLimits(per_group=3, per_group_window=0.5, overall=5, overall_window=0.25)
    # The limiter's default margin (50 ms a window) absorbs the request's trip to the server.
    api.flood_limits = FloodLimits(3, 0.5, 5, 0.25)
    adapter = make_adapter(Recorder(), rate_limits=limits)
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

    install_redaction(TOKEN)
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
    handle = Recorder()
    adapter = make_adapter(handle)
    await adapter.start()
    api.say(GROUP, WANG, "@minyi_test_bot 你好", mention="@minyi_test_bot")
    await handle.wait(1)
    await adapter.send(out(GROUP["id"], "收到"))
    logging.getLogger("telegram.ext").debug("the bot is %r", adapter._bot_app().bot)
    await adapter.stop()
    assert any(r.name.startswith("httpx") for r in caplog.records)  # httpx did log the URLs
    assert TOKEN not in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text
