"""The engine's own input types and template filters, put explicitly into the registry an
engine is given:

    registry = Registry()
    builtins.register(registry)      # text, number, phone, ... and money, localtime, plural
    @registry.action("...") ...

Nothing is registered on import: a registry without this call knows none of them (the
checker then reports `type: text` as an unknown input type).
"""
from __future__ import annotations

from . import filters, inputs
from .registry import Registry

__all__ = ["register", "INPUT_TYPES", "FILTERS"]

INPUT_TYPES = (("text", inputs.text), ("number", inputs.number), ("phone", inputs.phone),
               ("contact", inputs.contact), ("inn", inputs.inn), ("choice", inputs.choice),
               ("file", inputs.file), ("photo", inputs.photo), ("document", inputs.document))
FILTERS = (("money", filters.money), ("localtime", filters.localtime), ("plural", filters.plural))


def register(registry: Registry) -> Registry:
    """Register the built-in input types and filters; returns the registry."""
    for name, fn in INPUT_TYPES:
        registry.register_input_type(name, fn)
    for name, fn in FILTERS:
        registry.register_filter(name, fn)
    return registry
