"""The early warning's topic counts from the hourly topic rollup equal counting the messages themselves.

Messages stored before migration 0015 (filled into ``topic_hours`` by the migration) and after it — one
by one through the store, in units of work with savepoints (on PostgreSQL counted at commit) and in one
multi-row INSERT (kept by the trigger) — at the turn of an hour and
inside one, officials' among them (never counted); then windows and lookbacks that are ragged, hour
aligned and shorter than an hour: ``topic_tally`` gives what a count of the raw rows gives, on both
engines — also inside a unit, for the unit's own messages of hours before (a batch catching up).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.orm import Session

from storage import Store, make_engine, upgrade
from storage.models import Group, Message, Person

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
KEYS = ("停水", "停电", "g1|电梯")


def message_rows(rng: random.Random, tag: str, n: int, group: int, person: int) -> list[dict]:
    """``n`` group messages over ten days, many of them a minute either side of an hour."""
    found = []
    for i in range(n):
        hour = T0 + timedelta(hours=rng.randrange(240))
        at = hour + rng.choice(
            [timedelta(seconds=rng.randrange(3600)), -timedelta(seconds=30), timedelta(0)]
        )
        found.append(
            {
                "platform": "test", "chat_id": "g1", "platform_message_id": f"{tag}-{i}",
                "group_id": group, "person_id": person, "text": "又停水了", "intent": "complaint",
                "intent_confidence": 0.9, "intent_confident": True, "department": "",
                "from_official": rng.random() < 0.2, "sent_at": at,
                "topic_key": rng.choice([*KEYS, None]),
            }
        )  # fmt: skip
    return found


def record(store: Store, r: dict) -> object:
    """Store message row ``r`` as the bot does (``record_message``)."""
    return store.record_message(
        platform="test", chat_id="g1", chat_title="幸福里", is_group=True,
        platform_message_id=r["platform_message_id"], sender_id="r1", sender_name="王阿姨",
        text=r["text"], sent_at=r["sent_at"], intent="complaint", intent_confidence=0.9,
        intent_confident=True, from_official=r["from_official"], topic_key=r["topic_key"],
    )  # fmt: skip


def raw_tally(
    rows: list[dict], key: str, window_start, lookback_start, until
) -> tuple[int, int, int]:
    """What ``topic_tally`` must say, counted in Python."""
    previous_start = window_start - (until - window_start)
    times = [r["sent_at"] for r in rows if r["topic_key"] == key and not r["from_official"]]
    return (
        sum(window_start <= t <= until for t in times),
        sum(previous_start <= t < window_start for t in times),
        sum(lookback_start <= t < window_start for t in times),
    )


def test_the_topic_counts_from_the_rollup_equal_the_raw_counts(db_url):
    rng = random.Random(15)
    engine = make_engine(db_url)
    upgrade(engine, "0014")
    with Session(engine) as session, session.begin():
        group = Group(platform="test", platform_chat_id="g1", title="幸福里", created_at=T0)
        person = Person(
            platform="test", platform_user_id="r1", display_name="王阿姨", first_seen_at=T0
        )
        session.add_all([group, person])
        session.flush()
        ids = group.id, person.id
    before = message_rows(rng, "before", 400, *ids)
    with engine.begin() as connection:
        connection.execute(insert(Message), before)
    upgrade(engine)  # 0015 fills the hours of the messages stored so far
    store = Store(engine)
    one_by_one = message_rows(rng, "one", 150, *ids)
    for r in one_by_one:
        assert record(store, r)
    # In units of work, as the dispatcher's batches store them (on PostgreSQL counted at commit,
    # storage/topic_rollup.py): an event's savepoint rolled back (a unit's first among them, and
    # what it told the trigger with it) and a whole unit rolled back leave nothing counted.
    in_units = message_rows(rng, "unit", 200, *ids)
    kept = []
    for start in range(0, len(in_units), 50):
        unit = store.begin_unit()
        for n, r in enumerate(in_units[start : start + 50]):
            savepoint = unit.begin_savepoint()
            assert record(unit, r)
            unit.end_savepoint(savepoint, keep=n % 7 != 0)
            if n % 7 != 0:
                kept.append(r)
        unit.end_unit(commit=start < 150)
    kept = [r for r in kept if r in in_units[:150]]
    many = message_rows(rng, "many", 150, *ids)
    with engine.begin() as connection:
        connection.execute(insert(Message), many)
    rows = before + one_by_one + kept + many

    checked = 0
    for until in [
        T0 + timedelta(days=d, minutes=m) for d in (1, 4, 9) for m in (0, 17, 60 * 5 + 59)
    ]:
        for window in (timedelta(minutes=30), timedelta(hours=2)):
            for lookback in (
                timedelta(days=7),
                timedelta(hours=3, minutes=20),
                timedelta(minutes=40),
            ):
                window_start = until - window
                lookback_start = window_start - lookback
                for key in KEYS:
                    tally = store.topic_tally(
                        key, window_start=window_start, lookback_start=lookback_start, until=until
                    )
                    expected = raw_tally(rows, key, window_start, lookback_start, until)
                    assert (tally.count, tally.previous, tally.lookback) == expected
                    checked += expected[2] > 0
    assert checked > 20  # the lookbacks counted real messages, not only empty ranges
    engine.dispose()


def test_a_units_own_messages_of_earlier_hours_count_in_its_lookback(db_url):
    """The early warning asks at each message of a batch, inside its unit: the unit's own earlier
    messages count in the lookback's whole hours there too (PostgreSQL adds them to the rollup
    only at commit), as they do after the commit."""
    engine = make_engine(db_url)
    upgrade(engine)
    store = Store(engine)
    now = T0 + timedelta(hours=12, minutes=50)
    start = now - timedelta(minutes=30)
    window = {"window_start": start, "lookback_start": start - timedelta(days=7), "until": now}

    def record(unit: Store, message_id: str, at: datetime) -> None:
        unit.record_message(
            platform="test", chat_id="g1", chat_title="幸福里", is_group=True,
            platform_message_id=message_id, sender_id="r1", sender_name="王阿姨",
            text="又停水了", sent_at=at, intent="complaint", intent_confidence=0.9,
            intent_confident=True, topic_key="停水",
        )  # fmt: skip

    unit = store.begin_unit()
    record(unit, "three hours ago", now - timedelta(hours=3))
    record(unit, "now", now)
    inside = unit.topic_tally("停水", **window)
    unit.end_unit(True)
    after = store.topic_tally("停水", **window)
    engine.dispose()
    assert (inside.count, inside.lookback) == (after.count, after.lookback) == (1, 1)
