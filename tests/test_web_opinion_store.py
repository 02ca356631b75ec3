"""The store behind the console's opinion pages, on both engines: topics counted per local day within
a scope and bucketed by week over a long period; the registry filtered by status, period and scope,
each entry with its history in order (issues 16 and 17)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from itertools import count

import pytest

from bot.web.topic_trend import topic_trend
from storage import RegistryQuery, Store, SuggestionStatus, make_engine, upgrade
from storage.reports import ReportScope
from web_world import CYL, XFL, ZONE, at, build_world

_ids = count(1000)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    engine = make_engine(db_url)
    upgrade(engine)
    found = Store(engine)
    build_world(found)
    yield found
    engine.dispose()


def say(store: Store, chat: str, text: str, when: datetime, topic: str | None = None) -> int:
    """A resident's message in ``chat`` (``xfl`` or ``cyl``); returns its stored id."""
    info = store.record_message(
        platform="test",
        chat_id=chat,
        chat_title=XFL if chat == "xfl" else CYL,
        is_group=True,
        platform_message_id=f"m{next(_ids)}",
        sender_id="resident",
        sender_name="居民",
        text=text,
        sent_at=when,
        intent="complaint",
        intent_confidence=0.9,
        intent_confident=True,
        topic_key=topic,
    )
    assert info is not None
    return info.id


def group_id(store: Store, chat: str) -> int:
    return next(g.id for g in store.all_groups() if g.chat_id == chat)


def test_topics_are_counted_per_local_day_within_the_scope(store: Store) -> None:
    say(store, "xfl", "又停水了", at(16, 23, 30), "停水")
    say(store, "xfl", "还没来水", at(16, 23, 50), "停水")
    say(store, "xfl", "停水一夜了", at(17, 0, 10), "停水")  # after local midnight: the 17th
    say(store, "cyl", "电梯又坏了", at(17, 9), "test:cyl|电梯")
    say(store, "cyl", "今天天气不错", at(17, 9, 5))  # no topic: not counted
    found = store.topics_by_day(at(16, 0), at(18, 0), ZONE)
    assert found == {
        "停水": {date(2026, 11, 16): 2, date(2026, 11, 17): 1},
        "test:cyl|电梯": {date(2026, 11, 17): 1},
    }
    cyl_only = ReportScope(group_ids=frozenset({group_id(store, "cyl")}))
    assert store.topics_by_day(at(16, 0), at(18, 0), ZONE, cyl_only) == {
        "test:cyl|电梯": {date(2026, 11, 17): 1}
    }
    # Over a quarter the trend counts by week (from Monday); the busiest topic first, named as
    # people say it (the group prefix of a local topic dropped).
    trend = topic_trend(found, date(2026, 9, 1), date(2026, 11, 30))
    assert trend.weekly and trend.buckets[0] == date(2026, 8, 31)
    assert [label for label, _ in trend.series] == ["停水", "电梯"]
    week = trend.buckets.index(date(2026, 11, 16))
    assert [values[week] for _, values in trend.series] == [3, 1]
    assert sum(trend.series[0][1]) == 3


def test_the_registry_is_filtered_by_status_period_and_scope(store: Store) -> None:
    lockers = say(store, "xfl", "建议多装快递柜", at(16, 9))
    benches = say(store, "cyl", "建议加几个长椅", at(17, 9))
    first, _ = store.register_suggestion(lockers, at(16, 9))
    second, _ = store.register_suggestion(benches, at(17, 9))
    zhang = next(o for o in store.roster_listing() if o.name == "张伟")
    store.change_suggestion(
        first.id, SuggestionStatus.STUDYING, "商量场地", official_id=zhang.id, at=at(16, 10)
    )
    store.change_suggestion(
        first.id, SuggestionStatus.ADOPTED, "下月安装", official_id=zhang.id, at=at(18, 10)
    )

    def numbers(query: RegistryQuery) -> list[str]:
        return [e.number for e in store.registry_search(query)]

    assert numbers(RegistryQuery()) == [second.number, first.number]  # newest first
    assert numbers(RegistryQuery(status=SuggestionStatus.ADOPTED)) == [first.number]
    assert numbers(RegistryQuery(since=at(17, 0), until=at(18, 0))) == [second.number]
    xfl_only = ReportScope(group_ids=frozenset({group_id(store, "xfl")}))
    assert numbers(RegistryQuery(scope=xfl_only)) == [first.number]
    assert store.registry_tally(RegistryQuery()) == {
        SuggestionStatus.ADOPTED: 1,
        SuggestionStatus.RECEIVED: 1,
    }
    assert store.registry_tally(RegistryQuery(scope=xfl_only)) == {SuggestionStatus.ADOPTED: 1}
    history = store.registry_history(RegistryQuery(scope=xfl_only))
    assert list(history) == [first.id]
    assert [(c.status, c.note, c.official_name) for c in history[first.id]] == [
        (SuggestionStatus.RECEIVED, "", ""),
        (SuggestionStatus.STUDYING, "商量场地", "张伟"),
        (SuggestionStatus.ADOPTED, "下月安装", "张伟"),
    ]
