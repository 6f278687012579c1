"""The parts of issue 9 that need no PostgreSQL: what `--workers` refuses, the REST API on
the webhook's port, reminders queued in their conversation's transaction, rejected reloads
sent to the admins (once, however many workers saw them), /reload kept out of the public
command list."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from engine import outgoing
from engine.session import Conversation, utcnow
from helpdesk.app import PROJECT_ROOT, build_app
from helpdesk.ops.bot import command_texts, tell_admins_about_reloads
from tests.support.fakes.telegram_api import FakeTelegramAPI
from tests.support.projects import app_on_copied_flows
from tests.support.telegram_harness import call, free_port, open_sample, running_bot
from tests.support.workers import SECRET, Dialogs, wait_finished, wait_serving

API_TOKEN = "api-token-0123456789"


def _run_bot(env: dict, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run.py", "bot", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_workers_need_postgresql_and_webhook_mode(tmp_path):
    env = {**os.environ, "BOT_TOKEN": "123:abc", "LOGGING__FILE": str(tmp_path / "bot.log"),
           "DATABASE_URL": f"sqlite:///{tmp_path}/bot.db", "BOT__MODE": "webhook"}
    sqlite = _run_bot(env, "--workers", "2")
    assert sqlite.returncode == 2 and "needs PostgreSQL" in sqlite.stderr
    polling = _run_bot({**env, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
                        "BOT__MODE": "polling"}, "--workers", "3")
    assert polling.returncode == 2 and "webhook mode" in polling.stderr
    assert "getUpdates" in polling.stderr


def _get(url: str, token: str | None = None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


@pytest.mark.timeout(90)
def test_rest_api_shares_the_webhook_port(tmp_path):
    port = free_port()
    with FakeTelegramAPI() as api:
        env = {**os.environ, "BOT_TOKEN": api.token, "BOT_API_URL": api.url,
               "DATABASE_URL": f"sqlite:///{tmp_path}/bot.db",
               "LOGGING__FILE": str(tmp_path / "bot.log"), "NOTIFY__BUG__USE": "false",
               "NOTIFY__SYSTEM__WORK_GROUP_ID": "-100777",     # the call-back dialog needs a group
               "BOT__MODE": "webhook", "BOT__WEBHOOK__URL": f"http://127.0.0.1:{port}/tg",
               "BOT__WEBHOOK__PORT": str(port), "BOT__WEBHOOK__PATH": "/tg",
               "BOT__WEBHOOK__SECRET_TOKEN": SECRET, "BOT__WEBHOOK__SERVE_API": "true",
               "ENGINE__WATCH_SECONDS": "0"}
        no_tokens = _run_bot(env)
        assert no_tokens.returncode == 2 and "api.tokens" in no_tokens.stderr
        env["API__TOKENS"] = json.dumps([API_TOKEN])
        with open(tmp_path / "bot.out", "wb") as out:
            proc = subprocess.Popen([sys.executable, "run.py", "bot"], cwd=PROJECT_ROOT, env=env,
                                    stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_serving(port, proc)                 # the webhook answers 403 to a wrong secret
            base = f"http://127.0.0.1:{port}"
            assert _get(f"{base}/api/v1/openapi.json")[0] == 200
            assert _get(f"{base}/api/v1/changes")[0] == 401
            status, body = _get(f"{base}/api/v1/changes", API_TOKEN)
            assert status == 200 and "items" in body
            assert _get(f"{base}/api/v1/tickets/999999", API_TOKEN)[0] == 404

            class One:                               # Dialogs posts through a worker set
                @staticmethod
                def post(index, update):
                    from tests.support.workers import post
                    return post(port, update)
            Dialogs(api).walk(One, 7001)
            wait_finished(api, [7001])
        finally:
            proc.terminate()
            proc.wait(30)
        assert proc.returncode == 0, (tmp_path / "bot.out").read_text(encoding="utf-8")[-2000:]


@pytest.fixture
def engine(database, settings):
    settings.notify.system.work_group_id = -100777   # the call-back dialog needs someone to call
    return build_app(settings, connect=False).engine


def test_a_reminder_and_its_conversation_commit_together(engine):
    """The outgoing table is gone when the reminder is queued: the conversation's reminder
    must not be spent (before, it was committed first and the message then lost)."""
    with FakeTelegramAPI() as api, running_bot(engine, api) as bot:
        user = api.user(7101)
        user.send("/start")
        user.wait_for(contains="Главное меню")
        open_sample(user)
        due = utcnow()
        Conversation.update(remind_at=due).where(Conversation.chat_id == 7101).execute()
        outgoing.Outgoing.drop_table()
        try:
            assert call(bot, bot.check_timeouts()) == 0            # failed, logged
        finally:
            outgoing.Outgoing.create_table()
        assert Conversation.get(Conversation.chat_id == 7101).remind_at == due
        assert call(bot, bot.check_timeouts()) == 1
        api.wait_for(7101, contains="Вы не закончили", since=0)
        assert Conversation.get(Conversation.chat_id == 7101).remind_at is None


ADMINS = [9101, 9102]


@pytest.fixture
def app(database, settings, tmp_path):
    return app_on_copied_flows(settings, tmp_path, admins=ADMINS)


def _to(chat: int) -> list[str]:
    return [outgoing.to_reply(r).text for r in outgoing.Outgoing.select()
            .where(outgoing.Outgoing.chat_id == chat).order_by(outgoing.Outgoing.id)]


def test_a_rejected_reload_reaches_every_admin_once_with_file_line_col(app, tmp_path):
    tell_admins_about_reloads(app)
    tell_admins_about_reloads(app)          # a second worker's listener, same files
    sample = tmp_path / "flows" / "sample.yaml"
    sample.write_text(sample.read_text(encoding="utf-8").replace("next: ask_time", "next: ask_tme"),
                      encoding="utf-8")
    assert not app.services.reloader.reload().ok
    assert not app.services.reloader.reload().ok                    # same problem, same files
    for admin in ADMINS:
        texts = _to(admin)
        assert len(texts) == 1, texts
        assert "sample.yaml:" in texts[0] and "ask_tme" in texts[0]
        line_col = texts[0].split("sample.yaml:")[1].split(":")[:2]
        assert all(part.isdigit() for part in line_col), texts[0]
    sample.write_text(sample.read_text(encoding="utf-8").replace("next: ask_tme", "next: ask_time"),
                      encoding="utf-8")
    assert app.services.reloader.reload().ok
    assert [len(_to(a)) for a in ADMINS] == [1, 1]              # a good reload says nothing


class _AllDescribed:
    """Templates in which every command has a description."""
    def exists(self, name, lang):
        return True

    def render(self, name, lang, context):
        return f"{name} ({lang})"


def test_reload_is_not_published_in_the_commands_menu(settings):
    assert "reload" in settings.engine.commands
    published = command_texts(settings, _AllDescribed())
    for lang, commands in published.items():
        names = [name for name, _ in commands]
        assert "reload" not in names and "start" in names, (lang, names)


def test_an_update_that_cannot_be_parsed_does_not_hold_its_chat_back(engine):
    """On PostgreSQL (shared mode) the chat drains its oldest pending row first: one that
    keeps failing would block the chat forever, so after three tries it is marked failed;
    the user gets an apology and the next update is applied. (One process on SQLite leaves
    it pending for the replay at the next start.)"""
    from engine import storage
    from engine.telegram.inbox import InboxItem
    with FakeTelegramAPI() as api, running_bot(engine, api):
        user = api.user(7201)
        api.push_update({"message": {"chat": user.chat, "from": user.user, "date": 0}})  # no message_id
        user.send("/start")
        user.wait_for(contains="Главное меню", timeout=10)
    apology = engine.flowset.templates.render("common/error", "ru", {})
    assert apology.split("<")[0][:20] in api.messages(7201)[0].plain_text
    statuses = [r.status for r in InboxItem.select().order_by(InboxItem.update_id)]
    assert statuses == ["failed" if storage.is_postgres() else "pending", "done"]


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"),
                    reason="the per-job lock is PostgreSQL's (pg_try_advisory_lock); set TEST_DATABASE_URL")
def test_a_job_runs_in_one_worker_at_a_time_and_everywhere_jobs_in_all(database, settings):
    """Two schedulers (two workers) fire the same job at once: one run, one skipped; the
    next firing runs again (the lock went with the run's connection)."""
    import threading
    import time as _time

    from helpdesk.ops import jobs
    runs: list[str] = []

    def slow(app):
        runs.append(threading.current_thread().name)
        _time.sleep(0.5)
    exclusive = jobs.Job("test_exclusive", slow, 60)
    everywhere = jobs.Job("test_everywhere", slow, 60, everywhere=True)
    for job, expected in ((exclusive, 1), (everywhere, 2), (exclusive, 1)):
        runs.clear()
        threads = [threading.Thread(target=jobs._safe, args=(None, job), name=f"w{i}")
                   for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(runs) == expected, (job.name, runs)
