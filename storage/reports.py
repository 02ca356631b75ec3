"""Reports for supervisors: engagement summaries per official, group and department over a period.

The 12345 hotline's three rates come out of plain rows: response rate (answered / questions), resolution
rate (resolved / questions) and satisfaction rate ((满意 + 基本满意) / rated, the latest rating per question).
Questions count in the period they were asked; actions count in the period they were done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session

from storage import rows
from storage.base import StoreBase
from storage.message_hours import message_tallies
from storage.models import (
    Engagement,
    Group,
    GroupAssignment,
    Message,
    Official,
    Person,
    Question,
    QuestionPhrase,
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

PhraseSupport = Callable[[int], int]
"""How many of a period's questions must mention a hot-topic phrase, given how many questions there
are: the bot's rule (``bot.text.hot_topics.phrase_support``; storage cannot import it)."""


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

    def messages(self, group_id: Any = Message.group_id) -> ColumnElement[bool]:
        """The condition on ``Message`` rows (or on rows of another table with a message's group in
        ``group_id``, such as ``MessageHour``). A department's messages are those of the groups its
        officials serve (a message's own department guess is not indexed, and chatter has none)."""
        found: list[ColumnElement[bool]] = [true()]
        if self.departments is not None:
            served = (
                select(GroupAssignment.group_id)
                .join(Official, Official.id == GroupAssignment.official_id)
                .where(Official.department.in_(self.departments))
            )
            found.append(group_id.in_(served))
        if self.group_ids is not None:
            found.append(group_id.in_(self.group_ids))
        if self.official_id is not None:
            assigned = select(GroupAssignment.group_id).where(
                GroupAssignment.official_id == self.official_id
            )
            found.append(group_id.in_(assigned))
        if self.within is not None:
            found.append(group_id.in_(self._overseen_groups()))
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
    """What the console's overview shows: the summary (without hot-topic phrases, which it does not
    show), a trend by day, the waiting tickets by age."""

    summary: Summary
    trend: list[DayFigures]
    waiting_by_age: list[int]
    """How many still-waiting tickets (in scope, whenever asked) have waited less than each of the
    age limits asked for and not less than the one before; the last, the rest (the oldest)."""


def _tally(table: dict[str, Tally], key: str, label: str, department: str = "") -> Tally:
    if key not in table:
        table[key] = Tally(key=key, label=label, department=department)
    return table[key]


def _by_each_key(session: Session, scored: Any, now: datetime) -> list[tuple[Any, ...]]:
    """The question figures of ``scored`` (the period's questions, with the credited official and the
    latest score) grouped by official, by group and by department: rows of (which of the three, its
    key as text, the counts), a few rows per table the summary shows, not one row per combination of
    the three (about one per question) to add up here. PostgreSQL groups them all in one pass over
    the questions (GROUPING SETS); SQLite has no grouping sets, so there the questions are read once
    into a CTE, grouped once per key."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    rows_of = scored.subquery("scored") if postgresql else scored.cte("scored")
    c = rows_of.c
    counts = (
        func.count(),
        rows.count_where(c.first_response_at.is_not(None)),
        # On time: the final answer met the deadline in force (a reopened ticket's is fresh).
        rows.count_where(and_(c.answered_at <= c.due_at, c.state.not_in(QuestionState.WAITING))),
        rows.count_where(c.state == QuestionState.RESOLVED),
        rows.count_where(and_(c.state.in_(QuestionState.WAITING), c.due_at < now)),
        *(rows.count_where(c.score == score) for score in RATING_SCORES),
    )
    keys = {"official": c.assignee_id, "group": c.group_id, "department": c.department}
    if not postgresql:
        return list(
            session.connection().execute(
                union_all(
                    *(
                        select(literal(by).label("by"), cast(key, String), *counts).group_by(key)
                        for by, key in keys.items()
                    )
                )
            )
        )
    columns = list(keys.values())
    # GROUPING() has one bit per key, the first the highest, set for the keys a row is not grouped by.
    width = len(columns)
    grouped_by = {(1 << width) - 1 - (1 << (width - 1 - i)): i for i in range(width)}
    found = session.connection().execute(
        select(func.grouping(*columns), *columns, *counts).group_by(func.grouping_sets(*columns))
    )
    names = list(keys)
    figures = []
    for bits, *values in found:
        i = grouped_by[bits]
        key = values[i]
        figures.append((names[i], None if key is None else str(key), *values[width:]))
    return figures


def summarise(
    session: Session,
    since: datetime,
    until: datetime,
    now: datetime,
    scope: ReportScope = EVERYTHING,
    rollup: bool = True,
) -> tuple[dict[str, Tally], dict[str, Tally], dict[str, Tally], Tally]:
    """Tallies by official, group and department, and the total.

    A handful of aggregate queries, whatever the size of the period, each returning a few rows per
    table shown: the questions grouped by assignee, by group and by department; the answered ones'
    response times; the engagements grouped by official and by group (and kind); the messages grouped
    by group — the period's whole hours from the hourly rollup unless ``rollup`` is False (which also
    finds each question's latest rating among its ratings instead of reading the one it carries).
    """
    officials: dict[str, Tally] = {}
    groups: dict[str, Tally] = {}
    departments: dict[str, Tally] = {}
    total = Tally(key="all", label="合计")

    names: dict[int, str] = {}
    roster = session.connection().execute(
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
        for gid, title, chat_id in session.connection().execute(
            select(Group.id, Group.title, Group.platform_chat_id)
        )
    }

    def credited_to(by: str, key: str | None) -> list[Tally]:
        """The tallies a question's figures go to in the table ``by`` where its key is ``key``."""
        if by == "official":
            return [_tally(officials, key or "none", names.get(int(key or -1), UNASSIGNED))]
        if by == "group":
            return [_tally(groups, key, titles.get(int(key), ""))] if key is not None else []
        # Every question has a department (maybe none): these rows add up to the total.
        return [total, _tally(departments, key or UNCLASSIFIED, key or UNCLASSIFIED)]

    in_period = asked_in(since, until, scope)
    # An answered question is credited to whoever answered it, a waiting one to its assignee.
    credited = func.coalesce(Question.answered_by_id, Question.assignee_id)
    # The latest rating's score, as the question row carries it (migration 0012's trigger keeps it),
    # or found among the question's ratings (what the kept one is checked against).
    latest_score: Any = (
        Question.latest_score
        if rollup
        else select(Rating.score)
        .where(Rating.question_id == Question.id)
        .order_by(Rating.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    scored = select(
        credited.label("assignee_id"),
        Question.group_id,
        Question.department,
        Question.state,
        Question.due_at,
        Question.first_response_at,
        Question.answered_at,
        latest_score.label("score"),
    ).where(*in_period)
    for by, key, *numbers in _by_each_key(session, scored, now):
        targets = credited_to(by, key)
        asked, answered, on_time, resolved, overdue, *scores = (int(c) for c in numbers)
        for t in targets:
            t.questions += asked
            t.answered += answered
            t.answered_on_time += on_time
            t.resolved += resolved
            t.overdue += overdue
            t.rated += sum(scores)
            for score, n in zip(RATING_SCORES, scores, strict=True):
                setattr(t, score, getattr(t, score) + n)

    # Medians need the times themselves: one narrow row per answered question. PostgreSQL subtracts
    # (its epoch of an interval is exact to the microsecond, so the same float as Python's); SQLite's
    # julianday is not, so there the two times come back and Python subtracts.
    waited: Any = (
        func.extract("epoch", Question.first_response_at - Question.created_at)
        if session.get_bind().dialect.name == "postgresql"
        else None
    )
    answered_rows = (
        session.connection()
        .execute(
            select(
                credited,
                Question.group_id,
                Question.department,
                *(
                    [waited]
                    if waited is not None
                    else [Question.created_at, Question.first_response_at]
                ),
            ).where(*in_period, Question.first_response_at.is_not(None))
        )
        .all()
    )  # fetched at once: row by row, the driver's per-row calls cost more than the query
    # Gathered by each table's own key (a few hundred lists), not by their combinations (about one
    # per answered question), so that each tally is looked up once.
    times: dict[tuple[str, Any], list[float]] = {}
    for assignee_id, group_id, department, *at in answered_rows:
        seconds = float(at[0]) if waited is not None else (at[1] - at[0]).total_seconds()
        for where in (("official", assignee_id), ("group", group_id), ("department", department)):
            times.setdefault(where, []).append(seconds)
    for (by, value), seconds_taken in times.items():
        for t in credited_to(by, None if value is None else str(value)):
            t.response_seconds.extend(seconds_taken)

    # Per official (their rows add up to the total) and per group, each a few rows per kind.
    in_window = (Engagement.at >= since, Engagement.at < until, scope.engagements())
    engagements = session.connection().execute(
        union_all(
            *(
                select(literal(by).label("by"), column, Engagement.kind, func.count())
                .where(*in_window)
                .group_by(column, Engagement.kind)
                for by, column in (
                    ("official", Engagement.official_id),
                    ("group", Engagement.group_id),
                )
            )
        )
    )
    for by, who, kind, n in engagements:
        if by == "official":
            targets = [total, _tally(officials, str(who), names.get(who or -1, "?"))]
        else:
            targets = [_tally(groups, str(who), titles.get(who, ""))] if who is not None else []
        for t in targets:
            t.engagements[kind] = t.engagements.get(kind, 0) + n

    # Transfers into each department, and the returns each department made (退回).
    transfers = session.connection().execute(
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
    returns = session.connection().execute(
        select(Official.department, func.count())
        .select_from(TicketStep)
        .join(Official, Official.id == TicketStep.official_id)
        .where(TicketStep.kind == "returned", TicketStep.at >= since, TicketStep.at < until)
        .group_by(Official.department)
    )
    for department, n in returns:
        _tally(departments, department or UNCLASSIFIED, department or UNCLASSIFIED).returns += n
        total.returns += n

    # Suggestions and complaints are what residents raised (storage/message_hours.py says which).
    for group_id, n, suggestions, complaints in message_tallies(
        session, since, until, scope, rollup
    ):
        for t in (total, _tally(groups, str(group_id), titles.get(group_id or -1, ""))):
            t.messages += n
            t.suggestions += suggestions
            t.complaints += complaints

    return officials, groups, departments, total


def asked_in(
    since: datetime, until: datetime, scope: ReportScope
) -> tuple[ColumnElement[bool], ...]:
    """The conditions on ``Question`` rows a summary counts: asked in the period, within ``scope``."""
    return (Question.created_at >= since, Question.created_at < until, scope.questions())


def phrase_counts(
    session: Session,
    since: datetime,
    until: datetime,
    scope: ReportScope,
    phrase_support: PhraseSupport,
    questions: int | None = None,
) -> dict[str, int]:
    """Each hot-topic phrase of the questions the summary counts (``asked_in``; ``questions`` of them,
    counted here when not given) that ``phrase_support(questions)`` of them mention at least, with how
    many do: one GROUP BY over their stored phrases, each question's found by the key."""
    condition = asked_in(since, until, scope)
    if questions is None:
        questions = session.connection().scalar(select(func.count()).where(*condition)) or 0
    if not questions:
        return {}
    found = session.connection().execute(
        select(QuestionPhrase.phrase, func.count())
        .join(Question, Question.id == QuestionPhrase.question_id)
        .where(*condition)
        .group_by(QuestionPhrase.phrase)
        .having(func.count() >= phrase_support(questions))
    )
    return {phrase: n for phrase, n in found}


def tickets_mentioning(
    session: Session,
    since: datetime,
    until: datetime,
    scope: ReportScope,
    phrases: Sequence[str],
    limit: int,
) -> dict[str, list[int]]:
    """The numbers of the newest ``limit`` questions of ``asked_in`` that mention each of ``phrases``
    (newest first): one statement, numbered per phrase by a window function."""
    if not phrases:
        return {}
    newest = func.row_number().over(
        partition_by=QuestionPhrase.phrase, order_by=QuestionPhrase.question_id.desc()
    )
    ranked = (
        select(QuestionPhrase.phrase, QuestionPhrase.question_id, newest.label("n"))
        .join(Question, Question.id == QuestionPhrase.question_id)
        .where(*asked_in(since, until, scope), QuestionPhrase.phrase.in_(phrases))
        .subquery()
    )
    found: dict[str, list[int]] = {p: [] for p in phrases}
    for phrase, question_id in session.connection().execute(
        select(ranked.c.phrase, ranked.c.question_id)
        .where(ranked.c.n <= limit)
        .order_by(ranked.c.phrase, ranked.c.n)
    ):
        found[phrase].append(question_id)
    return found


def overdue_questions(
    session: Session, now: datetime, scope: ReportScope = EVERYTHING, limit: int | None = None
) -> tuple[list[QuestionInfo], int]:
    """The questions still waiting past their promised time, soonest due first (the first ``limit``),
    and how many there are in all. One query: the first ones are chosen from the index alone, with
    their count, before the asker, group and assignee are joined (``rows.question_listing``) to those
    few; read as plain rows (the ORM's loading would cost more than the query). With no ``limit``
    every overdue question is listed, its count a window function over them."""
    waiting = (Question.state.in_(QuestionState.WAITING), Question.due_at < now, scope.questions())
    first: Any
    if limit is None:
        first = select(Question.id, func.count().over().label("total")).where(*waiting).subquery()
    else:
        # Each waiting state's first ones come in order from its own stretch of the (state, due_at)
        # index; the first of those are the first of all, so the overdue tickets (every one of them
        # on a busy store) are counted, not sorted.
        per_state = [
            select(Question.id, Question.due_at)
            .where(Question.state == state, Question.due_at < now, scope.questions())
            .order_by(Question.due_at, Question.id)
            .limit(limit)
            .subquery()
            for state in sorted(QuestionState.WAITING)
        ]
        firsts = union_all(*(select(p.c.id, p.c.due_at) for p in per_state)).subquery()
        total = (
            select(func.count())
            .select_from(Question)
            .where(*waiting)
            .correlate(None)
            .scalar_subquery()
        )
        first = (
            select(firsts.c.id, total.label("total"))
            .order_by(firsts.c.due_at, firsts.c.id)
            .limit(limit)
            .subquery()
        )
    found: Any = session.connection().execute(
        rows.question_listing()
        .add_columns(first.c.total)
        .join(first, first.c.id == Question.id)
        .order_by(Question.due_at, Question.id)
    )
    listed = [(QuestionInfo(*row[:-1]), row[-1]) for row in found]
    return [q for q, _ in listed], listed[0][1] if listed else 0


def build_summary(
    session: Session,
    since: datetime,
    until: datetime,
    now: datetime,
    scope: ReportScope = EVERYTHING,
    overdue_limit: int | None = None,
    rollup: bool = True,
    phrase_support: PhraseSupport | None = None,
) -> Summary:
    """Assemble a ``Summary`` from the tallies, the overdue questions (the first ``overdue_limit``)
    and the latest suggestions; with ``phrase_support``, the hot-topic phrases that many of the
    period's questions mention at least (``phrase_counts``)."""
    officials, groups, departments, total = summarise(session, since, until, now, scope, rollup)
    phrases = (
        None
        if phrase_support is None
        else phrase_counts(session, since, until, scope, phrase_support, total.questions)
    )
    suggestions = (
        session.connection()
        .execute(
            select(Group.title, Person.display_name, Message.text)
            .join(Group, Group.id == Message.group_id)
            .join(Person, Person.id == Message.person_id)
            .where(Message.sent_at >= since, Message.sent_at < until)
            .where(Message.intent == "suggestion", Message.intent_confident.is_(True))
            .where(Message.from_official.is_(False), scope.messages())
            .order_by(Message.sent_at.desc())
            .limit(SUGGESTIONS_SHOWN)
        )
        .all()
    )
    overdue, overdue_total = overdue_questions(session, now, scope, overdue_limit)
    return Summary(
        since=since,
        until=until,
        officials=sorted(officials.values(), key=lambda t: (t.label == UNASSIGNED, t.label)),
        groups=sorted(groups.values(), key=lambda t: t.label),
        departments=sorted(departments.values(), key=lambda t: (t.label == UNCLASSIFIED, t.label)),
        total=total,
        overdue=overdue,
        phrase_counts=phrases,
        suggestions=[(title, name, text) for title, name, text in suggestions],
        overdue_total=overdue_total,
    )


def daily_trend(
    session: Session, since: datetime, until: datetime, zone: tzinfo, scope: ReportScope
) -> list[DayFigures]:
    """The period's questions by the local day they were asked (every day of the period listed).
    Day boundaries depend on the zone, so they are computed here (each local midnight in UTC) and the
    database counts the questions between them: one row per day, not one per question."""
    first = since.astimezone(zone).date()
    last = (until - timedelta(microseconds=1)).astimezone(zone).date()  # until is excluded
    days = [date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1)]
    midnights = [datetime.combine(d, time(), zone) for d in days[1:]]
    day: Any = (
        case(*((Question.created_at < m, i) for i, m in enumerate(midnights)), else_=len(days) - 1)
        if midnights
        else literal(0)
    )
    asked = (
        select(day.label("day"), Question.first_response_at, Question.state)
        .where(Question.created_at >= since, Question.created_at < until, scope.questions())
        .subquery()
    )
    counted = session.connection().execute(
        select(
            asked.c.day,
            func.count(),
            rows.count_where(asked.c.first_response_at.is_not(None)),
            rows.count_where(asked.c.state == QuestionState.RESOLVED),
        ).group_by(asked.c.day)  # grouped by name: PostgreSQL cannot match a repeated CASE's binds
    )
    found = {int(i): (int(n), int(answered), int(resolved)) for i, n, answered, resolved in counted}
    return [DayFigures(d, *found.get(i, (0, 0, 0))) for i, d in enumerate(days)]


def waiting_by_age(
    session: Session, now: datetime, scope: ReportScope, limits: Sequence[timedelta]
) -> list[int]:
    """How many tickets still waiting for an answer (whenever asked) have waited less than each of
    the ascending ``limits`` and not less than the one before, then how many waited longer: one row
    of counts from the database, not one row per waiting ticket. Waiting less than a limit is being
    asked after ``now`` minus it (exact: both are datetimes, no seconds rounded)."""
    younger = [
        rows.count_where(Question.created_at > now - limit) for limit in limits
    ]  # each counts every ticket younger than its limit: the bins are the differences
    found = session.connection().execute(
        select(func.count(), *younger).where(
            Question.state.in_(QuestionState.WAITING), scope.questions()
        )
    )
    everyone, *cumulative = (int(n) for n in found.one())
    return [n - before for n, before in zip([*cumulative, everyone], [0, *cumulative], strict=True)]


class ReportStore(StoreBase):
    """Summaries for supervisors."""

    def summary(
        self,
        since: datetime,
        until: datetime,
        now: datetime,
        scope: ReportScope = EVERYTHING,
        *,
        overdue_limit: int | None = None,
        rollup: bool = True,
        phrase_support: PhraseSupport | None = None,
    ) -> Summary:
        """Per official, group and department figures for questions asked and actions done in the
        period, counting only what ``scope`` admits, with the first ``overdue_limit`` overdue
        questions (all by default). ``rollup=False`` counts the messages one by one instead of by the
        hourly rollup, and finds each question's latest rating among its ratings instead of reading
        the one the question carries (the same figures, slower: what the rollups are checked
        against). With ``phrase_support`` (the bot's ``bot.text.hot_topics.phrase_support``), the
        summary carries the phrases of its hot topics that many questions mention
        (``Summary.phrase_counts``)."""
        with self._tx() as session:
            return build_summary(
                session, since, until, now, scope, overdue_limit, rollup, phrase_support
            )

    def phrase_counts(
        self, since: datetime, until: datetime, scope: ReportScope, phrase_support: PhraseSupport
    ) -> dict[str, int]:
        """The hot-topic phrases of the questions asked in the period within ``scope`` that
        ``phrase_support`` of them mention at least, with how many mention each (what a summary
        carries as ``phrase_counts``, without the summary)."""
        with self._tx() as session:
            return phrase_counts(session, since, until, scope, phrase_support)

    def tickets_mentioning(
        self,
        since: datetime,
        until: datetime,
        scope: ReportScope,
        phrases: Sequence[str],
        limit: int,
    ) -> dict[str, list[int]]:
        """The numbers of the newest ``limit`` questions asked in the period within ``scope`` that
        mention each of ``phrases`` (their stored hot-topic phrases), newest first."""
        with self._tx() as session:
            return tickets_mentioning(session, since, until, scope, phrases, limit)

    def overview(
        self,
        since: datetime,
        until: datetime,
        now: datetime,
        zone: tzinfo,
        scope: ReportScope,
        overdue_limit: int | None = None,
        age_limits: Sequence[timedelta] = (),
    ) -> Overview:
        """The summary (with the first ``overdue_limit`` overdue tickets, without hot-topic phrases),
        the trend by local day and the waiting tickets counted by the ascending ``age_limits``, in one
        transaction."""
        with self._tx() as session:
            return Overview(
                summary=build_summary(session, since, until, now, scope, overdue_limit),
                trend=daily_trend(session, since, until, zone, scope),
                waiting_by_age=waiting_by_age(session, now, scope, age_limits),
            )
