"""Where the conversation (helpdesk.desk.conversation) meets the chats: the handlers of group
and private messages, the `message` input type and the actions of flows/ticket_write.yaml.

- A group: every message is the desk's, never a dialog's input (so chatter in the work
  group never starts the menu). Each tells whether the group is a forum now, or that it was
  upgraded (helpdesk/desk/group.py); a membership change goes to helpdesk/desk/members.py.
  A dialog command (/start, /stats, /forget ...) in the work group opens no dialog in front
  of everyone: one short hint, in reply, says to write to the bot in private (silence would
  look like a dead bot); any other "/..." is a text like the rest ("/opt/kassa/restart.sh"
  answered in a thread reaches the client). A staff member's message in a ticket's
  thread is relayed;
  a message of anybody else, or outside a thread, or in another group is ignored silently.
  A message in the thread of a ticket that is closed or gone gets a clear answer there.
- A private chat: a Telegram reply to a message about a ticket (a notification, a relayed
  message) is a message on that ticket, even one starting with "/" unless it is a bare
  command the bot knows; any other message goes to the dialogs as before.
  A staff member's reply there (the notice of a ticket assigned to him) is his message to
  the client, as if written in the ticket's thread; a ticket not his tells him where to write.
"""
from __future__ import annotations

import logging

from engine import outgoing
from engine.contracts import ActionContext, Outcome
from engine.events import Event, Reply
from helpdesk.directory.roles import PermissionDenied
from helpdesk.registry import registry
from helpdesk.tickets import NotTechnician, Ticket, TicketConflict, TicketError, ticket_view

from . import conversation as conv
from . import group, members
from .conversation import Conversation, Message
from .names import staff_name

__all__ = ["WRITE_FLOW", "on_group", "on_private"]

log = logging.getLogger(__name__)
WRITE_FLOW = "ticket_write"
THREAD_ANSWERS = {conv.CLOSED: "desk/thread_closed", conv.GONE: "desk/thread_gone",
                  conv.ERASED: "desk/thread_erased"}
CANNOT_RELAY = "desk/cannot_relay"
REFUSALS = ("ticket/denied", "ticket/error", "ticket/conflict")
# what the relay renders (helpdesk.desk.conversation): to the client, into the thread, to the CRM
RELAYED = ("desk/from_staff", "desk/to_thread", "desk/crm_comment")
MESSAGE_HINTS = ("desk/send_message", "common/file_too_big")
# group_lost, staff_left: members.py tells with them
GROUP_TEMPLATES = (*THREAD_ANSWERS.values(), CANNOT_RELAY, "desk/group_lost", "desk/staff_left", "desk/dialog_in_private",
                   *RELAYED)


def _conversation(ctx: ActionContext) -> Conversation:
    s = ctx.services
    return Conversation(s.settings, s.tickets, ctx.templates)


# -- the work group ----------------------------------------------------------------------
@registry.on_chat("supergroup", commands=True, templates=GROUP_TEMPLATES)
@registry.on_chat("group", commands=True, templates=GROUP_TEMPLATES)
def on_group(ctx: ActionContext) -> bool:
    """Every group message is taken; only a staff message in a ticket's thread, or a dialog
    command in the work group (a hint), does anything."""
    ev, settings = ctx.event, ctx.services.settings
    if ev.chat_id != settings.notify.system.work_group_id:
        return True
    group.learn_from(settings, ev)           # a forum or not now, upgraded
    if ev.kind == "member":
        return members.on_member(ctx)
    if ctx.is_dialog_command():      # a staff command (registry.command) never comes here
        ctx.reply(Reply(ev.chat_id, ctx.render("desk/dialog_in_private"), thread_id=ev.thread_id,
                        reply_to_message_id=ev.message_id))
        return True
    # any other "/..." is a text ("/opt/kassa/restart.sh" in a thread is an answer to relay)
    conversation, msg = _conversation(ctx), conv.message_of(ev)
    if (msg is None and not _unrelayable(ev)) or not conversation.is_staff(ev.user_id):
        return True                  # nothing to relay: no need to wait for the lookup
    ticket_id = conv.looked_up(ev, lambda: conv.ticket_in_group(ev.chat_id, ev.thread_id,
                                                                ev.reply_to_message_id))
    if ticket_id is None:
        return True
    if msg is None:                  # say so in the thread rather than drop it unseen
        _answer_in_thread(ctx, CANNOT_RELAY, ticket_id)
        return True
    try:
        outcome = conversation.from_staff(ev.user_id, staff_name(ev), ticket_id, msg)
    except NotTechnician:
        return True                  # a client or a guest in the group: not ours to relay
    if outcome in THREAD_ANSWERS:
        _answer_in_thread(ctx, THREAD_ANSWERS[outcome], ticket_id)
    return True


def _unrelayable(ev: Event) -> bool:
    """Something no message from support can carry (a location, a poll, a contact). Service
    messages (a topic renamed, someone joined) carry no content and are passed over."""
    return ev.content is not None or ev.kind == "contact"


def _answer_in_thread(ctx: ActionContext, template: str, ticket_id: int) -> None:
    ev, ticket = ctx.event, Ticket.get_or_none(Ticket.id == ticket_id)
    text = ctx.templates.render(template, None, {
        "ticket": ticket_view(ticket) if ticket else None,
        "marker": ctx.services.settings.desk.note_marker})
    ctx.reply(Reply(ev.chat_id, text, thread_id=ev.thread_id, reply_to_message_id=ev.message_id))


# -- the client's private chat -------------------------------------------------------------
STAFF_REPLY = ("desk/staff_reply_sent", "desk/staff_reply_not_yours")
CLIENT_CANNOT_RELAY = "desk/client_cannot_relay"
MESSAGE_SENT = "desk/message_sent"


@registry.on_chat("private", templates=(MESSAGE_SENT, CLIENT_CANNOT_RELAY, *REFUSALS,
                                        *RELAYED, *STAFF_REPLY, *THREAD_ANSWERS.values()),
                  flows=(WRITE_FLOW,),
                  gives=("ticket_id", "write_message"), commands=True)
def on_private(ctx: ActionContext) -> bool:
    """A reply to a message about a ticket is a message on it, and so is the rest of an album
    whose first item went to a ticket; anything else is the dialogs'."""
    ev = ctx.event
    msg = conv.message_of(ev)
    if msg is None:
        return _unrelayable_reply(ctx)
    if ev.command and not _text_in_reply(ctx):
        return False
    ticket_id = conv.looked_up(ev, lambda: conv.ticket_of_message(ev.chat_id, ev.reply_to_message_id)
                               or conv.ticket_of_album(ev.user_id, msg.album))
    if ticket_id is None:
        return False
    ticket = Ticket.get_or_none(Ticket.id == ticket_id)
    if ticket is not None and ticket.author_id != ev.user_id and _conversation(ctx).is_staff(ev.user_id):
        return _staff_reply(ctx, ticket, msg)
    try:
        ticket = _conversation(ctx).from_client(ev.user_id, ticket_id, msg)
    except TicketConflict:          # closed meanwhile: the flow keeps it and offers reopening
        if ctx.in_dialog:
            return False            # unless a dialog asked for it (the rating's comment, say)
        ctx.start_flow(WRITE_FLOW, {"ticket_id": ticket_id, "write_message": msg.as_slot()})
        return True
    except (TicketError, PermissionDenied) as e:
        log.info("reply of user %s on ticket %s refused: %s", ev.user_id, ticket_id, e)
        ctx.say("ticket/denied")
        return True
    _say_sent(ctx, ticket, msg)
    return True


def _say_sent(ctx: ActionContext, ticket: Ticket, msg: Message) -> None:
    """"✉️ Сообщение по заявке #N отправлено" names the ticket: keyed like a notification
    (`t<id>:…`), so a Telegram reply to it is a message on the ticket as well."""
    reply = ctx.say(MESSAGE_SENT, ticket=ticket_view(ticket))
    key = msg.key and f"t{ticket.id}:{msg.key}:sent"
    if key and outgoing.key_state(key)[0] is None:     # said once: a replay keeps the first
        reply.key = key


def _unrelayable_reply(ctx: ActionContext) -> bool:
    """A location or a contact in reply to a message about a ticket: the client is told it
    did not reach support (the menu instead would look like it did)."""
    ev = ctx.event
    if not _unrelayable(ev) or ev.reply_to_message_id is None:
        return False
    ticket_id = conv.looked_up(ev, lambda: conv.ticket_of_message(ev.chat_id, ev.reply_to_message_id))
    ticket = ticket_id is not None and Ticket.get_or_none(Ticket.id == ticket_id)
    if not ticket:
        return False
    ctx.say(CLIENT_CANNOT_RELAY, ticket=ticket_view(ticket))
    return True


def _text_in_reply(ctx: ActionContext) -> bool:
    """A "/..." text in reply to a message is the client's words ("/start не помогает"),
    unless it is a bare command the bot knows ("/cancel" alone means the command)."""
    ev = ctx.event
    bare = len(ev.text.split(maxsplit=1)) == 1
    return ev.reply_to_message_id is not None and not (bare and ctx.is_dialog_command())


def _staff_reply(ctx: ActionContext, ticket: Ticket, msg: Message) -> bool:
    """A staff member answers a message about a ticket in his private chat: the ticket he
    works is relayed as a staff message in its thread would be (a note too); another's is
    refused with where to write (its thread), never with "недоступна"."""
    ev = ctx.event
    view = ticket_view(ticket)
    if ticket.master_telegram_id != ev.user_id:
        log.info("staff %s replied privately on ticket %s, assigned to %s: refused",
                 ev.user_id, ticket.id, ticket.master_telegram_id)
        ctx.say("desk/staff_reply_not_yours", ticket=view)
        return True
    outcome = _conversation(ctx).from_staff(ev.user_id, staff_name(ev), ticket.id, msg)
    if outcome in THREAD_ANSWERS:
        ctx.say(THREAD_ANSWERS[outcome], ticket=view, marker=ctx.services.settings.desk.note_marker)
    elif outcome in (conv.RELAYED, conv.NOTED):
        ctx.say("desk/staff_reply_sent", ticket=view, note=outcome == conv.NOTED)
    return True


# -- flows/ticket_write.yaml ---------------------------------------------------------------
@registry.input_type("message", hints=MESSAGE_HINTS)
def message_input(event: Event, spec: dict):
    """A text, a file, a voice, a sticker... (with its caption): the Message as plain slot data."""
    msg = conv.message_of(event)
    if msg is None:
        return False, "desk/send_message"
    # no size limit of its own: the relay sends the file again by file_id and never downloads
    # it (Bot API's 20 MB is a download limit); a flow may still set max_size
    limit = spec.get("max_size")
    if event.files and limit is not None and event.files[0].size > int(limit):
        return False, "common/file_too_big"
    return True, msg.as_slot()


def _state(ctx: ActionContext, ticket) -> dict:
    svc = ctx.services.tickets
    reopen = svc.may_reopen(ticket) and svc.allowed(ctx.user_id, ticket, "reopen")
    return {"ticket": ticket_view(ticket), "can_reopen": reopen}


@registry.action("ticket_write_check", reads=("ticket_id",), gives=("ticket", "can_reopen"),
                 outcomes=("open", "closed", "refused"), templates=REFUSALS)
def write_check(ctx: ActionContext) -> Outcome:
    """The ticket of slot ticket_id, checked again (the id may be forged): open or closed."""
    try:
        ticket = ctx.services.tickets.get(ctx.user_id, ctx.slots.get("ticket_id"))
    except (TicketError, PermissionDenied) as e:
        log.info("write on ticket %r refused for %s: %s", ctx.slots.get("ticket_id"), ctx.user_id, e)
        ctx.say("ticket/denied")
        return Outcome("refused")
    return Outcome("open" if ticket.active else "closed", **_state(ctx, ticket))


@registry.action("ticket_write_send", reads=("ticket_id", "write_message"),
                 gives=("ticket", "can_reopen", "write_message"),
                 outcomes=("sent", "closed", "refused"),
                 templates=(MESSAGE_SENT, *REFUSALS))
def write_send(ctx: ActionContext) -> Outcome:
    """Send the kept message into the ticket's thread; a ticket closed meanwhile keeps it
    in the slot (offered again after a reopen)."""
    msg = Message.from_slot(ctx.slots.get("write_message"))
    if msg is None:
        ctx.say("ticket/error")
        return Outcome("refused")
    try:
        ticket = _conversation(ctx).from_client(ctx.user_id, ctx.slots.get("ticket_id"), msg)
    except TicketConflict as e:
        return Outcome("closed", **_state(ctx, e.ticket))
    except (TicketError, PermissionDenied) as e:
        log.info("write on ticket %r refused for %s: %s", ctx.slots.get("ticket_id"), ctx.user_id, e)
        ctx.say("ticket/denied")
        return Outcome("refused")
    _say_sent(ctx, ticket, msg)
    return Outcome("sent", write_message=None, **_state(ctx, ticket))   # sent once only
