"""The helpdesk's own formats for the flows and templates, registered by
helpdesk.registry.new_registry next to the engine's built-in ones:

- the `inn` ask type: a Russian taxpayer number (10 or 12 digits with a valid checksum);
- the `money` template filter: amounts are kept in kopecks and shown in roubles with two
  decimals, in the template's language (ru "1 000,50", en "1,000.50"), on buttons and in texts
  alike;
- the phone region (`PHONE_REGION`, helpdesk.phones): the engine's phone and contact types
  read a number typed without a country code as Russian.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from babel.numbers import format_decimal
from jinja2 import pass_environment
from stdnum.ru import inn as ru_inn

from engine.events import Event
from engine.filters import locale
from engine.registry import Registry

from .directory.phones import DEFAULT_REGION as PHONE_REGION

__all__ = ["inn", "money", "register", "INN_HINTS", "PHONE_REGION"]

INN_HINTS = ("common/invalid_inn", "common/inn_checksum")


def inn(event: Event, spec: dict):
    """`ask: {type: inn}`: the digits, or the hint saying which rule failed."""
    digits = re.sub(r"\s", "", event.text or "")
    if event.kind != "text" or not digits.isdigit() or len(digits) not in (10, 12):
        return False, "common/invalid_inn"
    return (True, digits) if ru_inn.is_valid(digits) else (False, "common/inn_checksum")


_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " "})


@pass_environment
def money(env, kopecks: Any) -> str:
    """123456 -> "1 234,56" in a Russian template, "1,234.56" in an English one (CLDR's
    separators, Babel). The group separator is a plain space: what every Telegram client and
    terminal shows and copies alike."""
    try:
        value = int(kopecks)
    except (TypeError, ValueError):
        return str(kopecks)
    text = format_decimal(Decimal(value) / 100, format="#,##0.00",
                          locale=locale(getattr(env, "language", "ru")))
    return text.translate(_SPACES)


def register(registry: Registry) -> Registry:
    """Register the `inn` ask type and the `money` filter; returns the registry."""
    registry.register_input_type("inn", inn, hints=INN_HINTS)
    registry.register_filter("money", money)
    return registry
