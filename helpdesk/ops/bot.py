"""`python run.py bot`: the bot's entry, the helpdesk engine behind Telegram.

Reads the token (settings bot.token or BOT_TOKEN), the Bot API root (bot.api_url or
BOT_API_URL), the database (DATABASE_URL), builds the app and runs `engine.telegram`'s
transport in long-polling or webhook mode (bot.mode), plus the helpdesk's periodic jobs
(helpdesk.ops.jobs: CRM sync, lookups, the flow watcher). Errors and rejected flow reloads
are told to the operators (helpdesk.ops.reporting). One `Supervisor` runs
every long-running task of the process, the transport's and the jobs' (docs/deploy.md,
"Health").

`--workers N` (or bot.workers) runs N webhook worker processes on one port and one
PostgreSQL database under uvicorn's supervisor, which restarts a worker that dies
(helpdesk.ops.workers); it is refused on SQLite (one writing process) and in polling mode
(one getUpdates caller). N processes started by hand (systemd, docs/deploy.md) with the same
settings, one port each or one port with SO_REUSEPORT, work the same way.
With `bot.webhook.serve_api` the REST API is served on the webhook's port too.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import sys

from telegram.error import InvalidToken, TelegramError

from engine import heap
from engine.telegram.bot import BotConfig, TelegramBot
from engine.telegram.sender import Limits
from helpdesk.app import build_app

from ..deliveries import log_undelivered
from . import jobs, logs
from .logs import redact, redactable_secrets
from .reporting import BugReporter, make_supervisor, tell_admins_about_reloads

__all__ = ["run", "assemble", "bot_config", "command_texts", "token_refused", "NOT_PUBLISHED"]

log = logging.getLogger(__name__)
NO_TOKEN = ("error: no bot token. Get one from @BotFather in Telegram (/newbot) and put it in "
            "the BOT_TOKEN environment variable or in settings.yaml as bot.token.")
# Commands only some users may run: they work, but are not offered to everyone in the menu.
NOT_PUBLISHED = frozenset({"reload"})


def command_texts(settings, templates) -> dict[str, list[tuple[str, str]]]:
    """lang -> [(command, description)] from templates/<lang>/commands/<name>.j2."""
    out: dict[str, list[tuple[str, str]]] = {}
    public = [name for name in settings.engine.commands if name not in NOT_PUBLISHED]
    for lang in settings.engine.languages:
        out[lang] = [(name, templates.render(f"commands/{name}", lang, {}))
                     for name in public if templates.exists(f"commands/{name}", lang)]
    return out


def bot_config(settings, templates, *, workers: int = 1) -> BotConfig:
    """The transport's settings; with `workers` processes each takes its share of
    Telegram's overall message rate."""
    b, w = settings.bot, settings.bot.webhook
    sqlite = settings.database.url.startswith("sqlite")
    limits = Limits(overall_per_second=Limits().overall_per_second / workers)
    return BotConfig(token=b.token.get_secret_value(), api_url=b.api_url, mode=b.mode,
                     poll_timeout=b.poll_timeout, webhook_url=w.url, listen=w.listen, port=w.port,
                     path=w.path, secret_token=w.secret_token.get_secret_value(),
                     provider_token=b.payment.get_secret_value(),
                     timeout_check_seconds=settings.engine.timeout_check_seconds,
                     commands=command_texts(settings, templates),
                     default_language=settings.engine.default_language, limits=limits,
                     lease_seconds=b.lease_seconds, reuse_port=not sqlite,
                     heartbeat_seconds=settings.engine.heartbeat_seconds,
                     max_inbox_age=settings.engine.health_max_inbox_age_seconds)


def run(settings, args) -> int:
    workers = getattr(args, "workers", None) or settings.bot.workers
    problem = _refusal(settings, workers)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if workers > 1:
        from .workers import run_workers
        return run_workers(settings, workers)
    return _worker(settings)


def _worker(settings) -> int:
    """One bot process: the transport, the jobs, until SIGTERM/SIGINT."""
    logs.configure(settings)
    bot, scheduler = assemble(settings)
    heap.freeze_startup()                    # full collections must not stall the loop
    try:
        asyncio.run(_serve(bot))
    except InvalidToken:
        print(token_refused(settings), file=sys.stderr)
        return 2
    except TelegramError as e:
        print(f"error: Telegram Bot API at {settings.bot.api_url}: {redact(str(e), redactable_secrets(settings))}",
              file=sys.stderr)
        return 1
    finally:
        jobs.stop(scheduler)
    return 0


def assemble(settings, *, workers: int = 1, serve_webhook: bool = True):
    """The parts of one bot process, built and not started: the app, the transport and the
    process's one scheduler, carrying the helpdesk's jobs (the bot starts it with its own). `workers` processes share
    Telegram's rate; without `serve_webhook` a server outside the bot serves its webhook."""
    # Engine steps run in a worker thread and release the GIL at every database call; with
    # the default 5 ms switch interval each re-acquisition can wait 5 ms behind the event
    # loop (a convoy, measured in bench/e2e.py). 0.1 ms measured best of 5, 1 and 0.1 ms for
    # latency once; with the hot queries hand-written, 1 ms costs ~10% less CPU per update
    # than 0.1 ms (fewer forced GIL hand-offs) at an equal or lower p99 (bench/e2e.py
    # --ours-only, alternated runs in one session, issue 15 point 4)
    sys.setswitchinterval(0.001)
    log_undelivered(settings)
    app = build_app(settings)
    templates = app.engine.flowset.templates
    reporter = BugReporter(settings, templates)
    app.engine.on_error = reporter.on_engine_error
    tell_admins_about_reloads(app)
    supervisor = make_supervisor(settings, reporter.report)
    config = bot_config(settings, templates, workers=workers)
    config.serve_webhook = serve_webhook
    scheduler = jobs.process_scheduler()
    jobs.add_jobs(scheduler, app)
    bot = TelegramBot(app.engine, config, on_error=reporter.report, extra_app=_api(app),
                      supervisor=supervisor, scheduler=scheduler)
    reporter.direct = bot.send_soon
    return bot, scheduler


def token_refused(settings) -> str:
    return (f"error: the Bot API server at {settings.bot.api_url} refused the token; check "
            "BOT_TOKEN (or bot.token) against @BotFather")


def _api(app):
    """The REST API's ASGI app when it is to share the webhook's port."""
    if app.settings.bot.mode != "webhook" or not app.settings.bot.webhook.serve_api:
        return None
    from helpdesk.api.server import create_api
    return create_api(app)                   # refuses (SettingsError) without api.tokens


def _refusal(settings, workers: int) -> str | None:
    if not settings.bot.token.get_secret_value():
        return NO_TOKEN
    if workers > 1 and settings.database.url.startswith("sqlite"):
        return (f"error: --workers {workers} needs PostgreSQL (DATABASE_URL=postgresql://...): "
                "SQLite allows one writing process")
    if workers > 1 and settings.bot.mode != "webhook":
        return (f"error: --workers {workers} needs webhook mode (bot.mode: webhook): only one "
                "process may call getUpdates, so long polling runs one worker")
    if settings.bot.mode == "webhook" and not (settings.bot.webhook.url and
                                               settings.bot.webhook.secret_token.get_secret_value()):
        return ("error: webhook mode needs bot.webhook.url (the public HTTPS address) and "
                "bot.webhook.secret_token (any 1-256 characters A-Z a-z 0-9 _ -)")
    return None


async def _serve(bot: TelegramBot) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, bot.stop)
    await bot.run()
