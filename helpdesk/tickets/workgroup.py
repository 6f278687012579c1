"""The support work group (standalone mode, no CRM needed): the post about a ticket carries
inline buttons for the desk's staff (helpdesk/desk/staff.py roster):

    wg:take:<ticket id>     take a new ticket (of two technicians at once, one wins)
    wg:wait:<ticket id>     waiting for the client
    wg:done:<ticket id>     the work is done (closes the ticket)
    wg:comment:<ticket id>  write a comment for the client
    as:<ticket id>          a dispatcher assigns it to a technician (helpdesk/desk/assign.py)

Each press goes through TicketService (which checks the technician list again, records the
event and notifies the client), edits the pressed post in place and answers the button with
a short text. Anybody else pressing gets the generic "button out of date" answer on the
button and nothing else: no edit, no message, not a word of the ticket.

Comment, the documented simple approach: the bot asks the technician in their *private*
chat with it (flow `wg_comment`), so chatter in the group is never mistaken for a comment;
the technician must have started the bot once (Telegram lets bots write only to people who
did). The button starts that flow in the technician's private chat through the context
(`ctx.start_flow(..., chat_id=...)`), declared in the callback's contract.
"""
from __future__ import annotations

import logging

from engine.contracts import ActionContext
from engine.events import Button, Reply
from engine.ids import parse_id
from helpdesk.desk import cards
from helpdesk.desk.names import staff_name
from helpdesk.desk.topics import post_key
from helpdesk.directory.roles import PermissionDenied
from helpdesk.registry import registry
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


_ACTIONS = {"take": "take", "wait": "set_waiting", "done": "done"}
VERBS = (*_ACTIONS, "comment")
LABELS = {"take": "ticket/btn_wg_take", "wait": "ticket/btn_wg_wait", "done": "ticket/btn_wg_done",
          "comment": "ticket/btn_wg_comment"}
ANSWERS = {"take": "ticket/wg_answer_take", "wait": "ticket/wg_answer_wait",
           "done": "ticket/wg_answer_done", "comment": "ticket/wg_answer_comment",
           "conflict": "ticket/wg_answer_conflict"}


def group_buttons(ticket: Ticket, templates, lang: str | None = None) -> list[list[Button]]:
    """The technicians' buttons for the ticket's current status (none once closed)."""
    names = {NEW: ("take", "wait", "comment"), IN_PROGRESS: ("done", "wait", "comment"),
             WAITING: ("done", "comment")}.get(ticket.status, ())
    rows = [[Button(templates.render_label(LABELS[n], lang, {}), f"{PREFIX}:{n}:{ticket.id}")]
            for n in names]
    from helpdesk.desk.assign import assign_button  # the desk builds on this module
    return rows + [row for row in [assign_button(ticket, templates, lang)] if row]


def group_post(ticket: Ticket, templates, lang: str | None = None) -> tuple[str, list[list[Button]]]:
    """(text, buttons) of the group post about `ticket` in its current state."""
    text = templates.render("ticket/group_post", lang, {"ticket": ticket_view(ticket)})
    return text, group_buttons(ticket, templates, lang)


def _technician_name(ctx: ActionContext) -> str:
    """The CRM's name of the presser, else Telegram's first and last name (helpdesk.desk.names):
    two technicians called Иван are told apart on the card and in the history."""
    return staff_name(ctx.event)


@registry.callback(PREFIX, templates=("ticket/group_post", "desk/topic_name", *LABELS.values(),
                                      *ANSWERS.values()),
                   flows=(COMMENT_FLOW,), gives=("wg_ticket_id", "wg_ticket_label"))
def on_group_button(ctx: ActionContext, payload: str) -> None:
    """A technician pressed a button on a group post (callback data `wg:<what>:<id>`).

    Anybody can send any callback data on any message of the bot, so the presser's right
    is checked before the ticket is even read: everyone but a technician, and any verb or
    id that is not well formed, gets the same answer on the button and nothing else."""
    what, _, raw_id = payload.partition(":")
    ticket_id = parse_id(raw_id)
    service = ctx.services.tickets
    if what not in VERBS or ticket_id is None or not service.is_technician(ctx.user_id):
        ctx.answer()
        return
    try:
        if what == "comment":
            return _start_comment(ctx, service, ticket_id)
        ticket = getattr(service, _ACTIONS[what])(ctx.user_id, _technician_name(ctx), ticket_id)
        _edit_post(ctx, ticket, ANSWERS[what])
    except TicketConflict as e:
        _edit_post(ctx, e.ticket, ANSWERS["conflict"])
    except (PermissionDenied, TicketError) as e:
        log.info("work-group button %r of user %s refused: %s", payload[:40], ctx.user_id, e)
        ctx.answer()


def _edit_post(ctx: ActionContext, ticket: Ticket, answer: str) -> None:
    """Show the ticket as it is now on the pressed message and answer the press. The card
    itself is edited only when that changes it (helpdesk.desk.cards): a press that changes
    nothing (a late Take, Comment) is answered and nothing else. A press elsewhere (the
    technician's private chat) edits that message and the card too."""
    templates = ctx.templates
    text, buttons = group_post(ticket, templates)
    said = templates.render_label(answer, None, {"ticket": ticket_view(ticket)})
    if not cards.is_card(ticket.id, ctx.chat_id, ctx.event.message_id):
        cards.update_card(ctx.services.settings, ticket.id, text, buttons,
                          key=f"t{ticket.id}:v{ticket.version}:post")
    elif not cards.card_changed(ticket.id, text, buttons):
        ctx.reply(Reply(ctx.chat_id, callback_answer=said))
        return
    ctx.reply(Reply(ctx.chat_id, text, buttons=buttons, edit_message_id=ctx.event.message_id,
                    callback_answer=said))


def _start_comment(ctx: ActionContext, service, ticket_id) -> None:
    """The comment flow starts in the technician's private chat (the press may come from
    the group or from that chat itself); its question goes there, the post is edited."""
    ticket, _ = service.technician(ctx.user_id, _technician_name(ctx), ticket_id)
    if ticket.status not in ACTIVE:
        raise TicketConflict(ticket)
    ctx.start_flow(COMMENT_FLOW, {"wg_ticket_id": ticket.id, "wg_ticket_label": ticket.label},
                   chat_id=ctx.user_id)
    _edit_post(ctx, ticket, ANSWERS["comment"])
