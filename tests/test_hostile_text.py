"""Hostile text changes nothing: NUL, lone surrogates, control and bidi characters, very long messages
and names are stored and handled like any message on both engines (storage/models.py cleans what an
engine cannot hold; the inbox payload keeps the original)."""

from __future__ import annotations

import asyncio
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.dispatch import APOLOGY
from bot.events import IncomingMessage, Received, decode_event, encode_event

pytestmark = pytest.mark.asyncio

NASTY = ["\x00", "\ud800", "\udfff", "\u202e", "\u200f", "\x1b[31m", "\x07", "\ufeff", "{{7*7*7*7*7}}",
         "{% for x in range(9) %}x{% endfor %}", "${7*7*7*7*7}", "%s%n", "'; drop table inbox; --"]  # fmt: skip
PREFIXES = ["", "@政务助手 ", "/status ", "/reply Q1 ", "/digest ", "/help ", "进度 ", "满意", "2"]

texts = st.builds(
    lambda prefix, parts: prefix + "".join(parts),
    st.sampled_from(PREFIXES),
    st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=20)), max_size=6),
)
names = st.one_of(
    st.sampled_from(["王阿姨", "\x00张\ud800", "\u202e姨阿王"]), st.text(max_size=250)
)

BATCH = 50
"""Messages per generated example (journaled as one batch, as a platform's batch is)."""
EVENTS = int(os.environ.get("MINYI_FUZZ_EVENTS", "3500"))
"""Generated messages and commands per engine; with ``UPDATES`` Telegram updates, 5,000 per engine and
10,000 in all on every run (CI included). ``MINYI_FUZZ_EVENTS`` / ``MINYI_FUZZ_UPDATES`` run more."""
EXAMPLES = max(1, EVENTS // BATCH)


EVALUATED = re.compile(r"(?<![Q\d])16807(?!\d)")
"""``{{7*7*7*7*7}}`` evaluated: a number no count or ticket of these runs reaches (ticket numbers such
as Q16807 aside)."""


def _check_stored(chat, count_before: int, talk: int) -> None:
    """No poison event, and every group message with text stored."""
    health = chat.app.store.journal_health(0)
    assert health.inbox.get("poison", 0) == 0, health
    assert chat.app.store.digest(1, None, chat.clock.now).message_count == count_before + talk


async def test_payload_round_trips_nul_and_lone_surrogates():
    from datetime import UTC, datetime

    from bot.events import Chat, Person

    message = IncomingMessage(
        platform="test",
        chat=Chat("test", "g\x00", "群\ud800", is_group=True),
        sender=Person("test", "u", "名\x00字\udc00"),
        message_id="1",
        text="a\x00b\ud800c\u202e",
        sent_at=datetime(2026, 11, 30, tzinfo=UTC),
    )
    payload = encode_event(message)
    assert "\x00" not in payload
    payload.encode("utf-8")  # no lone surrogate left in the JSON text itself
    assert decode_event(payload) == message


async def test_hostile_text_is_stored_and_handled_on_both_engines(chat):
    """``EVENTS`` generated messages and commands through the dialogue harness per engine: no
    apology, no poison event, every group text stored, nothing evaluated as a template."""
    loop = asyncio.get_running_loop()
    counter = iter(range(10**9))
    total = talk = 0
    stored = chat.app.store.digest(1, None, chat.clock.now).message_count

    async def feed(batch: list[tuple[str, str]]) -> None:
        """One batch journaled at once, then handled and delivered (as a platform's batch is)."""
        nonlocal total
        dispatcher = chat.app.dispatcher
        items = []
        for text, name in batch:
            n = next(counter)
            person = chat.bot.person(name, f"u{n % 7}")
            items.append(
                Received.of(
                    IncomingMessage(
                        platform="test",
                        chat=chat.group,
                        sender=person,
                        message_id=f"h{n}",
                        text=text,
                        sent_at=chat.clock.now,
                    )
                )
            )
        before = len(chat.bot.outbox)
        await dispatcher.receive(items)
        await dispatcher.process_pending()
        await dispatcher.postman.flush()
        for p in chat.bot.outbox[before:]:
            assert p.text != APOLOGY, p.text
            assert not EVALUATED.search(p.text) or any("16807" in t for t, _ in batch), p.text
        total += len(batch)
        nonlocal talk
        talk += sum(1 for t, _ in batch if t.strip())

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(st.tuples(texts, names), min_size=BATCH, max_size=BATCH))
    def run(batch: list[tuple[str, str]]) -> None:
        asyncio.run_coroutine_threadsafe(feed(batch), loop).result()

    await loop.run_in_executor(None, run)
    assert total >= EXAMPLES * BATCH
    _check_stored(chat, stored, talk)


async def test_long_messages_names_and_titles(chat):
    text = "@政务助手 电梯坏了" + "长" * 100_000
    name = "名" * 300 + "\x00"
    group = chat.bot.group("标题" * 150 + "\x00\ud800", "longgroup")
    posted = await chat.bot.say(text, by=chat.bot.person(name, "longname"), chat=group)
    assert posted and all(p.text != APOLOGY for p in posted)
    question = chat.app.store.question(1)
    assert question is not None and len(question.text) > 100_000 - 10
    assert len(question.asker_name) == 200 and len(question.group_title) == 200
    # The same person keeps being heard (a NUL in the name must not block them on PostgreSQL).
    again = await chat.bot.say(
        "@政务助手 \x00还有\ud800漏水", by=chat.bot.person(name, "longname"), chat=group
    )
    assert again and all(p.text != APOLOGY for p in again)
    assert chat.app.store.question(2).text.startswith("\ufffd还有\ufffd漏水")


UPDATES = int(os.environ.get("MINYI_FUZZ_UPDATES", "1500"))
"""Generated Telegram updates per engine (on top of ``EVENTS``)."""

hostile = st.one_of(texts, st.text(max_size=40))
mentioned = st.builds(lambda text: "@minyi_bot " + text, hostile)


def _user(user_id: int, name: str) -> dict[str, object]:
    return {"id": user_id, "is_bot": False, "first_name": name or "\u200f"}


@st.composite
def telegram_updates(draw: st.DrawFn, update_id: int) -> dict[str, object]:
    """One Bot API update as Telegram would send it: a group or private message (mentioning the bot
    or not), an edited message, or a button press, each with hostile text, names and titles."""
    kind = draw(st.sampled_from(["message", "message", "mention", "edited_message", "button"]))
    user = _user(draw(st.integers(1, 9)), draw(names))
    private = draw(st.booleans()) and kind != "mention"
    chat: dict[str, object] = (
        {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        if private
        else {"id": -100123, "type": "supergroup", "title": draw(names) or "群"}
    )
    text = draw(mentioned if kind == "mention" else hostile) or "…"
    message: dict[str, object] = {
        "message_id": update_id,
        "date": 1_795_000_000 + update_id,
        "chat": chat,
        "from": user,
        "text": text,
    }
    if kind == "mention":
        message["entities"] = [{"type": "mention", "offset": 0, "length": len("@minyi_bot")}]
    if kind == "edited_message":
        message["edit_date"] = int(str(message["date"])) + 5
        return {"update_id": update_id, "edited_message": message}
    if kind == "button":
        data = draw(st.sampled_from(["rate:1:", "pick:1:", ""])) + draw(st.text(max_size=30))
        return {
            "update_id": update_id,
            "callback_query": {
                "id": str(update_id),
                "from": user,
                "chat_instance": "ci",
                "data": data[:64],
                "message": {**message, "from": {**user, "is_bot": True, "id": 99}},
            },
        }
    return {"update_id": update_id, "message": message}


async def test_hostile_telegram_updates_are_read_and_handled_on_both_engines(chat, app_factory):
    """``UPDATES`` generated Bot API updates read by the real Telegram adapter (python-telegram-bot's
    ``Update.de_json`` and minyi's conversion) and handled: none unreadable, no poison event, no
    apology, nothing evaluated as a template."""
    import json

    from bot.adapters.memory import MemoryAdapter
    from bot.adapters.telegram import TelegramAdapter

    loop = asyncio.get_running_loop()
    dispatcher = chat.app.dispatcher
    posted = MemoryAdapter(dispatcher.handle, platform="telegram", clock=chat.clock)
    dispatcher.connect(posted, bot_username="minyi_bot")
    reader = TelegramAdapter(
        "123456:hostile-test-token",
        dispatcher.receive,
        base_url="http://127.0.0.1:9/bot",
        aliases=["政务助手"],
    )
    reader.username = "minyi_bot"
    ids = iter(range(1, 10**9))
    read = 0

    async def feed(batch: list[dict[str, object]]) -> None:
        nonlocal read
        entries = []
        for update in batch:
            entry, _ = reader._read(update, json.dumps(update))  # the wire form: \uXXXX escapes
            if entry is not None:
                assert not entry.error, (entry.error, update)
                entries.append(entry)
        before = len(posted.outbox)
        await dispatcher.receive(entries)
        await dispatcher.process_pending()
        await dispatcher.postman.flush()
        for p in posted.outbox[before:]:
            assert p.text != APOLOGY, p.text
            assert not EVALUATED.search(p.text) or "16807" in json.dumps(batch), p.text
        read += len(batch)

    @settings(
        max_examples=max(1, UPDATES // BATCH),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        batch = [data.draw(telegram_updates(next(ids))) for _ in range(BATCH)]
        asyncio.run_coroutine_threadsafe(feed(batch), loop).result()

    await loop.run_in_executor(None, run)
    assert read >= max(1, UPDATES // BATCH) * BATCH
    assert chat.app.store.journal_health(0).inbox.get("poison", 0) == 0
