"""Load and validate ``bot.toml`` with pydantic; ``MINYI_SECTION__KEY`` environment variables override keys.

A broken file never shows a traceback: ``load_settings`` raises ``ConfigError`` whose message is one line
naming the file, the key and the problem, and the CLI turns it into exit code 2. Secrets (tokens, database
passwords) are only read from the environment; a password written into the file is refused.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.when import Every, read_every

ENV_PREFIX = "MINYI_"
DEFAULT_CONFIG = Path("bot.toml")
PLATFORMS = ("telegram", "wechat", "console", "test")


class ConfigError(Exception):
    """A configuration problem, already phrased as one line for people."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BotSection(_Section):
    """How the bot presents itself and keeps time."""

    name: str = "政务助手"
    aliases: list[str] = Field(default_factory=lambda: ["政务助手"])
    timezone: str = "Asia/Shanghai"
    answer_deadline_hours: float = Field(24.0, gt=0, le=24 * 30)
    hotline: str = "12345"
    shutdown_timeout: float = Field(10.0, gt=0, le=600)
    """Seconds a stopping bot (SIGTERM, Ctrl-C) has to handle what it received and send what it owes."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (try Asia/Shanghai)") from None
        return value

    @model_validator(mode="after")
    def _name_is_an_alias(self) -> BotSection:
        if self.name not in self.aliases:
            self.aliases = [self.name, *self.aliases]
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The configured zone as a ``ZoneInfo``."""
        return ZoneInfo(self.timezone)


class DatabaseSection(_Section):
    """Where the store lives. The default is an embedded SQLite file under ./data/."""

    url: str = "sqlite:///data/minyi.db"
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _parsable_url(cls, value: str) -> str:
        try:
            make_url(value)
        except ArgumentError:
            raise ValueError("not a database URL (e.g. sqlite:///data/minyi.db)") from None
        return value


class TextSection(_Section):
    """Text understanding: optional models trained with ``minyi train`` and the reply ranker."""

    intent_model: str = ""
    department_model: str = ""
    ranker: Literal["bm25", "semantic"] = "bm25"
    """``semantic`` fuses BM25 with an embedding model and needs ``pip install 'minyi[semantic]'``."""
    embedding_cache: str = "data/embeddings.npz"
    """Where the semantic ranker keeps template vectors between starts; empty = embed at every start."""
    analysis_process: bool = False
    """Analyse a backlog's texts in a second process, beside the store (``bot.analysis_ahead``):
    faster ingest on a machine with a core to spare, for that process's memory."""


class TelegramSection(_Section):
    """Telegram. The token itself is read from the environment variable named here."""

    enabled: bool = False
    token_env: str = "TELEGRAM_BOT_TOKEN"
    mode: Literal["polling", "webhook"] = "polling"
    base_url: str = ""
    """Bot API base URL; empty means Telegram's own. Tests point it at a local fake server."""
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(8443, ge=1, le=65535)
    webhook_url: str = ""
    webhook_secret_env: str = "TELEGRAM_WEBHOOK_SECRET"
    read_timeout: float = Field(5.0, gt=0, le=120)
    """Seconds to wait for Telegram's answer to a call. A message whose answer does not come in time
    is not sent again (it may be posted already); the official is asked to check the chat."""


class WechatSection(_Section):
    """WeChat through a wechaty puppet service; endpoint and token come from the environment."""

    enabled: bool = False
    endpoint_env: str = "WECHATY_PUPPET_SERVICE_ENDPOINT"
    token_env: str = "WECHATY_PUPPET_SERVICE_TOKEN"
    room_rate_per_minute: int = Field(20, ge=1, le=600)
    """Posts per minute per room; more wait their turn (never dropped)."""
    send_timeout: float = Field(30.0, gt=0, le=300)
    """Seconds a send waits for a reconnect, and for the service's answer; an unanswered message is
    not sent again (it may be posted already)."""


class SecuritySection(_Section):
    """Bind codes: how long they last and how many wrong ones an account may try (docs/SECURITY.md)."""

    bind_code_hours: float = Field(24.0, gt=0, le=24 * 30)
    """Hours a code from ``minyi officials invite`` stays valid."""
    bind_attempts: int = Field(5, ge=1, le=100)
    """Wrong codes one account may try within ``bind_window_minutes`` before it must wait."""
    bind_window_minutes: int = Field(10, ge=1, le=24 * 60)


class WebSection(_Section):
    """The supervisors' web console (``minyi web``, or beside ``minyi run`` when enabled)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    secret_env: str = "MINYI_WEB_SECRET"
    """The environment variable holding the key that signs session cookies."""
    public: bool = False
    """Serve ``/public``: reply and satisfaction rates and response times by department, for residents
    (no names, no text)."""


class OpinionSection(_Section):
    """Public opinion (issue 17): early-warning thresholds, 同问 linking and batched alerts."""

    window_minutes: float = Field(30.0, gt=0, le=24 * 60)
    """A burst is counted over this many recent minutes."""
    min_count: int = Field(8, ge=2, le=10_000)
    """A topic warns only with at least this many messages in the window."""
    baseline_multiple: float = Field(3.0, ge=1, le=1000)
    """... and more than this multiple of its usual count per window."""
    baseline_days: float = Field(7.0, gt=0, le=365)
    """How far back (before the window) the usual rate of a topic is measured."""
    duplicate_hours: float = Field(72.0, gt=0, le=24 * 90)
    """A question matches an open ticket of its group and topic asked at most this long ago (同问)."""
    nearby_groups: list[list[str]] = Field(default_factory=list)
    """Sets of neighbouring groups (``platform:chat_id``): a question also matches an open ticket on
    the same area-wide topic (停水, 停电 …) in a group listed with its own (同问)."""
    unaddressed_minutes: float = Field(30.0, gt=0, le=24 * 60)
    """At most one alert per group per this many minutes about complaints nobody @-mentioned."""

    @field_validator("nearby_groups")
    @classmethod
    def _group_keys(cls, sets: list[list[str]]) -> list[list[str]]:
        for groups in sets:
            _check_platform_keys(groups)
        return sets

    def nearby(self, group: str) -> list[str]:
        """The groups (``platform:chat_id``) listed with ``group`` in ``nearby_groups``, in the
        order written, without ``group`` itself."""
        found = [g for groups in self.nearby_groups if group in groups for g in groups]
        return [g for g in dict.fromkeys(found) if g != group]


class ScheduleSection(_Section):
    """Jobs sent privately on a schedule (handlers/scheduler.py); empty turns one off."""

    digest: str = ""
    """Each official's digest of their groups' last day: ``每天 18:00``."""
    brief: str = ""
    """The weekly 网情动态 brief to supervisors, admins and ``[worktime] leaders``: ``周一 09:00``."""

    @field_validator("digest", "brief")
    @classmethod
    def _recurring(cls, value: str) -> str:
        read_every(value)  # a WhenError is a ValueError: pydantic names the key
        return value

    def every(self, name: str) -> Every | None:
        """When the job ``name`` (``digest`` or ``brief``) falls due, or None when it is off."""
        return read_every(getattr(self, name))


class DepartmentConfig(_Section):
    """A department and the words that suggest a question belongs to it."""

    name: str = Field(min_length=1)
    keywords: list[str] = Field(default_factory=list)


class OfficialConfig(_Section):
    """One person on the roster."""

    name: str = Field(min_length=1)
    department: str = ""
    role: Literal["official", "supervisor", "admin"] = "official"
    jurisdiction: str = ""
    identities: list[str] = Field(default_factory=list)
    """``platform:user_id`` — e.g. ``telegram:123456``, ``console:张伟``."""
    groups: list[str] = Field(default_factory=list)
    """``platform:chat_id`` of the groups whose questions this official answers."""

    @field_validator("identities", "groups")
    @classmethod
    def _platform_keys(cls, values: list[str]) -> list[str]:
        return _check_platform_keys(values)


def _check_platform_keys(values: list[str]) -> list[str]:
    """``values`` when each is ``platform:id`` with a known platform; else a ValueError naming one."""
    for value in values:
        platform, sep, ident = value.partition(":")
        if not sep or not ident or platform not in PLATFORMS:
            raise ValueError(
                f"{value!r} should look like platform:id with platform one of {', '.join(PLATFORMS)}"
            )
    return values


class CalendarYear(_Section):
    """Days of one year that differ from what the calendar library says (or all of them, for a
    year it does not know yet): statutory holidays and make-up working days (调休)."""

    holidays: list[date] = Field(default_factory=list)
    workdays: list[date] = Field(default_factory=list)


class WorktimeSection(_Section):
    """Working time: the clock every deadline and promised time is counted on (``bot.worktime``).

    ``limits`` are working time (``"1d"`` = one working day of ``hours``, ``"4h"`` = four working
    hours) by kind of question; ``departments`` override them per department. Urgent questions (a word
    of ``urgent_words``) get ``urgent_hours`` of clock time, nights and holidays included.
    """

    hours: list[str] = Field(default_factory=lambda: ["09:00-12:00", "13:30-17:30"])
    limits: dict[str, str] = Field(
        default_factory=lambda: {"咨询": "1d", "求助": "5d", "投诉": "5d", "建议": "5d"}
    )
    departments: dict[str, dict[str, str]] = Field(default_factory=dict)
    urgent_hours: float = Field(2.0, gt=0, le=24 * 30)
    urgent_words: list[str] = Field(
        default_factory=lambda: ["紧急", "十万火急", "危险", "漏电", "燃气泄漏", "煤气泄漏", "救命"]
    )
    calendar: dict[int, CalendarYear] = Field(default_factory=dict)
    """Per year: ``[worktime.calendar.2027] holidays = [...]  workdays = [...]``."""
    reminder_share: float = Field(0.8, gt=0, lt=1)
    """The share of a ticket's time after which its handling official is reminded (督办 stage 1)."""
    second_level_after: str = "1d"
    """Working time after the deadline at which 督办 goes up a level (stage 3)."""
    check_seconds: float = Field(60.0, gt=0, le=3600)
    """How often ``minyi run`` looks for 督办 stages and 回访 that fell due."""
    leaders: list[str] = Field(default_factory=list)
    """Officials (by name) told at the second level; empty: every admin."""
    return_window: str = "2d"
    """Working time after a transfer within which the receiving department may 退回 it."""
    revisit_after: str = "2d"
    """Working time after an answer with no rating before the official is asked to 回访."""

    @field_validator("hours")
    @classmethod
    def _periods(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _PERIOD.match(value):
                raise ValueError(f"{value!r} should look like 09:00-12:00")
        return values

    @field_validator("second_level_after", "return_window", "revisit_after")
    @classmethod
    def _span(cls, value: str) -> str:
        if not _SPAN.match(value):
            raise ValueError(f"{value!r} should look like 1d (working days) or 4h (working hours)")
        return value

    @field_validator("limits")
    @classmethod
    def _spans(cls, values: dict[str, str]) -> dict[str, str]:
        for value in values.values():
            cls._span(value)
        return values


_PERIOD = re.compile(r"^\d{2}:\d{2}-\d{2}:\d{2}$")
_SPAN = re.compile(r"^\d+(\.\d+)?[dh]$")


class Settings(_Section):
    """The whole validated configuration."""

    bot: BotSection = Field(default_factory=BotSection)
    database: DatabaseSection = Field(default_factory=DatabaseSection)
    text: TextSection = Field(default_factory=TextSection)
    telegram: TelegramSection = Field(default_factory=TelegramSection)
    wechat: WechatSection = Field(default_factory=WechatSection)
    security: SecuritySection = Field(default_factory=SecuritySection)
    web: WebSection = Field(default_factory=WebSection)
    opinion: OpinionSection = Field(default_factory=OpinionSection)
    schedule: ScheduleSection = Field(default_factory=ScheduleSection)
    departments: list[DepartmentConfig] = Field(default_factory=list)
    worktime: WorktimeSection = Field(default_factory=WorktimeSection)
    officials: list[OfficialConfig] = Field(default_factory=list)
    source: str = Field(default="(defaults)", exclude=True)
    """The file these settings came from, for messages."""

    @model_validator(mode="after")
    def _consistent_roster(self) -> Settings:
        names = [d.name for d in self.departments]
        seen: set[str] = set()
        for official in self.officials:
            if official.name in seen:
                raise ValueError(f"official {official.name!r} is listed twice")
            seen.add(official.name)
            if official.department and names and official.department not in names:
                raise ValueError(
                    f"official {official.name!r}: department {official.department!r} "
                    "is not in [[departments]]"
                )
        return self


def _set_path(data: dict[str, Any], path: list[str], raw: str) -> None:
    node = data
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(
                f"environment: {ENV_PREFIX}{'__'.join(path).upper()} cannot override a list"
            )
        node = child
    # Values are JSON when they parse as JSON (numbers, booleans, lists), else plain strings.
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    if isinstance(value, (dict, type(None))):
        value = raw
    node[path[-1]] = value


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> list[str]:
    applied = []
    for name, raw in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if len(path) < 2:
            continue
        _set_path(data, path, raw)
        applied.append(name)
    return applied


def _describe(error: ValidationError, source: str, from_env: list[str]) -> str:
    first = error.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    env_name = ENV_PREFIX + "__".join(str(p) for p in first["loc"]).upper()
    where = f"environment {env_name}" if env_name in from_env else source
    more = f" (and {len(error.errors()) - 1} more problems)" if len(error.errors()) > 1 else ""
    return f"{where}: {key}: {message}{more}"


def _refuse_secrets_in_file(data: dict[str, Any], source: str) -> None:
    url = data.get("database", {}).get("url") if isinstance(data.get("database"), dict) else None
    if isinstance(url, str):
        try:
            parsed = make_url(url)
        except ArgumentError:
            return
        in_query = any(k.lower() in ("password", "passwd", "sslpassword") for k in parsed.query)
        if parsed.password or in_query:
            raise ConfigError(
                f"{source}: database.url: holds a password; put the URL in the environment "
                f"variable {ENV_PREFIX}DATABASE__URL instead"
            )


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read ``path`` (default ``$MINYI_CONFIG`` or ./bot.toml; a missing default file means defaults).

    Raises ``ConfigError`` with a one-line message on any problem.
    """
    env = os.environ if env is None else env
    explicit = path is not None or bool(env.get(ENV_PREFIX + "CONFIG"))
    file = Path(path or env.get(ENV_PREFIX + "CONFIG") or DEFAULT_CONFIG)
    data: dict[str, Any] = {}
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: cannot be read: {exc}") from None
    elif explicit:
        raise ConfigError(f"{file}: no such configuration file")
    _refuse_secrets_in_file(data, str(file))
    from_env = _apply_env(data, env)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(file), from_env)) from None
    settings.source = str(file) if file.exists() else "(defaults)"
    return settings
