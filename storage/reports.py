"""Reports for supervisors: engagement summaries per official, group and department over a period.

The 12345 hotline's three rates come out of plain rows: response rate (answered / questions), resolution
rate (resolved / questions) and satisfaction rate ((满意 + 基本满意) / rated, the latest rating per question).
Questions count in the period they were asked; actions count in the period they were done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select, true
from sqlalchemy.orm import Session

from storage import rows
from storage.base import StoreBase
from storage.models import (
    Engagement,
    Group,
    GroupAssignment,
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
    Jurisdiction,
    QuestionInfo,
    QuestionState,
    Summary,
    Tally,
)

UNASSIGNED = "未分配"
UNCLASSIFIED = "未分类"
SUGGESTIONS_SHOWN = 20


@dataclass(frozen=True, slots=True)
class ReportScope:
    """Which rows a report counts. A field left ``None`` does not limit; set fields all apply.

    ``departments``: questions of these departments, engagements of their officials, messages of the
    groups their officials serve. ``group_ids``: rows of these groups — and, with ``or_assigned_to``, also the
    questions assigned to (and the engagements of) that official wherever they are (an official's own
    tickets). ``official_id``: questions assigned to, engagements of, and messages in the groups of
    that official. ``within``: a supervisor's jurisdiction — the groups assigned to them on the roster
    and the questions of their department (officials of those groups or that department; engagements
    in those groups or by that department's officials; messages of those groups).
    """

    departments: frozenset[str] | None = None
    group_ids: frozenset[int] | None = None
    or_assigned_to: int | None = None
    official_id: int | None = None
    within: Jurisdiction | None = None

    def _overseen_groups(self) -> Any:
        """The groups assigned to the supervisor of ``within`` (a subquery)."""
        assert self.within is not None
        return select(GroupAssignment.group_id).where(
            GroupAssignment.official_id == self.within.official_id
        )

    def _of_department(self, column: Any) -> ColumnElement[bool]:
        """``column`` equals the jurisdiction's department; false without one."""
        assert self.within is not None
        return column == self.within.department if self.within.department else ~true()

    def questions(self) -> ColumnElement[bool]:
        """The condition on ``Question`` rows."""
        found: list[ColumnElement[bool]] = [true()]
        if self.departments is not None:
            found.append(Question.department.in_(self.departments))
        if self.group_ids is not None:
            in_groups = Question.group_id.in_(self.group_ids)
            mine = Question.assignee_id == self.or_assigned_to
            found.append(or_(in_groups, mine) if self.or_assigned_to else in_groups)
        if self.official_id is not None:
            found.append(Question.assignee_id == self.official_id)
        if self.within is not None:
            found.append(
                or_(
                    Question.group_id.in_(self._overseen_groups()),
                    self._of_department(Question.department),
                )
            )
        return and_(*found)

    def engagements(self) -> ColumnElement[bool]:
        """The condition on ``Engagement`` rows."""
        found: list[ColumnElement[bool]] = [true()]
        if self.departments is not None:
            of_department = select(Official.id).where(Official.department.in_(self.departments))
            found.append(Engagement.official_id.in_(of_department))
        if self.group_ids is not None:
            in_groups = Engagement.group_id.in_(self.group_ids)
            mine = Engagement.official_id == self.or_assigned_to
            found.append(or_(in_groups, mine) if self.or_assigned_to else in_groups)
        if self.official_id is not None:
            found.append(Engagement.official_id == self.official_id)
        if self.within is not None:
            department_officials = select(Official.id).where(
                self._of_department(Official.department)
            )
            found.append(
                or_(
                    Engagement.group_id.in_(self._overseen_groups()),
                    Engagement.official_id.in_(department_officials),
                )
            )
        return and_(*found)

    def messages(self) -> ColumnElement[bool]:
        """The condition on ``Message`` rows. A department's messages are those of the groups its
        officials serve (a message's own department guess is not indexed, and chatter has none)."""
        found: list[ColumnElement[bool]] = [true()]
        if self.departments is not None:
            served = (
                select(GroupAssignment.group_id)
                .join(Official, Official.id == GroupAssignment.official_id)
                .where(Official.department.in_(self.departments))
            )
            found.append(Message.group_id.in_(served))
        if self.group_ids is not None:
            found.append(Message.group_id.in_(self.group_ids))
        if self.official_id is not None:
            assigned = select(GroupAssignment.group_id).where(
                GroupAssignment.official_id == self.official_id
            )
            found.append(Message.group_id.in_(assigned))
        if self.within is not None:
            found.append(Message.group_id.in_(self._overseen_groups()))
        return and_(*found)

    def roster(self) -> ColumnElement[bool]:
        """The condition on ``Official`` rows listed even with nothing done."""
        found: list[ColumnElement[bool]] = [true()]
        if self.departments is not None:
            found.append(Official.department.in_(self.departments))
        for one in (self.official_id, self.or_assigned_to):
            if one is not None:
                found.append(Official.id == one)
        if self.within is not None:
            officials_of_groups = select(GroupAssignment.official_id).where(
                GroupAssignment.group_id.in_(self._overseen_groups())
            )
            found.append(
                or_(Official.id.in_(officials_of_groups), self._of_department(Official.department))
            )
        return and_(*found)

    @classmethod
    def of(cls, within: Jurisdiction | None) -> ReportScope:
        """The scope of a jurisdiction (None: everything)."""
        return cls(within=within)


EVERYTHING = ReportScope()


@dataclass(frozen=True, slots=True)
class DayFigures:
    """One day of a trend: questions asked that day and how many of them are answered."""

    day: date
    asked: int = 0
    answered: int = 0
    resolved: int = 0


@dataclass(frozen=True, slots=True)
class Overview:
    """What the console's overview shows: the summary, a trend by day, the waiting tickets' ages."""

    summary: Summary
    trend: list[DayFigures]
    waiting_ages: list[float] = field(default_factory=list)
    """Seconds since each still-waiting ticket (in scope, whenever asked) was asked."""


def _tally(table: dict[str, Tally], key: str, label: str, department: str = "") -> Tally:
    if key not in table:
        table[key] = Tally(key=key, label=label, department=department)
    return table[key]


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """SUM of 1 for the rows ``condition`` holds for: several counts in one pass of a GROUP BY."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def summarise(
    session: Session,
    since: datetime,
    until: datetime,
    now: datetime,
    scope: ReportScope = EVERYTHING,
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
        .where(Official.active.is_(True), scope.roster())
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

    in_period = (Question.created_at >= since, Question.created_at < until, scope.questions())
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
        .where(Engagement.at >= since, Engagement.at < until, scope.engagements())
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
        .where(scope.messages())
        .group_by(Message.group_id)
    )
    for group_id, n, suggestions, complaints in messages:
        for t in (total, _tally(groups, str(group_id), titles.get(group_id or -1, ""))):
            t.messages += n
            t.suggestions += int(suggestions)
            t.complaints += int(complaints)

    texts = list(session.scalars(select(Question.text).where(*in_period).order_by(Question.id)))
    return officials, groups, departments, total, texts


def overdue_questions(
    session: Session, now: datetime, scope: ReportScope = EVERYTHING, limit: int | None = None
) -> list[QuestionInfo]:
    """Every question still waiting past its promised time (the first ``limit``), soonest due first:
    one query, with its asker, group and assignee joined (``rows.question_listing``)."""
    found: Any = session.execute(
        rows.question_listing()
        .where(Question.state.in_(QuestionState.WAITING), Question.due_at < now)
        .where(scope.questions())
        .order_by(Question.due_at, Question.id)
        .limit(limit)
    )
    return [QuestionInfo(*row) for row in found]


def build_summary(
    session: Session,
    since: datetime,
    until: datetime,
    now: datetime,
    scope: ReportScope = EVERYTHING,
    overdue_limit: int | None = None,
) -> Summary:
    """Assemble a ``Summary`` from the tallies, the overdue questions (the first ``overdue_limit``)
    and the latest suggestions."""
    officials, groups, departments, total, texts = summarise(session, since, until, now, scope)
    suggestions = session.execute(
        select(Group.title, Person.display_name, Message.text)
        .join(Group, Group.id == Message.group_id)
        .join(Person, Person.id == Message.person_id)
        .where(Message.sent_at >= since, Message.sent_at < until)
        .where(Message.intent == "suggestion", Message.intent_confident.is_(True))
        .where(Message.from_official.is_(False), scope.messages())
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
        overdue=overdue_questions(session, now, scope, overdue_limit),
        question_texts=texts,
        suggestions=[(title, name, text) for title, name, text in suggestions],
    )


def daily_trend(
    session: Session, since: datetime, until: datetime, zone: tzinfo, scope: ReportScope
) -> list[DayFigures]:
    """The period's questions by the local day they were asked (every day of the period listed):
    one narrow row per question, counted here because day boundaries depend on the zone."""
    asked: dict[date, list[int]] = {}
    day = since.astimezone(zone).date()
    last = (until - timedelta(microseconds=1)).astimezone(zone).date()  # until is excluded
    while day <= last:
        asked[day] = [0, 0, 0]
        day = date.fromordinal(day.toordinal() + 1)
    found = session.execute(
        select(Question.created_at, Question.first_response_at, Question.state).where(
            Question.created_at >= since, Question.created_at < until, scope.questions()
        )
    )
    for created_at, first_response_at, state in found:
        counts = asked.setdefault(created_at.astimezone(zone).date(), [0, 0, 0])
        counts[0] += 1
        counts[1] += first_response_at is not None
        counts[2] += state == QuestionState.RESOLVED
    return [DayFigures(d, *counts) for d, counts in sorted(asked.items())]


def waiting_ages(session: Session, now: datetime, scope: ReportScope) -> list[float]:
    """Seconds each ticket still waiting for an answer has waited, whenever it was asked."""
    found = session.scalars(
        select(Question.created_at).where(
            Question.state.in_(QuestionState.WAITING), scope.questions()
        )
    )
    return [(now - created_at).total_seconds() for created_at in found]


class ReportStore(StoreBase):
    """Summaries for supervisors."""

    def summary(
        self, since: datetime, until: datetime, now: datetime, scope: ReportScope = EVERYTHING
    ) -> Summary:
        """Per official, group and department figures for questions asked and actions done in the
        period, counting only what ``scope`` admits."""
        with self._tx() as session:
            return build_summary(session, since, until, now, scope)

    def overview(
        self,
        since: datetime,
        until: datetime,
        now: datetime,
        zone: tzinfo,
        scope: ReportScope,
        overdue_limit: int | None = None,
    ) -> Overview:
        """The summary (with the first ``overdue_limit`` overdue tickets), the trend by local day and
        the waiting tickets' ages, in one transaction."""
        with self._tx() as session:
            return Overview(
                summary=build_summary(session, since, until, now, scope, overdue_limit),
                trend=daily_trend(session, since, until, zone, scope),
                waiting_ages=waiting_ages(session, now, scope),
            )
