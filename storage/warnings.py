"""Public opinion (舆情预警): how many messages a topic had in a window and before it, and the warnings
raised about bursts.

Messages carry the topic key the handler computed (``Message.topic_key``; storage does not read text).
The store counts; whether a count is a burst is the caller's decision (handlers/opinion.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Table,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.orm import Session

from storage import topic_rollup
from storage.base import StoreBase, core
from storage.commit_hooks import before_commit
from storage.driver import DriverStatement
from storage.message_hours import hour_of, next_hour
from storage.models import Group, Message, OpinionWarning, Person, TopicHour
from storage.reports import EVERYTHING, ReportScope


@dataclass(frozen=True, slots=True)
class TopicMessageInfo:
    """One message of a topic, as a warning quotes it."""

    id: int
    group_title: str
    sender_name: str
    text: str
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class TopicCounts:
    """A topic's messages in a window, the window before it, and the lookback before that."""

    key: str
    count: int
    """Messages in the window."""
    previous: int
    """Messages in the window of the same length just before it (the trend)."""
    lookback: int
    """Messages in the lookback before the window (the baseline)."""
    groups: tuple[tuple[str, str, str, int], ...]
    """(platform, chat id, title, messages) of the groups with a message in the window, in the order
    of their first message."""
    first: TopicMessageInfo | None
    latest: TopicMessageInfo | None


@dataclass(frozen=True, slots=True)
class TopicTally:
    """A topic's message counts around a new message, and the warning already raised in the window:
    all the early warning needs to know of most messages (``topic_counts`` has the details)."""

    count: int
    """Messages in the window."""
    previous: int
    """Messages in the window of the same length just before it."""
    lookback: int
    """Messages in the lookback before the window."""
    warning_id: int | None
    """The latest warning about the topic raised since the window's start, if any."""


@dataclass(frozen=True, slots=True)
class WarningBurst:
    """A warning's messages as a viewer may read them, and the counts of every group involved."""

    messages: list[TopicMessageInfo]
    """The residents' messages of the topic from the window's start through the latest message, of
    the groups the viewer's scope admits, oldest first."""
    groups: dict[str, int]
    """Messages per group title, every group involved (counts, as the supervisors' warning says)."""
    latest_at: datetime | None
    """When the burst's latest message (in any group) was sent."""


@dataclass(frozen=True, slots=True)
class WarningInfo:
    """A stored 舆情预警."""

    id: int
    topic_key: str
    label: str
    count: int
    baseline: float
    groups: str
    first_message_id: int
    latest_message_id: int
    window_start: datetime
    raised_at: datetime


_UNCOUNTED = text(
    "SELECT count(*) FROM messages WHERE id = ANY(CAST(:ids AS integer[])) AND topic_key = :key "
    "AND NOT from_official AND sent_at >= :first_hour AND sent_at < :last_hour"
)
"""Of a unit's messages not yet in ``topic_hours`` (PostgreSQL: ``storage.topic_rollup``), those of
topic ``key`` in the whole hours [first_hour, last_hour)."""
_REFRESHES = "minyi.warning_refreshes"
"""``Session.info`` key: the refreshes a unit of work on PostgreSQL leaves for its commit."""
_ALIVE = text("SELECT id FROM messages WHERE id = ANY(CAST(:ids AS integer[]))")
"""Which of the messages are still there (PostgreSQL: the refreshes are deferred there alone)."""


def _refresh(
    connection: Connection,
    warning_id: int,
    count: int,
    message_id: int,
    sent_at: datetime,
    group_title: str,
) -> None:
    """``WarningStore.refresh_warning``'s statements."""
    found = _WARNING_NOW.first(connection, {"warning_id": warning_id})
    assert found is not None, warning_id  # the tally found it in this transaction
    groups, key, window_start, latest_id, latest_at = found
    if latest_at is None or sent_at >= latest_at:
        latest_id = message_id
    if group_title not in groups.split("、"):
        until = max(sent_at, latest_at or sent_at)
        titles = _BURST_GROUPS.rows(connection, {"key": key, "start": window_start, "until": until})
        groups = "、".join(title for (title,) in titles)
    _REFRESH.rows(
        connection,
        {"warning_id": warning_id, "count": count, "latest": latest_id, "groups": groups},
    )


@before_commit
def _refresh_deferred(session: Session, connection: Connection) -> None:
    """The refreshes a unit left for its commit, warning by warning (each warning's in the order
    made): the same rows always taken in the same order. A refresh whose message a savepoint rolled
    back is dropped with it."""
    refreshes = session.info.pop(_REFRESHES, None)
    if not refreshes:
        return
    ids = [message_id for _, _, message_id, _, _ in refreshes]
    alive = {i for (i,) in connection.execute(_ALIVE, {"ids": ids})}
    for refresh in sorted(refreshes, key=lambda r: r[0]):
        if refresh[2] in alive:
            _refresh(connection, *refresh)


class WarningStore(StoreBase):
    """Topic counts and early warnings."""

    def topic_counts(
        self, key: str, *, window_start: datetime, lookback_start: datetime, until: datetime
    ) -> TopicCounts:
        """Residents' messages of topic ``key``: in [window_start, until], in the window of the same
        length before it, and in [lookback_start, window_start)."""
        with self._tx() as session:
            tally = self._tally(session, key, window_start, lookback_start, until)
            in_window = session.execute(
                select(
                    Message.id,
                    Group.platform,
                    Group.platform_chat_id,
                    Group.title,
                    Person.display_name,
                    Message.text,
                    Message.sent_at,
                )
                .join(Group, Group.id == Message.group_id)
                .join(Person, Person.id == Message.person_id)
                .where(*_burst(key, window_start, until))
                .order_by(Message.sent_at, Message.id)
            ).all()
            groups: dict[tuple[str, str], tuple[str, int]] = {}
            for _, platform, chat_id, title, *_rest in in_window:
                name, n = groups.get((platform, chat_id), (title or chat_id, 0))
                groups[(platform, chat_id)] = (name, n + 1)
            quoted = [
                TopicMessageInfo(mid, title or chat_id, name, text, at)
                for mid, _, chat_id, title, name, text, at in in_window
            ]
            return TopicCounts(
                key=key,
                count=len(in_window),
                previous=tally.previous,
                lookback=tally.lookback,
                groups=tuple((p, c, t, n) for (p, c), (t, n) in groups.items()),
                first=quoted[0] if quoted else None,
                latest=quoted[-1] if quoted else None,
            )

    def topic_tally(
        self, key: str, *, window_start: datetime, lookback_start: datetime, until: datetime
    ) -> TopicTally:
        """``topic_counts``'s three counts and the warning raised since ``window_start``, in one
        statement over the topic's index, no text read (the early warning asks at every message)."""
        with self._tx() as session:
            return self._tally(session, key, window_start, lookback_start, until)

    @staticmethod
    def _tally(
        session: Session,
        key: str,
        window_start: datetime,
        lookback_start: datetime,
        until: datetime,
    ) -> TopicTally:
        previous_start = window_start - (until - window_start)
        # The lookback's whole hours come from the rollup, its ragged ends (less than an hour each)
        # from the messages; a lookback within one hour is read from the messages alone.
        first_hour, last_hour = next_hour(lookback_start), hour_of(window_start)
        if first_hour >= last_hour:
            first_hour = last_hour = window_start
        # On the driver's cursor (storage/driver.py): Core's execution cost more than the SQL.
        row = _tally_statement().first(
            core(session),
            {
                "key": key,
                "window_start": window_start,
                "until": until,
                "previous_start": previous_start,
                "lookback_start": lookback_start,
                "first_hour": first_hour,
                "last_hour": last_hour,
            },
        )
        assert row is not None  # an aggregate's one row
        lookback = int(row[2] or 0) + int(row[3] or 0)
        if first_hour < last_hour and (ids := topic_rollup.uncounted_before(session, last_hour)):
            # PostgreSQL counts a unit's messages into the rollup at its commit: the unit's own
            # messages of the lookback's whole hours (a batch catching up on hours) come from them.
            found = session.execute(
                _UNCOUNTED,
                {"ids": ids, "key": key, "first_hour": first_hour, "last_hour": last_hour},
            )
            lookback += int(found.scalar_one())
        return TopicTally(int(row[0] or 0), int(row[1] or 0), lookback, row[4])

    def warning_since(self, key: str, since: datetime) -> WarningInfo | None:
        """The warning about topic ``key`` raised at or after ``since``, if any."""
        with self._tx() as session:
            row = session.scalar(
                select(OpinionWarning)
                .where(OpinionWarning.topic_key == key, OpinionWarning.raised_at >= since)
                .order_by(OpinionWarning.id.desc())
            )
            return _warning_info(row) if row else None

    def raise_warning(
        self,
        counts: TopicCounts,
        *,
        label: str,
        baseline: float,
        window_start: datetime,
        at: datetime,
    ) -> WarningInfo:
        """Store a warning about the burst ``counts`` describes."""
        assert counts.first is not None and counts.latest is not None
        with self._tx() as session:
            row = OpinionWarning(
                topic_key=counts.key,
                label=label,
                count=counts.count,
                baseline=baseline,
                groups=_titles(counts),
                first_message_id=counts.first.id,
                latest_message_id=counts.latest.id,
                window_start=window_start,
                raised_at=at,
            )
            session.add(row)
            session.flush()
            return _warning_info(row)

    def refresh_warning(
        self,
        warning_id: int,
        *,
        count: int,
        message_id: int,
        sent_at: datetime,
        group_title: str,
    ) -> None:
        """Bring a raised warning up to date with a new message of its topic (no new warning): its
        count (the largest window count seen), its latest message (this one, unless an earlier one
        was sent later) and the groups of its burst — counted again in SQL only when the message's
        group (``group_title``) is not among them yet. Runs at every message of a topic while its
        warning lasts, which is when messages come fastest: two statements (three when the groups
        are counted again) compiled once and run on the driver's cursor (storage/driver.py)."""
        with self._tx() as session:
            connection = core(session)
            if self._bound is not None and connection.dialect.name == "postgresql":
                # Once, at commit, in warning order (``storage.commit_hooks``): a storm's warning
                # is the one row every worker's messages touch.
                refresh = (warning_id, count, message_id, sent_at, group_title)
                session.info.setdefault(_REFRESHES, []).append(refresh)
                return
            _refresh(connection, warning_id, count, message_id, sent_at, group_title)

    def warning(self, warning_id: int, scope: ReportScope = EVERYTHING) -> WarningInfo | None:
        """Warning ``warning_id`` when its burst had a message in a group ``scope`` admits."""
        with self._tx() as session:
            row = session.scalar(
                select(OpinionWarning).where(
                    OpinionWarning.id == warning_id,
                    _in_scope(scope) if scope != EVERYTHING else true(),
                )
            )
            return _warning_info(row) if row else None

    def warning_messages(
        self, warning: WarningInfo, scope: ReportScope = EVERYTHING
    ) -> WarningBurst:
        """The messages of ``warning``'s burst that ``scope`` admits, and every group's count."""
        with self._tx() as session:
            latest = session.scalar(
                select(Message.sent_at).where(Message.id == warning.latest_message_id)
            )
            burst = _burst(warning.topic_key, warning.window_start, latest or warning.raised_at)
            found = session.execute(
                select(Message.id, _TITLE, Person.display_name, Message.text, Message.sent_at)
                .join(Group, Group.id == Message.group_id)
                .join(Person, Person.id == Message.person_id)
                .where(*burst, scope.messages())
                .order_by(Message.sent_at, Message.id)
            ).all()
            per_group = session.execute(
                select(_TITLE, func.count(), func.min(Message.sent_at))
                .join(Group, Group.id == Message.group_id)
                .where(*burst)
                .group_by(Group.id, _TITLE)
                .order_by(func.min(Message.sent_at))
            ).all()
            return WarningBurst(
                [TopicMessageInfo(*row) for row in found],
                {name: int(n) for name, n, _ in per_group},
                latest,
            )

    def warnings(
        self, since: datetime, until: datetime, scope: ReportScope = EVERYTHING
    ) -> list[WarningInfo]:
        """Warnings raised in [since, until], newest first; with a ``scope``, those whose burst had a
        message in a group the scope admits."""
        with self._tx() as session:
            found = session.scalars(
                select(OpinionWarning)
                .where(OpinionWarning.raised_at >= since, OpinionWarning.raised_at <= until)
                .where(_in_scope(scope) if scope != EVERYTHING else true())
                .order_by(OpinionWarning.raised_at.desc(), OpinionWarning.id.desc())
            ).all()
            return [_warning_info(row) for row in found]


_TITLE = func.coalesce(func.nullif(Group.title, ""), Group.platform_chat_id)
"""A group's title, or its chat id when it has none."""

_WARNINGS = cast(Table, OpinionWarning.__table__)
_LATEST = cast(Table, Message.__table__).alias("latest")
_WARNING_NOW = DriverStatement(
    select(
        _WARNINGS.c.groups,
        _WARNINGS.c.topic_key,
        _WARNINGS.c.window_start,
        _WARNINGS.c.latest_message_id,
        _LATEST.c.sent_at,
    )
    .outerjoin(_LATEST, _LATEST.c.id == _WARNINGS.c.latest_message_id)
    .where(_WARNINGS.c.id == bindparam("warning_id"))
)
_REFRESH = DriverStatement(
    update(_WARNINGS)
    .where(_WARNINGS.c.id == bindparam("warning_id"))
    .values(
        count=case(
            (_WARNINGS.c.count < bindparam("count"), bindparam("count")),
            else_=_WARNINGS.c.count,
        ),
        latest_message_id=bindparam("latest"),
        groups=bindparam("groups"),
    )
)


def _burst(
    key: str | BindParameter[str],
    start: datetime | BindParameter[datetime],
    until: datetime | BindParameter[datetime],
) -> tuple[ColumnElement[bool], ...]:
    """Residents' messages of topic ``key`` sent in [start, until]."""
    return (
        Message.topic_key == key,
        Message.from_official.is_(False),
        Message.sent_at >= start,
        Message.sent_at <= until,
    )


_BURST_GROUPS = DriverStatement(
    select(_TITLE)
    .select_from(Message)
    .join(Group, Group.id == Message.group_id)
    .where(*_burst(bindparam("key"), bindparam("start"), bindparam("until")))
    .group_by(Group.id, _TITLE)
    .order_by(func.min(Message.sent_at), func.min(Message.id))
)
"""The titles of the groups of a burst, in the order of their first message (``refresh_warning``)."""


@cache
def _tally_statement() -> DriverStatement:
    """``topic_tally``'s statement, built once (building it cost more than running it) and run on
    the driver's cursor (storage/driver.py): the window
    and the one before it counted from the topic's index; the lookback from ``topic_hours``' whole
    hours and the messages of its two ragged ends. What it reads is bounded by the topic's traffic
    in two windows and two hours, however long the lookback and however big the store."""
    resident = and_(Message.topic_key == bindparam("key"), Message.from_official.is_(False))

    def tally(*conditions: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.sum(case((and_(*conditions), 1), else_=0))

    window_start: BindParameter[datetime] = bindparam("window_start")
    previous_start: BindParameter[datetime] = bindparam("previous_start")
    first_hour: BindParameter[datetime] = bindparam("first_hour")
    last_hour: BindParameter[datetime] = bindparam("last_hour")
    windows = (
        select(
            tally(Message.sent_at >= window_start),
            tally(Message.sent_at < window_start),
        )
        .where(resident, Message.sent_at >= previous_start, Message.sent_at <= bindparam("until"))
        .subquery()
    )
    ends = (
        select(func.count())
        .where(
            resident,
            or_(
                and_(Message.sent_at >= bindparam("lookback_start"), Message.sent_at < first_hour),
                and_(Message.sent_at >= last_hour, Message.sent_at < window_start),
            ),
        )
        .scalar_subquery()
    )
    hours = (
        select(func.sum(TopicHour.messages))
        .where(
            TopicHour.topic_key == bindparam("key"),
            TopicHour.hour >= first_hour,
            TopicHour.hour < last_hour,
        )
        .scalar_subquery()
    )
    raised = (
        select(func.max(OpinionWarning.id))
        .where(
            OpinionWarning.topic_key == bindparam("key"),
            OpinionWarning.raised_at >= window_start,
        )
        .scalar_subquery()
    )
    return DriverStatement(select(*windows.c, ends, hours, raised))


def _in_scope(scope: ReportScope) -> ColumnElement[bool]:
    """A warning whose burst (its window up to when it was raised) had a message ``scope`` admits."""
    return (
        select(Message.id)
        .where(
            Message.topic_key == OpinionWarning.topic_key,
            Message.sent_at >= OpinionWarning.window_start,
            Message.sent_at <= OpinionWarning.raised_at,
            scope.messages(),
        )
        .exists()
    )


def _titles(counts: TopicCounts) -> str:
    return "、".join(title for _, _, title, _ in counts.groups)


def _warning_info(row: OpinionWarning) -> WarningInfo:
    return WarningInfo(
        row.id, row.topic_key, row.label, row.count, row.baseline, row.groups,
        row.first_message_id, row.latest_message_id, row.window_start, row.raised_at,
    )  # fmt: skip
