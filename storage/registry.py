"""好想法好建议 — the registry of residents' suggestions: entries (``S3``) made from stored messages,
their status (received → studying → adopted / partly adopted / declined) and every change with an
official's note. (storage/suggestions.py is something else: reply templates shown to officials.)"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, Select, Table, func, insert, literal_column, select
from sqlalchemy.orm import Session

from storage.base import StoreBase, core
from storage.driver import DriverStatement
from storage.models import (
    Group,
    Message,
    Official,
    Person,
    ResidentSuggestion,
    SuggestionChange,
)
from storage.reports import EVERYTHING, ReportScope

_SUGGESTIONS = cast(Table, ResidentSuggestion.__table__)
_ENTRY = ("message_id", "status", "note", "adopted_by_id", "created_at", "updated_at")
_CHANGE = ("suggestion_id", "status", "note", "official_id", "at")
_ENTER = DriverStatement(insert(_SUGGESTIONS).returning(_SUGGESTIONS.c.id), _ENTRY)
_ENTER_CHANGE = DriverStatement(insert(cast(Table, SuggestionChange.__table__)), _CHANGE)
_UNINDEXED_GROUP = Message.group_id + literal_column("0")
"""An entry's group as the registry's list and counts compare it: in a form no index of the messages
serves, so the planner starts from the entries (few) and reads each one's message, never every message
of the groups the reader oversees (SQLite picked those without statistics)."""


class SuggestionStatus:
    """A registry entry's status, as stored."""

    RECEIVED = "received"
    STUDYING = "studying"
    ADOPTED = "adopted"
    PARTLY = "partly_adopted"
    DECLINED = "declined"
    ALL = (RECEIVED, STUDYING, ADOPTED, PARTLY, DECLINED)


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    """A suggestion in the registry, with the message it was made from."""

    id: int
    status: str
    note: str
    platform: str
    chat_id: str
    platform_message_id: str
    group_title: str
    suggester_user_id: str
    suggester_name: str
    text: str
    created_at: datetime
    updated_at: datetime

    @property
    def number(self) -> str:
        """The number people quote, e.g. ``S3``."""
        return f"S{self.id}"


@dataclass(frozen=True, slots=True)
class RegistryQuery:
    """Which entries the console's registry lists: a status (empty: any), made in [since, until)
    (None: no bound), of the groups ``scope`` admits."""

    since: datetime | None = None
    until: datetime | None = None
    status: str = ""
    scope: ReportScope = EVERYTHING

    def conditions(self) -> tuple[ColumnElement[bool], ...]:
        """The conditions on ``ResidentSuggestion`` joined with its ``Message``."""
        found = [self.scope.messages()]
        if self.until is not None:
            found.append(ResidentSuggestion.created_at < self.until)
        if self.since is not None:
            found.append(ResidentSuggestion.created_at >= self.since)
        if self.status:
            found.append(ResidentSuggestion.status == self.status)
        return tuple(found)


@dataclass(frozen=True, slots=True)
class RegistryChange:
    """One step of an entry's history: its status from then on, the note and who made it."""

    entry_id: int
    status: str
    note: str
    official_name: str
    at: datetime


class RegistryStore(StoreBase):
    """The suggestions registry."""

    def stored_message_id(
        self, platform: str, chat_id: str, platform_message_id: str
    ) -> int | None:
        """The id of a stored message, by its platform id."""
        with self._tx() as session:
            return session.scalar(
                select(Message.id).where(
                    Message.platform == platform,
                    Message.chat_id == chat_id,
                    Message.platform_message_id == platform_message_id,
                )
            )

    def enter_suggestion(self, message_id: int, at: datetime) -> int:
        """Enter a message stored in this same unit (so it has no entry yet) in the registry, status
        received, and return the entry's id. Two INSERTs compiled once, run on the driver's cursor
        (storage/driver.py): the group message path enters every confident suggestion."""
        entry = {"message_id": message_id, "status": SuggestionStatus.RECEIVED, "note": "",
                 "adopted_by_id": None, "created_at": at, "updated_at": at}  # fmt: skip
        with self._tx() as session:
            connection = core(session)
            entry_id = int(_ENTER.scalar(connection, entry))
            change = {"suggestion_id": entry_id, "status": SuggestionStatus.RECEIVED, "note": "",
                      "official_id": None, "at": at}  # fmt: skip
            _ENTER_CHANGE.rows(connection, change)
            return entry_id

    def register_suggestion(
        self, message_id: int, at: datetime, *, adopted_by: int | None = None
    ) -> tuple[RegistryEntry, bool]:
        """The registry entry of a stored message, made (status received) on first call; True when it
        was made now. ``adopted_by``: the official who marked it (``/adopt``)."""
        with self._tx() as session:
            row = session.scalar(
                select(ResidentSuggestion).where(ResidentSuggestion.message_id == message_id)
            )
            created = row is None
            if row is None:
                row = ResidentSuggestion(
                    message_id=message_id,
                    status=SuggestionStatus.RECEIVED,
                    note="",
                    adopted_by_id=adopted_by,
                    created_at=at,
                    updated_at=at,
                )
                session.add(row)
                session.flush()
                session.add(
                    SuggestionChange(
                        suggestion_id=row.id, status=row.status, note="", official_id=adopted_by,
                        at=at,
                    )
                )  # fmt: skip
            elif adopted_by is not None and row.adopted_by_id is None:
                row.adopted_by_id = adopted_by
            session.flush()
            return self._entry(session, row), created

    def change_suggestion(
        self, entry_id: int, status: str, note: str, *, official_id: int, at: datetime
    ) -> RegistryEntry | None:
        """Give an entry a new status with an official's note; None when there is no such entry."""
        if status not in SuggestionStatus.ALL:
            raise ValueError(f"unknown suggestion status {status!r}")
        with self._tx() as session:
            row = session.get(ResidentSuggestion, entry_id)
            if row is None:
                return None
            row.status, row.note, row.updated_at = status, note, at
            session.add(
                SuggestionChange(
                    suggestion_id=row.id, status=status, note=note, official_id=official_id, at=at
                )
            )
            session.flush()
            return self._entry(session, row)

    def registry_entry(self, entry_id: int) -> RegistryEntry | None:
        """The entry numbered ``entry_id``."""
        with self._tx() as session:
            row = session.get(ResidentSuggestion, entry_id)
            return self._entry(session, row) if row else None

    def registry(self, limit: int = 20, scope: ReportScope = EVERYTHING) -> list[RegistryEntry]:
        """The latest entries (of the groups ``scope`` admits), newest first."""
        with self._tx() as session:
            found = session.scalars(
                select(ResidentSuggestion)
                .join(Message, Message.id == ResidentSuggestion.message_id)
                .where(scope.messages(_UNINDEXED_GROUP))
                .order_by(ResidentSuggestion.id.desc())
                .limit(limit)
            ).all()
            return [self._entry(session, row) for row in found]

    def registry_counts(
        self, since: datetime | None, until: datetime, scope: ReportScope = EVERYTHING
    ) -> dict[str, int]:
        """How many entries made in [since, until] (since None: ever) of the groups ``scope`` admits
        are in each status now."""
        with self._tx() as session:
            query = (
                select(ResidentSuggestion.status)
                .join(Message, Message.id == ResidentSuggestion.message_id)
                .where(ResidentSuggestion.created_at <= until, scope.messages(_UNINDEXED_GROUP))
            )
            if since is not None:
                query = query.where(ResidentSuggestion.created_at >= since)
            return dict(Counter(session.scalars(query)))

    def registry_tally(self, query: RegistryQuery) -> dict[str, int]:
        """How many of the entries ``query`` admits are in each status now."""
        statement = (
            select(ResidentSuggestion.status)
            .join(Message, Message.id == ResidentSuggestion.message_id)
            .where(*query.conditions())
        )
        with self._tx() as session:
            return dict(Counter(session.scalars(statement)))

    def registry_search(self, query: RegistryQuery, limit: int = 100_000) -> list[RegistryEntry]:
        """The entries ``query`` admits, newest first, read in one joined query."""
        statement = _entries().where(*query.conditions()).order_by(ResidentSuggestion.id.desc())
        with self._tx() as session:
            return [
                RegistryEntry(**row._asdict()) for row in session.execute(statement.limit(limit))
            ]

    def registry_history(self, query: RegistryQuery) -> dict[int, list[RegistryChange]]:
        """Every status change of the entries ``query`` admits, oldest first, by entry id."""
        statement = (
            select(
                SuggestionChange.suggestion_id,
                SuggestionChange.status,
                SuggestionChange.note,
                func.coalesce(Official.name, ""),
                SuggestionChange.at,
            )
            .join(ResidentSuggestion, ResidentSuggestion.id == SuggestionChange.suggestion_id)
            .join(Message, Message.id == ResidentSuggestion.message_id)
            .outerjoin(Official, Official.id == SuggestionChange.official_id)
            .where(*query.conditions())
            .order_by(SuggestionChange.at, SuggestionChange.id)
        )
        found: dict[int, list[RegistryChange]] = {}
        with self._tx() as session:
            for row in session.execute(statement):
                found.setdefault(row[0], []).append(RegistryChange(*row))
        return found

    @staticmethod
    def _entry(session: Session, row: ResidentSuggestion) -> RegistryEntry:
        message = session.get_one(Message, row.message_id)
        person = session.get_one(Person, message.person_id)
        group = session.get(Group, message.group_id) if message.group_id else None
        return RegistryEntry(
            id=row.id,
            status=row.status,
            note=row.note,
            platform=message.platform,
            chat_id=message.chat_id,
            platform_message_id=message.platform_message_id,
            group_title=(group.title or group.platform_chat_id) if group else "",
            suggester_user_id=person.platform_user_id,
            suggester_name=person.display_name,
            text=message.text,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def _entries() -> Select:
    """Registry entries with their message, suggester and group, labelled as ``RegistryEntry``'s
    fields."""
    return (
        select(
            ResidentSuggestion.id.label("id"),
            ResidentSuggestion.status.label("status"),
            ResidentSuggestion.note.label("note"),
            Message.platform.label("platform"),
            Message.chat_id.label("chat_id"),
            Message.platform_message_id.label("platform_message_id"),
            func.coalesce(func.nullif(Group.title, ""), Group.platform_chat_id, "").label(
                "group_title"
            ),
            Person.platform_user_id.label("suggester_user_id"),
            Person.display_name.label("suggester_name"),
            Message.text.label("text"),
            ResidentSuggestion.created_at.label("created_at"),
            ResidentSuggestion.updated_at.label("updated_at"),
        )
        .join(Message, Message.id == ResidentSuggestion.message_id)
        .join(Person, Person.id == Message.person_id)
        .outerjoin(Group, Group.id == Message.group_id)
    )
