"""Hot reload: edited flows/templates replace the serving set without a restart; a broken
edit never does (the old set keeps serving, the errors reach the log, subscribers and the
admin who typed /reload)."""
from __future__ import annotations

import logging
import os

import pytest

from engine.testing import Chat
from engine.tools.reload import ReloadResult
from helpdesk.flowtools import watch_flows
from helpdesk.registry import registry
from tests.support.privacy import agree
from tests.support.projects import app_on_copied_flows

ADMIN = 9001


@pytest.fixture
def app(database, settings, tmp_path):
    """An app serving copies of the shipped flows and templates, which tests then edit."""
    return app_on_copied_flows(settings, tmp_path, admins=[ADMIN])


def edit(path, old, new):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    assert old in text
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(old, new))
    st = os.stat(path)   # a later mtime even on coarse-clock filesystems
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def at_phone_question(app, user_id=1):
    chat = Chat(app.engine, user_id)
    chat.send("/start")
    chat.click("📞 Заказать обратный звонок")
    agree(chat)                                   # the consent comes first (152-ФЗ)
    chat.send("Иван")
    assert "Укажите номер телефона" in chat.last_text
    return chat


def test_valid_edit_is_swapped_in_after_files_settle_and_live_dialog_continues(app, tmp_path):
    chat = at_phone_question(app)
    seen: list[ReloadResult] = []
    reloader = app.services.reloader
    reloader.subscribe(seen.append)
    old_version = app.engine.flowset.version
    edit(tmp_path / "templates/ru/sample/ask_time.j2", "Когда удобно позвонить?", "В какое время звонить?")

    assert reloader.poll() is None                       # changed: wait one poll for the files to settle
    result = reloader.poll()
    assert app.engine.flowset.version == result.version != old_version
    assert seen == [result]
    chat.send("+79123456789")                            # the same conversation goes on
    assert "В какое время звонить?" in chat.last_text
    assert reloader.poll() is None                       # nothing changed since


def test_files_still_changing_are_not_loaded(app, tmp_path):
    reloader = app.services.reloader
    path = tmp_path / "templates/ru/sample/ask_time.j2"
    edit(path, "Когда", "Во сколько")
    assert reloader.poll() is None
    edit(path, "Во сколько", "В какое время")            # still being edited
    assert reloader.poll() is None
    assert reloader.poll().ok


def line_of(path, text: str) -> int:
    """1-based line of the first line containing `text` (the shipped flow may change)."""
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_broken_edit_keeps_the_old_set_and_reports_file_line_col(app, tmp_path, caplog):
    chat = at_phone_question(app)
    seen: list[ReloadResult] = []
    app.services.reloader.subscribe(seen.append)
    version = app.engine.flowset.version
    edit(tmp_path / "flows/sample.yaml", "    say: sample/ask_time\n", "    sya: sample/ask_time\n")

    with caplog.at_level(logging.ERROR, logger="engine.tools.reload"):
        app.services.reloader.poll()
        result = app.services.reloader.poll()
    assert not result.ok and result.version == version == app.engine.flowset.version
    line = line_of(tmp_path / "flows/sample.yaml", "    sya: sample/ask_time")
    assert any(p.endswith(f"sample.yaml:{line}:5: unknown key 'sya' in state 'ask_time'; did you mean 'say'?")
               for p in result.problems), result.problems
    assert seen == [result]
    assert f"sample.yaml:{line}:5: unknown key 'sya'" in caplog.text
    chat.send("+79123456789")                            # the old set still serves
    assert "Когда удобно позвонить?" in chat.last_text


def test_conversation_whose_state_vanished_goes_to_the_menu(app, tmp_path):
    chat = at_phone_question(app)
    edit(tmp_path / "flows/sample.yaml", "  ask_phone:\n    say: sample/ask_phone\n",
         "  ask_phone_new:\n    say: sample/ask_phone\n")
    edit(tmp_path / "flows/sample.yaml", "next: ask_phone\n", "next: ask_phone_new\n")
    assert app.services.reloader.reload().ok
    chat.send("+79123456789")
    assert chat.said("Диалог был обновлён") and "Главное меню" in chat.last_text


def test_admin_reload_command_lists_errors(app, tmp_path):
    edit(tmp_path / "flows/sample.yaml", "next: ask_time", "next: ask_tme")
    version = app.engine.flowset.version
    chat = Chat(app.engine, ADMIN)
    chat.send("/reload")
    text = chat.transcript[0].text
    assert "Диалоги не перезагружены: 5 ошибок" in text and version in text
    line = line_of(tmp_path / "flows/sample.yaml", "next: ask_tme")
    assert f"sample.yaml:{line}:11: state &#39;ask_tme&#39; is not defined" in text   # HTML-escaped
    assert app.engine.flowset.version == version


def test_admin_reload_command_swaps_and_others_are_refused(app, tmp_path):
    edit(tmp_path / "templates/ru/menu/main.j2", "Главное меню", "Меню поддержки")
    stranger = Chat(app.engine, 1234)
    stranger.send("/reload")
    assert "только администраторам" in stranger.transcript[0].text
    assert "Главное меню" in stranger.last_text          # nothing was reloaded
    admin = Chat(app.engine, ADMIN)
    admin.send("/reload")
    assert f"версия <code>{app.engine.flowset.version}</code>" in admin.transcript[0].text
    assert "Меню поддержки" in Chat(app.engine, 1234).send("/menu")[0].text


def test_watch_job_polls_and_can_be_switched_off(app, tmp_path):
    assert registry.jobs["watch_flows"].every(app.settings) == app.settings.engine.watch_seconds
    edit(tmp_path / "templates/ru/menu/main.j2", "Главное меню", "Меню поддержки")
    off = app.settings.model_copy(update={"engine": app.settings.engine.model_copy(update={"watch_seconds": 0})})
    on, app.settings = app.settings, off
    watch_flows(app), watch_flows(app)
    assert "Главное меню" in Chat(app.engine, 1).send("/menu")[0].text
    app.settings = on
    watch_flows(app), watch_flows(app)
    assert "Меню поддержки" in Chat(app.engine, 1).send("/menu")[0].text


def test_a_failing_subscriber_does_not_stop_the_others(app, tmp_path):
    got = []
    app.services.reloader.subscribe(lambda r: 1 / 0)
    app.services.reloader.subscribe(got.append)
    assert app.services.reloader.reload().ok and len(got) == 1
