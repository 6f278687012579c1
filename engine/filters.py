"""The engine's template filters: plain functions that `engine.builtins.register` puts into
the registry; `engine.templates.Templates` installs the registry's filters in every
language's environment.

A filter that needs a setting of the templates (the display time zone) reads it from the
Jinja environment (`pass_environment`), where Templates puts it with `Environment.extend`.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from jinja2 import pass_environment

__all__ = ["localtime"]


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
