"""Reports for supervisors: engagement summaries per official, group and department over a period.

The 12345 hotline's three rates come out of plain rows: response rate (answered / questions), resolution
rate (resolved / questions) and satisfaction rate ((满意 + 基本满意) / rated, the latest rating per question).
Questions count in the period they were asked; actions count in the period they were done.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session, aliased

from storage.base import StoreBase
from storage.models import (
    Engagement,
    Group,
    Message,
    Official,
    Person,
    Question,
    Rating,
    TicketStep,
)
from storage.records import (
    RATING_SCORES,
    EngagementKind,
    QuestionInfo,
    QuestionState,
    Summary,
    Tally,
)

UNASSIGNED = "未分配"
UNCLASSIFIED = "未分类"
SUGGESTIONS_SHOWN = 20


def _tally(table: dict[str, Tally], key: str, label: str, department: str = "") -> Tally:
    if key not in table:
        table[key] = Tally(key=key, label=label, department=department)
    return table[key]


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """SUM of 1 for the rows ``condition`` holds for: several counts in one pass of a GROUP BY."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def summarise(
    session: Session, since: datetime, until: datetime, now: datetime
) -> tuple[dict[str, Tally], dict[str, Tally], dict[str, Tally], Tally, list[str]]:
    """Tallies by official, group and department, the total, and the period's question texts.

    A handful of aggregate queries, whatever the size of the period: the questions grouped by
    (assignee, group, department), the answered ones' response times, the engagements grouped by
    (official, group, kind) and the messages grouped by group. The coarser rows are sums of those.
    """
    officials: dict[str, Tally] = {}
    groups: dict[str, Tally] = {}
    departments: dict[str, Tally] = {}
    total = Tally(key="all", label="合计")

    names: dict[int, str] = {}
    roster = session.execute(
        select(Official.id, Official.name, Official.role, Official.department)
        .where(Official.active.is_(True))
        .order_by(Official.id)
    )
    for official_id, name, role, department in roster:
        names[official_id] = name
        if role != "supervisor":
            _tally(officials, str(official_id), name, department)
    titles = {
        gid: title or chat_id
        for gid, title, chat_id in session.execute(
            select(Group.id, Group.title, Group.platform_chat_id)
        )
    }

    def question_rows(
        assignee_id: int | None, group_id: int | None, department: str
    ) -> list[Tally]:
        found = [
            total,
            _tally(
                officials,
                str(assignee_id) if assignee_id else "none",
                names.get(assignee_id or -1, UNASSIGNED),
            ),
            _tally(departments, department or UNCLASSIFIED, department or UNCLASSIFIED),
        ]
        if group_id is not None:
            found.append(_tally(groups, str(group_id), titles.get(group_id, "")))
        return found

    in_period = (Question.created_at >= since, Question.created_at < until)
    # An answered question is credited to whoever answered it, a waiting one to its assignee.
    credited = func.coalesce(Question.answered_by_id, Question.assignee_id)
    latest_score = (
        select(Rating.score)
        .where(Rating.question_id == Question.id)
        .order_by(Rating.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    scored = (
        select(
            credited.label("assignee_id"),
            Question.group_id,
            Question.department,
            Question.state,
            Question.due_at,
            Question.first_response_at,
            Question.answered_at,
            latest_score.label("score"),
        )
        .where(*in_period)
        .subquery()
    )
    figures = session.execute(
        select(
            scored.c.assignee_id,
            scored.c.group_id,
            scored.c.department,
            func.count(),
            _count(scored.c.first_response_at.is_not(None)),
            # On time: the final answer met the deadline in force (a reopened ticket's is fresh).
            _count(
                and_(
                    scored.c.answered_at <= scored.c.due_at,
                    scored.c.state.not_in(QuestionState.WAITING),
                )
            ),
            _count(scored.c.state == QuestionState.RESOLVED),
            _count(and_(scored.c.state.in_(QuestionState.WAITING), scored.c.due_at < now)),
            *(_count(scored.c.score == score) for score in RATING_SCORES),
        ).group_by(scored.c.assignee_id, scored.c.group_id, scored.c.department)
    )
    for assignee_id, group_id, department, *counts in figures:
        asked, answered, on_time, resolved, overdue, *scores = (int(c) for c in counts)
        for t in question_rows(assignee_id, group_id, department):
            t.questions += asked
            t.answered += answered
            t.answered_on_time += on_time
            t.resolved += resolved
            t.overdue += overdue
            t.rated += sum(scores)
            for score, n in zip(RATING_SCORES, scores, strict=True):
                setattr(t, score, getattr(t, score) + n)

    # Medians need the times themselves: one narrow row per answered question.
    answered_rows = session.execute(
        select(
            credited,
            Question.group_id,
            Question.department,
            Question.created_at,
            Question.first_response_at,
        ).where(*in_period, Question.first_response_at.is_not(None))
    )
    times: dict[tuple[int | None, int | None, str], list[float]] = {}
    for assignee_id, group_id, department, created_at, first_response_at in answered_rows:
        assert first_response_at is not None  # the query asks for answered questions only
        seconds = (first_response_at - created_at).total_seconds()
        times.setdefault((assignee_id, group_id, department), []).append(seconds)
    for (assignee_id, group_id, department), found in times.items():
        for t in question_rows(assignee_id, group_id, department):
            t.response_seconds.extend(found)

    engagements = session.execute(
        select(Engagement.official_id, Engagement.group_id, Engagement.kind, func.count())
        .where(Engagement.at >= since, Engagement.at < until)
        .group_by(Engagement.official_id, Engagement.group_id, Engagement.kind)
    )
    for official_id, group_id, kind, n in engagements:
        targets = [total, _tally(officials, str(official_id), names.get(official_id, "?"))]
        if group_id is not None:
            targets.append(_tally(groups, str(group_id), titles.get(group_id, "")))
        for t in targets:
            t.engagements[kind] = t.engagements.get(kind, 0) + n

    # Transfers into each department, and the returns each department made (退回).
    transfers = session.execute(
        select(Engagement.detail, func.count())
        .where(Engagement.kind == EngagementKind.TRANSFER)
        .where(Engagement.at >= since, Engagement.at < until)
        .group_by(Engagement.detail)
    )
    for department, n in transfers:
        _tally(
            departments, department or UNCLASSIFIED, department or UNCLASSIFIED
        ).transfers_in += n
        total.transfers_in += n
    returns = session.execute(
        select(Official.department, func.count())
        .select_from(TicketStep)
        .join(Official, Official.id == TicketStep.official_id)
        .where(TicketStep.kind == "returned", TicketStep.at >= since, TicketStep.at < until)
        .group_by(Official.department)
    )
    for department, n in returns:
        _tally(departments, department or UNCLASSIFIED, department or UNCLASSIFIED).returns += n
        total.returns += n

    # Suggestions and complaints are what residents raised; an official's own words are engagement,
    # and a guess the classifier is unsure of is not counted as collected.
    counted = and_(Message.intent_confident.is_(True), Message.from_official.is_(False))
    messages = session.execute(
        select(
            Message.group_id,
            func.count(),
            _count(and_(counted, Message.intent == "suggestion")),
            _count(and_(counted, Message.intent == "complaint")),
        )
        .where(Message.sent_at >= since, Message.sent_at < until, Message.group_id.is_not(None))
        .group_by(Message.group_id)
    )
    for group_id, n, suggestions, complaints in messages:
        for t in (total, _tally(groups, str(group_id), titles.get(group_id or -1, ""))):
            t.messages += n
            t.suggestions += int(suggestions)
            t.complaints += int(complaints)

    texts = list(session.scalars(select(Question.text).where(*in_period).order_by(Question.id)))
    return officials, groups, departments, total, texts


def overdue_questions(session: Session, now: datetime) -> list[QuestionInfo]:
    """Every question still waiting past its promised time, soonest due first: one query, with its
    asker, group and assignee joined, its columns in ``QuestionInfo``'s order (no ORM objects)."""
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
    found: Any = session.execute(
        select(*columns)
        .join(Person, Person.id == Question.asker_id)
        .outerjoin(Group, Group.id == Question.group_id)
        .outerjoin(assignee, assignee.id == Question.assignee_id)
        .where(Question.state.in_(QuestionState.WAITING), Question.due_at < now)
        .order_by(Question.due_at, Question.id)
    )
    return [QuestionInfo(*row) for row in found]


def build_summary(session: Session, since: datetime, until: datetime, now: datetime) -> Summary:
    """Assemble a ``Summary`` from the tallies, the overdue questions and the latest suggestions."""
    officials, groups, departments, total, texts = summarise(session, since, until, now)
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
        overdue=overdue_questions(session, now),
        question_texts=texts,
        suggestions=[(title, name, text) for title, name, text in suggestions],
    )


class ReportStore(StoreBase):
    """Summaries for supervisors."""

    def summary(self, since: datetime, until: datetime, now: datetime) -> Summary:
        """Per official, group and department figures for questions asked and actions done in the period."""
        with self._tx() as session:
            return build_summary(session, since, until, now)
