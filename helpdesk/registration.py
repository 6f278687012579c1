"""Registration services: who a Telegram user is, found by phone (CRM or the local
directory) or told by the questionnaire, and the company's confirmation of strangers.

- `register_by_phone()`: a phone shared with Telegram's contact button (the sender's own)
  is proven: the user is linked (confirmed) to every counterparty whose contact has it,
  with the role stated there. A typed phone proves nothing: it is kept apart
  (`TelegramUser.unverified_phone`), and each company listing it only gets a *pending*
  request; the person is told that a request went to the company, never which one.
- `submit_questionnaire()`: a typed INN proves nothing either. A new INN creates the
  counterparty (queued for the CRM), a known one is looked up; either way the link is
  *unverified* (own tickets for that company, nothing of the company's) until the CRM lists
  the person's proven phone as its contact (`confirm_listed()`, called by every CRM import)
  or the company's ADMINISTRATOR/DIRECTOR people, or support when it has none, confirm it
  with a button (`decide()`). Only then the contact is created (role USER) and sent to
  the CRM.
- `defer_lookup()` + the `registration_lookups` job: when the CRM fails during the lookup,
  the phone is kept in `registration_lookup` and retried; the user is told the result once.
- `current_company()` / `set_current_company()`: the company a person with several acts
  for (the tickets flow reads it).

Every function writes inside `write_tx()` (savepoints inside the engine's step), so a
failure leaves nothing half-written. Texts are templates; `templates` is the engine's
`Templates` (`step.fs.templates`, `app.engine.flowset.templates`).
"""
from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import peewee as pw
from stdnum.ru import inn as _inn

from engine import notify
from engine.errors import BotError, IntegrationError
from engine.events import Button, Reply
from engine.ids import parse_id
from engine.storage import Table, is_postgres, write_tx
from helpdesk import directory, outbox
from helpdesk.directory import DirectoryError, NotFound, phones
from helpdesk.directory.roles import PermissionDenied, Right, Role, parse_role, role_from_post
from helpdesk.directory.tables import (
    CONFIRMED,
    PENDING,
    UNVERIFIED,
    ContactPerson,
    Counterparty,
    Membership,
    TelegramUser,
    utcnow,
)
from helpdesk.registry import registry

__all__ = ["RegistrationError", "PendingLookup", "PendingRequest", "CurrentCompany",
           "CALLBACK_PREFIX", "NAME_MIN", "NAME_MAX", "clean_name", "clean_inn",
           "local_contacts", "register_by_phone", "summary", "defer_lookup",
           "submit_questionnaire", "notify_request", "decide", "is_support", "confirm_listed",
           "current_company", "set_current_company", "company_choices",
           "retry_lookups", "company_from_dadata"]

log = logging.getLogger(__name__)

CALLBACK_PREFIX = "mb"           # "mb:confirm:<membership id>", "mb:reject:<membership id>"
NAME_MIN, NAME_MAX = 2, 200
COMPANY_NAME_MAX = 300
LOOKUP_LEASE = timedelta(minutes=2)
LOOKUP_BACKOFF_MAX = 3600        # seconds between retries of one lookup, at most


class RegistrationError(BotError, ValueError):
    """Questionnaire data that cannot be stored; `reason` names a template
    (registration/bad_<reason>) the dialog shows."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


class PendingLookup(Table):
    """A phone lookup the CRM could not answer; the job retries it."""

    telegram_user = pw.BigIntegerField(unique=True)
    chat_id = pw.BigIntegerField()
    phone = pw.CharField(max_length=20)                   # E.164
    verified = pw.BooleanField(default=True)              # shared with the contact button
    lang = pw.CharField(max_length=8, null=True)
    attempts = pw.IntegerField(default=0)
    next_at = pw.DateTimeField(default=utcnow, index=True)
    last_error = pw.TextField(null=True)
    created = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "registration_lookup"


class PendingRequest(Table):
    """What a person told the questionnaire about themselves; becomes a contact of the
    company only when the link is proven (before that it must not exist, or a later phone
    lookup would link somebody through it without anyone's consent)."""

    membership = pw.ForeignKeyField(Membership, unique=True, on_delete="CASCADE")
    full_name = pw.CharField(max_length=300)
    phone = pw.CharField(max_length=20, null=True)
    phone_verified = pw.BooleanField(default=False)       # shared with the contact button
    position = pw.CharField(max_length=300, null=True)
    created = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "registration_request"


class CurrentCompany(Table):
    """The counterparty a person with several acts for (chosen after registration)."""

    telegram_user = pw.BigIntegerField(primary_key=True)
    counterparty = pw.ForeignKeyField(Counterparty, on_delete="CASCADE")
    updated = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "current_company"


# --- input -------------------------------------------------------------------------

def clean_name(text: str, reason: str = "name", max_len: int = NAME_MAX) -> str:
    """Whitespace collapsed; RegistrationError when shorter than 2 or longer than max_len."""
    name = " ".join(str(text or "").split())
    if len(name) < NAME_MIN or len(name) > max_len:
        raise RegistrationError(reason, f"{reason}: {len(name)} characters, "
                                        f"expected {NAME_MIN}..{max_len}")
    return name


def clean_inn(text: str) -> str:
    """10 or 12 digits with a valid checksum; RegistrationError otherwise."""
    digits = re.sub(r"\s", "", str(text or ""))
    if not _inn.is_valid(digits):
        raise RegistrationError("inn", f"not a valid INN: {digits[:20]!r}")
    return digits


# --- lookup by phone ---------------------------------------------------------------

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
            legal_address=c.address or None, crm_id=c.crm_id or None, balance=c.balance_kopecks)
    except DirectoryError as e:
        log.warning("CRM company %r skipped: %s", c.crm_id, e)
        return None
    for point in c.trade_points:
        if (point.name or "").strip():
            directory.upsert_trade_point(company, name=point.name, address=point.address or None,
                                         crm_id=point.crm_id or None)
    contact, _ = directory.upsert_contact(
        company, full_name=person.full_name or phone, phone=phone, position=ms.post or None,
        role=_crm_role(ms.post, ms.role, rules))
    return contact


def _import_person(person, phone: str, rules) -> list[ContactPerson]:
    found = [_import_membership(person, ms, phone, rules) for ms in person.memberships]
    return [c for c in found if c is not None]


def register_by_phone(user_id: int, phone: str, *, verified: bool, person=None,
                      post_rules=None, templates=None, settings=None) -> dict:
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
        templates, settings: to notify the companies' approvers of pending requests.
    """
    phone = phones.parse(phone)
    with write_tx():
        contacts = _import_person(person, phone, post_rules) if person else []
        contacts = contacts or local_contacts(phone)
        PendingLookup.delete().where(PendingLookup.telegram_user == user_id).execute()
        directory.set_user_phone(user_id, phone, verified=verified)
        if not contacts:
            return {"status": "not_found", "companies": [], "pending": False, "new_pending": []}
        if not verified:
            return _request_by_phone(user_id, contacts, templates, settings)
        _link_contacts(user_id, contacts)
        _default_company(user_id)
        return {**summary(user_id), "status": "found", "new_pending": []}


def _link_contacts(user_id: int, contacts: list[ContactPerson]) -> None:
    """Proven phone: confirmed links to each contact's company, with its role."""
    if not directory.get_user(user_id).full_name:
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


# --- questionnaire -----------------------------------------------------------------

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
    directory.set_user_full_name(user_id, request["full_name"])
    m = directory.link_user(user_id, company, Role.USER, status=UNVERIFIED)
    if m.is_confirmed:
        return {"status": "member", "company": _company_dict(company)}
    (PendingRequest.insert(membership=m.id, **request)
     .on_conflict(conflict_target=[PendingRequest.membership], update=request).execute())
    _default_company(user_id)
    asked = notify_request(m.id, templates, settings) if templates is not None else 0
    log.info("user %s linked unverified to counterparty %s (membership %s)",
             user_id, company.id, m.id)
    return {"status": status, "company": _company_dict(company), "asked": asked}


def _company_dict(company: Counterparty) -> dict:
    return {"id": company.id, "name": company.name, "inn": company.inn}


# --- confirmation by the company ---------------------------------------------------

def is_support(user_id: int, settings) -> bool:
    """Support staff (settings tickets.technicians) may confirm any company's requests."""
    return settings is not None and int(user_id) in set(settings.tickets.technicians)


def _approvers(m: Membership, settings) -> list[int]:
    people = directory.company_people(m.counterparty_id, right=Right.CONFIRM_MEMBERS)
    ids = [p.telegram_user_id for p in people
           if p.role_enum >= m.role_enum and p.telegram_user_id != m.telegram_user_id]
    return ids or list(settings.tickets.technicians if settings else [])


def _lang_of(user_id: int, templates) -> str:
    user = TelegramUser.get_or_none(TelegramUser.id == user_id)
    return templates.lang(user.language if user else None)


def notify_request(membership_id: int, templates, settings) -> int:
    """Ask the company's approvers (or support when it has none) to confirm; once each."""
    m = Membership.get_by_id(membership_id)
    request = PendingRequest.get_or_none(PendingRequest.membership == m.id)
    who = directory.get_user(m.telegram_user_id)
    phone = request.phone if request else (who.unverified_phone or who.phone)
    data = {"person": {"name": request.full_name if request else (who.first_name or ""),
                       "phone": phone, "position": request.position if request else None,
                       "phone_verified": bool(phone) and phone == who.phone,
                       "username": who.username, "role": m.role},
            "company": _company_dict(m.counterparty)}
    approvers = _approvers(m, settings)
    for chat in approvers:
        lang = _lang_of(chat, templates)
        buttons = [[Button(templates.render_label("registration/btn_confirm", lang, {}),
                           f"{CALLBACK_PREFIX}:confirm:{m.id}"),
                    Button(templates.render_label("registration/btn_reject", lang, {}),
                           f"{CALLBACK_PREFIX}:reject:{m.id}")]]
        text = templates.render("registration/request_notify", lang, data)
        notify.enqueue(Reply(chat, text, buttons=buttons), key=f"mb-request:{m.id}:{chat}")
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
        out = {"person": _person_name(m.telegram_user_id), "company": m.counterparty.name}
        if m.is_confirmed:
            return {**out, "status": "already"}
        return {**out, "status": _apply_decision(m, by_user, approve, templates, settings)}


def _person_name(user_id: int) -> str:
    user = TelegramUser.get_or_none(TelegramUser.id == user_id)
    return (user.full_name or user.first_name or str(user_id)) if user else str(user_id)


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
    lang = _lang_of(requester, templates)
    text = templates.render(template, lang, {"company": _company_dict(company)})
    notify.enqueue(Reply(requester, text), key=f"mb-decided:{m.id}")   # m may be deleted
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
    _default_company(m.telegram_user_id)


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
            PendingRequest.delete().where(PendingRequest.membership == m.id).execute()
            _default_company(m.telegram_user_id)
            if templates is not None:
                _tell_requester(m, "registration/request_confirmed", templates)
            log.info("membership %s confirmed: the CRM lists contact %s", m.id, contact.id)
    return len(pairs)


def _tell_requester(m: Membership, template: str, templates) -> None:
    lang = _lang_of(m.telegram_user_id, templates)
    text = templates.render(template, lang, {"company": _company_dict(m.counterparty)})
    notify.enqueue(Reply(m.telegram_user_id, text), key=f"mb-decided:{m.id}")


# --- current company ---------------------------------------------------------------

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


def _default_company(user_id: int) -> None:
    """With exactly one company to act for and no choice made yet, that one is current."""
    choices = company_choices(user_id)
    has_row = CurrentCompany.get_or_none(CurrentCompany.telegram_user == user_id) is not None
    if len(choices) == 1 and not has_row:
        set_current_company(user_id, choices[0].id)


# --- the retry job -----------------------------------------------------------------

def _claim_due(limit: int = 20) -> list[PendingLookup]:
    now = utcnow()
    with write_tx():
        query = (PendingLookup.select().where(PendingLookup.next_at <= now)
                 .order_by(PendingLookup.next_at).limit(limit))
        if is_postgres():
            query = query.for_update(skip_locked=True)
        rows = list(query)
        if rows:
            (PendingLookup.update(next_at=now + LOOKUP_LEASE)
             .where(PendingLookup.id.in_([r.id for r in rows])).execute())
    return rows


def _postpone(row: PendingLookup, error: Exception) -> None:
    delay = min(60 * 2 ** min(row.attempts, 10), LOOKUP_BACKOFF_MAX)
    with write_tx():
        (PendingLookup.update(attempts=PendingLookup.attempts + 1, last_error=str(error)[:500],
                              next_at=utcnow() + timedelta(seconds=delay))
         .where(PendingLookup.id == row.id).execute())
    log.warning("CRM lookup for user %s failed again (attempt %s): %s",
                row.telegram_user, row.attempts + 1, error)


def _complete(app, row: PendingLookup, person) -> bool:
    templates = app.engine.flowset.templates
    settings = app.settings
    with write_tx():
        if PendingLookup.get_or_none(PendingLookup.id == row.id) is None:
            return False          # the user registered meanwhile (or another worker did it)
        directory.get_or_create_user(row.telegram_user, language=row.lang)
        result = register_by_phone(row.telegram_user, row.phone, verified=row.verified,
                                   person=person, post_rules=settings.crm.post_roles,
                                   templates=templates, settings=settings)
        name = _LOOKUP_TEMPLATES[result["status"]]
        text = templates.render(name, templates.lang(row.lang), {"lookup": result})
        notify.enqueue(Reply(row.chat_id, text), key=f"reg-lookup:{row.id}")
    return True


_LOOKUP_TEMPLATES = {"found": "registration/lookup_found",
                     "requested": "registration/requested",
                     "not_found": "registration/lookup_not_found"}


@registry.job("registration_lookups", every=60)
def retry_lookups(app) -> int:
    """Retry the lookups the CRM failed; tell each user the result. Returns how many
    were completed."""
    done = 0
    crm = app.services.crm
    for row in _claim_due():
        try:
            person = crm.find_person(row.phone)
            done += _complete(app, row, person)
        except IntegrationError as e:
            _postpone(row, e)
        except Exception as e:  # one bad answer must not stop the others
            log.exception("lookup %s for user %s failed", row.id, row.telegram_user)
            _postpone(row, e)
    return done
