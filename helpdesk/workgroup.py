"""The support work group (standalone mode, no CRM needed): the post about a ticket carries
inline buttons for technicians (settings tickets.technicians):

    wg:take:<ticket id>     take a new ticket (of two technicians at once, one wins)
    wg:wait:<ticket id>     waiting for the client
    wg:done:<ticket id>     the work is done (closes the ticket)
    wg:comment:<ticket id>  write a comment for the client

Each press goes through TicketService (which checks the technician list again, records the
event and notifies the client), edits the pressed post in place and answers the button with
a short text. Anybody else pressing gets the generic "button out of date" answer on the
button and nothing else: no edit, no message, not a word of the ticket.

Comment, the documented simple approach: the bot asks the technician in their *private*
chat with it (flow `wg_comment`), so chatter in the group is never mistaken for a comment;
the technician must have started the bot once (Telegram lets bots write only to people who
did). The button puts the technician's private conversation at that flow's question.
"""
from __future__ import annotations

import logging

from engine.events import Button, Reply
from engine.ids import parse_id
from engine.session import load_session, save_session
from helpdesk.registry import registry
from helpdesk.roles import PermissionDenied
from helpdesk.tickets import (
    ACTIVE,
    IN_PROGRESS,
    NEW,
    WAITING,
    Ticket,
    TicketConflict,
    TicketError,
    ticket_view,
)

__all__ = ["post_key", "group_post", "group_buttons", "on_group_button", "COMMENT_FLOW"]

log = logging.getLogger(__name__)
COMMENT_FLOW = "wg_comment"
PREFIX = "wg"


def post_key(ticket_id: int) -> str:
    """The outgoing-queue key of the group post about a ticket (to edit it later)."""
    return f"t{ticket_id}:post"


def group_buttons(ticket: Ticket, templates, lang: str | None = None) -> list[list[Button]]:
    """The technicians' buttons for the ticket's current status (none once closed)."""
    names = {NEW: ("take", "wait", "comment"), IN_PROGRESS: ("done", "wait", "comment"),
             WAITING: ("done", "comment")}.get(ticket.status, ())
    label = lambda n: templates.render_label(f"ticket/btn_wg_{n}", lang, {})
    return [[Button(label(n), f"{PREFIX}:{n}:{ticket.id}")] for n in names]


def group_post(ticket: Ticket, templates, lang: str | None = None) -> tuple[str, list[list[Button]]]:
    """(text, buttons) of the group post about `ticket` in its current state."""
    text = templates.render("ticket/group_post", lang, {"ticket": ticket_view(ticket)})
    return text, group_buttons(ticket, templates, lang)


def _technician_name(step) -> str:
    ev = step.event
    return ev.first_name or (f"@{ev.username}" if ev.username else str(ev.user_id))


_ACTIONS = {"take": "take", "wait": "set_waiting", "done": "done"}
VERBS = (*_ACTIONS, "comment")


@registry.callback(PREFIX)
def on_group_button(step, payload: str) -> None:
    """A technician pressed a button on a group post (callback data `wg:<what>:<id>`).

    Anybody can send any callback data on any message of the bot, so the presser's right
    is checked before the ticket is even read: everyone but a technician, and any verb or
    id that is not well formed, gets the same answer on the button and nothing else."""
    what, _, raw_id = payload.partition(":")
    ticket_id = parse_id(raw_id)
    service = step.services.tickets
    if what not in VERBS or ticket_id is None or not service.is_technician(step.user_id):
        step.answer()
        return
    try:
        if what == "comment":
            return _start_comment(step, service, ticket_id)
        ticket = getattr(service, _ACTIONS[what])(step.user_id, _technician_name(step), ticket_id)
        _edit_post(step, ticket, f"ticket/wg_answer_{what}")
    except TicketConflict as e:
        _edit_post(step, e.ticket, "ticket/wg_answer_conflict")
    except (PermissionDenied, TicketError) as e:
        log.info("work-group button %r of user %s refused: %s", payload[:40], step.user_id, e)
        step.answer()


def _edit_post(step, ticket: Ticket, answer: str) -> None:
    templates = step.fs.templates
    text, buttons = group_post(ticket, templates)
    view = ticket_view(ticket)
    step.reply(Reply(step.chat_id, text, buttons=buttons, edit_message_id=step.event.message_id,
                     callback_answer=templates.render_label(answer, None, {"ticket": view})))


def _start_comment(step, service, ticket_id) -> None:
    ticket, _ = service.technician(step.user_id, _technician_name(step), ticket_id)
    if ticket.status not in ACTIVE:
        raise TicketConflict(ticket)
    # pressed in the private chat itself (tests, a forwarded post): that conversation is
    # the one this step saves, so change it rather than a second copy
    own = step.chat_id == step.user_id
    session = step.session if own else load_session(step.user_id, step.user_id, for_update=True)
    session.flow, session.state, session.stack, session.buttons = COMMENT_FLOW, "ask", [], []
    session.slots = {"wg_ticket_id": ticket.id, "wg_ticket_label": ticket.label}
    session.step += 1
    session.remind_at = session.abandon_at = None
    save_session(session)
    templates = step.fs.templates
    ask = templates.render("ticket/wg_ask_comment", session.lang, {"wg_ticket_label": ticket.label})
    step.reply(Reply(step.user_id, ask))
    _edit_post(step, ticket, "ticket/wg_answer_comment")
