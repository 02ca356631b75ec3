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
from datetime import UTC, datetime
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
    from bot.text.semantic import SemanticUnavailable

    try:
        return build_app(settings or _settings(args))
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
    return settings


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
    from handlers.overdue import OverdueReminder

    dispatcher = app.dispatcher
    # Each console line is journaled, handled and answered before the next is read, as a person
    # typing would see it (a rating typed after an answer finds the answer recorded).
    console = ConsoleAdapter(
        dispatcher.handle, out=stdout, bot_name=app.settings.bot.name, clock=app.services.clock
    )
    dispatcher.connect(console, bot_username=None)
    await app.start_platforms()
    platforms = [a.platform for a in app.adapters]
    print(
        f"minyi: ready — console{''.join(', ' + p for p in platforms)}; "
        f"database {app.store.engine.dialect.name}",
        file=sys.stderr,
        flush=True,
    )
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
    reminder = asyncio.create_task(OverdueReminder(dispatcher).run_forever(), name="minyi-overdue")
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
        await app.close_platforms()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run the bot: configured platforms plus a console group chat on stdin."""
    from bot.app import PlatformUnavailable

    app = _app(args)
    app.warm_up()
    try:
        return asyncio.run(_run_console(app, sys.stdin, sys.stdout))
    except PlatformUnavailable as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except KeyboardInterrupt:
        return 0
    finally:
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
    return 0


# ------------------------------------------------------------------ demo and report


def cmd_demo(args: argparse.Namespace) -> int:
    """Replay the bundled conversation and print the transcript and the supervisor summary."""
    from bot.demo import run_demo

    return run_demo(Path(args.database_file), sys.stdout)


def cmd_report(args: argparse.Namespace) -> int:
    """Print the engagement summary for a period."""
    from handlers.opinion_figures import opinion_lines
    from handlers.summary import PeriodError, format_summary, parse_period

    settings = _existing_database(_settings(args))
    app = _app(args, settings)
    try:
        now = datetime.now(UTC)
        try:
            since, until, _ = parse_period(args.since, now, settings.bot.zone)
        except PeriodError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
        summary = app.store.summary(since, until, now)
        hot = app.services.text.topic_words(summary.question_texts, k=5)
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


# ------------------------------------------------------------------ officials, templates, db


def cmd_officials(args: argparse.Namespace) -> int:
    """``officials add|list|assign|invite``."""
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
        elif args.action == "invite":
            code = store.create_invite(args.name, now)
            print(
                f"{args.name} 的一次性绑定码：{code}（7 天内有效）。请本人私聊机器人发送：/bind {code}"
            )
    except StoreError as exc:
        raise CliError(explain(exc)) from None
    finally:
        app.close()
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
    """The whole command line."""
    parser = argparse.ArgumentParser(prog="minyi", description="民意 — 政务群聊助手")
    parser.add_argument("--config", help="configuration file (default ./bot.toml or $MINYI_CONFIG)")
    parser.add_argument("--database", help="database URL, overriding the configuration")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run", help="run the bot (console chat on stdin, plus configured platforms)"
    )
    run.set_defaults(func=cmd_run)

    doctor = sub.add_parser(
        "doctor", help="journal health: events waiting or kept as poison, sends uncertain"
    )
    doctor.set_defaults(func=cmd_doctor)

    demo = sub.add_parser("demo", help="replay a bundled conversation and print the summary")
    demo.add_argument(
        "--database-file", default="data/demo.db", help="SQLite file the demo writes (recreated)"
    )
    demo.set_defaults(func=cmd_demo)

    report = sub.add_parser("report", help="print the engagement summary")
    report.add_argument("--since", default="7d", help="today, 24h, 7d, 30d … (default 7d)")
    report.add_argument("--format", choices=("table", "csv", "markdown"), default="table")
    report.set_defaults(func=cmd_report)

    suggestions = sub.add_parser(
        "suggestions", help="print the suggestions registry (好想法好建议)"
    )
    suggestions.add_argument("--limit", type=int, default=50, help="entries shown (newest first)")
    suggestions.set_defaults(func=cmd_suggestions)

    officials = sub.add_parser("officials", help="manage the roster")
    actions = officials.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add or update an official")
    add.add_argument("name")
    add.add_argument("--department", default="")
    add.add_argument("--role", choices=("official", "supervisor", "admin"), default="official")
    add.add_argument("--identity", action="append", help="platform:user_id (repeatable)")
    actions.add_parser("list", help="list the roster")
    assign = actions.add_parser("assign", help="make an official answer a group")
    assign.add_argument("name")
    assign.add_argument("group", help="platform:chat_id")
    assign.add_argument("--title", help="the group's name")
    invite = actions.add_parser("invite", help="print a one-time /bind code for an official")
    invite.add_argument("name")
    officials.set_defaults(func=cmd_officials)

    templates = sub.add_parser("templates", help="list or check reply templates")
    templates.add_argument("action", choices=("list", "check"))
    templates.add_argument("--dir", help="template folder (default: the shipped one)")
    templates.set_defaults(func=cmd_templates)

    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=("upgrade",))
    db.set_defaults(func=cmd_db)

    from bot.text.cli import add_subcommands

    add_subcommands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``minyi`` console script."""
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C before the bot was up (during start-up): no traceback
        print("minyi: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


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
