"""The console's opinion part in a real browser (issues 16 and 17): a burst in the chat becomes a
舆情预警 a supervisor reads on the 舆情 page with its count, groups and messages (masked, escaped), and an
official of an unrelated group does not; the burst's day shows in the hot topics over time; the 建议台账
shows a suggestion's status after ``/suggestion S1 已采纳 …`` in the chat, with the counts ``/suggestions``
gives, and downloads as XLSX and CSV. Both engines; the chat's time is the injected clock."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.web.app import ConsoleConfig, create_app
from bot.web.auth import hash_password
from bot.web.serve import ServerThread
from dialogue_support import ROSTER
from test_opinion import OUTAGE, outage_burst
from test_registry import LOCKERS, adopt
from test_web_console import (  # noqa: F401 - browser and shots are fixtures
    browser,
    downloaded_sheet,
    login,
    save,
    shots,
    table_rows,
)
from web_world import PASSWORD, ZONE

HOSTILE = "<img src=x onerror=alert(1)>又停水了，急！电话13900001111"
ZHAO = {
    "name": "赵磊",
    "department": "生态环境局",
    "identities": ["test:zhaolei"],
    "groups": ["test:hepingli"],  # a group the burst never reaches
}
PHONE_SUGGESTION = "建议在小区门口装个快递柜，有事联系13812345678"


def in_chat(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run the chat's side on a loop of its own, in a thread: the browser's sync API keeps one
    running in this thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@dataclass(frozen=True)
class Site:
    """The console serving the dialogue's store (``login`` needs only its address)."""

    url: str


@pytest.fixture
def chat_and_console(dialogue: Any) -> Any:
    """A dialogue with an official of an unrelated group, and the console over its store and clock;
    everyone on the roster has the console password."""
    chat = dialogue(officials=[*ROSTER, ZHAO])
    store = chat.app.store
    password_hash = hash_password(PASSWORD)
    for person in ("张伟", "李娜", "陈静", "赵磊"):
        store.set_password_hash(person, password_hash, chat.clock.now)
    config = ConsoleConfig(
        zone=ZONE, secret="test-secret", clock=chat.clock, opinion_window=timedelta(minutes=30)
    )
    with ServerThread(create_app(store, config)) as server:
        yield chat, Site(f"http://127.0.0.1:{server.port}")


def test_a_burst_is_a_warning_the_supervisor_reads_and_an_unrelated_official_does_not(
    chat_and_console: Any,
    browser: Any,  # noqa: F811 - the fixture imported above
    shots: Path,  # noqa: F811
) -> None:
    chat, site = chat_and_console
    in_chat(outage_burst(chat, [chat.group, chat.other_group], lines=(*OUTAGE, HOSTILE)))
    (stored,) = chat.app.store.warnings(chat.clock.now - timedelta(days=1), chat.clock.now)
    assert stored.label == "停水" and stored.count == len(OUTAGE) + 1

    page = login(browser, site, "陈静")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.click("nav >> text=舆情")
    page.wait_for_load_state()
    (row,) = table_rows(page, "warnings")
    assert row["话题"] == "停水" and row["消息数"] == "13"
    # Alternate messages went to each group: 7 in the first, 6 in the second.
    assert row["涉及群"] == "幸福里小区(7)、阳光花园(6)"
    assert row["首条"].startswith("11-16 08:30［幸福里小区］王阿姨：又停水了")
    assert row["最新"].startswith("11-16 09:00［幸福里小区］王阿姨：<img src=x")
    assert "13900001111" not in page.content()
    assert row["趋势"] == "上升（前一时段 0 条 → 本时段 13 条）"
    # Hot topics over time: the burst's day has all of the topic's messages.
    trend = {r["日期"]: r for r in table_rows(page, "topic_trend")}
    assert trend["2026-11-16"]["停水"] == "13"
    assert "11-16 停水 13" in page.inner_html("#topic-trend-chart svg.chart")
    save(page, shots, "opinion-warnings")

    page.click(f"text=预警{stored.id}")
    page.wait_for_url(f"**/opinion/warnings/{stored.id}")
    messages = table_rows(page, f"warning_{stored.id}")
    assert len(messages) == 13
    assert messages[7]["内容"] == "停水影响开店，什么时候来水？有消息打我电话138****5678"
    assert messages[-1]["内容"] == "<img src=x onerror=alert(1)>又停水了，急！电话139****1111"
    assert page.inner_text("[data-field=groups]") == "幸福里小区(7)、阳光花园(6)"
    assert dialogs == [] and "13812345678" not in page.content()
    save(page, shots, "opinion-warning")

    # 张伟 serves 幸福里小区 only: the warning is listed, with that group's messages only.
    official = login(browser, site, "张伟")
    official.goto(f"{site.url}/opinion/warnings/{stored.id}")
    groups = {r["群"] for r in table_rows(official, f"warning_{stored.id}")}
    assert groups == {"幸福里小区"}

    unrelated = login(browser, site, "赵磊")
    unrelated.goto(f"{site.url}/opinion")
    assert table_rows(unrelated, "warnings") == [] and "停水" not in unrelated.inner_text("main")
    unrelated.goto(f"{site.url}/opinion/warnings/{stored.id}")
    assert "不在您的查看范围内" in unrelated.inner_text("main")
    export = unrelated.request.get(f"{site.url}/export/warnings.csv").body()
    assert export.decode("utf-8-sig").strip() == "编号,话题,消息数,涉及群,首条,最新,趋势,预警时间"


def test_the_registry_shows_the_chats_statuses_and_downloads(
    chat_and_console: Any,
    browser: Any,  # noqa: F811 - the fixture imported above
    shots: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    chat, site = chat_and_console

    async def talk() -> str:
        await chat.bot.say(LOCKERS, by=chat.liu, chat=chat.group, message_id="m-lockers")
        chat.clock.advance(minutes=5)
        await chat.bot.say(PHONE_SUGGESTION, by=chat.wang, chat=chat.group, message_id="m-phone")
        await chat.bot.deliver(adopt(chat, chat.zhang, "m-phone", PHONE_SUGGESTION))
        chat.clock.advance(hours=2)
        await chat.bot.say("/suggestion S1 研究中 已与物业商量场地", by=chat.zhang)
        chat.clock.advance(days=1)
        await chat.bot.say("/suggestion S1 已采纳 下月安装", by=chat.zhang)
        return str((await chat.bot.say("/suggestions", by=chat.chen))[0].text)

    listing = in_chat(talk())
    counts = listing.splitlines()[0].strip("【】")
    assert counts == "好想法好建议 2 条：已收到 1、已采纳 1"

    page = login(browser, site, "陈静")
    page.click("nav >> text=建议台账")
    page.wait_for_load_state()
    assert page.inner_text("#registry-counts") == counts  # the chat's figures
    rows = {r["编号"]: r for r in table_rows(page, "registry")}
    assert set(rows) == {"S1", "S2"}
    assert (rows["S1"]["状态"], rows["S1"]["群"], rows["S1"]["建议人"]) == (
        "已采纳",
        "幸福里小区",
        "刘先生",
    )
    assert rows["S1"]["最新备注"] == "下月安装"
    assert rows["S1"]["办理记录"] == (
        "11-16 08:30 已收到；11-16 10:35 研究中（张伟：已与物业商量场地）；"
        "11-17 10:35 已采纳（张伟：下月安装）"
    )
    assert rows["S2"]["状态"] == "已收到"
    assert rows["S2"]["内容"] == "建议在小区门口装个快递柜，有事联系138****5678"
    assert "13812345678" not in page.content()
    save(page, shots, "registry")

    page.select_option("select[name=status]", "adopted")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state()
    assert [r["编号"] for r in table_rows(page, "registry")] == ["S1"]
    # The counts are per status, whatever status is chosen.
    assert page.inner_text("#registry-counts") == counts
    sheet, header = downloaded_sheet(page, "#table-registry >> text=下载 Excel", tmp_path)
    assert sheet.title == "建议台账"
    assert header[:4] == ["编号", "状态", "群", "登记时间"]
    (only,) = [
        dict(zip(header, r, strict=True)) for r in sheet.iter_rows(min_row=2, values_only=True)
    ]
    assert only["编号"] == "S1" and only["状态"] == "已采纳"
    assert f"{only['登记时间']:%Y-%m-%d %H:%M}" == "2026-11-16 08:30"  # a typed date, local time

    body = page.request.get(f"{site.url}/export/registry.csv").body()
    assert body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8-sig")
    assert "138****5678" in text and "13812345678" not in text

    page.goto(f"{site.url}/registry?period=last_week")
    assert table_rows(page, "registry") == []
    assert page.inner_text("#registry-counts") == "好想法好建议 0 条"

    unrelated = login(browser, site, "赵磊")
    unrelated.goto(f"{site.url}/registry")
    assert table_rows(unrelated, "registry") == []
    assert unrelated.inner_text("#registry-counts") == "好想法好建议 0 条"
