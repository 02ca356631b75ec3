"""A database outage (PostgreSQL restarting, a network blip): what residents say meanwhile is waited
out and handled once the database is back, not lost.

The outage is real: the app talks to PostgreSQL through a local TCP relay that the test cuts (every
open connection dropped, new ones refused) and restores. The driver, pool and server are the real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from bot.adapters.memory import MemoryAdapter
from storage import StoreUnavailable


class Relay:
    """A TCP relay on 127.0.0.1 to ``host:port`` that can be cut and restored.

    It runs its own event loop in a thread: the app also reaches the database from synchronous code
    (building the app runs the migrations), which would block a relay on the test's loop.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port_to = host, port
        self.up = True
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> Relay:
        self._thread.start()
        server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        ).result(10)
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port_to)
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        sink.transport.abort()

    async def _cut(self) -> None:
        self.up = False
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    def cut(self) -> None:
        """Drop every open connection and refuse new ones."""
        asyncio.run_coroutine_threadsafe(self._cut(), self._loop).result(10)

    def restore(self) -> None:
        """Accept connections again."""
        self.up = True

    def close(self) -> None:
        self.cut()
        self._server.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def relay(db_url: str) -> Any:
    url = make_url(db_url)
    relay = Relay(url.host or "127.0.0.1", url.port or 5432).start()
    yield relay, url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    relay.close()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_question_asked_during_an_outage_is_answered_when_the_database_is_back(
    relay, app_factory, clock, caplog
):
    relay, url = relay
    app = app_factory(url)
    bot = MemoryAdapter(app.dispatcher.handle, clock=clock)
    app.dispatcher.connect(bot, bot_username="minyi_bot")
    wang, group = bot.person("王阿姨", "wangayi"), bot.group("幸福里小区", "xingfuli")
    relay.cut()
    asking = asyncio.ensure_future(bot.say("@政务助手 电梯坏了什么时候修？", by=wang, chat=group))
    await asyncio.sleep(1.5)
    assert not asking.done()  # waiting for the database, not failed
    assert "database unavailable" in caplog.text
    relay.restore()
    posted = await asyncio.wait_for(asking, 30)
    assert posted[0].chat_id == "xingfuli" and "编号 Q1" in posted[0].text
    assert any(p.chat_id == "zhangwei" and "Q1" in p.text for p in posted)  # the official's alert
    assert app.store.question(1).text == "电梯坏了什么时候修？"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_an_outage_longer_than_the_patience_is_reported(relay, app_factory, clock, caplog):
    relay, url = relay
    app = app_factory(url)
    app.dispatcher.store_patience = 1.0
    bot = MemoryAdapter(app.dispatcher.handle, clock=clock)
    app.dispatcher.connect(bot, bot_username="minyi_bot")
    relay.cut()
    with caplog.at_level(logging.ERROR), pytest.raises(StoreUnavailable):
        await bot.say(
            "@政务助手 电梯坏了",
            by=bot.person("王阿姨", "wangayi"),
            chat=bot.group("幸福里小区", "xingfuli"),
        )
    assert "gave up on event msg:xingfuli:" in caplog.text
    relay.restore()
    # The database is back: the next message is handled as usual.
    posted = await bot.say(
        "@政务助手 电梯坏了",
        by=bot.person("王阿姨", "wangayi"),
        chat=bot.group("幸福里小区", "xingfuli"),
    )
    assert "编号 Q1" in posted[0].text
