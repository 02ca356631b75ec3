"""Who is who: departments, officials and their platform accounts, the groups each official answers
for, and the one-time invite codes that bind an account to an official."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, delete, select, true, tuple_
from sqlalchemy.orm import Session

from storage import rows
from storage.base import StoreBase, StoreError, StoreErrorCode, core
from storage.driver import DriverStatement
from storage.models import Department, Group, GroupAssignment, InviteCode, Official, Person
from storage.records import GroupInfo, OfficialInfo, OfficialSpec

# The roster reads every event or question makes (a sender's role, a ticket's assignee): Core
# statements built once, the official's fields in ``OfficialInfo``'s order.
_OFFICIALS = cast(Table, Official.__table__)
_PERSONS = cast(Table, Person.__table__)
_OFFICIAL_FIELDS = (
    _OFFICIALS.c.id, _OFFICIALS.c.name, _OFFICIALS.c.department, _OFFICIALS.c.role,
    _OFFICIALS.c.jurisdiction,
)  # fmt: skip
_OFFICIAL = DriverStatement(
    select(*_OFFICIAL_FIELDS).where(_OFFICIALS.c.id == bindparam("official_id"))
)
_BY_IDENTITY = (
    select(_PERSONS.c.platform, _PERSONS.c.platform_user_id, *_OFFICIAL_FIELDS)
    .join(_OFFICIALS, _PERSONS.c.official_id == _OFFICIALS.c.id)
    .where(
        tuple_(_PERSONS.c.platform, _PERSONS.c.platform_user_id).in_(
            bindparam("identities", expanding=True)
        ),
        _OFFICIALS.c.active.is_(true()),
    )
)
_IDENTITY_FIELDS = (_PERSONS.c.official_id, _PERSONS.c.platform, _PERSONS.c.platform_user_id)
_IDENTITIES = (
    select(*_IDENTITY_FIELDS)
    .where(_PERSONS.c.official_id.in_(bindparam("official_ids", expanding=True)))
    .order_by(_PERSONS.c.id)
)
# The common case of one official (a ticket's handler, a lone sender's role), compiled once.
_IDENTITIES_OF_ONE = DriverStatement(
    select(*_IDENTITY_FIELDS)
    .where(_PERSONS.c.official_id == bindparam("official_id"))
    .order_by(_PERSONS.c.id)
)
_BY_ONE_IDENTITY = DriverStatement(
    select(*_OFFICIAL_FIELDS)
    .join(_OFFICIALS, _PERSONS.c.official_id == _OFFICIALS.c.id)
    .where(
        _PERSONS.c.platform == bindparam("platform"),
        _PERSONS.c.platform_user_id == bindparam("user_id"),
        _OFFICIALS.c.active.is_(true()),
    )
)


def _with_identities(connection: Connection, found: Sequence[Any]) -> dict[int, OfficialInfo]:
    """Officials' rows (``_OFFICIAL_FIELDS``) as records with their platform accounts, looked up for
    all of them in one statement."""
    if not found:
        return {}
    identities: dict[int, list[tuple[str, str]]] = {row[0]: [] for row in found}
    if len(identities) == 1:
        (one,) = identities
        accounts: Iterable[Any] = _IDENTITIES_OF_ONE.rows(connection, {"official_id": one})
    else:
        accounts = connection.execute(_IDENTITIES, {"official_ids": list(identities)})
    for official_id, platform, user_id in accounts:
        identities[official_id].append((platform, user_id))
    return {
        oid: OfficialInfo(oid, name, department, role, jurisdiction, tuple(identities[oid]))
        for oid, name, department, role, jurisdiction in found
    }


class RosterStore(StoreBase):
    """Departments, officials, their identities and groups, and invite codes."""

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
            raise StoreError(StoreErrorCode.UNKNOWN_ROLE, role=role)
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
            return rows.official_info(session, official)

    @staticmethod
    def _official_by_name(session: Session, name: str) -> Official:
        official = session.scalar(select(Official).where(Official.name == name))
        if official is None:
            raise StoreError(StoreErrorCode.UNKNOWN_OFFICIAL, name=name)
        return official

    def bind_identity(
        self, official_name: str, platform: str, user_id: str, at: datetime, display_name: str = ""
    ) -> OfficialInfo:
        """Make the platform account ``platform:user_id`` belong to ``official_name``."""
        with self._tx() as session:
            official = self._official_by_name(session, official_name)
            person = rows.person(session, platform, user_id, display_name or official.name, at)
            person.official_id = official.id
            session.flush()
            return rows.official_info(session, official)

    def assign(
        self, official_name: str, platform: str, chat_id: str, at: datetime, title: str = ""
    ) -> None:
        """The official answers the questions of this group from now on."""
        with self._tx() as session:
            official = self._official_by_name(session, official_name)
            group = rows.group(session, platform, chat_id, title, at)
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
            group = rows.group(session, platform, chat_id, title, at)
            if session.get(GroupAssignment, (group.id, official_id)) is None:
                session.add(GroupAssignment(group_id=group.id, official_id=official_id))

    def officials(self) -> list[OfficialInfo]:
        """Everyone on the roster, by name."""
        with self._tx() as session:
            found = session.scalars(select(Official).order_by(Official.name)).all()
            return [rows.official_info(session, o) for o in found]

    def official(self, official_id: int) -> OfficialInfo | None:
        """The official with this id, if any."""
        with self._tx() as session:
            connection = core(session)
            row = _OFFICIAL.first(connection, {"official_id": official_id})
            return _with_identities(connection, [row])[official_id] if row else None

    def official_for_identity(self, platform: str, user_id: str) -> OfficialInfo | None:
        """The roster entry owning this platform account, if any."""
        return self.officials_for_identities([(platform, user_id)])[(platform, user_id)]

    def officials_for_identities(
        self, identities: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], OfficialInfo | None]:
        """``official_for_identity`` of each ``(platform, user id)``, in one statement (a batch of
        events learns its senders' roles at once; a second finds the officials' accounts); None for
        those not on the roster."""
        found: dict[tuple[str, str], OfficialInfo | None] = dict.fromkeys(identities)
        if not identities:
            return found
        with self._tx() as session:
            connection = core(session)
            matched: Sequence[Any]
            if len(found) == 1:
                ((platform, user_id),) = found
                row = _BY_ONE_IDENTITY.first(connection, {"platform": platform, "user_id": user_id})
                matched = [] if row is None else [(platform, user_id, *row)]
            else:
                matched = connection.execute(_BY_IDENTITY, {"identities": list(identities)}).all()
            officials = _with_identities(connection, [row[2:] for row in matched])
            for row in matched:
                found[(row[0], row[1])] = officials[row[2]]
        return found

    def groups_of(self, official_id: int) -> list[GroupInfo]:
        """Groups the official answers for."""
        with self._tx() as session:
            found = session.scalars(
                select(Group)
                .join(GroupAssignment, GroupAssignment.group_id == Group.id)
                .where(GroupAssignment.official_id == official_id)
                .order_by(Group.id)
            ).all()
            return [rows.group_info(g) for g in found]

    def officials_for_group(self, platform: str, chat_id: str) -> list[OfficialInfo]:
        """Officials assigned to the group, in roster order."""
        with self._tx() as session:
            found = session.scalars(
                select(Official)
                .join(GroupAssignment, GroupAssignment.official_id == Official.id)
                .join(Group, Group.id == GroupAssignment.group_id)
                .where(Group.platform == platform, Group.platform_chat_id == chat_id)
                .where(Official.active.is_(True))
                .order_by(Official.id)
            ).all()
            return [rows.official_info(session, o) for o in found]

    def group_assignments(self) -> list[tuple[str, GroupInfo]]:
        """(official name, group) for every assignment."""
        with self._tx() as session:
            found = session.execute(
                select(Official.name, Group)
                .join(GroupAssignment, GroupAssignment.official_id == Official.id)
                .join(Group, Group.id == GroupAssignment.group_id)
                .order_by(Official.name, Group.id)
            ).all()
            return [(n, rows.group_info(g)) for n, g in found]

    def supervisors(self) -> list[OfficialInfo]:
        """Active supervisors and admins."""
        with self._tx() as session:
            found = session.scalars(
                select(Official)
                .where(Official.role.in_(("supervisor", "admin")), Official.active.is_(True))
                .order_by(Official.id)
            ).all()
            return [rows.official_info(session, o) for o in found]

    # ---------------------------------------------------------------- invitations

    @staticmethod
    def _hash_code(code: str) -> str:
        return hashlib.sha256(code.strip().upper().encode()).hexdigest()

    def create_invite(
        self, official_name: str, at: datetime, ttl: timedelta = timedelta(hours=24)
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

    def revoke_invite(self, code: str, at: datetime) -> bool:
        """Make an unused code unredeemable (it was typed where others could read it); True when
        there was such a code."""
        with self._tx() as session:
            invite = session.scalar(
                select(InviteCode).where(InviteCode.code_hash == self._hash_code(code))
            )
            if invite is None or invite.used_at is not None or invite.revoked_at is not None:
                return False
            invite.revoked_at = at
            return True

    def redeem_invite(
        self, code: str, platform: str, user_id: str, display_name: str, at: datetime
    ) -> OfficialInfo:
        """Bind the account to the code's official; refuse unknown, used or expired codes."""
        with self._tx() as session:
            invite = session.scalar(
                select(InviteCode).where(InviteCode.code_hash == self._hash_code(code))
            )
            if invite is None:
                raise StoreError(StoreErrorCode.INVITE_INVALID)
            if invite.revoked_at is not None:
                raise StoreError(StoreErrorCode.INVITE_REVOKED)
            if invite.used_at is not None:
                raise StoreError(StoreErrorCode.INVITE_USED)
            if invite.expires_at < at:
                raise StoreError(StoreErrorCode.INVITE_EXPIRED)
            person = rows.person(session, platform, user_id, display_name, at)
            invite.used_at = at
            invite.used_by_person_id = person.id
            person.official_id = invite.official_id
            official = session.get_one(Official, invite.official_id)
            session.flush()
            return rows.official_info(session, official)
