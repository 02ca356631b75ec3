"""The audit log: who did what, when, from which chat — staff actions, refused commands, failed binds
and unmasked views. Lines are only ever added (the database refuses UPDATE and DELETE on the table);
they are read by ``minyi audit`` and counted by the bind throttle."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from storage.base import StoreBase
from storage.models import AuditEntry, Official
from storage.records import AuditRecord

DETAIL_CHARS = 300


class AuditStore(StoreBase):
    """Adding to and reading the audit log."""

    def record_audit(self, record: AuditRecord) -> None:
        """Add one line (in the unit of work of the event it records)."""
        with self._tx() as session:
            session.add(
                AuditEntry(
                    at=record.at,
                    actor=record.actor,
                    actor_name=record.actor_name,
                    official_id=record.official_id,
                    role=record.role,
                    chat=record.chat,
                    in_group=record.in_group,
                    action=record.action,
                    subject=record.subject,
                    outcome=record.outcome,
                    reason=record.reason,
                    detail=record.detail[:DETAIL_CHARS],
                )
            )

    def audit_since(self, since: datetime) -> list[AuditRecord]:
        """Every line from ``since`` on, oldest first, with the official's roster name if known."""
        with self._tx() as session:
            found = session.execute(
                select(AuditEntry, Official.name)
                .outerjoin(Official, Official.id == AuditEntry.official_id)
                .where(AuditEntry.at >= since)
                .order_by(AuditEntry.at, AuditEntry.id)
            ).all()
            return [
                AuditRecord(
                    at=e.at,
                    actor=e.actor,
                    chat=e.chat,
                    in_group=e.in_group,
                    action=e.action,
                    outcome=e.outcome,
                    actor_name=name or e.actor_name,
                    official_id=e.official_id,
                    role=e.role,
                    subject=e.subject,
                    reason=e.reason,
                    detail=e.detail,
                )
                for e, name in found
            ]

    def audit_count(
        self, actor: str, action: str, outcomes: tuple[str, ...], since: datetime
    ) -> int:
        """How many lines of ``actor`` doing ``action`` ended in one of ``outcomes`` since ``since``."""
        with self._tx() as session:
            return int(
                session.scalar(
                    select(func.count()).where(
                        AuditEntry.actor == actor,
                        AuditEntry.action == action,
                        AuditEntry.outcome.in_(outcomes),
                        AuditEntry.at >= since,
                    )
                )
                or 0
            )
