"""Directory services: people, companies and who may do what in which company.

Every write runs inside `engine.storage.write_tx()`. Functions take model instances or
plain ids (a Telegram id, a row id) alike. Rights are enforced here, not in the dialogs:
`access_in()` gives an `Access` whose `require()` raises PermissionDenied;
`companies_where()` and `company_people()` are the one place that answers "in which
companies may this person do X" and "who in this company may do X".

Phones: `set_user_phone(verified=False)` keeps a typed number apart
(`TelegramUser.unverified_phone`); `users_by_phone()` and `users_of_contact()`, the only
phone/contact -> Telegram user lookups, read proven phones and confirmed links alone.

Upserts are idempotent and match by CRM id first, then by the natural key (INN for a
counterparty, name for a trade point, phone or name for a contact): registration and the
CRM sync call them with whatever they know.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping

import peewee as pw
from stdnum.ru import inn as _inn

from engine.errors import BotError
from engine.storage import db, write_tx
from helpdesk import phones
from helpdesk.models import (
    CONFIRMED,
    MEMBERSHIP_STATUSES,
    PENDING,
    UNVERIFIED,
    Contact,
    Counterparty,
    Membership,
    TelegramUser,
    TradePoint,
    utcnow,
)
from helpdesk.roles import Access, PermissionDenied, Right, Role, parse_role, role_from_post

__all__ = ["DirectoryError", "NotFound", "clean_inn", "get_or_create_user", "get_user",
           "set_user_phone", "set_user_full_name", "set_user_language", "memberships_of",
           "users_by_phone", "users_of_contact", "access_of", "companies_where",
           "access_in", "role_in", "link_user", "listed_unproven", "upsert_counterparty", "upsert_trade_point",
           "upsert_contact", "find_counterparty_by_inn", "contacts_by_phone",
           "confirm_membership", "reject_membership", "pending_memberships", "company_people"]

log = logging.getLogger(__name__)


class DirectoryError(BotError, ValueError):
    """Bad input to a directory service (the message says which value and why)."""


class NotFound(DirectoryError):
    """A row named by id does not exist (ids from callback data are never trusted)."""


def _id(obj) -> int | None:
    return obj if obj is None or isinstance(obj, int) else obj.id


def clean_inn(inn: str | int) -> str:
    """The INN as 10 or 12 digits; DirectoryError otherwise (checksum is the dialog's job)."""
    value = _inn.compact(str(inn))
    if not re.fullmatch(r"[0-9]{10}|[0-9]{12}", value):    # ASCII: str.isdigit() takes "²"
        raise DirectoryError(f"INN must be 10 or 12 digits, got {str(inn)[:20]!r}")
    return value


# --- Telegram users -----------------------------------------------------------------

def get_or_create_user(telegram_id: int, username: str | None = None,
                       first_name: str | None = None, language: str | None = None) -> TelegramUser:
    """The user with this Telegram id, created on first contact; refreshes name and last_seen.

    The language is taken only when none is stored yet: a language the user chose later
    must not be overwritten by Telegram's client language on every update.
    """
    now = utcnow()
    update = {TelegramUser.last_seen: now,
              TelegramUser.language: pw.fn.COALESCE(TelegramUser.language, pw.EXCLUDED.language)}
    if username is not None:
        update[TelegramUser.username] = username
    if first_name is not None:
        update[TelegramUser.first_name] = first_name
    with write_tx():
        (TelegramUser.insert(id=int(telegram_id), username=username, first_name=first_name,
                             language=language, created=now, last_seen=now)
         .on_conflict(conflict_target=[TelegramUser.id], update=update).execute())
    return TelegramUser.get_by_id(int(telegram_id))


def get_user(user) -> TelegramUser:
    """The TelegramUser for an id or instance; NotFound when unknown."""
    found = TelegramUser.get_or_none(TelegramUser.id == _id(user))
    if found is None:
        raise NotFound(f"telegram user {_id(user)} is unknown")
    return found


def _set_user_field(user, **values) -> None:
    with write_tx():
        TelegramUser.update(**values).where(TelegramUser.id == _id(user)).execute()


def set_user_phone(user, phone: str, *, verified: bool = False) -> str:
    """Store the user's phone in E.164 and return it; PhoneError for a bad number.

    `verified`: Telegram proved it (the sender shared their own contact); only then it is
    `TelegramUser.phone`, the number that finds the person. A typed one goes to
    `unverified_phone` and leaves the proven one as it was.
    """
    e164 = phones.parse(phone)
    if verified:
        _set_user_field(user, phone=e164, unverified_phone=None)
    else:
        _set_user_field(user, unverified_phone=e164)
    return e164


def users_by_phone(phone: str) -> list[TelegramUser]:
    """Telegram users whose *proven* phone this is (any spelling); [] for garbage."""
    e164 = phones.normalize(phone)
    if e164 is None:
        return []
    return list(TelegramUser.select().where(TelegramUser.phone == e164).order_by(TelegramUser.id))


def users_of_contact(contact) -> list[TelegramUser]:
    """Telegram users who are this contact: a confirmed link to it, or its phone proven."""
    c = contact if isinstance(contact, Contact) else Contact.get_by_id(_id(contact))
    linked = Membership.select(Membership.telegram_user).where(
        (Membership.contact == c.id) & (Membership.status == CONFIRMED))
    by_phone = (TelegramUser.phone == c.phone) if c.phone else False
    return list(TelegramUser.select().where(TelegramUser.id.in_(linked) | by_phone)
                .order_by(TelegramUser.id))


def set_user_full_name(user, full_name: str) -> None:
    name = " ".join(str(full_name).split())
    if not name:
        raise DirectoryError("full name is empty")
    _set_user_field(user, full_name=name[:300])


def set_user_language(user, language: str) -> None:
    _set_user_field(user, language=str(language)[:8])


# --- memberships and access ---------------------------------------------------------

def memberships_of(user, *, confirmed_only: bool = False,
                   statuses: Iterable[str] | None = None) -> list[Membership]:
    """The user's memberships (any status, or only `statuses`), counterparties loaded."""
    query = (Membership.select(Membership, Counterparty)
             .join(Counterparty, on=(Membership.counterparty == Counterparty.id))
             .where(Membership.telegram_user == _id(user))
             .order_by(Counterparty.name, Counterparty.id))
    if confirmed_only:
        statuses = (CONFIRMED,)
    if statuses is not None:
        query = query.where(Membership.status.in_(list(statuses)))
    return list(query)


def access_of(m: Membership) -> Access:
    """The Access a stored membership gives (the one rule: roles.can)."""
    return Access(m.role_enum, m.is_confirmed, m.telegram_user_id, m.counterparty_id,
                  unverified=m.is_unverified)


def companies_where(user, right: Right | str) -> list[Counterparty]:
    """The counterparties (by name) where the user's membership grants `right`."""
    return [m.counterparty for m in memberships_of(user, statuses=(CONFIRMED, UNVERIFIED))
            if access_of(m).can(right)]


def _membership(user, counterparty) -> Membership | None:
    return Membership.get_or_none((Membership.telegram_user == _id(user))
                                  & (Membership.counterparty == _id(counterparty)))


def access_in(user, counterparty) -> Access:
    """What `user` may do in `counterparty`: role, whether confirmed; none -> UNAUTHORIZED."""
    who, where = _id(user), _id(counterparty)
    found = _membership(user, counterparty) if who is not None and where is not None else None
    if found is None:
        return Access(Role.UNAUTHORIZED, False, who, where)
    return access_of(found)


def role_in(user, counterparty) -> Role:
    """The user's role in the counterparty; UNAUTHORIZED unless the membership is confirmed."""
    access = access_in(user, counterparty)
    return access.role if access.confirmed else Role.UNAUTHORIZED


def link_user(user, counterparty, role: Role | str = Role.USER, contact=None,
              status: str = CONFIRMED) -> Membership:
    """Create or update the user's membership in the counterparty.

    A link never downgrades a more proven one (CONFIRMED > UNVERIFIED > PENDING): a
    questionnaire repeated by a member keeps their access. Returns the stored membership.
    """
    if status not in MEMBERSHIP_STATUSES:
        raise DirectoryError(f"membership status must be one of {MEMBERSHIP_STATUSES}, "
                             f"got {status!r}")
    role = parse_role(role)
    with write_tx():
        found = _membership(user, counterparty)
        if found is None:
            return Membership.create(telegram_user=_id(user), counterparty=_id(counterparty),
                                     contact=_id(contact), role=role.name, status=status,
                                     confirmed_at=utcnow() if status == CONFIRMED else None)
        if _STRENGTH[found.status] > _STRENGTH[status]:
            return found
        return _relink(found, role, contact, status)


_STRENGTH = {PENDING: 0, UNVERIFIED: 1, CONFIRMED: 2}


def _relink(found: Membership, role: Role, contact, status: str) -> Membership:
    if status == CONFIRMED and not found.is_confirmed:
        found.confirmed_at = utcnow()
    if status != CONFIRMED and found.status != status:
        found.contact = None      # a typed phone's contact must not ride on to the new link
    found.role, found.status = role.name, status
    if contact is not None:
        found.contact = _id(contact)
    found.save()
    return found


def _pending_or_fail(membership_id) -> Membership:
    found = Membership.get_or_none(Membership.id == _id(membership_id))
    if found is None:
        raise NotFound(f"membership {membership_id} does not exist")
    return found


def _check_confirmer(found: Membership, by_user) -> None:
    access = access_in(by_user, found.counterparty_id)
    access.require(Right.CONFIRM_MEMBERS)
    if access.role < found.role_enum:
        raise PermissionDenied(Right.CONFIRM_MEMBERS, who=_id(by_user),
                               counterparty=found.counterparty_id,
                               reason=f"cannot confirm a {found.role} as {access.role.name}")


def confirm_membership(membership_id, by_user) -> Membership:
    """Confirm a pending membership; only a confirmed ADMINISTRATOR/DIRECTOR of that
    counterparty may (and not for a role above their own). Idempotent."""
    with write_tx():
        found = _pending_or_fail(membership_id)
        _check_confirmer(found, by_user)
        if not found.is_confirmed:
            found.status, found.confirmed_by, found.confirmed_at = CONFIRMED, _id(by_user), utcnow()
            found.save()
    log.info("membership %s confirmed by %s", found.id, _id(by_user))
    return found


def reject_membership(membership_id, by_user) -> None:
    """Delete a pending membership; same rights as confirming. Confirmed ones stay."""
    with write_tx():
        found = _pending_or_fail(membership_id)
        _check_confirmer(found, by_user)
        if found.is_confirmed:
            raise DirectoryError(f"membership {found.id} is confirmed; it is not a request")
        found.delete_instance()
    log.info("membership %s rejected by %s", found.id, _id(by_user))


def pending_memberships(counterparty) -> list[Membership]:
    """Links waiting for the company's confirmation (unverified or pending), users loaded."""
    return list(Membership.select(Membership, TelegramUser)
                .join(TelegramUser, on=(Membership.telegram_user == TelegramUser.id))
                .where((Membership.counterparty == _id(counterparty))
                       & (Membership.status != CONFIRMED))
                .order_by(Membership.created))


def company_people(counterparty, confirmed_only: bool = True,
                   right: Right | str | None = None) -> list[Membership]:
    """The counterparty's members with their users loaded, e.g. for notifications.

    Args:
        confirmed_only: leave out unverified and pending members (they must learn nothing
            of the company).
        right: keep only members whose access grants this right.
    """
    query = (Membership.select(Membership, TelegramUser)
             .join(TelegramUser, on=(Membership.telegram_user == TelegramUser.id))
             .where(Membership.counterparty == _id(counterparty)).order_by(Membership.id))
    if confirmed_only:
        query = query.where(Membership.status == CONFIRMED)
    people = list(query)
    if right is not None:
        people = [m for m in people if access_of(m).can(right)]
    return people


def listed_unproven(counterparty_ids: Iterable[int]) -> list[tuple[Membership, Contact]]:
    """Unverified or pending memberships in these counterparties whose user's *proven*
    phone is a contact of that counterparty: the CRM lists the person, so the link is
    proven. Returns (membership, that contact) pairs; one query, for bulk imports too."""
    ids = sorted({int(i) for i in counterparty_ids if i is not None})
    if not ids:
        return []
    rows = (Membership.select(Membership, Contact)
            .join(TelegramUser, on=(Membership.telegram_user == TelegramUser.id))
            .switch(Membership)
            .join(Contact, on=((Contact.counterparty == Membership.counterparty)
                               & (Contact.phone == TelegramUser.phone)), attr="contact_listed")
            .where(Membership.counterparty.in_(ids) & (Membership.status != CONFIRMED)
                   & TelegramUser.phone.is_null(False))
            .order_by(Membership.id, Contact.id))
    out, seen = [], set()
    for m in rows:
        if m.id not in seen:
            seen.add(m.id)
            out.append((m, m.contact_listed))
    return out


# --- counterparties, trade points, contacts ----------------------------------------

def _first_match(model, lookups: Iterable):
    for condition in lookups:
        if condition is not None:
            found = model.get_or_none(condition)
            if found is not None:
                return found
    return None


def _current(row, key: str):
    field = row._meta.fields[key]
    return getattr(row, field.object_id_name if isinstance(field, pw.ForeignKeyField) else key)


def _insert(model, lookups: list, values: dict):
    # A savepoint: a concurrent insert of the same key (PostgreSQL) must not abort the
    # caller's transaction; then the row the other writer made is the one to update.
    try:
        with db.atomic():
            return model.create(**values), True
    except pw.IntegrityError:
        found = _first_match(model, lookups)
        if found is None:
            raise
        return found, False


def _update(row, values: dict) -> None:
    changed = {k: v for k, v in values.items() if _current(row, k) != v}
    if changed:
        for key, value in changed.items():
            setattr(row, key, value)
        row.updated = utcnow()
        row.save()


def _upsert(model, lookups: list, values: dict, required: str):
    """Update the row the first lookup finds with the given (non-None) values, or insert
    one (then `required` must be given). FK values are ids. Returns (row, created)."""
    values = {k: v for k, v in values.items() if v is not None}
    with write_tx():
        found = _first_match(model, lookups)
        if found is None:
            if not str(values.get(required) or "").strip():
                raise DirectoryError(f"a new {model.__name__} needs {required!r}")
            found, created = _insert(model, lookups, values)
            if created:
                return found, True
        _update(found, values)
        return found, False


def upsert_counterparty(*, inn: str, name: str | None = None, kpp: str | None = None,
                        ogrn: str | None = None, legal_address: str | None = None,
                        crm_id: str | None = None, balance: int | None = None,
                        ) -> tuple[Counterparty, bool]:
    """Create or update a counterparty matched by crm_id, then INN. Returns (row, created).

    `balance` is absolute, in kopecks (the CRM's PUT balance sets it, never adds).
    """
    inn = clean_inn(inn)
    if balance is not None and not isinstance(balance, int):
        raise DirectoryError(f"balance must be an integer number of kopecks, got {balance!r}")
    lookups = [Counterparty.crm_id == crm_id if crm_id else None, Counterparty.inn == inn]
    return _upsert(Counterparty, lookups, dict(inn=inn, name=name, kpp=kpp, ogrn=ogrn,
                                               legal_address=legal_address, crm_id=crm_id,
                                               balance=balance), "name")


def upsert_trade_point(counterparty, *, name: str, address: str | None = None,
                       crm_id: str | None = None) -> tuple[TradePoint, bool]:
    """Create or update a trade point matched by crm_id, then (counterparty, name)."""
    if not (name or "").strip():
        raise DirectoryError(f"trade point name is empty (counterparty {_id(counterparty)})")
    by_name = (TradePoint.counterparty == _id(counterparty)) & (TradePoint.name == name)
    lookups = [TradePoint.crm_id == crm_id if crm_id else None, by_name]
    return _upsert(TradePoint, lookups, dict(counterparty=_id(counterparty), name=name,
                                             address=address, crm_id=crm_id), "name")


def upsert_contact(counterparty, *, full_name: str, phone: str | None = None,
                   position: str | None = None, role: Role | str | None = None,
                   trade_point=None, crm_id: str | None = None,
                   post_rules: Mapping | None = None) -> tuple[Contact, bool]:
    """Create or update a contact matched by crm_id, then phone, then full name.

    `role` defaults to the one the position gives (`role_from_post` with `post_rules`,
    i.e. settings crm.post_roles). A phone that is not a number raises PhoneError.
    """
    if not (full_name or "").strip():
        raise DirectoryError(f"contact name is empty (counterparty {_id(counterparty)})")
    e164 = phones.parse(phone) if phone else None
    if role is None and position:
        role = role_from_post(position, post_rules)
    of_company = Contact.counterparty == _id(counterparty)
    lookups = [Contact.crm_id == crm_id if crm_id else None,
               of_company & (Contact.phone == e164) if e164 else None,
               of_company & (Contact.full_name == full_name)]
    return _upsert(Contact, lookups, dict(
        counterparty=_id(counterparty), full_name=full_name, phone=e164, position=position,
        role=parse_role(role).name if role is not None else None,
        trade_point=_id(trade_point), crm_id=crm_id), "full_name")


def find_counterparty_by_inn(inn: str) -> Counterparty | None:
    """The counterparty with this INN, or None (also for text that is no INN)."""
    try:
        return Counterparty.get_or_none(Counterparty.inn == clean_inn(inn))
    except DirectoryError:
        return None


def contacts_by_phone(phone: str) -> list[Contact]:
    """Contacts with this phone (any spelling), their counterparties loaded; [] for garbage."""
    e164 = phones.normalize(phone)
    if e164 is None:
        return []
    return list(Contact.select(Contact, Counterparty)
                .join(Counterparty, on=(Contact.counterparty == Counterparty.id))
                .where(Contact.phone == e164).order_by(Counterparty.name, Contact.id))
