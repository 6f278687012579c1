"""The Telegram transport assembled: bot, inbox replay, dispatcher, sender, polling or
webhook, timeouts. `TelegramBot.run()` serves until `stop()` (or SIGINT/SIGTERM).

On PostgreSQL the transport runs `shared`: any number of processes may serve one bot on one
database (webhook mode). Then nothing here assumes it is alone: one chat's updates are
applied under the chat's lock (`SharedDispatcher`), outgoing rows are claimed with leases and
SKIP LOCKED (`Sender`), rows a killed worker leased are sent by the others when the lease
runs out (not released at start, which would steal the rows of live workers), a periodic
sweep applies inbox rows left pending by a dead worker, and the timeouts job is safe to run
in every worker (a conversation is locked and re-read before its reminder is queued).

Every long-running part runs under one `engine.supervisor.Supervisor` (given, or made here
with `on_error`): the poller or the webhook server, the dispatcher's recovery task, the
sender, the lag monitor, the heartbeat (engine.health) and the transport's scheduler jobs.
A part that fails is logged, reported and restarted with backoff; `health()` is the JSON
of `GET /healthz` (webhook port) and, through the heartbeat rows, of `run.py health`.
"""
from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from telegram import Bot, BotCommand
from telegram.error import InvalidToken

from .. import health, outgoing
from ..runtime import Engine
from ..storage import is_sqlite
from ..supervisor import Supervisor
from . import inbox
from .aiohttp_request import AiohttpRequest
from .dispatcher import Dispatcher
from .lag import LagMonitor
from .local_dispatcher import LocalDispatcher
from .polling import ALLOWED_UPDATES, Poller
from .sender import Limits, Sender
from .shared_dispatcher import SharedDispatcher
from .webhook import WebhookServer

__all__ = ["TelegramBot", "BotConfig", "make_bot"]

log = logging.getLogger(__name__)
TIMEOUT_PRIORITY = 1        # reminders are paced like notifications


@dataclass
class BotConfig:
    """What the transport needs; `helpdesk.telegram_main` fills it from settings."""
    token: str
    api_url: str = "https://api.telegram.org"
    mode: str = "polling"                       # polling | webhook
    poll_timeout: int = 10
    webhook_url: str = ""                       # public URL Telegram posts to
    listen: str = "127.0.0.1"
    port: int = 8443
    path: str = "/telegram"
    secret_token: str = ""
    provider_token: str = ""
    timeout_check_seconds: float = 30
    concurrency: int = 8
    limits: Limits = field(default_factory=Limits)
    commands: dict[str, list[tuple[str, str]]] = field(default_factory=dict)   # lang -> [(name, description)]
    default_language: str = "ru"
    shared: bool | None = None                  # several workers on one database; None: on PostgreSQL
    lease_seconds: float = 60                   # a claimed outgoing row is another worker's after this
    reuse_port: bool = False                    # webhook: SO_REUSEPORT (several processes, one port)
    serve_webhook: bool = True                  # webhook: bind and serve the port here; False: a
                                                # server outside the bot serves webhook_app()
    sweep_seconds: float = 5                    # shared: apply inbox rows pending longer than this
    backoff_seconds: float = 0.5                # a failed task restarts after this, doubled per failure
    backoff_max_seconds: float = 10             # ... up to this
    report_interval: float = 60                 # at most one bug report per task per this many seconds
    heartbeat_seconds: float = 0                # write the health row this often (0: never)
    max_inbox_age: float = 60                   # health: an update pending longer is unhealthy
    topic_grace: float = 15                     # an unconfirmed topic creation waits this long for
                                                # its service update before trying again (forum.py)
    health_role: str = "bot"                    # what the heartbeat row says this process is
    patience: float = 3                         # an update a handler puts off (NotYet: the bot's
                                                # message it answers not marked yet) is tried
                                                # again for this long, then decided (patience.py)
    queue_poll_seconds: float = 0.5             # the sender looks for due outgoing rows this often
                                                # (and at once when something is queued for it)


def _queue_reminders(replies) -> None:
    for reply in replies:
        outgoing.enqueue(reply, priority=TIMEOUT_PRIORITY)


def make_bot(config: BotConfig) -> Bot:
    """A PTB `Bot` talking to `config.api_url` (Telegram, a local Bot API server, a fake)."""
    root = config.api_url.rstrip("/")
    return Bot(config.token, base_url=f"{root}/bot", base_file_url=f"{root}/file/bot",
               # aiohttp, not PTB's default httpx: a quarter of the CPU per request (see
               # aiohttp_request.py); a small pool is plenty on keep-alive
               request=AiohttpRequest(connection_pool_size=8, pool_timeout=30, read_timeout=15),
               get_updates_request=AiohttpRequest(connection_pool_size=1,
                                                  read_timeout=config.poll_timeout + 10))


class TelegramBot:
    """Runs the engine behind Telegram; see the package docstring for the guarantees.

    Args:
        engine: the engine.
        config: see `BotConfig`.
        on_error: called with (what, exception) for failures of the transport itself.
        extra_app: an ASGI application served on the webhook's port (the REST API).
        supervisor: runs the long-running tasks (default: one made from `config`, reporting
            to `on_error`); pass the process's own to share it with other parts.
    """

    def __init__(self, engine: Engine, config: BotConfig, *,
                 on_error: Callable[[str, BaseException], None] | None = None, extra_app=None,
                 supervisor: Supervisor | None = None, scheduler: AsyncIOScheduler | None = None):
        self.engine, self.config, self.on_error = engine, config, on_error
        self.extra_app = extra_app
        self.supervisor = supervisor or Supervisor(
            on_error=on_error, backoff=config.backoff_seconds,
            backoff_max=config.backoff_max_seconds, report_interval=config.report_interval)
        self.bot = make_bot(config)
        self.sender: Sender | None = None
        self.dispatcher: Dispatcher | None = None
        self.webhook: WebhookServer | None = None
        self.lag = LagMonitor()
        self._intake: asyncio.Task | None = None
        # the process's one scheduler: the caller's (carrying its own jobs) or the bot's own
        self._scheduler: AsyncIOScheduler = scheduler or AsyncIOScheduler(timezone="UTC")
        self._stop = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started = asyncio.Event()

    async def run(self) -> None:
        """Start, serve until `stop()`, shut down cleanly."""
        await self.start()
        try:
            await self._stop.wait()
        finally:
            await self.shutdown()

    def stop(self) -> None:
        self._stop.set()

    async def start(self) -> None:
        c = self.config
        self._loop = asyncio.get_running_loop()
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(self.threads(), thread_name_prefix="engine"))
        await self.bot.initialize()                # getMe: a wrong token fails here
        log.info("bot @%s via %s%s", self.bot.username, c.api_url,
                 " (shared database: several workers allowed)" if self.shared else "")
        self.sender = Sender(self.bot, limits=c.limits, provider_token=c.provider_token,
                             on_error=self.on_error, lease_seconds=c.lease_seconds,
                             topic_grace=c.topic_grace)
        # the one choice of strategy: several workers on one database, or a process alone
        strategy = SharedDispatcher if self.shared else LocalDispatcher
        self.dispatcher = strategy(self.engine, self.bot, self.sender, concurrency=c.concurrency,
                                   on_error=self.on_error, lease=timedelta(seconds=c.lease_seconds),
                                   patience=c.patience)
        await self._set_commands()
        await asyncio.to_thread(self._recover)
        sup = self.supervisor
        sup.spawn("lag monitor", self.lag.run)
        sup.spawn("sender", lambda: self.sender.drain_forever(c.queue_poll_seconds))
        if c.heartbeat_seconds:
            sup.spawn("heartbeat", lambda: health.beat_forever(
                sup, role=c.health_role, interval=c.heartbeat_seconds))
        await self.replay()
        sup.spawn("dispatcher", self.dispatcher.run)
        self._start_scheduler()
        await self._start_intake()
        self.started.set()

    def webhook_app(self):
        """The webhook's ASGI app (its update path, /healthz, the extra app) once started,
        for a server outside the bot to serve (`BotConfig.serve_webhook` False)."""
        if self.webhook is None:
            raise RuntimeError("the webhook's app exists once the bot has started in webhook mode")
        return self.webhook.app()

    @property
    def shared(self) -> bool:
        return self.config.shared if self.config.shared is not None else not is_sqlite()

    def threads(self) -> int:
        """Worker threads for blocking work (engine steps, database). SQLite takes one writer
        at a time and its busy handler sleeps in steps of up to 100 ms when writers collide
        (measured: p50 300 ms with 8 threads), so on SQLite every blocking call shares one
        thread; PostgreSQL gets `concurrency` steps at once."""
        return 1 if is_sqlite() else self.config.concurrency + 4

    async def replay(self) -> int:
        """Apply inbox rows left pending by a previous run (in update_id order per chat)."""
        rows = await asyncio.to_thread(inbox.pending)
        if rows:
            log.info("replaying %d stored update(s) not applied before the last stop", len(rows))
        self.dispatcher.submit(rows)
        return len(rows)

    def _recover(self) -> None:
        """Replies committed but not confirmed sent by a previous (killed) run are due now.
        Only when this process is alone: with several workers a `sending` row may be a live
        worker's, so it waits for its lease to run out instead."""
        if self.shared:
            return
        n = outgoing.release_leases()
        if n:
            log.info("%d outgoing message(s) of the previous run will be sent again", n)

    async def _start_intake(self) -> None:
        c = self.config
        if c.mode == "webhook":
            self.webhook = WebhookServer(self.dispatcher, secret_token=c.secret_token,
                                         listen=c.listen, port=c.port, path=c.path,
                                         extra_app=self.extra_app, reuse_port=c.reuse_port,
                                         supervisor=self.supervisor, health=self.health)
            if c.serve_webhook:
                await self.webhook.start()
            await self.bot.set_webhook(c.webhook_url, secret_token=c.secret_token,
                                       allowed_updates=ALLOWED_UPDATES)
            log.info("webhook set to %s", c.webhook_url)
        else:
            poller = Poller(self.bot, self.dispatcher, timeout=c.poll_timeout)
            # one Poller across restarts: its offset (what Telegram may forget) survives
            self._intake = self.supervisor.spawn("telegram poller", poller.run, fatal=(InvalidToken,))
            log.info("long polling (timeout %s s)", c.poll_timeout)

    async def _set_commands(self) -> None:
        for lang, commands in self.config.commands.items():
            code = None if lang == self.config.default_language else lang
            await self.bot.set_my_commands([BotCommand(n, d) for n, d in commands], language_code=code)

    def _start_scheduler(self) -> None:
        self._scheduler.add_job(self._timeouts, "interval", seconds=self.config.timeout_check_seconds,
                                id="timeouts", coalesce=True, max_instances=1)
        self._scheduler.add_job(asyncio.to_thread, "interval", args=[inbox.prune], hours=6, id="inbox_prune")
        if self.shared:
            self._scheduler.add_job(self.sweep, "interval", seconds=self.config.sweep_seconds,
                                    id="inbox_sweep", coalesce=True, max_instances=1)
        self.supervisor.watch(self._scheduler)
        self._scheduler.start()

    async def check_timeouts(self) -> int:
        """Reminders and abandonments that are due: queued, then sent by the sender. A
        failure is the supervisor's (logged, reported as job:timeouts); 0 is returned."""
        try:
            return await self._timeouts()
        except Exception as e:  # noqa: BLE001 - the next run tries again
            self.supervisor.failed("job:timeouts", e)
            return 0

    async def _timeouts(self) -> int:
        """The scheduled run (its failure reaches the supervisor's listener)."""
        count = await asyncio.to_thread(self._queue_timeouts)
        if count:
            self.sender.kick()
        return count

    def _queue_timeouts(self) -> int:
        """Each conversation's reminder is queued in that conversation's transaction, so a
        crash cannot lose it, and a second worker finds the reminder already done."""
        return len(self.engine.due_timeouts(in_tx=_queue_reminders))

    async def sweep(self) -> int:
        """Shared mode: wake the chats whose rows have been pending for a while (stored by a
        worker that died before applying them); the chat's lock makes a false alarm cheap.
        A failure reaches the supervisor (the next sweep tries again)."""
        chats = await asyncio.to_thread(inbox.stale_chats,
                                        timedelta(seconds=self.config.sweep_seconds))
        if chats:
            log.info("sweep: %d chat(s) with updates pending for over %s s", len(chats),
                     self.config.sweep_seconds)
        for chat_id in chats:
            self.dispatcher.wake(chat_id)
        return len(chats)

    def send_soon(self, reply) -> None:
        """Send `reply` at once, past the queue (from any thread): for a bug report when the
        queue's database is what failed. Lost if the process dies before it is sent."""
        if self.sender is not None and self._loop is not None and not self._loop.is_closed():
            asyncio.run_coroutine_threadsafe(self.sender.send(reply), self._loop)

    async def health(self) -> dict:
        """This process's health JSON (engine.health): its tasks, live, and the inbox."""
        entry = health.this_process(self.supervisor, self.config.health_role)
        return health.report([entry], await health.read(inbox.backlog), anonymous=True,
                             max_inbox_age=self.config.max_inbox_age)

    async def shutdown(self) -> None:
        """Stop taking updates, finish what was taken, stop sending."""
        if self.webhook:
            await self.webhook.stop()
        if self._intake:
            self._intake.cancel()
            await asyncio.gather(self._intake, return_exceptions=True)
        if self.dispatcher:
            await asyncio.wait_for(self.dispatcher.wait_idle(), 30)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        await self.supervisor.stop()
        if self.sender:
            await self.sender.wait_idle()
        if self.config.heartbeat_seconds:
            await _forget_heartbeat()
        await self.bot.shutdown()
        log.info("stopped; event loop lag %s", json.dumps(self.lag.summary()))


async def _forget_heartbeat() -> None:
    try:
        await asyncio.to_thread(health.forget)
    except Exception:  # a stale row only ages out
        log.warning("could not remove this process's health row", exc_info=True)
