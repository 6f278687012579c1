"""A dispatcher assigns a ticket to a technician, from the ticket's card (issue 16, point 3).

The card (the group post, or a staff member's private copy of it) carries "👤 Назначить":

    as:<ticket>                      open the picker: the card's buttons become the staff
    as:<ticket>:<user>:<version>     assign the ticket, as seen at `version`, to `user`
    as:<ticket>:back                 the card's own buttons again (any staff member: a
                                     picker left open must not lock the technicians out)
    as:<ticket>:p<page>              another page of the picker (MAX_CHOICES staff a page,
                                     "‹" / "›"): a desk of any size can assign anybody

The picker edits the pressed card in place (the card is the one message everybody in the
thread sees); the version in each choice is the ticket's when the picker was drawn, so two
dispatchers choosing at once end with one winner: the other's conditional UPDATE finds a
newer version, changes nothing and is told who has the ticket now (TicketConflict). Rights
and ids are checked here at the press, in the service's one write path (`_change`:
history, CRM outbox and notifications in the same transaction); anybody but a dispatcher,
(for "back": anybody but staff), a forged ticket or person, gets the generic answer on the button and nothing else.

The assignee is the ticket's master (`master_name`, `master_telegram_id`); a new ticket
goes in progress; the history says who assigned whom ("assigned", by, master old -> new);
the author is told as of any assignment (notify.user.status_changed) and the assignee
privately (`notify_assignee`, a listener of helpdesk/app.py DESK_LISTENERS) with the card's
buttons, which work in a private chat as in the group.
"""
from __future__ import annotations

import logging

from engine.contracts import ActionContext
from engine.events import Button, Reply
from engine.ids import parse_id
from helpdesk.directory import language_of
from helpdesk.directory.roles import PermissionDenied
from helpdesk.notices import PERSON, queue_reply
from helpdesk.registry import registry
from helpdesk.tickets import (
    ACTIVE,
    IN_PROGRESS,
    NEW,
    Actor,
    Ticket,
    TicketConflict,
    TicketError,
    TicketInputError,
    ticket_view,
)
from helpdesk.tickets.errors import NotTechnician
from helpdesk.tickets.workgroup import group_post

from . import staff
from .names import distinct_name, members, staff_name

__all__ = ["PREFIX", "assign", "assign_button", "picker", "on_assign_button", "notify_assignee",
           "MAX_CHOICES"]

log = logging.getLogger(__name__)
PREFIX = "as"
MAX_CHOICES = 30             # staff a picker page; Telegram allows 100 buttons, a phone shows ~10
TEMPLATES = ("desk/btn_assign", "desk/btn_assign_back", "desk/assign_choice", "desk/answer_pick",
             "desk/answer_assigned", "desk/answer_assign_conflict", "desk/answer_pick_back",
             "desk/assigned_to_you", "desk/btn_assign_prev", "desk/btn_assign_next")


def assign(service, dispatcher_id: int, name: str, ticket_id, user_id, expected_version, *,
           source: str = "group") -> Ticket:
    """`dispatcher_id` gives ticket `ticket_id` (as seen at `expected_version`) to staff
    member `user_id`. NotTechnician when the presser is no dispatcher, TicketInputError for
    a person who is not staff, TicketConflict when the ticket moved on (or is closed); the
    ticket unchanged when it is theirs already.
    `source` "group": pressed on the group's card (which the press edits itself); "bot":
    in a private chat (the group's card is then edited by the notifier)."""
    if not staff.is_dispatcher(dispatcher_id):
        raise NotTechnician(dispatcher_id)
    assignee = parse_id(user_id)
    if assignee is None or not staff.is_staff(assignee):
        raise TicketInputError(f"user {str(user_id)[:20]!r} is not staff of the desk")
    ticket = service._load(ticket_id)
    master = distinct_name(assignee)     # two namesakes: the card says which has it
    if ticket.master_telegram_id == assignee and ticket.status in ACTIVE:
        return ticket                        # theirs already (a second dispatcher chose alike)
    actor = Actor(f"disp:{int(dispatcher_id)}", source, int(dispatcher_id), name or str(dispatcher_id))
    changes = {"master_name": master, "master_telegram_id": assignee}
    if ticket.status == NEW:
        changes["status"] = IN_PROGRESS      # someone works on it now, as after Take
    details = {"master_name": {"old": ticket.master_name or "", "new": master}, "assignee": assignee}
    # service.py is full (400 lines): its one write path is used from here, as crm_created does
    return service._change(ticket, actor, "assigned", changes, details, statuses=ACTIVE,
                           expected=parse_id(expected_version) or -1)


def assign_button(ticket: Ticket, templates, lang: str | None = None) -> list[Button]:
    """The card's "Assign" row (active tickets only; the press checks the right)."""
    if ticket.status not in ACTIVE:
        return []
    return [Button(templates.render_label("desk/btn_assign", lang, {}), f"{PREFIX}:{ticket.id}")]


def picker(ticket: Ticket, templates, lang: str | None = None, page: int = 0) -> list[list[Button]]:
    """One row per staff member of page `page` (the current master marked), "‹" / "›" to
    the other pages when there are more than MAX_CHOICES, then "back"."""
    everyone = members()
    last = max(0, (len(everyone) - 1) // MAX_CHOICES)
    page = min(max(0, page), last)          # the staff may have shrunk since the page was drawn
    rows = []
    for m in everyone[page * MAX_CHOICES:(page + 1) * MAX_CHOICES]:
        label = templates.render_label("desk/assign_choice", lang, {
            "member": m, "current": m["id"] == ticket.master_telegram_id})
        rows.append([Button(label, f"{PREFIX}:{ticket.id}:{m['id']}:{ticket.version}")])
    turn = [Button(templates.render_label(name, lang, {}), f"{PREFIX}:{ticket.id}:p{to}")
            for name, to, shown in (("desk/btn_assign_prev", page - 1, page > 0),
                                    ("desk/btn_assign_next", page + 1, page < last)) if shown]
    if turn:
        rows.append(turn)
    rows.append([Button(templates.render_label("desk/btn_assign_back", lang, {}),
                        f"{PREFIX}:{ticket.id}:back")])
    return rows


@registry.callback(PREFIX, templates=("ticket/group_post", *TEMPLATES))
def on_assign_button(ctx: ActionContext, payload: str) -> None:
    """A press of `as:...` (see the module docstring); the right is checked before the
    ticket is even read."""
    parts = payload.split(":")
    ticket_id = parse_id(parts[0])
    if ticket_id is None or len(parts) not in (1, 2, 3) or not _may_press(ctx, parts):
        ctx.answer()
        return
    service = ctx.services.tickets
    try:
        if len(parts) == 1:
            return _edit(ctx, service._load(ticket_id), "desk/answer_pick", pick=True)
        if len(parts) == 2 and _page(parts[1]) is not None:
            return _edit(ctx, service._load(ticket_id), "desk/answer_pick", pick=True,
                         page=_page(parts[1]))
        if len(parts) == 2:
            return _back(ctx, service, ticket_id, parts[1])
        ticket = assign(service, ctx.user_id, _name(ctx), ticket_id, parts[1], parts[2],
                        source="group" if _on_group_card(ctx) else "bot")
        _edit(ctx, ticket, "desk/answer_assigned")
    except TicketConflict as e:
        _edit(ctx, e.ticket, "desk/answer_assign_conflict")
    except (PermissionDenied, TicketError) as e:
        log.info("assign button %r of user %s refused: %s", payload[:40], ctx.user_id, e)
        ctx.answer()


def _may_press(ctx: ActionContext, parts: list[str]) -> bool:
    """Assigning is a dispatcher's; "back" any staff member's: the picker replaces the group
    card's buttons, and a dispatcher who walks away from it must not leave the technicians
    without Take / Wait / Done (it only shows the card everyone in the group sees)."""
    if parts[1:] == ["back"]:
        return staff.is_staff(ctx.user_id)
    return staff.is_dispatcher(ctx.user_id)


def _page(part: str) -> int | None:
    """The page `p<N>` names (None: no page; a forged huge number is clamped by picker)."""
    return int(part[1:]) if part[:1] == "p" and part[1:].isdigit() and len(part) <= 6 else None


def _on_group_card(ctx: ActionContext) -> bool:
    return ctx.chat_id == ctx.services.settings.notify.system.work_group_id


def _back(ctx: ActionContext, service, ticket_id: int, what: str) -> None:
    if what != "back":
        ctx.answer()
        return
    _edit(ctx, service._load(ticket_id), "desk/answer_pick_back")


def _name(ctx: ActionContext) -> str:
    return staff_name(ctx.event)


def _edit(ctx: ActionContext, ticket: Ticket, answer: str, *, pick: bool = False, page: int = 0) -> None:
    """The pressed card, in place: the picker, or the card's buttons for the ticket now."""
    templates = ctx.templates
    text, buttons = group_post(ticket, templates)
    if pick and ticket.status in ACTIVE:
        buttons = picker(ticket, templates, page=page)
    elif pick:
        answer = "desk/answer_assign_conflict"        # closed meanwhile: nothing to assign
    view = ticket_view(ticket)
    ctx.reply(Reply(ctx.chat_id, text, buttons=buttons, edit_message_id=ctx.event.message_id,
                    thread_id=ctx.event.thread_id,
                    callback_answer=templates.render_label(answer, None, {"ticket": view})))


def notify_assignee(notifier, ticket: Ticket, what: str, actor, context: dict) -> int | None:
    """The assignee hears of it privately, in their language, with the card's buttons (a
    listener of every ticket change, in its transaction; once per version: the row's key)."""
    assignee = ticket.master_telegram_id
    if what != "assigned" or assignee is None or assignee == getattr(actor, "user_id", None):
        return 0
    templates = notifier.templates
    lang = templates.lang(language_of(assignee))
    card, buttons = group_post(ticket, templates, lang)
    text = templates.render("desk/assigned_to_you", lang, context) + "\n" + card
    queue_reply(Reply(assignee, text, buttons=buttons), priority=PERSON,
                key=f"t{ticket.id}:v{ticket.version}:assigned:staff:{assignee}")
    return 1
