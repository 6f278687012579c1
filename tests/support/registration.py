"""Builders for registration tests: the app on the demo directory, a chat, registering by
shared contact, the questionnaire, Ромашка's staff and a stranger with their tickets."""
from __future__ import annotations

from engine.outgoing import Outgoing, to_reply
from engine.testing import Chat
from helpdesk import config, directory
from helpdesk.app import build_app
from helpdesk.ops import demo
from tests.support.privacy import agree

ROMASHKA = demo.DEMO_COMPANIES[0]["inn"]
REGISTER = "🔑 Зарегистрироваться"


def chat(app, user_id: int, **kw) -> Chat:
    c = Chat(app.engine, user_id=user_id, **kw)
    c.send("/start")
    return c


def register(app, user_id: int, phone: str) -> Chat:
    c = chat(app, user_id)
    c.click(REGISTER)
    agree(c)                        # the consent comes first (152-ФЗ)
    c.share_contact(phone)
    return c


def roles_of(user_id: int) -> dict[str, tuple[str, str]]:
    return {m.counterparty.inn: (m.role, m.status) for m in directory.memberships_of(user_id)}


def outgoing(chat_id: int) -> list:
    rows = Outgoing.select().where(Outgoing.chat_id == chat_id)
    return [to_reply(r) for r in rows.order_by(Outgoing.id)]


def button_data(reply, label_part: str) -> str:
    return next(b.data for row in reply.buttons for b in row if label_part in b.text)


def start_questionnaire(app, user_id: int) -> Chat:
    c = register(app, user_id, demo.UNKNOWN_PHONE)
    assert c.said("Заполните, пожалуйста, короткую анкету")
    return c


def transcript_text(c: Chat) -> str:
    return "\n".join(r.text + " " + " ".join(r.button_texts()) for r in c.transcript)


CREATE, MY_TICKETS = "📝 Создать заявку", "📋 Мои заявки"
STRANGER, NOBODY = 5090, 5099
STAFF = {5010: ("+79000000001", "DIRECTOR"), 5011: ("+79000000002", "ADMINISTRATOR"),
         5012: ("+79000000003", "USER")}


def file_ticket(c: Chat, text: str) -> None:
    c.click(CREATE)
    if "Без точки" in c.buttons:
        c.click("Без точки")
    c.click("Другое")
    c.send(text)
    c.click("✅ Готово")
    c.click("📨 Отправить")
    assert c.said("✅ Заявка <b>#")                            # filed (recorded: no work group here)


def registration_app(db_url):
    """The app in standalone mode on the demo directory, with a technician and the company's
    new tickets told to its people."""
    settings = config.load(environ={"DATABASE_URL": db_url, "TICKETS__TECHNICIANS": "[990]",
                                    "NOTIFY__USER__COMPANY_NEW_TICKETS": "true"})
    app = build_app(settings)
    demo.seed_demo()
    return app


def romashka_world(app):
    """Ромашка's director, administrator and user registered by shared contact; a stranger
    who typed its INN in the questionnaire; tickets of the user and of the stranger."""
    for uid, (phone, _) in STAFF.items():
        register(app, uid, phone)
    c = start_questionnaire(app, STRANGER)
    for answer in ("Незнакомцев Пётр", ROMASHKA, "Менеджер"):
        c.send(answer)
    assert roles_of(STRANGER) == {ROMASHKA: ("USER", "unverified")}
    Outgoing.delete().execute()
    file_ticket(chat(app, 5012), "Колега: не печатает чек")
    file_ticket(c, "Незнакомец: сломался сканер")
    return c
