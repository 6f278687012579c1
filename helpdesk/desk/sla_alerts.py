"""What a due SLA timer says (helpdesk/desk/sla.py fires them).

A warning goes into the ticket's thread in the work group (its topic, else a reply to its
card: `topics.into_thread`); a breach goes there too and to every dispatcher in a private
message. Everything is queued in the firing transaction with a unique key
(`t<id>:sla:<kind>:warn`, `...:breach`, `...:breach:<dispatcher>`), so a stage that fired
is never queued twice, and a rollback queues nothing.
"""
from __future__ import annotations

from engine.events import Reply
from helpdesk.directory import language_of
from helpdesk.notices import GROUP, queue_notice, queue_reply
from helpdesk.tickets.view import ticket_view

from . import staff
from .topics import into_thread

__all__ = ["Alerts", "TEMPLATES"]

WARNING, BREACH, BREACH_DISPATCHER = "desk/sla_warning", "desk/sla_breach", "desk/sla_breach_dispatcher"
TEMPLATES = (WARNING, BREACH, BREACH_DISPATCHER)


class Alerts:
    """Queues the messages of fired timers; the dispatchers are read once per run."""

    def __init__(self, settings, templates):
        self.settings, self.templates = settings, templates
        self._dispatchers: list[int] | None = None

    @property
    def dispatchers(self) -> list[int]:
        if self._dispatchers is None:
            self._dispatchers = staff.dispatcher_ids()
        return self._dispatchers

    def warn(self, timer, ticket) -> int:
        """The warning into the ticket's thread; how many messages were queued."""
        return self._thread(ticket, WARNING, _context(timer, ticket), f"{_key(timer)}:warn")

    def breach(self, timer, ticket) -> int:
        """A line in the thread and a private message to each dispatcher."""
        context, key = _context(timer, ticket), f"{_key(timer)}:breach"
        count = self._thread(ticket, BREACH, context, key)
        for user_id in self.dispatchers:
            queue_notice(self.templates, user_id, BREACH_DISPATCHER, context,
                         key=f"{key}:{user_id}", priority=GROUP)
            count += 1
        return count

    def _thread(self, ticket, template: str, context: dict, key: str) -> int:
        s = self.settings.notify.system
        if not (s.use and s.work_group_id):
            return 0                          # no work group: only the dispatchers hear of it
        text = self.templates.render(template, language_of(s.work_group_id), context)
        queue_reply(into_thread(ticket.id, Reply(s.work_group_id, text)), key=key, priority=GROUP)
        return 1


def _context(timer, ticket) -> dict:
    return {"ticket": ticket_view(ticket), "kind": timer.kind, "due": timer.due_at,
            "target_hours": round(timer.target / 3600, 2)}


def _key(timer) -> str:
    return f"t{timer.ticket_id}:sla:{timer.kind}"
