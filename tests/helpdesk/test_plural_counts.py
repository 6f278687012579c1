"""Every count a client or an administrator reads follows CLDR's plural rules (issue 14
item 5): attachments, the errors a failed reload leaves unlisted, the days the closed-tickets
list and a reopen allow. "1 файлов", "Ещё 1 ошибок" and "за 1 дней" are what this prevents."""
from __future__ import annotations

import pytest

from engine import Registry, builtins
from engine.templates import Templates
from helpdesk.app import project_path

TEMPLATES = Templates(project_path("templates"), ["ru", "en"], "ru",
                      filters=builtins.register(Registry()).filters)
DRAFT = {"company": "", "point": "", "type": "Касса", "description": "Не печатает"}


@pytest.mark.parametrize("lang,files,text", [
    ("ru", 1, "Вложения: 1 файл"), ("ru", 3, "Вложения: 3 файла"), ("ru", 5, "Вложения: 5 файлов"),
    ("ru", 21, "Вложения: 21 файл"), ("en", 1, "Attachments: 1 file"), ("en", 10, "Attachments: 10 files")])
def test_attachments_on_the_confirm_screen(lang, files, text):
    assert text in TEMPLATES.render("ticket/confirm", lang, {"draft": {**DRAFT, "files": files}})


@pytest.mark.parametrize("lang,left,text", [("ru", 1, "…и ещё 1 ошибка."), ("ru", 2, "…и ещё 2 ошибки."),
                                            ("ru", 7, "…и ещё 7 ошибок."), ("en", 1, "…and 1 more error."),
                                            ("en", 4, "…and 4 more errors.")])
def test_the_errors_a_failed_reload_does_not_list(lang, left, text):
    reload = {"count": 3 + left, "errors": ["a", "b", "c"], "version": "v2"}
    assert text in TEMPLATES.render("admin/reload_failed", lang, {"reload": reload})


@pytest.mark.parametrize("lang,days,text", [("ru", 1, "Закрытых заявок за 1 день нет."),
                                            ("ru", 90, "Закрытых заявок за 90 дней нет."),
                                            ("ru", 22, "Закрытых заявок за 22 дня нет."),
                                            ("en", 1, "No tickets closed in the last 1 day."),
                                            ("en", 90, "No tickets closed in the last 90 days.")])
def test_the_closed_list_says_how_far_back_it_looks(lang, days, text):
    context = {"tickets_closed": True, "tickets_total": 0, "settings": {"tickets": {"closed_days": days}}}
    assert text in TEMPLATES.render("ticket/list", lang, context)


@pytest.mark.parametrize("days,text", [(1, "в течение 1 дня после"), (14, "в течение 14 дней после"),
                                       (21, "в течение 21 дня после")])
def test_a_late_reopen_says_how_long_it_was_allowed(days, text):
    assert text in TEMPLATES.render("ticket/reopen_expired", "ru", {"settings": {"tickets": {"reopen_days": days}}})
