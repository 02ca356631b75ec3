"""Text analysis never runs on the event loop (a batch's on the database thread, where the batch runs;
anything else on the dispatcher's text thread): a long paste in a group or a question in a private chat
does not hold up every other chat while it is segmented, and only the start of a very long message is
analysed while the whole of it is stored."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import text

from bot.text.normalise import MAX_ANALYSED_CHARS

pytestmark = pytest.mark.asyncio


async def test_messages_are_analysed_off_the_event_loop_and_stored_whole(chat: Any) -> None:
    analyzer = chat.app.services.text
    threads: list[str] = []
    original = analyzer.intents

    def spy(texts: list[str]) -> Any:
        threads.append(threading.current_thread().name)
        return original(texts)

    analyzer.intents = spy
    paste = "请问3号楼电梯什么时候修好？" + "楼道里很吵。" * MAX_ANALYSED_CHARS
    await chat.bot.say(paste, by=chat.wang, chat=chat.group)
    await chat.bot.say("请问社保卡在哪里补办？", by=chat.liu, chat=chat.bot.private(chat.liu))
    assert len(threads) == 2
    loop_thread = threading.current_thread().name  # the test runs on the event loop's thread
    assert all(name.startswith(("minyi-text", "minyi-db")) for name in threads), threads
    assert loop_thread not in threads
    with chat.app.store.engine.connect() as connection:
        stored = connection.execute(text("select text, intent from messages")).all()
    assert [(len(t), intent) for t, intent in stored] == [(len(paste), "question")]
