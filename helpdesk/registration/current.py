"""The company a person with several acts for (the tickets flow reads it): chosen among
their confirmed or unverified links, or the only one."""
from __future__ import annotations

from typing import Any

from engine.storage import write_tx
from helpdesk import directory
from helpdesk.directory.roles import PermissionDenied, Right
from helpdesk.directory.tables import Counterparty, utcnow

from .tables import CurrentCompany

__all__ = ["company_choices", "current_company", "set_current_company", "default_company"]


def company_choices(user_id: int) -> list[Counterparty]:
    """Companies the user may file tickets for (confirmed or unverified links), by name."""
    return directory.companies_where(user_id, Right.TICKET_ON_BEHALF_OF_COMPANY)


def current_company(user_id: int) -> Counterparty | None:
    """The chosen company if still one of the choices, else the only one, else None."""
    choices = company_choices(user_id)
    row = CurrentCompany.get_or_none(CurrentCompany.telegram_user == user_id)
    chosen = [c for c in choices if row and c.id == row.counterparty_id]
    if chosen:
        return chosen[0]
    return choices[0] if len(choices) == 1 else None


def set_current_company(user_id: int, counterparty_id: Any) -> Counterparty:
    """Choose the company to act for; only one of `company_choices()`."""
    wanted = str(counterparty_id)
    found = [c for c in company_choices(user_id) if str(c.id) == wanted]
    if not found:
        raise PermissionDenied(Right.TICKET_ON_BEHALF_OF_COMPANY, who=user_id,
                               counterparty=wanted[:20], reason="not a member")
    with write_tx():
        (CurrentCompany.insert(telegram_user=user_id, counterparty=found[0].id, updated=utcnow())
         .on_conflict(conflict_target=[CurrentCompany.telegram_user],
                      update={CurrentCompany.counterparty: found[0].id,
                              CurrentCompany.updated: utcnow()}).execute())
    return found[0]


def default_company(user_id: int) -> None:
    """With exactly one company to act for and no choice made yet, that one is current."""
    choices = company_choices(user_id)
    has_row = CurrentCompany.get_or_none(CurrentCompany.telegram_user == user_id) is not None
    if len(choices) == 1 and not has_row:
        set_current_company(user_id, choices[0].id)
