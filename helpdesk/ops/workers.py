"""`python run.py bot --workers N`: N webhook worker processes under uvicorn's supervisor.

The parent binds the webhook's port once and hands the socket to N worker processes
(`uvicorn.supervisors.Multiprocess`, spawned); each runs the app factory `worker_app`, whose
lifespan builds and starts one whole bot (the transport in webhook mode, its sender and
scheduler, the helpdesk's jobs: one set per process) and stops it at the end. The kernel
spreads the connections over the workers; every worker takes its share of Telegram's
overall rate (`bot_config`), and with `bot.webhook.serve_api` serves the REST API too.

uvicorn's supervisor, as this relies on it (uvicorn 0.54, supervisors/multiprocess.py):
- every 0.5 s it pings each worker; one that died (SIGKILL, a crash) or does not answer
  within `timeout_worker_healthcheck` (HEALTHCHECK_SECONDS) is killed and started again at
  once, with no pause;
  its unfinished rows are meanwhile taken over by the others (engine.telegram.bot);
- a worker that exits with code 3 (STARTUP_FAILURE: the app factory could not be loaded, or
  its lifespan startup raised) is not restarted: the supervisor stops every worker and
  returns, as if told to stop. Any other exit code is restarted, however early it came.
  So nothing may fail in the factory itself (that would be exit code 1 and a restart every
  0.5 s, forever): the work is in the lifespan, and `run_workers` turns a startup failure
  into exit code 1 (uvicorn's own `run()` would have returned 0);
- a bad token would fail every worker's start the same way: the parent asks Telegram
  (getMe) before it starts any and refuses with exit code 2, like one process does (a token
  revoked between that check and a worker's start is that worker's startup failure: 1);
- SIGTERM/SIGINT: the parent sends SIGTERM to each worker and waits for it; a worker stops
  accepting, answers what it has, then its lifespan shutdown runs the bot's bounded
  shutdown (Sender.wait_idle's grace, outgoing.release_held). SIGHUP replaces the workers
  one by one (each new one serving before the old one stops); SIGTTIN/SIGTTOU add/remove one.

Each worker logs to a file of its own (bot.log -> bot.0.log, bot.1.log, ...; a rotating
file handler rotates one file from one process only): its number is the lowest whose lock
file (bot.N.lock, next to the log) no live worker holds, so a restarted worker takes the
dead one's number. The parent's own lines (a worker died) go to bot.log.
"""
from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import itertools
import logging
import os
import socket
import sys

import uvicorn
from telegram.error import InvalidToken, TelegramError
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from engine import heap
from engine.telegram.asgi import bot_asgi
from engine.telegram.bot import BotConfig, make_bot

from . import jobs, logs
from .bot import assemble, token_refused
from .logs import redact, redactable_secrets

__all__ = ["run_workers", "worker_app", "claim_number", "own_log_file"]

log = logging.getLogger(__name__)
GRACEFUL_SECONDS = 10           # a worker told to stop waits this long for requests in progress
# A worker answers the supervisor's ping from a thread it starts only once it has imported
# the app factory's modules (the whole bot): uvicorn's default of 5 s killed workers still
# importing on a busy 2-core machine (seen: "Child process [..] died" at start). A worker
# that hangs is found this much later.
HEALTHCHECK_SECONDS = 30


def run_workers(settings, workers: int) -> int:
    """Serve the webhook with `workers` processes until SIGTERM/SIGINT; the exit code."""
    logs.configure(settings)                     # the parent's own lines (a worker died)
    _require_api_tokens(settings)
    refused = asyncio.run(_check_token(settings))
    if refused:
        return refused
    w = settings.bot.webhook
    config = uvicorn.Config(functools.partial(worker_app, settings, workers), factory=True,
                            workers=workers, host=w.listen, port=w.port, lifespan="on",
                            log_config=None, access_log=False, server_header=False,
                            timeout_graceful_shutdown=GRACEFUL_SECONDS,
                            timeout_worker_healthcheck=HEALTHCHECK_SECONDS)
    supervisor = Multiprocess(config, sockets=[_bind(w.listen, w.port)])
    print(f"{workers} webhook workers on port {w.port} under uvicorn's supervisor "
          f"(pid {os.getpid()}); a worker that dies is started again", flush=True)
    supervisor.run()
    failed = [p.pid for p in supervisor.processes if p.exitcode == STARTUP_FAILURE]
    if failed:
        print(f"error: worker process {failed[0]} failed to start, so every worker was stopped; "
              "its log file (bot.N.log) says why", file=sys.stderr)
        return 1
    return 0


def _require_api_tokens(settings) -> None:
    """The REST API on the webhook's port refuses to exist without api.tokens: refuse here
    (SettingsError, exit code 2) rather than in every worker's start."""
    if settings.bot.webhook.serve_api:
        from helpdesk.api.server import _tokens
        _tokens(settings)


async def _check_token(settings) -> int:
    """0, or the exit code when Telegram refuses the token (2) or cannot be asked (1)."""
    bot = make_bot(BotConfig(token=settings.bot.token.get_secret_value(), api_url=settings.bot.api_url))
    try:
        await bot.initialize()                   # getMe
    except InvalidToken:
        print(token_refused(settings), file=sys.stderr)
        return 2
    except TelegramError as e:
        print(f"error: Telegram Bot API at {settings.bot.api_url}: "
              f"{redact(str(e), redactable_secrets(settings))}", file=sys.stderr)
        return 1
    finally:
        await bot.shutdown()
    return 0


def _bind(host: str, port: int) -> socket.socket:
    """The one listening socket every worker accepts on (inherited over the spawn)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))                      # a port in use fails here, before any worker
    sock.set_inheritable(True)
    return sock


# -- in each worker process ------------------------------------------------------------------
def worker_app(settings, workers: int):
    """The app factory uvicorn calls in each worker. It only wraps: what can fail runs in
    the lifespan (see the module docstring on exit codes)."""
    return bot_asgi(functools.partial(_running, settings, workers))


@contextlib.asynccontextmanager
async def _running(settings, workers: int):
    """One worker's bot from start to stop (the lifespan of `worker_app`)."""
    number, lock = claim_number(settings.logging.file)
    try:
        settings = own_log_file(settings, number)
        logs.configure(settings)
        # built on the loop before it serves anything, as one process builds it before its
        # loop runs (the database connection belongs to this thread)
        bot, scheduler = assemble(settings, workers=workers, serve_webhook=False)
        try:
            try:
                await bot.start()
            except InvalidToken:                 # revoked since the parent asked
                print(token_refused(settings), file=sys.stderr)
                raise
            heap.freeze_startup()                # full collections must not stall the loop
            log.info("worker %s (pid %s) serving the webhook on port %s", number, os.getpid(),
                     settings.bot.webhook.port)
            try:
                yield bot
            finally:
                await bot.shutdown()
        finally:
            jobs.stop(scheduler)
    finally:
        if lock is not None:
            lock.close()


def claim_number(log_file: str):
    """(number, lock): the lowest worker number whose lock file no live process holds. The
    kernel drops a lock with its process (SIGKILL too), so a restarted worker gets the
    number of the one it replaces. Without a log file there is nothing to share: (0, None)."""
    if not log_file:
        return 0, None
    root, _ = os.path.splitext(log_file)
    os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
    for number in itertools.count():             # SIGHUP: N + 1 live for a moment
        lock = open(f"{root}.{number}.lock", "a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        return number, lock


def own_log_file(settings, number: int):
    """The settings with the worker's own log file (bot.log -> bot.<number>.log)."""
    if not settings.logging.file:
        return settings
    root, ext = os.path.splitext(settings.logging.file)
    log_settings = settings.logging.model_copy(update={"file": f"{root}.{number}{ext}"})
    return settings.model_copy(update={"logging": log_settings})
