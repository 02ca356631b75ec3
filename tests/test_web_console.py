"""The supervisors' web console in a real browser: Debian's headless Chromium driven by Playwright
against the console served by uvicorn on 127.0.0.1, over the store on SQLite and PostgreSQL.

What a person would see: the overview's figures are the store's, a filtered search finds the right
ticket, its page shows its history and the conversation, an Excel download reads back typed, an
official cannot open another group's ticket, phone numbers stay masked, logins are throttled and forms
need their CSRF token. Screenshots of each page are saved in the test's tmp folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from bot.web.app import ConsoleConfig, create_app
from bot.web.pdf import CHROMIUM_ARGS
from bot.web.serve import ServerThread
from handlers.common import duration
from handlers.summary import percent
from storage import Store, make_engine, upgrade
from storage.models import Official
from web_world import MASKED_PHONE, NOW, PASSWORD, PHONE, ZONE, World, at, build_world

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module (Debian's package; nothing is downloaded)."""
    if not CHROMIUM.exists():
        reason = "Debian's chromium is not installed (apt-get install -y chromium fonts-noto-cjk)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS)
        )
        yield launched
        launched.close()


@dataclass
class Console:
    """The running console, its store and the world in it."""

    url: str
    store: Store
    world: World
    moments: list[datetime]

    def now(self) -> datetime:
        """The console's clock (the tests move it; nothing sleeps)."""
        return self.moments[-1]

    def advance(self, delta: timedelta) -> None:
        self.moments.append(self.moments[-1] + delta)


@pytest.fixture
def console(db_url: str) -> Iterator[Console]:
    engine = make_engine(db_url)
    upgrade(engine)
    store = Store(engine)
    world = build_world(store)
    moments = [NOW.astimezone(UTC)]
    config = ConsoleConfig(zone=ZONE, secret="test-secret", clock=lambda: moments[-1])
    with ServerThread(create_app(store, config)) as server:
        yield Console(f"http://127.0.0.1:{server.port}", store, world, moments)
    engine.dispose()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go (``MINYI_SCREENSHOTS`` keeps them somewhere else as well)."""
    folder = tmp_path / "screenshots"
    folder.mkdir()
    return folder


def save(page: Any, folder: Path, name: str) -> None:
    """A full-page screenshot into ``folder`` (and into $MINYI_SCREENSHOTS when set)."""
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000  # a rendered page, not a blank one
    extra = os.environ.get("MINYI_SCREENSHOTS")
    if extra:
        shutil.copy(path, Path(extra) / path.name)


def login(browser: Any, console: Console, name: str) -> Any:
    """A fresh browser context logged in as ``name``; returns its page on the overview."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{console.url}/")
    assert page.url.endswith("/login")  # not logged in: sent to the login form
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{console.url}/")
    assert name in page.inner_text("header")
    return page


def figure(page: Any, key: str) -> str:
    return page.inner_text(f"[data-figure={key}] .value").strip()


def table_rows(page: Any, name: str) -> list[dict[str, str]]:
    """The rows of the page's table ``name`` as {column title: text}."""
    return page.eval_on_selector_all(
        f"table[data-table={name}] tbody tr",
        """rows => rows.map(r => Object.fromEntries(
            [...r.querySelectorAll('td')].map(td => [td.dataset.column, td.innerText.trim()])))""",
    )


def downloaded_sheet(page: Any, link: str, folder: Path) -> tuple[Any, list[Any]]:
    """Click ``link``, save the download into ``folder`` and read it back with openpyxl: its first
    sheet and header row."""
    with page.expect_download() as download:
        page.click(link)
    path = folder / download.value.suggested_filename
    download.value.save_as(path)
    sheet = load_workbook(path).active
    assert sheet is not None
    return sheet, [c.value for c in sheet[1]]


def test_overview_shows_the_stores_figures(console: Console, browser: Any, shots: Path) -> None:
    page = login(browser, console, "陈静")
    page.select_option("select[name=period]", "this_week")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state()
    expected = console.store.summary(at(16, 0), at(21, 0), NOW)
    total = expected.total
    assert total.questions == 3  # the elevator, the parking and the bus stop; not last week's
    assert figure(page, "questions") == str(total.questions)
    assert figure(page, "response_rate") == percent(total.response_rate) == "66.7%"
    assert figure(page, "resolution_rate") == percent(total.resolution_rate) == "33.3%"
    assert figure(page, "satisfaction_rate") == percent(total.satisfaction_rate) == "50.0%"
    assert figure(page, "on_time_rate") == percent(total.on_time_rate)
    assert figure(page, "overdue") == str(total.overdue) == "1"
    assert figure(page, "median") == duration(total.median_response_seconds or 0)
    assert figure(page, "p90") == duration(total.p90_response_seconds or 0)
    officials = table_rows(page, "officials")
    # Ranked by answers, then response rate: 李娜 answered her one question, 张伟 one of two.
    assert [r["名称"] for r in officials[:2]] == ["李娜", "张伟"]
    zhang = next(r for r in officials if r["名称"] == "张伟")
    assert (zhang["问题"], zhang["答复"], zhang["聊天"], zhang["超时未答"]) == ("2", "1", "1", "1")
    assert next(r for r in officials if r["名称"] == "李娜")["发声"] == "1"
    # Every ticket still overdue now, asked in the period or before, the longest overdue first.
    overdue = table_rows(page, "overdue")
    assert [r["编号"] for r in overdue] == [
        f"Q{console.world.last_week}",
        f"Q{console.world.parking}",
    ]
    assert page.locator("svg.chart polyline").count() == 3
    # The trend lists the week's days; Wednesday (11-18) had one question.
    assert "11-18 提问 1" in page.inner_html("svg.chart")
    save(page, shots, "overview")


def test_filtered_search_and_a_tickets_history(console: Console, browser: Any, shots: Path) -> None:
    page = login(browser, console, "陈静")
    page.click("nav >> text=工单")
    page.fill("input[name=q]", "電梯")  # Traditional input finds simplified text
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state()
    found = [r["编号"] for r in table_rows(page, "tickets")]
    assert sorted(found) == sorted(
        f"Q{n}" for n in (console.world.elevator, console.world.last_week)
    )
    page.select_option("select[name=state]", "resolved")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state()
    assert [r["编号"] for r in table_rows(page, "tickets")] == [f"Q{console.world.elevator}"]
    assert page.inner_text("#ticket-count") == "共 1 个"
    save(page, shots, "tickets")

    page.click(f"text=Q{console.world.elevator}")
    page.wait_for_url(f"**/tickets/Q{console.world.elevator}")
    history = page.inner_text("ol.timeline")
    assert "张伟：待答复 → 已答复，待评价" in history
    assert "王阿姨 评价：满意" in history
    assert "王阿姨：已答复，待评价 → 已办结（居民满意）" in history
    chat = page.inner_text("ul.chat")
    assert "刘先生：大家早上好" in chat and "孙大爷：是啊，爬楼太难了" in chat
    assert page.inner_text("ul.chat li.asked").count("3号楼电梯") == 1
    assert MASKED_PHONE in page.inner_text("blockquote.question-text")
    assert PHONE not in page.content()
    save(page, shots, "ticket")


def test_excel_and_csv_downloads_read_back(console: Console, browser: Any, tmp_path: Path) -> None:
    page = login(browser, console, "陈静")
    page.goto(f"{console.url}/?period=this_week")
    sheet, header = downloaded_sheet(page, "#table-officials >> text=下载 Excel", tmp_path)
    assert sheet.title == "人员排行"
    assert header[:3] == ["名称", "部门", "问题"] and "响应率" in header and "潜水" in header
    rows = {
        r[0]: dict(zip(header, r, strict=True))
        for r in sheet.iter_rows(min_row=2, values_only=True)
    }
    assert rows["张伟"]["问题"] == 2 and rows["张伟"]["响应率"] == 0.5
    assert rows["李娜"]["首次响应中位数（分钟）"] == 25 * 60.0
    rate_cell = sheet.cell(2, header.index("响应率") + 1)
    assert rate_cell.number_format == "0.0%"

    answer = page.request.get(f"{console.url}/export/tickets.csv?q=电梯")
    body = answer.body()
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for Chinese
    text = body.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("编号,状态,群")
    assert MASKED_PHONE in text and PHONE not in text


def test_an_official_sees_only_their_groups(console: Console, browser: Any, shots: Path) -> None:
    page = login(browser, console, "李娜")
    page.goto(f"{console.url}/tickets/Q{console.world.elevator}")
    assert "不在您的查看范围内" in page.inner_text("main")
    assert "3号楼电梯" not in page.content()
    save(page, shots, "refused")
    page.goto(f"{console.url}/tickets")
    listed = {r["编号"] for r in table_rows(page, "tickets")}
    assert listed == {f"Q{console.world.bus_stop}", f"Q{console.world.last_week}"}
    page.goto(f"{console.url}/?period=this_week")
    assert figure(page, "questions") == "1"
    export = page.request.get(f"{console.url}/export/tickets.csv").body().decode("utf-8-sig")
    assert "3号楼电梯" not in export and "公交站台" in export

    supervisor = login(browser, console, "周芳")  # 交通运输局: its questions, in any group
    supervisor.goto(f"{console.url}/tickets")
    listed = {r["编号"] for r in table_rows(supervisor, "tickets")}
    assert listed == {f"Q{console.world.parking}", f"Q{console.world.bus_stop}"}


def test_logins_are_throttled_forms_need_csrf_and_logout_ends_the_session(
    console: Console, browser: Any
) -> None:
    context = browser.new_context()
    page = context.new_page()
    for _ in range(5):
        page.goto(f"{console.url}/login")
        page.fill("input[name=name]", "张伟")
        page.fill("input[name=password]", "wrong-password")
        page.click("button[type=submit]")
        assert "用户名或密码不正确" in page.inner_text(".error")
    page.fill("input[name=name]", "张伟")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    assert "登录失败次数过多，请 15 分钟后再试" in page.inner_text(".error")
    assert page.url.endswith("/login")
    # The address is held back too: guessing other names from it is refused as well.
    page.fill("input[name=name]", "陈静")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    assert "登录失败次数过多" in page.inner_text(".error")

    forged = page.request.post(f"{console.url}/login", form={"name": "陈静", "password": PASSWORD})
    assert forged.status == 403  # no CSRF token: refused before the password is looked at

    console.advance(timedelta(minutes=15, seconds=1))
    page = login(browser, console, "张伟")
    cookie = next(c for c in page.context.cookies() if c["name"] == "minyi_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.click("text=退出登录")
    page.wait_for_url("**/login")
    page.goto(f"{console.url}/tickets")
    assert page.url.endswith("/login")

    # Someone taken off the roster is logged out at their next page, not when the cookie expires.
    page = login(browser, console, "李娜")
    with console.store.engine.begin() as connection:
        connection.execute(
            update(Official).where(Official.id == console.world.li).values(active=False)
        )
    page.goto(f"{console.url}/tickets")
    assert page.url.endswith("/login")


def test_the_public_page_shows_departments_without_names_or_text(
    console: Console, browser: Any, shots: Path
) -> None:
    page = browser.new_context(viewport={"width": 1200, "height": 800}).new_page()
    assert page.goto(f"{console.url}/public").status == 404  # off unless [web] public = true

    config = ConsoleConfig(zone=ZONE, secret="s", clock=console.now, public=True)
    with ServerThread(create_app(console.store, config)) as public:
        page.goto(f"http://127.0.0.1:{public.port}/public")
        rows = {r["部门"]: r for r in table_rows(page, "public")}
        expected = console.store.summary(
            console.now() - timedelta(days=30), console.now(), console.now()
        )
        for department in expected.departments:
            row = rows[department.label]
            assert row["受理诉求"] == str(department.questions)
            assert row["答复率"] == percent(department.response_rate)
            assert row["满意率"] == percent(department.satisfaction_rate)
        assert rows["交通运输局"]["平均首次响应"] == duration(25 * 3600)
        body = page.inner_text("body")
        for private in ("王阿姨", "周老板", "张伟", "李娜", "电梯", "停车位", "138"):
            assert private not in body
        assert "退出登录" not in body  # nobody is logged in
        save(page, shots, "public")


def test_the_weekly_brief_in_the_console(console: Console, browser: Any, shots: Path) -> None:
    page = login(browser, console, "陈静")
    page.click("nav >> text=网情动态")  # the last complete week by default
    page.wait_for_load_state()
    assert "2026年第46周（11月9日—11月15日）" in page.inner_text("body")
    assert "提出问题 1 个" in page.inner_text("body")  # the elevator subsidy of 11-12
    page.goto(f"{console.url}/brief?week=2026-W47")
    body = page.inner_text("body")
    assert "2026年第47周（11月16日—11月22日）" in body
    assert "提出问题 3 个" in body and "超时未答复 1 个" in body
    save(page, shots, "brief")
    with page.expect_download() as download:
        page.click("text=下载 PDF")
    assert download.value.suggested_filename == "brief-2026-W47.pdf"
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000

    official = login(browser, console, "李娜")  # only her group's questions
    official.goto(f"{console.url}/brief?week=2026-W47")
    assert "提出问题 1 个" in official.inner_text("body")
    official.goto(f"{console.url}/brief?week=第47周")
    assert "无法识别的周" in official.inner_text(".error")


def test_opinion_shows_spikes_topics_and_the_registries_escaped(
    console: Console, browser: Any, shots: Path
) -> None:
    page = login(browser, console, "陈静")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.click("nav >> text=舆情")
    page.wait_for_load_state()
    assert "2026-11-19：投诉 3 条" in page.inner_text("#spikes")
    complaints = [r["内容"] for r in table_rows(page, "complaints")]
    assert len(complaints) == 3
    # Residents' text is shown as text: the markup is visible, never run; numbers are masked.
    assert "<script>alert('x')</script>噪音扰民投诉无门，电话139****1111" in complaints
    assert dialogs == [] and "13900001111" not in page.content()
    assert [r["内容"] for r in table_rows(page, "suggestions")] == ["建议小区增加充电桩"]
    assert "11-19 投诉 3" in page.inner_html("svg.chart")
    save(page, shots, "opinion")

    official = login(browser, console, "李娜")  # 创业路商户群 only: none of these
    official.goto(f"{console.url}/opinion")
    assert table_rows(official, "complaints") == []
    answer = official.request.get(f"{console.url}/export/complaints.csv")
    assert answer.body().decode("utf-8-sig").strip() == "时间,群,内容"
