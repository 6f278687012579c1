"""The rating buttons (`rt:<ticket id>:<1..5 | r>`), the action of flows/ticket_rate.yaml
(the comment after a score) and the reminder job. The rules live in helpdesk.desk.ratings,
which checks the presser again; these functions translate between it and the dialog.

A refused press (another person, a forged or malformed id, a chat that is not the
author's own) is answered on the button with the generic text and nothing else.
"""
from __future__ import annotations

import logging

from engine.contracts import ActionContext, Outcome
from engine.events import Reply
from engine.ids import parse_id
from helpdesk.desk import ratings
from helpdesk.desk.tables import Rating
from helpdesk.directory.roles import PermissionDenied
from helpdesk.registry import registry
from helpdesk.tickets import TicketConflict, TicketError, ticket_view

__all__ = ["RATE_FLOW", "on_rating_button", "rating_comment", "rating_reminders"]

log = logging.getLogger(__name__)
RATE_FLOW = "ticket_rate"
VERBS = {*(str(n) for n in ratings.SCORES), ratings.REOPEN}
ANSWERS = ("ticket/rate_thanks", "ticket/rate_already", "ticket/rate_not_done",
           "ticket/rate_recorded", "ticket/rate_reopened", "ticket/rate_reopened_answer",
           "ticket/reopen_expired", "ticket/conflict")
# what helpdesk.desk.ratings renders outside a dialog (the request, its reminder, the
# low-score alert, the CRM's comment): named here so the checker knows them
MESSAGES = ("ticket/rate_request", "ticket/rate_remind", "ticket/btn_rate",
            "ticket/btn_rate_reopen", "ticket/rate_low", "ticket/rate_crm_comment")


@registry.callback(ratings.PREFIX, templates=(*ANSWERS, *MESSAGES), flows=(RATE_FLOW,),
                   gives=("rate_ticket_id", "rate_ticket_label", "rate_score"))
def on_rating_button(ctx: ActionContext, payload: str) -> None:
    """The author pressed a score or "reopen" on the rating request (`rt:<id>:<verb>`)."""
    raw_id, _, verb = payload.partition(":")
    ticket_id = parse_id(raw_id)
    if ticket_id is None or verb not in VERBS or ctx.chat_id != ctx.user_id:
        ctx.answer()
        return
    try:
        if verb == ratings.REOPEN:
            return _reopen(ctx, ticket_id)
        _rated(ctx, ratings.rate(ctx.templates, ctx.services.settings, ctx.user_id, ticket_id,
                                 int(verb)))
    except ratings.RatingRefused as e:
        log.info("rating press %r of user %s refused: %s", payload[:40], ctx.user_id, e)
        ctx.answer()
    except ratings.AlreadyRated:
        ctx.answer("ticket/rate_already")
    except ratings.NotRateable:
        ctx.answer("ticket/rate_not_done")


def _rated(ctx: ActionContext, rated: ratings.Rated) -> None:
    """The request becomes "your score: N" (no buttons); the comment is asked next, unless
    the author is in the middle of another dialog (filing a new ticket, say): one tap on an
    old request must not throw that dialog's draft away, so the score is all we keep."""
    _edit(ctx, "ticket/rate_recorded", "ticket/rate_thanks", rated.ticket, score=rated.score)
    if ctx.in_dialog:
        return
    ctx.start_flow(RATE_FLOW, {"rate_ticket_id": rated.ticket.id,
                               "rate_ticket_label": rated.ticket.label, "rate_score": rated.score})


def _reopen(ctx: ActionContext, ticket_id: int) -> None:
    """"The problem is back" instead of a score: TicketService.reopen checks who and how
    long ago again; the request loses its buttons and its reminder."""
    ratings.find_request(ctx.user_id, ticket_id)           # RatingRefused for anybody else
    try:
        ticket = ctx.services.tickets.reopen(ctx.user_id, ticket_id)
    except TicketConflict:
        return ctx.answer("ticket/rate_not_done")          # reopened already
    except PermissionDenied:
        return ctx.answer()
    except TicketError as e:
        return ctx.answer(e.template)                      # past tickets.reopen_days
    Rating.update(remind_at=None).where(Rating.ticket_id == ticket.id).execute()
    _edit(ctx, "ticket/rate_reopened", "ticket/rate_reopened_answer", ticket)


def _edit(ctx: ActionContext, template: str, answer: str, ticket, **extra) -> None:
    view = ticket_view(ticket)
    ctx.reply(Reply(ctx.chat_id, ctx.render(template, ticket=view, **extra),
                    edit_message_id=ctx.event.message_id,
                    callback_answer=ctx.label(answer, ticket=view, **extra)))


@registry.action("rating_comment", reads=("rate_ticket_id", "rate_comment"),
                 outcomes=("saved", "refused"))
def rating_comment(ctx: ActionContext) -> Outcome:
    """The author's comment on their score (once; the flow offers to skip it)."""
    try:
        ratings.add_comment(ctx.templates, ctx.services.settings, ctx.user_id,
                            parse_id(str(ctx.slots.get("rate_ticket_id") or "")),
                            ctx.slots.get("rate_comment") or "")
    except (ratings.RatingRefused, ratings.AlreadyRated) as e:
        log.info("rating comment of user %s refused: %s", ctx.user_id, e)
        return Outcome("refused")
    return Outcome("saved")


@registry.job("rating_reminders", every=lambda s: s.ratings.check_seconds)
def rating_reminders(app) -> int:
    """The one reminder of every rating request due (helpdesk.desk.ratings)."""
    return ratings.send_reminders(app.engine.flowset.templates, app.settings)
