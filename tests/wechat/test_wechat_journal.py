"""The WeChat adapter journals on arrival: in stream order, unreadable payloads kept, outages waited out.

Puppet services push an event once and never again, so the journal is the only place it survives.
Real python-wechaty against the fake puppet service; the journal is a recording fake.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

pytest.importorskip(
    "bot.adapters.wechat",
    reason="wechaty is not installed: pip install 'minyi[wechat]'",
    exc_type=ImportError,
)

from wechat_support import OFFICIAL_ID, RESIDENT_ID, ROOM_ID, SUPERVISOR_ID

from bot.events import EventKind
from tests_support import RecordingJournal, SteppingClock

OTHER_ROOM = "99887766@chatroom"


async def test_events_are_journaled_one_by_one_in_arrival_order(
    fake: Any, make_adapter: Any
) -> None:
    fake.add_room(OTHER_ROOM, "阳光花园", [RESIDENT_ID, SUPERVISOR_ID])
    journal = RecordingJournal()
    adapter = make_adapter(journal)
    await adapter.start()
    assert adapter.buttons is False
    ids = [
        fake.inject_room_message(ROOM_ID, RESIDENT_ID, "一楼"),
        fake.inject_room_message(OTHER_ROOM, SUPERVISOR_ID, "二楼"),
        fake.inject_private_message(OFFICIAL_ID, "私聊"),
        fake.inject_room_message(ROOM_ID, RESIDENT_ID, "三楼"),
        fake.inject_room_message(OTHER_ROOM, RESIDENT_ID, "四楼"),
    ]
    await journal.wait(5)
    fake.inject_room_join(ROOM_ID, [SUPERVISOR_ID], RESIDENT_ID)
    entries = await journal.wait(6)
    assert [len(batch) for batch in journal.batches] == [1] * 6  # each on arrival
    assert [e.event.message_id for e in entries[:5]] == ids
    assert [e.event.text for e in entries[:5]] == ["一楼", "二楼", "私聊", "三楼", "四楼"]
    assert [e.chat_key for e in entries[:5]] == [
        f"wechat:{ROOM_ID}",
        f"wechat:{OTHER_ROOM}",
        f"wechat:{OFFICIAL_ID}",
        f"wechat:{ROOM_ID}",
        f"wechat:{OTHER_ROOM}",
    ]
    assert entries[0].key == f"msg:{ROOM_ID}:{ids[0]}"
    assert json.loads(entries[0].raw)["message"]["text"] == "一楼"  # the puppet's payloads
    joined = entries[5]
    assert joined.event.kind is EventKind.MEMBER_JOINED
    assert [m.user_id for m in joined.event.members] == [SUPERVISOR_ID]
    assert json.loads(joined.raw)["event"] == "room-join"


async def test_an_unconvertible_payload_is_journaled_as_unreadable(
    fake: Any, make_adapter: Any
) -> None:
    journal = RecordingJournal()
    adapter = make_adapter(journal)
    await adapter.start()
    # A timestamp thousands of years ahead: no datetime can hold it.
    broken = fake.inject_room_message(ROOM_ID, RESIDENT_ID, "时间错乱", timestamp=10**18)
    after = fake.inject_room_message(ROOM_ID, RESIDENT_ID, "正常消息")
    bad, good = await journal.wait(2)
    assert bad.event is None and bad.key == f"message:{broken}"
    assert bad.chat_key == "wechat:?" and bad.error
    assert json.loads(bad.raw)["message"]["text"] == "时间错乱"
    assert good.event.message_id == after and good.event.text == "正常消息"


async def test_a_failing_journal_is_retried_and_nothing_is_lost(
    fake: Any, make_adapter: Any
) -> None:
    journal = RecordingJournal()
    journal.fail(3)
    pauses = SteppingClock()
    adapter = make_adapter(journal, sleep=pauses.sleep)
    await adapter.start()
    ids = [fake.inject_room_message(ROOM_ID, RESIDENT_ID, f"第{i}条") for i in range(3)]
    entries = await journal.wait(3)
    assert [e.event.message_id for e in entries] == ids  # once each, in order
    assert journal.calls == 3 + 3
    assert pauses.slept == [0.2, 0.4, 0.8]  # backing off from reconnect_delay


async def test_stop_waits_for_the_event_being_journaled(fake: Any, make_adapter: Any) -> None:
    journal = RecordingJournal()
    journal.hold()
    adapter = make_adapter(journal)
    await adapter.start()
    taken = fake.inject_room_message(ROOM_ID, RESIDENT_ID, "停机前最后一条")
    await journal.entered.wait()
    stopping = asyncio.create_task(adapter.close())
    await asyncio.sleep(0)  # stop has begun and waits for the journal
    journal.release()
    await asyncio.wait_for(stopping, 10)
    assert [e.event.message_id for e in journal.entries] == [taken]
