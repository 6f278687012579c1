"""SLA: first-response and resolution targets per ticket type, in working time.

Targets are settings `sla` (a default and per ticket type, in working hours of
`support.hours`, in `engine.timezone`). Each target of a ticket is a row (`SlaTimer`),
written in the ticket's own transaction by `on_ticket_change` (a Notifier listener,
helpdesk/app.py DESK_LISTENERS), so a timer exists exactly when its ticket does:

- created with the ticket, due at the UTC moment its working time is over;
- the resolution timer is paused while the ticket waits for the client (status waiting),
  resumed when it leaves it: the time spent waiting does not count, so the deadline moves
  by it; the first-response timer is not (waiting is no answer to the client);
- the first-response timer stops at the first staff response (taken, a technician's or
  the CRM's comment, done, a staff message in the thread), the resolution timer at done,
  closed or cancelled (and runs on when a closed ticket is reopened).

The job `sla_timers` (every sla.check_seconds) fires what is due (helpdesk/desk/sla_alerts.py):
a warning into the ticket's thread at sla.warn_at of a target, the dispatchers pinged at
the breach. Rows are claimed FOR UPDATE SKIP LOCKED on PostgreSQL and every firing is a
conditional UPDATE on the row's `next_at`, in the transaction that queues its messages:
each stage fires once across workers and restarts (a crash before the commit fires it
again later, nothing was queued; after it, the row says it fired).

Reports read `measure` / `measures` (working time to the first response and to the
resolution, met or breached); the client's confirmation reads `answer_by`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.storage import is_postgres, write_tx
from helpdesk.directory.tables import utcnow
from helpdesk.hours import WorkingHours
from helpdesk.registry import registry
from helpdesk.tickets.measures import SLA_ABANDONED, is_first_response
from helpdesk.tickets.states import ACTIVE, WAITING
from helpdesk.tickets.tables import Ticket, TicketEvent

from .sla_alerts import Alerts
from .tables import SlaTimer

__all__ = ["SlaTimer", "FIRST_RESPONSE", "RESOLUTION", "KINDS", "Measure",
           "on_ticket_change", "start", "fire_due", "answer_by", "measure", "measures"]

log = logging.getLogger(__name__)

FIRST_RESPONSE, RESOLUTION = "first_response", "resolution"
KINDS = (FIRST_RESPONSE, RESOLUTION)
ABANDONED = SLA_ABANDONED         # stops a timer without what it measures having happened
BATCH = 200                       # timers fired per transaction


# -- the listener: timers follow the ticket, in its transaction ---------------------------------

def on_ticket_change(notifier, ticket: Ticket, what: str, actor, context: dict) -> int:
    """A Notifier listener: start, pause, resume or stop the ticket's timers. Queues no
    message itself (0): the job does, when a timer is due."""
    settings = notifier.settings
    if what == "created":
        # the CRM may file a job already done (fixed on the phone): nothing is owed on it
        if ticket.status in ACTIVE and any(settings.sla.targets(ticket.type)):
            start(ticket, settings, _changed_at(ticket))
        return 0
    timers = _locked_timers(ticket.id)
    if timers:
        now, hours = _changed_at(ticket), WorkingHours.from_settings(settings)
        for timer in timers:
            _follow(timer, ticket, what, actor, now, hours, settings.sla.warn_at)
    return 0


def start(ticket: Ticket, settings, now: datetime) -> int:
    """The ticket's timers, running from `now` (UTC); how many targets it has."""
    hours, ratio = WorkingHours.from_settings(settings), settings.sla.warn_at
    started = 0
    for kind, target_hours in zip(KINDS, settings.sla.targets(ticket.type), strict=True):
        if target_hours > 0:
            timer = SlaTimer(ticket=ticket.id, kind=kind, target=round(target_hours * 3600))
            fields = _running(timer, now, hours, ratio)
            (SlaTimer.insert(ticket=ticket.id, kind=kind, target=timer.target, **fields)
             .on_conflict_ignore().execute())
            started += 1
    return started


def _changed_at(ticket: Ticket) -> datetime:
    """When the change happened: its history event's time (the service's clock)."""
    event = (TicketEvent.select(TicketEvent.at).where(TicketEvent.ticket == ticket.id)
             .order_by(TicketEvent.id.desc()).first())
    return event.at if event else (ticket.updated or utcnow())


def _locked_timers(ticket_id: int) -> list[SlaTimer]:
    """The ticket's timers, locked on PostgreSQL: the job skips them meanwhile (SQLite's
    write transaction already excludes every other writer)."""
    query = SlaTimer.select().where(SlaTimer.ticket == ticket_id).order_by(SlaTimer.id)
    return list(query.for_update() if is_postgres() else query)


def _follow(timer: SlaTimer, ticket: Ticket, what: str, actor, now: datetime,
            hours: WorkingHours, ratio: float) -> None:
    if timer.stopped_at is None and _stops(timer.kind, ticket, what, actor):
        _save(timer, **_halted(timer, now, hours), stopped_at=now, stopped_by=what)
    elif timer.stopped_at is not None:
        if timer.kind == RESOLUTION and ticket.status in ACTIVE:      # reopened
            running = ticket.status != WAITING
            _save(timer, stopped_at=None, stopped_by=None,
                  **(_running(timer, now, hours, ratio) if running else {}))
    elif timer.kind != RESOLUTION:
        # waiting is no answer (a technician may press it on a ticket nobody answered):
        # the first-response timer runs on until a first response stops it
        return
    elif timer.since is not None and ticket.status == WAITING:
        _save(timer, **_halted(timer, now, hours))
    elif timer.since is None and ticket.status in ACTIVE and ticket.status != WAITING:
        _save(timer, **_running(timer, now, hours, ratio))


def _stops(kind: str, ticket: Ticket, what: str, actor) -> bool:
    if ticket.status not in ACTIVE:
        return True                           # done, closed or cancelled: both stop
    # one definition of an answer for the timer and the report (helpdesk.tickets.measures)
    return kind == FIRST_RESPONSE and is_first_response(what, getattr(actor, "source", ""))


def _running(timer: SlaTimer, now: datetime, hours: WorkingHours, ratio: float) -> dict:
    """The fields of `timer` running from `now` with what it has left."""
    left = timedelta(seconds=max(0, timer.target - timer.spent))
    fields = {"since": now, "due_at": hours.after(now, left)}
    if timer.warned_at is None:
        warn_left = timedelta(seconds=max(0.0, timer.target * ratio - timer.spent))
        fields["warn_at"] = hours.after(now, warn_left)
    merged = {"warn_at": timer.warn_at, "warned_at": timer.warned_at,
              "breached_at": timer.breached_at, **fields}
    fields["next_at"] = _next_at(merged)
    return fields


def _halted(timer: SlaTimer, now: datetime, hours: WorkingHours) -> dict:
    """The fields of `timer` paused (or stopped) at `now`: what ran so far is counted."""
    spent = timer.spent
    if timer.since is not None:
        spent += int(hours.between(timer.since, now).total_seconds())
    return {"spent": spent, "since": None, "next_at": None}


def _next_at(fields: dict) -> datetime | None:
    """The earlier of the stages not fired yet (None: nothing left to fire)."""
    stages = [fields["warn_at"] if fields["warned_at"] is None else None,
              fields["due_at"] if fields["breached_at"] is None else None]
    return min((s for s in stages if s is not None), default=None)


def _save(timer: SlaTimer, **fields) -> None:
    SlaTimer.update(**fields).where(SlaTimer.id == timer.id).execute()
    for name, value in fields.items():
        setattr(timer, name, value)


# -- the job: fire what is due, once --------------------------------------------------------------

@registry.job("sla_timers", every=lambda s: s.sla.check_seconds, at_start=True)
def fire_job(app) -> int:
    """Fire every due timer stage (what was due while the bot was down too)."""
    return fire_due(app.settings, app.engine.flowset.templates, utcnow())


def fire_due(settings, templates, now: datetime, *, batch: int = BATCH) -> int:
    """Fire every stage due at `now`, `batch` timers per transaction; how many fired."""
    alerts, fired = Alerts(settings, templates), 0
    while True:
        claimed, count = _fire_batch(alerts, now, batch)
        fired += count
        if claimed < batch:
            return fired


def _fire_batch(alerts: Alerts, now: datetime, batch: int) -> tuple[int, int]:
    """(timers claimed, stages fired) in one transaction."""
    with write_tx():
        query = (SlaTimer.select().where(SlaTimer.next_at <= now)
                 .order_by(SlaTimer.next_at, SlaTimer.id).limit(batch))
        rows = list(query.for_update(skip_locked=True) if is_postgres() else query)
        tickets = {t.id: t for t in Ticket.select().where(Ticket.id.in_([r.ticket_id for r in rows]))}
        return len(rows), sum(_fire(r, tickets[r.ticket_id], now, alerts) for r in rows)


def _fire(timer: SlaTimer, ticket: Ticket, now: datetime, alerts: Alerts) -> int:
    """Fire `timer`'s due stages: a warning, or the breach (which makes a warning due with
    it moot); 0 when another worker fired it first (its `next_at` moved)."""
    breach = timer.breached_at is None and timer.due_at is not None and timer.due_at <= now
    warn = timer.warned_at is None and timer.warn_at is not None and timer.warn_at <= now
    warned = timer.warned_at if timer.warned_at is not None else (now if warn or breach else None)
    fields = {"warned_at": warned, "breached_at": now if breach else timer.breached_at}
    fields["next_at"] = _next_at({"warn_at": timer.warn_at, "due_at": timer.due_at, **fields})
    claimed = (SlaTimer.update(**fields)
               .where((SlaTimer.id == timer.id) & (SlaTimer.next_at == timer.next_at)).execute())
    if not claimed:
        return 0
    if breach:
        alerts.breach(timer, ticket)
    elif warn:
        alerts.warn(timer, ticket)
    return int(breach or warn)


# -- reading: the client's promise and the reports ----------------------------------------------

def answer_by(ticket_id) -> datetime | None:
    """When the ticket's first response is due (UTC), while its timer runs; None without a
    first-response target (nothing is promised then)."""
    if not ticket_id:
        return None
    row = (SlaTimer.select(SlaTimer.due_at)
           .where((SlaTimer.ticket == int(ticket_id)) & (SlaTimer.kind == FIRST_RESPONSE)
                  & SlaTimer.since.is_null(False) & SlaTimer.stopped_at.is_null()).first())
    return row.due_at if row else None


@registry.provider("sla")
def _provider(step) -> dict:
    """`sla.answer_by` for the ticket the dialog just created (slot `created`)."""
    created = step.slots.get("created") or {}
    return {"answer_by": answer_by(created.get("id") if isinstance(created, dict) else None)}


@dataclass(frozen=True)
class Measure:
    """One target of one ticket, as reports see it.

    spent: the working time so far (to the stop when stopped; waiting excluded);
    finished: what it measures happened (a response; the ticket done), not a cancel;
    met: finished within the target; False once breached; None while still open;
    breached: the target passed (fired, or spent beyond it).
    """
    kind: str
    target: timedelta
    spent: timedelta
    finished: bool
    met: bool | None
    breached: bool


def measure(ticket_id: int, settings, now: datetime | None = None) -> dict[str, Measure]:
    """The ticket's targets by kind ({} when it has none)."""
    return measures([ticket_id], settings, now).get(int(ticket_id), {})


def measures(ticket_ids, settings, now: datetime | None = None) -> dict[int, dict[str, Measure]]:
    """{ticket id: {kind: Measure}} for many tickets at once (one query)."""
    hours, now = WorkingHours.from_settings(settings), now or utcnow()
    found: dict[int, dict[str, Measure]] = {}
    ids = [int(i) for i in ticket_ids]
    for timer in SlaTimer.select().where(SlaTimer.ticket.in_(ids)):
        found.setdefault(timer.ticket_id, {})[timer.kind] = _measure(timer, hours, now)
    return found


def _measure(timer: SlaTimer, hours: WorkingHours, now: datetime) -> Measure:
    spent = _halted(timer, now, hours)["spent"]
    finished = timer.stopped_at is not None and timer.stopped_by not in ABANDONED
    breached = timer.breached_at is not None or spent > timer.target
    met = False if breached else (True if finished else None)
    return Measure(timer.kind, timedelta(seconds=timer.target), timedelta(seconds=spent),
                   finished, met, breached)
