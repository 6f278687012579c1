"""Ticket notifications, per settings notify.system (the work group) and notify.user
(the author and the counterparty's people).

`Notifier.ticket_event()` runs inside the transaction of the change (TicketService calls it)
and only *queues* (`helpdesk.notices`): a crash after commit loses nothing, a
rollback sends nothing, and the Telegram sender drains the queue within rate limits. Every
row has a unique key `t<id>:v<version>:<what>:<recipient>`, so the same change is never
queued twice; the group post about a new ticket (the ticket's card) has the stable key
`t<id>:post`, which lets later changes edit it in place (helpdesk.desk.cards: only when it
changes, also before it went out; with topics on, in the ticket's own topic).

Who gets what (the seed's system.* / user.* switches):
- work group: new ticket (new_ticket, with Take/Done/Comment buttons), edited or a
  comment added by the client (edit_ticket), closed or cancelled by the client
  (user_closed_ticket), reopened by its author (new_ticket: it is work again), done by a
  technician or closed by the CRM (closed_ticket); the
  group post is also updated in place on every change;
- author: created (new_ticket; also a task the CRM created for them, `details.from_crm`),
  edited (edit_ticket), closed/cancelled/done (closed_ticket), taken / technician
  assigned / waiting for the client / technician comment / the CRM's note or decision /
  done (status_changed); never about what they just did themselves in the dialog;
- the counterparty's confirmed people with the company-notifications right: new tickets
  (company_new_tickets); a pending member gets nothing.
Texts are templates (ticket/notify_*) in the recipient's language (TelegramUser.language).
"""
from __future__ import annotations

import logging
from typing import Callable

from engine.events import Reply
from helpdesk import directory
from helpdesk.desk import cards
from helpdesk.desk.topics import into_thread
from helpdesk.directory.roles import Right
from helpdesk.notices import GROUP, PERSON, queue_notice, queue_reply
from helpdesk.registry import registry

from .tables import Ticket
from .view import ticket_view
from .workgroup import group_post

__all__ = ["Notifier", "AUTHOR_SWITCHES"]

log = logging.getLogger(__name__)
# the notices are rendered here, for whichever action changed the ticket: checked and traced
registry.register_texts("ticket notices", ("ticket/notify_group", "ticket/notify_author",
                                           "ticket/notify_company"))

# what happened -> the notify.user switches, any of which sends it to the author
AUTHOR_SWITCHES = {
    "created": ("new_ticket",), "edited": ("edit_ticket",), "added": ("edit_ticket",),
    "cancelled": ("closed_ticket",), "closed": ("closed_ticket",),
    "done": ("closed_ticket", "status_changed"), "taken": ("status_changed",),
    "assigned": ("status_changed",), "waiting": ("status_changed",),
    "comment": ("status_changed",),
}


class Notifier:
    """Builds and enqueues ticket notifications.

    Args:
        settings: the Settings (notify.*).
        templates: a callable returning the current `engine.templates.Templates` (flows
            can be reloaded, so it is looked up at each use).
        listeners: more reactions to every ticket change, in the change's transaction:
            `fn(notifier, ticket, what, actor, context) -> int | None` (messages queued);
            the support desk's topic, SLA timers and rating request (helpdesk/app.py).
    """

    def __init__(self, settings, templates: Callable, listeners: tuple[Callable, ...] = ()):
        self.settings, self._templates = settings, templates
        self.listeners = listeners

    @property
    def templates(self):
        return self._templates()

    def ticket_event(self, ticket: Ticket, what: str, *, actor, details: dict | None = None) -> int:
        """Queue every notification `what` (created, edited, taken, ...) causes; the count."""
        view = ticket_view(ticket)
        context = {"ticket": view, "what": what, "actor": getattr(actor, "name", "") or "",
                   "details": details or {}}
        count = self._group(ticket, what, actor, context)
        count += self._author(ticket, what, actor, context)
        count += self._company(ticket, what, actor, context)
        for listener in self.listeners:   # the desk's parts (topic, SLA, rating): same tx
            count += listener(self, ticket, what, actor, context) or 0
        return count

    # -- the work group ----------------------------------------------------------------
    def _group(self, ticket: Ticket, what: str, actor, context: dict) -> int:
        s = self.settings.notify.system
        if not (s.use and s.work_group_id):
            return 0
        if what == "created":
            return self._enqueue_post(ticket, context) if s.new_ticket else 0
        count = self._update_post(ticket, actor)
        if self._group_switch(what, actor):      # into the ticket's thread (topic, or card)
            text = self.templates.render("ticket/notify_group", None, dict(context))
            queue_reply(into_thread(ticket.id, Reply(s.work_group_id, text)),
                        key=f"{_key(ticket, what)}:group", priority=GROUP)
            count += 1
        return count

    def _group_switch(self, what: str, actor) -> bool:
        s = self.settings.notify.system
        by_client = getattr(actor, "source", "bot") == "bot"
        if what in ("edited", "added"):
            return s.edit_ticket
        if what in ("cancelled", "closed") and by_client:
            return s.user_closed_ticket
        if what == "reopened":
            return s.new_ticket          # work again, as a new ticket is
        return what in ("done", "cancelled", "closed") and s.closed_ticket

    def _enqueue_post(self, ticket: Ticket, context: dict) -> int:
        """The ticket's card, in its own topic when topics are on (helpdesk.desk.cards)."""
        text, buttons = group_post(ticket, self.templates)
        return cards.queue_card(self.settings, self.templates, context["ticket"], text, buttons)

    def _update_post(self, ticket: Ticket, actor) -> int:
        """Edit the card in place, also before it went out; an edit that changes nothing is
        not queued (the group's own buttons edit it themselves)."""
        if getattr(actor, "source", "") == "group":
            return 0
        text, buttons = group_post(ticket, self.templates)
        return cards.update_card(self.settings, ticket.id, text, buttons, key=_key(ticket, "post"))

    # -- people ------------------------------------------------------------------------
    def _author(self, ticket: Ticket, what: str, actor, context: dict) -> int:
        u = self.settings.notify.user
        switches = AUTHOR_SWITCHES.get(what, ())
        if not u.use or not any(getattr(u, name) for name in switches):
            return 0
        if getattr(actor, "user_id", None) == ticket.author_id:
            return 0                      # they did it themselves and saw it in the dialog
        return self._to_person(ticket.author_id, "ticket/notify_author", context, ticket, what)

    def _company(self, ticket: Ticket, what: str, actor, context: dict) -> int:
        u = self.settings.notify.user
        if what != "created" or not (u.use and u.company_new_tickets) or not ticket.counterparty_id:
            return 0
        people = directory.company_people(ticket.counterparty_id, confirmed_only=True,
                                          right=Right.COMPANY_NOTIFICATIONS)
        skip = {ticket.author_id, getattr(actor, "user_id", None)}
        return sum(self._to_person(m.telegram_user_id, "ticket/notify_company", context, ticket, what)
                   for m in people if m.telegram_user_id not in skip)

    def _to_person(self, user_id: int, template: str, context: dict, ticket: Ticket, what: str) -> int:
        queue_notice(self.templates, user_id, template, context,
                     key=f"{_key(ticket, what)}:{user_id}", priority=PERSON)
        return 1


def _key(ticket: Ticket, what: str) -> str:
    return f"t{ticket.id}:v{ticket.version}:{what}"

