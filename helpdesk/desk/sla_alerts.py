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
from helpdesk.directory.tables import Counterparty
from helpdesk.notices import GROUP, queue_notice, queue_reply

from . import staff
from .topics import into_thread

__all__ = ["Alerts", "TEMPLATES"]

WARNING, BREACH, BREACH_DISPATCHER = "desk/sla_warning", "desk/sla_breach", "desk/sla_breach_dispatcher"
TEMPLATES = (WARNING, BREACH, BREACH_DISPATCHER)


class Alerts:
    """Queues the messages of fired timers. What every message of a run shares (the
    dispatchers, languages, company names) is read once per run: a run after an outage
    fires thousands (bench/desk.py)."""

    def __init__(self, settings, templates):
        self.settings, self.templates = settings, templates
        self._dispatchers: list[int] | None = None
        self._langs: dict[int, str | None] = {}
        self._companies: dict[int, str] = {}

    @property
    def dispatchers(self) -> list[int]:
        if self._dispatchers is None:
            self._dispatchers = staff.dispatcher_ids()
        return self._dispatchers

    def _lang(self, chat_id: int) -> str | None:
        if chat_id not in self._langs:
            self._langs[chat_id] = language_of(chat_id)
        return self._langs[chat_id]

    def _context(self, timer, ticket) -> dict:
        """The templates' variables: the ticket (what the messages show of it) and the target."""
        view = {"id": ticket.id, "label": ticket.label, "type": ticket.type,
                "counterparty": self._company(ticket.counterparty_id),
                "master": ticket.master_name or "", "description": ticket.description}
        return {"ticket": view, "kind": timer.kind, "due": timer.due_at,
                "target_hours": round(timer.target / 3600, 2)}

    def _company(self, counterparty_id: int | None) -> str:
        if not counterparty_id:
            return ""
        if counterparty_id not in self._companies:
            row = Counterparty.get_or_none(Counterparty.id == counterparty_id)
            self._companies[counterparty_id] = row.name if row else ""
        return self._companies[counterparty_id]

    def warn(self, timer, ticket) -> int:
        """The warning into the ticket's thread; how many messages were queued."""
        return self._thread(ticket, WARNING, self._context(timer, ticket), f"{_key(timer)}:warn")

    def breach(self, timer, ticket) -> int:
        """A line in the thread and a private message to each dispatcher."""
        context, key = self._context(timer, ticket), f"{_key(timer)}:breach"
        count = self._thread(ticket, BREACH, context, key)
        for user_id in self.dispatchers:
            queue_notice(self.templates, user_id, BREACH_DISPATCHER, context,
                         key=f"{key}:{user_id}", priority=GROUP, lang=self._lang(user_id) or "")
            count += 1
        return count

    def _thread(self, ticket, template: str, context: dict, key: str) -> int:
        s = self.settings.notify.system
        if not (s.use and s.work_group_id):
            return 0                          # no work group: only the dispatchers hear of it
        text = self.templates.render(template, self._lang(s.work_group_id), context)
        queue_reply(into_thread(ticket.id, Reply(s.work_group_id, text)), key=key, priority=GROUP)
        return 1


def _key(timer) -> str:
    return f"t{timer.ticket_id}:sla:{timer.kind}"
