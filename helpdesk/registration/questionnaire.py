"""Registration by the questionnaire: a typed INN proves nothing, so the link is
*unverified* (own tickets for that company, nothing of the company's) until the CRM lists
the person's proven phone or an approver confirms it. A new INN creates the counterparty
(DaData's details or the typed name) and queues it for the CRM.
"""
from __future__ import annotations

import logging

from engine.storage import write_tx
from helpdesk import directory
from helpdesk.directory import phones
from helpdesk.directory.roles import Role
from helpdesk.directory.tables import UNVERIFIED, Counterparty
from helpdesk.sync import outbox

from .answers import COMPANY_NAME_MAX, clean_inn, clean_name
from .approval import company_view, notify_request
from .current import default_company
from .tables import PendingRequest

__all__ = ["company_from_dadata", "submit_questionnaire"]

log = logging.getLogger(__name__)


def company_from_dadata(info) -> dict | None:
    """A DaData CompanyInfo as a slot-friendly dict (None stays None)."""
    if info is None:
        return None
    return {"inn": info.inn, "name": info.name, "kpp": info.kpp, "ogrn": info.ogrn,
            "address": info.address, "active": info.active}


def submit_questionnaire(user_id: int, *, phone: str, full_name: str, inn: str,
                         position: str, company: dict | None = None,
                         company_name: str | None = None, phone_verified: bool = False,
                         templates=None, settings=None) -> dict:
    """Register from the questionnaire: a typed INN gives an *unverified* link.

    A new INN: the counterparty is created (DaData's details when `company` is given, else
    the typed `company_name`) and queued for the CRM. A known INN: nothing of it changes.
    Either way the user is linked as unverified USER, the request data kept aside (the
    contact is made when the link is proven) and the company's approvers (support when it
    has none) are asked. `phone_verified` counts only when it is the user's proven phone.

    Returns:
        {"status": "created" | "pending" | "member", "company": {id, name, inn},
         "asked": how many approvers were asked}
    Raises:
        RegistrationError: a bad name, position, INN or company name (nothing stored).
    """
    full_name, position = clean_name(full_name), clean_name(position, "position")
    inn, phone = clean_inn(inn), phones.parse(phone)
    with write_tx():
        proven = phone_verified and directory.get_user(user_id).phone == phone
        request = dict(full_name=full_name, phone=phone, position=position,
                       phone_verified=proven)
        existing = directory.find_counterparty_by_inn(inn)
        if existing is not None:
            return _request_link(user_id, request, existing, "pending", templates, settings)
        name = (company or {}).get("name") or company_name
        name = clean_name(name, "company_name", COMPANY_NAME_MAX)
        created = _create_company(inn, name, company or {})
        log.info("user %s registered a new counterparty %s", user_id, created.id)
        return _request_link(user_id, request, created, "created", templates, settings)


def _create_company(inn, name, details: dict) -> Counterparty:
    company, _ = directory.upsert_counterparty(
        inn=inn, name=name, kpp=details.get("kpp") or None, ogrn=details.get("ogrn") or None,
        legal_address=details.get("address") or None)
    outbox.push("counterparty", company.id)
    return company


def _request_link(user_id, request: dict, company, status: str, templates, settings) -> dict:
    directory.set_user_phone(user_id, request["phone"], verified=request["phone_verified"])
    if directory.known_name(directory.get_user(user_id)) is None:    # the CRM's name wins
        directory.set_user_full_name(user_id, request["full_name"])
    m = directory.link_user(user_id, company, Role.USER, status=UNVERIFIED)
    if m.is_confirmed:
        return {"status": "member", "company": company_view(company)}
    (PendingRequest.insert(membership=m.id, **request)
     .on_conflict(conflict_target=[PendingRequest.membership], update=request).execute())
    default_company(user_id)
    asked = notify_request(m.id, templates, settings) if templates is not None else 0
    log.info("user %s linked unverified to counterparty %s (membership %s)",
             user_id, company.id, m.id)
    return {"status": status, "company": company_view(company), "asked": asked}
