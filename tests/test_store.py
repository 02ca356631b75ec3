"""The store on SQLite and PostgreSQL: idempotent ingestion, ticket life cycle, invitations, summaries,
and migrations that match the models."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event, select, text

from bot.text.hot_topics import question_phrases
from handlers.assignment import choose_assignee
from storage import InboxEntry, Store, StoreError, current_revision, make_engine, upgrade
from storage import StoreErrorCode as Code
from storage.models import Base, Person, Question, QuestionTransition
from tests_support import ratings, rows, states

T0 = datetime(2026, 11, 16, 0, 30, tzinfo=UTC)


@pytest.fixture
def store(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    store = Store(engine)
    store.add_official("张伟", "住房和城乡建设局", "official", T0)
    store.add_official("李娜", "交通运输局", "official", T0)
    store.add_official("陈静", "", "supervisor", T0)
    store.bind_identity("张伟", "test", "zw", T0)
    store.assign("张伟", "test", "g1", T0, title="幸福里")
    store.assign("李娜", "test", "g1", T0)
    store.assign("陈静", "test", "g1", T0)
    yield store
    engine.dispose()


@contextmanager
def refused(code, **params):
    """The block raises a StoreError with this code and these parameters (the store words nothing)."""
    with pytest.raises(StoreError) as caught:
        yield
    assert (caught.value.code, caught.value.params) == (code, params)


def official(store, name):
    return next(o for o in store.officials() if o.name == name)


def record(store, message_id="1", text="电梯坏了", sender="r1", at=T0, **kw):
    fields = dict(
        platform="test", chat_id="g1", chat_title="幸福里", is_group=True,
        platform_message_id=message_id, sender_id=sender, sender_name="王阿姨", text=text,
        sent_at=at, intent="question", intent_confidence=0.9, intent_confident=True,
    )  # fmt: skip
    fields.update(kw)
    return store.record_message(**fields)


def ask(store, message_id="1", text="电梯坏了", department="住房和城乡建设局", at=T0, asker="r1"):
    record(store, message_id, text, sender=asker, at=at)
    return store.open_question(
        platform="test", chat_id="g1", chat_title="幸福里", is_group=True,
        platform_message_id=message_id, asker_id=asker, asker_name="王阿姨", text=text,
        department=department, department_confident=bool(department),
        created_at=at, due_at=at + timedelta(hours=24),
        assignee_id=choose_assignee(store.assignment_candidates("test", "g1"), department),
        phrases=question_phrases(text),
    )  # fmt: skip


def rate(store, q, score, state, at=T0):
    """What the rate handler stores for the asker's score: the rating, then the state it leads to."""
    store.record_rating(q.id, platform="test", user_id="r1", score=score, at=at)
    return store.transition(q.id, state, at=at, by=("test", "r1"), note=score)


def test_migrations_create_exactly_the_models(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    upgrade(engine)  # idempotent
    from alembic.script import ScriptDirectory

    from storage.database import MIGRATIONS

    assert current_revision(engine) == ScriptDirectory(str(MIGRATIONS)).get_current_head()
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []


def test_the_same_message_is_stored_once(store):
    assert record(store) is not None
    assert record(store) is None
    event = InboxEntry("test", "msg:g1:1", "test:g1", "{}")
    assert store.journal([event], T0) == 1
    assert store.journal([event], T0) == 0  # a redelivery is recognised


def test_times_come_back_aware_in_utc(store):
    local = datetime(2026, 11, 16, 8, 30, tzinfo=UTC).astimezone()
    q = ask(store, at=local)
    assert q.created_at.tzinfo is not None
    assert store.question(q.id).created_at == local
    with pytest.raises(Exception, match="naive"):
        ask(store, message_id="2", at=datetime(2026, 11, 16, 8, 30))


def test_assignment_facts_list_active_officials_in_roster_order_with_their_load(store):
    zhang, li, chen = (official(store, n).id for n in ("张伟", "李娜", "陈静"))
    ask(store, "1", department="交通运输局")  # 李娜's
    facts = store.assignment_candidates("test", "g1")
    assert [(c.official_id, c.department, c.role, c.waiting) for c in facts] == [
        (zhang, "住房和城乡建设局", "official", 0),
        (li, "交通运输局", "official", 1),
        (chen, "", "supervisor", 0),
    ]
    assert store.assignment_candidates("test", "nowhere") == []
    store.add_official("赵敏", "交通运输局", "official", T0)
    assert [c.official_id for c in store.department_members("交通运输局")] == [
        li,
        official(store, "赵敏").id,
    ]
    # An answered question no longer counts as waiting.
    store.answer_question(1, official_id=li, text="好", at=T0, answer_platform_message_id="b1")
    assert store.department_members("交通运输局")[0].waiting == 0


def test_question_is_assigned_by_department_then_load(store):
    q1 = ask(store, "1", department="交通运输局")
    assert q1.assignee_name == "李娜"
    q2 = ask(store, "2", department="")
    # No department: the least loaded official of the group (李娜 already has Q1), never the supervisor.
    assert q2.assignee_name == "张伟"
    q3 = ask(store, "3", department="")
    assert q3.assignee_name == "张伟"  # a tie goes to roster order
    assert q2.number == "Q2"


def test_ticket_life_cycle_with_transitions(store):
    q = ask(store)
    zhang = official(store, "张伟")
    result = store.answer_question(
        q.id, official_id=zhang.id, text="明天修", at=T0 + timedelta(minutes=30),
        answer_platform_message_id="b1",
    )  # fmt: skip
    assert result.first_answer and result.on_time and result.response_seconds == 1800
    assert rate(store, q, "unsatisfied", "reopened").state == "reopened"
    late = T0 + timedelta(hours=30)
    result = store.answer_question(
        q.id, official_id=zhang.id, text="已修好", at=late, answer_platform_message_id="b2"
    )
    assert not result.first_answer and not result.on_time
    assert rate(store, q, "satisfied", "resolved", at=late).state == "resolved"
    assert ratings(store, q.id) == ["unsatisfied", "satisfied"]
    assert states(store, q.id) == ["open", "answered", "reopened", "answered", "resolved"]
    assert store.question_for_message("test", "g1", "b2").id == q.id


def test_ratings_and_transitions_are_plain_operations(store):
    # Who may rate and what a score does are the handlers' rules (handlers/rating_rules.py).
    q = ask(store)
    with refused(Code.UNKNOWN_SCORE, score="great"):
        store.record_rating(q.id, platform="test", user_id="r1", score="great", at=T0)
    with refused(Code.UNKNOWN_STATE, state="lost"):
        store.transition(q.id, "lost", at=T0)
    resolved = store.transition(q.id, "resolved", at=T0, by=("test", "r1"), note="satisfied")
    assert resolved.state == "resolved" and states(store, q.id) == ["open", "resolved"]
    # Resolving stamps the time, and the transition names the resident who made it.
    stamped = select(Question.resolved_at, QuestionTransition.actor_person_id).join(
        QuestionTransition, QuestionTransition.question_id == Question.id
    )
    asker = rows(store, select(Person.id).where(Person.platform_user_id == "r1"))[0][0]
    assert rows(store, stamped.where(QuestionTransition.to_state == "resolved")) == [(T0, asker)]


def test_invite_codes_are_one_time_and_expire(store):
    code = store.create_invite("李娜", T0)
    assert store.redeem_invite(code, "telegram", "555", "Li", T0).name == "李娜"
    with refused(Code.INVITE_USED):
        store.redeem_invite(code, "telegram", "666", "X", T0)
    old = store.create_invite("李娜", T0, ttl=timedelta(hours=1))
    with refused(Code.INVITE_EXPIRED):
        store.redeem_invite(old, "telegram", "777", "Y", T0 + timedelta(hours=2))
    with refused(Code.INVITE_INVALID):
        store.redeem_invite("NOPE", "telegram", "888", "Z", T0)
    assert store.official_for_identity("telegram", "555").name == "李娜"


def test_summary_figures_trace_to_rows(store):
    zhang = official(store, "张伟")
    q1 = ask(store, "1")
    store.answer_question(q1.id, official_id=zhang.id, text="a", at=T0 + timedelta(minutes=10),
                          answer_platform_message_id="b1")  # fmt: skip
    rate(store, q1, "basically_satisfied", "resolved")
    q2 = ask(store, "2", at=T0 + timedelta(minutes=1))
    store.answer_question(q2.id, official_id=zhang.id, text="b", at=T0 + timedelta(minutes=31),
                          answer_platform_message_id="b2")  # fmt: skip
    rate(store, q2, "unsatisfied", "reopened")
    ask(store, "3", at=T0 + timedelta(minutes=2))  # never answered
    record(store, "4", "建议多装快递柜", intent="suggestion")
    # An official's own suggestion-like words are engagement, not a suggestion collected.
    record(store, "5", "建议大家错峰取件", sender="z1", intent="suggestion", from_official=True)
    # Nor is a label the classifier was unsure of.
    record(store, "6", "垃圾分类活动我报名", intent="suggestion", intent_confident=False)
    record(store, "7", "又停水了", intent="complaint", intent_confident=False)
    store.record_engagement(zhang.id, "speak", T0, platform="test", chat_id="g1")
    store.record_engagement(zhang.id, "lurk", T0)
    now = T0 + timedelta(days=2)
    summary = store.summary(T0 - timedelta(days=1), now, now)
    z = next(t for t in summary.officials if t.label == "张伟")
    # Q2's answer was on time, but 不满意 reopened it: no final answer yet, so not on time.
    assert (z.questions, z.answered, z.answered_on_time, z.resolved) == (3, 2, 1, 1)
    # Q2 was reopened by 不满意 and is past its promised time again: overdue like Q3.
    assert z.overdue == 2 and z.rated == 2 and z.satisfaction_rate == 0.5
    assert z.median_response_seconds == (600 + 1800) / 2
    assert z.engagements == {"answer": 2, "speak": 1, "lurk": 1}
    assert z.response_rate == pytest.approx(2 / 3)
    group = summary.groups[0]
    assert group.label == "幸福里" and group.messages == 7 and group.suggestions == 1
    assert group.complaints == 0
    assert [q.number for q in summary.overdue] == ["Q2", "Q3"]
    assert summary.total.questions == 3 and summary.total.suggestions == 1
    assert [text for _, _, text in summary.suggestions] == ["建议多装快递柜"]
    assert not any(t.label == "陈静" for t in summary.officials)
    # The official's digest shows every flagged message, unsure ones marked as such.
    digest = store.digest(zhang.id, None, now)
    assert sorted((text, confident) for _, _, _, text, confident in digest.flagged) == [
        ("又停水了", False),
        ("垃圾分类活动我报名", False),
        ("建议多装快递柜", True),
    ]
    # Outside the period nothing counts.
    empty = store.summary(now, now + timedelta(days=1), now)
    assert empty.total.questions == 0 and empty.total.engagements == {}


def test_pending_suggestions_by_rank(store):
    q = ask(store)
    zhang = official(store, "张伟")
    store.record_suggestions(zhang.id, q.id, ["a", "b", "c"], T0)
    pending = store.pending_suggestions(zhang.id)
    assert pending.question_id == q.id and pending.template_ids == ("a", "b", "c")
    assert store.pending_suggestions(zhang.id, question_id=999) is None


def test_edit_updates_message_and_waiting_question(store):
    q = ask(store, text="@政务助手 电梯坏了")
    assert store.edit_message("test", "g1", "1", "@政务助手 3号楼电梯坏了", T0, "3号楼电梯坏了")
    assert store.question(q.id).text == "3号楼电梯坏了"
    assert not store.edit_message("test", "g1", "nope", "x", T0)


def test_the_inbox_keeps_order_ignores_redeliveries_and_sets_poison_aside(store):
    entries = [InboxEntry("test", f"msg:g:{n}", "test:g", f'{{"n": {n}}}') for n in (1, 2, 3)]
    assert store.journal(entries, T0) == 3
    assert store.journal(
        [entries[1], InboxEntry("test", "update:9", "test:?", None, "{", "bad")], T0
    )
    pending = store.pending_events()
    assert [p.key for p in pending] == [
        "msg:g:1",
        "msg:g:2",
        "msg:g:3",
    ]  # as received; poison apart
    assert store.finish_event(pending[0].id, T0) and not store.finish_event(pending[0].id, T0)
    assert store.note_failure(pending[1].id, "boom", 2, T0) is False
    assert store.note_failure(pending[1].id, "boom again", 2, T0) is True  # the second try: poison
    assert [p.key for p in store.pending_events()] == ["msg:g:3"]
    health = store.journal_health()
    assert health.inbox == {"done": 1, "pending": 1, "poison": 2}
    assert [(key, error) for _, _, key, error in health.poison] == [
        ("msg:g:2", "boom again"),
        ("update:9", "bad"),
    ]


def test_the_outbox_claims_a_send_once_and_keeps_its_fate(store):
    from storage import OutboxEntry

    first, second = store.enqueue(
        [
            OutboxEntry("test", "g", "message", '{"text": "a"}', '{"name": "x", "args": {}}'),
            OutboxEntry("test", "g", "message", '{"text": "b"}'),
        ],
        T0,
    )
    # each chat's next send, and whether more of the chat's wait behind it
    assert [(r.id, r.queued_after) for r in store.outbox_due()] == [(first, True)]
    assert store.mark_sending(first) and not store.mark_sending(first)  # claimed once
    assert [r.id for r in store.outbox_due()] == [first]
    store.settle(first, "sent", T0, platform_message_id="m7")
    assert [(r.id, r.queued_after) for r in store.outbox_due()] == [(second, False)]
    store.mark_sending(second)
    assert [(r.id, r.state) for r in store.outbox_due()] == [(second, "sending")]  # interrupted
    store.settle(second, "uncertain", T0, error="restart")
    assert store.outbox_due() == []
    health = store.journal_health()
    assert health.outbox == {"sent": 1, "uncertain": 1}
    assert [i for i, _, _ in health.uncertain] == [second]


def test_unknown_names_are_refused_with_a_code(store):
    with refused(Code.UNKNOWN_OFFICIAL, name="无名氏"):
        store.assign("无名氏", "test", "g1", T0)
    with refused(Code.UNKNOWN_ROLE, role="king"):
        store.add_official("X", "", "king", T0)
    with refused(Code.UNKNOWN_QUESTION, question_id=99):
        store.answer_question(99, official_id=1, text="x", at=T0, answer_platform_message_id=None)
    with refused(Code.UNKNOWN_DEPARTMENT, department="不存在局"):
        ask(store)
        store.transfer(1, by_official_id=1, department="不存在局", assignee_id=None, at=T0)
    store.transition(1, "closed", at=T0)
    with refused(Code.QUESTION_CLOSED, question_id=1):
        store.answer_question(1, official_id=1, text="x", at=T0, answer_platform_message_id=None)
    with refused(Code.UNKNOWN_ENGAGEMENT_KIND, kind="nap"):
        store.record_engagement(1, "nap", T0)


def test_a_unit_of_work_lands_together_or_not_at_all(store):
    with pytest.raises(RuntimeError), store.unit_of_work() as uow:
        assert isinstance(uow, Store)  # every part of the store, bound to one session
        lost = ask(uow)
        raise RuntimeError("the handler failed after opening the ticket")
    assert store.question(lost.id) is None and record(store) is not None  # nothing was kept
    with store.unit_of_work() as uow:
        kept = ask(uow, "2")
        uow.attach_ack(kept.id, "ack2")
    assert store.question(kept.id).ack_platform_message_id == "ack2"


def test_a_locked_sqlite_file_is_an_outage(tmp_path):
    # Another process holding the file (a backup, a second bot) is waited out like a server restart.
    import sqlite3

    import sqlalchemy

    from storage import StoreUnavailable

    path = tmp_path / "busy.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.1})
    upgrade(engine)
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailable):
            Store(engine).journal([InboxEntry("test", "msg:1", "test:g", "{}")], T0)
    finally:
        holder.rollback()
        holder.close()
    # Free again: nothing had been written.
    assert Store(engine).journal([InboxEntry("test", "msg:1", "test:g", "{}")], T0) == 1
    engine.dispose()


def test_a_wrong_schema_is_an_error_not_an_outage(tmp_path):
    # Waiting out an outage is right for a database that is down, wrong for one never migrated.
    from sqlalchemy.exc import OperationalError

    store = Store(make_engine(f"sqlite:///{tmp_path / 'empty.db'}"))
    with pytest.raises(OperationalError, match="no such table"):  # not StoreUnavailable
        store.journal([InboxEntry("test", "msg:1", "test:g", "{}")], T0)


def test_a_chats_later_send_waits_for_the_earlier_and_only_its_owner_settles_it(store):
    """Several workers deliver one outbox: a chat's second message cannot be claimed while its first
    is pending or being sent (another chat's can), and a send is settled only as its claimer's —
    a second settling (a worker that was taken for dead) changes nothing."""
    from storage import OutboxEntry

    first, second, elsewhere = store.enqueue(
        [
            OutboxEntry("test", "g", "message", '{"text": "a"}'),
            OutboxEntry("test", "g", "message", '{"text": "b"}'),
            OutboxEntry("test", "h", "message", '{"text": "c"}'),
        ],
        T0,
    )
    assert not store.mark_sending(second, 2)  # "a" is still to go first
    assert store.mark_sending(elsewhere, 2)  # another chat is not held up
    assert store.mark_sending(first, 1)
    assert not store.mark_sending(second, 2)  # "a" is being sent
    assert store.settle(first, "uncertain", T0, claimed_by=1, error="restart")
    assert not store.settle(first, "sent", T0, claimed_by=1, platform_message_id="m1")
    assert store.mark_sending(second, 2)
    assert [(r.id, r.claimed_by) for r in store.outbox_due()] == [(second, 2), (elsewhere, 2)]
    assert store.journal_health().outbox == {"uncertain": 1, "sending": 2}


def test_a_rounds_sends_claimed_together_keep_each_chats_order(store):
    """A delivery round claims the first sends of several chats with one statement: exactly those
    ``mark_sending`` would claim one at a time — never a chat's later send beside its earlier one,
    nor one behind an older send still being sent, nor one already claimed."""
    from storage import OutboxEntry

    g1, g2, h1, k1, k2 = store.enqueue(
        [
            OutboxEntry("test", "g", "message", '{"text": "a"}'),
            OutboxEntry("test", "g", "message", '{"text": "b"}'),
            OutboxEntry("test", "h", "message", '{"text": "c"}'),
            OutboxEntry("test", "k", "message", '{"text": "d"}'),
            OutboxEntry("test", "k", "message", '{"text": "e"}'),
        ],
        T0,
    )
    assert store.mark_sending(k1, 2)  # another worker is sending k's first
    assert store.mark_sending_all([g1, g2, h1, k2], 1) == {g1, h1}
    assert store.mark_sending_all([h1], 1) == set()  # claimed already
    assert store.mark_sending_all([], 1) == set()
    assert store.settle(g1, "sent", T0, claimed_by=1, platform_message_id="m1")
    assert store.mark_sending_all([g2, k2], 1) == {g2}
    assert store.journal_health().outbox == {"sent": 1, "sending": 3, "pending": 1}


def test_a_chat_another_worker_is_handling_is_left_to_it(store, db_url):
    """On PostgreSQL a unit claims a chat's events only while no other unit holds that chat; SQLite
    has one worker and claims them all. On both, an event behind an older pending one of its chat
    (not claimed with it) is not claimed: the chat's order holds even when the events handed to a
    batch skipped one (``Dispatcher._take_fresh``)."""
    from storage import InboxEntry

    store.journal(
        [InboxEntry("test", f"e{i}", f"test:{chat}", "{}") for i, chat in enumerate("gghg")], T0
    )
    ids = {r.key: r.id for r in store.pending_events()}
    holder = store.begin_unit()
    try:
        assert holder.claim_events([ids["e0"], ids["e1"], ids["e3"]], T0) == {
            ids["e0"],
            ids["e1"],
            ids["e3"],
        }
        other = store.begin_unit() if store.engine.dialect.name == "postgresql" else None
        if other is not None:
            assert other.claim_events([ids["e0"], ids["e1"], ids["e3"]], T0) == set()
            assert other.claim_events([ids["e2"]], T0) == {ids["e2"]}
            other.end_unit(True)
    finally:
        holder.end_unit(False)  # rolled back: the chat's events are pending again, in order
    later = store.begin_unit()
    claimed = later.claim_events([ids["e3"]], T0)
    later.end_unit(False)
    assert claimed == set()  # e0 and e1 of its chat, pending again, come first


def test_a_sender_and_group_made_in_a_rolled_back_unit_are_made_again(store):
    # The ids of persons and groups are remembered from message to message; a unit that rolled back
    # took its new rows with it, and the next message must not point at them.
    with pytest.raises(RuntimeError), store.unit_of_work() as uow:
        record(uow, "1", sender="newcomer", chat_id="g-new", chat_title="新群")
        raise RuntimeError("the handler failed after storing the message")
    bound = (
        store.begin_unit()
    )  # as the dispatcher's batch: a savepoint rolled back forgets them too
    savepoint = bound.begin_savepoint()
    record(bound, "2", sender="other", chat_id="g-other", chat_title="别的群")
    bound.end_savepoint(savepoint, False)
    bound.end_unit(True)
    stored = record(store, "3", sender="newcomer", chat_id="g-new", chat_title="新群")
    again = record(store, "4", sender="other", chat_id="g-other", chat_title="别的群")
    with store.engine.connect() as connection:
        senders = connection.execute(
            text(
                "select p.platform_user_id, g.platform_chat_id from messages m"
                " join persons p on p.id = m.person_id join groups g on g.id = m.group_id"
                " where m.id in (:a, :b) order by m.id"
            ),
            {"a": stored.id, "b": again.id},
        ).all()
    assert senders == [("newcomer", "g-new"), ("other", "g-other")]


def test_a_name_changed_by_another_process_is_seen_within_the_memos_keep(store, db_url):
    """Another worker renames a person this process remembers (their messages came under another
    name there). Within ``KEEP_SECONDS`` this process's next message under the first name stores it
    again, as a process that remembered nothing would."""
    from storage import known_rows

    record(store, "1")  # remembered: (r1, 王阿姨)
    other = make_engine(db_url)  # another worker
    record(Store(other), "2", sender_name="王阿姨改名")
    other.dispose()
    record(store, "3")  # still within the keep: the memo says the name is stored already
    memo = known_rows._by_engine[store.engine]
    memo.since -= known_rows.KEEP_SECONDS + 1  # the keep has passed
    record(store, "4")
    with store.engine.connect() as connection:
        name = connection.scalar(select(Person.display_name).where(Person.platform_user_id == "r1"))
    assert name == "王阿姨"


def test_the_unaddressed_count_finds_its_messages_by_the_attention_index(tmp_path):
    """The summaries count the period's complaints nobody @-mentioned: the plan must find them by
    the partial index of migration 0014, not by reading every message of the period."""
    engine = make_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    upgrade(engine)
    seen: list[tuple[str, object]] = []

    def keep(_conn, _cursor, statement, parameters, _context, _many):
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    now = datetime(2026, 11, 30, tzinfo=UTC)
    assert Store(engine).unaddressed_count(now - timedelta(days=7), now) == (0, 0)
    event.remove(engine, "before_cursor_execute", keep)
    [(statement, parameters)] = [(s, p) for s, p in seen if "needs_attention" in s]
    with engine.connect() as connection:
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    assert any("ix_messages_needs_attention_at" in str(row) for row in plan), plan
    assert not any("SCAN questions" in str(row) for row in plan), plan  # ix_questions_message
    engine.dispose()


def test_a_tickets_askers_are_counted_through_links_of_links(store):
    """同问: the count a new asker is told holds every question linked to the ticket, those that
    followed a question linked later included, and none of another ticket's."""
    ticket, other = ask(store, "1"), ask(store, "2", text="路灯坏了")
    first, second, third = (ask(store, str(n), asker=f"r{n}") for n in (3, 4, 5))
    store.link_question(second.id, first.id)  # second follows first …
    store.link_question(first.id, ticket.id)  # … and both move to the ticket
    store.link_question(third.id, ticket.id)
    store.link_question(ask(store, "6", asker="r6").id, other.id)
    assert store.linked_count(ticket.id) == 3
    assert store.linked_count(other.id) == 1
    assert store.linked_count(first.id) == 0
    assert [q.id for q in store.linked_questions(ticket.id)] == [first.id, second.id, third.id]


def test_a_deadlock_is_a_conflict_to_do_again_not_an_outage(db_url):
    """PostgreSQL ends a deadlock by rolling one transaction back: the store says so as a
    ``StoreConflict`` (done again at once), not as the database being down."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer: its transactions never deadlock")
    import threading

    from sqlalchemy.exc import DBAPIError

    from storage import StoreConflict
    from storage.base import StoreBase

    engine = make_engine(db_url)
    upgrade(engine)
    store = Store(engine)
    store.add_official("甲", "", "official", T0)
    store.add_official("乙", "", "official", T0)
    first, second = (o.id for o in store.officials())
    sql = "UPDATE officials SET department = 'x' WHERE id = :id"
    errors: list[DBAPIError] = []
    both_hold = threading.Barrier(2)

    def cross(mine: int, theirs: int) -> None:
        with engine.connect() as connection:
            transaction = connection.begin()
            connection.execute(text(sql), {"id": mine})
            both_hold.wait()
            try:
                connection.execute(text(sql), {"id": theirs})
                transaction.commit()
            except DBAPIError as exc:
                errors.append(exc)
                transaction.rollback()

    threads = [
        threading.Thread(target=cross, args=pair) for pair in ((first, second), (second, first))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(errors) == 1  # PostgreSQL rolled back exactly one of the two
    assert isinstance(StoreBase._unavailable(errors[0]), StoreConflict)
    engine.dispose()
