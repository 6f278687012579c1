"""The helpdesk's own formats for the flows and templates, registered by
helpdesk.registry.new_registry next to the engine's built-in ones:

- the `inn` ask type: a Russian taxpayer number (10 or 12 digits with a valid checksum);
- the `money` template filter: amounts are kept in kopecks and shown in roubles;
- the phone region (`PHONE_REGION`, helpdesk.phones): the engine's phone and contact types
  read a number typed without a country code as Russian.
"""
from __future__ import annotations

import re
from typing import Any

from stdnum.ru import inn as ru_inn

from engine.events import Event
from engine.registry import Registry

from .phones import DEFAULT_REGION as PHONE_REGION

__all__ = ["inn", "money", "register", "INN_HINTS", "PHONE_REGION"]

INN_HINTS = ("common/invalid_inn", "common/inn_checksum")


def inn(event: Event, spec: dict):
    """`ask: {type: inn}`: the digits, or the hint saying which rule failed."""
    digits = re.sub(r"\s", "", event.text or "")
    if event.kind != "text" or not digits.isdigit() or len(digits) not in (10, 12):
        return False, "common/invalid_inn"
    return (True, digits) if ru_inn.is_valid(digits) else (False, "common/inn_checksum")


def money(kopecks: Any) -> str:
    """12345 -> "123,45" (kopecks to roubles, Russian decimal comma)."""
    try:
        value = int(kopecks)
    except (TypeError, ValueError):
        return str(kopecks)
    sign = "-" if value < 0 else ""
    rub, kop = divmod(abs(value), 100)
    return f"{sign}{rub:,}".replace(",", " ") + f",{kop:02d}"


def register(registry: Registry) -> Registry:
    """Register the `inn` ask type and the `money` filter; returns the registry."""
    registry.register_input_type("inn", inn, hints=INN_HINTS)
    registry.register_filter("money", money)
    return registry
