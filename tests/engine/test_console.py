"""The terminal chat: numbered buttons, typed numbers press them, /contact shares a phone."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from engine.console import Console
from helpdesk import config
from helpdesk.app import build_app
from tests.support.paths import ROOT


def run_console(engine, lines):
    """Feed `lines`; a callable line is given the output so far (to find a button's number)."""
    out: list[str] = []
    feed = iter(lines)

    def read(prompt):
        try:
            line = next(feed)
        except StopIteration:
            raise EOFError from None
        return line(out) if callable(line) else line
    Console(engine, user_id=4242, read=read, write=out.append).run()
    return out


def test_sample_flow_through_the_console(database):
    settings = config.load(environ={"NOTIFY__SYSTEM__WORK_GROUP_ID": "-100123"})   # who calls back
    engine = build_app(settings, connect=False).engine
    menu_sample = engine.flowset.templates.render_label("menu/btn_sample", "ru", {})

    def press_sample(out):
        line = next(x for x in reversed(out) if x.endswith(menu_sample))
        return line.strip()[1:line.strip().index("]")]
    out = run_console(engine, ["99", press_sample, "1", "Иван", "abc", "/contact +7 912 345-67-89", "2", "1"])
    assert any(line.endswith(menu_sample) and line.strip().startswith("[") for line in out)
    text = "\n".join(out)
    assert "Не похоже на номер телефона" in text                # "abc" re-asked
    assert "Проверьте: Иван, +79123456789, звонок вечером" in text
    assert "Мы позвоним по номеру +79123456789" in text
    assert "<b>" not in text                                    # HTML stripped for the terminal


def test_console_command_starts(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/c.db", "LOGGING__FILE": ""}
    out = subprocess.run([sys.executable, "run.py", "console"], cwd=ROOT, input="/help\n/quit\n",
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert "[1]" in out.stdout and "/help" in out.stdout


def test_a_database_that_stops_answering_gets_an_apology_and_the_chat_goes_on(database):
    from engine import storage
    if not storage.is_sqlite():
        pytest.skip("a dropped table is SQLite's OperationalError (an outage); on PostgreSQL it "
                    "is a ProgrammingError, a bug: its outages are in tests/helpdesk/ops/test_nothing_dies.py")
    from engine.session import Conversation
    engine = build_app(config.load(environ={}), connect=False).engine
    apology = engine.flowset.templates.render("common/error", "ru", {})

    def break_database(out):
        Conversation.drop_table()        # every step now fails in the database, not the flow
        return "привет"

    def mend_database(out):
        assert out[-1] == apology        # told, and the terminal is still reading
        storage.create_schema()
        return "/menu"
    out = run_console(engine, [break_database, mend_database])
    assert out.count(apology) == 1
    assert "Главное меню" in "\n".join(out[out.index(apology):])


# --- issue 14 item 10: the terminal chat shows the whole product ----------------------------

def run_demo(settings, lines, lang="ru"):
    """The demo's terminal chat (`python run.py demo`), fed `lines`; everything it wrote."""
    from helpdesk.ops.commands import demo_console
    out: list[str] = []
    feed = iter(lines)

    def read(prompt):
        out.append(prompt)
        try:
            return next(feed)
        except StopIteration:
            raise EOFError from None
    demo_console(settings, user_id=700000001, lang=lang, read=read, write=out.append,
                 connect=False).run()
    return out


def after(out: list[str], marker: str) -> str:
    """What the chat showed after the last line containing `marker`."""
    last = max(i for i, line in enumerate(out) if marker in line)
    return "\n".join(out[last:])


def test_a_ticket_travels_from_the_client_to_the_work_group_and_back(database, settings):
    description = "Не печатается чек на кассе у входа"
    out = run_demo(settings, [
        "/as 3",                               # Смирнов, a user of ООО «Ромашка»
        "3", "2", "1", description, "1", "1",  # new ticket: point, type, text, no files, send
        "/as group", "1",                      # the technician in the work group: Take
        "/as 3"])
    text = "\n".join(out)
    banner = next(line for line in out if line.startswith("=== Демо"))
    assert "/as group" in banner and "/as 3" in banner           # the banner lists who to be
    assert "(новые сообщения в других чатах: /as group — 2)" in text   # the topic, the card
    group = after(out, "— в чате: рабочая группа")
    assert "[новая тема: 🆕 #1 · Касса · ООО «Ромашка»]" in group       # a topic per ticket
    assert "Заявка #1 · Новая" in group and description in group and "[1] 🙋 Беру" in group
    assert "Заявка #1 · В работе" in group and "Мастер: Сергей" in group
    client = after(out, "— в чате: Смирнов")
    assert "Ваша заявка #1 (Касса): взята в работу." in client
    assert "Извините" not in text                                # no apology anywhere


def test_the_access_request_reaches_the_director_who_can_press_it(database, settings):
    out = run_demo(settings, [
        "1", "1", "+7 900 000-00-03",          # you: register, [1] ✅ Согласен, type Смирнов's phone
        "Олег Новичков",                       # and say who you are
        "/as 1"])                              # Иванов, the director of ООО «Ромашка»
    director = after(out, "— в чате: Иванов")
    assert "+79000000003" in director and "просит доступ" in director
    assert any(line.strip().startswith("[1]") for line in director.splitlines())


def test_the_contact_button_is_pressed_by_its_number(database, settings):
    out = run_demo(settings, ["1", "1", "1", "+79000000009"])   # register, [1] ✅ Согласен, press «📱 …», the number
    text = "\n".join(out)
    assert any(line.strip().startswith("[1] 📱") for line in out)
    assert "Ваш номер телефона:" in text
    assert "(поделиться номером: нажмите кнопку или наберите /contact +79001234567)" in text
    assert "короткую анкету" in after(out, "Ваш номер телефона:")   # the number went: the questionnaire


def test_hints_speak_the_users_language(database, settings):
    out = run_demo(settings, ["1", "1", "/as nobody"], lang="en")   # register, [1] ✅ I agree
    text = "\n".join(out)
    assert "(share your phone: press the button or type /contact +79001234567)" in text
    assert 'Nobody is called "nobody". Type /as to see the list.' in text
    banner = next(line for line in out if line.startswith("=== Demo"))
    assert "поделиться" not in text and "/as 1   Иванов" in banner


def test_a_link_button_is_shown_with_its_address(database, settings):
    from engine.events import Button, Reply
    engine = build_app(settings, connect=False).engine
    out: list[str] = []
    Console(engine, write=out.append).show([Reply(1, "Оплата по СБП", buttons=[
        [Button("Оплатить", url="https://qr.nspk.ru/AD100004BAL7227F9BNP6KNE007J9B3K")]])])
    assert out == ["Оплата по СБП", "  🔗 Оплатить: https://qr.nspk.ru/AD100004BAL7227F9BNP6KNE007J9B3K"]


def test_a_plain_console_never_takes_the_queue(database, settings):
    """`run.py console` may be opened on a live bot's database: the bot's sender must still
    find every queued message."""
    from engine import outgoing
    from engine.events import Reply
    from engine.storage import write_tx
    engine = build_app(settings, connect=False).engine
    with write_tx():
        outgoing.enqueue(Reply(-100, "a post for the group"))
    run_console(engine, ["/help"])
    assert outgoing.pending_count() == 1


def test_a_line_longer_than_the_terminal_buffer_arrives_whole(tmp_path):
    """A terminal's line buffer holds 4,096 bytes: 5,000 Cyrillic letters (10,000 bytes) were
    cut in the middle of a letter. Typed into the description (3,000 at most) the whole line
    must arrive: the bot says it is too long, instead of taking its first 2,047 letters."""
    import pty
    import select
    import time
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/d.db", "LOGGING__FILE": ""}
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "run.py", "demo"], cwd=ROOT, env=env,
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    seen = bytearray()

    def until_prompt(count: int) -> None:
        deadline = time.monotonic() + 60
        while seen.count(b"\n> ") < count and time.monotonic() < deadline:
            if select.select([master], [], [], 0.5)[0]:
                seen.extend(os.read(master, 65536))
    try:
        until_prompt(1)
        for n, line in enumerate(["/as 3", "3", "2", "1", "Я" * 5000], 2):
            os.write(master, line.encode() + b"\r")
            until_prompt(n)
    finally:
        proc.kill()
        proc.wait(10)
        os.close(master)
    answer = seen.decode("utf-8", "replace").rsplit("Я" * 50, 1)[-1]
    assert "Слишком длинно: не больше 3000 символов" in answer


def test_the_printed_commands_work_from_a_python_without_the_dependencies(tmp_path):
    """`python run.py demo`, as README, docs and the banner print it, from a fresh shell: the
    system Python has none of the dependencies; run.py runs itself again in .venv/."""
    base = getattr(sys, "_base_executable", sys.executable)
    probe = subprocess.run([base, "-c", "import transitions"], capture_output=True)
    if probe.returncode == 0:
        pytest.skip(f"{base} has the dependencies itself: nothing to re-run")
    if not os.path.exists(os.path.join(ROOT, ".venv")):
        pytest.skip("this checkout has no .venv/ (`python3 dev.py test` creates it) to re-run in")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path}/d.db", LOGGING__FILE="")
    out = subprocess.run([base, "run.py", "demo"], cwd=ROOT, input="/as 1\n/quit\n",
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert "— в чате: Иванов Иван Иванович" in out.stdout


# --- issue 16 item 8: the work group's forum topics in the terminal -------------------------

def test_the_groups_topics_are_threads_of_it_and_you_can_write_into_one(database, settings):
    """Queued topic rows become threads of the group's chat, shown under their names;
    `/topic N` writes into one (the event carries its thread), and a copy of that message
    reaches the client's chat, as the conversation loop runs through Telegram."""
    from engine import outgoing
    from engine.console import Persona
    from engine.events import Reply
    from engine.storage import write_tx
    group, client = -1000000000001, 700000011
    engine = build_app(settings, connect=False).engine
    events = []

    class Recorded:                                  # the real engine; its events kept
        flowset = engine.flowset

        def handle(self, event, **kw):
            events.append(event)
            return engine.handle(event, **kw)

        def due_timeouts(self):
            return engine.due_timeouts()

    def open_topics(out):
        with write_tx():
            outgoing.enqueue(Reply(group, topic={"op": "create", "name": "#12 · Касса · ООО «Лютик»"}),
                             key="t12:topic")
            outgoing.enqueue(Reply(group, "Заявка #12 · Новая", thread_key="t12:topic"))
            outgoing.enqueue(Reply(group, topic={"op": "create", "name": "#13 · Весы"}), key="t13:topic")
            outgoing.enqueue(Reply(group, "Заявка #13 · Новая", thread_key="t13:topic"))
            outgoing.enqueue(Reply(group, "Сводка за день"))
            outgoing.enqueue(Reply(group, thread_key="t13:topic", topic={"op": "close"}))
        return "/as group"

    def relay(out):
        said = events[-1]
        with write_tx():
            outgoing.enqueue(Reply(client, "", copy_from={"chat_id": group, "message_id": said.message_id}))
        return "/as 1"
    out: list[str] = []
    feed = iter([open_topics, "/topic", "/topic 1", "Проверьте кабель", relay, "/as group", "/topic 9"])

    def read(prompt):
        try:
            line = next(feed)
        except StopIteration:
            raise EOFError from None
        return line(out) if callable(line) else line
    people = [Persona("0", 700000001, "Console"), Persona("1", client, "Иван"),
              Persona("group", 700000100, "Сергей", chat_id=group, title="рабочая группа")]
    Console(Recorded(), user_id=700000001, read=read, write=out.append, personas=people,
            deliver_queued=True).run()
    shown = after(out, "— в чате: рабочая группа")
    first = "\n".join(out[out.index("— в чате: рабочая группа —") + 1:])
    assert first.split("\nТемы группы")[0].splitlines() == [
        "[новая тема: #12 · Касса · ООО «Лютик»]", "[#12 · Касса · ООО «Лютик»]", "Заявка #12 · Новая",
        "[новая тема: #13 · Весы]", "[#13 · Весы]", "Заявка #13 · Новая", "[общий чат группы]",
        "Сводка за день", "[тема закрыта: #13 · Весы]"]
    assert "  1. #12 · Касса · ООО «Лютик»\n  2. #13 · Весы (закрыта)" in first
    assert "— в теме: #12 · Касса · ООО «Лютик» —" in out
    typed = next(e for e in events if e.text == "Проверьте кабель")
    assert (typed.chat_id, typed.chat_type) == (group, "supergroup")
    thread = outgoing.Outgoing.get(outgoing.Outgoing.key == "t12:topic").message_id
    assert typed.thread_id == thread and typed.message_id
    assert "Проверьте кабель" in after(out, "— в чате: Иван")          # the copy, in the client's chat
    assert "Темы группы" in shown and "/topic и номер" in shown              # /topic 9: the list again


def test_the_technician_writes_in_the_tickets_topic_and_the_client_reads_it(database, settings):
    out = run_demo(settings, [
        "/as 3", "3", "2", "1", "Не печатается чек на кассе", "1", "1",   # a new ticket
        "/as group", "/topic 1",               # the work group: into the ticket's topic
        "Еду, буду к 10", "!клиент нервничает",  # a message, and an internal note
        "/as 3"])
    group = after(out, "— в чате: рабочая группа")
    assert "1. 🆕 #1 · Касса · ООО «Ромашка»" in group                 # the group's topics
    client = after(out, "— в чате: Смирнов")
    assert "Поддержка · Сергей, заявка #1" in client and "Еду, буду к 10" in client
    assert "нервничает" not in client                                  # the note stays inside
