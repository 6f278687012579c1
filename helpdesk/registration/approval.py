"""The company's confirmation of a stranger's link: its approvers (support when it has
none) are asked with Confirm/Reject buttons (`notify_request`), one of them decides
(`decide`), and every CRM import confirms the links it now proves (`confirm_listed`). Only a
confirmed link becomes a contact person, sent to the CRM. The requester is told once.
"""
from __future__ import annotations

import logging

from engine.ids import parse_id
from engine.storage import write_tx
from helpdesk import directory
from helpdesk.desk import staff
from helpdesk.directory import DirectoryError, NotFound
from helpdesk.directory.roles import PermissionDenied, Right
from helpdesk.directory.tables import CONFIRMED, ContactPerson, Counterparty, Membership, utcnow
from helpdesk.notices import queue_notice
from helpdesk.sync import outbox

from .current import default_company
from .tables import PendingRequest

__all__ = ["CALLBACK_PREFIX", "is_support", "notify_request", "decide", "confirm_listed",
           "company_view"]

log = logging.getLogger(__name__)


CALLBACK_PREFIX = "mb"           # "mb:confirm:<membership id>", "mb:reject:<membership id>"


def company_view(company: Counterparty) -> dict:
    return {"id": company.id, "name": company.name, "inn": company.inn}


def is_support(user_id: int, settings) -> bool:
    """Support staff (the desk's roster: helpdesk/desk/staff.py) may confirm any company's
    requests. `settings` is kept for the callers; the roster is the one answer."""
    return staff.is_staff(user_id)


def _approvers(m: Membership, settings) -> list[int]:
    people = directory.company_people(m.counterparty_id, right=Right.CONFIRM_MEMBERS)
    ids = [p.telegram_user_id for p in people
           if p.role_enum >= m.role_enum and p.telegram_user_id != m.telegram_user_id]
    return ids or staff.staff_ids()


def notify_request(membership_id: int, templates, settings) -> int:
    """Ask the company's approvers (or support when it has none) to confirm; once each."""
    m = Membership.get_by_id(membership_id)
    request = PendingRequest.get_or_none(PendingRequest.membership == m.id)
    who = directory.get_user(m.telegram_user_id)
    phone = request.phone if request else (who.unverified_phone or who.phone)
    data = {"person": {"name": request.full_name if request else directory.introduced_name(who),
                       "telegram_name": who.first_name or "",
                       "phone": phone, "position": request.position if request else None,
                       "phone_verified": bool(phone) and phone == who.phone,
                       "username": who.username, "role": m.role},
            "company": company_view(m.counterparty)}
    approvers = _approvers(m, settings)
    buttons = [[("registration/btn_confirm", f"{CALLBACK_PREFIX}:confirm:{m.id}"),
                ("registration/btn_reject", f"{CALLBACK_PREFIX}:reject:{m.id}")]]
    for chat in approvers:
        queue_notice(templates, chat, "registration/request_notify", data,
                     key=f"mb-request:{m.id}:{chat}", buttons=buttons)
    if not approvers:
        log.warning("membership %s: nobody can confirm it (no admins, no support)", m.id)
    return len(approvers)


def _membership_id(text: str | int) -> int:
    found = parse_id(text)
    if found is None:
        raise NotFound(f"membership id {str(text)[:20]!r} is not an id")
    return found


def decide(membership_id: str | int, by_user: int, approve: bool, *, templates,
           settings=None, ensure_user=None) -> dict:
    """Confirm or reject a pending link on behalf of `by_user` (an approver of that company,
    or support). Rights are checked here; the requester is told the outcome once.

    Returns:
        {"status": "confirmed" | "rejected" | "already", "person": name, "company": name}
    Raises:
        NotFound: no such membership (forged or already rejected id).
        PermissionDenied: `by_user` may not decide for this company.
        DirectoryError: rejecting a link that is already confirmed.

    `ensure_user` (optional) is called once the right is established, before anything is
    written (the confirmation refers to the decider's row): a refused press writes nothing.
    """
    mid = _membership_id(membership_id)
    with write_tx():
        m = Membership.get_or_none(Membership.id == mid)
        if m is None:
            raise NotFound(f"membership {mid} does not exist")
        _check(m, by_user, settings)
        if m.is_confirmed and not approve:
            raise DirectoryError(f"membership {mid} is already confirmed")
        if ensure_user is not None:
            ensure_user()
        out = {"person": directory.display_name(m.telegram_user), "company": m.counterparty.name}
        if m.is_confirmed:
            return {**out, "status": "already"}
        return {**out, "status": _apply_decision(m, by_user, approve, templates, settings)}


def _check(m: Membership, by_user: int, settings) -> None:
    if is_support(by_user, settings):
        return
    access = directory.access_in(by_user, m.counterparty_id)
    access.require(Right.CONFIRM_MEMBERS)
    if access.role < m.role_enum:
        raise PermissionDenied(Right.CONFIRM_MEMBERS, who=by_user, counterparty=m.counterparty_id,
                               reason=f"cannot confirm a {m.role} as {access.role.name}")


def _apply_decision(m: Membership, by_user: int, approve: bool, templates, settings) -> str:
    requester, company = m.telegram_user_id, m.counterparty
    if approve:
        _confirm(m, by_user)
    else:
        PendingRequest.delete().where(PendingRequest.membership == m.id).execute()
        m.delete_instance()
    template = "registration/request_confirmed" if approve else "registration/request_rejected"
    queue_notice(templates, requester, template, {"company": company_view(company)},
                 key=f"mb-decided:{m.id}")      # the id is read before: m may be deleted
    log.info("membership %s %s by %s", m.id, "confirmed" if approve else "rejected", by_user)
    return "confirmed" if approve else "rejected"


def _confirm(m: Membership, by_user: int) -> None:
    m.status, m.confirmed_by, m.confirmed_at = CONFIRMED, by_user, utcnow()
    m.save()
    request = PendingRequest.get_or_none(PendingRequest.membership == m.id)
    if request is None:
        return
    contact = _request_contact(m, request)
    m.contact = contact.id
    m.save()
    outbox.push("contact", contact.id)
    request.delete_instance()
    default_company(m.telegram_user_id)


def _request_contact(m: Membership, request: PendingRequest) -> ContactPerson:
    """The contact a confirmed request becomes: the company's contact with his *proven*
    phone when there is one (the phone is the proof), else a new row. Never a match by name:
    a stranger who typed the director's name would become the director's contact. A typed
    phone is not stored on it (it must not find anybody later)."""
    proven = request.phone_verified and request.phone == directory.get_user(m.telegram_user_id).phone
    if proven:
        same = ContactPerson.get_or_none((ContactPerson.counterparty == m.counterparty_id)
                                   & (ContactPerson.phone == request.phone))
        if same is not None:
            return same
    return ContactPerson.create(counterparty=m.counterparty_id, full_name=request.full_name,
                          phone=request.phone if proven else None, position=request.position,
                          role=m.role)


def confirm_listed(counterparty_ids, templates=None) -> int:
    """Confirm every unverified or pending link the CRM now proves: the counterparty lists
    the person's *proven* phone as its contact. The role becomes that contact's (the CRM's);
    the person is told once when `templates` is given. Every CRM import calls this with
    the counterparties it touched. Returns how many were confirmed."""
    with write_tx():
        pairs = directory.listed_unproven(counterparty_ids)
        for m, contact in pairs:
            m.status, m.role, m.contact, m.confirmed_at = CONFIRMED, contact.role, contact.id, utcnow()
            m.save()
            directory.set_user_full_name(m.telegram_user_id, contact.full_name)  # the CRM names him
            PendingRequest.delete().where(PendingRequest.membership == m.id).execute()
            default_company(m.telegram_user_id)
            if templates is not None:
                _tell_requester(m, "registration/request_confirmed", templates)
            log.info("membership %s confirmed: the CRM lists contact %s", m.id, contact.id)
    return len(pairs)


def _tell_requester(m: Membership, template: str, templates) -> None:
    queue_notice(templates, m.telegram_user_id, template,
                 {"company": company_view(m.counterparty)}, key=f"mb-decided:{m.id}")
