"""Composition root: build the store, text services, templates, handlers and dispatcher from Settings,
and start the platform adapters that are configured.

This is one of the few modules allowed to import everything. Adapters are imported lazily so that a
missing optional SDK (wechaty) only matters when that platform is enabled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot.config import ConfigError, Settings
from bot.dispatch import Dispatcher, Services, utcnow
from bot.events import Sender
from bot.templating import TemplateLibrary
from bot.text import RankDoc, TemplateRanker, TextAnalyzer
from bot.text.deferred import DeferredRanker
from bot.text.semantic import INSTALL_HINT, SemanticUnavailable, make_ranker, semantic_available
from handlers import default_routes
from storage import OfficialSpec, Store, make_engine, upgrade
from storage.workers import WorkerLease, start_up_alone

log = logging.getLogger(__name__)


class PlatformUnavailable(RuntimeError):
    """A configured platform cannot start (missing token, missing extra); the message says what to do."""


def _pairs(keys: list[str]) -> tuple[tuple[str, str], ...]:
    return tuple((k.partition(":")[0], k.partition(":")[2]) for k in keys)


def roster_specs(settings: Settings) -> list[OfficialSpec]:
    """The configured roster in the store's terms."""
    return [
        OfficialSpec(
            name=o.name,
            department=o.department,
            role=o.role,
            jurisdiction=o.jurisdiction,
            identities=_pairs(o.identities),
            groups=_pairs(o.groups),
        )
        for o in settings.officials
    ]


def build_ranker(
    analyzer: TextAnalyzer,
    library: TemplateLibrary,
    kind: str = "bm25",
    embedding_cache: str = "",
) -> TemplateRanker:
    """Index every reply template by its title, keywords and body with the ranker ``kind`` names
    (a semantic ranker keeps its template vectors in ``embedding_cache`` when a path is given)."""
    docs = [
        RankDoc(
            id=t.id,
            text=" ".join([t.title, " ".join(t.keywords), t.body]),
            intent=t.intent,
            department=t.department,
        )
        for t in library.templates
    ]
    return make_ranker(kind, analyzer, docs, embedding_cache)


@dataclass
class MinyiApp:
    """A ready-to-run bot: services, dispatcher and (once started) platform adapters."""

    settings: Settings
    store: Store
    services: Services
    dispatcher: Dispatcher
    adapters: list[Sender] = field(default_factory=list)
    _worker: asyncio.Task[None] | None = field(default=None, repr=False)
    lease: WorkerLease | None = None
    """This process's registration as a worker (``register_worker``), while ``minyi run`` runs."""

    def register_worker(self) -> int:
        """Register this process as one of the workers sharing the database (``storage.workers``) and
        tell the postman who it is and how to know which workers live; returns the worker id.
        Raises ``storage.workers.WorkerRefused`` for a second worker on one SQLite file."""
        lease = WorkerLease.take(self.store.engine, self.services.clock())
        self.lease = lease
        postman = self.dispatcher.postman
        postman.worker = lease.id
        postman.live_workers = lease.live
        postman.renew_lease = lease.renew
        return lease.id

    def warm_up(self) -> None:
        """Build what the text services build lazily (the seed intent model, jieba's dictionary, the
        template index) now, so the first resident who asks does not wait for it, and starts the
        analysis process when ``[text] analysis_process`` is on. Cheap after the first call;
        ``minyi run`` calls it on a thread of its own once it is ready to read."""
        self.services.text.warm_up()
        self.services.ranker.rank("请问小区电梯坏了什么时候能修好？", k=1)
        self.dispatcher.ahead.start()  # the analysis process, if on, warms up in the background

    def loaded(self) -> str:
        """What this app runs with, in a few words, for the ready line on stderr."""
        settings = self.settings
        url = self.store.engine.url
        where = url.database if url.get_backend_name() == "sqlite" else url.host
        intent = "trained intent model" if settings.text.intent_model else "seed intent model"
        ranker = self.services.ranker
        kind = ranker.kind if isinstance(ranker, DeferredRanker) else "bm25"
        worker = f"worker {self.lease.id}; " if self.lease is not None else ""
        return (
            f"{worker}database {self.store.engine.dialect.name} ({where}); "
            f"{len(settings.officials)} officials in bot.toml, "
            f"{len(self.services.templates.templates)} templates; "
            f"{intent}, {kind} ranker (indexed in the background)"
            + ("; text analysis process" if settings.text.analysis_process else "")
        )

    async def start_platforms(self, env: dict[str, str] | None = None) -> list[str]:
        """Start every enabled platform adapter, connect it to the dispatcher, and start handling what
        they journal in the background; returns their names."""
        env = dict(os.environ) if env is None else env
        started = []
        makers = (
            (self.settings.telegram.enabled, "telegram", _telegram_adapter),
            (self.settings.wechat.enabled, "wechat", _wechat_adapter),
        )
        for enabled, name, make in makers:
            if not enabled:
                continue
            adapter = make(self, env)
            try:
                await adapter.start()
            except RuntimeError as exc:  # the adapters' start errors never carry secrets
                await self.close_platforms()
                raise PlatformUnavailable(f"{name}: {exc}") from None
            self.dispatcher.connect(adapter, bot_username=adapter.username)
            self.adapters.append(adapter)
            started.append(name)
        if self._worker is None:
            self._worker = asyncio.create_task(self.dispatcher.run(), name="minyi-dispatcher")
        return started

    async def stop_platforms(self) -> None:
        """Stop receiving on every adapter (what each received is journaled); they still send."""
        for adapter in reversed(self.adapters):
            try:
                await adapter.stop()
            except Exception:
                log.exception("stopping %s failed", adapter.platform)

    async def close_platforms(self) -> None:
        """A clean stop: stop receiving, handle what was journaled and deliver what is owed (within
        ``[bot] shutdown_timeout`` seconds; what is left stays journaled for the next start), then
        disconnect the adapters."""
        await self.stop_platforms()
        if not await self.dispatcher.drain(self.settings.bot.shutdown_timeout):
            log.warning(
                "stopped after %.0f s with work left; it is kept and done at the next start",
                self.settings.bot.shutdown_timeout,
            )
        if self._worker is not None:
            # The worker ends by itself once drained; it is only cut off if a call hangs.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._worker), 5)
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        while self.adapters:
            adapter = self.adapters.pop()
            self.dispatcher.disconnect(adapter.platform)
            try:
                await adapter.close()
            except Exception:
                log.exception("closing %s failed", adapter.platform)

    def close(self) -> None:
        """Release the database connections, the worker lease and the worker threads."""
        self.dispatcher.close()
        self.services.close()
        if self.lease is not None:
            self.lease.release()
            self.lease = None
        self.store.engine.dispose()


def _secret(env: dict[str, str], name: str, what: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise PlatformUnavailable(f"{what}: set the environment variable {name}")
    return value


def _telegram_adapter(app: MinyiApp, env: dict[str, str]) -> Sender:
    from bot.adapters.telegram import TelegramAdapter

    cfg = app.settings.telegram
    token = _secret(env, cfg.token_env, "Telegram bot token")
    try:
        return TelegramAdapter(
            token=token,
            journal=app.dispatcher.receive,
            commands=app.dispatcher.routes.menu(),
            base_url=cfg.base_url or None,
            aliases=app.settings.bot.aliases,
            mode=cfg.mode,
            webhook_listen=cfg.webhook_listen,
            webhook_port=cfg.webhook_port,
            webhook_url=cfg.webhook_url,
            webhook_secret=env.get(cfg.webhook_secret_env) or None,
            read_timeout=cfg.read_timeout,
        )
    except ValueError as exc:  # the adapter's configuration checks name the key, never a secret
        raise PlatformUnavailable(f"{app.settings.source}: [telegram] {exc}") from None


def _wechat_adapter(app: MinyiApp, env: dict[str, str]) -> Sender:
    try:
        from bot.adapters.wechat import WechatAdapter
    except ImportError as exc:
        raise PlatformUnavailable(
            "WeChat needs the optional extra: pip install 'minyi[wechat]' "
            f"(import failed: {exc.name or exc})"
        ) from None
    cfg = app.settings.wechat
    return WechatAdapter(
        endpoint=_secret(env, cfg.endpoint_env, "WeChat puppet service endpoint"),
        token=_secret(env, cfg.token_env, "WeChat puppet service token"),
        journal=app.dispatcher.receive,
        aliases=app.settings.bot.aliases,
        room_rate_per_minute=cfg.room_rate_per_minute,
        send_timeout=cfg.send_timeout,
    )


def build_app(
    settings: Settings,
    *,
    clock: Callable[[], datetime] | None = None,
    migrate: bool = True,
    templates: TemplateLibrary | None = None,
) -> MinyiApp:
    """Wire everything for ``settings``. ``migrate`` brings the schema to the newest revision."""
    engine = make_engine(settings.database.url, echo=settings.database.echo)
    store = Store(engine)
    library = templates or TemplateLibrary.load()
    with start_up_alone(engine):  # several workers may start at once (storage.workers)
        if migrate:
            upgrade(engine)
        now = (clock or utcnow)()
        store.sync_departments(d.name for d in settings.departments)
        store.sync_roster(roster_specs(settings), now)
        store.sync_templates(
            (
                {
                    "id": t.id,
                    "title": t.title,
                    "intent": t.intent,
                    "department": t.department,
                    "keywords": ",".join(t.keywords),
                    "body": t.body,
                }
                for t in library.templates
            ),
            now,
        )
    if settings.text.ranker == "semantic" and not semantic_available():
        raise SemanticUnavailable(INSTALL_HINT)  # at start-up, not at the first question
    try:
        analyzer = TextAnalyzer(
            departments={d.name: d.keywords for d in settings.departments},
            intent_model=settings.text.intent_model or None,
            department_model=settings.text.department_model or None,
        )
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{settings.source}: [text] model: {exc}") from None
    services = Services(
        settings=settings,
        store=store,
        text=analyzer,
        templates=library,
        ranker=DeferredRanker(
            lambda: build_ranker(
                analyzer, library, settings.text.ranker, settings.text.embedding_cache
            ),
            settings.text.ranker,
        ),
        clock=clock or utcnow,
    )
    dispatcher = Dispatcher(services, default_routes())
    return MinyiApp(settings=settings, store=store, services=services, dispatcher=dispatcher)
