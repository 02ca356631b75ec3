"""Bind codes: they expire (``[security] bind_code_hours``, default 24 h), die when typed anywhere but a
private chat, and wrong ones are throttled per account and audited."""

from __future__ import annotations

import pytest

from handlers.bind import IN_GROUP, THROTTLED, create_code

pytestmark = pytest.mark.asyncio


def code_for(chat, name: str = "张伟") -> str:
    return create_code(chat.app.store, chat.app.settings, name, chat.clock.now)


def bound(chat, user_id: str) -> str | None:
    official = chat.app.store.official_for_identity("test", user_id)
    return official.name if official else None


async def test_a_code_lasts_24_hours_by_default(chat):
    early, late = chat.bot.person("新号一", "new1"), chat.bot.person("新号二", "new2")
    first, second = code_for(chat), code_for(chat)
    chat.clock.advance(hours=23, minutes=59)
    assert "绑定成功" in (await chat.bot.say(f"/bind {first}", by=early))[0].text
    chat.clock.advance(minutes=2)
    assert "已过期" in (await chat.bot.say(f"/bind {second}", by=late))[0].text
    assert (bound(chat, "new1"), bound(chat, "new2")) == ("张伟", None)


async def test_the_lifetime_is_configured_in_bot_toml(dialogue):
    chat = dialogue(security={"bind_code_hours": 1})
    code = code_for(chat)
    chat.clock.advance(minutes=61)
    newcomer = chat.bot.person("新号", "new")
    assert "已过期" in (await chat.bot.say(f"/bind {code}", by=newcomer))[0].text
    assert bound(chat, "new") is None


async def test_a_code_typed_in_a_group_is_revoked(chat):
    code = code_for(chat)
    newcomer = chat.bot.person("张伟的新号", "zw2")
    posted = await chat.bot.say(f"/bind {code}", by=newcomer, chat=chat.group)
    assert [p.text for p in posted] == [IN_GROUP]
    # Neither the person who typed it nor anyone who read it can use it now.
    for who in (newcomer, chat.liu):
        posted = await chat.bot.say(f"/bind {code}", by=who)
        assert "已作废" in posted[0].text
    assert bound(chat, "zw2") is None and bound(chat, "liu") is None
    [refused, *failed] = chat.app.store.audit_since(chat.clock.now.replace(year=2000))
    assert (refused.outcome, refused.reason, refused.in_group) == ("refused", "chat", True)
    assert code not in refused.detail
    assert [f.outcome for f in failed] == ["failed", "failed"]


async def test_wrong_codes_are_throttled_per_account_and_audited(chat):
    guesser = chat.bot.person("试探者", "guesser")
    for attempt in range(5):
        posted = await chat.bot.say(f"/bind WRONG{attempt:03d}", by=guesser)
        assert "绑定码无效" in posted[0].text
        chat.clock.advance(minutes=1)
    code = code_for(chat)
    # The sixth try is refused without looking at the code, even a valid one.
    posted = await chat.bot.say(f"/bind {code}", by=guesser)
    assert posted[0].text == THROTTLED.format(minutes=10)
    assert bound(chat, "guesser") is None
    # Another account is not held up by someone else's guesses.
    other = chat.bot.person("别人", "someone")
    assert "绑定码无效" in (await chat.bot.say("/bind WRONG999", by=other))[0].text
    found = [
        r
        for r in chat.app.store.audit_since(chat.clock.now.replace(year=2000))
        if r.actor == "test:guesser"
    ]
    assert [(r.outcome, r.reason) for r in found] == [
        *[("failed", "invite_invalid")] * 5,
        ("refused", "too many wrong codes"),
    ]
    assert all(r.detail.startswith("/bind ****") and "WRONG" not in r.detail for r in found)
    # Once the window has passed the oldest failures, the account may try again.
    chat.clock.advance(minutes=6)
    assert "绑定成功" in (await chat.bot.say(f"/bind {code}", by=guesser))[0].text
    assert bound(chat, "guesser") == "张伟"
