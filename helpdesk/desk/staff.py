"""Who works the desk: staff members and their role, stored in the database.

Roles: `technician` (takes and works tickets) and `dispatcher` (assigns them, is pinged on
SLA breaches and low ratings; may do all a technician does). Staff are members of the work
group granted a role by the group's admins (`/technician`, `/dispatcher`, `/unstaff`:
helpdesk/desk/commands.py); a Telegram administrator of the work group is a dispatcher by
that status alone (`GroupAdmin`, refreshed by helpdesk/desk/admins.py). `settings.tickets.
technicians`, if set, only seeds the roster (`seed`, at start). Every staff press checks the
role here, at the time of the press: nothing is cached in the process.
"""
from __future__ import annotations

from functools import lru_cache

from peewee import fn

from engine.storage import write_tx
from helpdesk.directory.tables import TelegramUser, utcnow

from .tables import GroupAdmin, StaffMember

__all__ = ["StaffMember", "GroupAdmin", "TECHNICIAN", "DISPATCHER", "ROLES", "role_of",
           "is_staff", "is_dispatcher", "is_admin", "dispatcher_ids", "technician_ids",
           "staff_ids", "grant", "revoke", "seed", "name_unnamed", "full_name", "set_admins",
           "add_admin", "members", "find"]

TECHNICIAN, DISPATCHER = "technician", "dispatcher"
ROLES = (TECHNICIAN, DISPATCHER)
REVOKED = "revoked"        # a role taken away: the row stays, so the settings' seed skips it


def _row(user_id: int) -> StaffMember | None:
    return StaffMember.get_or_none(StaffMember.telegram_user == int(user_id))


def is_admin(user_id: int) -> bool:
    """A Telegram administrator of the work group (as last refreshed)."""
    return GroupAdmin.select().where(GroupAdmin.telegram_user == int(user_id)).exists()


def role_of(user_id: int) -> str | None:
    """The role now: a group administrator is a dispatcher whatever was granted. One
    statement (both tables), read at every press and on every menu (the `staff` variable)."""
    database = StaffMember._meta.database
    admin, role = database.execute_sql(_role_sql(database.param), (int(user_id),) * 2).fetchone()
    if admin:
        return DISPATCHER
    return role if role in ROLES else None


# Hand-written, as engine/session.py's: peewee's query builder cost more than the two
# lookups (cProfile of bench/e2e.py's bot). Per placeholder style (SQLite ?, PostgreSQL %s).
@lru_cache(maxsize=4)
def _role_sql(p: str) -> str:
    return (f"SELECT EXISTS (SELECT 1 FROM desk_group_admin WHERE telegram_user = {p}), "
            f"(SELECT role FROM desk_staff WHERE telegram_user = {p})")


def is_staff(user_id: int) -> bool:
    return role_of(user_id) in ROLES


def is_dispatcher(user_id: int) -> bool:
    return role_of(user_id) == DISPATCHER


def _ids(role: str) -> list[int]:
    return [r for (r,) in StaffMember.select(StaffMember.telegram_user)
            .where(StaffMember.role == role).order_by(StaffMember.telegram_user).tuples()]


def _admin_ids() -> list[int]:
    return [r for (r,) in GroupAdmin.select(GroupAdmin.telegram_user).tuples()]


def dispatcher_ids() -> list[int]:
    """Granted dispatchers and the group's administrators, ascending."""
    return sorted(set(_ids(DISPATCHER)) | set(_admin_ids()))


def technician_ids() -> list[int]:
    """Technicians (an administrator is a dispatcher, not listed here)."""
    admins = set(_admin_ids())
    return [i for i in _ids(TECHNICIAN) if i not in admins]


def staff_ids() -> list[int]:
    """Everyone with a role, ascending."""
    return sorted(set(_ids(TECHNICIAN)) | set(dispatcher_ids()))


def grant(user_id: int, role: str, *, by: int | None = None, first_name: str = "",
          last_name: str = "", username: str | None = None) -> None:
    """Give `user_id` the role `role` (replacing another); names as Telegram showed them."""
    if role not in ROLES:
        raise ValueError(f"unknown staff role {role!r}; one of {', '.join(ROLES)}")
    names = {StaffMember.first_name: first_name[:200], StaffMember.last_name: last_name[:200]}
    names = {k: v for k, v in names.items() if v}          # a grant by id keeps known names
    if username:
        names[StaffMember.username] = username[:64]
    with write_tx():
        (StaffMember.insert(telegram_user=int(user_id), role=role, first_name=first_name[:200],
                            last_name=last_name[:200], username=(username or None), granted_by=by)
         .on_conflict(conflict_target=[StaffMember.telegram_user],
                      update={StaffMember.role: role, StaffMember.granted_by: by,
                              StaffMember.granted_at: utcnow(), **names})
         .execute())


def revoke(user_id: int) -> bool:
    """Take the role away; the row is kept as REVOKED, so `seed` (every start) never gives a
    settings technician back what `/unstaff` took. False when there was no role."""
    with write_tx():
        return bool(StaffMember.update(role=REVOKED, granted_at=utcnow())
                    .where((StaffMember.telegram_user == int(user_id))
                           & StaffMember.role.in_(ROLES)).execute())


def seed(settings) -> int:
    """Settings tickets.technicians as technicians, where they have no row yet (never a
    role taken away: REVOKED); how many.
    Safe when several workers start at once (a row another made is left alone)."""
    added = 0
    with write_tx():
        for user_id in settings.tickets.technicians:
            if _row(user_id) is None:
                StaffMember.insert(telegram_user=int(user_id), role=TECHNICIAN).on_conflict_ignore().execute()
                added += 1
    return added


def name_unnamed(user_id: int, first_name: str, last_name: str = "") -> bool:
    """Name a roster row that has no name yet (one the settings' seed made: ids only); its
    role is left alone. False when there is no such row or it has a name."""
    with write_tx():
        return bool(StaffMember.update(first_name=first_name[:200], last_name=last_name[:200])
                    .where((StaffMember.telegram_user == int(user_id))
                           & ((StaffMember.first_name == "") | StaffMember.first_name.is_null()))
                    .execute())


def full_name(user_id: int) -> str:
    """The staff member's full name as Telegram showed it ("" when not known)."""
    row = _row(user_id) or GroupAdmin.get_or_none(GroupAdmin.telegram_user == int(user_id))
    return " ".join(p for p in (row.first_name, row.last_name) if p) if row else ""


def set_admins(chat_id: int, admins: list[dict]) -> tuple[list[int], list[int]]:
    """The work group's administrators are now `admins` ({id, first_name, last_name,
    username}; bots left out by the caller): (added, removed) ids, in one transaction."""
    now = {int(a["id"]): a for a in admins}
    with write_tx():
        before = set(_admin_ids())
        GroupAdmin.delete().where(GroupAdmin.telegram_user.not_in(list(now) or [0])).execute()
        for uid, a in now.items():
            values = dict(chat_id=int(chat_id), first_name=(a.get("first_name") or "")[:200],
                          last_name=(a.get("last_name") or "")[:200],
                          username=(a.get("username") or None), seen_at=utcnow())
            (GroupAdmin.insert(telegram_user=uid, **values)
             .on_conflict(conflict_target=[GroupAdmin.telegram_user],
                          update={getattr(GroupAdmin, k): v for k, v in values.items()})
             .execute())
    return sorted(set(now) - before), sorted(before - set(now))


def add_admin(chat_id: int, person: dict) -> None:
    """One administrator more (promoted in the group: a chat_member update), names kept."""
    values = dict(chat_id=int(chat_id), first_name=(person.get("first_name") or "")[:200],
                  last_name=(person.get("last_name") or "")[:200],
                  username=(person.get("username") or None), seen_at=utcnow())
    with write_tx():
        (GroupAdmin.insert(telegram_user=int(person["id"]), **values)
         .on_conflict(conflict_target=[GroupAdmin.telegram_user],
                      update={getattr(GroupAdmin, k): v for k, v in values.items()})
         .execute())


def members() -> list[dict]:
    """Everyone with a role: {id, name, role, admin}, technicians first, then by name."""
    admins = {a.telegram_user: a for a in GroupAdmin.select()}
    rows = {r.telegram_user: r for r in StaffMember.select().where(StaffMember.role.in_(ROLES))}
    out = []
    for uid in sorted(set(admins) | set(rows)):
        admin = uid in admins
        role = DISPATCHER if admin else rows[uid].role
        out.append({"id": uid, "name": full_name(uid) or _seen_name(uid) or str(uid),
                    "role": role, "admin": admin})
    return sorted(out, key=lambda m: (m["role"] != TECHNICIAN, m["name"].casefold(), m["id"]))


def username(user_id: int) -> str:
    """The person's @username as last seen (the roster, the group's administrators, the
    bot's users), without the @; "" when none is known."""
    for model, key in ((StaffMember, StaffMember.telegram_user), (GroupAdmin, GroupAdmin.telegram_user),
                       (TelegramUser, TelegramUser.id)):
        found = model.select(model.username).where(key == int(user_id)).scalar()
        if found:
            return found
    return ""


def _seen_name(user_id: int) -> str:
    user = TelegramUser.get_or_none(TelegramUser.id == int(user_id))
    return (user.first_name or (f"@{user.username}" if user.username else "")) if user else ""


def seen(user_id: int) -> bool:
    """Has the bot seen this person: on the roster, among the group's administrators, or
    as someone who wrote to it?"""
    return any(model.select().where(key == int(user_id)).exists()
               for model, key in ((StaffMember, StaffMember.telegram_user),
                                  (GroupAdmin, GroupAdmin.telegram_user), (TelegramUser, TelegramUser.id)))


def find(ref: str) -> int | None:
    """The person `ref` names: a Telegram id, or an @username the bot has seen (the roster,
    the group's administrators, anyone who wrote to the bot); None otherwise."""
    ref = (ref or "").strip()
    if ref.isdigit() and 0 < len(ref) <= 15:          # a person: never a (negative) chat id
        return int(ref)
    name = ref.removeprefix("@").casefold()
    if not name or len(name) > 64:
        return None
    for model, key in ((StaffMember, StaffMember.telegram_user), (GroupAdmin, GroupAdmin.telegram_user),
                       (TelegramUser, TelegramUser.id)):
        found = model.select(key).where(model.username.is_null(False)).where(
            fn.LOWER(model.username) == name).scalar()
        if found is not None:
            return int(found)
    return None

