"""Counterparties, trade points and contact persons: idempotent upserts and lookups.

Upserts match by CRM id first, then by the natural key (INN for a counterparty, name for a
trade point, phone or name for a contact person): registration and the CRM sync call them
with whatever they know. Every write runs inside `engine.storage.write_tx()`.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import peewee as pw
from stdnum.ru import inn as _inn

from engine.storage import db, write_tx

from . import phones
from .errors import DirectoryError, row_id
from .roles import Role, parse_role, role_from_post
from .tables import ContactPerson, Counterparty, TradePoint, utcnow

__all__ = ["clean_inn", "upsert_counterparty", "upsert_trade_point", "upsert_contact",
           "find_counterparty_by_inn", "contacts_by_phone"]


def clean_inn(inn: str | int) -> str:
    """The INN as 10 or 12 digits; DirectoryError otherwise (checksum is the dialog's job)."""
    value = _inn.compact(str(inn))
    if not re.fullmatch(r"[0-9]{10}|[0-9]{12}", value):    # ASCII: str.isdigit() takes "²"
        raise DirectoryError(f"INN must be 10 or 12 digits, got {str(inn)[:20]!r}")
    return value


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
                        contract_crm_id: str | None = None) -> tuple[Counterparty, bool]:
    """Create or update a counterparty matched by crm_id, then INN. Returns (row, created).

    `balance` is absolute, in kopecks (the CRM's PUT balance sets it, never adds).
    """
    inn = clean_inn(inn)
    if balance is not None and not isinstance(balance, int):
        raise DirectoryError(f"balance must be an integer number of kopecks, got {balance!r}")
    lookups = [Counterparty.crm_id == crm_id if crm_id else None, Counterparty.inn == inn]
    return _upsert(Counterparty, lookups, dict(inn=inn, name=name, kpp=kpp, ogrn=ogrn,
                                               legal_address=legal_address, crm_id=crm_id,
                                               balance=balance, contract_crm_id=contract_crm_id),
                   "name")


def upsert_trade_point(counterparty, *, name: str, address: str | None = None,
                       crm_id: str | None = None,
                       contract_crm_id: str | None = None) -> tuple[TradePoint, bool]:
    """Create or update a trade point matched by crm_id, then (counterparty, name)."""
    if not (name or "").strip():
        raise DirectoryError(f"trade point name is empty (counterparty {row_id(counterparty)})")
    by_name = (TradePoint.counterparty == row_id(counterparty)) & (TradePoint.name == name)
    lookups = [TradePoint.crm_id == crm_id if crm_id else None, by_name]
    return _upsert(TradePoint, lookups, dict(counterparty=row_id(counterparty), name=name,
                                             address=address, crm_id=crm_id,
                                             contract_crm_id=contract_crm_id), "name")


def upsert_contact(counterparty, *, full_name: str, phone: str | None = None,
                   position: str | None = None, role: Role | str | None = None,
                   trade_point=None, crm_id: str | None = None,
                   post_rules: Mapping | None = None,
                   person_crm_id: str | None = None) -> tuple[ContactPerson, bool]:
    """Create or update a contact matched by crm_id, then phone, then full name.

    `role` defaults to the one the position gives (`role_from_post` with `post_rules`,
    i.e. settings crm.post_roles). A phone that is not a number raises PhoneError.
    """
    if not (full_name or "").strip():
        raise DirectoryError(f"contact name is empty (counterparty {row_id(counterparty)})")
    e164 = phones.parse(phone) if phone else None
    if role is None and position:
        role = role_from_post(position, post_rules)
    of_company = ContactPerson.counterparty == row_id(counterparty)
    lookups = [ContactPerson.crm_id == crm_id if crm_id else None,
               of_company & (ContactPerson.phone == e164) if e164 else None,
               of_company & (ContactPerson.full_name == full_name)]
    return _upsert(ContactPerson, lookups, dict(
        counterparty=row_id(counterparty), full_name=full_name, phone=e164, position=position,
        role=parse_role(role).name if role is not None else None,
        trade_point=row_id(trade_point), crm_id=crm_id, person_crm_id=person_crm_id),
        "full_name")


def find_counterparty_by_inn(inn: str) -> Counterparty | None:
    """The counterparty with this INN, or None (also for text that is no INN)."""
    try:
        return Counterparty.get_or_none(Counterparty.inn == clean_inn(inn))
    except DirectoryError:
        return None


def contacts_by_phone(phone: str) -> list[ContactPerson]:
    """Contacts with this phone (any spelling), their counterparties loaded; [] for garbage."""
    e164 = phones.normalize(phone)
    if e164 is None:
        return []
    return list(ContactPerson.select(ContactPerson, Counterparty)
                .join(Counterparty, on=(ContactPerson.counterparty == Counterparty.id))
                .where(ContactPerson.phone == e164).order_by(Counterparty.name, ContactPerson.id))
