"""Delivery bookkeeping: platform events already acted on (so a redelivery changes nothing) and the
small values adapters keep across restarts. Kept apart because an inbox/outbox replaces it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError

from storage.base import StoreBase
from storage.models import AdapterState, ProcessedEvent


class AdapterStateStore(StoreBase):
    """Processed events and adapter state."""

    def claim_event(self, platform: str, event_key: str, at: datetime) -> bool:
        """True the first time a platform event is seen; False for a redelivery."""
        try:
            with self._tx(guarded=True) as session:
                session.add(ProcessedEvent(platform=platform, event_key=event_key[:200], at=at))
        except IntegrityError:
            return False
        return True

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
