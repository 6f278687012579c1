"""The engine's template filters: plain functions that `engine.builtins.register` puts into
the registry; `engine.templates.Templates` installs the registry's filters in every
language's environment.

A filter that needs a setting of the templates (the display time zone) reads it from the
Jinja environment (`pass_environment`), where Templates puts it with `Environment.extend`.
"""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from babel import Locale
from jinja2 import pass_environment

__all__ = ["localtime", "plural", "locale"]

# Babel builds a new Locale per parse; a template language is one of two or three.
locale = lru_cache(maxsize=32)(Locale.parse)

# CLDR's plural categories in the order a template gives the forms (`plural` below).
_CATEGORIES = ("zero", "one", "two", "few", "many", "other")


@pass_environment
def localtime(env, value: Any, fmt: str = "%d.%m.%Y %H:%M") -> str:
    """A stored UTC time (datetime or ISO text) shown in the display zone."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(env.display_zone).strftime(fmt)


@pass_environment
def plural(env, count: Any, *forms: str) -> str:
    """`{{ n|plural("ошибка", "ошибки", "ошибок") }}` -> "5 ошибок": the count and the form
    CLDR's rules pick for the template's language (Babel). Forms follow the language's
    categories in the order zero, one, two, few, many, other, as far as it has them:
    ru one/few/many ("1 ошибка", "3 ошибки", "5 ошибок"), en one/other ("1 error",
    "2 errors"). A category without a form given takes the last one."""
    if not forms:
        return str(count)
    try:
        number = int(count) if float(count).is_integer() else float(count)
    except (TypeError, ValueError):
        return f"{count} {forms[-1]}"
    rule = locale(getattr(env, "language", "en")).plural_form
    categories = [c for c in _CATEGORIES if c in rule.tags or c == "other"]
    index = categories.index(rule(number))
    return f"{count} {forms[min(index, len(forms) - 1)]}"
