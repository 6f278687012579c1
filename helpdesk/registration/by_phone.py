"""Registration by phone: a phone shared with Telegram's contact button (the sender's own)
is proven and links the person (confirmed) to every company listing it, with the role
stated there; a typed phone proves nothing: it is kept apart, and each company listing it
only gets a *pending* request (the person is never told which). The CRM's answer is
imported first; when the CRM fails, `defer_lookup` keeps the phone for the retry job.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from engine.storage import write_tx
from helpdesk import directory
from helpdesk.directory import DirectoryError, phones
from helpdesk.directory.roles import Role, parse_role, role_from_post
from helpdesk.directory.tables import CONFIRMED, PENDING, ContactPerson, Membership, utcnow

from .approval import notify_request
from .current import default_company
from .tables import PendingLookup, PendingRequest

__all__ = ["local_contacts", "register_by_phone", "introduce", "summary", "defer_lookup"]

log = logging.getLogger(__name__)


def local_contacts(phone: str) -> list[ContactPerson]:
    """Contacts of the local directory with this phone (standalone mode, demo data)."""
    return directory.contacts_by_phone(phone)


def _crm_role(post: str, role: str | None, rules) -> Role:
    if role:
        try:
            return max(parse_role(role), Role.USER)
        except ValueError:
            log.warning("CRM role %r is unknown; deriving it from the post", role)
    return role_from_post(post, rules)


def _import_membership(person, ms, phone: str, rules) -> ContactPerson | None:
    """One CRM membership into the directory: company, trade points, the contact."""
    c = ms.company
    try:
        company, _ = directory.upsert_counterparty(
            inn=c.inn, name=c.name or None, kpp=c.kpp or None, ogrn=c.ogrn or None,
            legal_address=c.address or None, crm_id=c.crm_id or None, balance=c.balance_kopecks,
            contract_crm_id=c.contract_crm_id or None)
    except DirectoryError as e:
        log.warning("CRM company %r skipped: %s", c.crm_id, e)
        return None
    for point in c.trade_points:
        if (point.name or "").strip():
            directory.upsert_trade_point(company, name=point.name, address=point.address or None,
                                         crm_id=point.crm_id or None,
                                         contract_crm_id=point.contract_crm_id or None)
    contact, _ = directory.upsert_contact(     # the person's 1C guid: the author of their tasks
        company, full_name=person.full_name or phone, phone=phone, position=ms.post or None,
        role=_crm_role(ms.post, ms.role, rules), person_crm_id=person.crm_id or None)
    return contact


def _import_person(person, phone: str, rules) -> list[ContactPerson]:
    found = [_import_membership(person, ms, phone, rules) for ms in person.memberships]
    return [c for c in found if c is not None]


def register_by_phone(user_id: int, phone: str, *, verified: bool, person=None,
                      full_name: str | None = None, post_rules=None, templates=None,
                      settings=None) -> dict:
    """Register the user by `phone`; returns `summary()` with a status:

    - "found": `verified` and some company lists the phone: linked, confirmed, roles as
      stated there;
    - "requested": typed (not `verified`) and some company lists it: each gets a pending
      request (`new_pending`: the new membership ids); the summary names no company;
    - "not_found": nobody lists it (the questionnaire follows).

    Args:
        person: the CRM's answer (integrations.crm.Person); its companies, trade points
            and contact are upserted first. None: the local directory alone decides.
        verified: the phone came from the user's own shared contact (Telegram proved it).
        full_name: the name the person introduced himself with (asked with a typed phone):
            kept until the CRM names him, and what a request to a company shows.
        templates, settings: to notify the companies' approvers of pending requests.
    """
    phone = phones.parse(phone)
    with write_tx():
        contacts = _import_person(person, phone, post_rules) if person else []
        contacts = contacts or local_contacts(phone)
        PendingLookup.delete().where(PendingLookup.telegram_user == user_id).execute()
        directory.set_user_phone(user_id, phone, verified=verified)
        introduce(user_id, full_name)
        if not contacts:
            return {"status": "not_found", "companies": [], "pending": False, "new_pending": []}
        if not verified:
            return _request_by_phone(user_id, contacts, templates, settings)
        _link_contacts(user_id, contacts)
        default_company(user_id)
        return {**summary(user_id), "status": "found", "new_pending": []}


def introduce(user_id: int, full_name: str | None) -> None:
    """Keep the typed name, unless the CRM already names the person (its name wins)."""
    name = " ".join(str(full_name or "").split())
    if name and directory.known_name(directory.get_user(user_id)) is None:
        with write_tx():
            directory.set_user_full_name(user_id, name)


def _link_contacts(user_id: int, contacts: list[ContactPerson]) -> None:
    """Proven phone: confirmed links to each contact's company, with its role. From now on
    the contact's name is the person's, whatever he typed before (`directory.display_name`
    reads the contact's name too, so a later rename by the CRM is followed)."""
    directory.set_user_full_name(user_id, contacts[0].full_name)
    for contact in contacts:
        m = directory.link_user(user_id, contact.counterparty_id, contact.role, contact,
                                status=CONFIRMED)
        PendingRequest.delete().where(PendingRequest.membership == m.id).execute()


def _request_by_phone(user_id: int, contacts: list[ContactPerson], templates, settings) -> dict:
    """Typed phone: a pending request to each company listing it, nothing linked or told:
    no name, role, contact or company of that number reaches the person. The request is
    for a USER and names no contact: an approver says "this is our employee", not "this is
    the person that number belongs to", so approving it must not make him that contact
    (messages to it, its role, the CRM author of his tickets)."""
    new_pending = []
    for contact in contacts:
        before = directory.access_in(user_id, contact.counterparty_id)
        m = directory.link_user(user_id, contact.counterparty_id, Role.USER, None,
                                status=PENDING)
        if m.status == PENDING and before.role is Role.UNAUTHORIZED:
            new_pending.append(m.id)
    asked = sum(notify_request(membership_id, templates, settings)
                for membership_id in new_pending if templates is not None)
    log.info("user %s typed a listed phone: %s request(s) sent", user_id, len(new_pending))
    return {"status": "requested", "companies": [], "pending": True, "asked": asked,
            "new_pending": new_pending}


def summary(user_id: int) -> dict:
    """{companies: [{id, name, inn, role, confirmed, unverified, point}], pending: bool}
    for templates. Companies are those the person named or was proven to belong to;
    a pending request (from a typed phone) is never listed, only counted in `pending`."""
    members = directory.memberships_of(user_id)
    companies = [{"id": m.counterparty.id, "name": m.counterparty.name, "inn": m.counterparty.inn,
                  "role": m.role, "confirmed": m.is_confirmed, "unverified": m.is_unverified,
                  "point": _point_of(m) if m.is_confirmed else None}
                 for m in members if m.status != PENDING]
    return {"companies": companies, "pending": any(not m.is_confirmed for m in members)}


def _point_of(m: Membership) -> str | None:
    contact = ContactPerson.get_or_none(ContactPerson.id == m.contact_id) if m.contact_id else None
    point = contact.trade_point if contact and contact.trade_point_id else None
    return point.name if point else None


def defer_lookup(user_id: int, chat_id: int, phone: str, *, verified: bool, lang: str | None,
                 error: str, retry_in: float = 60) -> PendingLookup:
    """Keep a lookup the CRM failed (one row per user; a new phone replaces the old)."""
    values = dict(chat_id=chat_id, phone=phones.parse(phone), verified=verified, lang=lang,
                  next_at=utcnow() + timedelta(seconds=retry_in), last_error=error[:500])
    with write_tx():
        (PendingLookup.insert(telegram_user=user_id, **values)
         .on_conflict(conflict_target=[PendingLookup.telegram_user], update=values).execute())
    log.warning("CRM lookup for user %s deferred: %s", user_id, error)
    return PendingLookup.get(PendingLookup.telegram_user == user_id)
