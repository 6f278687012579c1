"""Plural forms by CLDR's rules (the `plural` template filter, Babel): "5 изменений", not
"5 изменение"; "1 error", not "1 errors"; each language by its own rules."""
from __future__ import annotations

import pytest

from engine import Registry, builtins
from engine.templates import Templates
from helpdesk.app import project_path

TEMPLATES = Templates(project_path("templates"), ["ru", "en"], "ru",
                      filters=builtins.register(Registry()).filters)


@pytest.mark.parametrize("count,word", [(1, "изменение"), (2, "изменения"), (4, "изменения"),
                                        (5, "изменений"), (11, "изменений"), (12, "изменений"),
                                        (21, "изменение"), (22, "изменения"), (25, "изменений"),
                                        (111, "изменений"), (0, "изменений")])
def test_russian_forms_follow_the_last_digits(count, word):
    text = TEMPLATES.render("sync/dead_letter", "ru", {"count": count, "items": []})
    assert f"{count} {word} не удалось передать" in text


@pytest.mark.parametrize("count,word", [(1, "change"), (2, "changes"), (0, "changes"), (21, "changes")])
def test_english_forms(count, word):
    assert f"CRM sync: {count} {word} could not" in TEMPLATES.render("sync/dead_letter", "en", {"count": count, "items": []})


def test_the_genitive_after_a_limit_and_english_singular():
    assert "не больше 21 символа" in TEMPLATES.render("common/too_long", "ru", {"ask": {"max": 21}})
    assert "не больше 3000 символов" in TEMPLATES.render("common/too_long", "ru", {"ask": {"max": 3000}})
    assert "at least 1 character." in TEMPLATES.render("common/too_short", "en", {"ask": {"min": 1}})


def test_a_count_that_is_not_a_number_is_shown_as_it_is_with_the_last_form():
    render = TEMPLATES.expression('n | plural("ошибка", "ошибки", "ошибок")')
    assert render(n="много") == "много ошибок"
    assert render(n=3) == "3 ошибки"
