"""Reports for supervisors: engagement summaries per official, group and department over a period.

The 12345 hotline's three rates come out of plain rows: response rate (answered / questions), resolution
rate (resolved / questions) and satisfaction rate ((满意 + 基本满意) / rated, the latest rating per question).
Questions count in the period they were asked; actions count in the period they were done.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import rows
from storage.base import StoreBase
from storage.models import Engagement, Group, Message, Official, Person, Question, Rating
from storage.records import QuestionState, Summary, Tally

UNASSIGNED = "未分配"
UNCLASSIFIED = "未分类"
SUGGESTIONS_SHOWN = 20


def _tally(table: dict[str, Tally], key: str, label: str, department: str = "") -> Tally:
    if key not in table:
        table[key] = Tally(key=key, label=label, department=department)
    return table[key]


def summarise(
    session: Session, since: datetime, until: datetime, now: datetime
) -> tuple[dict[str, Tally], dict[str, Tally], dict[str, Tally], Tally, list[int], list[str]]:
    """Tallies by official, group and department, the total, overdue question ids and question texts."""
    officials: dict[str, Tally] = {}
    groups: dict[str, Tally] = {}
    departments: dict[str, Tally] = {}
    total = Tally(key="all", label="合计")

    roster = session.scalars(
        select(Official).where(Official.active.is_(True)).order_by(Official.id)
    )
    names: dict[int, str] = {}
    for official in roster:
        names[official.id] = official.name
        if official.role != "supervisor":
            _tally(officials, str(official.id), official.name, official.department)
    titles = {g.id: g.title or g.platform_chat_id for g in session.scalars(select(Group))}

    latest_rating: dict[int, str] = {}
    rating_rows = session.execute(
        select(Rating.question_id, Rating.score)
        .join(Question, Question.id == Rating.question_id)
        .where(Question.created_at >= since, Question.created_at < until)
        .order_by(Rating.id)
    ).all()
    for question_id, score in rating_rows:
        latest_rating[question_id] = score

    texts: list[str] = []
    questions = session.scalars(
        select(Question).where(Question.created_at >= since, Question.created_at < until)
    ).all()
    for q in questions:
        texts.append(q.text)
        rows = [
            total,
            _tally(
                officials,
                str(q.assignee_id) if q.assignee_id else "none",
                names.get(q.assignee_id or -1, UNASSIGNED),
            ),
            _tally(departments, q.department or UNCLASSIFIED, q.department or UNCLASSIFIED),
        ]
        if q.group_id is not None:
            rows.append(_tally(groups, str(q.group_id), titles.get(q.group_id, "")))
        for t in rows:
            t.questions += 1
            if q.first_response_at is not None:
                t.answered += 1
                t.response_seconds.append((q.first_response_at - q.created_at).total_seconds())
                if q.first_response_at <= q.due_at:
                    t.answered_on_time += 1
            if q.state == QuestionState.RESOLVED:
                t.resolved += 1
            if q.state in QuestionState.WAITING and now > q.due_at:
                t.overdue += 1
            latest = latest_rating.get(q.id)
            if latest is not None:
                t.rated += 1
                setattr(t, latest, getattr(t, latest) + 1)

    engagements = session.execute(
        select(Engagement.official_id, Engagement.group_id, Engagement.kind).where(
            Engagement.at >= since, Engagement.at < until
        )
    ).all()
    for official_id, group_id, kind in engagements:
        targets = [total, _tally(officials, str(official_id), names.get(official_id, "?"))]
        if group_id is not None:
            targets.append(_tally(groups, str(group_id), titles.get(group_id, "")))
        for t in targets:
            t.engagements[kind] = t.engagements.get(kind, 0) + 1

    messages = session.execute(
        select(
            Message.group_id, Message.intent, Message.intent_confident, Message.from_official
        ).where(Message.sent_at >= since, Message.sent_at < until, Message.group_id.is_not(None))
    ).all()
    for group_id, intent, confident, from_official in messages:
        # Suggestions and complaints are what residents raised; an official's own words are engagement,
        # and a guess the classifier is unsure of is not counted as collected.
        counted = confident and not from_official
        for t in (total, _tally(groups, str(group_id), titles.get(group_id or -1, ""))):
            t.messages += 1
            t.suggestions += counted and intent == "suggestion"
            t.complaints += counted and intent == "complaint"

    overdue = list(
        session.scalars(
            select(Question.id)
            .where(Question.state.in_(QuestionState.WAITING), Question.due_at < now)
            .order_by(Question.due_at)
        )
    )
    return officials, groups, departments, total, overdue, texts


def build_summary(session: Session, since: datetime, until: datetime, now: datetime) -> Summary:
    """Assemble a ``Summary`` from the tallies, the overdue questions and the latest suggestions."""
    officials, groups, departments, total, overdue_ids, texts = summarise(
        session, since, until, now
    )
    overdue = [rows.question_info(session, session.get_one(Question, i)) for i in overdue_ids]
    suggestions = session.execute(
        select(Group.title, Person.display_name, Message.text)
        .join(Group, Group.id == Message.group_id)
        .join(Person, Person.id == Message.person_id)
        .where(Message.sent_at >= since, Message.sent_at < until)
        .where(Message.intent == "suggestion", Message.intent_confident.is_(True))
        .where(Message.from_official.is_(False))
        .order_by(Message.sent_at.desc())
        .limit(SUGGESTIONS_SHOWN)
    ).all()
    return Summary(
        since=since,
        until=until,
        officials=sorted(officials.values(), key=lambda t: (t.label == UNASSIGNED, t.label)),
        groups=sorted(groups.values(), key=lambda t: t.label),
        departments=sorted(departments.values(), key=lambda t: (t.label == UNCLASSIFIED, t.label)),
        total=total,
        overdue=overdue,
        question_texts=texts,
        suggestions=[(title, name, text) for title, name, text in suggestions],
    )


class ReportStore(StoreBase):
    """Summaries for supervisors."""

    def summary(self, since: datetime, until: datetime, now: datetime) -> Summary:
        """Per official, group and department figures for questions asked and actions done in the period."""
        with self._tx() as session:
            return build_summary(session, since, until, now)
