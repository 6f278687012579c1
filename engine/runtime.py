"""The interpreter: one `Event` in, `Reply` objects out, the conversation saved in between.

`Engine.handle` loads the conversation, runs one `Step` inside one write transaction and
saves it; an optional `in_tx` hook runs in the same transaction (the Telegram transport
marks its inbox row done there, so an update's effect and its "done" mark commit together).
An exception rolls everything back: the user gets an apology, the conversation stays where
it was, and the error is logged with `flow/state/action` and passed to `on_error`.
A database error (`storage.is_database_error`: locked, disk full, connection lost) is not
the flow's failure and gets no apology: it is raised to the transport, which keeps the
update and applies it again once the database answers.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from .errors import NotYet
from .events import Event, Reply
from .flowset import FlowSet
from .registry import Registry
from .session import Conversation, load_session, save_session, utcnow
from .step import Step
from .storage import is_database_error, write_tx

__all__ = ["Engine", "Step"]

log = logging.getLogger(__name__)


class Engine:
    """Runs flows for every conversation; transport-neutral."""

    def __init__(self, flowset: FlowSet, registry: Registry, *, services: Any = None,
                 max_auto_steps: int = 50, on_error: Callable[[Event, BaseException], None] | None = None):
        registry.freeze()
        self.flowset = flowset
        self.registry = registry
        self.services = services
        self.max_auto_steps = max_auto_steps
        self.on_error = on_error

    def reload(self, flowset: FlowSet) -> None:
        """Swap in a checked flow set; live conversations continue (or go to the menu)."""
        self.flowset = flowset
        log.info("flows reloaded: version %s", flowset.version)

    def handle(self, event: Event, *, in_tx: Callable[[list[Reply]], None] | None = None) -> list[Reply]:
        flowset = self.flowset   # one consistent set for the whole event, even during a reload
        try:
            with write_tx():
                session = load_session(event.chat_id, event.user_id, for_update=True)
                step = Step(self, flowset, session, event)
                step.run()
                save_session(session)
                if in_tx:
                    in_tx(step.replies)
            return step.replies
        except Exception as e:  # every failure becomes an apology, never a crash
            if is_database_error(e):
                raise       # not the flow's fault: the transport keeps the update and retries
            if isinstance(e, NotYet) and event.may_wait:
                raise       # rolled back; the transport tries the update again later
            return self._failed(flowset, event, e, in_tx)

    def _failed(self, flowset: FlowSet, event: Event, error: BaseException, in_tx) -> list[Reply]:
        log.exception("event failed: chat=%s user=%s kind=%s: %s", event.chat_id, event.user_id,
                      event.kind, error)
        if self.on_error:
            self.on_error(event, error)
        lang = flowset.templates.lang(event.language)
        replies = [Reply(event.chat_id, flowset.templates.render("common/error", lang, {}))]
        if in_tx:
            with write_tx():
                in_tx(replies)
        return replies

    def due_timeouts(self, now=None, *, in_tx: Callable[[list[Reply]], None] | None = None) -> list[Reply]:
        """Reminders and abandonments that are due; run periodically by the transport.
        `in_tx` gets each conversation's replies inside its transaction (to queue them
        durably, as `handle` does)."""
        now = now or utcnow()
        due = (Conversation.select(Conversation.chat_id, Conversation.user_id)
               .where((Conversation.remind_at <= now) | (Conversation.abandon_at <= now)))
        replies: list[Reply] = []
        for row in list(due):
            event = Event(row.chat_id, row.user_id, kind="other")
            with write_tx():
                session = load_session(row.chat_id, row.user_id, for_update=True)
                step = Step(self, self.flowset, session, event)
                step.timeout(now)
                save_session(session)
                if in_tx and step.replies:
                    in_tx(step.replies)
            replies += step.replies
        return replies
