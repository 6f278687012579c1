"""One event applied to one conversation: `Step`.

A step dispatches the event (the handler of its kind of chat, a registered event handler, a callback prefix, a command, or
input to the waiting state), moves between states until one waits for the user, and runs
the actions of the states it enters, holding each to its contract (engine.contracts).

Actions, providers, callbacks and event handlers are given the step as their
`ActionContext`: the methods in the first section below. The rest (the session, the flow
set, entering states) is the interpreter's own; showing a waiting state is engine.screen.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import screen
from .ahead import asks_ahead
from .contracts import Outcome, Texts, results_of
from .errors import ActionError
from .events import Button, Event, Reply
from .flowmodel import CONTINUE, State
from .flowset import FlowSet
from .lazy import Lazy
from .session import Session, load_session, save_session, utcnow
from .templates import strip_braces

if TYPE_CHECKING:
    from .runtime import Engine

__all__ = ["Step", "FLOW_DATA"]

# "f<step>.<index>": ASCII digits only, bounded (\d takes any Unicode digit, $ a final newline)
FLOW_DATA = re.compile(r"f([0-9]{1,18})\.([0-9]{1,4})")


class Step:
    """One event applied to one conversation."""

    def __init__(self, engine: Engine, flowset: FlowSet, session: Session, event: Event):
        self.engine, self.fs, self.session, self.event = engine, flowset, session, event
        self.services = engine.services
        self.replies: list[Reply] = []
        self._providers: dict[str, Any] | None = None
        self.edit_id = event.message_id if event.kind == "button" else None
        self.keyboard_shown = False
        if event.language:
            session.lang = flowset.templates.lang(event.language)

    # -- the ActionContext: what actions, callbacks and handlers use ----------------------
    @property
    def slots(self) -> dict[str, Any]:
        return self.session.slots

    @property
    def lang(self) -> str:
        return self.session.lang or self.fs.templates.default

    @property
    def user_id(self) -> int:
        return self.event.user_id

    @property
    def chat_id(self) -> int:
        return self.event.chat_id

    @property
    def templates(self) -> Texts:
        return self.fs.templates

    def variables(self, **extra) -> dict[str, Any]:
        """Everything a template or condition can read."""
        if self._providers is None:
            registry = self.engine.registry
            self._providers = {n: Lazy(fn, self) for n, fn in registry.providers.items()}
            self._providers.update({n: (lambda fn=fn, **kw: fn(self, **kw))
                                    for n, fn in registry.predicates.items()})
        base = self.fs.slot_defaults.copy()        # every known slot, None until set
        base.update(self.session.slots)
        base.update(lang=self.lang, now=utcnow(), slots=self.session.slots,
                    event={"text": self.event.text, "kind": self.event.kind}, page=self.slots.get("page", 0),
                    ask=None)
        return {**base, **self._providers, **extra}

    def render(self, template: str, **extra) -> str:
        return self.fs.templates.render(template, self.lang, self.variables(**extra))

    def label(self, template: str, **extra) -> str:
        """A plain-text rendering: button labels, invoice fields, short answers."""
        return self.fs.templates.render_label(template, self.lang, self.variables(**extra))

    def button(self, template: str, *, data: str | None = None, url: str | None = None, **extra) -> Button:
        """An inline button labelled by `template`, with callback data or a link."""
        return Button(self.label(template, **extra), data, url)

    def say(self, template: str, **extra) -> Reply:
        """Send a template's text to this chat."""
        return self.reply(Reply(self.chat_id, self.render(template, **extra)))

    def answer(self, template: str = "common/button_refused", **extra) -> Reply:
        """Answer the pressed button with a short text and do nothing else: no message is
        sent or edited (a refused or stale press must show nothing of its target)."""
        return self.reply(Reply(self.chat_id, callback_answer=self.label(template, **extra)))

    def reply(self, reply: Reply) -> Reply:
        self.replies.append(reply)
        return reply

    def send(self, chat_id: int, template: str, lang: str | None = None, **extra) -> Reply:
        """A text to another chat (e.g. the work group), rendered now, sent with the replies."""
        text = self.fs.templates.render(template, lang or self.fs.templates.default, self.variables(**extra))
        return self.reply(Reply(chat_id, text))

    def has_flow(self, name: str) -> bool:
        return name in self.fs.flows

    def is_dialog_command(self) -> bool:
        """The event is a command that starts a dialog (settings' engine.commands)."""
        return self.event.command is not None and self.event.command in self.fs.commands

    @property
    def in_dialog(self) -> bool:
        """A dialog other than the menu waits for the answer to its question (a draft is being
        written): a button from an older message should not `start_flow` over it."""
        s = self.session
        return (bool(s.flow) and s.flow != self.fs.menu_flow and self.position_valid()
                and bool(self.state.ask))          # a question is open: its answer is a draft

    def asks_ahead(self, start: str) -> list[str]:
        """The questions this flow asks from state `start` on, as far as known now
        (engine/ahead.py): what a text announcing "N questions" counts."""
        return asks_ahead(self.fs.flows[self.session.flow], start, self.condition)

    def start_flow(self, name: str, slots: Mapping[str, Any] | None = None, *,
                   chat_id: int | None = None) -> None:
        """Leave whatever the user was doing and start flow `name` with `slots`. With
        `chat_id`, in that person's private chat with the bot instead (the technician's
        comment): that conversation is changed in this step's transaction and its first
        question is sent with this step's replies."""
        if chat_id is None or (chat_id, chat_id) == (self.chat_id, self.user_id):
            return self._start(name, slots)
        other = Step(self.engine, self.fs, load_session(chat_id, chat_id, for_update=True),
                     Event(chat_id, chat_id, kind="other"))
        other._start(name, slots)
        save_session(other.session)
        self.replies += other.replies

    # -- dispatch ------------------------------------------------------------------------
    def refresh(self) -> None:
        """Recompute context providers (after an action changed the user, say)."""
        self._providers = None

    def run(self) -> None:
        if not self._by_chat():
            self._dispatch()
        screen.finish_keyboard(self)

    def _by_chat(self) -> bool:
        """A message the handler of its kind of chat takes (registry.on_chat): a group's
        chatter is nobody's dialog input. Presses and commands keep their ordinary ways,
        but a handler registered with `commands` takes the dialog commands too (a group must
        not get a dialog in front of everyone); commands answered in code keep theirs."""
        ev, reg = self.event, self.engine.registry
        handler = reg.chat_handlers.get(ev.chat_type)
        command_kept = ev.command is not None and (ev.command in reg.commands
                                                   or not reg.chat_commands.get(ev.chat_type))
        return bool(handler and ev.kind != "button" and not command_kept and handler(self))

    def _dispatch(self) -> None:
        ev, s = self.event, self.session
        handler = self.engine.registry.event_handlers.get(ev.kind)
        if handler:
            handler(self)
        elif ev.kind == "button" and not FLOW_DATA.fullmatch(ev.data or ""):
            self._callback()
        elif ev.kind == "button" and not s.flow:
            self.answer()          # a dialog button, but no dialog ever showed him one
        elif ev.command:
            self._command(ev.command)
        elif not s.flow:
            self._start(self.fs.menu_flow)
        elif not self.position_valid():
            self.say("common/session_lost")
            self._start(self.fs.menu_flow)
        else:
            self._input()

    def position_valid(self) -> bool:
        frames = [(f, st) for f, st in self.session.stack] + [(self.session.flow, self.session.state)]
        return all(self.fs.has_state(f, st) for f, st in frames)

    def _command(self, name: str) -> None:
        handler = self.engine.registry.commands.get(name)
        if handler is not None:          # answered in code: the dialog, if any, waits on
            parts = self.event.text.split(maxsplit=1)
            return handler(self, parts[1] if len(parts) > 1 else "")
        flow = self.fs.commands.get(name)
        if flow is None:
            self.say("common/unknown_command")
            return screen.reprompt(self)
        if name == "cancel" and self.session.flow:
            self.say("common/cancelled")
        self._start(flow)

    def _callback(self) -> None:
        prefix, _, payload = self.event.data.partition(":")
        handler = self.engine.registry.callbacks.get(prefix)
        if handler is None:          # forged or from a removed feature: nothing to show
            self.answer()
            return
        handler(self, payload)

    def _start(self, name: str, slots: Mapping[str, Any] | None = None) -> None:
        s = self.session
        s.stack, s.slots, s.flow = [], dict(slots or {}), name
        self.enter(self.fs.flows[name].start)

    # -- input at a waiting state --------------------------------------------------------
    @property
    def state(self) -> State:
        return self.fs.flows[self.session.flow].states[self.session.state]

    def _input(self) -> None:
        ev, st = self.event, self.state
        if ev.kind == "button":
            return self._press_data(ev.data)
        pressed = self._button_by_label(ev.text) if ev.kind == "text" else None
        if pressed is not None:
            return self._press(pressed)
        if st.ask:
            return self._answer(st)
        self.say("common/use_buttons" if ev.kind == "text" else "common/unsupported_message")
        screen.reprompt(self)

    def _press_data(self, data: str) -> None:
        m = FLOW_DATA.fullmatch(data)
        step, index = int(m.group(1)), int(m.group(2))
        if step != self.session.step or index >= len(self.session.buttons):
            self.say("common/stale_button")
            return screen.show_again(self)
        self._press(self.session.buttons[index])

    def _button_by_label(self, text: str) -> dict | None:
        typed = text.strip().casefold()
        return next((b for b in self.session.buttons if b["text"].strip().casefold() == typed), None)

    def _press(self, button: dict) -> None:
        if button.get("save"):
            self.session.slots[button["save"]] = button.get("value")
        self._leave("go_" + button["go"] if button.get("go") else "next")

    def _answer(self, st: State) -> None:
        ok, value = self.engine.registry.input_types[st.ask.get("type", "text")](self.event, st.ask)
        if not ok:
            self.say(st.ask.get("invalid") or value, ask=st.ask)
            return screen.reprompt(self)
        save = st.ask.get("save")
        if st.ask.get("many"):
            return self._collect(st.ask, save, value if isinstance(value, list) else [value])
        if save:
            self.session.slots[save] = value
        self._leave("next")

    def _collect(self, ask: dict, save: str, items: list) -> None:
        """A `many: true` ask keeps answers in a list slot, at most `max` of them: past the
        limit the answer is refused when it arrives and nothing of it is stored (an unbounded
        slot would make every later step of this chat slower)."""
        kept = list(self.session.slots.get(save) or [])
        limit = ask.get("max")
        if limit is not None and len(kept) + len(items) > int(limit):
            self.say("common/too_many", ask=ask)
        else:
            self.session.slots[save] = kept + items
            self.say("common/file_received", ask=ask)
        return screen.reprompt(self)

    # -- moving between states -----------------------------------------------------------
    def _leave(self, trigger: str) -> None:
        s = self.session
        dest = self.fs.fire(s.flow, s.state, trigger, self)
        if dest is None:
            raise ActionError(self.where(), f"no transition for '{trigger}' passed its condition")
        self.enter(dest)

    def enter(self, name: str) -> None:
        """Enter state `name` and keep going until a state waits for the user."""
        s = self.session
        for _ in range(self.engine.max_auto_steps):
            s.state, s.remind_at, s.abandon_at = name, None, None
            name = self._visit(self.state)
            if name is None:
                return
        raise ActionError(self.where(), f"more than {self.engine.max_auto_steps} steps without "
                                        "waiting for the user: is there a loop?")

    def _visit(self, st: State) -> str | None:
        """Run one state; the next state's name, or None when it waits."""
        if st.when and not self.condition(st.when[0]):
            return self._fire_next()
        go = self._run_actions(st)
        if go:
            return go
        first = len(self.replies)
        for template, _ in st.say:
            self.say(template)
        if st.edit and self.edit_id and len(self.replies) > first:
            self.replies[first].edit_message_id, self.edit_id = self.edit_id, None
        if st.call:
            self.session.stack.append([self.session.flow, st.name])
            self.session.flow = st.call[0]
            return self.fs.flows[st.call[0]].start
        if st.waits:
            screen.show(self, st)
            return None
        if st.end:
            return self._return()
        return self._fire_next()

    def _fire_next(self) -> str:
        s = self.session
        dest = self.fs.fire(s.flow, s.state, "next", self)
        if dest is None:
            raise ActionError(self.where(), "no transition in 'next' passed its condition")
        return dest

    def _return(self) -> str:
        """End of a flow: back to the caller's `next`, or to the menu at the top level."""
        s = self.session
        if s.stack:
            s.flow, s.state = s.stack.pop()
            return self._fire_next()
        s.flow, s.slots = self.fs.menu_flow, {}
        return self.fs.flows[s.flow].start

    def condition(self, source: str) -> bool:
        return bool(self.fs.templates.expression(source)(**self.variables()))

    def where(self) -> str:
        return f"flow={self.session.flow} state={self.session.state}"

    # -- actions -------------------------------------------------------------------------
    def _run_actions(self, st: State) -> str | None:
        """The state's actions in order; an outcome leads to its `on:` state (or carries on)."""
        for call in st.do:
            outcome = self.call_action(call.name, call.args, call.save)[0]
            if outcome is None:
                continue
            if outcome not in st.on:
                raise ActionError(f"{self.where()} action={call.name}",
                                  f"outcome {outcome!r} has no state in 'on'")
            if st.on[outcome][0] != CONTINUE:
                return st.on[outcome][0]
        return None

    def call_action(self, name: str, args: dict, save: str | None = None) -> tuple[str | None, Any]:
        """Run action `name`: (its outcome or None, what it returned). What it gives goes
        into the slots; `save` keeps the whole result in one more slot."""
        spec = self.engine.registry.actions[name]
        values = {k: self._arg(v) for k, v in args.items()}
        try:
            out = spec.fn(self, **values)
        except ActionError:
            raise
        except Exception as e:
            raise ActionError(f"{self.where()} action={name}", f"{type(e).__name__}: {e}") from e
        outcome, given = results_of(name, spec.contract, out, self.where())
        self.session.slots.update(given)
        if save:
            self.session.slots[save] = out.values if isinstance(out, Outcome) else out
        self.refresh()
        return outcome, out

    def _arg(self, value: Any) -> Any:
        if isinstance(value, str) and "{{" in value:
            return self.fs.templates.expression(strip_braces(value))(**self.variables())
        return value

    # -- timeouts ------------------------------------------------------------------------
    def timeout(self, now) -> None:
        """Apply a due reminder or abandonment to this conversation."""
        screen.timeout(self, now)
