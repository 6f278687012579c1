"""Who works the desk: staff members and their role, stored in the database.

Roles: `technician` (takes and works tickets) and `dispatcher` (assigns them, is pinged on
SLA breaches and low ratings; may do all a technician does). Staff are members of the work
group granted a role by the group's admins; `settings.tickets.technicians`, if set, only
seeds the roster (`seed`). Every staff press checks the role here, at the time of the press.
"""
from __future__ import annotations

from engine.storage import write_tx
from helpdesk.directory.tables import utcnow

from .tables import StaffMember

__all__ = ["StaffMember", "TECHNICIAN", "DISPATCHER", "ROLES", "role_of", "is_staff",
           "is_dispatcher", "dispatcher_ids", "technician_ids", "grant", "revoke", "seed",
           "full_name"]

TECHNICIAN, DISPATCHER = "technician", "dispatcher"
ROLES = (TECHNICIAN, DISPATCHER)


def role_of(user_id: int) -> str | None:
    row = StaffMember.get_or_none(StaffMember.telegram_user == int(user_id))
    return row.role if row else None


def is_staff(user_id: int) -> bool:
    return role_of(user_id) in ROLES


def is_dispatcher(user_id: int) -> bool:
    return role_of(user_id) == DISPATCHER


def _ids(role: str) -> list[int]:
    return [r for (r,) in StaffMember.select(StaffMember.telegram_user)
            .where(StaffMember.role == role).order_by(StaffMember.telegram_user).tuples()]


def dispatcher_ids() -> list[int]:
    return _ids(DISPATCHER)


def technician_ids() -> list[int]:
    return _ids(TECHNICIAN)


def grant(user_id: int, role: str, *, by: int | None = None, first_name: str = "",
          last_name: str = "") -> None:
    """Give `user_id` the role `role` (replacing another); names as Telegram showed them."""
    if role not in ROLES:
        raise ValueError(f"unknown staff role {role!r}; one of {', '.join(ROLES)}")
    with write_tx():
        (StaffMember.insert(telegram_user=int(user_id), role=role, first_name=first_name[:200],
                            last_name=last_name[:200], granted_by=by)
         .on_conflict(conflict_target=[StaffMember.telegram_user],
                      update={StaffMember.role: role, StaffMember.granted_by: by,
                              StaffMember.granted_at: utcnow()})
         .execute())


def revoke(user_id: int) -> bool:
    with write_tx():
        return bool(StaffMember.delete().where(StaffMember.telegram_user == int(user_id)).execute())


def seed(settings) -> int:
    """Settings tickets.technicians as technicians, where they have no role yet; how many."""
    added = 0
    with write_tx():
        for user_id in settings.tickets.technicians:
            if role_of(user_id) is None:
                StaffMember.create(telegram_user=int(user_id), role=TECHNICIAN)
                added += 1
    return added


def full_name(user_id: int) -> str:
    """The staff member's full name as Telegram showed it ("" when not known)."""
    row = StaffMember.get_or_none(StaffMember.telegram_user == int(user_id))
    return " ".join(p for p in (row.first_name, row.last_name) if p) if row else ""
