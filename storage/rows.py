"""Row helpers the parts of the store share: find or create a person or a group, find a question, and
turn rows into the plain records callers get (storage/records.py).

Each takes the session of the method calling it, so it joins that method's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from storage.base import GROUPS_MEMO, PERSONS_MEMO, StoreError, StoreErrorCode, core
from storage.driver import DriverStatement
from storage.known_rows import known_rows
from storage.models import Group, Official, Person, Question
from storage.records import GroupInfo, OfficialInfo, QuestionInfo, QuestionState


class _Lookup:
    """Core statements built once that find, make or rename a person (or a group) by its platform
    key, for the ids ``storage.known_rows`` does not know yet: a new resident or group at a question,
    often, where the ORM's SELECT, flush and UPDATE cost several times the SQL."""

    def __init__(
        self, model: type[Person] | type[Group], key: str, name: str, made: Sequence[str]
    ) -> None:
        table = cast(Table, model.__table__)
        self.model = model
        # On the driver's cursor (``storage.driver``); ``made``: the columns a new row is given.
        self.find = DriverStatement(
            select(table.c.id, table.c[name]).where(
                table.c.platform == bindparam("platform"), table.c[key] == bindparam("key")
            )
        )
        self.add = DriverStatement(insert(table).returning(table.c.id), made)
        self.rename = DriverStatement(
            update(table).where(table.c.id == bindparam("row_id")).values({name: bindparam("name")})
        )

    def __call__(
        self, session: Session, platform: str, key: str, name: str, new: dict[str, Any]
    ) -> tuple[int, str] | None:
        """(id, name) of the row found (renamed to a non-empty ``name``) or made from ``new``; None
        when the row is to be renamed and this session holds it as an ORM object: the ORM renames
        it then, so that the object is not left with the old name."""
        connection = core(session)
        row = self.find.first(connection, {"platform": platform, "key": key})
        if row is None:
            return self.add.scalar(connection, new), name
        if not name or row[1] == name:
            return row[0], row[1]
        if session.identity_key(self.model, row[0]) in session.identity_map:
            return None
        self.rename.rows(connection, {"row_id": row[0], "name": name})
        return row[0], name


_PERSON = _Lookup(
    Person,
    "platform_user_id",
    "display_name",
    ("platform", "platform_user_id", "display_name", "official_id", "first_seen_at"),
)
_GROUP = _Lookup(
    Group, "platform_chat_id", "title", ("platform", "platform_chat_id", "title", "created_at")
)


def person(session: Session, platform: str, user_id: str, name: str, at: datetime) -> Person:
    """The person behind ``platform:user_id``, created on first sight; a new non-empty name replaces
    the stored one."""
    known: dict[tuple[str, str], Person] = session.info.setdefault(PERSONS_MEMO, {})
    row = known.get((platform, user_id))
    if row is None:
        row = session.scalar(
            select(Person).where(Person.platform == platform, Person.platform_user_id == user_id)
        )
    if row is None:
        row = Person(
            platform=platform, platform_user_id=user_id, display_name=name, first_seen_at=at
        )
        session.add(row)
        session.flush()
    elif name and row.display_name != name:
        row.display_name = name
    known[(platform, user_id)] = row
    return row


def group(session: Session, platform: str, chat_id: str, title: str, at: datetime) -> Group:
    """The group chat ``platform:chat_id``, created on first sight; a new non-empty title replaces
    the stored one."""
    known: dict[tuple[str, str], Group] = session.info.setdefault(GROUPS_MEMO, {})
    row = known.get((platform, chat_id))
    if row is None:
        row = session.scalar(
            select(Group).where(Group.platform == platform, Group.platform_chat_id == chat_id)
        )
    if row is None:
        row = Group(platform=platform, platform_chat_id=chat_id, title=title, created_at=at)
        session.add(row)
        session.flush()
    elif title and row.title != title:
        row.title = title
    known[(platform, chat_id)] = row
    return row


def person_id(session: Session, platform: str, user_id: str, name: str, at: datetime) -> int:
    """``person(…).id``, without a statement when this process found or made that person already
    under that name (``storage.known_rows``)."""
    return person_ref(session, platform, user_id, name, at)[0]


def person_ref(
    session: Session, platform: str, user_id: str, name: str, at: datetime
) -> tuple[int, str]:
    """``person_id`` and the person's name as stored: ``name`` itself when given (it is stored now),
    else the stored one."""

    def find() -> tuple[int, str]:
        new = {
            "platform": platform, "platform_user_id": user_id, "display_name": name,
            "official_id": None, "first_seen_at": at,
        }  # fmt: skip
        found = _PERSON(session, platform, user_id, name, new)
        if found is None:
            row = person(session, platform, user_id, name, at)
            found = row.id, row.display_name
        return found

    return _remembered(known_rows(session).persons, (platform, user_id), name, find)


def group_id(session: Session, platform: str, chat_id: str, title: str, at: datetime) -> int:
    """``group(…).id``, without a statement when this process found or made that group already under
    that title (``storage.known_rows``)."""
    return group_ref(session, platform, chat_id, title, at)[0]


def group_ref(
    session: Session, platform: str, chat_id: str, title: str, at: datetime
) -> tuple[int, str]:
    """``group_id`` and the group's title as stored: ``title`` itself when given (it is stored now),
    else the stored one."""

    def find() -> tuple[int, str]:
        new = {"platform": platform, "platform_chat_id": chat_id, "title": title, "created_at": at}
        found = _GROUP(session, platform, chat_id, title, new)
        if found is None:
            row = group(session, platform, chat_id, title, at)
            found = row.id, row.title
        return found

    return _remembered(known_rows(session).groups, (platform, chat_id), title, find)


def _remembered(
    known: dict[tuple[str, str], tuple[int, str]],
    key: tuple[str, str],
    name: str,
    find: Callable[[], tuple[int, str]],
) -> tuple[int, str]:
    """The (id, name) ``known`` holds for ``key`` under ``name`` (an empty name matches any), else
    what ``find`` gives, remembered."""
    hit = known.get(key)
    if hit is not None and (not name or hit[1] == name):
        return hit
    known[key] = found = find()
    return found


def group_info(g: Group) -> GroupInfo:
    """A group row as a record."""
    return GroupInfo(g.id, g.platform, g.platform_chat_id, g.title)


def official_info(session: Session, official: Official) -> OfficialInfo:
    """An official row as a record, with the platform accounts that belong to them."""
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


def question_info(session: Session, q: Question) -> QuestionInfo:
    """A question row as a record, with its asker, group title and assignee's name."""
    asker = session.get_one(Person, q.asker_id)
    chat = session.get(Group, q.group_id) if q.group_id else None
    assignee = session.get(Official, q.assignee_id) if q.assignee_id else None
    return question_record(
        q,
        asker_user_id=asker.platform_user_id,
        asker_name=asker.display_name,
        group_title=chat.title if chat else "",
        assignee_name=assignee.name if assignee else "",
    )


def question_record(
    q: Question, *, asker_user_id: str, asker_name: str, group_title: str, assignee_name: str
) -> QuestionInfo:
    """A question row as a record, its asker, group title and assignee's name already looked up (by a
    join, when many questions are listed at once)."""
    return QuestionInfo(
        id=q.id,
        platform=q.platform,
        chat_id=q.chat_id,
        platform_message_id=q.platform_message_id,
        group_id=q.group_id,
        group_title=group_title,
        asker_user_id=asker_user_id,
        asker_name=asker_name,
        text=q.text,
        department=q.department,
        department_confident=q.department_confident,
        assignee_id=q.assignee_id,
        assignee_name=assignee_name,
        state=q.state,
        created_at=q.created_at,
        due_at=q.due_at,
        first_response_at=q.first_response_at,
        answered_at=q.answered_at,
        ack_platform_message_id=q.ack_platform_message_id,
        answer_platform_message_id=q.answer_platform_message_id,
        limit_label=q.limit_label,
        answered_by_id=q.answered_by_id,
        transferred_by_id=q.transferred_by_id,
        transferred_at=q.transferred_at,
        extension_due_at=q.extension_due_at,
        extension_official_id=q.extension_official_id,
        extension_reason=q.extension_reason,
        duplicate_of_id=q.duplicate_of_id,
    )


def existing_question(session: Session, question_id: int) -> Question:
    """The question numbered ``question_id``; a ``StoreError`` when there is none."""
    q = session.get(Question, question_id)
    if q is None:
        raise StoreError(StoreErrorCode.UNKNOWN_QUESTION, question_id=question_id)
    return q


def question_listing() -> Any:
    """A SELECT of questions as ``QuestionInfo`` rows (its fields in order), asker, group and assignee
    joined in the one query, for listing many without ORM objects: add WHERE and ORDER BY, then
    ``QuestionInfo(*row)``. ``Any`` because SQLAlchemy 2.0 and 2.1 spell the generic Select differently."""
    assignee = aliased(Official)
    joined = {
        "asker_user_id": Person.platform_user_id,
        "asker_name": Person.display_name,
        "group_title": func.coalesce(Group.title, ""),
        "assignee_name": func.coalesce(assignee.name, ""),
    }
    columns: list[Any] = [
        joined[f.name] if f.name in joined else Question.__table__.c[f.name]
        for f in fields(QuestionInfo)
    ]
    return (
        select(*columns)
        .join(Person, Person.id == Question.asker_id)
        .outerjoin(Group, Group.id == Question.group_id)
        .outerjoin(assignee, assignee.id == Question.assignee_id)
    )


def count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """SUM of 1 for the rows ``condition`` holds for: several counts in one pass of a GROUP BY."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def waiting(state: ColumnElement[str] | InstrumentedAttribute[str]) -> ColumnElement[bool]:
    """``state`` is one of ``QuestionState.WAITING``, the states written into the SQL, not bound: a
    statement built once has no list to expand, and SQLite uses a partial index whose condition names
    them (``models.WAITING_STATES``) only for a WHERE with the same terms."""
    return state.in_([literal_column(f"'{s}'") for s in sorted(QuestionState.WAITING)])


def timer_waiting() -> ColumnElement[bool]:
    """A question whose 督办 stages are still to come (``models.TIMER_WAITING``, as it stands there:
    the timer's partial indexes)."""
    return and_(waiting(Question.state), Question.duplicate_of_id.is_(None))


def extension_pending() -> ColumnElement[bool]:
    """A waiting question with an extension awaiting a decision (``models.EXTENSION_PENDING``, as it
    stands there: its partial index)."""
    return and_(waiting(Question.state), Question.extension_due_at.is_not(None))


def revisit_unsent() -> ColumnElement[bool]:
    """An answer whose 回访 reminder is still to come (``models.REVISIT_UNSENT``, as it stands there)."""
    return and_(
        Question.state == literal_column(f"'{QuestionState.ANSWERED}'"),
        Question.revisit_reminded_at.is_(None),
    )
