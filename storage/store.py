"""The store: intention-revealing methods over the models, so handlers never build queries.

Each method runs in its own transaction and returns plain records (storage/records.py). Methods are
synchronous; the bot calls them off the event loop (see ``bot.dispatch.Services.db``). Every time passed in
must be timezone-aware; the clock belongs to the caller so tests and the demo can move it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from storage.journal import JournalStore
from storage.models import (
    AdapterState,
    Department,
    Engagement,
    Group,
    GroupAssignment,
    InviteCode,
    Message,
    Official,
    Person,
    Question,
    QuestionTransition,
    Rating,
    Suggestion,
    Template,
)
from storage.records import (
    RATING_SCORES,
    AnswerResult,
    Digest,
    EngagementKind,
    GroupInfo,
    MessageInfo,
    OfficialInfo,
    OfficialSpec,
    PendingSuggestions,
    QuestionInfo,
    QuestionState,
    Summary,
)
from storage.summary import build_summary


class StoreError(Exception):
    """A request the store refuses; the message is fit to show people (Chinese)."""


class StoreUnavailable(Exception):
    """The database cannot be reached right now (server down or restarting, connection lost, SQLite
    file locked). The failed call's transaction was rolled back, so it may be made again; only a
    connection lost during COMMIT itself leaves unknown whether the server kept the write."""


_OUTAGE_WORDS = (
    "connection",
    "server closed",
    "terminating",
    "locked",
    "unable to open",
    "disk i/o",
)
"""How drivers word an outage (psycopg: "connection failed", "server closed the connection
unexpectedly", "terminating connection due to administrator command"; SQLite: "database is locked")."""


def is_outage(error: DBAPIError) -> bool:
    """True for a database error that says the database is unreachable, not that a query is wrong."""
    if error.connection_invalidated:
        return True
    if not isinstance(error, OperationalError | InterfaceError):
        return False
    message = str(error.orig).lower()
    return any(word in message for word in _OUTAGE_WORDS)


class Store(JournalStore):
    """All reads and writes minyi makes.

    A plain ``Store`` runs each method in a transaction of its own. ``unit_of_work()`` yields a store
    bound to one session: every method called on it joins that one transaction, which commits when the
    block ends — how the dispatcher makes everything one event changes land together, or not at all.
    """

    def __init__(self, engine: Engine, *, session: Session | None = None) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._bound = session

    @contextmanager
    def unit_of_work(self) -> Iterator[Store]:
        """A store whose methods share one transaction, committed at the end of the block and rolled
        back if it raises; an unreachable database raises ``StoreUnavailable``."""
        try:
            with self._sessions.begin() as session:
                yield Store(self.engine, session=session)
        except DBAPIError as exc:
            raise self._unavailable(exc) from exc

    def begin_unit(self) -> Store:
        """Like ``unit_of_work``, for a unit that spans several calls (the dispatcher's): a store bound
        to a new session in a transaction; ``end_unit`` on it commits or rolls back."""
        session = self._sessions()
        session.begin()
        return Store(self.engine, session=session)

    def end_unit(self, commit: bool) -> None:
        """Commit (or roll back) the transaction of a store from ``begin_unit``, and close it."""
        session = self._bound
        if session is None:
            raise RuntimeError("end_unit called on a store that is not bound to a unit of work")
        try:
            if commit:
                session.commit()
            else:
                # A rollback on a connection the server dropped fails too; closing discards it.
                with suppress(DBAPIError):
                    session.rollback()
        except DBAPIError as exc:
            raise self._unavailable(exc) from exc
        finally:
            session.close()

    @staticmethod
    def _unavailable(exc: DBAPIError) -> Exception:
        if is_outage(exc):
            return StoreUnavailable(f"database unavailable: {type(exc.orig).__name__}")
        return exc

    @contextmanager
    def _tx(self, *, guarded: bool = False) -> Iterator[Session]:
        """The session a method works in. Bound to a unit of work, ``guarded`` methods (those that
        catch an ``IntegrityError``) run in a savepoint so a refused insert leaves the rest intact."""
        try:
            if self._bound is not None:
                if guarded:
                    with self._bound.begin_nested():
                        yield self._bound
                else:
                    yield self._bound
                return
            with self._sessions.begin() as session:
                yield session
        except DBAPIError as exc:
            error = self._unavailable(exc)
            if error is exc:
                raise
            raise error from exc

    # ---------------------------------------------------------------- identities and roster

    @staticmethod
    def _person(session: Session, platform: str, user_id: str, name: str, at: datetime) -> Person:
        person = session.scalar(
            select(Person).where(Person.platform == platform, Person.platform_user_id == user_id)
        )
        if person is None:
            person = Person(
                platform=platform, platform_user_id=user_id, display_name=name, first_seen_at=at
            )
            session.add(person)
            session.flush()
        elif name and person.display_name != name:
            person.display_name = name
        return person

    @staticmethod
    def _group(session: Session, platform: str, chat_id: str, title: str, at: datetime) -> Group:
        group = session.scalar(
            select(Group).where(Group.platform == platform, Group.platform_chat_id == chat_id)
        )
        if group is None:
            group = Group(platform=platform, platform_chat_id=chat_id, title=title, created_at=at)
            session.add(group)
            session.flush()
        elif title and group.title != title:
            group.title = title
        return group

    @staticmethod
    def _official_info(session: Session, official: Official) -> OfficialInfo:
        identities = session.execute(
            select(Person.platform, Person.platform_user_id)
            .where(Person.official_id == official.id)
            .order_by(Person.id)
        ).all()
        return OfficialInfo(
            id=official.id,
            name=official.name,
            department=official.department,
            role=official.role,
            jurisdiction=official.jurisdiction,
            identities=tuple((p, u) for p, u in identities),
        )

    def sync_departments(self, names: Iterable[str]) -> None:
        """Make sure every configured department exists."""
        with self._tx() as session:
            known = set(session.scalars(select(Department.name)))
            session.add_all(Department(name=n) for n in dict.fromkeys(names) if n not in known)

    def departments(self) -> list[str]:
        """All department names, sorted."""
        with self._tx() as session:
            return list(session.scalars(select(Department.name).order_by(Department.name)))

    def sync_roster(self, specs: Sequence[OfficialSpec], at: datetime) -> None:
        """Add or update the officials of the configuration with their identities and groups.

        Officials added by ``minyi officials add`` but absent from the file are kept.
        """
        for spec in specs:
            self.add_official(
                spec.name, spec.department, spec.role, at, jurisdiction=spec.jurisdiction
            )
            for platform, user_id in spec.identities:
                self.bind_identity(spec.name, platform, user_id, at)
            for platform, chat_id in spec.groups:
                self.assign(spec.name, platform, chat_id, at)

    def add_official(
        self,
        name: str,
        department: str,
        role: str,
        at: datetime,
        *,
        jurisdiction: str = "",
    ) -> OfficialInfo:
        """Create the official ``name`` or update their department, role and jurisdiction."""
        if role not in ("official", "supervisor", "admin"):
            raise StoreError(f"未知角色 {role}（可选 official / supervisor / admin）")
        with self._tx() as session:
            official = session.scalar(select(Official).where(Official.name == name))
            if official is None:
                official = Official(name=name, created_at=at)
                session.add(official)
            official.department = department
            official.role = role
            official.jurisdiction = jurisdiction
            official.active = True
            if department and not session.scalar(
                select(Department.id).where(Department.name == department)
            ):
                session.add(Department(name=department))
            session.flush()
            return self._official_info(session, official)

    def _official_by_name(self, session: Session, name: str) -> Official:
        official = session.scalar(select(Official).where(Official.name == name))
        if official is None:
            raise StoreError(f"名册中没有 {name}")
        return official

    def bind_identity(
        self, official_name: str, platform: str, user_id: str, at: datetime, display_name: str = ""
    ) -> OfficialInfo:
        """Make the platform account ``platform:user_id`` belong to ``official_name``."""
        with self._tx() as session:
            official = self._official_by_name(session, official_name)
            person = self._person(session, platform, user_id, display_name or official.name, at)
            person.official_id = official.id
            session.flush()
            return self._official_info(session, official)

    def assign(
        self, official_name: str, platform: str, chat_id: str, at: datetime, title: str = ""
    ) -> None:
        """The official answers the questions of this group from now on."""
        with self._tx() as session:
            official = self._official_by_name(session, official_name)
            group = self._group(session, platform, chat_id, title, at)
            if session.get(GroupAssignment, (group.id, official.id)) is None:
                session.add(GroupAssignment(group_id=group.id, official_id=official.id))

    def unassign(self, official_id: int, platform: str, chat_id: str) -> None:
        """The official no longer answers for this group (they left it)."""
        with self._tx() as session:
            group_id = session.scalar(
                select(Group.id).where(
                    Group.platform == platform, Group.platform_chat_id == chat_id
                )
            )
            if group_id is not None:
                session.execute(
                    delete(GroupAssignment).where(
                        GroupAssignment.group_id == group_id,
                        GroupAssignment.official_id == official_id,
                    )
                )

    def assign_by_id(
        self, official_id: int, platform: str, chat_id: str, title: str, at: datetime
    ) -> None:
        """Assign by official id (an official joined a group)."""
        with self._tx() as session:
            group = self._group(session, platform, chat_id, title, at)
            if session.get(GroupAssignment, (group.id, official_id)) is None:
                session.add(GroupAssignment(group_id=group.id, official_id=official_id))

    def officials(self) -> list[OfficialInfo]:
        """Everyone on the roster, by name."""
        with self._tx() as session:
            rows = session.scalars(select(Official).order_by(Official.name)).all()
            return [self._official_info(session, o) for o in rows]

    def official(self, official_id: int) -> OfficialInfo | None:
        """The official with this id, if any."""
        with self._tx() as session:
            official = session.get(Official, official_id)
            return self._official_info(session, official) if official else None

    def official_named(self, name: str) -> OfficialInfo | None:
        """The official called ``name``, if any."""
        with self._tx() as session:
            official = session.scalar(select(Official).where(Official.name == name))
            return self._official_info(session, official) if official else None

    def official_for_identity(self, platform: str, user_id: str) -> OfficialInfo | None:
        """The roster entry owning this platform account, if any."""
        with self._tx() as session:
            official = session.scalar(
                select(Official)
                .join(Person, Person.official_id == Official.id)
                .where(
                    Person.platform == platform,
                    Person.platform_user_id == user_id,
                    Official.active.is_(True),
                )
            )
            return self._official_info(session, official) if official else None

    def groups_of(self, official_id: int) -> list[GroupInfo]:
        """Groups the official answers for."""
        with self._tx() as session:
            rows = session.scalars(
                select(Group)
                .join(GroupAssignment, GroupAssignment.group_id == Group.id)
                .where(GroupAssignment.official_id == official_id)
                .order_by(Group.id)
            ).all()
            return [GroupInfo(g.id, g.platform, g.platform_chat_id, g.title) for g in rows]

    def officials_for_group(self, platform: str, chat_id: str) -> list[OfficialInfo]:
        """Officials assigned to the group, in roster order."""
        with self._tx() as session:
            rows = session.scalars(
                select(Official)
                .join(GroupAssignment, GroupAssignment.official_id == Official.id)
                .join(Group, Group.id == GroupAssignment.group_id)
                .where(Group.platform == platform, Group.platform_chat_id == chat_id)
                .where(Official.active.is_(True))
                .order_by(Official.id)
            ).all()
            return [self._official_info(session, o) for o in rows]

    def group_assignments(self) -> list[tuple[str, GroupInfo]]:
        """(official name, group) for every assignment."""
        with self._tx() as session:
            rows = session.execute(
                select(Official.name, Group)
                .join(GroupAssignment, GroupAssignment.official_id == Official.id)
                .join(Group, Group.id == GroupAssignment.group_id)
                .order_by(Official.name, Group.id)
            ).all()
            return [(n, GroupInfo(g.id, g.platform, g.platform_chat_id, g.title)) for n, g in rows]

    # ---------------------------------------------------------------- invitations

    @staticmethod
    def _hash_code(code: str) -> str:
        return hashlib.sha256(code.strip().upper().encode()).hexdigest()

    def create_invite(
        self, official_name: str, at: datetime, ttl: timedelta = timedelta(days=7)
    ) -> str:
        """A one-time code the official sends as ``/bind CODE``; only its hash is stored."""
        code = "".join(secrets.choice("ABCDEFGHJKMNPQRSTUVWXYZ23456789") for _ in range(8))
        with self._tx() as session:
            official = self._official_by_name(session, official_name)
            session.add(
                InviteCode(
                    official_id=official.id,
                    code_hash=self._hash_code(code),
                    created_at=at,
                    expires_at=at + ttl,
                )
            )
        return code

    def redeem_invite(
        self, code: str, platform: str, user_id: str, display_name: str, at: datetime
    ) -> OfficialInfo:
        """Bind the account to the code's official; refuse unknown, used or expired codes."""
        with self._tx() as session:
            invite = session.scalar(
                select(InviteCode).where(InviteCode.code_hash == self._hash_code(code))
            )
            if invite is None:
                raise StoreError("绑定码无效，请向管理员重新获取。")
            if invite.used_at is not None:
                raise StoreError("该绑定码已经使用过，请向管理员重新获取。")
            if invite.expires_at < at:
                raise StoreError("该绑定码已过期，请向管理员重新获取。")
            person = self._person(session, platform, user_id, display_name, at)
            invite.used_at = at
            invite.used_by_person_id = person.id
            person.official_id = invite.official_id
            official = session.get_one(Official, invite.official_id)
            session.flush()
            return self._official_info(session, official)

    # ---------------------------------------------------------------- events and messages

    def record_message(
        self,
        *,
        platform: str,
        chat_id: str,
        chat_title: str,
        is_group: bool,
        platform_message_id: str,
        sender_id: str,
        sender_name: str,
        text: str,
        sent_at: datetime,
        intent: str,
        intent_confidence: float,
        intent_confident: bool,
        department: str = "",
        reply_to: str | None = None,
        from_official: bool = False,
    ) -> MessageInfo | None:
        """Store a message the bot saw; ``None`` when the same platform message is already stored."""
        try:
            with self._tx(guarded=True) as session:
                person = self._person(session, platform, sender_id, sender_name, sent_at)
                group = (
                    self._group(session, platform, chat_id, chat_title, sent_at)
                    if is_group
                    else None
                )
                message = Message(
                    platform=platform,
                    chat_id=chat_id,
                    platform_message_id=platform_message_id,
                    group_id=group.id if group else None,
                    person_id=person.id,
                    text=text,
                    intent=intent,
                    intent_confidence=intent_confidence,
                    intent_confident=intent_confident,
                    department=department,
                    reply_to_platform_message_id=reply_to,
                    from_official=from_official,
                    sent_at=sent_at,
                )
                session.add(message)
                session.flush()
                return self._message_info(message)
        except IntegrityError:
            return None

    @staticmethod
    def _message_info(m: Message) -> MessageInfo:
        return MessageInfo(
            m.id, m.platform, m.chat_id, m.platform_message_id, m.group_id, m.person_id, m.text,
            m.intent, m.sent_at,
        )  # fmt: skip

    def edit_message(
        self,
        platform: str,
        chat_id: str,
        platform_message_id: str,
        text: str,
        at: datetime,
        question_text: str | None = None,
    ) -> bool:
        """Replace a stored message's text (and its waiting question's, with ``question_text`` —
        the text without the @-mention); False if the message was never stored."""
        with self._tx() as session:
            message = session.scalar(
                select(Message).where(
                    Message.platform == platform,
                    Message.chat_id == chat_id,
                    Message.platform_message_id == platform_message_id,
                )
            )
            if message is None:
                return False
            message.text = text
            message.edited_at = at
            question = session.scalar(select(Question).where(Question.message_id == message.id))
            if question is not None and question.state in QuestionState.WAITING:
                question.text = question_text if question_text is not None else text
            return True

    def message_texts(self, platform: str, chat_id: str, since: datetime) -> list[str]:
        """Texts of a chat since a time (for chat summaries)."""
        with self._tx() as session:
            return list(
                session.scalars(
                    select(Message.text)
                    .where(Message.platform == platform, Message.chat_id == chat_id)
                    .where(Message.sent_at >= since)
                    .order_by(Message.sent_at)
                )
            )

    # ---------------------------------------------------------------- questions

    def _question_info(self, session: Session, q: Question) -> QuestionInfo:
        asker = session.get_one(Person, q.asker_id)
        group = session.get(Group, q.group_id) if q.group_id else None
        assignee = session.get(Official, q.assignee_id) if q.assignee_id else None
        return QuestionInfo(
            id=q.id,
            platform=q.platform,
            chat_id=q.chat_id,
            platform_message_id=q.platform_message_id,
            group_id=q.group_id,
            group_title=group.title if group else "",
            asker_user_id=asker.platform_user_id,
            asker_name=asker.display_name,
            text=q.text,
            department=q.department,
            department_confident=q.department_confident,
            assignee_id=q.assignee_id,
            assignee_name=assignee.name if assignee else "",
            state=q.state,
            created_at=q.created_at,
            due_at=q.due_at,
            first_response_at=q.first_response_at,
            answered_at=q.answered_at,
            ack_platform_message_id=q.ack_platform_message_id,
            answer_platform_message_id=q.answer_platform_message_id,
        )

    @staticmethod
    def _existing_question(session: Session, question_id: int) -> Question:
        q = session.get(Question, question_id)
        if q is None:
            raise StoreError(f"没有编号为 Q{question_id} 的问题")
        return q

    @staticmethod
    def _actor(session: Session, official_id: int) -> int | None:
        """The official's first platform identity, recorded as who made a transition."""
        return session.scalar(
            select(Person.id).where(Person.official_id == official_id).order_by(Person.id)
        )

    @staticmethod
    def _transition(
        session: Session,
        q: Question,
        to_state: str,
        at: datetime,
        actor: int | None,
        note: str = "",
    ) -> None:
        session.add(
            QuestionTransition(
                question_id=q.id, from_state=q.state, to_state=to_state, at=at,
                actor_person_id=actor, note=note,
            )
        )  # fmt: skip
        q.state = to_state

    def _pick_assignee(self, session: Session, group_id: int | None, department: str) -> int | None:
        if group_id is None:
            return None
        candidates = session.execute(
            select(Official.id, Official.department)
            .join(GroupAssignment, GroupAssignment.official_id == Official.id)
            .where(GroupAssignment.group_id == group_id, Official.active.is_(True))
            .where(Official.role != "supervisor")
            .order_by(Official.id)
        ).all()
        if not candidates:
            return None
        same_department = [oid for oid, dept in candidates if department and dept == department]
        pool = same_department or [oid for oid, _ in candidates]
        # Among equals, the one with the fewest questions still waiting gets the new one.
        waiting = dict(
            session.execute(
                select(Question.assignee_id, func.count())
                .where(Question.assignee_id.in_(pool), Question.state.in_(QuestionState.WAITING))
                .group_by(Question.assignee_id)
            ).all()
        )
        return min(pool, key=lambda oid: (waiting.get(oid, 0), pool.index(oid)))

    def open_question(
        self,
        *,
        platform: str,
        chat_id: str,
        chat_title: str,
        is_group: bool,
        platform_message_id: str,
        asker_id: str,
        asker_name: str,
        text: str,
        department: str,
        department_confident: bool,
        created_at: datetime,
        due_at: datetime,
    ) -> QuestionInfo:
        """Open a ticket for a resident's message; it is assigned to one of the group's officials."""
        with self._tx() as session:
            person = self._person(session, platform, asker_id, asker_name, created_at)
            group = (
                self._group(session, platform, chat_id, chat_title, created_at)
                if is_group
                else None
            )
            message_id = session.scalar(
                select(Message.id).where(
                    Message.platform == platform,
                    Message.chat_id == chat_id,
                    Message.platform_message_id == platform_message_id,
                )
            )
            question = Question(
                platform=platform,
                chat_id=chat_id,
                platform_message_id=platform_message_id,
                message_id=message_id,
                group_id=group.id if group else None,
                asker_id=person.id,
                text=text,
                department=department,
                department_confident=department_confident,
                assignee_id=self._pick_assignee(session, group.id if group else None, department),
                state=QuestionState.OPEN,
                created_at=created_at,
                due_at=due_at,
            )
            session.add(question)
            session.flush()
            session.add(
                QuestionTransition(
                    question_id=question.id, from_state=None, to_state=QuestionState.OPEN,
                    at=created_at, actor_person_id=person.id, note="",
                )
            )  # fmt: skip
            return self._question_info(session, question)

    def attach_ack(self, question_id: int, platform_message_id: str) -> None:
        """Remember the bot's acknowledgement message of a question."""
        with self._tx() as session:
            session.get_one(Question, question_id).ack_platform_message_id = platform_message_id

    def question(self, question_id: int) -> QuestionInfo | None:
        """The question numbered ``question_id``."""
        with self._tx() as session:
            q = session.get(Question, question_id)
            return self._question_info(session, q) if q else None

    def question_for_message(
        self, platform: str, chat_id: str, platform_message_id: str
    ) -> QuestionInfo | None:
        """The question whose resident message, acknowledgement or answer has this platform id."""
        with self._tx() as session:
            base = select(Question).where(
                Question.platform == platform, Question.chat_id == chat_id
            )
            for column in (
                Question.platform_message_id,
                Question.ack_platform_message_id,
                Question.answer_platform_message_id,
            ):
                q = session.scalar(
                    base.where(column == platform_message_id).order_by(Question.id.desc())
                )
                if q is not None:
                    return self._question_info(session, q)
            return None

    def questions_of_asker(self, platform: str, user_id: str, limit: int = 5) -> list[QuestionInfo]:
        """A resident's latest questions, newest first."""
        with self._tx() as session:
            rows = session.scalars(
                select(Question)
                .join(Person, Person.id == Question.asker_id)
                .where(Person.platform == platform, Person.platform_user_id == user_id)
                .order_by(Question.id.desc())
                .limit(limit)
            ).all()
            return [self._question_info(session, q) for q in rows]

    def answer_question(
        self,
        question_id: int,
        *,
        official_id: int,
        text: str,
        at: datetime,
        answer_platform_message_id: str | None,
        template_id: str | None = None,
    ) -> AnswerResult:
        """Record an official's answer: the question becomes answered, the answer an engagement."""
        with self._tx() as session:
            q = self._existing_question(session, question_id)
            if q.state == QuestionState.CLOSED:
                raise StoreError(f"Q{question_id} 已关闭，不能再答复")
            first = q.first_response_at is None
            if first:
                q.first_response_at = at
            q.answered_at = at
            q.answered_by_id = official_id
            q.answer_text = text
            if answer_platform_message_id:
                q.answer_platform_message_id = answer_platform_message_id
            actor = self._actor(session, official_id)
            if q.state != QuestionState.ANSWERED:
                self._transition(session, q, QuestionState.ANSWERED, at, actor)
            seconds = max(0.0, (at - q.created_at).total_seconds())
            session.add(
                Engagement(
                    official_id=official_id,
                    kind=EngagementKind.ANSWER,
                    at=at,
                    group_id=q.group_id,
                    question_id=q.id,
                    response_seconds=seconds,
                    template_id=template_id,
                    detail=text[:2000],
                )
            )
            session.flush()
            return AnswerResult(
                question=self._question_info(session, q),
                response_seconds=seconds,
                first_answer=first,
                on_time=at <= q.due_at,
            )

    def rate(
        self, question_id: int, *, platform: str, user_id: str, score: str, at: datetime
    ) -> QuestionInfo:
        """A resident rates an answer. 满意/基本满意 resolve the question; 不满意 reopens it.

        Only the asker may rate, only after an answer; a new rating replaces the effect of the old one.
        """
        if score not in RATING_SCORES:
            raise StoreError("评价只能是 满意 / 基本满意 / 不满意")
        with self._tx() as session:
            q = self._existing_question(session, question_id)
            asker = session.get_one(Person, q.asker_id)
            if (asker.platform, asker.platform_user_id) != (platform, user_id):
                raise StoreError("只有提问的居民可以评价这条答复。")
            if q.answered_at is None:
                raise StoreError(f"Q{question_id} 还没有答复，答复后再评价。")
            session.add(Rating(question_id=q.id, person_id=asker.id, score=score, at=at))
            if score == "unsatisfied":
                self._transition(session, q, QuestionState.REOPENED, at, asker.id, "不满意")
            else:
                q.resolved_at = at
                self._transition(session, q, QuestionState.RESOLVED, at, asker.id, score)
            session.flush()
            return self._question_info(session, q)

    def transfer(
        self,
        question_id: int,
        *,
        by_official_id: int,
        department: str,
        at: datetime,
        note: str = "",
    ) -> QuestionInfo:
        """Hand a question to another department (and one of its officials, when there is one)."""
        with self._tx() as session:
            q = self._existing_question(session, question_id)
            if not session.scalar(select(Department.id).where(Department.name == department)):
                raise StoreError(f"没有名为 {department} 的部门")
            q.department = department
            q.department_confident = True
            target = self._pick_assignee(session, q.group_id, department)
            target_department = session.get_one(Official, target).department if target else ""
            if target_department != department:
                target = session.scalar(
                    select(Official.id)
                    .where(Official.department == department, Official.active.is_(True))
                    .where(Official.role != "supervisor")
                    .order_by(Official.id)
                )
            q.assignee_id = target
            actor = self._actor(session, by_official_id)
            self._transition(session, q, QuestionState.TRANSFERRED, at, actor, note or department)
            session.add(
                Engagement(
                    official_id=by_official_id, kind=EngagementKind.TRANSFER, at=at,
                    group_id=q.group_id, question_id=q.id, detail=department,
                )
            )  # fmt: skip
            session.flush()
            return self._question_info(session, q)

    def close_question(self, question_id: int, *, at: datetime, note: str = "") -> QuestionInfo:
        """Close a ticket for good (duplicate, withdrawn)."""
        with self._tx() as session:
            q = self._existing_question(session, question_id)
            self._transition(session, q, QuestionState.CLOSED, at, None, note)
            session.flush()
            return self._question_info(session, q)

    def transitions(self, question_id: int) -> list[tuple[str | None, str, datetime, str]]:
        """(from, to, at, note) for every state change of a question, oldest first."""
        with self._tx() as session:
            rows = session.execute(
                select(
                    QuestionTransition.from_state, QuestionTransition.to_state,
                    QuestionTransition.at, QuestionTransition.note,
                )
                .where(QuestionTransition.question_id == question_id)
                .order_by(QuestionTransition.id)
            ).all()  # fmt: skip
            return [(a, b, c, d) for a, b, c, d in rows]

    def ratings(self, question_id: int) -> list[str]:
        """Scores given to a question, oldest first."""
        with self._tx() as session:
            return list(
                session.scalars(
                    select(Rating.score)
                    .where(Rating.question_id == question_id)
                    .order_by(Rating.id)
                )
            )

    def waiting_questions(self, official_id: int | None = None) -> list[QuestionInfo]:
        """Questions still waiting for an answer (of one official's groups, when given), oldest first."""
        with self._tx() as session:
            query = select(Question).where(Question.state.in_(QuestionState.WAITING))
            if official_id is not None:
                query = query.where(Question.group_id.in_(self._group_ids(official_id)))
            rows = session.scalars(query.order_by(Question.id)).all()
            return [self._question_info(session, q) for q in rows]

    @staticmethod
    def _group_ids(official_id: int) -> Any:
        return select(GroupAssignment.group_id).where(GroupAssignment.official_id == official_id)

    # ---------------------------------------------------------------- suggestions

    def record_suggestions(
        self, official_id: int, question_id: int, template_ids: Sequence[str], at: datetime
    ) -> None:
        """Remember the ranked templates shown to an official, so they can pick one by number."""
        with self._tx() as session:
            session.add_all(
                Suggestion(
                    official_id=official_id, question_id=question_id, rank=i, template_id=t, at=at
                )
                for i, t in enumerate(template_ids, start=1)
            )

    def pending_suggestions(
        self, official_id: int, question_id: int | None = None
    ) -> PendingSuggestions | None:
        """The templates last shown to the official (for one question, or the latest of any)."""
        with self._tx() as session:
            query = select(Suggestion).where(Suggestion.official_id == official_id)
            if question_id is not None:
                query = query.where(Suggestion.question_id == question_id)
            latest = session.scalar(query.order_by(Suggestion.id.desc()))
            if latest is None:
                return None
            rows = session.scalars(
                select(Suggestion)
                .where(
                    Suggestion.official_id == official_id,
                    Suggestion.question_id == latest.question_id,
                    Suggestion.at == latest.at,
                )
                .order_by(Suggestion.rank)
            ).all()
            return PendingSuggestions(latest.question_id, tuple(s.template_id for s in rows))

    # ---------------------------------------------------------------- engagement

    def record_engagement(
        self,
        official_id: int,
        kind: str,
        at: datetime,
        *,
        platform: str | None = None,
        chat_id: str | None = None,
        question_id: int | None = None,
        message_id: int | None = None,
        detail: str = "",
    ) -> None:
        """Record one official action (lurk, chat, speak, visit …)."""
        if kind not in EngagementKind.ALL:
            raise StoreError(f"unknown engagement kind {kind!r}")
        with self._tx() as session:
            group_id = None
            if platform and chat_id:
                group_id = session.scalar(
                    select(Group.id).where(
                        Group.platform == platform, Group.platform_chat_id == chat_id
                    )
                )
            session.add(
                Engagement(
                    official_id=official_id, kind=kind, at=at, group_id=group_id,
                    question_id=question_id, message_id=message_id, detail=detail[:2000],
                )
            )  # fmt: skip

    def last_engagement_at(self, official_id: int, kind: str) -> datetime | None:
        """When the official last did ``kind``."""
        with self._tx() as session:
            return session.scalar(
                select(func.max(Engagement.at)).where(
                    Engagement.official_id == official_id, Engagement.kind == kind
                )
            )

    def engagement_counts(self, official_id: int) -> dict[str, int]:
        """How many actions of each kind an official has on record."""
        with self._tx() as session:
            rows = session.execute(
                select(Engagement.kind, func.count())
                .where(Engagement.official_id == official_id)
                .group_by(Engagement.kind)
            ).all()
            return {k: n for k, n in rows}

    def digest(self, official_id: int, since: datetime | None, until: datetime) -> Digest:
        """What happened in the official's groups between ``since`` (None: ever) and ``until``."""
        with self._tx() as session:
            groups = self._group_ids(official_id)
            new_q = select(Question).where(
                Question.group_id.in_(groups), Question.created_at <= until
            )
            if since is not None:
                new_q = new_q.where(Question.created_at > since)
            new_questions = [
                self._question_info(session, q)
                for q in session.scalars(new_q.order_by(Question.id))
            ]
            waiting = [
                self._question_info(session, q)
                for q in session.scalars(
                    select(Question)
                    .where(Question.group_id.in_(groups), Question.state.in_(QuestionState.WAITING))
                    .order_by(Question.id)
                )
            ]
            messages = (
                select(
                    Group.title,
                    Person.display_name,
                    Message.intent,
                    Message.text,
                    Message.intent_confident,
                )
                .join(Group, Group.id == Message.group_id)
                .join(Person, Person.id == Message.person_id)
                .where(Message.group_id.in_(groups), Message.sent_at <= until)
                .where(Message.from_official.is_(False))
            )
            if since is not None:
                messages = messages.where(Message.sent_at > since)
            rows = session.execute(messages.order_by(Message.sent_at)).all()
            flagged = [
                (title, name, intent, text, confident)
                for title, name, intent, text, confident in rows
                if intent in ("suggestion", "complaint")
            ]
            return Digest(
                since=since,
                until=until,
                new_questions=new_questions,
                waiting_questions=waiting,
                flagged=flagged,
                texts=[text for _, _, intent, text, _ in rows if intent != "chatter"],
                message_count=len(rows),
            )

    # ---------------------------------------------------------------- templates and adapter state

    def sync_templates(self, templates: Iterable[dict[str, str]], at: datetime) -> int:
        """Upsert template rows (id, title, intent, department, keywords, body); returns how many."""
        count = 0
        with self._tx() as session:
            for data in templates:
                row = session.get(Template, data["id"]) or Template(id=data["id"])
                row.title = data.get("title", "")
                row.intent = data.get("intent", "")
                row.department = data.get("department", "")
                row.keywords = data.get("keywords", "")
                row.body = data.get("body", "")
                row.updated_at = at
                session.add(row)
                count += 1
        return count

    def get_state(self, key: str) -> str | None:
        """A value an adapter saved, or None."""
        with self._tx() as session:
            row = session.get(AdapterState, key)
            return row.value if row else None

    def set_state(self, key: str, value: str, at: datetime) -> None:
        """Save a small value under ``key``."""
        with self._tx() as session:
            row = session.get(AdapterState, key) or AdapterState(key=key)
            row.value = value
            row.updated_at = at
            session.add(row)

    # ---------------------------------------------------------------- supervision

    def summary(self, since: datetime, until: datetime, now: datetime) -> Summary:
        """Per official, group and department figures for questions asked and actions done in the period."""
        with self._tx() as session:
            return build_summary(session, since, until, now, self._question_info)

    def claim_overdue(self, now: datetime) -> list[QuestionInfo]:
        """Questions that just went past their promised time, each returned once (marked as notified).

        A reopened question that is past due again is returned again.
        """
        with self._tx() as session:
            rows = session.scalars(
                select(Question)
                .where(Question.state.in_(QuestionState.WAITING), Question.due_at < now)
                .where(
                    (Question.overdue_notified_at.is_(None))
                    | (Question.overdue_notified_at <= Question.answered_at)
                )
                .order_by(Question.due_at)
                .with_for_update(skip_locked=True)
            ).all()
            for q in rows:
                q.overdue_notified_at = now
            session.flush()
            return [self._question_info(session, q) for q in rows]

    def supervisors(self) -> list[OfficialInfo]:
        """Active supervisors and admins."""
        with self._tx() as session:
            rows = session.scalars(
                select(Official)
                .where(Official.role.in_(("supervisor", "admin")), Official.active.is_(True))
                .order_by(Official.id)
            ).all()
            return [self._official_info(session, o) for o in rows]

    def overdue_questions(self, now: datetime) -> list[QuestionInfo]:
        """Questions still waiting past their promised time, most overdue first."""
        with self._tx() as session:
            rows = session.scalars(
                select(Question)
                .where(Question.state.in_(QuestionState.WAITING), Question.due_at < now)
                .order_by(Question.due_at)
            ).all()
            return [self._question_info(session, q) for q in rows]
