"""The terminal chat: numbered buttons, typed numbers press them, /contact shares a phone."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from engine.console import Console
from helpdesk import config
from helpdesk.app import build_app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
    engine = build_app(config.load(environ={}), connect=False).engine
    menu_sample = engine.flowset.templates.render_label("menu/btn_sample", "ru", {})

    def press_sample(out):
        line = next(x for x in reversed(out) if x.endswith(menu_sample))
        return line.strip()[1:line.strip().index("]")]
    out = run_console(engine, ["99", press_sample, "Иван", "abc", "/contact +7 912 345-67-89", "2", "1"])
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
                    "is a ProgrammingError, a bug: its outages are in tests/test_nothing_dies.py")
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
