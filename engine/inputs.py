"""The engine's typed inputs of `ask`: each validator takes the event and the ask spec and
returns `(True, value)` or `(False, template_name_of_the_hint)`; `HINTS` lists, per type,
every hint it may answer with (the checker requires them in every language).

They are plain functions: `engine.builtins.register` puts them into the registry under
their type names, and the engine and the checker read the types from there. A project adds
its own types the same way (`registry.input_type(name, hints=...)`).

Phone numbers are stored in E.164. A number typed without a country code is read in the
`region` the project registers the phone and contact types with (builtins.register's
`phone_region`); without one, only international numbers (+CC...) are accepted.
"""
from __future__ import annotations

import re

import phonenumbers

from .events import FILE_KINDS, Event

__all__ = ["text", "number", "phone", "contact", "choice", "file", "photo", "document",
           "normalize_phone", "HINTS"]

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


def normalize_phone(text: str, region: str | None = None) -> str | None:
    """The number in E.164 ("8 (912) 345-67-89" in region "RU" -> "+79123456789"); None
    when it is not a valid number. `region` (ISO 3166, e.g. "DE") is where a number without
    a country code is read; None accepts international numbers only."""
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


def phone(event: Event, spec: dict, region: str | None = None):
    """A typed number (read in `region` when it has no country code) or a shared contact."""
    if event.kind == "contact" and event.contact:
        return contact(event, spec, region)
    number = normalize_phone(event.text, region) if event.kind == "text" else None
    return (True, number) if number else (False, "common/invalid_phone")


def contact(event: Event, spec: dict, region: str | None = None):
    """A shared contact; only the sender's own (Telegram sets contact.user_id)."""
    if event.kind != "contact" or not event.contact:
        return False, "common/share_contact"
    if event.contact.user_id is not None and event.contact.user_id != event.user_id:
        return False, "common/not_your_contact"
    if event.contact.user_id is None and spec.get("own_only", True):
        return False, "common/not_your_contact"
    phone = normalize_phone(event.contact.phone, region)
    return (True, phone) if phone else (False, "common/invalid_phone")


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
    # photo | document; None for both -- a voice or a sticker is no attachment a technician opens
    allowed = (spec.get("accept"),) if spec.get("accept") else FILE_KINDS
    files = [f for f in event.files if f.kind in allowed]
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


_FILE_HINTS = ("common/send_file", "common/unsupported_file", "common/file_too_big")
_CONTACT_HINTS = ("common/share_contact", "common/not_your_contact", "common/invalid_phone")
HINTS = {
    "text": ("common/invalid_text", "common/too_short", "common/too_long"),
    "number": ("common/invalid_number", "common/number_out_of_range"),
    "phone": ("common/invalid_phone", "common/not_your_contact"),
    "contact": _CONTACT_HINTS,
    "choice": ("common/invalid_choice",),
    "file": _FILE_HINTS,
    "photo": _FILE_HINTS,
    "document": _FILE_HINTS,
}
