"""The transport's promises, each through the real PTB stack against the fake Bot API:
order per chat, every callback answered, long texts split, media/invoices/payments, errors
reported and apologised for, webhook secret and duplicates, 429 for one chat only."""
from __future__ import annotations

from types import SimpleNamespace

from engine import Reply, outgoing
from engine.telegram.inbox import InboxItem
from engine.telegram.local_dispatcher import LocalDispatcher
from engine.telegram.sender import Limits
from engine.telegram.shared_dispatcher import SharedDispatcher
from helpdesk import config
from helpdesk.ops.bot import BugReporter
from tests.support.echo_bot import echoes
from tests.support.fakes.telegram_api import FakeTelegramAPI, RateLimits
from tests.support.telegram_harness import call, running_bot


def test_one_chat_in_order_many_chats_concurrently(api, test_engine):
    chats = [2001 + i for i in range(6)]
    with running_bot(test_engine, api):
        users = [api.user(c) for c in chats]
        for user in users:
            user.send("/start")
        for user in users:
            user.wait_for(contains="Меню")
        for n in range(15):
            for user in users:
                user.send(f"{n}")
        for user in users:
            user.wait_for(contains="echo:14", timeout=15)
    for chat in chats:
        assert echoes(api, chat) == [str(n) for n in range(15)]
    assert InboxItem.select().where(InboxItem.status == "pending").count() == 0


def test_every_callback_query_is_answered_even_stale_or_forged(api, test_engine):
    with running_bot(test_engine, api):
        user = api.user(3001)
        user.send("/start")
        user.wait_for(contains="Меню")
        queries = [user.press_data("f999.0")["callback_query"]["id"],       # stale step
                   user.press_data("nonsense:1")["callback_query"]["id"],   # unknown prefix
                   user.press("Длинно")["callback_query"]["id"]]
        answers = [api.wait_callback_answer(q) for q in queries]
    assert [a["id"] for a in answers] == queries


def test_text_over_4096_is_split_on_lines_with_buttons_on_the_last_part(api, test_engine):
    with running_bot(test_engine, api):
        user = api.user(3002)
        user.send("/start")
        user.wait_for(contains="Меню")
        user.press("Длинно")
        user.wait_for(contains="0049 ")
        user.wait_for(contains="Меню")
    parts = [m for m in api.messages(3002) if "ж" in (m.text or "")]
    assert len(parts) == 2 and all(len(p.plain_text) <= 4096 for p in parts)
    joined = "\n".join(p.text for p in parts)
    assert joined.splitlines() == ["{:04d} ".format(i) + "ж" * 95 for i in range(50)]


def test_media_invoice_payment_contact_and_files(api, test_engine):
    with running_bot(test_engine, api):
        user = api.user(3003, "Оля")
        user.send("/start")
        user.wait_for(contains="Меню")
        user.press("Файлы")
        document = user.wait_for(lambda m: m.method == "sendDocument")
        user.wait_for(lambda m: m.message_id > document.message_id and "Меню" in m.text)
        photo = next(m for m in api.messages(3003) if m.method == "sendPhoto")
        assert photo.caption == "<b>фото</b>" and api.file_bytes(photo.photo).startswith(b"\xff\xd8")
        assert document.file_name == "report.csv" and api.file_bytes(document.document) == b"a;b\n1;2\n"
        user.press("Оплатить")
        invoice = user.wait_for(lambda m: m.method == "sendInvoice")
        user.wait_for(lambda m: m.message_id > invoice.message_id and "Меню" in m.text)
        assert invoice.invoice["total_amount"] == 50000
        assert user.pay()["ok"] is True
        user.wait_for(contains="paid:50000")
        user.share_contact("+79001234567")
        user.wait_for(contains="contact:3003")
        user.send_document("акт.pdf")
        user.wait_for(contains="file:document:акт.pdf")
        user.send_photo()
        user.wait_for(contains="file:photo:")


def test_a_pre_checkout_whose_handler_fails_gets_the_answer_the_project_registered(api, test_engine):
    """Telegram fails a pre-checkout query left unanswered for 10 s. When the handler raises
    (its step rolls back), the transport answers at once with the project's fallback
    (`Registry.fallback`): the engine builds no answer of its own."""
    with running_bot(test_engine, api):
        user = api.user(3010)
        user.send("/start")
        user.wait_for(contains="Меню")
        user.press("Оплатить")
        invoice = user.wait_for(lambda m: m.method == "sendInvoice")
        failing = SimpleNamespace(invoice={**invoice.invoice, "payload": "boom"})
        answer = user.pay(failing, timeout=5)
        user.wait_for(contains="Извините")                  # the engine's apology for the failure
        assert user.pay(invoice)["ok"] is True              # the handler itself still answers
        user.wait_for(contains="paid:50000")
    assert answer == {"id": answer["id"], "ok": False, "error_message": "отказ проекта",
                      "invoice_payload": "boom"}


def test_the_shared_strategy_keeps_each_chat_in_order_too(api, test_engine):
    """`shared` picks the strategy once: several workers (advisory locks; a no-op on
    SQLite, where one process drains each chat under it just the same) or a process alone."""
    chats = [2101 + i for i in range(4)]
    with running_bot(test_engine, api) as alone:
        assert type(alone.dispatcher) is LocalDispatcher
    with running_bot(test_engine, api, shared=True) as bot:
        assert type(bot.dispatcher) is SharedDispatcher
        users = [api.user(c) for c in chats]
        for user in users:
            user.send("/start")
        for user in users:
            user.wait_for(contains="Меню")
        for n in range(8):
            for user in users:
                user.send(f"{n}")
        for user in users:
            user.wait_for(contains="echo:7", timeout=15)
    for chat in chats:
        assert echoes(api, chat) == [str(n) for n in range(8)]
    assert InboxItem.select().where(InboxItem.status == "pending").count() == 0


def test_failure_gives_apology_and_a_redacted_bug_report(api, test_engine, tmp_path):
    settings = config.load(environ={"BOT_TOKEN": api.token, "NOTIFY__BUG__TELEGRAM_USER_ID": "777"})
    reporter = BugReporter(settings, test_engine.flowset.templates)
    test_engine.on_error = reporter.on_engine_error
    with running_bot(test_engine, api, on_error=reporter.report):
        user = api.user(3004)
        user.send("/start")
        user.wait_for(contains="Меню")
        user.press("Сломать")
        user.wait_for(contains="Извините")
        report = api.wait_for(777, contains="RuntimeError", timeout=5)
        user.press("Сломать")                       # a second failure within the interval
        user.wait_for(contains="Извините")
        user.send("ещё живой")                      # the dialog stays usable
        user.wait_for(contains="echo:ещё живой")
    assert api.token not in report.text and "***" in report.text
    assert len(api.messages(777)) == 1              # rate-limited: one report per minute


def test_429_for_one_chat_does_not_hold_another_and_nothing_is_lost(test_engine):
    limits = RateLimits(private_burst=2, private_per_second=1)
    with FakeTelegramAPI(rate_limits=limits) as limited, running_bot(test_engine, limited) as bot:
        a_replies = [Reply(4001, f"a{i}") for i in range(5)]
        b_first = call(bot, _send_both(bot, a_replies, [Reply(4002, "b0"), Reply(4002, "b1")]), 60)
        a_texts = [m.text for m in limited.messages(4001)]
        refused = list(limited.refused)
    assert a_texts == [f"a{i}" for i in range(5)]                   # all delivered, in order
    assert any(r.chat_id == 4001 for r in refused)                  # Telegram did say 429
    assert not any(r.chat_id == 4002 for r in refused)
    assert b_first, "chat B waited behind chat A's 429"
    assert bot.sender.stats["retry_after"] >= 1


async def _send_both(bot, a_replies, b_replies) -> bool:
    """Chat A hits its limit; chat B sends meanwhile. Whether B was all delivered while A
    still waited out its 429 (an order of events, not a stopwatch)."""
    import asyncio
    a = asyncio.ensure_future(_in_order(bot, a_replies))
    while not bot.sender.stats["retry_after"]:
        await asyncio.sleep(0.01)              # chat A is now waiting out its 429
    await _in_order(bot, b_replies)
    b_first = not a.done()
    await a
    return b_first


async def _in_order(bot, replies):
    for reply in replies:
        outcome = await bot.sender.send(reply)
        assert outcome.ok, outcome


def test_edit_in_place_falls_back_to_a_new_message_and_ignores_not_modified(api, test_engine):
    from engine import Button
    with running_bot(test_engine, api) as bot:
        first = call(bot, bot.sender.send(Reply(3005, "шаг 1", buttons=[[Button("Дальше", "f1.0")]])))
        edit = Reply(3005, "шаг 2", buttons=[[Button("Назад", "f2.0")]], edit_message_id=first.message_id)
        edited = call(bot, bot.sender.send(edit))
        again = call(bot, bot.sender.send(edit))                     # "message is not modified"
        gone = call(bot, bot.sender.send(Reply(3005, "шаг 3", edit_message_id=9999)))
    assert edited.ok and again.ok and edited.message_id == again.message_id == first.message_id
    messages = api.messages(3005)
    assert [m.text for m in messages] == ["шаг 2", "шаг 3"]
    assert messages[0].history and messages[0].callback_data == {"Назад": "f2.0"}
    assert gone.ok and gone.message_id == messages[1].message_id


def test_callback_data_over_64_bytes_is_refused_before_sending(api, test_engine):
    from engine import Button
    with running_bot(test_engine, api) as bot:
        outcome = call(bot, bot.sender.send(Reply(3006, "x", buttons=[[Button("b", "d" * 65)]])))
    assert not outcome.ok and outcome.retry_in is None and "64" in outcome.error
    assert api.messages(3006) == []


def test_notifications_are_drained_and_paced_per_chat(api, test_engine):
    from engine.storage import write_tx
    with running_bot(test_engine, api, limits=Limits(private_interval=0.3)) as bot:
        with write_tx():
            for i in range(3):
                outgoing.enqueue(Reply(3007, f"n{i}"), priority=5)
            outgoing.enqueue(Reply(3008, "other"), priority=5)
        bot.loop.call_soon_threadsafe(bot.sender.kick)
        for i in range(3):
            api.wait_for(3007, contains=f"n{i}", since=0, timeout=60)
        api.wait_for(3008, contains="other", since=0, timeout=60)
    assert [m.text for m in api.messages(3007)] == ["n0", "n1", "n2"]
    # the pause the sender keeps, as the server saw it: a lower bound (a slow box only adds)
    arrived = [m.received for m in api.messages(3007)]
    assert all(b - a >= 0.2 for a, b in zip(arrived, arrived[1:], strict=False)), arrived
    assert outgoing.pending_count() == 0
