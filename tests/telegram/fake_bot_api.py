"""A local fake of the Telegram Bot API, good enough to run python-telegram-bot end to end offline.

An aiohttp server on 127.0.0.1 answers ``POST /bot<TOKEN>/<method>`` the way Telegram does for the
methods minyi uses: getMe, deleteWebhook, setWebhook, getUpdates (long poll with Telegram's offset
confirmation: updates below the offset are dropped, the rest re-delivered), sendMessage (message ids
per chat, every call recorded, a 429 on demand, optional flood limits), answerCallbackQuery,
setMyCommands, editMessageText and editMessageReplyMarkup.

Every request is checked against the Bot API's machine-readable spec (``api.json``): an unknown
method, an unknown parameter, a missing required parameter or a value of the wrong type is
recorded in ``violations`` (tests assert it stays empty) and answered with an error, as Telegram
would. Injected updates are checked against the spec's ``Update`` type too, so test payloads stay
realistic.

``inject(update)`` queues an update for getUpdates or, after setWebhook, POSTs it to the webhook
(with the ``X-Telegram-Bot-Api-Secret-Token`` header), retrying until the webhook answers 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

REPO = Path(__file__).resolve().parents[2]
SPEC_PATH = REPO.parent / "shared" / "data" / "telegram-bot-api-spec" / "api.json"

JSON = dict[str, Any]

UNDOCUMENTED: dict[str, tuple[str, ...]] = {
    "Message": ("new_chat_participant", "new_chat_member", "left_chat_participant"),
}
"""Fields real Telegram still sends though the documentation dropped them (accepted, unchecked)."""


# --------------------------------------------------------------------------- the spec


class ApiSpec:
    """The Bot API methods and types from ``api.json``, with a small recursive type checker."""

    def __init__(self, path: Path = SPEC_PATH) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        self.version: str = data.get("version", "?")
        self.methods: dict[str, JSON] = data["methods"]
        self.types: dict[str, JSON] = data["types"]
        self._by_lower = {name.lower(): name for name in self.methods}

    def method(self, name: str) -> str | None:
        """The canonical method name (Telegram matches names case-insensitively)."""
        return self._by_lower.get(name.lower())

    def fields(self, method: str) -> dict[str, JSON]:
        """Parameter name → its spec entry."""
        return {f["name"]: f for f in self.methods[method].get("fields", [])}

    def check_params(self, method: str, params: JSON) -> list[str]:
        """Problems with ``params`` for ``method`` (empty when the call is valid)."""
        fields = self.fields(method)
        problems = [
            f"{method}: unknown parameter {name!r}" for name in params if name not in fields
        ]
        for name, spec in fields.items():
            if name not in params:
                if spec["required"]:
                    problems.append(f"{method}: missing required parameter {name!r}")
                continue
            problems += self.check_value(params[name], spec["types"], f"{method}.{name}")
        return problems

    def check_value(self, value: Any, types: list[str], where: str) -> list[str]:
        """Problems when ``value`` matches none of ``types`` (the first alternative's problems)."""
        if not types:
            return []
        first: list[str] | None = None
        for type_name in types:
            problems = self._check(value, type_name, where)
            if not problems:
                return []
            first = first if first is not None else problems
        return first or []

    def _check(self, value: Any, type_name: str, where: str) -> list[str]:
        if type_name.startswith("Array of "):
            if not isinstance(value, list):
                return [f"{where}: expected {type_name}, got {type(value).__name__}"]
            inner = type_name.removeprefix("Array of ")
            out: list[str] = []
            for index, item in enumerate(value):
                out += self._check(item, inner, f"{where}[{index}]")
            return out
        simple: dict[str, Callable[[Any], bool]] = {
            "String": lambda v: isinstance(v, str),
            "Integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "Float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
            "Boolean": lambda v: isinstance(v, bool),
            "True": lambda v: v is True,
            "InputFile": lambda v: True,
        }
        if type_name in simple:
            ok = simple[type_name](value)
            return [] if ok else [f"{where}: expected {type_name}, got {value!r}"[:300]]
        spec = self.types.get(type_name)
        if spec is None:
            return []  # a type the spec does not describe: accept
        if not isinstance(value, dict):
            return [f"{where}: expected a {type_name} object, got {type(value).__name__}"]
        if spec.get("subtypes"):
            return self.check_value(value, spec["subtypes"], where)
        fields = {f["name"]: f for f in spec.get("fields", [])}
        for extra in UNDOCUMENTED.get(type_name, ()):
            fields.setdefault(extra, {"name": extra, "types": [], "required": False})
        problems = [
            f"{where}: unknown field {k!r} of {type_name}" for k in value if k not in fields
        ]
        for name, fspec in fields.items():
            if name in value:
                problems += self.check_value(value[name], fspec["types"], f"{where}.{name}")
            elif fspec["required"]:
                problems.append(f"{where}: {type_name} lacks required field {name!r}")
        return problems


# --------------------------------------------------------------------------- payload builders


def user(
    user_id: int,
    first_name: str,
    last_name: str | None = None,
    *,
    username: str | None = None,
    is_bot: bool = False,
    language_code: str | None = "zh-hans",
) -> JSON:
    """A Telegram ``User`` object."""
    out: JSON = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
    if last_name:
        out["last_name"] = last_name
    if username:
        out["username"] = username
    if language_code and not is_bot:
        out["language_code"] = language_code
    return out


def supergroup(chat_id: int, title: str) -> JSON:
    """A supergroup ``Chat``."""
    return {"id": chat_id, "title": title, "type": "supergroup"}


def private_chat(person: JSON) -> JSON:
    """The private ``Chat`` of ``person`` with the bot (its id is the user's id)."""
    out = {"id": person["id"], "type": "private", "first_name": person["first_name"]}
    for key in ("last_name", "username"):
        if key in person:
            out[key] = person[key]
    return out


def utf16_len(text: str) -> int:
    """Telegram counts entity offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def mention_entity(text: str, handle: str) -> JSON:
    """A ``mention`` entity for the first ``@handle`` in ``text``."""
    token = "@" + handle.lstrip("@")
    index = text.index(token)
    return {"type": "mention", "offset": utf16_len(text[:index]), "length": utf16_len(token)}


# --------------------------------------------------------------------------- the server


@dataclass
class ApiCall:
    """One request the fake received."""

    method: str
    params: JSON
    at: float
    """``time.perf_counter()`` when it arrived."""
    status: int = 200
    result: Any = None


@dataclass
class FloodLimits:
    """Limits the fake enforces with 429 answers (like Telegram), if given."""

    per_group: int = 20
    per_group_window: float = 60.0
    overall: int = 30
    overall_window: float = 1.0


@dataclass
class _Webhook:
    url: str
    secret: str | None
    allowed: list[str] | None


@dataclass
class FakeBotApi:
    """The fake server. ``async with FakeBotApi(token) as api:`` starts it on a random port."""

    token: str
    bot_username: str = "minyi_test_bot"
    bot_id: int = 7_000_000_001
    spec: ApiSpec = field(default_factory=ApiSpec)
    flood_limits: FloodLimits | None = None
    calls: list[ApiCall] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Requests Telegram would refuse for reasons beyond the spec (unknown query id, bad reply)."""
    listeners: list[Callable[[ApiCall], None]] = field(default_factory=list)
    """Called with every successfully answered call, as it is answered (benchmarks time with it)."""

    def __post_init__(self) -> None:
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._pending: list[JSON] = []
        self._update_ids = itertools.count(100_001)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self.messages: dict[tuple[int, int], JSON] = {}
        self.migrated: dict[int, int] = {}
        """Old group id → the supergroup it became (sending to the old id fails like Telegram)."""
        self._chats: dict[int, JSON] = {}
        self._queries: dict[str, bool] = {}  # callback query id → answered
        self._query_ids = itertools.count(4_000_000_000_000_001)
        self._changed = asyncio.Condition()
        self._closing = False
        self._fail_next: dict[str, deque[JSON]] = defaultdict(deque)
        self._lose_answer: dict[str, deque[float | None]] = defaultdict(deque)
        self._gates: dict[str, asyncio.Event] = {}
        self.held: list[ApiCall] = []
        """Calls waiting at a gate (``hold``), not carried out yet."""
        self._sent_times: dict[int, deque[float]] = defaultdict(deque)
        self._sent_all: deque[float] = deque()
        self.webhook: _Webhook | None = None
        self._delivery: asyncio.Task[None] | None = None
        self._allowed: list[str] | None = None
        self.me = user(self.bot_id, "政务助手", username=self.bot_username, is_bot=True)
        self.me.update(
            can_join_groups=True, can_read_all_group_messages=True, supports_inline_queries=False
        )

    # ------------------------------------------------------------------ life cycle

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What to give PTB's ``ApplicationBuilder().base_url`` (PTB appends the token)."""
        return self.url + "/bot"

    async def start(self) -> FakeBotApi:
        """Listen on a random port of 127.0.0.1."""
        app = web.Application()
        app.router.add_post("/{bot_token:bot[^/]+}/{method}", self._serve)
        app.router.add_get("/{bot_token:bot[^/]+}/{method}", self._serve)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=2048)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def close(self) -> None:
        """Wake long polls, stop webhook delivery and close the server."""
        self._closing = True
        async with self._changed:
            self._changed.notify_all()
        if self._delivery is not None:
            self._delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeBotApi:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ building updates

    def next_message_id(self, chat_id: int) -> int:
        """Message ids are one sequence per chat, shared by people and the bot."""
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    def open_private_chat(self, person: JSON) -> JSON:
        """Pretend ``person`` pressed Start in a private chat with the bot (else sends get 403)."""
        chat = private_chat(person)
        self._chats[chat["id"]] = chat
        return chat

    def _remember(self, message: JSON) -> None:
        chat = message["chat"]
        self._chats.setdefault(chat["id"], chat)
        self.messages[(chat["id"], message["message_id"])] = message

    def text_message(
        self,
        chat: JSON,
        sender: JSON,
        text: str,
        *,
        mention: str | None = None,
        entities: list[JSON] | None = None,
        reply_to: JSON | None = None,
    ) -> JSON:
        """A new ``Message`` (not yet injected); ``mention="@handle"`` adds a mention entity."""
        message: JSON = {
            "message_id": self.next_message_id(chat["id"]),
            "from": sender,
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        found = list(entities or [])
        if mention:
            found.append(mention_entity(text, mention))
        if text.startswith("/"):
            command = text.split()[0]
            found.insert(0, {"type": "bot_command", "offset": 0, "length": utf16_len(command)})
        if found:
            message["entities"] = found
        if reply_to is not None:
            message["reply_to_message"] = _without_reply(reply_to)
        self._remember(message)
        return message

    def say(self, chat: JSON, sender: JSON, text: str, **kwargs: Any) -> JSON:
        """Build a text message and inject it; returns the message."""
        message = self.text_message(chat, sender, text, **kwargs)
        self.inject({"message": message})
        return message

    def press(self, presser: JSON, message: JSON, data: str) -> str:
        """Inject a callback query for a button with ``data`` on the bot's ``message``."""
        buttons = [
            b["callback_data"]
            for row in message.get("reply_markup", {}).get("inline_keyboard", [])
            for b in row
        ]
        if data not in buttons:
            raise AssertionError(
                f"message {message['message_id']} has no button {data!r}: {buttons}"
            )
        query_id = str(next(self._query_ids))
        self._queries[query_id] = False
        self.inject(
            {
                "callback_query": {
                    "id": query_id,
                    "from": presser,
                    "message": message,
                    "chat_instance": str(-abs(message["chat"]["id"]) * 7 % 10**12),
                    "data": data,
                }
            }
        )
        return query_id

    def inject(self, update: JSON) -> int:
        """Queue an update (an ``update_id`` is assigned when missing); returns its id.

        Updates are checked against the spec's ``Update`` type (a violation if they do not match).
        """
        update = dict(update)
        update.setdefault("update_id", next(self._update_ids))
        self.violations += self.spec.check_value(update, ["Update"], "injected update")
        for key in ("message", "edited_message"):
            if key in update:
                self._remember(update[key])
        if "callback_query" in update:
            self._queries.setdefault(update["callback_query"]["id"], False)
        self._pending.append(update)
        self._pending.sort(key=lambda u: u["update_id"])
        asyncio.get_running_loop().create_task(self._notify())
        return int(update["update_id"])

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    @property
    def pending(self) -> list[JSON]:
        """Updates not yet confirmed by the bot."""
        return list(self._pending)

    # ------------------------------------------------------------------ inspecting

    def fail_next(
        self, method: str, *, status: int = 429, retry_after: int = 1, times: int = 1
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error: 429 Too Many Requests
        (with ``retry_after``) by default, or e.g. 502 Bad Gateway (a network error to PTB)."""
        for _ in range(times):
            if status == 429:
                body: JSON = {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {retry_after}",
                    "parameters": {"retry_after": retry_after},
                }
            else:
                body = {"ok": False, "error_code": status, "description": "Bad Gateway"}
            self._fail_next[method].append(body)

    def lose_next_answer(self, method: str, *, delay: float | None = None, times: int = 1) -> None:
        """Carry out the next ``times`` calls of ``method`` (a message is posted) but do not answer:
        hold the answer ``delay`` seconds (past the client's read timeout), or with ``delay=None``
        close the connection without answering — what a flaky network looks like to the bot."""
        self._lose_answer[method].extend([delay] * times)

    def hold(self, method: str) -> asyncio.Event:
        """Keep the calls of ``method`` waiting on the wire, not carried out (nothing posted), until
        the returned event is set: a slow Telegram, with the bot's requests in flight."""
        gate = self._gates[method] = asyncio.Event()
        return gate

    async def wait_held(self, count: int, *, timeout: float = 10.0) -> list[ApiCall]:
        """Wait until ``count`` calls wait at a gate (``hold``); returns them."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.held) >= count)
        return list(self.held)

    def calls_of(self, method: str, *, ok_only: bool = True) -> list[ApiCall]:
        """Recorded calls of ``method`` (by default only those answered with success)."""
        return [c for c in self.calls if c.method == method and (c.status == 200 or not ok_only)]

    def sent(self, chat_id: int | None = None) -> list[JSON]:
        """Messages the bot sent (as the fake returned them), optionally in one chat."""
        return [
            c.result
            for c in self.calls_of("sendMessage")
            if chat_id is None or c.result["chat"]["id"] == chat_id
        ]

    async def wait_for(
        self, predicate: Callable[[ApiCall], bool], *, timeout: float = 10.0, count: int = 1
    ) -> list[ApiCall]:
        """Wait until ``count`` successful calls satisfy ``predicate``; returns them."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                found = [c for c in self.calls if c.status == 200 and predicate(c)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(c.method, c.params) for c in self.calls[-8:]]
                    raise TimeoutError(f"waited {timeout}s for {count} calls; last calls: {seen}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), left)

    async def wait_sent(
        self,
        chat_id: int,
        *,
        count: int = 1,
        contains: str = "",
        timeout: float = 10.0,
    ) -> list[JSON]:
        """Wait for ``count`` messages sent to ``chat_id`` whose text contains ``contains``."""
        calls = await self.wait_for(
            lambda c: (
                c.method == "sendMessage"
                and c.result["chat"]["id"] == chat_id
                and contains in c.result["text"]
            ),
            count=count,
            timeout=timeout,
        )
        return [c.result for c in calls]

    # ------------------------------------------------------------------ serving

    async def _serve(self, request: web.Request) -> web.Response:
        at = time.perf_counter()
        if request.match_info["bot_token"] != "bot" + self.token:
            return _error(401, "Unauthorized")
        name = request.match_info["method"]
        method = self.spec.method(name)
        if method is None:
            self.violations.append(f"unknown method {name!r}")
            return _error(404, "Not Found: method not found")
        params = await self._params(request, method)
        call = ApiCall(method, params, at)
        self.calls.append(call)
        problems = self.spec.check_params(method, params)
        if problems:
            self.violations += problems
            call.status = 400
            return _error(400, "Bad Request: " + "; ".join(problems))
        handler = getattr(self, "_m_" + method, None)
        if handler is None:
            self.violations.append(f"{method}: valid, but the fake does not implement it")
            call.status = 501
            return _error(501, f"fake does not implement {method}")
        gate = self._gates.get(method)
        if gate is not None and not gate.is_set():
            self.held.append(call)
            await self._notify()
            await gate.wait()
            self.held.remove(call)
        if self._fail_next.get(method):
            body = self._fail_next[method].popleft()
            call.status = body["error_code"]
            await self._notify()
            return web.json_response(body, status=body["error_code"])
        try:
            result = await handler(params)
        except ApiError as exc:
            call.status = exc.code
            if exc.code != 429:
                self.errors.append(f"{method}: {exc.description}")
            await self._notify()
            return web.json_response(exc.body(), status=exc.code)
        call.result = result
        for listener in self.listeners:
            listener(call)
        await self._notify()
        if self._lose_answer.get(method):
            delay = self._lose_answer[method].popleft()
            if delay is None:
                assert request.transport is not None
                request.transport.close()
            else:
                await asyncio.sleep(delay)
        return web.json_response({"ok": True, "result": result})

    async def _params(self, request: web.Request, method: str) -> JSON:
        fields = self.spec.fields(method)
        if request.content_type == "application/json":
            body = await request.json() if request.can_read_body else {}
            return dict(body or {})
        form = await request.post()
        params: JSON = {}
        for key, raw in form.items():
            if not isinstance(raw, str):
                params[key] = raw  # an uploaded file
            elif fields.get(key, {}).get("types") == ["String"]:
                params[key] = raw
            else:  # PTB JSON-encodes every non-string value
                try:
                    params[key] = json.loads(raw)
                except json.JSONDecodeError:
                    params[key] = raw
        return params

    # ------------------------------------------------------------------ methods

    async def _m_getMe(self, params: JSON) -> JSON:
        return self.me

    async def _m_setMyCommands(self, params: JSON) -> bool:
        for command in params["commands"]:
            name = command["command"]
            if not (1 <= len(name) <= 32 and name.replace("_", "").isalnum() and name.islower()):
                raise ApiError(400, f"Bad Request: BOT_COMMAND_INVALID {name!r}")
        return True

    async def _m_deleteWebhook(self, params: JSON) -> bool:
        self.webhook = None
        if self._delivery is not None:
            self._delivery.cancel()
            self._delivery = None
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    async def _m_setWebhook(self, params: JSON) -> bool:
        self.webhook = _Webhook(
            url=params["url"],
            secret=params.get("secret_token"),
            allowed=params.get("allowed_updates"),
        )
        self._allowed = params.get("allowed_updates", self._allowed)
        if params.get("drop_pending_updates"):
            self._pending.clear()
        if self._delivery is None or self._delivery.done():
            self._delivery = asyncio.get_running_loop().create_task(self._deliver())
        return True

    async def _m_getUpdates(self, params: JSON) -> list[JSON]:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        if "allowed_updates" in params:
            self._allowed = params["allowed_updates"] or None
        offset = params.get("offset")
        limit = params.get("limit", 100)
        timeout = float(params.get("timeout", 0))
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                if offset is not None:  # confirm: everything below the offset is forgotten
                    self._pending = [u for u in self._pending if u["update_id"] >= offset]
                ready = [u for u in self._pending if self._is_allowed(u)]
                if ready or self._closing:
                    return ready[:limit]
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), left)

    def _is_allowed(self, update: JSON) -> bool:
        if not self._allowed:
            return True
        return any(key in update for key in self._allowed)

    async def _deliver(self) -> None:
        """POST pending updates to the webhook in order, retrying until each is accepted."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            while self.webhook is not None and not self._closing:
                hook = self.webhook
                async with self._changed:
                    self._pending = [u for u in self._pending if self._is_allowed(u)]
                    if not self._pending:
                        await self._changed.wait()
                        continue
                    update = self._pending[0]
                headers = {"Content-Type": "application/json"}
                if hook.secret:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret
                try:
                    async with session.post(hook.url, json=update, headers=headers) as response:
                        accepted = response.status == 200
                except (aiohttp.ClientError, OSError, TimeoutError):
                    accepted = False
                if accepted:
                    with contextlib.suppress(ValueError):
                        self._pending.remove(update)
                else:
                    await asyncio.sleep(0.05)

    def _check_flood(self, chat_id: int) -> None:
        limits = self.flood_limits
        if limits is None:
            return
        now = time.monotonic()
        group = self._sent_times[chat_id]
        for stamps, window in (
            (group, limits.per_group_window),
            (self._sent_all, limits.overall_window),
        ):
            while stamps and stamps[0] <= now - window:
                stamps.popleft()
        if chat_id < 0 and len(group) >= limits.per_group:
            raise ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
        if len(self._sent_all) >= limits.overall:
            raise ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
        group.append(now)
        self._sent_all.append(now)

    def _chat(self, chat_id: int | str) -> JSON:
        if isinstance(chat_id, str):
            if not chat_id.lstrip("-").isdigit():
                raise ApiError(400, "Bad Request: chat not found")
            chat_id = int(chat_id)
        if chat_id in self.migrated:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=self.migrated[chat_id],
            )
        chat = self._chats.get(chat_id)
        if chat is None:
            if chat_id > 0:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    async def _m_sendMessage(self, params: JSON) -> JSON:
        chat = self._chat(params["chat_id"])
        text = params["text"]
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        markup = params.get("reply_markup")
        if markup is not None:
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    data = button.get("callback_data", "")
                    if len(data.encode()) > 64:
                        raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        self._check_flood(chat["id"])
        message: JSON = {
            "message_id": self.next_message_id(chat["id"]),
            "from": {
                k: v for k, v in self.me.items() if k in ("id", "is_bot", "first_name", "username")
            },
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        reply = params.get("reply_parameters")
        if reply is not None:
            target = self.messages.get((chat["id"], reply["message_id"]))
            if target is not None:
                message["reply_to_message"] = _without_reply(target)
            elif not reply.get("allow_sending_without_reply"):
                raise ApiError(400, "Bad Request: message to be replied not found")
        if markup is not None:
            message["reply_markup"] = markup
        self._remember(message)
        return message

    async def _m_answerCallbackQuery(self, params: JSON) -> bool:
        query_id = params["callback_query_id"]
        if query_id not in self._queries:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        if self._queries[query_id]:
            raise ApiError(400, "Bad Request: query ID is invalid (already answered)")
        self._queries[query_id] = True
        return True

    def _edit_target(self, params: JSON) -> JSON:
        key = (int(params.get("chat_id", 0)), int(params.get("message_id", 0)))
        message = self.messages.get(key)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return message

    async def _m_editMessageText(self, params: JSON) -> JSON:
        message = self._edit_target(params)
        message["text"] = params["text"]
        message["edit_date"] = int(time.time())
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        else:
            message.pop("reply_markup", None)
        return message

    async def _m_editMessageReplyMarkup(self, params: JSON) -> JSON:
        message = self._edit_target(params)
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        else:
            message.pop("reply_markup", None)
        message["edit_date"] = int(time.time())
        return message


class ApiError(Exception):
    """An error answer of the Bot API."""

    def __init__(
        self,
        code: int,
        description: str,
        *,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.code, self.description = code, description
        self.parameters: JSON = {}
        if retry_after is not None:
            self.parameters["retry_after"] = retry_after
        if migrate_to_chat_id is not None:
            self.parameters["migrate_to_chat_id"] = migrate_to_chat_id

    def body(self) -> JSON:
        """The JSON body Telegram sends."""
        out: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            out["parameters"] = self.parameters
        return out


def _error(code: int, description: str) -> web.Response:
    """Telegram answers errors with the HTTP status equal to ``error_code`` (PTB relies on it)."""
    body = {"ok": False, "error_code": code, "description": description}
    return web.json_response(body, status=code)


def _without_reply(message: JSON) -> JSON:
    """Telegram nests only one level of ``reply_to_message``."""
    return {k: v for k, v in message.items() if k != "reply_to_message"}


def inject_unchecked(api: FakeBotApi, update: JSON) -> int:
    """Queue ``update`` like ``FakeBotApi.inject`` but without checking it against the spec: for
    payloads Telegram would never send and a bot must survive (poison). Returns its update id."""
    update = dict(update)
    update.setdefault("update_id", next(api._update_ids))
    api._pending.append(update)
    api._pending.sort(key=lambda u: u["update_id"])
    asyncio.get_running_loop().create_task(api._notify())
    return int(update["update_id"])


def offsets_asked(api: FakeBotApi) -> list[int | None]:
    """The ``offset`` of every getUpdates call so far (``None`` when the call had none), in order."""
    return [c.params.get("offset") for c in api.calls if c.method == "getUpdates"]


def notify_polls(api: FakeBotApi) -> None:
    """Make ``wait_for`` see a getUpdates call when it arrives, not only once it is answered: a test
    can then tell that a long poll is in progress (or that an offset was sent) without waiting it out."""
    answer = api._m_getUpdates

    async def arriving(params: JSON) -> list[JSON]:
        await api._notify()
        return await answer(params)

    api._m_getUpdates = arriving  # type: ignore[method-assign]
