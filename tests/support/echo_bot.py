"""The transport tests' bot: a menu flow that echoes text and whose buttons raise, send a
long text, media or an invoice, with handlers for payments, contacts and files; the engine
on it, built on the shipped templates plus the texts below."""
from __future__ import annotations

import random
import time

from engine import Registry, Reply, builtins
from helpdesk import formats

# the engine's builtins and the helpdesk's formats: the test serves the shipped templates
registry = formats.register(builtins.register(Registry()))


FLOW = """
flow: menu
start: main
states:
  main:
    say: t/main
    buttons:
      - {text: t/btn_boom, go: boom}
      - {text: t/btn_long, go: long}
      - {text: t/btn_media, go: media}
      - {text: t/btn_pay, go: pay}
    ask: {type: text, save: msg}
    next: echo
  echo:
    do: jitter
    say: t/echo
    next: main
  boom:
    do: boom
    next: main
  long:
    do: long_text
    next: main
  media:
    do: media
    next: main
  pay:
    do: invoice
    next: main
"""
TEXTS = {"main": "Меню", "btn_boom": "Сломать", "btn_long": "Длинно", "btn_media": "Файлы",
         "btn_pay": "Оплатить", "echo": "echo:{{ msg }}", "paid": "paid:{{ amount }}",
         "contact": "contact:{{ owner }}", "file": "file:{{ kind }}:{{ name }}",
         "refused": "отказ проекта"}


@registry.action("jitter")
def _jitter(step):
    time.sleep(random.random() * 0.01)      # in a worker thread: shuffles timing across chats


@registry.action("boom")
def _boom(step):
    raise RuntimeError(f"database said no to {step.services['token']}")


@registry.action("long_text")
def _long(step):
    text = "\n".join(f"{i:04d} " + "ж" * 95 for i in range(50))       # 5,000 characters
    step.reply(Reply(step.chat_id, text))


@registry.action("media")
def _media(step):
    step.reply(Reply(step.chat_id, "<b>фото</b>", photo=b"\xff\xd8\xff\xe0 jpeg"))
    step.reply(Reply(step.chat_id, "отчёт", document=b"a;b\n1;2\n", filename="report.csv"))


@registry.action("invoice")
def _invoice(step):
    step.reply(Reply(step.chat_id, invoice={"title": "Счёт", "description": "Оплата заявки",
                                            "payload": "t-1", "currency": "RUB",
                                            "prices": [{"label": "Заявка", "amount": 50000}]}))


@registry.on_event("pre_checkout")
def _pre_checkout(step):
    if step.event.payment["invoice_payload"] == "boom":
        raise RuntimeError("the check failed")          # the step rolls back: the fallback answers
    step.reply(Reply(step.chat_id, pre_checkout={"id": step.event.payment["id"], "ok": True}))


@registry.fallback("pre_checkout")
def _refuse(event, templates):
    error = templates.render("t/refused", event.language, {})
    return [Reply(event.chat_id, pre_checkout={"id": event.payment["id"], "ok": False, "error": error})]


@registry.on_event("payment")
def _payment(step):
    step.say("t/paid", amount=step.event.payment["total_amount"])


@registry.on_event("contact")
def _contact(step):
    step.say("t/contact", owner=step.event.contact.user_id)


@registry.on_event("file")
def _file(step):
    f = step.event.files[0]
    step.say("t/file", kind=f.kind, name=f.name)


def echoes(api, chat):
    return [m.text[5:] for m in api.messages(chat) if (m.text or "").startswith("echo:")]


def text_update(update_id: int, chat: int, text: str) -> dict:
    """A private text message as Telegram's update JSON, to store in the inbox directly."""
    user = {"id": chat, "is_bot": False, "first_name": "Test", "language_code": "ru"}
    return {"update_id": update_id, "message": {
        "message_id": 1000 + update_id % 1000, "from": user, "date": int(time.time()),
        "chat": {"id": chat, "type": "private", "first_name": "Test"}, "text": text}}


def started(api, chats, warm: bool = False) -> dict:
    """The chats' users, each having sent /start and seen the menu (`warm`: and one text
    echoed, so the conversation row exists); chat id -> user."""
    users = {chat: api.user(chat) for chat in chats}
    for user in users.values():
        user.send("/start")
        user.wait_for(contains="Меню")
        if warm:
            user.send("warm")
            user.wait_for(contains="echo:warm")
    return users
