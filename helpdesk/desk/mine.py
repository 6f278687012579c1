"""A staff member's own tickets in their private chat with the bot (issue 16, point 3).

The main menu offers "🛠 Назначенные мне" to staff only (the `staff` template variable);
the flow `desk_mine` lists the tickets whose master they are (assigned by a dispatcher or
taken themselves), the active ones first, newest first, then those closed in the last
tickets.closed_days days: each as its card with the card's buttons (Take / Wait / Done /
Comment / Assign work in a private chat as on the group's card, and check the presser's
role again at the press). The role is checked again here too: the menu was drawn earlier,
and a former staff member gets a refusal, not a list.
"""
from __future__ import annotations

from datetime import timedelta

from engine.contracts import ActionContext, Outcome
from engine.events import Reply
from helpdesk.directory.tables import utcnow
from helpdesk.registry import registry
from helpdesk.tickets import ACTIVE, CLOSED_STATUSES, Ticket
from helpdesk.tickets.workgroup import group_post

from . import staff

__all__ = ["MAX_CARDS", "my_tickets", "staff_info"]

MAX_CARDS = 10          # cards in one answer: a chat of 30 cards reads as noise


@registry.provider("staff")
def staff_info(step) -> dict:
    """The `staff` template variable: {member, role, dispatcher} of the person writing."""
    role = staff.role_of(step.user_id)
    return {"member": role is not None, "role": role, "dispatcher": role == staff.DISPATCHER}


def my_tickets(user_id: int, closed_days: int, limit: int = MAX_CARDS) -> tuple[list[Ticket], int]:
    """(the first `limit` tickets whose master `user_id` is, active first; how many in all)."""
    mine = Ticket.master_telegram_id == int(user_id)
    since = utcnow() - timedelta(days=closed_days)
    active = Ticket.select().where(mine & Ticket.status.in_(ACTIVE))
    closed = Ticket.select().where(mine & Ticket.status.in_(CLOSED_STATUSES) & (Ticket.closed >= since))
    total = active.count() + closed.count()
    rows = list(active.order_by(Ticket.created.desc(), Ticket.id.desc()).limit(limit))
    if len(rows) < limit:
        rows += list(closed.order_by(Ticket.closed.desc(), Ticket.id.desc()).limit(limit - len(rows)))
    return rows, total


@registry.action("desk_my_tickets", gives=("desk_mine_total",), outcomes=("listed", "empty", "refused"),
                 templates=("desk/mine_head", "ticket/group_post"))
def list_mine(ctx: ActionContext) -> Outcome:
    """The header and one card per ticket (see the module docstring)."""
    if not staff.is_staff(ctx.user_id):
        return Outcome("refused", desk_mine_total=0)
    rows, total = my_tickets(ctx.user_id, ctx.services.settings.tickets.closed_days)
    if not rows:
        return Outcome("empty", desk_mine_total=0)
    ctx.say("desk/mine_head", desk_mine_total=total, desk_mine_shown=len(rows))
    for ticket in rows:
        text, buttons = group_post(ticket, ctx.templates, ctx.lang)
        ctx.reply(Reply(ctx.chat_id, text, buttons=buttons))
    return Outcome("listed", desk_mine_total=total)
