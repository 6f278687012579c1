"""Builders for the desk's staff tests: a ticket world whose roster has a person in every
role the staff buttons know (a client, a group member, a technician, a dispatcher, an
admin of the work group), and a press on the ticket's card in the work group."""
from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import SecretStr

from engine.outgoing import SENT, Outgoing
from engine.testing import Chat
from helpdesk.app import build_app
from helpdesk.desk import staff
from tests.support.tickets import GROUP, TECH, TECH2, make_settings, make_world

__all__ = ["ROLES", "CLIENT", "MEMBER", "DISPATCHER", "DISPATCHER2", "ADMIN", "TECH", "TECH2",
           "GROUP", "CARD", "staff_roles", "group_press", "known_sent", "reply_json", "eventually",
           "MSK", "msk", "Clock", "telegram_world", "sla_world"]

CLIENT, MEMBER, DISPATCHER, DISPATCHER2, ADMIN = 101, 930, 910, 911, 920
CARD = 555            # the card's message id in the work group
# who -> (Telegram id, pressing from the work group)
ROLES = {"non-member": (CLIENT, False), "member": (MEMBER, True), "technician": (TECH, True),
         "dispatcher": (DISPATCHER, True), "admin": (ADMIN, True)}


def staff_roles() -> None:
    """The roster: TECH and TECH2 (seeded from settings), two granted dispatchers, and the
    group's Telegram admin (a dispatcher by that status)."""
    staff.grant(TECH, staff.TECHNICIAN, first_name="Пётр", last_name="Петров")
    staff.grant(TECH2, staff.TECHNICIAN, first_name="Сидор", last_name="Сидоров")
    staff.grant(DISPATCHER, staff.DISPATCHER, first_name="Диана", last_name="Диспетчерова")
    staff.grant(DISPATCHER2, staff.DISPATCHER, first_name="Дмитрий", last_name="Второв")
    staff.set_admins(GROUP, [{"id": ADMIN, "first_name": "Анна", "last_name": "Админова"}])


def group_press(world, uid: int, data: str, *, in_group: bool = True, name: str = "Тест"):
    """`uid` presses a button with callback `data` on the card (in the work group, or the
    same data sent from their private chat: a forged press)."""
    chat = Chat(world.app.engine, uid, chat_id=GROUP if in_group else uid, first_name=name)
    return chat.event(kind="button", data=data, message_id=CARD,
                      chat_type="supergroup" if in_group else "private")


def known_sent(msg, timeout: float = 120):
    """`msg` (a message the fake recorded) once the bot has marked its outgoing row sent with
    that message id. A person's Telegram reply to it sooner is the race the relay puts off
    (helpdesk.desk.talk), not the subject of a test that merely needs the reply to land.
    A liveness bound, not a timing assertion."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if (Outgoing.select().where((Outgoing.chat_id == int(msg.chat_id))
                                    & (Outgoing.message_id == msg.message_id)
                                    & (Outgoing.status == SENT)).exists()):
            return msg
        time.sleep(0.02)
    raise AssertionError(f"message {msg.message_id} in chat {msg.chat_id} was never marked sent")


def reply_json(msg, chat: dict) -> dict:
    """Telegram's reply_to_message for a member's reply: the message answered (one the fake
    recorded), as the bot sent it."""
    return {"message_id": msg.message_id, "date": msg.date, "chat": chat, "text": msg.plain_text}


def eventually(condition, timeout: float = 120):
    """What `condition()` gives once it is truthy (else its last falsy value): a liveness
    bound, not a timing assertion -- it usually holds at once."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    return condition()


MSK = ZoneInfo("Europe/Moscow")


def msk(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    """A Moscow wall-clock time of 2025 (Monday 1 December) as the database stores it:
    naive UTC."""
    local = datetime(2025, month, day, hour, minute, tzinfo=MSK)
    return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


class Clock:
    """A clock a test moves by hand (`clock.now = ...`): the SLA timers' and tickets' time."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def telegram_world(api, settings=None):
    """The ticket world whose bot talks to the fake Bot API `api` (its token and URL)."""
    settings = settings or make_settings()
    settings.bot.token, settings.bot.api_url = SecretStr(api.token), api.url
    return make_world(settings)


def sla_world(first_response_hours: float = 2, resolution_hours: float = 8):
    """A ticket world with SLA targets whose tickets' clock is a test `Clock` at Tuesday,
    1 December, 10:00 Moscow time (`world.clock`; move it to make timers due)."""
    settings = make_settings()
    settings.sla.first_response_hours, settings.sla.resolution_hours = first_response_hours, resolution_hours
    world = make_world()
    world.app = build_app(settings, connect=False)
    world.clock = world.app.services.tickets.clock = Clock(msk(1, 10))
    return world
