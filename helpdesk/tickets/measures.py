"""How well tickets were worked (issue 16, point 6): per ticket the first response, the
resolution, SLA met or not and the client's rating; grouped per technician, per company
and per type for `/stats` and `run.py report`.

First response: from the ticket's creation to the first answer to the client, the same
moment that stops the SLA's first-response timer (helpdesk/desk/sla.py, docs/sla.md): taken,
a comment (a technician's or the CRM's), done, or a staff message in the ticket's thread,
wherever the button was pressed (the group or a private chat). An assignment or "waiting"
tells the client nothing, so it is no answer in either. Resolution: from the
creation to `closed` of a done ticket. Hours, one decimal. SLA met comes from the desk's
SLA timers (`sla_results`); a ticket whose targets still run, or that has none, shows "—".
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import peewee as pw

from helpdesk.desk.tables import Rating, SlaTimer
from helpdesk.directory.tables import Counterparty

from .tables import DONE, Ticket, TicketEvent

__all__ = ["Measure", "FIRST_RESPONSES", "is_first_response", "measure", "group_rows", "breakdowns", "sla_results"]

# what answers the client, whoever did it and from where (bookkeeping like "synced" does not;
# a message counts when staff wrote it in the thread: source "group")
FIRST_RESPONSES = ("taken", "comment", "done")
STAFF_MESSAGE = ("message", "group")
SLA_ABANDONED = ("cancelled",)   # stops a timer without its aim (helpdesk/desk/sla.py ABANDONED)
_CHUNK = 500               # ids per IN (...): under every database's parameter limit


@dataclass(frozen=True)
class Measure:
    """One ticket's figures (None: not known, e.g. not answered or not done yet)."""
    ticket: Ticket
    first_response_h: float | None
    resolution_h: float | None
    sla_met: bool | None
    rating: int | None


def _hours(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else max(0.0, (end - start).total_seconds() / 3600)


def _chunks(ids: list[int]):
    for i in range(0, len(ids), _CHUNK):
        yield ids[i:i + _CHUNK]


def first_responses(ids: list[int]) -> dict[int, datetime]:
    """Each ticket's first answer to the client (`is_first_response`, as one query)."""
    found: dict[int, datetime] = {}
    answered = (TicketEvent.what.in_(FIRST_RESPONSES)
                | ((TicketEvent.what == STAFF_MESSAGE[0]) & (TicketEvent.source == STAFF_MESSAGE[1])))
    for part in _chunks(ids):
        rows = (TicketEvent.select(TicketEvent.ticket, pw.fn.MIN(TicketEvent.at))
                .where(TicketEvent.ticket.in_(part) & answered)
                .group_by(TicketEvent.ticket).tuples())
        found.update({tid: _as_datetime(at) for tid, at in rows})
    return found


def is_first_response(what: str, source: str) -> bool:
    """The event answers the client (the SLA's first response stops at it)."""
    return what in FIRST_RESPONSES or (what, source) == STAFF_MESSAGE


def _as_datetime(value) -> datetime:
    """MIN() over a DateTimeField comes back as text on SQLite."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def ratings_of(ids: list[int]) -> dict[int, int]:
    found: dict[int, int] = {}
    for part in _chunks(ids):
        rows = (Rating.select(Rating.ticket_id, Rating.score)
                .where(Rating.ticket_id.in_(part) & Rating.score.is_null(False)).tuples())
        found.update(dict(rows))
    return found


def sla_results(ids: list[int]) -> dict[int, bool]:
    """SLA met (True) or missed (False) per ticket, from the desk's SLA timers
    (helpdesk/desk/sla.py): missed once any target breached or a stopped one took longer
    than its target; met when every target was reached in time. A ticket with a target
    still running, only cancelled ones, or none at all is left out ("—")."""
    verdicts: dict[int, list[bool | None]] = defaultdict(list)
    for part in _chunks(ids):
        rows = (SlaTimer.select(SlaTimer.ticket, SlaTimer.target, SlaTimer.spent,
                                SlaTimer.breached_at, SlaTimer.stopped_at, SlaTimer.stopped_by)
                .where(SlaTimer.ticket.in_(part)).tuples())
        for tid, target, spent, breached, stopped, by in rows:
            if breached is not None or (stopped is not None and spent > target):
                verdicts[tid].append(False)
            elif stopped is not None and by not in SLA_ABANDONED:
                verdicts[tid].append(True)
            else:
                verdicts[tid].append(None)
    return {tid: all(v) for tid, v in verdicts.items()
            if False in v or (v and None not in v)}


def measure(tickets: list[Ticket]) -> list[Measure]:
    """The figures of every ticket of `tickets` (three queries, whatever their number)."""
    ids = [t.id for t in tickets]
    answered, scores, sla = first_responses(ids), ratings_of(ids), sla_results(ids)
    return [Measure(t, _hours(t.created, answered.get(t.id)),
                    _hours(t.created, t.closed) if t.status == DONE else None,
                    sla.get(t.id), scores.get(t.id)) for t in tickets]


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _row(name: str, items: list[Measure]) -> dict:
    """One line of a breakdown: counts, medians, SLA met % and the average rating."""
    met = [m.sla_met for m in items if m.sla_met is not None]
    scores = [m.rating for m in items if m.rating is not None]
    return {"name": name, "total": len(items),
            "closed": sum(1 for m in items if m.ticket.status == DONE),
            "first_response_h": _median([m.first_response_h for m in items
                                         if m.first_response_h is not None]),
            "resolution_h": _median([m.resolution_h for m in items if m.resolution_h is not None]),
            "sla_met_pct": round(100 * sum(met) / len(met)) if met else None,
            "rating": round(sum(scores) / len(scores), 1) if scores else None,
            "rated": len(scores)}


def group_rows(measures: list[Measure], key) -> list[dict]:
    """Rows per `key(ticket)` ("" when it has none), most tickets closed first."""
    groups: dict[str, list[Measure]] = defaultdict(list)
    for m in measures:
        groups[key(m.ticket) or ""].append(m)
    rows = [_row(name, items) for name, items in groups.items()]
    return sorted(rows, key=lambda r: (-r["closed"], -r["total"], r["name"]))


def breakdowns(tickets: list[Ticket]) -> dict:
    """{overall, by_technician, by_company, by_kind}: the figures of `tickets` as a whole
    and per technician, per company and per ticket type."""
    measures = measure(tickets)
    names = dict(Counterparty.select(Counterparty.id, Counterparty.name).where(
        Counterparty.id.in_({t.counterparty_id for t in tickets if t.counterparty_id})).tuples())
    return {"overall": _row("", measures),
            "by_technician": group_rows(measures, lambda t: t.master_name),
            "by_company": group_rows(measures, lambda t: names.get(t.counterparty_id, "")),
            "by_kind": group_rows(measures, lambda t: t.type)}
