"""`python run.py bot`: the helpdesk engine behind Telegram.

Reads the token (settings bot.token or BOT_TOKEN), the Bot API root (bot.api_url or
BOT_API_URL), the database (DATABASE_URL), builds the app and runs `engine.telegram`'s
transport in long-polling or webhook mode (bot.mode). Errors are reported to the
`notify.bug` Telegram user, at most one message per `min_interval_seconds`, secrets removed.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
import time

from telegram.error import InvalidToken, TelegramError

from engine import notify
from engine.events import Event, Reply
from engine.storage import write_tx
from engine.telegram import BotConfig, TelegramBot

from . import logs
from .app import build_app

__all__ = ["run", "BugReporter", "bot_config", "command_texts"]

log = logging.getLogger(__name__)
NO_TOKEN = ("error: no bot token. Get one from @BotFather in Telegram (/newbot) and put it in "
            "the BOT_TOKEN environment variable or in settings.yaml as bot.token.")
BUG_PRIORITY = 2


class BugReporter:
    """Sends an error report to `notify.bug.telegram_user_id` through the outgoing queue.

    Rate-limited (one report per `min_interval_seconds`; the rest are counted and mentioned
    in the next one); every secret value of the settings is replaced by *** in the text.
    Safe to call from the event loop (the database write goes to a worker thread).
    """

    def __init__(self, settings, templates, *, clock=time.monotonic):
        self.cfg, self.templates, self.clock = settings.notify.bug, templates, clock
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
            asyncio.get_running_loop().run_in_executor(None, _enqueue, reply)
        except RuntimeError:                  # not on the loop: a worker thread may block
            _enqueue(reply)

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


def _enqueue(reply: Reply) -> None:
    try:
        with write_tx():
            notify.enqueue(reply, priority=BUG_PRIORITY)
    except Exception:  # noqa: BLE001 - reporting must never raise into the failing code
        log.exception("bug report not queued")


def command_texts(settings, templates) -> dict[str, list[tuple[str, str]]]:
    """lang -> [(command, description)] from templates/<lang>/commands/<name>.j2."""
    out: dict[str, list[tuple[str, str]]] = {}
    for lang in settings.engine.languages:
        out[lang] = [(name, templates.render(f"commands/{name}", lang, {}))
                     for name in settings.engine.commands if templates.exists(f"commands/{name}", lang)]
    return out


def bot_config(settings, templates) -> BotConfig:
    b, w = settings.bot, settings.bot.webhook
    return BotConfig(token=b.token.get_secret_value(), api_url=b.api_url, mode=b.mode,
                     poll_timeout=b.poll_timeout, webhook_url=w.url, listen=w.listen, port=w.port,
                     path=w.path, secret_token=w.secret_token.get_secret_value(),
                     provider_token=b.payment.get_secret_value(),
                     timeout_check_seconds=settings.engine.timeout_check_seconds,
                     commands=command_texts(settings, templates),
                     default_language=settings.engine.default_language)


def run(settings, args) -> int:
    problem = _refusal(settings, getattr(args, "workers", None) or settings.bot.workers)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    logs.configure(settings)
    # Engine steps run in a worker thread and release the GIL at every database call; with
    # the default 5 ms switch interval each re-acquisition can wait 5 ms behind the event
    # loop (a convoy, measured in bench/e2e.py). 0.1 ms measured best of 5, 1 and 0.1 ms.
    sys.setswitchinterval(0.0001)
    app = build_app(settings)
    templates = app.engine.flowset.templates
    reporter = BugReporter(settings, templates)
    app.engine.on_error = reporter.on_engine_error
    bot = TelegramBot(app.engine, bot_config(settings, templates), on_error=reporter.report)
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
    return 0


def _refusal(settings, workers: int) -> str | None:
    if not settings.bot.token.get_secret_value():
        return NO_TOKEN
    if workers > 1 and settings.database.url.startswith("sqlite"):
        return (f"error: --workers {workers} needs PostgreSQL (DATABASE_URL=postgresql://...): "
                "SQLite allows one writing process")
    if workers > 1:
        return f"error: --workers {workers}: several workers are not available in this build yet; run one"
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
