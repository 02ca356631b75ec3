"""Statements run on the driver's cursor (storage/driver.py) store and read what Core would, on both
engines: the same row for the same values (UTC times, cleaned and cut text, booleans, the defaults of
columns not given), the same results (datetimes back as aware UTC), the statement listeners hear
them, and a driver's error is SQLAlchemy's, a lost connection ``StoreUnavailable``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import cast

import pytest
from sqlalchemy import Table, bindparam, event, insert, select, text
from sqlalchemy.exc import IntegrityError

from storage import Store, StoreUnavailable, make_engine, upgrade
from storage.base import core
from storage.driver import DriverStatement
from storage.models import Message

MESSAGES = cast(Table, Message.__table__)
BEIJING = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 30, 16, 30, 5, 123456, tzinfo=BEIJING)


def values(message_id: str, person_id: int, group_id: int) -> dict[str, object]:
    """A message whose every value a bind processor changes: NUL and a lone surrogate in the text,
    an intent longer than its column, a time not in UTC, a boolean."""
    return {
        "platform": "test", "chat_id": "g1", "platform_message_id": message_id,
        "group_id": group_id, "person_id": person_id, "text": "又停水\x00了\ud800",
        "intent": "complaint-and-more-than-twenty", "intent_confidence": 0.75,
        "intent_confident": True, "department": "水务", "reply_to_platform_message_id": None,
        "from_official": False, "topic_key": "停水", "sent_at": T0,
    }  # fmt: skip


def stored_message(db_url, message_id, text, intent, confident):
    """A migrated store on ``db_url`` holding one group message; (engine, store, its record)."""
    engine = make_engine(db_url)
    upgrade(engine)
    store = Store(engine)
    stored = store.record_message(
        platform="test", chat_id="g1", chat_title="幸福里", is_group=True,
        platform_message_id=message_id, sender_id="r1", sender_name="王阿姨", text=text,
        sent_at=T0, intent=intent, intent_confidence=0.9 if confident else 0.1,
        intent_confident=confident,
    )  # fmt: skip
    assert stored is not None
    return engine, store, stored


def test_a_row_stored_on_the_driver_equals_the_row_core_stores(db_url):
    engine, store, first = stored_message(db_url, "seed", "你好", "chatter", False)
    assert first.group_id is not None
    given = values("driver", first.person_id, first.group_id)
    on_driver = DriverStatement(insert(MESSAGES).returning(MESSAGES.c.id), list(given))
    with store.unit_of_work() as unit:
        assert unit._bound is not None
        connection = core(unit._bound)
        driver_id = on_driver.scalar(connection, given)
        core_id = connection.execute(
            insert(MESSAGES).returning(MESSAGES.c.id), {**given, "platform_message_id": "core"}
        ).scalar()
    with engine.connect() as connection:
        stored = {
            row.platform_message_id: {
                k: v for k, v in row._mapping.items() if k not in ("id", "platform_message_id")
            }
            for row in connection.execute(
                select(MESSAGES).where(MESSAGES.c.id.in_([driver_id, core_id]))
            )
        }
        # And as the database holds them (SQLite keeps times as text: the same text).
        raw = connection.execute(
            text(
                "SELECT sent_at, text, intent, needs_attention FROM messages WHERE id IN (:a, :b)"
            ),
            {"a": driver_id, "b": core_id},
        ).all()
    assert stored["driver"] == stored["core"]
    assert (
        stored["driver"]["sent_at"] == T0 and stored["driver"]["intent"] == "complaint-and-more-t"
    )
    assert stored["driver"]["needs_attention"] is False  # the column's default, not given
    assert raw[0] == raw[1]
    engine.dispose()


def test_results_come_back_as_core_gives_them_and_listeners_hear_each_statement(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    store = Store(engine)
    for i in range(3):
        store.record_message(
            platform="test", chat_id="g1", chat_title="幸福里", is_group=True,
            platform_message_id=f"m{i}", sender_id="r1", sender_name="王阿姨", text="停水",
            sent_at=T0 + timedelta(minutes=i), intent="complaint", intent_confidence=0.9,
            intent_confident=True, topic_key="停水",
        )  # fmt: skip
    statement = (
        select(MESSAGES.c.sent_at, MESSAGES.c.platform_message_id, MESSAGES.c.intent_confident)
        .where(MESSAGES.c.topic_key == bindparam("key"), MESSAGES.c.sent_at >= bindparam("since"))
        .order_by(MESSAGES.c.id)
    )
    heard: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: heard.append(args[2]))
    params = {"key": "停水", "since": T0 + timedelta(minutes=1)}
    with store.unit_of_work() as unit:
        assert unit._bound is not None
        connection = core(unit._bound)
        on_driver = DriverStatement(statement).rows(connection, params)
        heard_driver = [sql for sql in heard if "messages" in sql]  # not SQLite's BEGIN
        on_core = [tuple(row) for row in connection.execute(statement, params)]
    assert on_driver == on_core
    assert [at for at, _, _ in on_driver] == [T0 + timedelta(minutes=m) for m in (1, 2)]
    assert all(at.tzinfo is not None and at.utcoffset() == timedelta(0) for at, _, _ in on_driver)
    assert len(heard_driver) == 1
    engine.dispose()


def test_a_refused_statement_raises_sqlalchemys_error_and_the_unit_rolls_back(db_url):
    engine, store, stored = stored_message(db_url, "m1", "建议装个路灯", "suggestion", True)
    with pytest.raises(IntegrityError), store.unit_of_work() as unit:
        unit.enter_suggestion(stored.id, T0)
        unit.enter_suggestion(stored.id, T0)  # one entry per message
    assert store.registry() == []
    assert store.enter_suggestion(stored.id, T0) > 0  # the connection is usable again
    engine.dispose()


def test_a_connection_lost_under_a_driver_statement_is_an_outage(db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("a SQLite file cannot lose its connection")
    engine = make_engine(db_url)
    upgrade(engine)
    store = Store(engine)
    bound = store.begin_unit()
    assert bound._bound is not None
    pid = core(bound._bound).exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with engine.connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    with pytest.raises(StoreUnavailable):
        bound.topic_tally("停水", window_start=T0, lookback_start=T0 - timedelta(days=7), until=T0)
    bound.end_unit(False)
    # The pool dropped the dead connection: the next unit works.
    assert store.topic_tally("停水", window_start=T0, lookback_start=T0, until=T0).count == 0
    engine.dispose()


def test_statements_that_cannot_be_compiled_once_are_refused():
    engine = make_engine("sqlite://")
    upgrade(engine)
    expanding = DriverStatement(
        select(MESSAGES.c.id).where(MESSAGES.c.id.in_(bindparam("ids", expanding=True)))
    )
    with engine.begin() as connection, pytest.raises(ValueError, match="expanding"):
        expanding.rows(connection, {"ids": [1]})
    with engine.connect() as connection, pytest.raises(RuntimeError, match="transaction"):
        DriverStatement(select(MESSAGES.c.id)).rows(connection, {})
    engine.dispose()


def test_marking_an_unaddressed_message_returns_its_groups_latest_alert(db_url):
    """The mark and the read of the group's latest alert are one statement: the alert of the
    group's messages already shown, not another group's, and not changed by the message marked."""
    engine = make_engine(db_url)
    upgrade(engine)
    store = Store(engine)

    def stored(message_id: str, chat_id: str, minutes: int) -> tuple[int, int]:
        info = store.record_message(
            platform="test", chat_id=chat_id, chat_title=chat_id, is_group=True,
            platform_message_id=message_id, sender_id="r1", sender_name="王阿姨", text="没人管吗",
            sent_at=T0 + timedelta(minutes=minutes), intent="complaint", intent_confidence=0.9,
            intent_confident=True,
        )  # fmt: skip
        assert info is not None and info.group_id is not None
        return info.id, info.group_id

    first, group = stored("m1", "g1", 0)
    assert store.mark_needs_attention(first, group) is None  # never shown
    assert [m.id for m in store.claim_unaddressed("test", "g1", T0 + timedelta(minutes=1))] == [
        first
    ]
    later = T0 + timedelta(minutes=40)
    other, other_group = stored("m2", "g2", 2)
    store.mark_needs_attention(other, other_group)
    store.claim_unaddressed("test", "g2", later)  # another group's alert, later
    second, _ = stored("m3", "g1", 3)
    assert store.mark_needs_attention(second, group) == T0 + timedelta(minutes=1)
    third, _ = stored("m4", "g1", 4)
    assert store.mark_needs_attention(third, group) == T0 + timedelta(minutes=1)
    with engine.connect() as connection:
        marked = connection.execute(
            select(MESSAGES.c.platform_message_id).where(MESSAGES.c.needs_attention.is_(True))
        ).scalars()
        assert sorted(marked) == ["m1", "m2", "m3", "m4"]
    engine.dispose()


def test_a_warning_refreshed_from_a_new_group_lists_the_bursts_groups_in_order(db_url):
    """``refresh_warning`` counts the burst's groups again (one statement compiled once) when the
    message's group is not listed yet: every group with a message in the window, by first message."""
    engine = make_engine(db_url)
    upgrade(engine)
    store = Store(engine)
    start = T0 - timedelta(minutes=30)

    def stored(message_id: str, chat_id: str, title: str, minutes: int, official: bool = False):
        info = store.record_message(
            platform="test", chat_id=chat_id, chat_title=title, is_group=True,
            platform_message_id=message_id, sender_id="r1", sender_name="王阿姨", text="停水",
            sent_at=start + timedelta(minutes=minutes), intent="complaint",
            intent_confidence=0.9, intent_confident=True, from_official=official,
            topic_key="停水",
        )  # fmt: skip
        assert info is not None
        return info

    stored("m0", "g0", "", -5)  # before the window: not in the burst
    stored("m1", "g1", "幸福里", 1)
    stored("m2", "g2", "", 2, official=True)  # an official's: not counted
    counts = store.topic_counts("停水", window_start=start, lookback_start=start, until=T0)
    warning = store.raise_warning(counts, label="停水", baseline=0.0, window_start=start, at=T0)
    assert warning.groups == "幸福里"
    stored("m3", "g3", "", 3)  # a group with no title: its chat id
    newest = stored("m4", "g4", "阳光花园", 4)
    store.refresh_warning(
        warning.id, count=3, message_id=newest.id, sent_at=newest.sent_at, group_title="阳光花园"
    )
    refreshed = store.warning(warning.id)
    assert refreshed is not None
    assert (refreshed.groups, refreshed.count, refreshed.latest_message_id) == (
        "幸福里、g3、阳光花园",
        3,
        newest.id,
    )
    engine.dispose()


def test_a_units_refreshes_are_those_of_the_messages_it_kept(db_url):
    """Refreshes made in a unit of work (on PostgreSQL applied at its commit, warning by warning)
    leave each warning as the unit's kept messages make it; a refresh made for a message whose
    savepoint was rolled back leaves no trace."""
    engine = make_engine(db_url)
    upgrade(engine)
    store = Store(engine)
    start = T0 - timedelta(minutes=30)
    warnings = []
    for n, topic in enumerate(("停水", "停电")):
        first = store.record_message(
            platform="test", chat_id="g1", chat_title="幸福里", is_group=True,
            platform_message_id=f"seed{n}", sender_id="r1", sender_name="王阿姨", text=topic,
            sent_at=start + timedelta(minutes=1), intent="complaint", intent_confidence=0.9,
            intent_confident=True, topic_key=topic,
        )  # fmt: skip
        assert first is not None
        counts = store.topic_counts(topic, window_start=start, lookback_start=start, until=T0)
        warnings.append(
            store.raise_warning(counts, label=topic, baseline=0.0, window_start=start, at=T0)
        )
    unit = store.begin_unit()
    kept = {}
    for n, (warning, title, keep) in enumerate(
        [
            (warnings[1], "阳光花园", True),
            (warnings[0], "幸福里", True),
            (warnings[0], "金色家园", False),
        ]
    ):
        savepoint = unit.begin_savepoint()
        info = unit.record_message(
            platform="test", chat_id=f"g{n + 2}", chat_title=title, is_group=True,
            platform_message_id=f"m{n}", sender_id="r1", sender_name="王阿姨", text=warning.label,
            sent_at=start + timedelta(minutes=5 + n), intent="complaint", intent_confidence=0.9,
            intent_confident=True, topic_key=warning.label,
        )  # fmt: skip
        assert info is not None
        unit.refresh_warning(
            warning.id, count=5 + n, message_id=info.id, sent_at=info.sent_at, group_title=title
        )
        unit.end_savepoint(savepoint, keep)
        if keep:
            kept[warning.id] = info.id
    unit.end_unit(commit=True)
    found = {w.id: store.warning(w.id) for w in warnings}
    water, power = (found[w.id] for w in warnings)
    assert water is not None and power is not None
    assert (water.groups, water.count, water.latest_message_id) == (
        "幸福里",
        6,
        kept[warnings[0].id],
    )
    assert (power.groups, power.count, power.latest_message_id) == (
        "幸福里、阳光花园",
        5,
        kept[warnings[1].id],
    )
    engine.dispose()
