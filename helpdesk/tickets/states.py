"""A ticket's states and the moves between them: the one place that says which status a
ticket is in, what a client may still do with it and where a reopened ticket goes back to.
The service (service.py), the rights (rights.py), the cards and the work group all ask here.

    new --take--> in_progress --wait--> waiting
     |                 |                   |
     +--(technician: done, client: cancel)-+--> done / cancelled  (closed: left the active list)
                       ^                   |
     the client confirms "done" only here: someone is working on it
    done / cancelled --reopen (the author, within tickets.reopen_days)--> in_progress if a
    technician had it, else new
"""
from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["NEW", "IN_PROGRESS", "WAITING", "DONE", "CANCELLED", "STATUSES", "ACTIVE",
           "CLOSED_STATUSES", "WORKED_ON", "client_may_close", "closes", "reopen_status", "reopen_deadline",
           "reopenable"]


NEW, IN_PROGRESS, WAITING, DONE, CANCELLED = "new", "in_progress", "waiting", "done", "cancelled"


STATUSES = (NEW, IN_PROGRESS, WAITING, DONE, CANCELLED)


ACTIVE = (NEW, IN_PROGRESS, WAITING)              # "My tickets"


CLOSED_STATUSES = (DONE, CANCELLED)               # "Closed tickets"; `closed` is set


WORKED_ON = (IN_PROGRESS, WAITING)                # a technician has it


def client_may_close(status: str) -> bool:
    """"Close (the work is done)": only when there is work to confirm. A new ticket nobody
    took has none; the client cancels it instead (with a reason)."""
    return status in WORKED_ON


def closes(old: str, new: str | None) -> bool:
    """A change from `old` to `new` closes the ticket (it owes nothing after: its open
    payment requests are cancelled with it)."""
    return new in CLOSED_STATUSES and new != old


def reopen_status(master_name: str | None) -> str:
    """Where a reopened ticket goes: back to its technician when it had one, else new (the
    work group takes it again)."""
    return IN_PROGRESS if master_name else NEW


def reopen_deadline(closed: datetime | None, days: int) -> datetime | None:
    """Until when a ticket closed at `closed` may be reopened (None: not at all)."""
    if closed is None or days <= 0:
        return None
    return closed + timedelta(days=days)


def reopenable(status: str, closed: datetime | None, now: datetime, days: int) -> bool:
    """A closed or cancelled ticket, closed at most `days` days before `now`."""
    deadline = reopen_deadline(closed, days)
    return status in CLOSED_STATUSES and deadline is not None and now <= deadline
