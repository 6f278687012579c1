"""The REST API application and `python run.py api`.

FastAPI because it validates requests with pydantic (already our settings library) and says
which field is wrong, generates the OpenAPI spec from the same code (served at
/api/v1/openapi.json, committed as docs/openapi.json), and runs on asyncio: the bot can
serve it on its own event loop (`make_server(...).serve()` next to the webhook), while the
handlers' blocking database work runs in FastAPI's threadpool.

    api = create_api(app)                # app: helpdesk.app.App (settings, services, engine)
    server = make_server(app)            # uvicorn.Server on settings api.listen/api.port
    await server.serve()                 # inside an already running loop, or:
    run(settings, args)                  # `python run.py api`: builds the app, starts the
                                         # sync jobs, serves until Ctrl+C

`/` and `/docs` redirect to the documentation at /api/v1/docs (no token needed to read it).
`GET /healthz` (no token: it shows states, never data) answers the health JSON of
engine.health: the tasks of `api.state.supervisor` and the inbox backlog; 200 when ok,
503 otherwise. `run` serves under the process's supervisor (the server, the jobs, the
heartbeat that `python run.py health` reads).
"""
from __future__ import annotations

import asyncio
import json
import logging

import peewee as pw
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine import health, heap
from engine.errors import BotError, SettingsError
from engine.supervisor import Supervisor

from . import apply, legacy, limits, v1
from .auth import TokenCheck

__all__ = ["create_api", "make_server", "run", "openapi_json", "NO_TOKENS", "VERSION"]

log = logging.getLogger(__name__)
VERSION = "1.0.0"
NO_TOKENS = ("settings api.tokens is empty: the REST API never runs without a token. Put one "
             "or more long random strings there (several allow rotation), e.g. "
             "API__TOKENS='[\"<token>\"]' or in settings.yaml.")


def _tokens(settings) -> list[str]:
    tokens = [t.get_secret_value() for t in settings.api.tokens if t.get_secret_value()]
    if not tokens:
        raise SettingsError([NO_TOKENS])
    return tokens


def create_api(app) -> FastAPI:
    """The ASGI application for `app` (a helpdesk App); refuses to exist without tokens."""
    check = TokenCheck(_tokens(app.settings))
    api = FastAPI(title="Helpdesk bot API for the CRM", version=VERSION,
                  openapi_url="/api/v1/openapi.json", docs_url="/api/v1/docs",
                  redoc_url=None, description=_DESCRIPTION)
    api.state.helpdesk = app
    api.state.supervisor = Supervisor()      # `run` puts the process's own here
    _health_route(api)
    _docs_redirects(api)
    _token_middleware(api, check)
    _body_limit(api, app.settings.api.max_body_bytes)      # outermost: before the token check
    api.include_router(v1.router(check.v1_dependency()))
    api.include_router(legacy.router(check.legacy_dependency()))
    _error_handlers(api)
    return api


_DESCRIPTION = """The CRM's way into the bot. `/api/v1`: this product's API
(`Authorization: Bearer <token>`, tokens from settings `api.tokens`). `/api/...`: the
original product's 1C contract (also accepts the token as a `token` header or `apiKey`
query value). Money is kopecks. See docs/sync.md."""


PUBLIC = ("/api/v1/openapi.json", "/api/v1/docs")     # docs_url above, DOCS below


def _token_middleware(api: FastAPI, check: TokenCheck) -> None:
    """Refuse a request without a valid token before anything else (FastAPI would parse
    and validate the body first and tell an anonymous caller what it expects)."""
    @api.middleware("http")
    async def require_token(request: Request, call_next):
        path = request.url.path
        if path.startswith("/api") and path not in PUBLIC and \
                not check.allows(path, request.headers, request.query_params):
            return _error(request, 401, "a valid API token is required",
                          headers={"WWW-Authenticate": "Bearer"})
        return await call_next(request)


DOCS = "/api/v1/docs"


def _docs_redirects(api: FastAPI) -> None:
    """`/` and `/docs` (where people look first) lead to the API's documentation."""
    async def to_docs():
        return RedirectResponse(DOCS, status_code=307)
    for path in ("/", "/docs"):
        api.get(path, include_in_schema=False)(to_docs)


def _health_route(api: FastAPI) -> None:
    @api.get(health.PATH, include_in_schema=False)
    async def healthz(request: Request):
        from engine.telegram import inbox
        app = request.app.state.helpdesk
        entry = health.this_process(request.app.state.supervisor, "api")
        body = health.report([entry], await health.read(inbox.backlog), anonymous=True,
                             max_inbox_age=app.settings.engine.health_max_inbox_age_seconds)
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


def _body_limit(api: FastAPI, max_bytes: int) -> None:
    """413 for a body over settings api.max_body_bytes, before it is read (helpdesk.api.limits)."""
    def refuse(scope, limit: int):
        return _error(Request(scope), 413, f"the request body is larger than {limit} bytes "
                                           "(settings api.max_body_bytes)")
    api.add_middleware(limits.BodyLimit, max_bytes=max_bytes, refuse=refuse)


def _is_legacy(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") and not path.startswith("/api/v1")


def _error(request: Request, status: int, detail, field: str | None = None, headers=None):
    if _is_legacy(request):
        text = detail if isinstance(detail, str) else _first_problem(detail)
        text = f"{field}: {text}" if field else text
        return JSONResponse({"result": False, "error": text}, status_code=status,
                            headers=headers)
    if field is not None:
        detail = [{"loc": ["body", *field.split(".")], "msg": detail, "type": "value_error"}]
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _first_problem(errors: list) -> str:
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
    return f"{where}: {first.get('msg', 'invalid')}"


def _error_handlers(api: FastAPI) -> None:
    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError):
        errors = json.loads(json.dumps(e.errors(), default=str))
        for err in errors:
            err.pop("input", None)   # never echo (possibly secret) input back
            err.pop("ctx", None)
        return _error(request, 422, errors)

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException):
        return _error(request, e.status_code, e.detail, headers=getattr(e, "headers", None))

    @api.exception_handler(apply.ApplyError)
    async def refused(request: Request, e: apply.ApplyError):
        return _error(request, e.status, str(e).split(": ", 1)[-1], field=e.field)

    @api.exception_handler(BotError)
    async def domain(request: Request, e: BotError):
        return _error(request, _bot_status(e), str(e)[:500])

    @api.exception_handler(pw.IntegrityError)
    async def integrity(request: Request, e: pw.IntegrityError):
        log.warning("API write conflicts with stored data: %s", e)
        return _error(request, 409, "conflicts with a stored record (a unique value is taken)")


def _bot_status(e: BotError) -> int:
    from helpdesk.directory import NotFound
    from helpdesk.tickets import TicketConflict, TicketNotFound
    if isinstance(e, TicketConflict):
        return 409
    if isinstance(e, (TicketNotFound, NotFound)):
        return 404
    return 422


def openapi_json(app) -> str:
    """The spec as committed in docs/openapi.json (stable key order, trailing newline)."""
    return json.dumps(create_api(app).openapi(), ensure_ascii=False, indent=2,
                      sort_keys=True) + "\n"


def make_server(app, *, host: str | None = None, port: int | None = None):
    """A uvicorn server for the API on settings api.listen / api.port (not started)."""
    import uvicorn
    s = app.settings.api
    config = uvicorn.Config(create_api(app), host=host or s.listen,
                            port=s.port if port is None else port, log_config=None,
                            access_log=False, lifespan="off")
    return uvicorn.Server(config)


def run(settings, args) -> int:
    """`python run.py api`: the API plus the sync jobs, until interrupted."""
    from helpdesk.app import build_app
    from helpdesk.deliveries import log_undelivered
    from helpdesk.ops import jobs, logs
    from helpdesk.ops.reporting import BugReporter, make_supervisor
    _tokens(settings)                        # refuse before touching anything else
    logs.configure(settings)
    log_undelivered(settings)
    app = build_app(settings)
    supervisor = make_supervisor(settings, BugReporter(settings, app.engine.flowset.templates).report)
    scheduler = jobs.start(app, supervisor)
    heap.freeze_startup()                    # full collections must not stall the loop
    try:
        print(f"API on http://{settings.api.listen}:{settings.api.port}/api/v1 "
              f"(spec: /api/v1/openapi.json)")
        asyncio.run(_serve(app, supervisor))
    finally:
        scheduler.shutdown(wait=False)
    return 0


async def _serve(app, supervisor: Supervisor) -> None:
    """The API server under the supervisor until uvicorn is told to stop (Ctrl+C, SIGTERM)."""
    server: list = []

    async def serve() -> None:               # a fresh server per (re)start
        server[:] = [make_server(app)]
        server[0].config.app.state.supervisor = supervisor
        await server[0].serve()
    e = app.settings.engine
    if e.heartbeat_seconds:
        supervisor.spawn("heartbeat", lambda: health.beat_forever(
            supervisor, role="api", interval=e.heartbeat_seconds))
    try:
        await supervisor.spawn("api server", serve)
    finally:
        await supervisor.stop()
        if e.heartbeat_seconds:
            await asyncio.to_thread(health.forget)
