"""Pure conversion of recorded puppet payloads into IncomingMessage, and the per-room rate limiter."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from tests_support import SteppingClock

pytest.importorskip(
    "bot.adapters.wechat",
    reason="wechaty is not installed: pip install 'minyi[wechat]'",
    exc_type=ImportError,
)

from wechat_support import BOT_ID, BOT_NAME, ROOM_ID, load_payload, payload_objects

from bot.adapters.shared import RateLimiter
from bot.adapters.wechat import (
    WechatAdapter,
    timestamp_to_utc,
    to_incoming,
    to_membership,
)
from bot.commands import strip_mention
from bot.events import EventKind, OutgoingMessage, event_key


def convert(name: str, **kwargs: object):  # type: ignore[no-untyped-def]
    message, talker, room, self_id = payload_objects(name)
    return to_incoming(message, talker, room, self_id=self_id, **kwargs)  # type: ignore[arg-type]


def test_room_mention() -> None:
    incoming = convert("room_mention")
    assert incoming is not None
    assert incoming.platform == "wechat"
    assert incoming.chat.chat_id == ROOM_ID
    assert incoming.chat.title == "幸福里小区业主群"
    assert incoming.chat.is_group and not incoming.is_private
    assert incoming.sender.user_id == "wxid_wangayi"
    assert incoming.sender.display_name == "王阿姨"
    assert incoming.sender.key == "wechat:wxid_wangayi"
    assert incoming.message_id == "3012418834781127650"
    assert incoming.mentions_bot is True
    # The text stays intact; the dispatcher strips "@name" (the SDK separates with U+2005).
    assert incoming.text == "@政务助手\u2005小区电梯坏了三天了，什么时候修？"
    assert strip_mention(incoming.text, [BOT_NAME]) == ("小区电梯坏了三天了，什么时候修？", True)
    assert incoming.sent_at == datetime(2025, 11, 16, 2, 30, 0, 123000, tzinfo=UTC)
    assert incoming.reply_to_text is None


def test_room_mention_flag_from_the_sdk_wins() -> None:
    assert convert("room_mention", mention_self=False).mentions_bot is False


def test_room_nickname_is_the_display_name() -> None:
    incoming = convert("room_mention", talker_room_alias="3号楼王阿姨")
    assert incoming is not None
    assert incoming.sender.display_name == "3号楼王阿姨"


def test_private_message() -> None:
    incoming = convert("private")
    assert incoming is not None
    assert not incoming.chat.is_group and incoming.is_private
    assert incoming.chat.chat_id == "wxid_zhangwei"  # private chats are the contact
    assert incoming.chat.title == "张伟"
    assert incoming.sender.user_id == "wxid_zhangwei"
    assert incoming.text == "2"
    assert incoming.mentions_bot is False
    assert incoming.sent_at == datetime(2025, 11, 16, 2, 40, tzinfo=UTC)  # seconds, not ms


def test_own_message_is_ignored() -> None:
    assert convert("self_message") is None


def test_traditional_chinese_kept_as_is() -> None:
    incoming = convert("traditional")
    assert incoming is not None
    assert incoming.text == "@政務助手 請問社區垃圾什麼時候清運？謝謝🙏"
    # No mention list from the puppet: the dispatcher's alias check decides (Traditional alias).
    assert incoming.mentions_bot is False
    assert incoming.sender.display_name == "陳先生"


def test_non_text_is_ignored() -> None:
    assert convert("image") is None


def test_sdk_mapped_type_is_understood() -> None:
    """After python-wechaty maps the wire enum, text is MESSAGE_TYPE_TEXT (6), image is 5."""
    from wechaty_puppet_service.puppet import _map_message_type

    message, talker, room, self_id = payload_objects("room_mention")
    assert to_incoming(_map_message_type(message), talker, room, self_id=self_id) is not None
    message, talker, room, self_id = payload_objects("image")
    assert to_incoming(_map_message_type(message), talker, room, self_id=self_id) is None


def test_quoted_reply() -> None:
    incoming = convert("quoted_reply", self_name=BOT_NAME)
    assert incoming is not None
    assert incoming.text == "满意"
    assert incoming.reply_to_text == "【Q1 答复】电梯已安排维修。"
    assert incoming.reply_to_sender_id == BOT_ID
    assert incoming.reply_to_message_id is None  # the puppet does not say which message


def test_missing_talker_payload_falls_back_to_the_id() -> None:
    message, _talker, room, self_id = payload_objects("room_mention")
    incoming = to_incoming(message, None, room, self_id=self_id)
    assert incoming is not None
    assert incoming.sender.display_name == "wxid_wangayi"


def membership(joined: bool, **changes: object):  # type: ignore[no-untyped-def]
    from wechaty_grpc.wechaty.puppet import ContactPayloadResponse, RoomPayloadResponse

    data = {**load_payload("room_join"), **changes}
    room = RoomPayloadResponse().from_dict(data["room"])
    members = [ContactPayloadResponse().from_dict(m) for m in data["members"]]  # type: ignore[attr-defined]
    actor = ContactPayloadResponse().from_dict(data["actor"]) if data["actor"] else None  # type: ignore[index]
    return to_membership(
        joined,
        room,
        members,
        actor,
        timestamp=data["event"]["timestamp"],  # type: ignore[index]
        self_id=data["selfId"],  # type: ignore[arg-type]
    )


def test_room_join() -> None:
    incoming = membership(True)
    assert incoming is not None
    assert incoming.kind is EventKind.MEMBER_JOINED
    assert incoming.chat.chat_id == ROOM_ID and incoming.chat.is_group
    assert [m.user_id for m in incoming.members] == ["wxid_lina"]  # the bot itself is left out
    assert incoming.members[0].display_name == "李娜"
    assert incoming.sender.user_id == "wxid_owner01"  # the inviter
    assert incoming.sent_at == datetime(2025, 11, 16, 3, 0, tzinfo=UTC)
    again = membership(True)
    assert event_key(incoming) == event_key(again)  # a redelivery has the same key
    assert event_key(incoming) != event_key(membership(False))


def test_room_leave_without_remover_and_bot_only() -> None:
    incoming = membership(False, actor=None)
    assert incoming is not None
    assert incoming.kind is EventKind.MEMBER_LEFT
    assert incoming.sender.user_id == "wxid_lina"  # left by herself
    assert membership(True, members=[{"id": BOT_ID, "name": BOT_NAME}]) is None


def test_timestamps() -> None:
    assert timestamp_to_utc(1763260200) == datetime(2025, 11, 16, 2, 30, tzinfo=UTC)
    assert timestamp_to_utc(1763260200000) == datetime(2025, 11, 16, 2, 30, tzinfo=UTC)
    fallback = datetime(2030, 1, 1, tzinfo=UTC)
    assert timestamp_to_utc(0, fallback) is fallback


def test_room_or_contact() -> None:
    room = OutgoingMessage(platform="wechat", chat_id=ROOM_ID, text="x")
    private = OutgoingMessage(platform="wechat", chat_id="wxid_zhangwei", text="x", is_private=True)
    assert WechatAdapter.is_room(room)
    assert not WechatAdapter.is_room(private)


async def test_rate_limit_queues_instead_of_dropping() -> None:
    clock = SteppingClock()
    limiter = RateLimiter(20, 60.0, clock=clock, sleep=clock.sleep)
    for _ in range(20):
        await limiter.acquire("room-a")
    assert clock.slept == []  # the first 20 go at once
    assert limiter.delay("room-a") == pytest.approx(60.0)
    await limiter.acquire("room-a")  # the 21st waits a minute …
    assert clock.now == pytest.approx(1060.0)
    await limiter.acquire("room-b")  # … other rooms are not affected
    assert clock.now == pytest.approx(1060.0)


async def test_rate_limit_keeps_order() -> None:
    clock = SteppingClock()
    limiter = RateLimiter(2, 60.0, clock=clock, sleep=clock.sleep)
    done: list[int] = []

    async def send(i: int) -> None:
        await limiter.acquire("room")
        done.append(i)

    await asyncio.gather(*(send(i) for i in range(7)))
    assert done == list(range(7))
    assert clock.now == pytest.approx(1000.0 + 3 * 60.0)  # pairs at 0, 60, 120, 180 s


async def test_rate_limit_is_a_sliding_window() -> None:
    clock = SteppingClock()
    limiter = RateLimiter(3, 60.0, clock=clock, sleep=clock.sleep)
    await limiter.acquire("room")
    clock.now += 30
    await limiter.acquire("room")
    await limiter.acquire("room")
    await limiter.acquire("room")  # waits for the first (t=0) to leave the window: t=60
    assert clock.now == pytest.approx(1060.0)
    assert limiter.delay("room") == pytest.approx(0.0 + 30.0)  # next slot when t=30's leave


def test_rate_limit_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0, 60.0)
