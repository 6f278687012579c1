"""Templates cannot reach secrets: they see only the settings engine.template_settings
lists, nothing listed there may be (or hold) a secret, and `flows check` reports a template
or a condition that reads any other setting, at its file and line."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from jinja2.exceptions import UndefinedError
from pydantic import BaseModel, SecretStr

from engine.errors import FlowConfigError, SettingsError
from helpdesk import config
from helpdesk.app import build_app, check
from tests.support.paths import ROOT
from tests.support.projects import _pointed, app_on_copied_flows, checked, copied

STEAL = "{{ settings.pay.payload_secret.get_secret_value() }}"


def secrets_in(value) -> list:
    if isinstance(value, SecretStr):
        return [value]
    if isinstance(value, BaseModel):
        return secrets_in(value.model_dump())
    if isinstance(value, dict):
        return [s for v in value.values() for s in secrets_in(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in secrets_in(v)]
    return []


def with_secrets():
    return config.load(environ={"PAY__PAYLOAD_SECRET": "hmac-key-123", "BOT_TOKEN": "1:tok",
                                "CRM__PASSWORD": "pw-456", "DADATA__API_KEY": "dd-789"})


def test_the_settings_variable_holds_no_secret_and_only_the_listed_paths():
    s = with_secrets()
    view = config.template_view(s)
    assert secrets_in(view) == []
    assert set(view) == {"pay", "tickets"} and "payload_secret" not in view["pay"]
    assert "hmac-key-123" not in repr(view) and "pw-456" not in repr(view)


def test_a_template_reading_a_secret_renders_nothing_of_it(tmp_path):
    app = app_on_copied_flows(with_secrets(), tmp_path)
    env = app.engine.flowset.templates._envs["ru"]
    with pytest.raises(UndefinedError):            # were one to slip past the checker
        env.from_string(STEAL).render(settings=config.template_view(app.settings))


def test_an_app_with_a_secret_reading_template_does_not_start(tmp_path):
    templates, _ = copied(tmp_path)
    (templates / "ru" / "help" / "steal.j2").write_text(STEAL, encoding="utf-8")
    with pytest.raises(FlowConfigError) as info:
        build_app(_pointed(with_secrets(), tmp_path), connect=False)
    assert "payload_secret" in str(info.value) and "hmac-key-123" not in str(info.value)


def test_flows_check_reports_a_template_that_reads_a_secret(tmp_path):
    templates, _ = copied(tmp_path)
    (templates / "en" / "help" / "steal.j2").write_text("Hello\n" + STEAL, encoding="utf-8")
    problems = checked(config.load(environ={}), tmp_path)
    [line] = [p for p in problems if "steal" in p]
    assert line.startswith(f"{os.path.relpath(templates / 'en' / 'help' / 'steal.j2', ROOT)}:2:1: ")
    assert "'settings.pay.payload_secret.get_secret_value'" in line
    assert "engine.template_settings" in line


@pytest.mark.parametrize("source,path", [
    ("{{ settings.bot.token }}", "settings.bot.token"),
    ("{{ settings['crm'].password }}", "settings.crm.password"),
    ("{% for k, v in settings.items() %}{{ v }}{% endfor %}", "settings.items"),
    ("{{ settings.pay[name] }}", "settings.pay.*"),
    ("{{ settings }}", "'settings'"),
])
def test_flows_check_reports_every_way_to_reach_outside_the_list(tmp_path, source, path):
    templates, _ = copied(tmp_path)
    (templates / "ru" / "help" / "peek.j2").write_text(source, encoding="utf-8")
    problems = [p for p in checked(config.load(environ={}), tmp_path) if "peek" in p]
    assert len(problems) == 1 and path in problems[0]


def test_flows_check_reports_a_condition_that_reads_outside_the_list(tmp_path):
    _, flows = copied(tmp_path)
    menu = flows / "menu.yaml"
    text = menu.read_text(encoding="utf-8")
    menu.write_text(text.replace("settings.pay.use and", "settings.api.listen and settings.pay.use and", 1),
                    encoding="utf-8")
    problems = checked(config.load(environ={}), tmp_path)
    assert any("menu.yaml:" in p and "'settings.api.listen'" in p for p in problems), problems


def test_the_shipped_flows_read_only_listed_settings():
    assert [p for p in check(config.load(environ={})) if "not offered" in p] == []


@pytest.mark.parametrize("path", ["pay.payload_secret", "pay", "api.tokens", "bot", "crm.password",
                                  "bot.webhook"])
def test_a_secret_in_the_list_stops_the_settings_at_its_line(tmp_path, path):
    file = tmp_path / "s.yaml"
    file.write_text(f"engine:\n  template_settings:\n    - pay.use\n    - {path}\n", encoding="utf-8")
    with pytest.raises(SettingsError) as info:
        config.load(str(file), environ={})
    assert any(p.startswith(f"{file}:") and "secret" in p and path in p for p in info.value.problems), \
        info.value.problems


def test_an_unknown_setting_in_the_list_is_refused(tmp_path):
    file = tmp_path / "s.yaml"
    file.write_text("engine:\n  template_settings: [pay.nothing]\n", encoding="utf-8")
    with pytest.raises(SettingsError) as info:
        config.load(str(file), environ={})
    assert any("'pay.nothing' is not a setting" in p for p in info.value.problems)


def test_cli_flows_check_fails_on_a_secret_reading_template(tmp_path):
    templates, flows = copied(tmp_path)
    (templates / "ru" / "help" / "steal.j2").write_text(STEAL, encoding="utf-8")
    settings_file = tmp_path / "s.yaml"
    settings_file.write_text(f"engine:\n  flows_dir: {flows}\n  templates_dir: {templates}\n",
                             encoding="utf-8")
    out = subprocess.run([sys.executable, "run.py", "--settings", str(settings_file), "flows", "check"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "OK" not in out.stdout
    assert "payload_secret" in out.stdout + out.stderr
