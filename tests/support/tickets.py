"""Builders for ticket tests: settings with a work group and technicians, a world of two
companies with a person in every role, a ticket filed through the service or the dialog."""
from __future__ import annotations

from dataclasses import dataclass

from engine import outgoing
from engine.testing import Chat
from helpdesk import directory
from helpdesk.app import build_app
from helpdesk.config import load
from helpdesk.desk import staff

GROUP = -1001234
TECH, TECH2 = 900, 901
DESC = "Касса не печатает чеки после обновления"


@dataclass
class World:
    app: object
    a: int            # counterparty A
    b: int            # counterparty B
    p1: int           # trade points of A
    p2: int
    users: dict       # role name -> telegram id

    @property
    def svc(self):
        return self.app.services.tickets


def make_settings(**tickets):
    settings = load(environ={})
    settings.notify.system.work_group_id = GROUP
    settings.tickets.technicians = [TECH, TECH2]
    settings.tickets.types = ["Касса", "ЕГАИС", "Другое"]
    for key, value in tickets.items():
        setattr(settings.tickets, key, value)
    return settings


_APPS: dict = {}


def shared_app():
    """One app for the service tests (building one loads every flow: ~1 s); apps keep no
    database state, each test still gets a fresh database."""
    if "app" not in _APPS:
        _APPS["app"] = build_app(make_settings(), connect=False)
    return _APPS["app"]


def make_world(settings=None) -> World:
    app = build_app(settings, connect=False) if settings else shared_app()
    staff.seed(app.settings)          # the technicians of the settings, on this database's roster
    a, _ = directory.upsert_counterparty(inn="7701123456", name="ООО Ромашка")
    b, _ = directory.upsert_counterparty(inn="5002233445", name="ООО Лютик")
    p1, _ = directory.upsert_trade_point(a, name="Тверская")
    p2, _ = directory.upsert_trade_point(a, name="Арбат")
    users = {"UNAUTHORIZED": 100, "USER": 101, "ADMINISTRATOR": 102, "DIRECTOR": 103,
             "PENDING": 104, "OTHER_ADMIN": 105, "COLLEAGUE": 106, "TECHNICIAN": TECH}
    for i, uid in enumerate(users.values()):
        directory.get_or_create_user(uid, f"u{uid}", f"Имя{uid}", "ru")
        directory.set_user_phone(uid, f"+7912000{i:04d}", verified=True)
    directory.link_user(101, a, "USER")
    directory.link_user(102, a, "ADMINISTRATOR")
    directory.link_user(103, a, "DIRECTOR")
    directory.link_user(104, a, "ADMINISTRATOR", status="pending")
    directory.link_user(105, b, "ADMINISTRATOR")
    directory.link_user(106, a, "USER")
    return World(app, a.id, b.id, p1.id, p2.id, users)


def file_ticket(w: World, author: int, *, company: bool = True, description: str = DESC, **kw):
    cp = w.a if company and directory.access_in(author, w.a).confirmed else None
    ticket, _ = w.svc.create(author, type="Касса", description=description, counterparty_id=cp, **kw)
    return ticket


CREATE, MINE = "📝 Создать заявку", "📋 Мои заявки"


def file_through_dialog(c: Chat, *, point: str | None = "Тверская", text: str = DESC) -> None:
    c.click(CREATE)
    if point:
        c.click(point)
    c.click("Касса")
    c.send(text)
    c.click("✅ Готово")


def world_chat(world, uid, **kw) -> Chat:
    """A chat of `world`'s bot, started."""
    c = Chat(world.app.engine, uid, **kw)
    c.send("/start")
    return c


def queued(chat_id=None, key_part: str = "") -> list:
    rows = outgoing.Outgoing.select().order_by(outgoing.Outgoing.id)
    return [outgoing.to_reply(r) for r in rows
            if (chat_id is None or r.chat_id == chat_id) and key_part in (r.key or "")]
