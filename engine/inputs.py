"""The engine's typed inputs of `ask`: each validator takes the event and the ask spec and
returns `(True, value)` or `(False, template_name_of_the_hint)`.

They are plain functions: `engine.builtins.register` puts them into the registry under
their type names, and the engine and the checker read the types from there.
"""
from __future__ import annotations

import re

import phonenumbers
from stdnum.ru import inn as ru_inn

from .events import Event

__all__ = ["text", "number", "phone", "contact", "inn", "choice", "file", "photo",
           "document", "normalize_phone"]

_NUMBER = re.compile(r"^[+-]?\d+([.,]\d+)?$")


def text(event: Event, spec: dict):
    if event.kind != "text" or not event.text.strip():
        return False, "common/invalid_text"
    value = event.text.strip()
    if len(value) < int(spec.get("min", 1)):
        return False, "common/too_short"
    if len(value) > int(spec.get("max", 4000)):
        return False, "common/too_long"
    return True, value


def number(event: Event, spec: dict):
    raw = event.text.strip().replace(" ", "").replace("\u00a0", "")
    if event.kind != "text" or not _NUMBER.match(raw):
        return False, "common/invalid_number"
    value = float(raw.replace(",", "."))
    value = int(value) if value.is_integer() else value
    if "min" in spec and value < spec["min"] or "max" in spec and value > spec["max"]:
        return False, "common/number_out_of_range"
    return True, value


def normalize_phone(text: str, region: str = "RU") -> str | None:
    """"8 (912) 345-67-89" -> "+79123456789"; None when it is not a valid number."""
    raw = (text or "").strip()
    if not raw or len(raw) > 40:
        return None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone(event: Event, spec: dict):
    if event.kind == "contact" and event.contact:
        return contact(event, spec)
    number = normalize_phone(event.text) if event.kind == "text" else None
    return (True, number) if number else (False, "common/invalid_phone")


def contact(event: Event, spec: dict):
    """A shared contact; only the sender's own (Telegram sets contact.user_id)."""
    if event.kind != "contact" or not event.contact:
        return False, "common/share_contact"
    if event.contact.user_id is not None and event.contact.user_id != event.user_id:
        return False, "common/not_your_contact"
    if event.contact.user_id is None and spec.get("own_only", True):
        return False, "common/not_your_contact"
    phone = normalize_phone(event.contact.phone)
    return (True, phone) if phone else (False, "common/invalid_phone")


def inn(event: Event, spec: dict):
    digits = re.sub(r"\s", "", event.text or "")
    if event.kind != "text" or not digits.isdigit() or len(digits) not in (10, 12):
        return False, "common/invalid_inn"
    return (True, digits) if ru_inn.is_valid(digits) else (False, "common/inn_checksum")


def choice(event: Event, spec: dict):
    options = [str(o) for o in spec.get("options", [])]
    text = (event.text or "").strip().casefold()
    for option in options:
        if option.casefold() == text:
            return True, option
    return False, "common/invalid_choice"


def file(event: Event, spec: dict):
    if event.kind != "file" or not event.files:
        return False, "common/send_file"
    allowed = spec.get("accept")  # photo | document | None for both
    files = [f for f in event.files if not allowed or f.kind == allowed]
    if not files:
        return False, "common/unsupported_file"
    limit = int(spec.get("max_size", 20 * 1024 * 1024))
    if any(f.size > limit for f in files):
        return False, "common/file_too_big"
    return True, [{"file_id": f.file_id, "kind": f.kind, "name": f.name} for f in files]


def photo(event: Event, spec: dict):
    return file(event, {**spec, "accept": "photo"})


def document(event: Event, spec: dict):
    return file(event, {**spec, "accept": "document"})
