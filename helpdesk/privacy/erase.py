"""`forget()`: a person's personal data erased at their own request (152-ФЗ art. 9 p.2 and
art. 21 p.5: consent withdrawn, the data destroyed).

Erased, in one transaction with the outbox item that tells the CRM (a crash leaves either
everything or nothing done, never an erasure the CRM is not told of; the item carries the
Telegram id, the phone Telegram proved and the CRM's contact ids, and is emptied of the
phone once delivered, helpdesk.privacy.crm):
- the Telegram profile the bot keeps (username, first name, phones, the questionnaire's
  name); the row itself stays, without them, since the person is still in the chat;
- their links to companies (memberships, join requests, the current company), retried
  phone lookups;
- the contact persons that are proven to be them: the contact of a *confirmed* link, and
  a contact with their proven phone (a typed phone or an unconfirmed link proves nothing,
  so nobody can erase somebody else's contact by claiming it); the CRM items that would
  still carry those contacts are closed unsent, their bodies dropped;
- their conversations in other chats (this one is left to the running dialog, which
  starts afresh), the raw updates of their private chat and the messages sent to it;
- their consent (withdrawn: the next phone or name is asked only after a new one);
- what the bot keeps of the messages it sent to others about them (helpdesk.privacy.posts):
  the work group's posts of their tickets are edited to the anonymised ticket, the older
  messages about those tickets and the access requests to company heads are deleted.

Kept: their tickets, for the company and its history, with the author anonymised (the
author becomes ERASED_USER_ID, the typed contact name and phone are dropped, their history
lines name nobody); payments and the person's own balance, which are accounting records
that carry a Telegram id and no name or phone.

One can only erase oneself: the callers pass the Telegram id of the sender, never an id
from a button or a message.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine import outgoing, session
from engine.storage import is_postgres, write_tx
from engine.telegram import inbox
from helpdesk.desk.tables import Rating
from helpdesk.directory.errors import DirectoryError
from helpdesk.directory.tables import (
    CONFIRMED,
    ERASED_USER_ID,
    ContactPerson,
    Membership,
    TelegramUser,
    utcnow,
)
from helpdesk.registration.tables import CurrentCompany, PendingLookup, PendingRequest
from helpdesk.sync import outbox
from helpdesk.sync.outbox import OutboxItem
from helpdesk.tickets.tables import Ticket, TicketEvent

from .posts import request_keys, scrub_messages
from .tables import Consent

__all__ = ["Erased", "forget", "ENTITY", "OP"]

ENTITY, OP = "person", "erase"        # the outbox item that tells the CRM (helpdesk.privacy.crm)
_PROFILE = ("username", "first_name", "phone", "unverified_phone", "full_name")


@dataclass(frozen=True)
class Erased:
    """What one `forget()` did; `found` False: there was nothing to erase (a repeat)."""
    found: bool
    contacts: int = 0
    memberships: int = 0
    tickets: int = 0
    sessions: int = 0
    outbox_id: int | None = None


def forget(user_id: int, *, keep_chat: int | None = None, templates=None) -> Erased:
    """Erase the personal data of Telegram user `user_id` (see the module's docstring).

    Args:
        keep_chat: the chat whose conversation the caller is running (its dialog is saved
            after this; the caller clears its slots).
        templates: the texts the work group's posts are rendered with again (without them
            the posts are left as they are; everything else is erased the same).
    Exactly once: a repeat finds nothing and queues nothing for the CRM.
    """
    uid = int(user_id)
    if uid == ERASED_USER_ID:
        raise DirectoryError("the erased-author placeholder has nothing to erase")
    with write_tx():
        user = _locked_user(uid)
        contacts = _own_contacts(uid, user)
        crm_ids = sorted(c.crm_id for c in contacts if c.crm_id)
        tickets = [t.id for t in Ticket.select(Ticket.id).where(Ticket.author == uid)]
        requests = request_keys([m.id for m in Membership.select(Membership.id)
                                 .where(Membership.telegram_user == uid)])
        counts = {"memberships": _drop_links(uid), "contacts": _drop_contacts(contacts),
                  "tickets": _anonymise_tickets(uid), "sessions": _drop_sessions(uid, keep_chat)}
        profile, consent = _blank_profile(user), _withdraw_consent(uid)
        scrub_messages(tickets, requests, templates)
        found = profile or consent or any(counts.values())
        item = outbox.push(ENTITY, uid, OP, payload={
            "telegram_user_id": uid, "phones": [user.phone] if user and user.phone else [],
            "contact_ids": sorted(c.id for c in contacts), "contact_crm_ids": crm_ids,
            "requested_at": utcnow().isoformat()}) if found else None
    return Erased(found=bool(found), outbox_id=item, **counts)


def _locked_user(uid: int) -> TelegramUser | None:
    """The person's row, locked on PostgreSQL until the commit (two erasures of one person
    run one after the other; SQLite's writers are serialised already)."""
    query = TelegramUser.select().where(TelegramUser.id == uid)
    return (query.for_update() if is_postgres() else query).first()


def _own_contacts(uid: int, user: TelegramUser | None) -> list[ContactPerson]:
    """Contacts proven to be this person: of a confirmed link, or with their proven phone."""
    linked = Membership.select(Membership.contact).where(
        (Membership.telegram_user == uid) & (Membership.status == CONFIRMED)
        & Membership.contact.is_null(False))
    by_phone = (ContactPerson.phone == user.phone) if user is not None and user.phone else False
    return list(ContactPerson.select().where(ContactPerson.id.in_(linked) | by_phone)
                .order_by(ContactPerson.id))


def _drop_links(uid: int) -> int:
    memberships = Membership.select(Membership.id).where(Membership.telegram_user == uid)
    PendingRequest.delete().where(PendingRequest.membership.in_(memberships)).execute()
    n = Membership.delete().where(Membership.telegram_user == uid).execute()
    n += PendingLookup.delete().where(PendingLookup.telegram_user == uid).execute()
    return n + CurrentCompany.delete().where(CurrentCompany.telegram_user == uid).execute()


def _drop_contacts(contacts: list[ContactPerson]) -> int:
    """Delete the contacts; their CRM items not yet sent are closed unsent and every body
    of theirs is dropped (done rows are kept for the changes feed, which shows the row as it
    is now: gone). An item being sent right now is left to finish: the person's erasure item
    waits for it (helpdesk.privacy.crm parents)."""
    ids = [c.id for c in contacts]
    if not ids:
        return 0
    mine = (OutboxItem.entity == "contact") & OutboxItem.entity_id.in_(ids)
    (OutboxItem.update(status=outbox.DONE, done_at=utcnow(), last_error="erased: never sent")
     .where(mine & OutboxItem.status.in_((outbox.PENDING, outbox.DEAD))).execute())
    OutboxItem.update(payload="{}").where(mine & (OutboxItem.status != outbox.SENDING)).execute()
    Membership.update(contact=None).where(Membership.contact.in_(ids)).execute()
    return ContactPerson.delete().where(ContactPerson.id.in_(ids)).execute()


def _anonymise_tickets(uid: int) -> int:
    """The tickets stay (the company's record); their author becomes nobody. Not a change
    of the ticket's content: its version and the CRM copy are left as they are."""
    (TelegramUser.insert(id=ERASED_USER_ID, created=utcnow(), last_seen=utcnow())
     .on_conflict_ignore().execute())
    n = (Ticket.update(author=ERASED_USER_ID, contact_name=None, contact_phone=None)
         .where(Ticket.author == uid).execute())
    TicketEvent.update(who=str(ERASED_USER_ID)).where(TicketEvent.who == str(uid)).execute()
    Rating.update(author_id=ERASED_USER_ID).where(Rating.author_id == uid).execute()   # the score stays
    return n


def _drop_sessions(uid: int, keep_chat: int | None) -> int:
    """Conversations (their slots hold phones and names) of this person in every other
    chat; the raw updates of their private chat and the messages already sent to it (the
    queue keeps sent rows for edits)."""
    n = session.drop_conversations(uid, except_chat=keep_chat)
    inbox.drop_handled(uid)
    outgoing.drop_sent(uid)
    return n


def _blank_profile(user: TelegramUser | None) -> bool:
    if user is None or not any(getattr(user, f) for f in _PROFILE):
        return False
    TelegramUser.update({getattr(TelegramUser, f): None for f in _PROFILE}).where(
        TelegramUser.id == user.id).execute()
    return True


def _withdraw_consent(uid: int) -> bool:
    return bool(Consent.update(withdrawn_at=utcnow())
                .where((Consent.telegram_user == uid) & Consent.withdrawn_at.is_null())
                .execute())

