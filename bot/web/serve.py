"""Running the console: ``minyi web`` serves it alone; ``[web] enabled = true`` serves it beside
``minyi run`` in the same process and event loop. The session secret comes from the environment
variable ``[web] secret_env`` names; without it a random one is made, so sessions end at a restart."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import uvicorn

from bot.config import Settings
from bot.web import auth
from bot.web.app import ConsoleConfig, create_app
from storage import Store

log = logging.getLogger(__name__)


def console_config(settings: Settings, clock: Callable[[], datetime]) -> ConsoleConfig:
    """The console's configuration from the settings and the environment."""
    secret = os.environ.get(settings.web.secret_env, "")
    if not secret:
        log.warning(
            "%s is not set: console sessions end when this process stops", settings.web.secret_env
        )
        secret = auth.new_token()
    return ConsoleConfig(
        zone=settings.bot.zone,
        secret=secret,
        clock=clock,
        public=settings.web.public,
        opinion_window=timedelta(minutes=settings.opinion.window_minutes),
    )


def console_server(
    store: Store,
    settings: Settings,
    clock: Callable[[], datetime],
    host: str,
    port: int,
) -> uvicorn.Server:
    """A uvicorn server for the console, not yet started (``await server.serve()``)."""
    app = create_app(store, console_config(settings, clock))
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
    )
    return uvicorn.Server(config)


class ServerThread:
    """uvicorn serving an ASGI app on a free loopback port in a thread of its own, for tests and
    benchmarks: ``with ServerThread(app) as server: … server.port``."""

    def __init__(self, app: Any, host: str = "127.0.0.1") -> None:
        with socket.socket() as probe:
            probe.bind((host, 0))
            self.port: int = probe.getsockname()[1]
        config = uvicorn.Config(
            app, host=host, port=self.port, log_level="warning", lifespan="off", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="minyi-web", daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:  # polls a flag uvicorn sets; nothing waits on a clock
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the web console did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
