"""The Starlette application of `newswatch serve`.

Pages (server-rendered, no JavaScript): `/` recent alerts with their evidence and deliveries,
`/stories`, `/articles/{id}` (every match explained), `/feeds` (health), `/watches` and
`/watches/{id}`, `/watchlist` (the version in force: number, hash, activation, compiled summary;
every stored version), `/backtests` (the reports `newswatch backtest` kept, each served at
`/backtests/NAME`); every page shows a banner while the configuration file last looked at is a
rejected one. Machine endpoints: `/metrics` (Prometheus text),
`/healthz` (alive), `/readyz` (store, scheduler, consumers). With `serve.token` or
`serve.basic_auth` set, everything except `/healthz` and `/readyz` needs the credentials.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from worker.backtest import REPORTS_DIR
from worker.config import ServeSpec, Settings
from worker.serve import observe, queries
from worker.serve.backtests import list_reports, report_html
from worker.serve.examples import example_status
from worker.serve.render import environment
from worker.watchlist_versions import activated_at, latest_rejection, list_versions

OPEN_PATHS = ("/healthz", "/readyz")  # container healthchecks and load balancers, no secret needed


class RequireCredentials:
    """ASGI middleware: a bearer token or basic-auth user/password, compared in constant time."""

    def __init__(self, app: ASGIApp, spec: ServeSpec) -> None:
        self.app, self.spec = app, spec

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        headers = {"WWW-Authenticate": 'Basic realm="newswatch"'} if self.spec.basic_auth else {}
        await PlainTextResponse("authentication required\n", 401, headers=headers)(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        given = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, value = given.partition(" ")
        if self.spec.token and scheme.lower() == "bearer":
            return hmac.compare_digest(value.strip().encode(), self.spec.token.encode())
        auth = self.spec.basic_auth
        if auth and scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
            except ValueError:
                return False
            ok_user = hmac.compare_digest(user.encode(), auth.user.encode())
            return hmac.compare_digest(password.encode(), auth.password.encode()) and ok_user
        return False


class _Pages:
    """The request handlers over one engine; each runs in Starlette's thread pool (sync)."""

    def __init__(self, settings: Settings, engine: Engine, metrics_dir: Path, clock: Callable[[], float]):
        self.settings, self.engine, self.metrics_dir, self.clock = settings, engine, metrics_dir, clock
        self.env = environment()
        self.opt = queries.optional_tables(engine)
        self.examples = example_status(settings)
        self.reports = settings.service.data_dir / REPORTS_DIR

    def page(self, name: str, **context: Any) -> HTMLResponse:
        template = self.env.get_template(name)
        with self.engine.connect() as conn:  # every page shows a rejected watchlist change
            rejected = latest_rejection(conn)
        return HTMLResponse(template.render(now=self.clock(), page=name.removesuffix(".html"),
                                            rejected=rejected, **context))

    def index(self, _request: Request) -> Response:
        with self.engine.connect() as conn:
            return self.page("alerts.html", alerts=queries.recent_alerts(conn), summary=queries.summary(conn))

    def stories(self, _request: Request) -> Response:
        with self.engine.connect() as conn:
            return self.page("stories.html", stories=queries.recent_stories(conn, self.opt))

    def article(self, request: Request) -> Response:
        with self.engine.connect() as conn:
            found = queries.article(conn, int(request.path_params["article_id"]))
        if found is None:
            return PlainTextResponse("no such article\n", 404)
        return self.page("article.html", a=found)

    def feeds(self, _request: Request) -> Response:
        with self.engine.connect() as conn:
            return self.page("feeds.html", feeds=queries.feed_health(conn, self.settings, self.clock()))

    def watches(self, _request: Request) -> Response:
        with self.engine.connect() as conn:
            found = queries.watches(conn, self.settings, self.clock())
        return self.page("watches.html", watches=found, examples=self.examples)

    def watch(self, request: Request) -> Response:
        watch_id = request.path_params["watch_id"]
        if not any(w.id == watch_id for w in self.settings.watches):
            return PlainTextResponse("no such watch\n", 404)
        with self.engine.connect() as conn:
            stats = queries.watches(conn, self.settings, self.clock())
            recent = queries.recent_alerts(conn, limit=50, watch_id=watch_id)
        w = next(w for w in stats if w["spec"].id == watch_id)
        return self.page("watch.html", w=w, alerts=recent, examples=(self.examples or {}).get(watch_id))

    def watchlist(self, _request: Request) -> Response:
        with self.engine.connect() as conn:
            versions, since = list_versions(conn), activated_at(conn)
        active = next((v for v in versions if v.active), None)
        return self.page("watchlist.html", versions=versions, active=active, activated_at=since)

    def backtests(self, _request: Request) -> Response:
        return self.page("backtests.html", reports=list_reports(self.reports))

    def backtest(self, request: Request) -> Response:
        body = report_html(self.reports, request.path_params["name"])
        if body is None:
            return PlainTextResponse("no such report\n", 404)
        # the report is our own escaped HTML; it still may not run or load anything
        policy = "default-src 'none'; style-src 'unsafe-inline'"
        return HTMLResponse(body, headers={"Content-Security-Policy": policy})

    def metrics(self, _request: Request) -> Response:
        body = observe.scrape(self.engine, self.settings, self.metrics_dir)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    def healthz(self, _request: Request) -> Response:
        return PlainTextResponse("ok\n")

    def readyz(self, _request: Request) -> Response:
        result = observe.readiness(self.engine, self.settings, self.clock())
        body = json.dumps({"ready": result.ready, "checks": result.checks}, indent=1) + "\n"
        return Response(body, 200 if result.ready else 503, media_type="application/json")


def create_app(
    settings: Settings,
    engine: Engine,
    metrics_dir: Path,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The dashboard over `engine` (read-only, see worker.serve.readonly)."""
    p = _Pages(settings, engine, metrics_dir, clock)
    routes = [
        Route("/", p.index),
        Route("/stories", p.stories),
        Route("/articles/{article_id:int}", p.article),
        Route("/feeds", p.feeds),
        Route("/watches", p.watches),
        Route("/watches/{watch_id}", p.watch),
        Route("/watchlist", p.watchlist),
        Route("/backtests", p.backtests),
        Route("/backtests/{name}", p.backtest),
        Route("/metrics", p.metrics),
        Route("/healthz", p.healthz),
        Route("/readyz", p.readyz),
    ]
    app = Starlette(routes=routes)
    if settings.serve.token or settings.serve.basic_auth:
        app.add_middleware(RequireCredentials, spec=settings.serve)
    return app
