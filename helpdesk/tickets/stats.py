"""Ticket statistics for `/stats` (the bot) and `run.py report` (CSV + chart).

`for_user()` is the bot's entry: the desk's staff (helpdesk.desk.staff) get figures over
every ticket; confirmed ADMINISTRATOR/DIRECTOR members (Right.VIEW_STATS) only about their
own counterparties; anybody else nothing. `summarize()` is the plain computation over any
set of tickets (the report uses it for every ticket); measures.py adds the figures per
technician, company and type (first response, resolution, SLA met, rating).
"""
from __future__ import annotations

import statistics
from collections import Counter
from datetime import datetime, timedelta

from helpdesk.desk import staff
from helpdesk.directory.roles import PermissionDenied, Right, can
from helpdesk.directory.tables import CONFIRMED, Counterparty, Membership, TradePoint, utcnow

from .measures import breakdowns
from .tables import DONE, Ticket

__all__ = ["PERIODS", "summarize", "tickets_between", "stats_companies", "may_see", "for_user"]

PERIODS = (7, 30, 90)       # days, the buttons of /stats


def tickets_between(since: datetime, until: datetime, counterparty_ids=None) -> list[Ticket]:
    """Tickets created in [since, until), of the given counterparties (None: all)."""
    query = Ticket.select().where((Ticket.created >= since) & (Ticket.created < until))
    if counterparty_ids is not None:
        query = query.where(Ticket.counterparty.in_(list(counterparty_ids)))
    return list(query.order_by(Ticket.created))


def _pairs(counter: Counter) -> list[list]:
    return [[k, v] for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))]


def _median_hours(tickets: list[Ticket]) -> float | None:
    spans = [(t.closed - t.created).total_seconds() / 3600 for t in tickets
             if t.status == DONE and t.closed]
    return round(statistics.median(spans), 1) if spans else None


def summarize(tickets: list[Ticket]) -> dict:
    """Counts by status, type, trade point and master, and the median hours to close
    (done tickets). Keys of missing values are "" (templates show a dash)."""
    points = {p.id: p.name for p in TradePoint.select(TradePoint.id, TradePoint.name)
              .where(TradePoint.id.in_({t.trade_point_id for t in tickets if t.trade_point_id}))}
    return {
        "total": len(tickets),
        "by_status": _pairs(Counter(t.status for t in tickets)),
        "by_type": _pairs(Counter(t.type for t in tickets)),
        "by_point": _pairs(Counter(points.get(t.trade_point_id, "") for t in tickets)),
        "by_master": _pairs(Counter(t.master_name or "" for t in tickets)),
        "median_hours": _median_hours(tickets),
    }


def stats_companies(user_id: int) -> list[Counterparty]:
    """Counterparties whose statistics the user may see (confirmed ADMINISTRATOR+)."""
    rows = (Membership.select(Membership, Counterparty).join(Counterparty)
            .where((Membership.telegram_user == user_id) & (Membership.status == CONFIRMED)))
    return [m.counterparty for m in rows if can(m.role_enum, Right.VIEW_STATS)]


def may_see(user_id: int) -> bool:
    """Whether `/stats` shows the user anything: staff, or ADMINISTRATOR+ of a company."""
    return staff.is_staff(user_id) or bool(stats_companies(user_id))


def for_user(user_id: int, days: int, now: datetime | None = None) -> dict:
    """The `/stats` figures of the last `days` days: over every ticket for staff, over the
    user's counterparties for their ADMINISTRATOR+; PermissionDenied for anybody else."""
    everything = staff.is_staff(user_id)
    companies = [] if everything else stats_companies(user_id)
    if not (everything or companies):
        raise PermissionDenied(Right.VIEW_STATS, who=user_id, reason="no company where ADMINISTRATOR+")
    days = int(days) if int(days) in PERIODS else PERIODS[0]
    until = now or utcnow()
    found = tickets_between(until - timedelta(days=days), until + timedelta(seconds=1),
                            None if everything else [c.id for c in companies])
    return {**summarize(found), **breakdowns(found), "days": days, "everything": everything,
            "companies": [c.name for c in companies]}
