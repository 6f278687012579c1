"""Who may do what to a ticket: the author always (OWN rights), a company's confirmed
ADMINISTRATOR/DIRECTOR per helpdesk.directory.roles, the work-group actions only the
desk's staff (helpdesk/desk/staff.py roster), reopening only the author. `visible_condition`
is what "My tickets" lists (active tickets only), `closed_condition` what "Closed tickets" lists.
"""
from __future__ import annotations

from helpdesk import directory
from helpdesk.desk import staff
from helpdesk.directory.roles import PermissionDenied, Right

from .errors import NotTechnician
from .tables import ACTIVE, CLOSED_STATUSES, Ticket

__all__ = ["CLIENT_ACTIONS", "TECH_ACTIONS", "ACTIONS", "allowed", "require", "is_technician",
           "company_right", "visible_condition", "closed_condition"]

CLIENT_ACTIONS = ("view", "edit", "cancel", "close", "reopen")
TECH_ACTIONS = ("take", "done", "comment", "waiting")
ACTIONS = CLIENT_ACTIONS + TECH_ACTIONS


def visible_condition(user_id: int):
    """The tickets "My tickets" shows the user (a condition on Ticket): active ones only
    (a cancelled or closed ticket leaves the list, whoever closed it): their own, and those
    of companies where they are a confirmed ADMINISTRATOR or DIRECTOR."""
    admin, director = _company_ids(user_id)
    cond = Ticket.author == user_id
    if admin or director:
        cond |= Ticket.counterparty.in_(sorted(set(admin) | set(director)))
    return cond & Ticket.status.in_(ACTIVE)


def closed_condition(user_id: int, since):
    """The tickets "Closed tickets" shows: closed or cancelled at `since` or later, their
    own and, for a confirmed DIRECTOR (who sees all of a company's tickets), the company's."""
    _, director = _company_ids(user_id)
    cond = Ticket.author == user_id
    if director:
        cond |= Ticket.counterparty.in_(director)
    return cond & Ticket.status.in_(CLOSED_STATUSES) & (Ticket.closed >= since)


def _company_ids(user_id: int) -> tuple[list[int], list[int]]:
    """Counterparties whose active / all tickets the user may see (confirmed
    ADMINISTRATOR+ / DIRECTOR; an unverified member sees only their own)."""
    admin = [c.id for c in directory.companies_where(user_id, Right.VIEW_COMPANY_ACTIVE_TICKETS)]
    director = [c.id for c in directory.companies_where(user_id, Right.VIEW_COMPANY_ALL_TICKETS)]
    return admin, director


def allowed(settings, user_id: int, ticket: Ticket, action: str) -> bool:
    """Whether `user_id` may do `action` (ACTIONS) to `ticket`, ignoring its status."""
    if action in TECH_ACTIONS:
        return is_technician(settings, user_id)
    if action == "reopen":
        return ticket.author_id == user_id   # their request, their word that it is not solved
    if ticket.author_id == user_id:
        return True                  # OWN rights: every role has them (roles.PERMISSIONS)
    if ticket.counterparty_id is None:
        return False
    access = directory.access_in(user_id, ticket.counterparty_id)
    return access.can(company_right(ticket, action))


def company_right(ticket: Ticket, action: str) -> Right:
    """The company right `action` on someone else's ticket needs (reopen: none is enough;
    the refusal names the closing right)."""
    if action == "view":
        return Right.VIEW_COMPANY_ACTIVE_TICKETS if ticket.active else Right.VIEW_COMPANY_ALL_TICKETS
    return Right.EDIT_COMPANY_TICKETS if action == "edit" else Right.CLOSE_COMPANY_TICKETS


def require(settings, user_id: int, ticket: Ticket, action: str) -> None:
    """Raise NotTechnician or PermissionDenied unless `allowed`."""
    if allowed(settings, user_id, ticket, action):
        return
    if action in TECH_ACTIONS:
        raise NotTechnician(user_id)
    raise PermissionDenied(company_right(ticket, action), who=user_id,
                           counterparty=ticket.counterparty_id, reason=f"ticket {ticket.id} {action}")


def is_technician(settings, user_id: int) -> bool:
    """Work-group rights: staff on the desk's roster (technician or dispatcher), read from
    the database at every call. `staff.is_staff` owns the rule (settings only seed the
    roster); this is its name for the ticket service, which passes settings everywhere."""
    return staff.is_staff(user_id)
