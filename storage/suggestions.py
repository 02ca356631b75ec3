"""What officials may answer with: the reply templates synced from templates/*.j2, and the ranked
suggestions shown to an official for a question, so ``/reply Q12 2`` or a bare ``2`` picks one."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, insert, select

from storage.base import StoreBase, core
from storage.models import Suggestion, Template
from storage.records import PendingSuggestions

_RECORD_SUGGESTIONS = insert(cast(Table, Suggestion.__table__))


class SuggestionStore(StoreBase):
    """Reply templates and the suggestions shown to officials."""

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

    def record_suggestions(
        self, official_id: int, question_id: int, template_ids: Sequence[str], at: datetime
    ) -> None:
        """Remember the ranked templates shown to an official, so they can pick one by number."""
        if not template_ids:
            return
        with self._tx() as session:
            # One Core INSERT of all the rows (the ORM inserted them one statement each).
            core(session).execute(
                _RECORD_SUGGESTIONS,
                [
                    {"official_id": official_id, "question_id": question_id, "rank": i,
                     "template_id": t, "at": at}
                    for i, t in enumerate(template_ids, start=1)
                ],
            )  # fmt: skip

    def pending_suggestions(
        self, official_id: int, question_id: int | None = None
    ) -> PendingSuggestions | None:
        """The templates last shown to the official (for one question, or the latest of any)."""
        with self._tx() as session:
            query = select(Suggestion).where(Suggestion.official_id == official_id)
            if question_id is not None:
                query = query.where(Suggestion.question_id == question_id)
            latest = session.scalar(query.order_by(Suggestion.id.desc()).limit(1))
            if latest is None:
                return None
            shown = session.scalars(
                select(Suggestion)
                .where(
                    Suggestion.official_id == official_id,
                    Suggestion.question_id == latest.question_id,
                    Suggestion.at == latest.at,
                )
                .order_by(Suggestion.rank)
            ).all()
            return PendingSuggestions(latest.question_id, tuple(s.template_id for s in shown))
