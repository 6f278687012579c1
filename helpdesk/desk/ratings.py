"""The client's 1-5 rating of a done ticket (issue 16, point 5).

When a ticket becomes done (`on_ticket_change`, a Notifier listener: the change's own
transaction) its author gets one message with the buttons 1..5 and, while the ticket may
still be reopened (tickets.reopen_days), "reopen" instead; a `Rating` row records the
request. One tap records the score (`rate`: a conditional UPDATE, so of two presses one
wins and the other is told "already rated"), a ticket event and a CRM comment through the
outbox; a score <= ratings.low_score goes to every dispatcher and into the ticket's thread.
Then the flow `ticket_rate` asks for a comment (skippable). One reminder, claimed by setting
`reminded_at`, goes after ratings.remind_hours when the request is still unanswered.

Callback data: `rt:<ticket id>:<1..5>` (rate) and `rt:<ticket id>:r` (reopen). Anybody can
send any data, so the presser must be the ticket's author, in their own chat, with a
request on record: every other press gets the generic answer and nothing else.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.events import Button, Reply
from engine.storage import write_tx
from helpdesk import directory
from helpdesk.directory.tables import TelegramUser, utcnow
from helpdesk.notices import GROUP, PERSON, queue_reply
from helpdesk.sync import outbox
from helpdesk.tickets import Actor, history
from helpdesk.tickets.states import DONE, reopenable
from helpdesk.tickets.tables import Ticket
from helpdesk.tickets.view import ticket_view

from . import staff
from .tables import Rating
from .topics import into_thread

__all__ = ["Rating", "RatingRefused", "AlreadyRated", "NotRateable", "Rated", "SCORES",
           "on_ticket_change", "ask", "rate", "add_comment", "send_reminders", "request_reply",
           "find_request"]

log = logging.getLogger(__name__)

SCORES = (1, 2, 3, 4, 5)
DONE_EVENTS = ("done", "closed")        # a technician's or the CRM's done, the client's close
COMMENT_MAX = 1000
PREFIX = "rt"
REOPEN = "r"


class RatingRefused(Exception):
    """Not this person's request to answer: the press shows nothing (generic answer)."""


class AlreadyRated(Exception):
    """The ticket was rated before: the second answer changes nothing."""


class NotRateable(Exception):
    """The ticket is not done now (it was reopened): nothing to rate until it is."""


@dataclass(frozen=True)
class Rated:
    """A recorded score: the ticket and how many messages it queued (the low-score alert)."""
    ticket: Ticket
    score: int
    alerts: int


# -- asking ---------------------------------------------------------------------------------

def on_ticket_change(notifier, ticket: Ticket, what: str, actor, context: dict) -> int:
    """The Notifier listener: a ticket that just became done asks its author for a rating."""
    if what not in DONE_EVENTS or ticket.status != DONE or not notifier.settings.ratings.use:
        return 0
    return ask(notifier.templates, notifier.settings, ticket, ticket.closed or utcnow())


def ask(templates, settings, ticket: Ticket, now: datetime) -> int:
    """Record the request and queue it (in the caller's transaction); 0 when the ticket
    was rated before (a reopened ticket done again is not asked twice) or has no author."""
    if ticket.author_id is None:
        return 0
    found = Rating.get_or_none(Rating.ticket_id == ticket.id)
    if found is not None and found.score is not None:
        return 0
    hours = settings.ratings.remind_hours
    values = dict(author_id=ticket.author_id, asked_at=now, reminded_at=None,
                  remind_at=now + timedelta(hours=hours) if hours else None)
    (Rating.insert(ticket_id=ticket.id, **values)
     .on_conflict(conflict_target=[Rating.ticket_id], update=values).execute())
    queued = queue_reply(request_reply(templates, settings, ticket, now),
                         key=f"t{ticket.id}:v{ticket.version}:rate", priority=PERSON)
    return 1 if queued else 0


def request_reply(templates, settings, ticket: Ticket, now: datetime, *,
                  template: str = "ticket/rate_request") -> Reply:
    """The request (or its reminder) to the author: the text and the buttons 1..5, and
    "reopen" while the ticket may still be reopened, in the author's language."""
    lang = templates.lang(directory.language_of(ticket.author_id))
    reopen = reopenable(ticket.status, ticket.closed, now, settings.tickets.reopen_days)
    context = {"ticket": ticket_view(ticket), "may_reopen": reopen,
               "reopen_days": settings.tickets.reopen_days}
    rows = [[Button(templates.render_label("ticket/btn_rate", lang, {"score": n}),
                    f"{PREFIX}:{ticket.id}:{n}") for n in SCORES]]
    if reopen:
        rows.append([Button(templates.render_label("ticket/btn_rate_reopen", lang, context),
                            f"{PREFIX}:{ticket.id}:{REOPEN}")])
    return Reply(ticket.author_id, templates.render(template, lang, context), buttons=rows)


# -- answering ------------------------------------------------------------------------------

def find_request(user_id: int, ticket_id: int | None) -> tuple[Ticket, Rating]:
    """The ticket and its request when `user_id` is the one asked; RatingRefused for any
    other person, an id that does not exist or a ticket nobody asked about."""
    ticket = Ticket.get_or_none(Ticket.id == ticket_id) if ticket_id else None
    row = Rating.get_or_none(Rating.ticket_id == ticket_id) if ticket is not None else None
    if row is None or ticket.author_id != int(user_id) or row.author_id != int(user_id):
        raise RatingRefused(f"ticket {ticket_id}: no rating request for user {user_id}")
    return ticket, row


def rate(templates, settings, user_id: int, ticket_id: int | None, score: int,
         now: datetime | None = None) -> Rated:
    """Record `score` once: a ticket event, a CRM comment and, for a low score, the
    dispatchers and the thread told; AlreadyRated / NotRateable / RatingRefused else."""
    if score not in SCORES:
        raise RatingRefused(f"score {score!r} is not one of 1..5")
    now = now or utcnow()
    ticket, _ = find_request(user_id, ticket_id)
    with write_tx():
        taken = (Rating.update(score=score, rated_at=now, remind_at=None)
                 .where((Rating.ticket_id == ticket.id) & Rating.score.is_null()).execute())
        if not taken:
            raise AlreadyRated(ticket.id)
        if Ticket.get_by_id(ticket.id).status != DONE:
            raise NotRateable(ticket.id)            # rolls the score back: reopened meanwhile
        _record(templates, ticket, user_id, score, None, now)
        alerts = _alert(templates, settings, ticket, score, None) \
            if score <= settings.ratings.low_score else 0
    log.info("ticket %s rated %s by %s", ticket.id, score, user_id)
    return Rated(ticket, score, alerts)


def add_comment(templates, settings, user_id: int, ticket_id: int | None, text: str,
                now: datetime | None = None) -> Ticket:
    """The author's comment on their score, once; a low score's comment follows its alert."""
    text = " ".join(str(text or "").split())[:COMMENT_MAX]
    ticket, row = find_request(user_id, ticket_id)
    if not text or row.score is None:
        raise RatingRefused(f"ticket {ticket.id}: nothing to comment on")
    with write_tx():
        taken = (Rating.update(comment=text)
                 .where((Rating.ticket_id == ticket.id) & Rating.comment.is_null()
                        & Rating.score.is_null(False)).execute())
        if not taken:
            raise AlreadyRated(ticket.id)
        _record(templates, ticket, user_id, row.score, text, now or utcnow())
        if row.score <= settings.ratings.low_score:
            _alert(templates, settings, ticket, row.score, text)
    return ticket


def _record(templates, ticket: Ticket, user_id: int, score: int, comment: str | None,
            at: datetime) -> None:
    """The rating as a history event and as a comment for the CRM (the outbox)."""
    name = directory.display_name(TelegramUser.get_or_none(TelegramUser.id == int(user_id)))
    actor = Actor(str(user_id), "bot", int(user_id), name)
    text = f"{score}/5" + (f": {comment}" if comment else "")
    history.record(ticket, actor, "rated", {"score": score, "text": text}, at)
    crm_text = templates.render("ticket/rate_crm_comment", templates.default,
                                {"ticket": {"label": ticket.label}, "score": score,
                                 "comment": comment or ""})
    outbox.push("ticket", ticket.id, payload={"comment": crm_text})


def _alert(templates, settings, ticket: Ticket, score: int, comment: str | None) -> int:
    """A low score (or its comment) to each dispatcher privately and into the thread."""
    context = {"ticket": ticket_view(ticket), "score": score, "comment": comment or ""}
    part = "lowc" if comment else "low"
    count = 0
    for chat_id in staff.dispatcher_ids():
        lang = templates.lang(directory.language_of(chat_id))
        text = templates.render("ticket/rate_low", lang, context)
        count += bool(queue_reply(Reply(chat_id, text), key=f"t{ticket.id}:rate:{part}:{chat_id}",
                                  priority=PERSON))
    group = settings.notify.system.work_group_id
    if settings.notify.system.use and group:
        reply = into_thread(ticket.id, Reply(group, templates.render("ticket/rate_low", None, context)))
        count += bool(queue_reply(reply, key=f"t{ticket.id}:rate:{part}:group", priority=GROUP))
    return count


# -- the one reminder -----------------------------------------------------------------------

def send_reminders(templates, settings, now: datetime | None = None, limit: int = 200) -> int:
    """Remind every author whose request is due and unanswered, once each (the claim is
    the conditional UPDATE of `reminded_at`: two workers never both send); how many."""
    now = now or utcnow()
    due = (Rating.select(Rating.ticket_id)
           .where(Rating.score.is_null() & Rating.reminded_at.is_null()
                  & Rating.remind_at.is_null(False) & (Rating.remind_at <= now))
           .order_by(Rating.remind_at).limit(limit))
    return sum(_remind(templates, settings, ticket_id, now) for (ticket_id,) in due.tuples())


def _remind(templates, settings, ticket_id: int, now: datetime) -> int:
    with write_tx():
        claimed = (Rating.update(reminded_at=now)
                   .where((Rating.ticket_id == ticket_id) & Rating.reminded_at.is_null()
                          & Rating.score.is_null()).execute())
        ticket = Ticket.get_or_none(Ticket.id == ticket_id) if claimed else None
        if ticket is None or ticket.status != DONE:
            return 0                     # claimed by another worker, or reopened meanwhile
        reply = request_reply(templates, settings, ticket, now, template="ticket/rate_remind")
        return 1 if queue_reply(reply, key=f"t{ticket_id}:rate:remind", priority=PERSON) else 0
