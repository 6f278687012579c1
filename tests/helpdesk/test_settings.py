"""Settings: file:line errors, environment overrides, ${VAR}, secrets kept out of logs."""
from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from engine.errors import SettingsError
from helpdesk import config
from helpdesk.ops import logs
from tests.support.paths import ROOT


def write(tmp_path, text: str) -> str:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return str(path)


def test_shipped_settings_load_with_defaults():
    s = config.load(environ={})
    assert s.bot.mode == "polling" and s.crm.kind == "none" and s.database.url.startswith("sqlite")


def test_every_problem_reported_with_file_line_col(tmp_path):
    path = write(tmp_path, "bot:\n  tokn: x\n  webhook:\n    port: nope\npay:\n  bank: true\n")
    with pytest.raises(SettingsError) as info:
        config.load(path, environ={})
    problems = info.value.problems
    assert f"{path}:2:3: bot.tokn: unknown setting; did you mean 'token'?" in problems
    assert any(p.startswith(f"{path}:4:5: bot.webhook.port: Input should be a valid integer") for p in problems)
    assert any(p.startswith(f"{path}:6:3: pay.bank:") and "not implemented" in p for p in problems)


def test_environment_overrides_and_short_names():
    s = config.load(environ={"BOT__WEBHOOK__PORT": "9000", "NOTIFY__BUG__USE": "false",
                             "BOT_TOKEN": "1:secret", "DATABASE_URL": "sqlite:///x.db",
                             "BOT_API_URL": "http://127.0.0.1:8081", "TICKETS__TECHNICIANS": "[1, 2]"})
    assert s.bot.webhook.port == 9000 and s.notify.bug.use is False
    assert s.bot.token.get_secret_value() == "1:secret" and s.database.url == "sqlite:///x.db"
    assert s.bot.api_url == "http://127.0.0.1:8081" and s.tickets.technicians == [1, 2]


def test_bad_environment_value_names_the_variable():
    with pytest.raises(SettingsError) as info:
        config.load(environ={"BOT__WEBHOOK__PORT": "abc"})
    assert info.value.problems[0].startswith("environment BOT__WEBHOOK__PORT: bot.webhook.port:")


def test_variable_references(tmp_path):
    path = write(tmp_path, 'crm:\n  token: "${CRM_TOKEN}"\n  url: "${CRM_URL:-http://crm.local/}"\n')
    s = config.load(path, environ={"CRM_TOKEN": "t0ken"})
    assert s.crm.token.get_secret_value() == "t0ken" and s.crm.url == "http://crm.local/"
    with pytest.raises(SettingsError) as info:
        config.load(path, environ={})
    assert f"{path}:2:3: token: environment variable CRM_TOKEN is not set" in info.value.problems[0]


def test_secrets_never_reach_logs(tmp_path, capsys):
    s = config.load(environ={"BOT_TOKEN": "123456:SUPERSECRET", "CRM__PASSWORD": "hunter22",
                             "LOGGING__FILE": str(tmp_path / "bot.log")})
    logs.configure(s)
    log = logging.getLogger("test.secrets")
    log.error("calling https://api.telegram.org/bot123456:SUPERSECRET/getMe with %s", "hunter22")
    try:
        raise RuntimeError("auth failed for hunter22")
    except RuntimeError:
        log.exception("crm down")
    for handler in logging.getLogger().handlers:
        handler.flush()
    written = (tmp_path / "bot.log").read_text() + capsys.readouterr().err
    assert "SUPERSECRET" not in written and "hunter22" not in written
    assert written.count("***") >= 3
    assert "SUPERSECRET" not in repr(s) and "hunter22" not in repr(s)
    logging.getLogger().handlers.clear()


def test_cli_refuses_to_start_on_bad_settings(tmp_path):
    path = write(tmp_path, "bot:\n  mode: telepathy\n")
    out = subprocess.run([sys.executable, "run.py", "--settings", path, "flows", "check"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert f"{path}:2:3: bot.mode: Input should be 'polling' or 'webhook'" in out.stderr


def test_settings_file_from_environment(tmp_path):
    path = write(tmp_path, "bot:\n  name: from_env_file\n")
    assert config.load(environ={"SETTINGS_FILE": path}).bot.name == "from_env_file"


def test_desk_topic_icons_name_only_ticket_statuses(tmp_path):
    path = write(tmp_path, "desk:\n  topics: true\n  topic_icons:\n    new: \"🆕\"\n    solved: \"✅\"\n")
    with pytest.raises(SettingsError) as info:
        config.load(path, environ={})
    assert any("desk.topic_icons" in p and "unknown status solved" in p for p in info.value.problems)
    assert config.load(environ={}).desk.topic_icons["done"] == "✅"
