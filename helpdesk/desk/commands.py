"""The work group's staff commands: who is staff, and the admins granting roles.

    /staff                      the roster (anyone in the work group may read it)
    /technician [@user | id]    make a member a technician  } only a Telegram administrator
    /dispatcher [@user | id]    make a member a dispatcher  } of the work group; the member is
    /unstaff [@user | id]       take the role away          } the one whose message this
                                                              answers, or the one named

A member is named by replying to one of their messages (Telegram tells who wrote it), or by
a Telegram id or an @username the bot has seen (helpdesk/desk/staff.find). Who is an
administrator is what getChatAdministrators said at the last refresh (helpdesk/desk/
admins.py): a person made an administrator a minute ago may have to wait for the next one;
the refusal says so. The commands are answered in code (`registry.command`), not a dialog:
they have no question to ask, and a dialog's end would put the main menu into the group.
Anywhere but the work group they only say where they work. The answer goes into the
thread the command was written in, as a reply to it.
"""
from __future__ import annotations

import logging

from engine.contracts import ActionContext
from engine.events import Reply
from helpdesk.directory.tables import TelegramUser
from helpdesk.registry import registry

from . import staff
from .names import members, name_of

__all__ = ["staff_list", "make_technician", "make_dispatcher", "unstaff"]

log = logging.getLogger(__name__)
TEMPLATES = ("desk/staff_list", "desk/staff_only_group", "desk/staff_not_admin", "desk/staff_who",
             "desk/staff_granted", "desk/staff_revoked", "desk/staff_not_staff")


def _say(ctx: ActionContext, template: str, **extra) -> None:
    ev = ctx.event
    ctx.reply(Reply(ctx.chat_id, ctx.render(template, **extra), thread_id=ev.thread_id,
                    reply_to_message_id=ev.message_id if ev.chat_type != "private" else None))


def _in_work_group(ctx: ActionContext) -> bool:
    group = ctx.services.settings.notify.system.work_group_id
    return bool(group) and ctx.chat_id == group and ctx.event.chat_type != "private"


@registry.command("staff", templates=TEMPLATES)
def staff_list(ctx: ActionContext, args: str) -> None:
    """`/staff`: the roster, technicians first."""
    if not _in_work_group(ctx):
        return _say(ctx, "desk/staff_only_group")
    _say(ctx, "desk/staff_list", members=members())


@registry.command("technician", templates=TEMPLATES)
def make_technician(ctx: ActionContext, args: str) -> None:
    _set_role(ctx, args, staff.TECHNICIAN)


@registry.command("dispatcher", templates=TEMPLATES)
def make_dispatcher(ctx: ActionContext, args: str) -> None:
    _set_role(ctx, args, staff.DISPATCHER)


@registry.command("unstaff", templates=TEMPLATES)
def unstaff(ctx: ActionContext, args: str) -> None:
    person = _admin_target(ctx, args)
    if person is None:
        return
    if not staff.revoke(person["id"]) and not staff.is_admin(person["id"]):
        return _say(ctx, "desk/staff_not_staff", person=person)
    log.info("staff: %s revoked by %s", person["id"], ctx.user_id)
    _say(ctx, "desk/staff_revoked", person=person, admin=staff.is_admin(person["id"]))


def _set_role(ctx: ActionContext, args: str, role: str) -> None:
    person = _admin_target(ctx, args)
    if person is None:
        return
    staff.grant(person["id"], role, by=ctx.user_id, first_name=person["first_name"],
                last_name=person["last_name"], username=person["username"] or None)
    log.info("staff: %s granted %s by %s", person["id"], role, ctx.user_id)
    _say(ctx, "desk/staff_granted", person={**person, "name": _name(person)}, role=role,
         admin=staff.is_admin(person["id"]))


def _admin_target(ctx: ActionContext, args: str) -> dict | None:
    """The member a granting command names, once the presser's right is checked; None
    (and the reason said) otherwise."""
    if not _in_work_group(ctx):
        return _say(ctx, "desk/staff_only_group")
    if not staff.is_admin(ctx.user_id):
        log.info("staff command by %s refused: not an administrator of the work group", ctx.user_id)
        minutes = max(1, round(ctx.services.settings.tickets.admins_refresh_seconds / 60))
        return _say(ctx, "desk/staff_not_admin", minutes=minutes)
    person = _named(ctx, args)
    if person is None or person["is_bot"]:
        return _say(ctx, "desk/staff_who")
    return {**person, "name": _name(person)}


def _named(ctx: ActionContext, args: str) -> dict | None:
    """The replied-to member, else the one `args` names (an id or @username seen)."""
    replied = ctx.event.reply_to_user
    if replied and not args.strip():
        return {"first_name": "", "last_name": "", "username": "", "is_bot": False, **replied}
    found = staff.find(args.split()[0]) if args.strip() else None
    if found is None or not staff.seen(found):
        return None          # an id the bot never saw (an admin's typo) makes nobody staff
    seen = TelegramUser.get_or_none(TelegramUser.id == found)
    return {"id": found, "first_name": (seen.first_name if seen else "") or "", "last_name": "",
            "username": (seen.username if seen else "") or "", "is_bot": False}


def _name(person: dict) -> str:
    return name_of(person["id"], person.get("first_name"), person.get("last_name"),
                   person.get("username"))
