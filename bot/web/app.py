"""The console's routes: log in and out, the overview, the ticket list, a ticket's page, the opinion
page (舆情) with a warning's page, the suggestions registry (建议台账) and the exports of every table. ``create_app`` builds the Starlette app over a ``Store``.

Pages are rendered on the server from Jinja2 templates with autoescaping on (residents' text is data,
never a template). Sessions are signed cookies (HttpOnly, SameSite=Lax); every POST form carries the
session's CSRF token. The console only reads the store; store calls run off the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot.text.normalise import to_simplified
from bot.text.privacy import mask
from bot.web import access, auth, brief, charts, exports, opinion, pdf, registry, tables, warnings
from bot.web.periods import PERIODS, Period, PeriodChoiceError, choose_period
from handlers.common import STATE_LABELS, duration
from handlers.registry import STATUS_LABELS as SUGGESTION_LABELS
from storage import QuestionState, RegistryQuery, Store
from storage.reports import ReportScope
from storage.ticket_search import TicketQuery

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
PAGE_SIZE = 50
ROWS_SHOWN = 50
OPINION_TABLES = ("warnings", "topic_trend", "topics", "raised_by_day", "complaints", "suggestions")
"""Rows of a table shown on the overview; the download has them all."""
PUBLIC_PERIOD = timedelta(days=30)
SESSION_HOURS = 8
TREND_COLOURS = (("提问", "#c0392b"), ("已答复", "#2471a3"), ("已办结", "#229954"))


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    """What the console needs besides the store."""

    zone: ZoneInfo
    secret: str
    clock: Callable[[], datetime]
    title: str = "民意 · 督查工作台"
    public: bool = False
    """Serve the residents' page ``/public`` (``[web] public``)."""
    opinion_window: timedelta = timedelta(minutes=30)
    """The 舆情预警 window (``[opinion] window_minutes``): a warning's trend is measured over it."""


def template_environment() -> Environment:
    """The console's Jinja2 environment: autoescaping on, the cell, mask and duration filters."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = tables.cell_text
    env.filters["mask"] = mask
    env.filters["duration"] = lambda seconds: "—" if seconds is None else duration(seconds)
    env.globals["STATE_LABELS"] = STATE_LABELS
    env.globals["ROWS_SHOWN"] = ROWS_SHOWN
    env.globals["rating_label"] = tables.rating_label
    return env


class Console:
    """The console's request handlers over one store."""

    def __init__(self, store: Store, config: ConsoleConfig) -> None:
        self.store = store
        self.config = config
        self.env = template_environment()
        self.throttle = auth.LoginThrottle(config.clock)

    # ------------------------------------------------------------ plumbing

    def render(
        self, request: Request, template: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        """Render ``template`` with the session's CSRF token and the viewer (if any)."""
        context.setdefault("viewer", None)
        body = self.env.get_template(template).render(
            title=self.config.title, csrf=self._csrf(request), request=request, **context
        )
        return HTMLResponse(body, status_code=status_code)

    @staticmethod
    def _csrf(request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = request.session["csrf"] = auth.new_token()
        return str(token)

    async def _viewer(self, request: Request) -> access.Viewer | None:
        official_id = request.session.get("official_id")
        if not isinstance(official_id, int):
            return None
        official = await run_in_threadpool(self.store.console_viewer, official_id)
        if official is None:
            request.session.clear()
            return None
        groups = await run_in_threadpool(self.store.groups_of, official_id)
        return access.Viewer(official, tuple(groups))

    async def _form_ok(self, request: Request) -> tuple[bool, Any]:
        form = await request.form()
        return auth.token_matches(request.session.get("csrf"), str(form.get("csrf", ""))), form

    @staticmethod
    def _to_login() -> RedirectResponse:
        return RedirectResponse("/login", status_code=303)

    # ------------------------------------------------------------ log in, log out

    async def login_page(self, request: Request) -> Response:
        """The login form."""
        return self.render(request, "login.html")

    async def login(self, request: Request) -> Response:
        """Check the CSRF token, the throttle and the password; start a session."""
        ok, form = await self._form_ok(request)
        name = str(form.get("name", "")).strip()
        if not ok:
            return self.render(
                request, "login.html", 403, error="页面已过期，请重新登录。", name=name
            )
        address = request.client.host if request.client else "?"
        keys = (f"name:{name}", f"address:{address}")
        wait = self.throttle.wait(*keys)
        if wait is not None:
            minutes = max(1, round(wait.total_seconds() / 60))
            error = f"登录失败次数过多，请 {minutes} 分钟后再试。"
            return self.render(request, "login.html", 429, error=error, name=name)
        found = await run_in_threadpool(self.store.console_login, name) if name else None
        password = str(form.get("password", ""))
        if not auth.check_login(found[1] if found else None, password) or found is None:
            self.throttle.failed(*keys)
            log.info("console login refused for %r from %s", name, address)
            error = "用户名或密码不正确。"
            return self.render(request, "login.html", 401, error=error, name=name)
        self.throttle.succeeded(*keys)
        request.session.clear()  # a new session on login: no fixation
        request.session["official_id"] = found[0].id
        request.session["csrf"] = auth.new_token()
        return RedirectResponse("/", status_code=303)

    async def logout(self, request: Request) -> Response:
        """End the session (a POST with the CSRF token)."""
        ok, _ = await self._form_ok(request)
        if not ok:
            return Response("CSRF 校验失败", status_code=403)
        request.session.clear()
        return self._to_login()

    # ------------------------------------------------------------ filters

    async def _filters(
        self, request: Request, viewer: access.Viewer, all_time: bool = False
    ) -> tuple[Period | None, ReportScope, dict[str, Any]]:
        """The period and scope chosen in the query string, within what the viewer may see; with
        ``all_time`` the period may be ``all`` (None), and is by default."""
        params = request.query_params
        now = self.config.clock()
        wants_all = all_time and params.get("period", "") in ("", registry.ALL_TIME)
        period: Period | None
        try:
            period = (
                None
                if wants_all
                else choose_period(
                    params.get("period", ""),
                    now,
                    self.config.zone,
                    params.get("from", ""),
                    params.get("to", ""),
                )
            )
            error = ""
        except PeriodChoiceError as exc:
            period, error = choose_period("", now, self.config.zone), str(exc)
        group_id = _int(params.get("group"))
        official_id = _int(params.get("official"))
        department = params.get("department", "")
        scope = access.narrowed(access.viewer_scope(viewer), department, group_id, official_id)
        choices = await run_in_threadpool(self._choices, viewer)
        periods = {registry.ALL_TIME: "全部", **PERIODS} if all_time else PERIODS
        chosen = {
            "period": period.key if period else registry.ALL_TIME,
            "from": params.get("from", ""),
            "to": params.get("to", ""),
            "department": department,
            "group": group_id,
            "official": official_id,
            "error": error,
        }
        return period, scope, {**choices, "chosen": chosen, "periods": periods}

    async def _dated_filters(
        self, request: Request, viewer: access.Viewer
    ) -> tuple[Period, ReportScope, dict[str, Any]]:
        """``_filters`` for pages that always cover a period."""
        period, scope, context = await self._filters(request, viewer)
        assert period is not None
        return period, scope, context

    def _choices(self, viewer: access.Viewer) -> dict[str, Any]:
        scope = access.viewer_scope(viewer)
        departments = self.store.departments()
        if scope.departments is not None:
            departments = [d for d in departments if d in scope.departments]
        officials = [o for o in self.store.roster_listing() if o.role == "official"]
        if scope.departments is not None:
            officials = [o for o in officials if o.department in scope.departments]
        if not viewer.sees_all_officials:
            officials = [viewer.official]
        groups = access.visible_groups(viewer, self.store.all_groups())
        return {"departments": departments, "officials": officials, "groups": groups}

    # ------------------------------------------------------------ overview

    async def overview_tables(
        self, request: Request, viewer: access.Viewer, whole: bool = False
    ) -> tuple[list[tables.Table], dict[str, Any]]:
        """The overview's tables and page context for the filters in ``request``; the overdue
        tickets only as many as a page shows (one more, to know there are more) unless ``whole``."""
        period, scope, context = await self._dated_filters(request, viewer)
        now = self.config.clock()
        found = await run_in_threadpool(
            self.store.overview,
            period.since,
            period.until,
            now,
            self.config.zone,
            scope,
            None if whole else ROWS_SHOWN + 1,
            tables.AGE_LIMITS,
        )
        listed = tables.summary_tables(found.summary, self.config.zone, now)
        listed += [tables.trend_table(found.trend), tables.age_table(found.waiting_by_age)]
        labels = [f"{d.day:%m-%d}" for d in found.trend]
        series = [
            (name, [getattr(d, attr) for d in found.trend], colour)
            for (name, colour), attr in zip(
                TREND_COLOURS, ("asked", "answered", "resolved"), strict=True
            )
        ]
        context.update(
            period=period,
            total=found.summary.total,
            chart=charts.line_chart(labels, series, "每日提问与答复"),
            now=now,
        )
        return listed, context

    async def overview(self, request: Request) -> Response:
        """Figures for the chosen period and scope."""
        viewer = await self._viewer(request)
        if viewer is None:
            return self._to_login()
        listed, context = await self.overview_tables(request, viewer)
        by_name = {t.name: t for t in listed}
        return self.render(
            request,
            "overview.html",
            viewer=viewer,
            tables=by_name,
            query=urlencode(list(request.query_params.multi_items())),
            **context,
        )

    # ------------------------------------------------------------ tickets

    async def _ticket_query(
        self, request: Request, viewer: access.Viewer
    ) -> tuple[TicketQuery, dict[str, Any]]:
        params = request.query_params
        scope = access.narrowed(access.viewer_scope(viewer), group_id=_int(params.get("group")))
        text = params.get("q", "").strip()[:100]
        words = tuple(dict.fromkeys(w for w in (text, to_simplified(text)) if w))
        state = params.get("state", "")
        query = TicketQuery(
            state=state if state in QuestionState.ALL else "",
            department=params.get("department", ""),
            group_id=_int(params.get("group")),
            assignee_id=_int(params.get("official")),
            overdue=params.get("overdue") == "1",
            words=words,
            scope=scope,
        )
        choices = await run_in_threadpool(self._choices, viewer)
        chosen = {
            "state": query.state,
            "department": query.department,
            "group": query.group_id,
            "official": query.assignee_id,
            "overdue": query.overdue,
            "q": text,
        }
        return query, {**choices, "chosen": chosen}

    async def ticket_list(self, request: Request) -> Response:
        """The searchable, filterable ticket list."""
        viewer = await self._viewer(request)
        if viewer is None:
            return self._to_login()
        query, context = await self._ticket_query(request, viewer)
        page = max(1, _int(request.query_params.get("page")) or 1)
        now = self.config.clock()
        found = await run_in_threadpool(
            self.store.search_tickets, query, now, PAGE_SIZE, (page - 1) * PAGE_SIZE
        )
        table = tables.tickets_table("tickets", "工单", found.tickets, self.config.zone, now)
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
        return self.render(
            request,
            "tickets.html",
            viewer=viewer,
            table=table,
            total=found.total,
            page=page,
            pages=max(1, -(-found.total // PAGE_SIZE)),
            query=urlencode(params),
            states=STATE_LABELS,
            **context,
        )

    async def ticket_page(self, request: Request) -> Response:
        """One ticket with its history and the conversation around it, if the viewer may see it."""
        viewer = await self._viewer(request)
        if viewer is None:
            return self._to_login()
        number = _int(request.path_params["number"].upper().removeprefix("Q"))
        now = self.config.clock()
        visible = (
            number is not None
            and (
                await run_in_threadpool(
                    self.store.search_tickets,
                    TicketQuery(ticket_id=number, scope=access.viewer_scope(viewer)),
                    now,
                    1,
                )
            ).total
        )
        if not visible or number is None:
            message = "没有这个工单，或它不在您的查看范围内。"
            return self.render(request, "error.html", 404, viewer=viewer, message=message)
        history = await run_in_threadpool(self.store.ticket_history, number)
        return self.render(
            request,
            "ticket.html",
            viewer=viewer,
            history=history,
            q=history.question if history else None,
            zone=self.config.zone,
            now=now,
        )

    # ------------------------------------------------------------ opinion

    async def opinion_view(
        self, request: Request, viewer: access.Viewer
    ) -> tuple[opinion.OpinionView, dict[str, Any]]:
        """The opinion page's figures and context for the filters in ``request``."""
        period, scope, context = await self._dated_filters(request, viewer)
        view = await run_in_threadpool(
            opinion.build_opinion,
            self.store,
            period.since,
            period.until,
            self.config.zone,
            scope,
            self.config.opinion_window,
        )
        return view, {**context, "period": period}

    async def opinion_page(self, request: Request) -> Response:
        """舆情: suggestions and complaints by day, complaint spikes, hot topics, the registries."""
        viewer = await self._viewer(request)
        if viewer is None:
            return self._to_login()
        view, context = await self.opinion_view(request, viewer)
        labels = [f"{day:%m-%d}" for day, _, _ in view.by_day]
        series = [
            ("建议", [s for _, s, _ in view.by_day], "#229954"),
            ("投诉", [c for _, _, c in view.by_day], "#c0392b"),
        ]
        return self.render(
            request,
            "opinion.html",
            viewer=viewer,
            view=view,
            tables={t.name: t for t in view.tables},
            chart=charts.line_chart(labels, series, "每日建议与投诉"),
            trend_chart=opinion.topic_trend.trend_chart(view.trend),
            query=urlencode(list(request.query_params.multi_items())),
            **context,
        )

    async def warning_page(self, request: Request) -> Response:
        """One 舆情预警 with the messages of its burst the viewer may read."""
        viewer = await self._viewer(request)
        if viewer is None:
            return self._to_login()
        number = _int(request.path_params["number"])
        scope = access.viewer_scope(viewer)
        info = (
            None if number is None else await run_in_threadpool(self.store.warning, number, scope)
        )
        if info is None:
            message = "没有这条舆情预警，或它不在您的查看范围内。"
            return self.render(request, "error.html", 404, viewer=viewer, message=message)
        view = await run_in_threadpool(
            warnings.view_warning, self.store, info, scope, self.config.opinion_window
        )
        return self.render(
            request,
            "warning.html",
            viewer=viewer,
            warning=view,
            table=warnings.messages_table(view, self.config.zone),
            raised_at=info.raised_at.astimezone(self.config.zone),
        )

    # ------------------------------------------------------------ the suggestions registry

    async def registry_view(
        self, request: Request, viewer: access.Viewer
    ) -> tuple[registry.RegistryView, dict[str, Any]]:
        """The registry for the filters in ``request`` (period ``all`` by default)."""
        period, scope, context = await self._filters(request, viewer, all_time=True)
        status = request.query_params.get("status", "")
        query = RegistryQuery(
            since=period.since if period else None,
            until=period.until if period else None,
            status=status if status in SUGGESTION_LABELS else "",
            scope=scope,
        )
        view = await run_in_threadpool(registry.build_registry, self.store, query, self.config.zone)
        context["chosen"]["status"] = query.status
        return view, {**context, "period": period}

    async def registry_page(self, request: Request) -> Response:
        """建议台账: the registry with its counts per status."""
        viewer = await self._viewer(request)
        if viewer is None:
            return self._to_login()
        view, context = await self.registry_view(request, viewer)
        return self.render(
            request,
            "registry.html",
            viewer=viewer,
            view=view,
            statuses=SUGGESTION_LABELS,
            query=urlencode(list(request.query_params.multi_items())),
            status_query=urlencode(
                [(k, v) for k, v in request.query_params.multi_items() if k != "status"]
            ),
            **context,
        )

    # ------------------------------------------------------------ the weekly brief

    async def brief_page(self, request: Request) -> Response:
        """网情动态 for ``?week=2026-W48`` (default: last week), within the viewer's scope;
        ``/brief.pdf`` prints the same page to PDF."""
        viewer = await self._viewer(request)
        if viewer is None:
            return self._to_login()
        now = self.config.clock()
        try:
            week = brief.parse_week(request.query_params.get("week", ""), now, self.config.zone)
        except brief.WeekError as exc:
            return self.render(request, "error.html", 400, viewer=viewer, message=str(exc))
        found = await run_in_threadpool(
            brief.build_brief,
            self.store,
            week,
            now,
            access.viewer_scope(viewer),
        )
        if request.url.path.endswith(".pdf"):
            html = brief.render_brief(self.env, found, self.config.zone)
            try:
                body = await run_in_threadpool(pdf.html_to_pdf, html)
            except pdf.PdfUnavailable as exc:
                return Response(str(exc), status_code=503)
            return Response(
                body,
                media_type="application/pdf",
                headers={"Content-Disposition": f'attachment; filename="brief-{week.key}.pdf"'},
            )
        html = brief.render_brief(self.env, found, self.config.zone, css_href="/static/brief.css")
        return HTMLResponse(html)

    # ------------------------------------------------------------ the public page

    async def public_page(self, request: Request) -> Response:
        """For residents, without logging in: each department's reply rate, satisfaction rate and
        average first-response time over the last 30 days. No names of people, no text."""
        if not self.config.public:
            return Response("Not Found", status_code=404)
        now = self.config.clock()
        since = now - PUBLIC_PERIOD
        found = await run_in_threadpool(self.store.summary, since, now, now)
        return self.render(
            request,
            "public.html",
            departments=[d for d in found.departments if d.questions],
            total=found.total,
            since=since.astimezone(self.config.zone).date(),
            until=now.astimezone(self.config.zone).date(),
        )

    # ------------------------------------------------------------ exports

    async def export(self, request: Request) -> Response:
        """``/export/{name}.{xlsx|csv}``: a table of the overview or the ticket list, with the same
        filters as the page it was downloaded from; ``overview.xlsx`` is every overview table."""
        viewer = await self._viewer(request)
        if viewer is None:
            return self._to_login()
        name, fmt = request.path_params["name"], request.path_params["fmt"]
        if name == "tickets":
            query, _ = await self._ticket_query(request, viewer)
            found = await run_in_threadpool(
                self.store.search_tickets, query, self.config.clock(), 100_000
            )
            now = self.config.clock()
            listed = [tables.tickets_table("tickets", "工单", found.tickets, self.config.zone, now)]
        elif name == "registry":
            found_registry, _ = await self.registry_view(request, viewer)
            listed = [found_registry.table]
        elif name in ("opinion", *OPINION_TABLES):
            view, _ = await self.opinion_view(request, viewer)
            listed = [t for t in view.tables if name in ("opinion", t.name)]
        else:
            listed, _ = await self.overview_tables(request, viewer, whole=True)
            if name != "overview":
                listed = [t for t in listed if t.name == name]
        if not listed or fmt not in ("xlsx", "csv") or (fmt == "csv" and len(listed) > 1):
            return Response("没有这个表格", status_code=404)
        stamp = f"{self.config.clock().astimezone(self.config.zone):%Y%m%d-%H%M}"
        filename = f"minyi-{name}-{stamp}.{fmt}"
        if fmt == "xlsx":
            body, media = exports.to_xlsx(listed), exports.XLSX_TYPE
        else:
            body, media = exports.to_csv(listed[0]), exports.CSV_TYPE
        return Response(
            body,
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


async def _security_headers(request: Request, call_next: Any) -> Response:
    response: Response = await call_next(request)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; form-action 'self'",
    )
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def create_app(store: Store, config: ConsoleConfig) -> Starlette:
    """The console as an ASGI app over ``store``."""
    from starlette.middleware.base import BaseHTTPMiddleware

    console = Console(store, config)
    routes = [
        Route("/", console.overview),
        Route("/login", console.login_page, methods=["GET"]),
        Route("/login", console.login, methods=["POST"]),
        Route("/logout", console.logout, methods=["POST"]),
        Route("/tickets", console.ticket_list),
        Route("/tickets/{number}", console.ticket_page),
        Route("/export/{name}.{fmt}", console.export),
        Route("/public", console.public_page),
        Route("/opinion", console.opinion_page),
        Route("/opinion/warnings/{number}", console.warning_page),
        Route("/registry", console.registry_page),
        Route("/brief", console.brief_page),
        Route("/brief.pdf", console.brief_page),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=config.secret,
            session_cookie="minyi_console",
            max_age=SESSION_HOURS * 3600,
            same_site="lax",
        ),
        Middleware(BaseHTTPMiddleware, dispatch=_security_headers),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.console = console
    return app
