"""The fake Telegram Bot API, driven by the real python-telegram-bot stack over loopback HTTP."""
from __future__ import annotations

import asyncio
import datetime as dtm
import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LabeledPrice,
    ReplyKeyboardMarkup,
)
from telegram.error import BadRequest, Conflict, InvalidToken, RetryAfter
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    PreCheckoutQueryHandler,
    filters,
)

from tests.support.fakes.telegram_api import (
    FakeTelegramAPI,
    RateLimits,
    run_polling_in_thread,
    run_webhook_in_thread,
)

CHAT = 1001
# PTB 22.2+ itself warns, whenever it builds a RetryAfter, that retry_after becomes a timedelta.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")


@pytest.fixture
def api():
    with FakeTelegramAPI() as server:
        yield server


def with_bot(api, action):
    """Runs ``await action(bot)`` with a real PTB Bot pointed at the fake."""
    async def main():
        async with Bot(api.token, base_url=api.base_url, base_file_url=api.base_file_url) as bot:
            return await action(bot)
    return asyncio.run(main())


def seconds(error: RetryAfter) -> float:
    value = error.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def raw_call(api, method, params, token=None):
    """A plain JSON POST, to see the status and body Telegram would give."""
    request = urllib.request.Request(f"{api.url}/bot{token or api.token}/{method}",
                                     json.dumps(params).encode(),
                                     {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_get_me_and_auth_errors(api):
    me = with_bot(api, lambda bot: bot.get_me())
    assert me.username == "test_helpdesk_bot" and me.is_bot
    assert raw_call(api, "getMe", {}, token="1:wrong") == (
        401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    assert raw_call(api, "noSuchMethod", {})[0] == 404
    with pytest.raises(InvalidToken):
        asyncio.run(Bot("1:wrong", base_url=api.base_url).get_me())


def test_send_message_is_recorded_with_parsed_markup(api):
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Да", callback_data="yes")]])
    sent = with_bot(api, lambda bot: bot.send_message(
        CHAT, "<b>Привет</b> &amp; всё", parse_mode="HTML", reply_markup=keyboard))
    assert sent.text == "Привет & всё" and sent.chat_id == CHAT
    last = api.last(CHAT)
    assert (last.text, last.parse_mode, last.plain_text) == (
        "<b>Привет</b> &amp; всё", "HTML", "Привет & всё")
    assert last.callback_data == {"Да": "yes"} and last.message_id == sent.message_id
    assert api.wait_for(CHAT, contains="Привет & всё", timeout=0.1) is last


@pytest.mark.parametrize("text, markup, error", [
    ("x" * 4097, None, "message is too long"),
    ("", None, "message text is empty"),
    ("ok", InlineKeyboardMarkup([[InlineKeyboardButton("b", callback_data="d" * 65)]]),
     "button_data_invalid"),
    ("ok", InlineKeyboardMarkup([[InlineKeyboardButton("b", callback_data="я" * 33)]]),
     "button_data_invalid"),
    ("<b>bold <i>both</b></i>", None, "can't parse entities"),
    ("<b>open", None, "can't parse entities"),
])
def test_telegram_validation_errors(api, text, markup, error):
    with pytest.raises(BadRequest) as info:
        with_bot(api, lambda bot: bot.send_message(CHAT, text, parse_mode="HTML",
                                                   reply_markup=markup))
    assert error in info.value.message.lower()
    assert api.sent == []


def test_4096_chars_after_entity_parsing_pass(api):
    with_bot(api, lambda bot: bot.send_message(CHAT, "<b>" + "x" * 4096 + "</b>",
                                               parse_mode="HTML"))
    assert len(api.last(CHAT).plain_text) == 4096


def test_edit_delete_and_their_errors(api):
    async def scenario(bot):
        msg = await bot.send_message(CHAT, "one")
        await bot.edit_message_text("two", CHAT, msg.message_id)
        with pytest.raises(BadRequest, match="(?i)message is not modified"):
            await bot.edit_message_text("two", CHAT, msg.message_id)
        with pytest.raises(BadRequest, match="(?i)message to edit not found"):
            await bot.edit_message_text("x", CHAT, 999)
        await bot.edit_message_reply_markup(CHAT, msg.message_id, reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("k", callback_data="k")]]))
        await bot.delete_message(CHAT, msg.message_id)
        with pytest.raises(BadRequest, match="(?i)message to delete not found"):
            await bot.delete_message(CHAT, msg.message_id)
    with_bot(api, scenario)
    record = api.sent[0]
    assert [h["text"] for h in record.history if "text" in h] == ["one"]
    assert record.text == "two" and record.callback_data == {"k": "k"} and record.deleted
    assert api.messages(CHAT) == []


def test_private_chat_limit_refuses_with_retry_after():
    with FakeTelegramAPI(rate_limits=RateLimits()) as api:
        async def burst(bot):
            for i in range(3):               # a burst of 3 is tolerated
                await bot.send_message(CHAT, f"m{i}")
            with pytest.raises(RetryAfter) as info:
                await bot.send_message(CHAT, "too fast")
            await bot.send_message(CHAT + 1, "another chat is fine")
            return info.value
        error = with_bot(api, burst)
        assert 1 <= seconds(error) <= 3
        assert [m.text for m in api.messages(CHAT)] == ["m0", "m1", "m2"]
        assert [(r.chat_id, r.scope) for r in api.refused] == [(CHAT, "chat")]


def test_group_and_overall_limits():
    limits = RateLimits(overall_per_second=4, group_per_minute=2)
    with FakeTelegramAPI(rate_limits=limits) as api:
        async def flood(bot):
            await bot.send_message(-100, "g1")
            await bot.send_message(-100, "g2")
            with pytest.raises(RetryAfter) as group:
                await bot.send_message(-100, "g3")
            await bot.send_message(1, "p1")
            await bot.send_message(2, "p2")
            with pytest.raises(RetryAfter) as overall:
                await bot.send_message(3, "p3")
            return group.value, overall.value
        group, overall = with_bot(api, flood)
        assert 55 <= seconds(group) <= 60 and seconds(overall) == 1
        assert [r.scope for r in api.refused] == ["chat", "overall"]
        assert len(api.sent) == 4
    status, body = raw_call_after_limit()
    assert status == 429 and body["parameters"]["retry_after"] >= 1
    assert body["description"].startswith("Too Many Requests: retry after ")


def raw_call_after_limit():
    with FakeTelegramAPI(rate_limits=RateLimits(private_burst=1)) as api:
        raw_call(api, "sendMessage", {"chat_id": 5, "text": "a"})
        return raw_call(api, "sendMessage", {"chat_id": 5, "text": "b"})


def test_get_updates_offset_timeout_and_allowed_updates(api):
    user = api.user(CHAT)
    ids = [user.send(f"m{i}")["update_id"] for i in range(3)]

    async def scenario(bot):
        first = await bot.get_updates()
        again = await bot.get_updates(offset=ids[1])          # confirms ids[0]
        started = time.monotonic()
        empty = await bot.get_updates(offset=ids[2] + 1, timeout=0.3)
        waited = time.monotonic() - started
        threading.Timer(0.1, user.send, ["late"]).start()
        late = await bot.get_updates(timeout=5)
        return first, again, empty, waited, late
    first, again, empty, waited, late = with_bot(api, scenario)
    assert [u.update_id for u in first] == ids
    assert [u.update_id for u in again] == ids[1:]
    assert empty == () and waited >= 0.25          # it held the poll (a lower bound cannot flake)
    assert [u.message.text for u in late] == ["late"]
    assert api.confirmed_offset == ids[2] + 1
    assert [u["message"]["text"] for u in api.pending_updates()] == ["late"]

    api.push_update({"message": {"sticker": "garbage"}})
    user.press_data("forged")
    got = with_bot(api, lambda bot: bot.get_updates(offset=-1, allowed_updates=["message"]))
    assert got == ()        # -1 kept only the callback_query, which is not allowed
    assert api.pending_updates() == []


def test_long_poll_is_terminated_by_a_second_poller(api):
    async def two_pollers(bot):
        async with Bot(api.token, base_url=api.base_url) as second_instance:
            first = asyncio.create_task(bot.get_updates(timeout=3))
            await asyncio.sleep(0.2)
            await second_instance.get_updates(timeout=0)
            with pytest.raises(Conflict, match="terminated by other getUpdates"):
                await first
    with_bot(api, two_pollers)


def build_app(api):
    """A small bot: echo, a keyboard, callbacks that edit, an invoice and its payment."""
    app = (ApplicationBuilder().token(api.token).base_url(api.base_url)
           .base_file_url(api.base_file_url).build())

    async def start(update, context):
        await update.message.reply_text("Привет! Вы готовы?", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("Да", callback_data="ready:yes"),
              InlineKeyboardButton("Нет", callback_data="ready:no")]]))

    async def pressed(update, context):
        await update.callback_query.answer("Принято")
        await update.callback_query.edit_message_text(f"Выбрано: {update.callback_query.data}")

    async def buy(update, context):
        await update.message.reply_invoice("Подписка", "Месяц поддержки", "order-42", "RUB",
                                           [LabeledPrice("Месяц", 49900)], provider_token="tok")

    async def precheckout(update, context):
        query = update.pre_checkout_query
        await query.answer(ok=query.invoice_payload == "order-42",
                           error_message=None if query.invoice_payload == "order-42" else "нет")

    async def paid(update, context):
        payment = update.message.successful_payment
        await update.message.reply_text(
            f"Оплачено {payment.total_amount} {payment.telegram_payment_charge_id}")

    async def echo(update, context):
        await update.message.reply_text(f"Эхо: {update.message.text}")

    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("buy", buy))
    app.add_handler(CallbackQueryHandler(pressed))
    app.add_handler(PreCheckoutQueryHandler(precheckout))
    app.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, paid))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    return app


def test_polling_application_transcript(api):
    user = api.user(CHAT, first_name="Иван")
    with run_polling_in_thread(build_app(api)):
        user.send("привет")
        assert user.wait_for(contains="Эхо: привет").method == "sendMessage"
        user.send("/start")
        assert user.wait_for(contains="Вы готовы?").button_texts == ["Да", "Нет"]
        query_id = user.press("Да")["callback_query"]["id"]
        edited = user.wait_for(contains="Выбрано: ready:yes")
        assert api.wait_callback_answer(query_id)["text"] == "Принято"
        assert edited.history[0]["text"] == "Привет! Вы готовы?" and edited.buttons == []
        with pytest.raises(AssertionError, match="no button 'Да'"):
            user.press("Да")           # the edit removed the keyboard

        user.send("/buy")
        invoice = user.wait_for(lambda m: m.invoice is not None)
        assert invoice.invoice["total_amount"] == 49900 and invoice.invoice["payload"] == "order-42"
        answer = user.pay()
        assert answer["ok"] and api.pre_checkout_answers == [answer]
        receipt = user.wait_for(contains="Оплачено 49900 tg_charge_")

        raw_call(api, "sendInvoice", {"chat_id": CHAT, "title": "t", "description": "d",
                                      "payload": "stale", "currency": "RUB",
                                      "prices": [{"label": "x", "amount": 100}]})
        refused = user.pay()
        assert (refused["ok"], refused["error_message"]) == (False, "нет")
    assert receipt.chat_id == CHAT
    assert raw_call(api, "answerCallbackQuery", {"callback_query_id": query_id})[1][
        "description"] == "Bad Request: query is too old and response timeout expired or query ID is invalid"
    assert raw_call(api, "answerPreCheckoutQuery", {"pre_checkout_query_id": "nope", "ok": True})[0] == 400


def test_wait_for_failure_lists_what_was_sent(api):
    with_bot(api, lambda bot: bot.send_message(CHAT, "совсем другое"))
    with pytest.raises(AssertionError) as info:
        api.wait_for(CHAT, contains="ожидаемое", timeout=0.1)
    assert "совсем другое" in str(info.value) and "ожидаемое" in str(info.value)
    api.user(CHAT).send("next step")           # only replies after this count now
    with pytest.raises(AssertionError):
        api.wait_for(CHAT, contains="совсем другое", timeout=0.1)


def test_reply_keyboard_contact_and_group_member(api):
    keyboard = ReplyKeyboardMarkup([[KeyboardButton("Телефон", request_contact=True)],
                                    ["Помощь"]], one_time_keyboard=True)
    with_bot(api, lambda bot: bot.send_message(CHAT, "Поделитесь", reply_markup=keyboard))
    assert api.last(CHAT).keyboard[0] == {"text": "Телефон", "request_contact": True}
    user = api.user(CHAT, phone_number="+79991234567")
    contact = user.press("Телефон")["message"]["contact"]
    assert contact == {"phone_number": "+79991234567", "first_name": "Test", "user_id": CHAT}
    with pytest.raises(AssertionError, match="no button"):
        user.press("Помощь")                    # one_time_keyboard hid it
    assert user.share_contact("+70000000000", user_id=7)["message"]["contact"]["user_id"] == 7

    group = api.group(-100500, title="Поддержка")
    with_bot(api, lambda bot: bot.send_message(-100500, "Взять?", reply_markup=InlineKeyboardMarkup(
        [[InlineKeyboardButton("Беру", callback_data="take:1")]])))
    query = group.member(77, first_name="Оля").press("Беру")["callback_query"]
    assert query["data"] == "take:1" and query["from"]["id"] == 77
    assert query["message"]["chat"] == {"id": -100500, "type": "supergroup", "title": "Поддержка"}


def test_uploads_files_commands_actions_and_faults(api):
    user = api.user(CHAT)
    doc_id = user.send_document("act.pdf", b"%PDF data")["message"]["document"]["file_id"]

    async def scenario(bot):
        photo = await bot.send_photo(CHAT, photo=b"\x89PNG bytes", caption="<i>фото</i>",
                                     parse_mode="HTML")
        downloaded = await (await bot.get_file(doc_id)).download_as_bytearray()
        await bot.send_document(CHAT, document=doc_id)
        await bot.set_my_commands([("start", "Начать")], language_code="ru")
        commands = await bot.get_my_commands(language_code="ru")
        await bot.send_chat_action(CHAT, "typing")
        api.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
        with pytest.raises(RetryAfter) as fault:
            await bot.send_message(CHAT, "x")
        with pytest.raises(BadRequest, match="(?i)invalid file_id"):
            await bot.get_file("nope")
        return photo, bytes(downloaded), commands, fault.value
    photo, downloaded, commands, fault = with_bot(api, scenario)
    assert photo.caption == "фото" and api.file_bytes(api.sent[0].photo) == b"\x89PNG bytes"
    assert downloaded == b"%PDF data" and api.sent[1].file_name == "act.pdf"
    assert [(c.command, c.description) for c in commands] == [("start", "Начать")]
    assert api.chat_actions == [{"chat_id": CHAT, "action": "typing"}]
    assert seconds(fault) == 7 and len(api.sent) == 2


class _FlakyReceiver(BaseHTTPRequestHandler):
    """A webhook endpoint that refuses the first delivery with 500."""

    received: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((body, self.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        self.send_response(500 if len(self.received) == 1 else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_delivery_retries_and_blocks_get_updates(api):
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), type("R", (_FlakyReceiver,), {"received": []}))
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    try:
        with_bot(api, lambda bot: bot.set_webhook(url, secret_token="s3cret"))
        update_id = api.user(CHAT).send("через вебхук")["update_id"]
        deadline = time.monotonic() + 5
        while api.pending_updates() and time.monotonic() < deadline:
            time.sleep(0.02)
        received = receiver.RequestHandlerClass.received
        assert [(b["update_id"], secret) for b, secret in received] == [
            (update_id, "s3cret"), (update_id, "s3cret")]
        assert api.confirmed_offset == update_id + 1
        info = with_bot(api, lambda bot: bot.get_webhook_info())
        assert info.url == url and "500" in info.last_error_message
        with pytest.raises(Conflict, match="webhook is active"):
            with_bot(api, lambda bot: bot.get_updates())
        with_bot(api, lambda bot: bot.delete_webhook())
        assert with_bot(api, lambda bot: bot.get_updates()) == ()
    finally:
        receiver.shutdown()
        receiver.server_close()


def test_application_in_webhook_mode(api):
    user = api.user(CHAT)
    with run_webhook_in_thread(build_app(api), secret_token="hook-secret") as url:
        assert api.webhook == {"url": url, "secret_token": "hook-secret", "max_connections": 40}
        user.send("по вебхуку")
        user.wait_for(contains="Эхо: по вебхуку")
    assert api.pending_updates() == [] and api.webhook_deliveries[-1]["error"] is None
