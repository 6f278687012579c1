"""`python run.py bot`: the helpdesk engine behind Telegram.

Reads the token (settings bot.token or BOT_TOKEN), the Bot API root (bot.api_url or
BOT_API_URL), the database (DATABASE_URL), builds the app and runs `engine.telegram`'s
transport in long-polling or webhook mode (bot.mode), plus the helpdesk's periodic jobs
(helpdesk.jobs: CRM sync, lookups, the flow watcher). Errors are reported to the
`notify.bug` Telegram user, at most one message per `min_interval_seconds`, secrets removed
(sent at once, past the queue, when the queue's database is what fails); a rejected flow
reload is sent to `engine.admins` with its file:line:col problems. One `Supervisor` runs
every long-running task of the process, the transport's and the jobs' (docs/deploy.md,
"Health").

`--workers N` (or bot.workers) forks N worker processes that serve one webhook port
(SO_REUSEPORT) on one PostgreSQL database and restarts a worker that dies; it is refused on
SQLite (one writing process) and in polling mode (one getUpdates caller). N processes
started by hand (systemd, docs/deploy.md) with the same settings work the same way.
With `bot.webhook.serve_api` the REST API is served on the webhook's port too.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time

from telegram.error import InvalidToken, TelegramError

from engine import heap, outgoing
from engine.events import Event, Reply
from engine.storage import write_tx
from engine.supervisor import Supervisor
from engine.telegram.bot import BotConfig, TelegramBot
from engine.telegram.sender import Limits

from . import logs
from .app import build_app
from .deliveries import log_undelivered

__all__ = ["run", "BugReporter", "bot_config", "command_texts", "tell_admins_about_reloads",
           "NOT_PUBLISHED", "make_supervisor"]

log = logging.getLogger(__name__)
NO_TOKEN = ("error: no bot token. Get one from @BotFather in Telegram (/newbot) and put it in "
            "the BOT_TOKEN environment variable or in settings.yaml as bot.token.")
BUG_PRIORITY = 2
# Commands only some users may run: they work, but are not offered to everyone in the menu.
NOT_PUBLISHED = frozenset({"reload"})
RESTART_PAUSE = 1.0           # seconds before a dead worker is started again
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


class BugReporter:
    """Sends an error report to `notify.bug.telegram_user_id` through the outgoing queue.

    Rate-limited (one report per `min_interval_seconds`; the rest are counted and mentioned
    in the next one); every secret value of the settings is replaced by *** in the text.
    Safe to call from the event loop (the database write goes to a worker thread). When the
    report cannot be queued (the database is what failed), it goes to `direct(reply)` if
    set: the transport sends it at once (thread-safe; lost only if the process dies first).
    """

    def __init__(self, settings, templates, *, clock=time.monotonic, direct=None):
        self.cfg, self.templates, self.clock = settings.notify.bug, templates, clock
        self.direct = direct
        self.secrets = sorted((s for s in settings.secrets() if len(s) >= 4), key=len, reverse=True)
        self.lang = settings.engine.default_language
        self._lock = threading.Lock()
        self._last: float | None = None
        self._suppressed = 0

    def on_engine_error(self, event: Event, error: BaseException) -> None:
        self.report(f"chat {event.chat_id}, update {event.update_id}, {event.kind}", error)

    def report(self, where: str, error: BaseException) -> None:
        if not self.cfg.use or not self.cfg.telegram_user_id:
            return
        suppressed = self._take_turn()
        if suppressed is None:
            return
        reply = Reply(self.cfg.telegram_user_id, self._text(where, error, suppressed))
        try:
            asyncio.get_running_loop().run_in_executor(None, self._deliver, reply)
        except RuntimeError:                  # not on the loop: a worker thread may block
            self._deliver(reply)

    def _deliver(self, reply: Reply) -> None:
        try:
            with write_tx():
                outgoing.enqueue(reply, priority=BUG_PRIORITY)
            return
        except Exception:  # reporting must never raise into the failing code
            log.exception("bug report not queued%s", "; sending it directly" if self.direct else "")
        if self.direct is not None:
            try:
                self.direct(reply)
            except Exception:  # as above
                log.exception("bug report not sent")

    def _take_turn(self) -> int | None:
        """How many reports were suppressed before this one; None when this one is too."""
        with self._lock:
            now = self.clock()
            if self._last is not None and now - self._last < self.cfg.min_interval_seconds:
                self._suppressed += 1
                return None
            self._last, suppressed, self._suppressed = now, self._suppressed, 0
            return suppressed

    def _text(self, where: str, error: BaseException, suppressed: int) -> str:
        context = {"where": self.redact(where), "error_type": type(error).__name__,
                   "error": self.redact(str(error))[:500], "suppressed": suppressed,
                   "interval": int(self.cfg.min_interval_seconds)}
        return self.templates.render("bot/bug_report", self.lang, context)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def make_supervisor(settings, on_error) -> Supervisor:
    """The process's one supervisor, with the backoff and report interval of the settings."""
    e = settings.engine
    return Supervisor(on_error=on_error, backoff=e.restart_backoff_seconds,
                      backoff_max=e.restart_backoff_max_seconds,
                      report_interval=settings.notify.bug.min_interval_seconds)


def command_texts(settings, templates) -> dict[str, list[tuple[str, str]]]:
    """lang -> [(command, description)] from templates/<lang>/commands/<name>.j2."""
    out: dict[str, list[tuple[str, str]]] = {}
    public = [name for name in settings.engine.commands if name not in NOT_PUBLISHED]
    for lang in settings.engine.languages:
        out[lang] = [(name, templates.render(f"commands/{name}", lang, {}))
                     for name in public if templates.exists(f"commands/{name}", lang)]
    return out


def tell_admins_about_reloads(app) -> None:
    """Send every rejected flow reload (with its file:line:col problems) to engine.admins.
    The queue key names the files' state and the problems, so the workers that all saw the
    same bad edit queue one message per admin, not one each."""
    from engine.tools.reload import fingerprint

    from .config import project_path

    def listener(result) -> None:
        admins = app.settings.engine.admins
        if result.ok or not admins:
            return
        e = app.settings.engine
        stamp = repr(fingerprint(project_path(e.flows_dir), project_path(e.templates_dir)))
        key = hashlib.sha1((stamp + "\n".join(result.problems)).encode()).hexdigest()[:20]
        text = _reload_text(app, result)
        with write_tx():
            for admin in admins:
                outgoing.enqueue(Reply(admin, text), key=f"reload-rejected:{key}:{admin}",
                               priority=BUG_PRIORITY)
    app.services.reloader.subscribe(listener)


def _reload_text(app, result) -> str:
    from .actions.admin import MAX_ERRORS_SHOWN
    templates = app.engine.flowset.templates
    context = {"reload": {"allowed": True, "ok": False, "version": result.version,
                          "errors": result.problems[:MAX_ERRORS_SHOWN],
                          "count": len(result.problems)}}
    return templates.render("admin/reload_failed", app.settings.engine.default_language, context)


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
        return _supervise(settings, workers)
    return _worker(settings)


def _worker(settings, workers: int = 1) -> int:
    """One bot process: the transport, the jobs, until SIGTERM/SIGINT."""
    from . import jobs
    logs.configure(settings)
    # Engine steps run in a worker thread and release the GIL at every database call; with
    # the default 5 ms switch interval each re-acquisition can wait 5 ms behind the event
    # loop (a convoy, measured in bench/e2e.py). 0.1 ms measured best of 5, 1 and 0.1 ms.
    sys.setswitchinterval(0.0001)
    log_undelivered(settings)
    app = build_app(settings)
    templates = app.engine.flowset.templates
    reporter = BugReporter(settings, templates)
    app.engine.on_error = reporter.on_engine_error
    tell_admins_about_reloads(app)
    supervisor = make_supervisor(settings, reporter.report)
    bot = TelegramBot(app.engine, bot_config(settings, templates, workers=workers),
                      on_error=reporter.report, extra_app=_api(app), supervisor=supervisor)
    reporter.direct = bot.send_soon
    scheduler = jobs.start(app, supervisor)
    heap.freeze_startup()                    # full collections must not stall the loop
    try:
        asyncio.run(_serve(bot))
    except InvalidToken:
        print(f"error: the Bot API server at {settings.bot.api_url} refused the token; check "
              "BOT_TOKEN (or bot.token) against @BotFather", file=sys.stderr)
        return 2
    except TelegramError as e:
        print(f"error: Telegram Bot API at {settings.bot.api_url}: {reporter.redact(str(e))}",
              file=sys.stderr)
        return 1
    finally:
        scheduler.shutdown(wait=False)
    return 0


def _api(app):
    """The REST API's ASGI app when it is to share the webhook's port."""
    if app.settings.bot.mode != "webhook" or not app.settings.bot.webhook.serve_api:
        return None
    from .api.server import create_api
    return create_api(app)                   # refuses (SettingsError) without api.tokens


# -- several workers -------------------------------------------------------------------------
def _supervise(settings, workers: int) -> int:
    """Fork `workers` processes and keep them running until SIGTERM/SIGINT; a worker that
    dies is started again (its unfinished rows are meanwhile taken over by the others)."""
    ctx = multiprocessing.get_context("fork")    # nothing is connected or threaded yet
    stopping = threading.Event()
    logs.configure(settings)                     # the supervisor's own lines (restarts)

    def stop(signum, frame) -> None:
        stopping.set()
    for sig in STOP_SIGNALS:
        signal.signal(sig, stop)
    procs = {i: _spawn_worker(ctx, settings, i, workers) for i in range(workers)}
    print(f"{workers} webhook workers on port {settings.bot.webhook.port}: "
          f"pids {', '.join(str(p.pid) for p in procs.values())}", flush=True)
    code = _watch(ctx, settings, procs, workers, stopping)
    for proc in procs.values():
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGTERM)
    for proc in procs.values():
        proc.join(60)
    return code


def _watch(ctx, settings, procs: dict, workers: int, stopping: threading.Event) -> int:
    while not stopping.is_set():
        multiprocessing.connection.wait([p.sentinel for p in procs.values()], timeout=0.5)
        for i, proc in list(procs.items()):
            if proc.is_alive() or stopping.is_set():
                continue
            if proc.exitcode == 2:               # bad settings or token: restarting is pointless
                print(f"error: worker {i} refused to start (exit code 2)", file=sys.stderr)
                return 2
            log.error("worker %s (pid %s) exited with %s; starting it again", i, proc.pid, proc.exitcode)
            if stopping.wait(RESTART_PAUSE):
                break
            procs[i] = _spawn_worker(ctx, settings, i, workers)
    return 0


def _spawn_worker(ctx, settings, index: int, workers: int):
    proc = ctx.Process(target=_worker_main, args=(settings, index, workers),
                       name=f"bot-worker-{index}", daemon=False)
    # A SIGTERM arriving between the fork and the child's own handlers would reach the
    # supervisor's handler copied into the child and be lost: hold signals over the fork.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        proc.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    return proc


def _worker_main(settings, index: int, workers: int) -> None:
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)     # until the bot's loop takes them over
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    sys.exit(_worker(_own_log_file(settings, index), workers))


def _own_log_file(settings, index: int):
    """Each worker writes its own log file (bot.log -> bot.1.log): a rotating file handler
    rotates one file from one process only."""
    if not settings.logging.file:
        return settings
    root, ext = os.path.splitext(settings.logging.file)
    log_settings = settings.logging.model_copy(update={"file": f"{root}.{index}{ext}"})
    return settings.model_copy(update={"logging": log_settings})

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
