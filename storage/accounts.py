"""Officials' web-console accounts: the stored password hash of each (hashing is the caller's; the
store never sees a password)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from storage import rows
from storage.base import StoreBase, StoreError, StoreErrorCode
from storage.models import Official, WebAccount
from storage.records import OfficialInfo


class AccountStore(StoreBase):
    """Password hashes for the web console."""

    def set_password_hash(self, official_name: str, password_hash: str, at: datetime) -> None:
        """Give the official ``official_name`` a (new) console password hash."""
        with self._tx() as session:
            official = session.scalar(select(Official).where(Official.name == official_name))
            if official is None:
                raise StoreError(StoreErrorCode.UNKNOWN_OFFICIAL, name=official_name)
            account = session.get(WebAccount, official.id)
            if account is None:
                session.add(
                    WebAccount(official_id=official.id, password_hash=password_hash, updated_at=at)
                )
            else:
                account.password_hash = password_hash
                account.updated_at = at

    def console_login(self, official_name: str) -> tuple[OfficialInfo, str] | None:
        """The active official ``official_name`` and their password hash; None without either."""
        with self._tx() as session:
            found = session.execute(
                select(Official, WebAccount.password_hash)
                .join(WebAccount, WebAccount.official_id == Official.id)
                .where(Official.name == official_name, Official.active.is_(True))
            ).first()
            if found is None:
                return None
            official, password_hash = found
            return rows.official_info(session, official), password_hash

    def console_viewer(self, official_id: int) -> OfficialInfo | None:
        """The official a console session belongs to, while they are active and have an account."""
        with self._tx() as session:
            official = session.scalar(
                select(Official)
                .join(WebAccount, WebAccount.official_id == Official.id)
                .where(Official.id == official_id, Official.active.is_(True))
            )
            return rows.official_info(session, official) if official else None
