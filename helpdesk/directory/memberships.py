"""Memberships and access: who may do what in which company.

`access_in()` gives an `Access` whose `require()` raises PermissionDenied;
`companies_where()` and `company_people()` are the one place that answers "in which
companies may this person do X" and "who in this company may do X". A link never
downgrades a more proven one (CONFIRMED > UNVERIFIED > PENDING).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable

from engine.storage import write_tx

from .errors import DirectoryError, NotFound, row_id
from .roles import Access, PermissionDenied, Right, Role, parse_role
from .tables import (
    CONFIRMED,
    MEMBERSHIP_STATUSES,
    PENDING,
    UNVERIFIED,
    ContactPerson,
    Counterparty,
    Membership,
    TelegramUser,
    utcnow,
)

__all__ = ["memberships_of", "access_of", "companies_where", "access_in", "role_in",
           "link_user", "confirm_membership", "reject_membership", "pending_memberships",
           "company_people", "listed_unproven"]

log = logging.getLogger(__name__)


def memberships_of(user, *, confirmed_only: bool = False,
                   statuses: Iterable[str] | None = None) -> list[Membership]:
    """The user's memberships (any status, or only `statuses`), counterparties loaded."""
    query = (Membership.select(Membership, Counterparty)
             .join(Counterparty, on=(Membership.counterparty == Counterparty.id))
             .where(Membership.telegram_user == row_id(user))
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
    return Membership.get_or_none((Membership.telegram_user == row_id(user))
                                  & (Membership.counterparty == row_id(counterparty)))


def access_in(user, counterparty) -> Access:
    """What `user` may do in `counterparty`: role, whether confirmed; none -> UNAUTHORIZED."""
    who, where = row_id(user), row_id(counterparty)
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
            return Membership.create(telegram_user=row_id(user), counterparty=row_id(counterparty),
                                     contact=row_id(contact), role=role.name, status=status,
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
        found.contact = row_id(contact)
    found.save()
    return found


def _pending_or_fail(membership_id) -> Membership:
    found = Membership.get_or_none(Membership.id == row_id(membership_id))
    if found is None:
        raise NotFound(f"membership {membership_id} does not exist")
    return found


def _check_confirmer(found: Membership, by_user) -> None:
    access = access_in(by_user, found.counterparty_id)
    access.require(Right.CONFIRM_MEMBERS)
    if access.role < found.role_enum:
        raise PermissionDenied(Right.CONFIRM_MEMBERS, who=row_id(by_user),
                               counterparty=found.counterparty_id,
                               reason=f"cannot confirm a {found.role} as {access.role.name}")


def confirm_membership(membership_id, by_user) -> Membership:
    """Confirm a pending membership; only a confirmed ADMINISTRATOR/DIRECTOR of that
    counterparty may (and not for a role above their own). Idempotent."""
    with write_tx():
        found = _pending_or_fail(membership_id)
        _check_confirmer(found, by_user)
        if not found.is_confirmed:
            found.status, found.confirmed_by, found.confirmed_at = CONFIRMED, row_id(by_user), utcnow()
            found.save()
    log.info("membership %s confirmed by %s", found.id, row_id(by_user))
    return found


def reject_membership(membership_id, by_user) -> None:
    """Delete a pending membership; same rights as confirming. Confirmed ones stay."""
    with write_tx():
        found = _pending_or_fail(membership_id)
        _check_confirmer(found, by_user)
        if found.is_confirmed:
            raise DirectoryError(f"membership {found.id} is confirmed; it is not a request")
        found.delete_instance()
    log.info("membership %s rejected by %s", found.id, row_id(by_user))


def pending_memberships(counterparty) -> list[Membership]:
    """Links waiting for the company's confirmation (unverified or pending), users loaded."""
    return list(Membership.select(Membership, TelegramUser)
                .join(TelegramUser, on=(Membership.telegram_user == TelegramUser.id))
                .where((Membership.counterparty == row_id(counterparty))
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
             .where(Membership.counterparty == row_id(counterparty)).order_by(Membership.id))
    if confirmed_only:
        query = query.where(Membership.status == CONFIRMED)
    people = list(query)
    if right is not None:
        people = [m for m in people if access_of(m).can(right)]
    return people


def listed_unproven(counterparty_ids: Iterable[int]) -> list[tuple[Membership, ContactPerson]]:
    """Unverified or pending memberships in these counterparties whose user's *proven*
    phone is a contact of that counterparty: the CRM lists the person, so the link is
    proven. Returns (membership, that contact) pairs; one query, for bulk imports too."""
    ids = sorted({int(i) for i in counterparty_ids if i is not None})
    if not ids:
        return []
    rows = (Membership.select(Membership, ContactPerson)
            .join(TelegramUser, on=(Membership.telegram_user == TelegramUser.id))
            .switch(Membership)
            .join(ContactPerson, on=((ContactPerson.counterparty == Membership.counterparty)
                               & (ContactPerson.phone == TelegramUser.phone)), attr="contact_listed")
            .where(Membership.counterparty.in_(ids) & (Membership.status != CONFIRMED)
                   & TelegramUser.phone.is_null(False))
            .order_by(Membership.id, ContactPerson.id))
    out, seen = [], set()
    for m in rows:
        if m.id not in seen:
            seen.add(m.id)
            out.append((m, m.contact_listed))
    return out
