"""The reports behind the web console and ``minyi report``'s files: scoped summaries count exactly what
their scope admits (against counting every row in Python, on both engines), the periods people choose,
the p90 response time, Excel and CSV files from the command line, and console passwords set from stdin."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.web.auth import password_matches
from bot.web.periods import PeriodChoiceError, choose_period
from bot.web.tables import AGE_LIMITS
from storage import Store, make_engine, upgrade
from storage.models import (
    Engagement,
    GroupAssignment,
    Message,
    Official,
    Question,
    WebAccount,
)
from storage.records import Tally
from storage.reports import ReportScope
from test_cli import minyi
from test_summary import NOW, SINCE, UNTIL, populate
from web_world import ZONE, build_world


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    with Session(engine) as session, session.begin():
        populate(session)
    yield engine
    engine.dispose()


def counted_by_hand(session: Session, scope: ReportScope) -> tuple[int, int, int, int, int]:
    """(questions, answered, overdue, engagements, messages) in the period, filtered in Python."""
    departments = {o.id: o.department for o in session.scalars(select(Official))}
    assigned = {(a.official_id, a.group_id) for a in session.scalars(select(GroupAssignment))}

    def question_in(q: Question) -> bool:
        return (
            (scope.departments is None or q.department in scope.departments)
            and (
                scope.group_ids is None
                or q.group_id in scope.group_ids
                or (scope.or_assigned_to is not None and q.assignee_id == scope.or_assigned_to)
            )
            and (scope.official_id is None or q.assignee_id == scope.official_id)
        )

    def engagement_in(e: Engagement) -> bool:
        return (
            (scope.departments is None or departments[e.official_id] in scope.departments)
            and (
                scope.group_ids is None
                or e.group_id in scope.group_ids
                or (scope.or_assigned_to is not None and e.official_id == scope.or_assigned_to)
            )
            and (scope.official_id is None or e.official_id == scope.official_id)
        )

    def message_in(m: Message) -> bool:
        served = {g for o, g in assigned if departments[o] in (scope.departments or ())}
        return (
            m.group_id is not None
            and (scope.departments is None or m.group_id in served)
            and (scope.group_ids is None or m.group_id in scope.group_ids)
            and (scope.official_id is None or (scope.official_id, m.group_id) in assigned)
        )

    questions = [
        q
        for q in session.scalars(select(Question))
        if SINCE <= q.created_at < UNTIL and question_in(q)
    ]
    return (
        len(questions),
        sum(q.first_response_at is not None for q in questions),
        sum(q.state in ("open", "transferred", "reopened") and q.due_at < NOW for q in questions),
        sum(
            SINCE <= e.at < UNTIL and engagement_in(e) for e in session.scalars(select(Engagement))
        ),
        sum(SINCE <= m.sent_at < UNTIL and message_in(m) for m in session.scalars(select(Message))),
    )


def scopes(session: Session) -> list[ReportScope]:
    zhang = session.scalar(select(Official.id).where(Official.name == "张伟"))
    groups = sorted(
        session.scalars(select(Message.group_id).where(Message.group_id.is_not(None))).unique()
    )
    li = session.scalar(select(Official.id).where(Official.name == "李娜"))
    session.add(GroupAssignment(group_id=groups[0], official_id=zhang))
    session.add(GroupAssignment(group_id=groups[1], official_id=li))
    session.flush()
    return [
        ReportScope(departments=frozenset({"交通运输局"})),
        ReportScope(group_ids=frozenset({groups[0]})),
        ReportScope(group_ids=frozenset({groups[0]}), or_assigned_to=zhang),
        ReportScope(official_id=zhang),
        ReportScope(departments=frozenset({"住房和城乡建设局"}), group_ids=frozenset(groups[:2])),
    ]


def test_scoped_summaries_count_only_what_the_scope_admits(engine):
    store = Store(engine)
    with Session(engine) as session, session.begin():
        chosen = scopes(session)
    everything = store.summary(SINCE, UNTIL, NOW).total
    with Session(engine) as session:
        for scope in chosen:
            total = store.summary(SINCE, UNTIL, NOW, scope).total
            figures = (
                total.questions,
                total.answered,
                total.overdue,
                sum(total.engagements.values()),
                total.messages,
            )
            assert figures == counted_by_hand(session, scope), scope
            assert 0 < total.questions < everything.questions, scope
            assert 0 < total.messages < everything.messages, scope
        overdue = store.summary(SINCE, UNTIL, NOW, chosen[0]).overdue
        assert overdue and all(q.department == "交通运输局" for q in overdue)


def test_overview_trend_counts_by_local_day(engine):
    store = Store(engine)
    found = store.overview(SINCE, UNTIL, NOW, ZONE, ReportScope())
    assert [d.day for d in found.trend] == sorted({d.day for d in found.trend})
    assert len(found.trend) == 8  # the 7 days from 08:30 local, touching 8 calendar days
    assert sum(d.asked for d in found.trend) == found.summary.total.questions
    assert sum(d.answered for d in found.trend) == found.summary.total.answered
    with Session(engine) as session:
        asked = Counter(
            q.created_at.astimezone(ZONE).date()
            for q in session.scalars(select(Question))
            if SINCE <= q.created_at < UNTIL
        )
        waiting = [
            q
            for q in session.scalars(select(Question))
            if q.state in ("open", "transferred", "reopened")
        ]
    assert {d.day: d.asked for d in found.trend if d.asked} == asked
    ages = [NOW - q.created_at for q in waiting]

    def by_hand(limits: list[timedelta]) -> list[int]:
        """Each waiting ticket in the first bin whose limit it is younger than (else the last)."""
        counts = [0] * (len(limits) + 1)
        for age in ages:
            counts[next((i for i, limit in enumerate(limits) if age < limit), len(limits))] += 1
        return counts

    assert len(ages) > 1
    assert found.waiting_by_age == [len(ages)]  # no limits: one bin, every waiting ticket
    # The console's bins, and bins ending exactly at the tickets' own ages: a ticket as old as a
    # limit is not younger than it, so it counts in the next bin.
    for limits in (list(AGE_LIMITS), sorted(set(ages))):
        counted = store.overview(SINCE, UNTIL, NOW, ZONE, ReportScope(), age_limits=limits)
        assert counted.waiting_by_age == by_hand(limits), limits


def test_p90_is_the_nearest_rank():
    tally = Tally(key="k", label="k", response_seconds=[float(s) for s in range(10, 0, -1)])
    assert tally.p90_response_seconds == 9.0
    assert Tally(key="k", label="k", response_seconds=[42.0]).p90_response_seconds == 42.0
    assert Tally(key="k", label="k").p90_response_seconds is None


def test_periods_people_choose():
    friday = datetime(2026, 11, 20, 15, 0, tzinfo=ZONE).astimezone(UTC)
    week = choose_period("this_week", friday, ZONE)
    assert week.since == datetime(2026, 11, 16, tzinfo=ZONE) and week.label == "本周"
    assert week.until == datetime(2026, 11, 21, tzinfo=ZONE)
    last = choose_period("last_week", friday, ZONE)
    assert (last.first_day.isoformat(), last.last_day.isoformat()) == ("2026-11-09", "2026-11-15")
    assert choose_period("this_month", friday, ZONE).since == datetime(2026, 11, 1, tzinfo=ZONE)
    assert choose_period("today", friday, ZONE).until - timedelta(days=1) == datetime(
        2026, 11, 20, tzinfo=ZONE
    )
    chosen = choose_period("range", friday, ZONE, "2026/11/02", "2026-11-03")
    assert chosen.label == "2026-11-02 至 2026-11-03" and chosen.until == datetime(
        2026, 11, 4, tzinfo=ZONE
    )
    with pytest.raises(PeriodChoiceError, match="结束日期早于开始日期"):
        choose_period("range", friday, ZONE, "2026-11-05", "2026-11-01")
    with pytest.raises(PeriodChoiceError, match="无法识别的日期"):
        choose_period("range", friday, ZONE, "上周三", "")


@pytest.fixture
def world_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'world.db'}"
    engine = make_engine(url)
    upgrade(engine)
    build_world(Store(engine))
    engine.dispose()
    return url


def test_report_writes_excel_and_csv_with_filters(world_db, tmp_path):
    out = tmp_path / "report.xlsx"
    period = ("--from", "2026-11-16", "--to", "2026-11-20")
    result = minyi("--database", world_db, "report", "--format", "xlsx", "--out", str(out),
                   *period, "--department", "交通运输局", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    book = load_workbook(out)
    assert book.sheetnames == ["人员排行", "按群", "按部门", "合计", "超时未答复"]
    header = [c.value for c in book["合计"][1]]
    total = dict(
        zip(header, next(book["合计"].iter_rows(min_row=2, values_only=True)), strict=True)
    )
    assert (total["问题"], total["已答复"], total["响应率"]) == (
        2,
        1,
        0.5,
    )  # the parking, the bus stop
    assert book["合计"].cell(2, header.index("响应率") + 1).number_format == "0.0%"
    overdue = [r[0] for r in book["超时未答复"].iter_rows(min_row=2, values_only=True)]
    assert overdue == ["Q2"]  # the parking (交通运输局); not the elevator subsidy (住建)
    created = book["超时未答复"].cell(2, 7).value
    assert isinstance(created, datetime) and created == datetime(2026, 11, 17, 10, 0)

    csv_out = tmp_path / "report.csv"
    result = minyi("--database", world_db, "report", "--format", "csv", "--out", str(csv_out),
                   *period, "--official", "李娜", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    raw = csv_out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert next(r for r in rows if r["范围"] == "合计")["问题"] == "1"  # only her bus stop

    unknown = minyi("--database", world_db, "report", "--group", "不存在的群", cwd=tmp_path)
    assert unknown.returncode == 1 and "no such group" in unknown.stderr
    no_out = minyi("--database", world_db, "report", "--format", "xlsx", cwd=tmp_path)
    assert no_out.returncode == 2 and "--out" in no_out.stderr


def test_console_password_is_read_from_stdin_and_stored_hashed(world_db, tmp_path):
    result = minyi("--database", world_db, "officials", "passwd", "张伟", stdin="n3w-Passw0rd\n",
                   cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    engine = make_engine(world_db)
    with Session(engine) as session:
        stored = session.scalars(select(WebAccount.password_hash)).all()
        zhang = session.scalar(
            select(WebAccount.password_hash)
            .join(Official, Official.id == WebAccount.official_id)
            .where(Official.name == "张伟")
        )
    engine.dispose()
    assert zhang is not None and zhang.startswith("$argon2id$") and "n3w-Passw0rd" not in zhang
    assert password_matches(zhang, "n3w-Passw0rd") and len(stored) == 5
    short = minyi(
        "--database", world_db, "officials", "passwd", "张伟", stdin="short\n", cwd=tmp_path
    )
    assert short.returncode == 2 and "至少需要 8 个字符" in short.stderr
    nobody = minyi("--database", world_db, "officials", "passwd", "无名", stdin="long-enough-1\n",
                   cwd=tmp_path)  # fmt: skip
    assert nobody.returncode == 1 and "Traceback" not in nobody.stderr


def test_the_console_runs_beside_the_bot(world_db, tmp_path):
    """``[web] enabled = true``: ``minyi run`` serves the console while it reads the chat, and stops
    both when the chat input ends."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "MINYI_WEB__ENABLED": "true", "MINYI_WEB__PORT": str(port)}
    env.pop("MINYI_CONFIG", None)
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "--database", world_db, "run"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    try:
        assert bot.stderr is not None and bot.stdin is not None
        for line in bot.stderr:
            if "督查工作台" in line:
                break
        else:
            pytest.fail("minyi run did not start the console")
        deadline = time.monotonic() + 60
        while True:  # the server binds its port just after the line is printed
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=30) as page:
                    assert page.status == 200 and "登录督查工作台" in page.read().decode()
                    break
            except urllib.error.URLError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        bot.stdin.write("王阿姨: 大家好\n")
        bot.stdin.close()
        assert bot.wait(timeout=120) == 0
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()


def pdf_text(path: Path) -> str:
    """The PDF's text; NFKC because Chromium's CJK fonts map some characters to Kangxi radicals."""
    import unicodedata

    from pypdf import PdfReader

    pages = PdfReader(path).pages
    return unicodedata.normalize("NFKC", "\n".join(p.extract_text() for p in pages))


@pytest.mark.skipif(
    not Path("/usr/bin/chromium").exists() and not __import__("os").environ.get("CI"),
    reason="Debian's chromium is not installed (apt-get install -y chromium fonts-noto-cjk)",
)
def test_weekly_brief_as_pdf_and_html(world_db, tmp_path):
    out = tmp_path / "brief.pdf"
    result = minyi("--database", world_db, "brief", "--week", "2026-W47", "--format", "pdf",
                   "--out", str(out), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().startswith(b"%PDF")
    text = "".join(pdf_text(out).split())
    # Chinese comes out as Chinese text (glyphs the font has), with the week's figures.
    assert "网情动态" in text and "2026年第47周" in text
    assert "提出问题3个" in text and "已答复2个" in text
    assert "66.7%" in text and "33.3%" in text and "50.0%" in text
    assert "交通运输局" in text and "住房和城乡建设局" in text and "超时未答复工单" in text
    assert "13812345678" not in text

    page = minyi("--database", world_db, "brief", "--week", "2026W47", cwd=tmp_path)
    assert page.returncode == 0 and page.stdout.startswith("<!doctype html>")
    assert "<style>" in page.stdout and "http" not in page.stdout.split("<body>")[0]
    topics = page.stdout.split("二、群众关注热点")[1].split("三、")[0]
    assert '<td>停车位</td><td class="n">1</td><td class="tickets">Q2</td>' in topics

    bad = minyi("--database", world_db, "brief", "--week", "48", cwd=tmp_path)
    assert bad.returncode == 2 and "2026-W48" in bad.stderr
    no_out = minyi("--database", world_db, "brief", "--format", "pdf", cwd=tmp_path)
    assert no_out.returncode == 2 and "--out" in no_out.stderr


def test_web_on_a_port_in_use_is_one_line(world_db, tmp_path):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = minyi("--database", world_db, "web", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"minyi: cannot listen on 127.0.0.1:{port}: Address already in use (try --port)"
    )
