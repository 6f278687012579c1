"""The engine's own input types and template filters, put explicitly into the registry an
engine is given:

    registry = Registry()
    builtins.register(registry, phone_region="DE")   # text, number, phone, ... and localtime, plural
    @registry.action("...") ...

Nothing is registered on import: a registry without this call knows none of them (the
checker then reports `type: text` as an unknown input type). What is particular to one
project (its own ask types, a currency filter) the project registers itself.
"""
from __future__ import annotations

from functools import partial

from . import filters, inputs
from .registry import Registry

__all__ = ["register", "INPUT_TYPES", "FILTERS"]

INPUT_TYPES = (("text", inputs.text), ("number", inputs.number), ("phone", inputs.phone),
               ("contact", inputs.contact), ("choice", inputs.choice), ("file", inputs.file),
               ("photo", inputs.photo), ("document", inputs.document))
PHONE_TYPES = {"phone", "contact"}       # read a number without a country code in phone_region
FILTERS = (("localtime", filters.localtime), ("plural", filters.plural))


def register(registry: Registry, *, phone_region: str | None = None) -> Registry:
    """Register the built-in input types and filters; returns the registry.

    `phone_region` (ISO 3166, e.g. "DE") is where the phone and contact types read a number
    typed without a country code; None accepts international numbers only."""
    for name, fn in INPUT_TYPES:
        if name in PHONE_TYPES:
            fn = partial(fn, region=phone_region)
        registry.register_input_type(name, fn, hints=inputs.HINTS[name])
    for name, fn in FILTERS:
        registry.register_filter(name, fn)
    return registry
