"""Registration services: who a Telegram user is, found by phone (CRM or the local
directory) or told by the questionnaire, and the company's confirmation of strangers.

- `register_by_phone()`: link the user to every counterparty whose contact has the phone,
  with the role stated there. A phone shared with Telegram's contact button is proven
  (confirmed links); a typed one is not, so its links wait for the company (pending).
- `submit_questionnaire()`: a new INN creates the counterparty and the contact (role USER)
  and queues both for the CRM; a known INN only creates a pending link, the company's
  ADMINISTRATOR/DIRECTOR people (or support) confirm it with a button (`decide()`).
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
from engine.storage import BaseModel, is_postgres, write_tx
from helpdesk import directory, outbox, phones
from helpdesk.directory import DirectoryError, NotFound
from helpdesk.jobs import job
from helpdesk.models import (CONFIRMED, PENDING, Contact, Counterparty, Membership,
                             TelegramUser, utcnow)
from helpdesk.roles import PermissionDenied, Right, Role, parse_role, role_from_post
from helpdesk.services import crm_of

__all__ = ["RegistrationError", "PendingLookup", "PendingRequest", "CurrentCompany",
           "CALLBACK_PREFIX", "NAME_MIN", "NAME_MAX", "clean_name", "clean_inn",
           "local_contacts", "register_by_phone", "summary", "defer_lookup",
           "submit_questionnaire", "notify_request", "decide", "is_support",
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


class PendingLookup(BaseModel):
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


class PendingRequest(BaseModel):
    """What a stranger told the questionnaire about themselves; becomes a contact of the
    company only when the company confirms the link (before that it must not exist, or a
    later phone lookup would link them without anyone's consent)."""

    membership = pw.ForeignKeyField(Membership, unique=True, on_delete="CASCADE")
    full_name = pw.CharField(max_length=300)
    phone = pw.CharField(max_length=20, null=True)
    phone_verified = pw.BooleanField(default=False)       # shared with the contact button
    position = pw.CharField(max_length=300, null=True)
    created = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "registration_request"


class CurrentCompany(BaseModel):
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

def local_contacts(phone: str) -> list[Contact]:
    """Contacts of the local directory with this phone (standalone mode, demo data)."""
    return directory.contacts_by_phone(phone)


def _crm_role(post: str, role: str | None, rules) -> Role:
    if role:
        try:
            return max(parse_role(role), Role.USER)
        except ValueError:
            log.warning("CRM role %r is unknown; deriving it from the post", role)
    return role_from_post(post, rules)


def _import_membership(person, ms, phone: str, rules) -> Contact | None:
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


def _import_person(person, phone: str, rules) -> list[Contact]:
    found = [_import_membership(person, ms, phone, rules) for ms in person.memberships]
    return [c for c in found if c is not None]


def register_by_phone(user_id: int, phone: str, *, verified: bool, person=None,
                      post_rules=None, templates=None, settings=None) -> dict:
    """Link the user to every company listing `phone`; returns `summary()` with status
    "found" (and `new_pending`: membership ids waiting for confirmation) or "not_found".

    Args:
        person: the CRM's answer (integrations.crm.Person); its companies, trade points
            and contact are upserted first. None: the local directory alone decides.
        verified: the phone came from the user's own shared contact; else links are pending.
        templates, settings: to notify the companies' admins of pending links.
    """
    phone = phones.parse(phone)
    with write_tx():
        contacts = _import_person(person, phone, post_rules) if person else []
        contacts = contacts or local_contacts(phone)
        PendingLookup.delete().where(PendingLookup.telegram_user == user_id).execute()
        if not contacts:
            return {"status": "not_found", "companies": [], "pending": False, "new_pending": []}
        new_pending = _link_contacts(user_id, phone, contacts, verified)
        for membership_id in new_pending:
            if templates is not None:
                notify_request(membership_id, templates, settings)
        _default_company(user_id)
        return {**summary(user_id), "status": "found", "new_pending": new_pending}


def _link_contacts(user_id: int, phone: str, contacts: list[Contact], verified: bool) -> list[int]:
    user = directory.get_user(user_id)
    if verified and not user.full_name:     # a typed phone must not lend its owner's name
        directory.set_user_full_name(user_id, contacts[0].full_name)
    directory.set_user_phone(user_id, phone)
    new_pending = []
    for contact in contacts:
        before = directory.access_in(user_id, contact.counterparty_id)
        m = directory.link_user(user_id, contact.counterparty_id, contact.role, contact,
                                status=CONFIRMED if verified else PENDING)
        if not m.is_confirmed and before.role is Role.UNAUTHORIZED:
            new_pending.append(m.id)
    return new_pending


def summary(user_id: int) -> dict:
    """{companies: [{id, name, inn, role, confirmed, point}], pending: bool} for templates."""
    companies = [{"id": m.counterparty.id, "name": m.counterparty.name, "inn": m.counterparty.inn,
                  "role": m.role, "confirmed": m.is_confirmed, "point": _point_of(m)}
                 for m in directory.memberships_of(user_id)]
    return {"companies": companies, "pending": any(not c["confirmed"] for c in companies)}


def _point_of(m: Membership) -> str | None:
    contact = Contact.get_or_none(Contact.id == m.contact_id) if m.contact_id else None
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
    """Register from the questionnaire.

    A new INN: the counterparty (DaData's details when `company` is given, else the typed
    `company_name`) and the contact are created, role USER, the user is linked (confirmed)
    and both rows are queued for the CRM. A known INN: a pending link, the request data
    kept aside, the company's admins (or support) notified.

    Returns:
        {"status": "created" | "pending" | "member", "company": {id, name, inn}}
    Raises:
        RegistrationError: a bad name, position, INN or company name (nothing stored).
    """
    full_name, position = clean_name(full_name), clean_name(position, "position")
    inn, phone = clean_inn(inn), phones.parse(phone)
    with write_tx():
        existing = directory.find_counterparty_by_inn(inn)
        if existing is None:
            name = (company or {}).get("name") or company_name
            name = clean_name(name, "company_name", COMPANY_NAME_MAX)
            return _create_company(user_id, phone, full_name, position, inn, name, company or {})
        request = dict(full_name=full_name, phone=phone, position=position,
                       phone_verified=phone_verified)
        return _request_link(user_id, request, existing, templates, settings)


def _set_person(user_id: int, phone: str, full_name: str) -> None:
    directory.set_user_phone(user_id, phone)
    directory.set_user_full_name(user_id, full_name)


def _create_company(user_id, phone, full_name, position, inn, name, details: dict) -> dict:
    _set_person(user_id, phone, full_name)
    company, _ = directory.upsert_counterparty(
        inn=inn, name=name, kpp=details.get("kpp") or None, ogrn=details.get("ogrn") or None,
        legal_address=details.get("address") or None)
    contact, _ = directory.upsert_contact(company, full_name=full_name, phone=phone,
                                          position=position, role=Role.USER)
    directory.link_user(user_id, company, Role.USER, contact, status=CONFIRMED)
    outbox.push("counterparty", company.id)
    outbox.push("contact", contact.id)
    _default_company(user_id)
    log.info("user %s registered a new counterparty %s", user_id, company.id)
    return {"status": "created", "company": _company_dict(company)}


def _request_link(user_id, request: dict, company, templates, settings) -> dict:
    _set_person(user_id, request["phone"], request["full_name"])
    m = directory.link_user(user_id, company, Role.USER, status=PENDING)
    if m.is_confirmed:
        return {"status": "member", "company": _company_dict(company)}
    (PendingRequest.insert(membership=m.id, **request)
     .on_conflict(conflict_target=[PendingRequest.membership], update=request).execute())
    if templates is not None:
        notify_request(m.id, templates, settings)
    log.info("user %s asked to join counterparty %s (membership %s)", user_id, company.id, m.id)
    return {"status": "pending", "company": _company_dict(company)}


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
    data = {"person": {"name": request.full_name if request else (who.first_name or ""),
                       "phone": who.phone, "position": request.position if request else None,
                       "phone_verified": bool(request and request.phone_verified),
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
    notify.enqueue(Reply(requester, text), key=f"mb-decided:{m.id}")
    log.info("membership %s %s by %s", m.id, "confirmed" if approve else "rejected", by_user)
    return "confirmed" if approve else "rejected"


def _confirm(m: Membership, by_user: int) -> None:
    m.status, m.confirmed_by, m.confirmed_at = CONFIRMED, by_user, utcnow()
    m.save()
    request = PendingRequest.get_or_none(PendingRequest.membership == m.id)
    if request is None:
        return
    contact, _ = directory.upsert_contact(m.counterparty_id, full_name=request.full_name,
                                          phone=request.phone, position=request.position,
                                          role=m.role)
    m.contact = contact.id
    m.save()
    outbox.push("contact", contact.id)
    request.delete_instance()
    _default_company(m.telegram_user_id)


# --- current company ---------------------------------------------------------------

def company_choices(user_id: int) -> list[Counterparty]:
    """Companies the user may act for (confirmed memberships), by name."""
    return [m.counterparty for m in directory.memberships_of(user_id, confirmed_only=True)]


def current_company(user_id: int) -> Counterparty | None:
    """The chosen company if still a confirmed membership, else the only one, else None."""
    choices = company_choices(user_id)
    row = CurrentCompany.get_or_none(CurrentCompany.telegram_user == user_id)
    chosen = [c for c in choices if row and c.id == row.counterparty_id]
    if chosen:
        return chosen[0]
    return choices[0] if len(choices) == 1 else None


def set_current_company(user_id: int, counterparty_id: Any) -> Counterparty:
    """Choose the company to act for; only one the user is a confirmed member of."""
    wanted = str(counterparty_id)
    found = [c for c in company_choices(user_id) if str(c.id) == wanted]
    if not found:
        raise PermissionDenied(Right.TICKET_ON_BEHALF_OF_COMPANY, who=user_id,
                               counterparty=wanted[:20], reason="not a confirmed member")
    with write_tx():
        (CurrentCompany.insert(telegram_user=user_id, counterparty=found[0].id, updated=utcnow())
         .on_conflict(conflict_target=[CurrentCompany.telegram_user],
                      update={CurrentCompany.counterparty: found[0].id,
                              CurrentCompany.updated: utcnow()}).execute())
    return found[0]


def _default_company(user_id: int) -> None:
    """With exactly one confirmed company and no choice made yet, that one is current."""
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
        name = "registration/lookup_found" if result["status"] == "found" \
            else "registration/lookup_not_found"
        text = templates.render(name, templates.lang(row.lang), {"lookup": result})
        notify.enqueue(Reply(row.chat_id, text), key=f"reg-lookup:{row.id}")
    return True


@job("registration_lookups", every=60)
def retry_lookups(app) -> int:
    """Retry the lookups the CRM failed; tell each user the result. Returns how many
    were completed."""
    done = 0
    crm = crm_of(app)
    for row in _claim_due():
        try:
            person = crm.find_person(row.phone)
            done += _complete(app, row, person)
        except IntegrationError as e:
            _postpone(row, e)
        except Exception as e:  # noqa: BLE001 - one bad answer must not stop the others
            log.exception("lookup %s for user %s failed", row.id, row.telegram_user)
            _postpone(row, e)
    return done
