"""End to end through the real python-wechaty SDK and the fake puppet service on 127.0.0.1.

The app is built by ``bot.app.build_app`` with WeChat enabled and started by ``start_platforms`` with
the endpoint/token in ``env`` — exactly the production path, minus the real WeChat.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

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
    RESIDENT_NAME,
    ROOM_ID,
)

from tests_support import ratings

QUESTION = f"@{BOT_NAME}\u2005小区电梯坏了三天了，老人上下楼很不方便，什么时候能修好？"


def in_room(entry: Any) -> bool:
    return entry.conversation_id == ROOM_ID


def to_official(entry: Any) -> bool:
    return entry.conversation_id == OFFICIAL_ID


async def test_question_answer_rating_round_trip(fake: Any, wechat_app: Any) -> None:
    app = wechat_app
    adapter = app.adapters[0]
    assert adapter.platform == "wechat"
    assert adapter.username == BOT_NAME  # from the bot's own contact payload after login
    assert app.services.bot_usernames["wechat"] == BOT_NAME

    # 1. A resident @-mentions the bot in the room → acknowledgement in the room with Q1.
    asked = fake.inject_room_message(ROOM_ID, RESIDENT_ID, QUESTION, mention_ids=[BOT_ID])
    ack = await fake.wait_for_sent(in_room)
    assert "Q1" in ack.text
    assert ack.mention_ids == (RESIDENT_ID,)
    assert ack.text.startswith(f"@{RESIDENT_NAME}")  # WeChat shows the mention in the text

    # 2. The official privately gets numbered suggestions.
    suggestions = await fake.wait_for_sent(to_official)
    assert "Q1" in suggestions.text
    assert "1." in suggestions.text and "2." in suggestions.text
    assert suggestions.mention_ids == ()

    # 3. The official answers "2" in the private chat → the answer goes to the room, mentioning her.
    mark = len(fake.sent)
    fake.inject_private_message(OFFICIAL_ID, "2")
    answer = await fake.wait_for_sent(lambda s: in_room(s) and "【Q1 答复】" in s.text, after=mark)
    assert answer.mention_ids == (RESIDENT_ID,)
    assert answer.text.startswith(f"@{RESIDENT_NAME}")
    assert "Q1" in answer.text
    confirmation = await fake.wait_for_sent(to_official, after=mark)
    assert "Q1" in confirmation.text

    # 4. The resident rates it in the room.
    mark = len(fake.sent)
    fake.inject_room_message(ROOM_ID, RESIDENT_ID, "满意")
    thanks = await fake.wait_for_sent(in_room, after=mark)
    assert "满意" in thanks.text or "感谢" in thanks.text or "谢谢" in thanks.text
    # A reply to her message: no quoting in this SDK, so the adapter @-mentions her instead.
    assert thanks.mention_ids == (RESIDENT_ID,)

    # 5. The store has it all.
    store = app.store
    question = store.question(1)
    assert question is not None
    assert question.platform == "wechat" and question.chat_id == ROOM_ID
    assert question.platform_message_id == asked
    assert question.asker_user_id == RESIDENT_ID
    assert question.state in ("answered", "resolved")
    assert question.answer_platform_message_id  # the id MessageSendText returned
    assert ratings(store, 1) == ["satisfied"]
    now = datetime.now(UTC)
    summary = store.summary(now - timedelta(days=1), now + timedelta(minutes=1), now)
    assert summary.total.questions == 1
    assert summary.total.answered == 1
    assert summary.total.rated == 1 and summary.total.satisfied == 1
    official = next(t for t in summary.officials if t.label.startswith("张伟"))
    assert official.answered == 1

    # Nothing was sent twice, and the bot's own echoed posts were not treated as messages.
    assert len({s.message_id for s in fake.sent}) == len(fake.sent)
    assert store.question(2) is None


async def test_an_answer_the_service_never_confirms_is_posted_once(
    fake: Any, wechat_app: Any
) -> None:
    # The puppet service posts the answer but never answers the call: after bot.toml's send_timeout
    # (2 s here, 30 s by default) the official is asked to check the room; nothing is sent again.
    fake.inject_room_message(ROOM_ID, RESIDENT_ID, QUESTION, mention_ids=[BOT_ID])
    await fake.wait_for_sent(to_official)
    mark = len(fake.sent)
    fake.unanswered_sends = 1
    fake.inject_private_message(OFFICIAL_ID, "1")
    told = await fake.wait_for_sent(
        lambda s: to_official(s) and "没有收到平台确认" in s.text, after=mark, timeout=8.0
    )
    assert "到群里查看" in told.text
    assert [in_room(s) for s in fake.sent[mark:] if "【Q1 答复】" in s.text] == [True]  # once
    assert wechat_app.store.question(1).state == "open"


async def ask_and_answer(fake: Any) -> Any:
    """Q1 asked in the room and answered with suggestion 1; returns the posted answer."""
    fake.inject_room_message(ROOM_ID, RESIDENT_ID, QUESTION, mention_ids=[BOT_ID])
    await fake.wait_for_sent(to_official)
    mark = len(fake.sent)
    fake.inject_private_message(OFFICIAL_ID, "1")
    return await fake.wait_for_sent(lambda s: in_room(s) and "【Q1 答复】" in s.text, after=mark)


async def test_rating_by_quoting_the_answer_with_a_digit(fake: Any, wechat_app: Any) -> None:
    """WeChat renders a quote into the text; the adapter finds the quoted bot post by its text."""
    answer = await ask_and_answer(fake)
    body = answer.text.split(" ", 1)[1]  # without the "@王阿姨 " prefix
    quoted = body[:40] + "…"  # clients shorten long quotes
    mark = len(fake.sent)
    fake.inject_room_message(
        ROOM_ID, RESIDENT_ID, f"「{BOT_NAME}：{quoted}」\n- - - - - - - - - - - - - - -\n3"
    )
    reply = await fake.wait_for_sent(in_room, after=mark)
    assert "Q1" in reply.text and reply.mention_ids == (RESIDENT_ID,)
    assert ratings(wechat_app.store, 1) == ["unsatisfied"]


async def test_bot_ignores_its_own_echo_and_chatter_without_mention(
    fake: Any, wechat_app: Any
) -> None:
    fake.inject_room_message(ROOM_ID, RESIDENT_ID, "今天天气不错")  # not addressed to the bot
    fake.inject_room_message(ROOM_ID, BOT_ID, f"@{RESIDENT_NAME} 你好")  # the bot's own account
    marker = fake.inject_room_message(ROOM_ID, RESIDENT_ID, QUESTION, mention_ids=[BOT_ID])
    ack = await fake.wait_for_sent(in_room)
    assert "Q1" in ack.text
    assert wechat_app.store.question(2) is None
    assert marker in fake.messages


async def test_start_fails_clearly_without_a_service(tmp_path: Any) -> None:
    from wechat_support import wechat_settings

    from bot.adapters.wechat import WechatAdapter

    async def journal(_batch: Any) -> None:
        return None

    adapter = WechatAdapter("127.0.0.1:9", "test", journal, login_timeout=0.5)  # port 9: nobody
    with pytest.raises(RuntimeError, match="did not log in"):
        await adapter.start()
    assert wechat_settings(f"sqlite:///{tmp_path}/x.db").wechat.enabled


async def test_officials_joining_and_leaving_a_room(fake: Any, wechat_app: Any) -> None:
    """MEMBER_LEFT unassigns the official from the room, MEMBER_JOINED assigns them again."""
    store = wechat_app.store

    def assigned() -> list[str]:
        return [o.name for o in store.officials_for_group("wechat", ROOM_ID)]

    assert assigned() == ["张伟"]
    fake.inject_room_leave(ROOM_ID, [OFFICIAL_ID], "wxid_owner01")
    await wait_until(lambda: assigned() == [])
    fake.inject_room_join(ROOM_ID, [OFFICIAL_ID], RESIDENT_ID)
    await wait_until(lambda: assigned() == ["张伟"])


async def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_the_puppet_token_never_reaches_the_logs(
    fake: Any, tmp_path: Any, caplog: Any
) -> None:
    import logging

    from wechat_support import wechat_settings

    from bot.app import build_app

    secret = "puppet_padlocal_Sekr1tT0ken42"
    caplog.set_level(logging.DEBUG)
    app = build_app(wechat_settings(f"sqlite:///{tmp_path / 'minyi.db'}"))
    try:
        await app.start_platforms(
            env={
                "WECHATY_PUPPET_SERVICE_ENDPOINT": fake.endpoint,
                "WECHATY_PUPPET_SERVICE_TOKEN": secret,
            }
        )
        fake.inject_room_message(ROOM_ID, RESIDENT_ID, QUESTION, mention_ids=[BOT_ID])
        await fake.wait_for_sent(in_room)
    finally:
        await app.close_platforms()
        app.close()
    assert caplog.records, "the SDK and the adapter log at DEBUG; nothing captured means no check"
    assert all(secret not in record.getMessage() for record in caplog.records)
    assert secret not in caplog.text
