"""How fast the web console answers on a large store: p50 and p95 of the overview and of the ticket
search over real HTTP, beside a bare Starlette endpoint served by the same uvicorn in the same run.

The store is loaded as benchmarks/summary.py loads it (1,000,000 messages over 30 days by default on a
temporary SQLite file; on PostgreSQL, ``--database``, for at most ``--load-seconds``), an admin account
is given a password, and the benchmark logs in through the real form (CSRF token, session cookie).
Then each page is requested ``--requests`` times, one after another, on one keep-alive connection:

- ``bare``: ``GET /bare`` → ``ok`` (the floor: uvicorn, Starlette, HTTP on loopback);
- ``overview``: the last 7 days, everything (an admin's scope);
- ``overview, one department``: the same narrowed to 交通运输局;
- ``search 电梯 open``: tickets whose text contains 电梯 and are open;
- ``search overdue, one department``.

Targets (issue 16): p95 ≤ 300 ms on PostgreSQL and ≤ 1 s on SQLite for the overview and the search.

    .venv/bin/python benchmarks/web.py [--messages 1000000] [--requests 30]
    .venv/bin/python benchmarks/web.py --database postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.schemas import create_schema, drop_schema  # noqa: E402
from bot.web.app import ConsoleConfig, create_app  # noqa: E402
from bot.web.auth import hash_password  # noqa: E402
from bot.web.serve import ServerThread  # noqa: E402
from storage import Store, make_engine, upgrade  # noqa: E402

_spec = importlib.util.spec_from_file_location("summary_bench", ROOT / "benchmarks" / "summary.py")
assert _spec and _spec.loader
summary_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(summary_bench)

PASSWORD = "benchmark-password"
TARGETS = {"postgresql": 0.300, "sqlite": 1.0}
ZONE = ZoneInfo("Asia/Shanghai")


class Client:
    """One keep-alive HTTP connection with a cookie jar of one cookie (the session)."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookie = ""

    def request(self, method: str, path: str, body: str = "") -> tuple[int, str]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, path, body=body.encode() or None, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return response.status, text

    def login(self, name: str) -> None:
        _, form = self.request("GET", "/login")
        match = re.search(r'name="csrf" value="([^"]+)"', form)
        assert match, "no CSRF token on the login form"
        fields = urlencode({"csrf": match.group(1), "name": name, "password": PASSWORD})
        status, _ = self.request("POST", "/login", fields)
        assert status == 303, f"login failed: {status}"


def percentiles(seconds: list[float]) -> tuple[float, float]:
    """(p50, p95) by nearest rank."""
    ordered = sorted(seconds)
    return statistics.median(ordered), ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="SQLAlchemy URL (default: a temporary SQLite file)")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--load-seconds", type=float, default=float("inf"))
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument(
        "--loaded",
        help="a SQLite file an earlier run loaded (its folder is printed), or the URL of a store "
        "benchmarks/summary.py --keep loaded: measure again, no load",
    )
    args = parser.parse_args()

    schema = None
    if args.loaded:
        url = args.loaded if "://" in args.loaded else f"sqlite:///{args.loaded}"
    elif args.database:
        schema, url = create_schema(args.database, "bench_web")
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='minyi-bench-web-')}/bench.db"
    engine = make_engine(url)
    try:
        upgrade(engine)
        store = Store(engine)
        now = summary_bench.NOW
        if not args.loaded:
            budget = args.load_seconds if args.database else float("inf")
            messages, questions, seconds = summary_bench.load(engine, args.messages, budget)
            summary_bench.analyze(engine)
            print(f"{engine.dialect.name}: {messages:,} messages, {questions:,} questions loaded "
                  f"in {seconds:.0f} s ({url})")  # fmt: skip
        store.add_official("管理员", "", "admin", now)
        store.set_password_hash("管理员", hash_password(PASSWORD), now)

        config = ConsoleConfig(zone=ZONE, secret="bench", clock=lambda: now)
        console = create_app(store, config)
        app = Starlette(
            routes=[
                Route("/bare", lambda request: PlainTextResponse("ok")),
                Mount("/", app=console),
            ]
        )
        local = now.astimezone(ZONE).date()
        week = urlencode(
            {"period": "range", "from": str(local - timedelta(days=6)), "to": str(local)}
        )
        pages = {
            "bare": "/bare",
            "overview, 7 days": f"/?{week}",
            "overview, one department": f"/?{week}&department={quote('交通运输局')}",
            "search 电梯 open": f"/tickets?q={quote('电梯')}&state=open",
            "search overdue, one department": f"/tickets?overdue=1&department={quote('交通运输局')}",
        }
        target = TARGETS.get(engine.dialect.name, 1.0)
        with ServerThread(app) as server:
            client = Client(server.port)
            client.login("管理员")
            print(f"{'page':34} {'p50 ms':>8} {'p95 ms':>8}  target p95 ≤ {target * 1000:.0f} ms")
            for name, path in pages.items():
                status, _ = client.request("GET", path)  # warm-up (and a check it works)
                assert status == 200, f"{path}: {status}"
                timings = []
                for _ in range(args.requests):
                    start = time.perf_counter()
                    client.request("GET", path)
                    timings.append(time.perf_counter() - start)
                p50, p95 = percentiles(timings)
                verdict = "" if name == "bare" else ("  ok" if p95 <= target else "  OVER")
                print(f"{name:34} {p50 * 1000:8.1f} {p95 * 1000:8.1f}{verdict}")
    finally:
        engine.dispose()
        if schema and args.database:
            drop_schema(args.database, schema)


if __name__ == "__main__":
    main()
    sys.exit(0)
