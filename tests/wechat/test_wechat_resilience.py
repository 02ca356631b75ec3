"""The puppet service going away and coming back: reconnect fast, lose nothing, journal nothing twice.

Also: per-chat ordering under load, the per-room send rate limit on the real send path, and teardown.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import pytest

from tests_support import RecordingJournal, SteppingClock

pytest.importorskip(
    "bot.adapters.wechat",
    reason="wechaty is not installed: pip install 'minyi[wechat]'",
    exc_type=ImportError,
)

from wechat_support import (
    BOT_ID,
    BOT_NAME,
    OFFICIAL_ID,
    RESIDENT_ID,
    ROOM_ID,
)

from bot.events import (
    DeliveryUncertain,
    IncomingMessage,
    OutgoingMessage,
    Received,
    Undeliverable,
)

QUESTION = f"@{BOT_NAME}\u2005小区门口的路灯坏了一个星期，晚上很黑，请尽快修理。"


class Recorder(RecordingJournal):
    """A journal that records what the adapter journaled."""

    @property
    def messages(self) -> list[IncomingMessage]:
        return self.events

    @property
    def ids(self) -> list[str]:
        return [m.message_id for m in self.events]

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        await self.wait_until(lambda: len(self.events) >= count, timeout)


async def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_restart_between_messages_reconnects_quickly(fake: Any, make_adapter: Any) -> None:
    recorder = Recorder()
    adapter = make_adapter(recorder)
    await adapter.start()
    first = fake.inject_room_message(ROOM_ID, RESIDENT_ID, "第一条")
    await recorder.wait_for(1)

    began = time.monotonic()
    await fake.stop()
    await wait_until(lambda: not adapter.connected)
    # Injected while the service is down: delivered on the next stream.
    second = fake.inject_room_message(ROOM_ID, RESIDENT_ID, "第二条")
    third = fake.inject_private_message(OFFICIAL_ID, "第三条")
    await asyncio.sleep(0.5)
    await fake.start()
    await recorder.wait_for(3)
    assert time.monotonic() - began < 5  # not the SDK's 60 s sleep
    assert recorder.ids == [first, second, third]
    assert adapter.reconnects >= 1
    assert fake.streams_opened >= 2

    # The connection is usable for sending again.
    await adapter.send(OutgoingMessage(platform="wechat", chat_id=ROOM_ID, text="恢复了"))
    assert fake.sent_to(ROOM_ID)[-1].text == "恢复了"


async def test_crash_while_the_bot_fetches_a_message(fake: Any, make_adapter: Any) -> None:
    """The stream dies between the event and its payload: the message must still arrive, once.

    (python-wechaty's own bridge marks the id as seen before fetching, and would drop the re-sent
    event after the reconnect.)
    """
    recorder = Recorder()
    adapter = make_adapter(recorder)
    await adapter.start()
    doomed = "msg-crash-1"
    fake.crash_on_fetch(doomed)
    fake.inject_room_message(ROOM_ID, RESIDENT_ID, QUESTION, message_id=doomed)
    after = fake.inject_room_message(ROOM_ID, RESIDENT_ID, "后面一条")
    await recorder.wait_for(2, timeout=15)
    await asyncio.sleep(0.3)  # room for a duplicate to show up
    assert recorder.ids == [doomed, after]
    assert adapter.reconnects >= 1


async def test_a_hung_service_is_detected_by_the_keepalive(fake: Any, make_adapter: Any) -> None:
    """A stream that stays open but carries nothing (half-open TCP, hung service) is replaced."""
    recorder = Recorder()
    adapter = make_adapter(recorder, keepalive=0.3, keepalive_timeout=0.3, login_timeout=1.0)
    await adapter.start()
    await asyncio.sleep(0.5)
    assert "Ding" in fake.calls and adapter.reconnects == 0  # idle but healthy: Ding answered
    fake.stall()
    stuck = fake.inject_room_message(ROOM_ID, RESIDENT_ID, "卡住时发的")
    await wait_until(lambda: adapter.reconnects >= 1)
    assert not recorder.messages
    fake.stall(False)
    await recorder.wait_for(1)
    assert recorder.ids == [stuck]


async def test_replayed_history_is_not_handled_twice(fake: Any, make_adapter: Any) -> None:
    fake.replay_on_restart = True
    recorder = Recorder()
    adapter = make_adapter(recorder)
    await adapter.start()
    ids = [fake.inject_room_message(ROOM_ID, RESIDENT_ID, f"消息{i}") for i in range(5)]
    await recorder.wait_for(5)
    await fake.restart(downtime=0.3)
    late = fake.inject_room_message(ROOM_ID, RESIDENT_ID, "重连后")
    await recorder.wait_for(6)
    await wait_until(lambda: all(fake.events_sent.count(i) == 2 for i in ids))  # replayed …
    await asyncio.sleep(0.2)
    assert recorder.ids == [*ids, late]  # … and dropped as already seen


async def test_service_restart_mid_conversation(fake: Any, wechat_app: Any) -> None:
    """The whole app: a question before the restart, the official's answer while it is down."""
    fake.replay_on_restart = True  # the restarted service also replays what it had delivered
    fake.inject_room_message(ROOM_ID, RESIDENT_ID, QUESTION, mention_ids=[BOT_ID])
    await fake.wait_for_sent(lambda s: s.conversation_id == OFFICIAL_ID)

    await fake.stop()
    fake.inject_private_message(OFFICIAL_ID, "1")  # written while the service is down
    await asyncio.sleep(0.3)
    await fake.restart()

    await fake.wait_for_sent(lambda s: s.conversation_id == ROOM_ID and "【Q1 答复】" in s.text)
    await fake.wait_for_sent(lambda s: s.conversation_id == OFFICIAL_ID and "已发布" in s.text)
    await asyncio.sleep(0.5)  # time for duplicates, if any
    room_posts = [s.text for s in fake.sent_to(ROOM_ID)]
    assert sum("编号 Q1" in t for t in room_posts) == 1, room_posts  # one acknowledgement
    assert sum("【Q1 答复】" in t for t in room_posts) == 1, room_posts  # one answer
    assert wechat_app.store.question(2) is None
    assert wechat_app.store.question(1).state == "answered"


async def test_bot_restart_dedupes_through_the_store(fake: Any, wechat_app: Any) -> None:
    """A new adapter (a bot process restart) gets the service's replay: the dispatcher skips it."""
    fake.replay_on_restart = True
    fake.inject_room_message(ROOM_ID, RESIDENT_ID, QUESTION, mention_ids=[BOT_ID])
    await fake.wait_for_sent(lambda s: s.conversation_id == OFFICIAL_ID)
    await wechat_app.close_platforms()
    sent_before = len(fake.sent)

    await fake.restart()  # marks everything as undelivered again
    await wechat_app.start_platforms(
        env={"WECHATY_PUPPET_SERVICE_ENDPOINT": fake.endpoint, "WECHATY_PUPPET_SERVICE_TOKEN": "t"}
    )
    await wait_until(lambda: not fake.undelivered)
    await asyncio.sleep(0.5)
    assert len(fake.sent) == sent_before  # nothing answered twice
    assert wechat_app.store.question(2) is None


async def test_order_is_kept_per_chat_under_load(fake: Any, make_adapter: Any) -> None:
    other_room = "99887766@chatroom"
    fake.add_room(other_room, "阳光花园", [RESIDENT_ID])
    seen: dict[str, list[str]] = {}

    async def slow_journal(batch: Sequence[Received]) -> None:
        for entry in batch:
            assert entry.event is not None
            message = entry.event
            await asyncio.sleep(0.002 if message.chat.chat_id == ROOM_ID else 0)  # a slow commit
            seen.setdefault(message.chat.chat_id, []).append(message.text)

    adapter = make_adapter(slow_journal)
    await adapter.start()
    for i in range(40):
        fake.inject_room_message(ROOM_ID if i % 2 else other_room, RESIDENT_ID, str(i))
    await wait_until(lambda: sum(len(v) for v in seen.values()) == 40)
    assert seen[ROOM_ID] == [str(i) for i in range(1, 40, 2)]
    assert seen[other_room] == [str(i) for i in range(0, 40, 2)]


async def test_room_sends_are_rate_limited_and_queued(fake: Any, make_adapter: Any) -> None:
    clock = SteppingClock()
    start = clock.now
    adapter = make_adapter(Recorder(), room_rate_per_minute=2, clock=clock, sleep=clock.sleep)
    await adapter.start()
    room = [
        OutgoingMessage(platform="wechat", chat_id=ROOM_ID, text=f"群消息{i}") for i in range(5)
    ]
    private = OutgoingMessage(platform="wechat", chat_id=OFFICIAL_ID, text="私信", is_private=True)
    results = await asyncio.gather(*(adapter.send(m) for m in room), adapter.send(private))
    assert [s.text for s in fake.sent_to(ROOM_ID)] == [f"群消息{i}" for i in range(5)]
    assert clock.now - start == pytest.approx(120.0)  # 2 now, 2 after a minute, 1 after two
    assert [s.text for s in fake.sent_to(OFFICIAL_ID)] == ["私信"]  # private chats: no limit
    assert len({r.message_id for r in results}) == 6
    assert all(r.message_id.startswith("sent-") for r in results)  # the service's ids


async def test_a_room_send_in_its_turn_takes_the_slot_the_turn_waited_for(
    fake: Any, make_adapter: Any
) -> None:
    """The outbox claims a send only in its turn under the room's limit (``Sender.turn``): the send
    made in the turn does not wait for a second slot, a turn left unused is not kept, and a private
    chat's turn comes at once."""
    clock = SteppingClock()
    start = clock.now
    adapter = make_adapter(Recorder(), room_rate_per_minute=1, clock=clock, sleep=clock.sleep)
    await adapter.start()
    first = OutgoingMessage(platform="wechat", chat_id=ROOM_ID, text="第一条")
    async with adapter.turn(first):
        await adapter.send(first)
    assert clock.now == start  # one slot, taken by the turn, used by the send
    async with adapter.turn(OutgoingMessage(platform="wechat", chat_id=ROOM_ID, text="第二条")):
        assert clock.now - start == pytest.approx(60.0)
    await adapter.send(OutgoingMessage(platform="wechat", chat_id=ROOM_ID, text="第三条"))
    assert clock.now - start == pytest.approx(120.0)  # the unused turn's slot was not reused
    private = OutgoingMessage(platform="wechat", chat_id=OFFICIAL_ID, text="私信", is_private=True)
    async with adapter.turn(private):
        await adapter.send(private)
    assert clock.now - start == pytest.approx(120.0)
    assert [s.text for s in fake.sent_to(ROOM_ID)] == ["第一条", "第三条"]


async def test_stop_is_clean_and_idempotent(fake: Any, make_adapter: Any) -> None:
    adapter = make_adapter(Recorder())
    await adapter.start()
    await adapter.close()
    assert not adapter.connected
    assert "Stop" in fake.calls[-2:]  # a polite Stop on the way out
    await adapter.close()
    with pytest.raises(RuntimeError):
        await adapter.send(OutgoingMessage(platform="wechat", chat_id=ROOM_ID, text="x"))


async def test_refused_conversation_is_undeliverable(fake: Any, make_adapter: Any) -> None:
    adapter = make_adapter(Recorder())
    await adapter.start()
    stranger = OutgoingMessage(
        platform="wechat", chat_id="wxid_not_a_friend", text="您好", is_private=True
    )
    with pytest.raises(Undeliverable, match="NOT_FOUND"):
        await adapter.send(stranger)
    await adapter.send(OutgoingMessage(platform="wechat", chat_id=ROOM_ID, text="仍然可用"))
    assert fake.sent_to(ROOM_ID)[-1].text == "仍然可用"


async def test_a_send_left_unanswered_is_not_repeated(fake: Any, make_adapter: Any) -> None:
    # The service posted it, but its answer never came back: sending again would post it twice.
    adapter = make_adapter(Recorder(), send_timeout=0.5)
    await adapter.start()
    fake.unanswered_sends = 1
    answer = OutgoingMessage(platform="wechat", chat_id=ROOM_ID, text="【Q1 答复】周二修好。")
    with pytest.raises(DeliveryUncertain, match="may already be posted"):
        await asyncio.wait_for(adapter.send(answer), 10)  # a bound, so a hang fails the test
    assert [s.text for s in fake.sent_to(ROOM_ID)] == ["【Q1 答复】周二修好。"]
    await adapter.send(OutgoingMessage(platform="wechat", chat_id=ROOM_ID, text="下一条"))
    assert [s.text for s in fake.sent_to(ROOM_ID)] == ["【Q1 答复】周二修好。", "下一条"]
