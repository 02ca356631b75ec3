"""The audit log: staff actions, refused commands, failed binds and unmasked views are recorded (who,
when, what, from which chat) in the event's unit of work; nothing can edit it; ``minyi audit`` prints it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from storage import AuditRecord, Store
from test_cli import minyi, one_line_exit_2, workdir  # noqa: F401 - fixture

PHONE, MASKED = "13812341111", "138****1111"


def lines(chat) -> list[AuditRecord]:
    return chat.app.store.audit_since(chat.clock.now.replace(year=2000))


def only(found: list[AuditRecord], **match) -> AuditRecord:
    hits = [r for r in found if all(getattr(r, k) == v for k, v in match.items())]
    assert len(hits) == 1, (match, found)
    return hits[0]


@pytest.mark.asyncio
async def test_staff_actions_refusals_failed_binds_and_unmasked_views_are_recorded(chat):
    await chat.ask(f"3号楼电梯坏了，请联系我{PHONE}")  # Q1 in 幸福里, housing, assigned to 张伟
    await chat.bot.say("大家好", by=chat.zhang, chat=chat.group)  # chat: not an action
    await chat.bot.say("/help", by=chat.zhang)  # help: not an action
    assert lines(chat) == []  # a resident's question and staff chatter are not audited

    await chat.bot.say(f"/reply Q1 已派人维修，有事打{PHONE}", by=chat.zhang)
    await chat.bot.say("/digest", by=chat.wang, chat=chat.group)
    await chat.bot.say("/summary 7d", by=chat.chen, chat=chat.group)
    outsider = chat.bot.person("王强", "wangqiang")
    await chat.bot.say("/reply Q1 我来答", by=chat.li)  # 李娜 serves 幸福里: allowed
    await chat.bot.say("/bind WRONG123", by=outsider)
    await chat.bot.say("/unmask Q1", by=chat.chen)
    found = lines(chat)

    reply = only(found, actor="test:zhangwei", action="reply")
    assert (reply.outcome, reply.subject, reply.chat, reply.in_group) == (
        "done",
        "Q1",
        "test:zhangwei",
        False,
    )
    assert reply.role == "official" and reply.actor_name == "张伟"
    assert reply.at == chat.clock.now
    assert MASKED in reply.detail and PHONE not in reply.detail
    resident = only(found, actor="test:wangayi")
    assert (resident.action, resident.outcome, resident.reason) == ("digest", "refused", "role")
    assert (resident.chat, resident.in_group) == ("test:xingfuli", True)
    note = only(found, actor="test:chenjing", action="summary")
    assert (note.outcome, note.reason) == ("refused", "private only")
    bind = only(found, actor="test:wangqiang")
    assert (bind.action, bind.outcome) == ("bind", "failed")
    assert "WRONG123" not in bind.detail and bind.detail == "/bind ********"
    view = only(found, actor="test:chenjing", action="unmask")
    assert (view.outcome, view.subject) == ("unmasked", "Q1")
    assert only(found, actor="test:lina", action="reply").outcome == "done"


@pytest.mark.asyncio
async def test_out_of_scope_attempts_are_recorded_as_refused(chat):
    await chat.ask(
        "公交站台什么时候恢复？", by=chat.liu, chat=chat.other_group
    )  # 阳光花园, transport
    await chat.bot.say("/reply Q1 随便答", by=chat.zhang)
    await chat.bot.say("/status Q1", by=chat.zhang)
    found = [r for r in lines(chat) if r.actor == "test:zhangwei"]
    assert [(r.action, r.outcome, r.reason, r.subject) for r in found] == [
        ("reply", "refused", "out of scope", "Q1"),
        ("status", "refused", "out of scope", "Q1"),
    ]


@pytest.mark.asyncio
async def test_an_attempt_that_rolls_back_leaves_no_line(chat, monkeypatch):
    """The line is part of the event's unit of work: an attempt that fails at the end (here: writing
    the outbox) takes its line with it, and the retry writes exactly one."""
    await chat.ask("3号楼电梯坏了")
    real = Store.enqueue
    failures = []

    def enqueue_failing_once(self, *args, **kwargs):
        if not failures:
            failures.append(1)
            raise RuntimeError("disk full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Store, "enqueue", enqueue_failing_once)
    await chat.bot.say("/reply Q1 已派人维修", by=chat.zhang)
    assert failures == [1]
    assert [(r.action, r.outcome) for r in lines(chat)] == [("reply", "done")]


@pytest.mark.asyncio
async def test_nothing_can_edit_or_delete_the_log(chat):
    await chat.bot.say("/digest", by=chat.wang, chat=chat.group)
    [before] = lines(chat)
    engine = chat.app.store.engine
    for statement in ("UPDATE audit_log SET outcome = 'done'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    assert lines(chat) == [before]


def test_minyi_audit_prints_the_log_as_a_table_and_as_json(workdir):  # noqa: F811
    console = "\n".join(
        [
            f"王阿姨: @政务助手 3号楼电梯坏了，请联系{PHONE}",
            "~张伟: /reply Q1 明天上午维修",
            "~王强: /reply Q1 我也来答",
            "王阿姨: /digest",
        ]
    )
    assert minyi("run", cwd=workdir, stdin=console + "\n").returncode == 0
    table = minyi("audit", "--since", "7d", cwd=workdir)
    assert table.returncode == 0, table.stderr
    rows = table.stdout.splitlines()
    assert rows[0].split()[:3] == ["时间", "人员", "角色"]
    assert any("张伟(console:张伟)" in r and "reply" in r and "完成" in r for r in rows)
    assert any("王强" in r and "拒绝" in r and "out of scope" in r for r in rows)
    assert any("王阿姨" in r and "digest" in r and "role" in r for r in rows)
    as_json = minyi("audit", "--since", "24h", "--format", "json", cwd=workdir)
    entries = json.loads(as_json.stdout)
    assert [(e["actor"], e["action"], e["outcome"]) for e in entries] == [
        ("console:张伟", "reply", "done"),
        ("console:王强", "reply", "refused"),
        ("console:王阿姨", "digest", "refused"),
    ]
    assert all(PHONE not in e["detail"] for e in entries)


def test_audit_and_report_on_a_database_that_does_not_exist(workdir, db_url):  # noqa: F811
    if db_url.startswith("sqlite"):
        mistyped, name = "sqlite:///data/mistyped.db", "data/mistyped.db"
        words = "no such database"
    else:  # the same server, a database name nobody created
        name = "minyi_mistyped_name"
        mistyped, words = db_url.split("?")[0].rsplit("/", 1)[0] + "/" + name, "does not exist"
    for command in (("audit",), ("report",), ("ticket", "list"), ("suggestions",)):
        one_line_exit_2(minyi("--database", mistyped, *command, cwd=workdir), name, words)
    assert not (workdir / "data" / "mistyped.db").exists()
