"""Telegram users: the person behind a chat, their phones, name and language.

`set_user_phone(verified=False)` keeps a typed number apart (`TelegramUser.unverified_phone`);
`users_by_phone()` and `users_of_contact()`, the only phone/contact -> Telegram user lookups,
read proven phones and confirmed links alone. `display_name()` and `language_of()` are the
one answer to "what do we call this person" and "which language do they read".
"""
from __future__ import annotations

from functools import lru_cache

from engine.storage import write_tx

from . import phones
from .errors import DirectoryError, NotFound, row_id
from .tables import CONFIRMED, ERASED_USER_ID, ContactPerson, Membership, TelegramUser, utcnow

__all__ = ["get_or_create_user", "get_user", "set_user_phone", "set_user_full_name", "chosen_name",
           "set_user_language", "users_by_phone", "users_of_contact", "display_name",
           "known_name", "introduced_name", "language_of"]


def get_or_create_user(telegram_id: int, username: str | None = None,
                       first_name: str | None = None, language: str | None = None) -> TelegramUser:
    """The user with this Telegram id, created on first contact; refreshes name and last_seen.

    The language is taken only when none is stored yet: a language the user chose later
    must not be overwritten by Telegram's client language on every update.
    """
    stamp = TelegramUser.last_seen.db_value(utcnow())
    database = TelegramUser._meta.database
    sql = _upsert_sql(database.param, username is not None, first_name is not None)
    with write_tx():
        return TelegramUser.raw(sql, int(telegram_id), username, first_name, language, stamp, stamp).get()


# Hand-written, as engine/session.py's: the upsert and the read after it in one statement
# (RETURNING), and peewee's builder for them cost more than both (cProfile of bench/e2e.py's
# bot: the consent and the questionnaire run it). Per placeholder style and refreshed names.
@lru_cache(maxsize=16)
def _upsert_sql(p: str, username: bool, first_name: bool) -> str:
    refreshed = ["last_seen = excluded.last_seen",
                 "language = COALESCE(telegram_user.language, excluded.language)"]
    refreshed += ["username = excluded.username"] * username + ["first_name = excluded.first_name"] * first_name
    return ("INSERT INTO telegram_user (id, username, first_name, language, created, last_seen) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT (id) DO UPDATE SET "
            f"{', '.join(refreshed)} RETURNING *")


def get_user(user) -> TelegramUser:
    """The TelegramUser for an id or instance; NotFound when unknown."""
    found = TelegramUser.get_or_none(TelegramUser.id == row_id(user))
    if found is None:
        raise NotFound(f"telegram user {row_id(user)} is unknown")
    return found


def _set_user_field(user, **values) -> None:
    with write_tx():
        TelegramUser.update(**values).where(TelegramUser.id == row_id(user)).execute()


def set_user_phone(user, phone: str, *, verified: bool = False) -> str:
    """Store the user's phone in E.164 and return it; PhoneError for a bad number.

    `verified`: Telegram proved it (the sender shared their own contact); only then it is
    `TelegramUser.phone`, the number that finds the person. A typed one goes to
    `unverified_phone` and leaves the proven one as it was.
    """
    e164 = phones.parse(phone)
    if verified:
        _set_user_field(user, phone=e164, unverified_phone=None)
    else:
        _set_user_field(user, unverified_phone=e164)
    return e164


def users_by_phone(phone: str) -> list[TelegramUser]:
    """Telegram users whose *proven* phone this is (any spelling); [] for garbage."""
    e164 = phones.normalize(phone)
    if e164 is None:
        return []
    return list(TelegramUser.select().where(TelegramUser.phone == e164).order_by(TelegramUser.id))


def users_of_contact(contact) -> list[TelegramUser]:
    """Telegram users who are this contact: a confirmed link to it, or its phone proven."""
    c = contact if isinstance(contact, ContactPerson) else ContactPerson.get_by_id(row_id(contact))
    linked = Membership.select(Membership.telegram_user).where(
        (Membership.contact == c.id) & (Membership.status == CONFIRMED))
    by_phone = (TelegramUser.phone == c.phone) if c.phone else False
    return list(TelegramUser.select().where(TelegramUser.id.in_(linked) | by_phone)
                .order_by(TelegramUser.id))


def set_user_full_name(user, full_name: str) -> None:
    name = " ".join(str(full_name).split())
    if not name:
        raise DirectoryError("full name is empty")
    _set_user_field(user, full_name=name[:300])


def set_user_language(user, language: str) -> None:
    _set_user_field(user, language=str(language)[:8])


def known_name(user: TelegramUser) -> str | None:
    """The CRM's name of the person: the contact a confirmed link is (the CRM or the
    directory lists him under that name; the latest link when there are several), else
    None. It wins over whatever the person typed (issue 14 point 2)."""
    row = (ContactPerson.select(ContactPerson.full_name)
           .join(Membership, on=(Membership.contact == ContactPerson.id))
           .where((Membership.telegram_user == user.id) & (Membership.status == CONFIRMED))
           .order_by(Membership.id.desc()).first())
    return row.full_name if row else None


def introduced_name(user: TelegramUser | None) -> str:
    """The name the person gave the bot (questionnaire, access request, ticket; the CRM's
    once it named him), "" for none: Telegram's first name is not an introduction."""
    return (user.full_name or "") if user is not None else ""


def chosen_name(known: str | None, introduced: str | None, first_name: str | None) -> str:
    """`display_name`'s rule, for a caller that read the three names itself: the CRM's
    name, else the typed one, else Telegram's first name, else ""."""
    return known or introduced or first_name or ""


def display_name(user: TelegramUser | None, *, or_handle: bool = True) -> str:
    """What a person is called: the CRM's name once a confirmed link names him
    (`known_name`), else the name he typed (a typed name is kept only until then), else
    Telegram's first name; then (`or_handle`, for a label that must not be empty)
    @username, else the Telegram id. Without `or_handle` a person who gave no name is ""
    (templates say nothing then). "" for no user and for the author of erased people's tickets."""
    if user is None or user.id == ERASED_USER_ID:    # the author of erased people's tickets
        return ""
    name = chosen_name(known_name(user), introduced_name(user), user.first_name)
    if name or not or_handle:
        return name
    return f"@{user.username}" if user.username else str(user.id)


def language_of(user_id: int | None) -> str | None:
    """The language a Telegram user reads (stored on first contact or chosen); None when
    unknown (a group chat, a stranger): templates then use their default language."""
    user = TelegramUser.get_or_none(TelegramUser.id == user_id) if user_id is not None else None
    return user.language if user else None
