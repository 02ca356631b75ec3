"""The ``minyi`` command: run the bot, replay the demo, print reports, manage officials, templates and
the database schema, and (from bot.text) evaluate and train the text models.

Every failure a person can cause (bad configuration, unknown official, unreachable database) ends with
one clear line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import stat
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from bot.config import Settings

# The project and its libraries are imported inside ``main`` (and the commands), so that Ctrl-C
# while they load is answered in one line too.

log = logging.getLogger(__name__)

EXIT_USAGE = 2
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A failure to report in one line; ``code`` is the exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


def _settings(args: argparse.Namespace) -> Settings:
    from bot.config import ConfigError, load_settings

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    if getattr(args, "database", None):
        settings.database.url = args.database
    return settings


def _app(args: argparse.Namespace, settings: Settings | None = None):
    from bot.app import build_app
    from bot.config import ConfigError
    from bot.replay_clock import ReplayClock
    from bot.text.semantic import SemanticUnavailable

    try:
        # The wall clock, until a timestamped console line sets it (``minyi run`` replaying).
        return build_app(settings or _settings(args), clock=ReplayClock())
    except SemanticUnavailable as exc:
        raise CliError(f'[text] ranker = "semantic": {exc}', EXIT_USAGE) from None
    except ConfigError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def _existing_database(settings: Settings) -> Settings:
    """``settings``, once its SQLite file is known to exist: reading commands (report, doctor) must
    not create an empty database at a mistyped path and report zeros."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database.url)
    database = url.database or ""
    in_a_file = database not in ("", ":memory:") and not database.startswith("file:")
    if (
        url.get_backend_name() == "sqlite"
        and in_a_file
        and not Path(database).expanduser().is_file()
    ):
        raise CliError(
            f"{database}: no such database (check the path; `minyi db upgrade` creates one)",
            EXIT_USAGE,
        )
    if url.get_backend_name() == "postgresql":
        _existing_server_database(settings.database.url)
    return settings


def _existing_server_database(url: str) -> None:
    """A PostgreSQL database that does not exist is a mistyped name: one line, exit 2 (a server that
    cannot be reached is left to the command, exit 1)."""
    from sqlalchemy.exc import OperationalError

    from storage import make_engine

    engine = make_engine(url)
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        if "does not exist" in str(exc.orig):
            raise CliError(
                f"database {engine.url.database!r} does not exist on the server "
                "(check database.url; `minyi db upgrade` on an existing database creates the tables)",
                EXIT_USAGE,
            ) from None
    finally:
        engine.dispose()


# ------------------------------------------------------------------ run


def _console_lines(stdin: TextIO) -> tuple[str | None, asyncio.Queue[str | None]]:
    """Read stdin on a daemon thread (a blocked read must not keep a stopping process alive).

    Returns the id prefix that names the lines of a regular file (None for a terminal or a pipe) and
    a queue of lines ending with None at end of input."""
    from bot.adapters.console import file_token

    ids = None
    try:
        fd = stdin.fileno()
        if stat.S_ISREG(os.fstat(fd).st_mode):
            ids = file_token(os.pread(fd, 4096, 0))
    except (OSError, ValueError):  # no real file descriptor (tests hand in StringIO)
        ids = None
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        try:
            for line in stdin:
                loop.call_soon_threadsafe(queue.put_nowait, line)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="minyi-stdin", daemon=True).start()
    return ids, queue


async def _run_console(app, stdin: TextIO, stdout: TextIO) -> int:
    """Run until the console input ends (and, with platforms, until SIGTERM or Ctrl-C); then stop
    cleanly: stop receiving, handle what was journaled, deliver the outbox, within shutdown_timeout."""
    from bot.adapters.console import ConsoleAdapter, ConsoleLineError
    from bot.replay_clock import ReplayClock
    from handlers.overdue import OverdueReminder

    dispatcher = app.dispatcher
    supervisor = OverdueReminder(dispatcher, app.settings.worktime.check_seconds)
    clock = app.services.clock

    async def before_line(moment: datetime | None) -> None:
        # A timestamped line sets the (replay) clock, firing the 督办 stages due on the way.
        if isinstance(clock, ReplayClock):
            await supervisor.catch_up(moment, clock.set)

    # Each console line is journaled, handled and answered before the next is read, as a person
    # typing would see it (a rating typed after an answer finds the answer recorded).
    console = ConsoleAdapter(
        dispatcher.handle,
        out=stdout,
        bot_name=app.settings.bot.name,
        clock=clock,
        zone=app.settings.bot.zone,
        before_line=before_line,
    )
    dispatcher.connect(console, bot_username=None)
    await app.start_platforms()
    platforms = [a.platform for a in app.adapters]
    print(
        f"minyi: ready — console{''.join(', ' + p for p in platforms)}; {app.loaded()}",
        file=sys.stderr,
        flush=True,
    )
    # Deadlines past the calendar's known years count Monday to Friday: say so once the bot is up.
    warning = app.services.worktime.coverage_warning(app.services.clock())
    if warning:
        print(f"minyi: warning: {warning}", file=sys.stderr, flush=True)
    if platforms:
        print(
            f"已连接：{', '.join(platforms)}。控制台同时可用：输入「名字: 内容」，Ctrl-D 结束。",
            file=stdout,
            flush=True,
        )
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stopping.set)
    reminder = asyncio.create_task(supervisor.run_forever(), name="minyi-overdue")
    console_web = _start_console_web(app)
    ids, lines = _console_lines(stdin)

    async def read_console() -> None:
        number = 0
        while (line := await lines.get()) is not None:
            number += 1
            text = line.rstrip("\n")
            if not text.strip() or text.lstrip().startswith("//"):
                continue
            try:
                await console.feed_line(text, f"{ids}{number}" if ids else None)
            except ConsoleLineError as exc:
                print(f"(忽略) {exc}: {text}", file=stdout, flush=True)

    reader = asyncio.create_task(read_console(), name="minyi-console")
    stop = asyncio.create_task(stopping.wait())
    try:
        await asyncio.wait({reader, stop}, return_when=asyncio.FIRST_COMPLETED)
        if reader.done() and platforms:
            await stop  # piped input is done but platforms keep running until SIGTERM / Ctrl-C
    finally:
        for task in (reader, stop, reminder):
            task.cancel()
        await asyncio.gather(reader, stop, reminder, return_exceptions=True)
        if console_web is not None:
            server, serving = console_web
            server.should_exit = True
            await asyncio.gather(serving, return_exceptions=True)
        await app.close_platforms()
    return 0


def _start_console_web(app):
    """With ``[web] enabled``, serve the web console in this event loop: (server, task), else None."""
    web = app.settings.web
    if not web.enabled:
        return None
    from bot.web.serve import console_server

    server = console_server(
        app.store,
        app.settings,
        app.services.clock,
        web.host,
        web.port,
    )
    print(f"minyi: 督查工作台 http://{web.host}:{web.port}/", file=sys.stderr, flush=True)
    return server, asyncio.create_task(server.serve(), name="minyi-web")


def _warm_up(app) -> None:
    try:
        app.warm_up()
    except Exception:  # the first event that needs the models meets the same error, and logs it
        log.exception("loading the text models failed")


def cmd_run(args: argparse.Namespace) -> int:
    """Run the bot: configured platforms plus a console group chat on stdin."""
    from bot.app import PlatformUnavailable
    from storage.workers import WorkerRefused

    app = _app(args)
    try:
        app.register_worker()
    except WorkerRefused as exc:
        app.close()
        raise CliError(str(exc), EXIT_USAGE) from None
    # The text models and the template index load while the platforms start and the first lines are
    # read; an event that needs them sooner waits for that one load (jieba and the ranker lock).
    warm = threading.Thread(target=_warm_up, args=(app,), name="minyi-warm-up", daemon=True)
    warm.start()
    interrupted = False
    try:
        return asyncio.run(_run_console(app, sys.stdin, sys.stdout))
    except PlatformUnavailable as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except KeyboardInterrupt:
        interrupted = True
        return 0
    finally:
        # A run that ends before the models are loaded (no input, a short file) lets the warm-up
        # finish (seconds): models it trained are then cached for the next start, which loads them
        # instead of training again (and importing scipy to do it). Ctrl-C does not wait.
        if not interrupted:
            warm.join()
        app.close()


def cmd_doctor(args: argparse.Namespace) -> int:
    """Show the journal's health: events waiting or kept as poison, sends pending or uncertain."""
    settings = _existing_database(_settings(args))
    from storage import Store, make_engine, upgrade

    engine = make_engine(settings.database.url)
    try:
        upgrade(engine)
        health = Store(engine).journal_health()
    finally:
        engine.dispose()
    inbox = "、".join(f"{k} {v}" for k, v in sorted(health.inbox.items())) or "空"
    outbox = "、".join(f"{k} {v}" for k, v in sorted(health.outbox.items())) or "空"
    print(f"收件箱（inbox）：{inbox}")
    print(f"发件箱（outbox）：{outbox}")
    if health.poison:
        print(f"无法处理的事件（poison）{len(health.poison)} 条：")
        for event_id, platform, key, error in health.poison:
            print(f"  #{event_id} {platform} {key}: {error.splitlines()[0] if error else '-'}")
    if health.uncertain:
        print(f"未确认是否送达的消息（uncertain）{len(health.uncertain)} 条：")
        for outbox_id, platform, chat_id in health.uncertain:
            print(f"  #{outbox_id} {platform}:{chat_id}")
    from bot.worktime import WorkClock

    warning = WorkClock(settings.worktime, settings.bot.zone).coverage_warning(datetime.now(UTC))
    print(f"工作日历（calendar）：{warning or '未来60天已覆盖'}")
    return 0


def cmd_calendar(args: argparse.Namespace) -> int:
    """The working-day calendar deadlines are counted on, for the next ``--days``."""
    from bot.worktime import WorkClock

    settings = _settings(args)
    clock = WorkClock(settings.worktime, settings.bot.zone)
    try:
        start = (
            date.fromisoformat(args.since) if args.since else datetime.now(settings.bot.zone).date()
        )
    except ValueError:
        raise CliError(f"--since {args.since}: not a date (YYYY-MM-DD)", EXIT_USAGE) from None
    print(clock.describe(start, args.days))
    return 0


# ------------------------------------------------------------------ demo and report


def cmd_demo(args: argparse.Namespace) -> int:
    """Replay the bundled conversation and print the transcript and the supervisor summary."""
    from bot.demo import run_demo

    return run_demo(Path(args.database_file), sys.stdout)


def cmd_report(args: argparse.Namespace) -> int:
    """Print the engagement summary for a period, or write it as an Excel or CSV file (``--out``)."""
    from handlers.opinion_figures import opinion_lines
    from handlers.summary import (
        HOT_PHRASES,
        OVERDUE_LISTED,
        PeriodError,
        format_summary,
        hot_topics,
        parse_period,
    )

    settings = _existing_database(_settings(args))
    app = _app(args, settings)
    try:
        now = datetime.now(UTC)
        try:
            since, until = _report_period(args, now, settings, parse_period)
        except PeriodError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
        scope = _report_scope(args, app.store)
        # A file has every overdue question; the text on a terminal names the first ones.
        whole = args.format == "xlsx" or bool(args.out)
        if whole:
            _write_report(args, app.store.summary(since, until, now, scope), settings, now)
            return 0
        summary = app.store.summary(
            since, until, now, scope, overdue_limit=OVERDUE_LISTED, phrase_support=HOT_PHRASES
        )
        hot = hot_topics(summary)
        sys.stdout.write(format_summary(summary, args.format, settings.bot.zone, hot))
        if args.format != "csv":  # CSV stays one table
            bullet = "- " if args.format == "markdown" else ""
            for line in opinion_lines(app.store, since, until):
                sys.stdout.write(f"{bullet}{line}\n")
    finally:
        app.close()
    return 0


def cmd_suggestions(args: argparse.Namespace) -> int:
    """Print the suggestions registry (好想法好建议): counts per status and the latest entries."""
    from handlers.registry import registry_text

    settings = _existing_database(_settings(args))
    app = _app(args, settings)
    try:
        entries = app.store.registry(args.limit)
        counts = app.store.registry_counts(None, datetime.now(UTC))
        sys.stdout.write(registry_text(entries, counts, settings.bot.zone) + "\n")
    finally:
        app.close()
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """Print the audit log for a period (table or JSON lines)."""
    from bot.audit_report import format_audit
    from handlers.summary import PeriodError, parse_period
    from storage import Store, make_engine, upgrade

    settings = _existing_database(_settings(args))
    now = datetime.now(UTC)
    try:
        since, _, _ = parse_period(args.since, now, settings.bot.zone)
    except PeriodError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    engine = make_engine(settings.database.url)
    try:
        upgrade(engine)
        entries = Store(engine).audit_since(since)
    finally:
        engine.dispose()
    sys.stdout.write(format_audit(entries, args.format, settings.bot.zone))
    return 0


def _report_period(args: argparse.Namespace, now: datetime, settings: Settings, parse_period):
    """``--from/--to`` (local days, both included) when given, else ``--since``."""
    from bot.web.periods import PeriodChoiceError, choose_period

    if args.date_from or args.date_to:
        try:
            chosen = choose_period("range", now, settings.bot.zone, args.date_from, args.date_to)
        except PeriodChoiceError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
        return chosen.since, chosen.until
    since, until, _ = parse_period(args.since, now, settings.bot.zone)
    return since, until


def _report_scope(args: argparse.Namespace, store):
    """The ``--department``, ``--group`` and ``--official`` filters as a report scope."""
    from storage.reports import ReportScope

    departments = frozenset({args.department}) if args.department else None
    group_ids = None
    if args.group:
        found = [
            g.id
            for g in store.all_groups()
            if args.group in (g.title, g.chat_id, f"{g.platform}:{g.chat_id}")
        ]
        if not found:
            raise CliError(f"--group {args.group!r}: no such group (a title or platform:chat_id)")
        group_ids = frozenset(found)
    official_id = None
    if args.official:
        official_id = next((o.id for o in store.officials() if o.name == args.official), None)
        if official_id is None:
            raise CliError(f"--official {args.official!r}: no one of that name on the roster")
    return ReportScope(departments=departments, group_ids=group_ids, official_id=official_id)


def _write_report(args: argparse.Namespace, summary, settings: Settings, now: datetime) -> None:
    """The summary's tables into ``--out`` as XLSX (every table a sheet) or CSV (officials, groups,
    departments and the total, with a byte-order mark)."""
    from bot.web import exports, tables

    if not args.out:
        raise CliError("--format xlsx writes a file: add --out FILE", EXIT_USAGE)
    listed = tables.summary_tables(summary, settings.bot.zone, now)
    if args.format == "xlsx":
        body = exports.to_xlsx(listed)
    elif args.format == "csv":
        rows = [
            ("范围", t.title, row)
            for t in listed
            if t.name in ("officials", "groups", "departments", "total")
            for row in t.rows
        ]
        first = listed[0]
        merged = tables.Table(
            "summary",
            "履职统计",
            (tables.Column("范围"), *first.columns),
            [(title, *row) for _, title, row in rows],
        )
        body = exports.to_csv(merged)
    else:
        raise CliError(f"--out writes xlsx or csv, not {args.format}", EXIT_USAGE)
    try:
        Path(args.out).write_bytes(body)
    except OSError as exc:
        raise CliError(f"{args.out}: cannot be written: {exc.strerror}") from None
    print(f"已写入 {args.out}", file=sys.stderr)


def cmd_ticket(args: argparse.Namespace) -> int:
    """``ticket show Q12`` · ``ticket list``: a ticket's history, or a list of tickets."""
    from bot.ticket_cli import TicketCommandError, run_ticket

    try:
        run_ticket(args, _existing_database(_settings(args)))
    except TicketCommandError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    return 0


# ------------------------------------------------------------------ officials, templates, db


def cmd_officials(args: argparse.Namespace) -> int:
    """``officials add|list|assign|invite|passwd``."""
    from handlers.store_messages import explain
    from storage import StoreError

    app = _app(args)
    store, now = app.store, datetime.now(UTC)
    try:
        if args.action == "add":
            info = store.add_official(args.name, args.department, args.role, now)
            for identity in args.identity or []:
                platform, _, user_id = identity.partition(":")
                if not user_id:
                    raise CliError(f"--identity {identity!r}: use platform:user_id", EXIT_USAGE)
                info = store.bind_identity(args.name, platform, user_id, now)
            print(f"已保存：{info.name}（{info.department or '未设部门'}，{info.role}）")
        elif args.action == "list":
            groups: dict[str, list[str]] = {}
            for name, group in store.group_assignments():
                groups.setdefault(name, []).append(
                    f"{group.platform}:{group.title or group.chat_id}"
                )
            for o in store.officials():
                ids = ", ".join(f"{p}:{u}" for p, u in o.identities) or "-"
                print(
                    f"{o.name}\t{o.department or '-'}\t{o.role}\t{ids}\t"
                    f"{', '.join(groups.get(o.name, [])) or '-'}"
                )
        elif args.action == "assign":
            platform, _, chat_id = args.group.partition(":")
            if not chat_id:
                raise CliError(f"group {args.group!r}: use platform:chat_id", EXIT_USAGE)
            store.assign(args.name, platform, chat_id, now, title=args.title or "")
            print(f"已分配：{args.name} → {args.group}")
        elif args.action == "passwd":
            _set_password(store, args.name, now)
        elif args.action == "invite":
            from handlers.bind import create_code

            hours = app.settings.security.bind_code_hours
            code = create_code(store, app.settings, args.name, now)
            print(
                f"{args.name} 的一次性绑定码：{code}（{hours:g} 小时内有效）。"
                f"请本人私聊机器人发送：/bind {code}（在群里发送会作废）"
            )
    except StoreError as exc:
        raise CliError(explain(exc)) from None
    finally:
        app.close()
    return 0


def _set_password(store, name: str, now: datetime) -> None:
    """Read a console password from stdin (asked for twice, unseen, on a terminal) and store its hash."""
    import getpass

    from bot.web.auth import PasswordRefused, hash_password

    if sys.stdin.isatty():
        password = getpass.getpass(f"{name} 的控制台密码：")
        if getpass.getpass("再输入一次：") != password:
            raise CliError("两次输入的密码不一致", EXIT_USAGE)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        store.set_password_hash(name, hash_password(password), now)
    except PasswordRefused as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    print(f"已设置 {name} 的控制台密码")


def _check_address(host: str, port: int) -> None:
    """A one-line error now if the console could not listen on ``host:port``."""
    import socket

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise CliError(f"cannot listen on {host}:{port}: {reason} (try --port)") from None


def cmd_web(args: argparse.Namespace) -> int:
    """Serve the supervisors' web console until Ctrl-C or SIGTERM."""
    from bot.web.serve import console_server

    settings = _existing_database(_settings(args))
    app = _app(args, settings)
    host = args.host or settings.web.host
    port = args.port or settings.web.port
    _check_address(host, port)
    try:
        server = console_server(app.store, settings, app.services.clock, host, port)
        print(f"minyi: 督查工作台 http://{host}:{port}/", file=sys.stderr, flush=True)
        asyncio.run(server.serve())
    except KeyboardInterrupt:
        return 0
    finally:
        app.close()
    return 0


def cmd_brief(args: argparse.Namespace) -> int:
    """Write 网情动态, the weekly brief for leaders, as HTML or PDF."""
    from bot.progress import progress
    from bot.web.app import template_environment
    from bot.web.brief import WeekError, build_brief, parse_week, render_brief
    from bot.web.pdf import PdfUnavailable, html_to_pdf

    settings = _existing_database(_settings(args))
    if args.format == "pdf" and not args.out:
        raise CliError("--format pdf writes a file: add --out FILE", EXIT_USAGE)
    steps = 3 if args.format == "pdf" else 2  # gather and render, then print to PDF
    with progress("网情动态: gathering the week", steps) as bar:
        app = _app(args, settings)
        try:
            now = datetime.now(UTC)
            try:
                week = parse_week(args.week, now, settings.bot.zone)
            except WeekError as exc:
                raise CliError(str(exc), EXIT_USAGE) from None
            found = build_brief(app.store, week, now)
            bar.advance(note=f"网情动态 {week.label}: rendering")
            html = render_brief(template_environment(), found, settings.bot.zone)
            bar.advance(
                note=f"网情动态 {week.label}: " + ("printing the PDF" if steps > 2 else "done")
            )
        finally:
            app.close()
        if args.format == "pdf":
            try:
                body = html_to_pdf(html)
            except PdfUnavailable as exc:
                raise CliError(str(exc), EXIT_USAGE) from None
            bar.advance(note=f"网情动态 {week.label}: done")
        else:
            body = html.encode("utf-8")
    if not args.out:
        sys.stdout.write(html)
        return 0
    try:
        Path(args.out).write_bytes(body)
    except OSError as exc:
        raise CliError(f"{args.out}: cannot be written: {exc.strerror}") from None
    print(f"已写入 {args.out}（网情动态 {week.label}）", file=sys.stderr)
    return 0


def cmd_templates(args: argparse.Namespace) -> int:
    """``templates list|check``."""
    from bot.templating import TemplateLibrary, default_template_dir

    directory = Path(args.dir) if args.dir else default_template_dir()
    if not directory.is_dir():
        raise CliError(f"{directory}: no such template folder", EXIT_USAGE)
    library = TemplateLibrary.load(directory)
    if args.action == "list":
        for t in library.templates:
            print(f"{t.id}\t{t.intent}\t{t.department or '-'}\t{t.title}")
        return 0
    problems = library.check()
    for problem in problems:
        print(str(problem))
    if problems:
        print(f"{len(problems)} problem(s) in {directory}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"{len(library.templates)} templates OK ({directory})")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    """``db upgrade`` — apply migrations."""
    from storage import current_revision, make_engine, upgrade

    settings = _settings(args)
    engine = make_engine(settings.database.url)
    try:
        upgrade(engine)
        print(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()
    return 0


# ------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; every command's ``--help`` ends with examples (``bot/cli_help.py``)."""
    from bot.cli_help import CONSOLE_LINES, PERIODS, examples

    parser = argparse.ArgumentParser(
        prog="minyi",
        description="民意 — 政务群聊助手. --config and --database may also follow the command.",
        **examples(
            "minyi demo                                  # replay a conversation, print the summary",
            "printf '王阿姨: @政务助手 电梯坏了\\n' | minyi run",
            "minyi --config /etc/minyi/bot.toml report --since 7d",
            "minyi report --since 7d --config /etc/minyi/bot.toml   # the same",
            "minyi COMMAND --help                        # each command's input, with examples",
        ),
    )
    parser.add_argument("--config", help="configuration file (default ./bot.toml or $MINYI_CONFIG)")
    parser.add_argument(
        "--database", help="database URL overriding the configuration, e.g. sqlite:///data/demo.db"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run the bot (console chat on stdin, plus configured platforms)",
        description="Run the bot: the platforms bot.toml enables, and a console group chat on stdin "
        "that ends at end of input.",
        **examples(
            "minyi run                                   # type lines; Ctrl-D or Ctrl-C ends",
            "printf '王阿姨: @政务助手 3号楼电梯坏了，什么时候修？\\n~张伟: /reply Q1 1\\n' | minyi run",
            "minyi run < 周一.txt                         # replay a transcript with [time] lines",
            before=CONSOLE_LINES,
        ),
    )
    run.set_defaults(func=cmd_run)

    doctor = sub.add_parser(
        "doctor",
        help="journal health: events waiting or kept as poison, sends uncertain",
        **examples("minyi doctor", "minyi --database postgresql://postgres@127.0.0.1/minyi doctor"),
    )
    doctor.set_defaults(func=cmd_doctor)

    calendar = sub.add_parser(
        "calendar",
        help="the working days deadlines are counted on",
        **examples("minyi calendar", "minyi calendar --since 2026-09-20 --days 30"),
    )
    calendar.add_argument("--days", type=int, default=60, help="how far ahead (default 60)")
    calendar.add_argument("--since", help="first day, YYYY-MM-DD (default today)")
    calendar.set_defaults(func=cmd_calendar)

    demo = sub.add_parser(
        "demo",
        help="replay a bundled conversation and print the summary",
        **examples("minyi demo", "minyi demo --database-file /tmp/demo.db"),
    )
    demo.add_argument(
        "--database-file", default="data/demo.db", help="SQLite file the demo writes (recreated)"
    )
    demo.set_defaults(func=cmd_demo)

    report = sub.add_parser(
        "report",
        help="print the engagement summary",
        **examples(
            "minyi report --since 7d",
            "minyi report --since today --format markdown",
            "minyi report --from 2026-11-16 --to 2026-11-22 --department 交通运输局 "
            "--format xlsx --out 周报.xlsx",
            "minyi report --since 30d --group 幸福里小区 --format csv --out 幸福里.csv",
            before=PERIODS + "\nformats: table (terminal), markdown, csv (stdout, or --out with a "
            "byte-order mark for Excel), xlsx (needs --out)",
        ),
    )
    report.add_argument("--since", default="7d", help="today, 24h, 7d, 30d … (default 7d)")
    report.add_argument(
        "--from", dest="date_from", default="", help="first day, e.g. 2026-11-16 (local time)"
    )
    report.add_argument("--to", dest="date_to", default="", help="last day, included")
    report.add_argument("--department", default="", help="only this department, e.g. 交通运输局")
    report.add_argument(
        "--group", default="", help="only this group: its title or platform:chat_id"
    )
    report.add_argument("--official", default="", help="only this official's questions and actions")
    report.add_argument("--format", choices=("table", "csv", "markdown", "xlsx"), default="table")
    report.add_argument(
        "--out", help="write to this file (xlsx needs it; csv gets a BOM for Excel)"
    )
    report.set_defaults(func=cmd_report)

    audit = sub.add_parser(
        "audit",
        help="print the audit log: staff actions, refusals, failed binds, unmasked views",
        **examples(
            "minyi audit --since today",
            "minyi audit --since 30d --format json > audit.jsonl   # one JSON object a line",
            before="periods: today, 24h, 7d, 30d (up to now)",
        ),
    )
    audit.add_argument("--since", default="7d", help="today, 24h, 7d, 30d … (default 7d)")
    audit.add_argument("--format", choices=("table", "json"), default="table")
    audit.set_defaults(func=cmd_audit)
    brief = sub.add_parser(
        "brief",
        help="网情动态: the weekly brief for leaders, as HTML or PDF",
        **examples(
            "minyi brief --week 2026-W48 --format pdf --out 网情动态-W48.pdf",
            "minyi brief --week 2026-W48 > 网情动态-W48.html",
            "minyi brief                                 # last week, HTML on stdout",
            before="weeks are ISO weeks: 2026-W48 is Monday 23 to Sunday 29 November 2026",
        ),
    )
    brief.add_argument("--week", default="", help="ISO week, e.g. 2026-W48 (default: last week)")
    brief.add_argument("--format", choices=("html", "pdf"), default="html")
    brief.add_argument("--out", help="file to write (pdf needs it; html goes to stdout without it)")
    brief.set_defaults(func=cmd_brief)

    web = sub.add_parser(
        "web",
        help="serve the supervisors' web console",
        description="Serve the console (log in with a password set by `minyi officials passwd NAME`).",
        **examples(
            "minyi web",
            "minyi --database sqlite:///data/demo.db web --port 8080",
            "minyi web --host 0.0.0.0 --port 8443          # behind an HTTPS proxy only",
        ),
    )
    web.add_argument("--host", default="", help="address to listen on (default [web] host)")
    web.add_argument("--port", type=int, default=0, help="port (default [web] port, 8080)")
    web.set_defaults(func=cmd_web)
    suggestions = sub.add_parser(
        "suggestions",
        help="print the suggestions registry (好想法好建议)",
        **examples("minyi suggestions", "minyi suggestions --limit 200 > 建议台账.txt"),
    )
    suggestions.add_argument("--limit", type=int, default=50, help="entries shown (newest first)")
    suggestions.set_defaults(func=cmd_suggestions)

    officials = sub.add_parser(
        "officials",
        help="manage the roster",
        **examples(
            "minyi officials list",
            "minyi officials add 赵敏 --department 教育局 --identity telegram:42",
            "minyi officials assign 赵敏 telegram:-100777 --title 学区群",
            "minyi officials invite 赵敏",
            "echo 'a-long-password' | minyi officials passwd 陈静",
        ),
    )
    actions = officials.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="add or update an official",
        **examples(
            "minyi officials add 赵敏 --department 教育局 --identity telegram:42",
            "minyi officials add 陈静 --role supervisor --identity wechat:wxid_abc "
            "--identity console:陈静",
        ),
    )
    add.add_argument("name")
    add.add_argument("--department", default="")
    add.add_argument("--role", choices=("official", "supervisor", "admin"), default="official")
    add.add_argument(
        "--identity", action="append", help="platform:user_id, e.g. telegram:42 (repeatable)"
    )
    actions.add_parser(
        "list",
        help="list the roster",
        **examples("minyi officials list", "minyi --config prod.toml officials list"),
    )
    assign = actions.add_parser(
        "assign",
        help="make an official answer a group",
        **examples(
            "minyi officials assign 赵敏 telegram:-100777 --title 学区群",
            "minyi officials assign 张伟 wechat:12345@chatroom --title 幸福里小区",
        ),
    )
    assign.add_argument("name")
    assign.add_argument("group", help="platform:chat_id, e.g. telegram:-1001234567890")
    assign.add_argument("--title", help="the group's name")
    invite = actions.add_parser(
        "invite",
        help="print a one-time /bind code for an official",
        **examples("minyi officials invite 赵敏   # 赵敏 sends /bind CODE to the bot privately"),
    )
    invite.add_argument("name")
    passwd = actions.add_parser(
        "passwd",
        help="set an official's web-console password (read from stdin)",
        description="The password is read from stdin (asked twice, unseen, on a terminal; at least "
        "8 characters).",
        **examples(
            "echo 'a-long-password' | minyi officials passwd 陈静", "minyi officials passwd 陈静"
        ),
    )
    passwd.add_argument("name")
    officials.set_defaults(func=cmd_officials)

    templates = sub.add_parser(
        "templates",
        help="list or check reply templates",
        **examples(
            "minyi templates list | head",
            "minyi templates check --dir ./templates    # a broken template by file and line",
        ),
    )
    templates.add_argument("action", choices=("list", "check"))
    templates.add_argument("--dir", help="template folder (default: the shipped one)")
    templates.set_defaults(func=cmd_templates)

    db = sub.add_parser(
        "db",
        help="database schema",
        **examples(
            "minyi db upgrade",
            "minyi --database postgresql://postgres@127.0.0.1/minyi db upgrade",
        ),
    )
    db.add_argument("action", choices=("upgrade",))
    db.set_defaults(func=cmd_db)

    from bot.text.cli import add_subcommands
    from bot.ticket_cli import add_subcommands as add_ticket_commands

    add_subcommands(sub)
    add_ticket_commands(sub, cmd_ticket)
    return parser


GLOBAL_OPTIONS = ("--config", "--database")
"""Options of ``minyi`` itself that may also be written after the subcommand."""


def global_options_first(argv: Sequence[str]) -> list[str]:
    """``argv`` with ``--config X`` / ``--database X`` (or ``--config=X``) moved before the
    subcommand, so ``minyi report --config other.toml`` means ``minyi --config other.toml report``."""
    moved: list[str] = []
    rest: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        item = items[i]
        if item == "--":
            rest.extend(items[i:])
            break
        if item in GLOBAL_OPTIONS and i + 1 < len(items):
            moved.extend(items[i : i + 2])
            i += 2
            continue
        if item.split("=", 1)[0] in GLOBAL_OPTIONS and "=" in item:
            moved.append(item)
        else:
            rest.append(item)
        i += 1
    return moved + rest


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``minyi`` console script."""
    try:
        code = _main(global_options_first(sys.argv[1:] if argv is None else argv))
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:  # Ctrl-C before the bot was up (during start-up): no traceback
        print("minyi: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``minyi templates list | head``): stop quietly, as other tools do.
        # stdout is pointed at /dev/null so the interpreter's final flush does not complain again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _main(argv: Sequence[str] | None) -> int:
    from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

    from storage import DatabaseLocationError

    # Building the parser imports the text models' libraries.
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"minyi: {exc}", file=sys.stderr)
        return exc.code
    except ArgumentError as exc:  # NoSuchModuleError too: an unknown dialect or driver
        print(f"minyi: database.url: {exc}".splitlines()[0], file=sys.stderr)
        return EXIT_USAGE
    except DatabaseLocationError as exc:
        print(f"minyi: database.url: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OperationalError as exc:
        print(f"minyi: database unavailable: {exc.orig or exc}".splitlines()[0], file=sys.stderr)
        return EXIT_FAILURE
    except SQLAlchemyError as exc:
        print(f"minyi: database error: {type(exc).__name__}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
