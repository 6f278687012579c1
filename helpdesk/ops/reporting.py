"""What the operators are told: an error of any task goes to the `notify.bug` Telegram user
(at most one message per `min_interval_seconds`, the rest counted into the next, every
secret of the settings redacted; sent at once, past the queue, when the queue's database is
what fails), and a rejected flow reload goes to `engine.admins` with its file:line:col
problems. Used by the bot and the api processes alike (no transport is imported here).
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time

from engine.events import Event, Reply
from engine.storage import write_tx
from engine.supervisor import Supervisor
from helpdesk.notices import OPS, queue_notice, queue_reply
from helpdesk.registry import registry

from .logs import redact, redactable_secrets

__all__ = ["BugReporter", "make_supervisor", "tell_admins_about_reloads"]

log = logging.getLogger(__name__)
registry.register_texts("bug reports", ("bot/bug_report",))      # to the bug recipient


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
        self.secrets = redactable_secrets(settings)
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
                queue_reply(reply, priority=OPS)
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
        return redact(text, self.secrets)


def make_supervisor(settings, on_error) -> Supervisor:
    """The process's one supervisor, with the backoff and report interval of the settings."""
    e = settings.engine
    return Supervisor(on_error=on_error, backoff=e.restart_backoff_seconds,
                      backoff_max=e.restart_backoff_max_seconds,
                      report_interval=settings.notify.bug.min_interval_seconds)


def tell_admins_about_reloads(app) -> None:
    """Send every rejected flow reload (with its file:line:col problems) to engine.admins.
    The queue key names the files' state and the problems, so the workers that all saw the
    same bad edit queue one message per admin, not one each."""
    from engine.tools.reload import fingerprint
    from helpdesk.config import project_path

    def listener(result) -> None:
        admins = app.settings.engine.admins
        if result.ok or not admins:
            return
        e = app.settings.engine
        stamp = repr(fingerprint(project_path(e.flows_dir), project_path(e.templates_dir)))
        key = hashlib.sha1((stamp + "\n".join(result.problems)).encode()).hexdigest()[:20]
        context = _reload_context(result)
        with write_tx():
            for admin in admins:
                queue_notice(app.engine.flowset.templates, admin, "admin/reload_failed", context,
                             key=f"reload-rejected:{key}:{admin}", priority=OPS,
                             lang=e.default_language)
    app.services.reloader.subscribe(listener)


def _reload_context(result) -> dict:
    from helpdesk.actions.admin import MAX_ERRORS_SHOWN
    return {"reload": {"allowed": True, "ok": False, "version": result.version,
                       "errors": result.problems[:MAX_ERRORS_SHOWN],
                       "count": len(result.problems)}}
