"""settings.yaml parsed once per process (tests/support/settings_cache.py): every load still
gets what a fresh read gives, after an edit too, and its own copy to change."""
from __future__ import annotations

import os

import pytest

from engine.config import SettingsError
from helpdesk import config
from tests.support import settings_cache
from tests.support.paths import ROOT


def _shipped() -> str:
    with open(os.path.join(ROOT, "settings.yaml"), encoding="utf-8") as f:
        return f.read()


def test_the_same_file_is_parsed_once_and_each_load_gets_its_own_copy(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text(_shipped(), encoding="utf-8")
    read = settings_cache.stats["read"]
    first = config.load(str(path), environ={})
    first.bot.mode = "webhook"                      # one test's change stays its own
    second = config.load(str(path), environ={"BOT__POLL_TIMEOUT": "7"})
    assert settings_cache.stats["read"] == read + 1
    assert second.bot.mode != "webhook" and second.bot.poll_timeout == 7
    assert config.load(str(path), environ={}).bot.poll_timeout != 7   # overrides are per load


def test_an_edit_is_read_afresh(tmp_path):
    path = tmp_path / "settings.yaml"
    text = _shipped()
    path.write_text(text, encoding="utf-8")
    before = config.load(str(path), environ={}).bot.poll_timeout
    path.write_text(text.replace("poll_timeout:", f"poll_timeout: {before + 3} #", 1), encoding="utf-8")
    assert config.load(str(path), environ={}).bot.poll_timeout == before + 3


def test_a_broken_or_missing_file_fails_every_time(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("bot: [unclosed\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(SettingsError, match="settings.yaml:"):
            config.load(str(path), environ={})
    with pytest.raises(SettingsError, match="not found"):
        config.load(str(tmp_path / "missing.yaml"), environ={})
