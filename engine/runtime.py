"""The interpreter: one `Event` in, `Reply` objects out, the conversation saved in between.

`Engine.handle` loads the conversation, runs one `Step` inside one write transaction and
saves it; an optional `in_tx` hook runs in the same transaction (the Telegram transport
marks its inbox row done there, so an update's effect and its "done" mark commit together).
An exception rolls everything back: the user gets an apology, the conversation stays where
it was, and the error is logged with `flow/state/action` and passed to `on_error`.
A database error (`storage.is_database_error`: locked, disk full, connection lost) is not
the flow's failure and gets no apology: it is raised to the transport, which keeps the
update and applies it again once the database answers.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Callable

from .errors import ActionError
from .events import Button, Event, KeyButton, Reply
from .flows import State, parse_duration
from .flowset import FlowSet
from .registry import Go, Registry
from .session import Conversation, Session, load_session, save_session, utcnow
from .storage import is_database_error, write_tx
from .templates import strip_braces

__all__ = ["Engine", "Step"]

log = logging.getLogger(__name__)
# "f<step>.<index>": ASCII digits only, bounded (\d takes any Unicode digit, $ a final newline)
_FLOW_DATA = re.compile(r"f([0-9]{1,18})\.([0-9]{1,4})")


class Engine:
    """Runs flows for every conversation; transport-neutral."""

    def __init__(self, flowset: FlowSet, registry: Registry, *, services: Any = None,
                 max_auto_steps: int = 50, on_error: Callable[[Event, BaseException], None] | None = None):
        registry.freeze()
        self.flowset = flowset
        self.registry = registry
        self.services = services
        self.max_auto_steps = max_auto_steps
        self.on_error = on_error

    def reload(self, flowset: FlowSet) -> None:
        """Swap in a checked flow set; live conversations continue (or go to the menu)."""
        self.flowset = flowset
        log.info("flows reloaded: version %s", flowset.version)

    def handle(self, event: Event, *, in_tx: Callable[[list[Reply]], None] | None = None) -> list[Reply]:
        flowset = self.flowset   # one consistent set for the whole event, even during a reload
        try:
            with write_tx():
                session = load_session(event.chat_id, event.user_id, for_update=True)
                step = Step(self, flowset, session, event)
                step.run()
                save_session(session)
                if in_tx:
                    in_tx(step.replies)
            return step.replies
        except Exception as e:  # every failure becomes an apology, never a crash
            if is_database_error(e):
                raise       # not the flow's fault: the transport keeps the update and retries
            return self._failed(flowset, event, e, in_tx)

    def _failed(self, flowset: FlowSet, event: Event, error: BaseException, in_tx) -> list[Reply]:
        log.exception("event failed: chat=%s user=%s kind=%s: %s", event.chat_id, event.user_id,
                      event.kind, error)
        if self.on_error:
            self.on_error(event, error)
        lang = flowset.templates.lang(event.language)
        replies = [Reply(event.chat_id, flowset.templates.render("common/error", lang, {}))]
        if in_tx:
            with write_tx():
                in_tx(replies)
        return replies

    def due_timeouts(self, now=None, *, in_tx: Callable[[list[Reply]], None] | None = None) -> list[Reply]:
        """Reminders and abandonments that are due; run periodically by the transport.
        `in_tx` gets each conversation's replies inside its transaction (to queue them
        durably, as `handle` does)."""
        now = now or utcnow()
        due = (Conversation.select(Conversation.chat_id, Conversation.user_id)
               .where((Conversation.remind_at <= now) | (Conversation.abandon_at <= now)))
        replies: list[Reply] = []
        for row in list(due):
            event = Event(row.chat_id, row.user_id, kind="other")
            with write_tx():
                session = load_session(row.chat_id, row.user_id, for_update=True)
                step = Step(self, self.flowset, session, event)
                step.timeout(now)
                save_session(session)
                if in_tx and step.replies:
                    in_tx(step.replies)
            replies += step.replies
        return replies


class _Lazy(Mapping):
    """A provider's value, computed on first use: most steps render templates that never
    read `user`, and computing it costs database queries (bench/e2e.py profile)."""

    __slots__ = ("_fn", "_step", "_value", "_done")

    def __init__(self, fn: Callable, step: "Step"):
        self._fn, self._step, self._value, self._done = fn, step, None, False

    def _get(self) -> Any:
        if not self._done:
            self._value, self._done = self._fn(self._step), True
        return self._value

    def __getattr__(self, name: str) -> Any:
        value = self._get()
        if isinstance(value, Mapping) and name in value:
            return value[name]
        return getattr(value, name)

    def __getitem__(self, key):
        return self._get()[key]

    def __iter__(self):
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __bool__(self) -> bool:
        return bool(self._get())

    def __eq__(self, other) -> bool:
        return self._get() == (other._get() if isinstance(other, _Lazy) else other)

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        return str(self._get())


class Step:
    """One event applied to one conversation. Actions receive it as their context."""

    def __init__(self, engine: Engine, flowset: FlowSet, session: Session, event: Event):
        self.engine, self.fs, self.session, self.event = engine, flowset, session, event
        self.services = engine.services
        self.replies: list[Reply] = []
        self.result: dict[str, Any] = {}
        self._providers: dict[str, Any] | None = None
        self._edit_id = event.message_id if event.kind == "button" else None
        self._keyboard_shown = False
        if event.language:
            session.lang = flowset.templates.lang(event.language)

    # -- what actions use ----------------------------------------------------------------
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

    def variables(self, **extra) -> dict[str, Any]:
        """Everything a template or condition can read."""
        if self._providers is None:
            registry = self.engine.registry
            self._providers = {n: _Lazy(fn, self) for n, fn in registry.providers.items()}
            self._providers.update({n: (lambda fn=fn, **kw: fn(self, **kw))
                                    for n, fn in registry.predicates.items()})
        base = self.fs.slot_defaults.copy()        # every known slot, None until set
        base.update(self.session.slots)
        base.update(result=self.result, lang=self.lang, now=utcnow(), slots=self.session.slots,
                    event={"text": self.event.text, "kind": self.event.kind}, page=self.slots.get("page", 0),
                    ask=None)
        return {**base, **self._providers, **extra}

    def render(self, template: str, **extra) -> str:
        return self.fs.templates.render(template, self.lang, self.variables(**extra))

    def say(self, template: str, **extra) -> Reply:
        """Send a template's text to this chat."""
        return self.reply(Reply(self.chat_id, self.render(template, **extra)))

    def answer(self, template: str = "common/button_refused", **extra) -> Reply:
        """Answer the pressed button with a short text and do nothing else: no message is
        sent or edited (a refused or stale press must show nothing of its target)."""
        text = self.fs.templates.render_label(template, self.lang, self.variables(**extra))
        return self.reply(Reply(self.chat_id, callback_answer=text))

    def reply(self, reply: Reply) -> Reply:
        self.replies.append(reply)
        return reply

    def send(self, chat_id: int, template: str, lang: str | None = None, **extra) -> Reply:
        """A text to another chat (e.g. the work group), rendered now, sent with the replies."""
        text = self.fs.templates.render(template, lang or self.fs.templates.default, self.variables(**extra))
        return self.reply(Reply(chat_id, text))

    def refresh(self) -> None:
        """Recompute context providers (after an action changed the user, say)."""
        self._providers = None

    # -- dispatch ------------------------------------------------------------------------
    def run(self) -> None:
        ev, s = self.event, self.session
        handler = self.engine.registry.event_handlers.get(ev.kind)
        if handler:
            handler(self)
        elif ev.kind == "button" and not _FLOW_DATA.fullmatch(ev.data or ""):
            self._callback()
        elif ev.kind == "button" and not s.flow:
            self.answer()          # a dialog button, but no dialog ever showed him one
        elif ev.command:
            self._command(ev.command)
        elif not s.flow:
            self.start_flow(self.fs.menu_flow)
        elif not self._position_valid():
            self.say("common/session_lost")
            self.start_flow(self.fs.menu_flow)
        else:
            self._input()
        self._finish_keyboard()

    def _position_valid(self) -> bool:
        frames = [(f, st) for f, st in self.session.stack] + [(self.session.flow, self.session.state)]
        return all(self.fs.has_state(f, st) for f, st in frames)

    def _command(self, name: str) -> None:
        flow = self.fs.commands.get(name)
        if flow is None:
            self.say("common/unknown_command")
            return self._reprompt()
        if name == "cancel" and self.session.flow:
            self.say("common/cancelled")
        self.start_flow(flow)

    def _callback(self) -> None:
        prefix, _, payload = self.event.data.partition(":")
        handler = self.engine.registry.callbacks.get(prefix)
        if handler is None:          # forged or from a removed feature: nothing to show
            self.answer()
            return
        handler(self, payload)

    def start_flow(self, name: str) -> None:
        """Leave whatever the user was doing and start flow `name` from its start."""
        s = self.session
        s.stack, s.slots, s.flow = [], {}, name
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
            return self.press(pressed)
        if st.ask:
            return self._answer(st)
        self.say("common/use_buttons" if ev.kind == "text" else "common/unsupported_message")
        self._reprompt()

    def _press_data(self, data: str) -> None:
        m = _FLOW_DATA.fullmatch(data)
        step, index = int(m.group(1)), int(m.group(2))
        if step != self.session.step or index >= len(self.session.buttons):
            self.say("common/stale_button")
            return self._show_again()
        self.press(self.session.buttons[index])

    def _button_by_label(self, text: str) -> dict | None:
        typed = text.strip().casefold()
        return next((b for b in self.session.buttons if b["text"].strip().casefold() == typed), None)

    def press(self, button: dict) -> None:
        if button.get("save"):
            self.session.slots[button["save"]] = button.get("value")
        self.leave("go_" + button["go"] if button.get("go") else "next")

    def _answer(self, st: State) -> None:
        ok, value = self.engine.registry.input_types[st.ask.get("type", "text")](self.event, st.ask)
        if not ok:
            self.say(st.ask.get("invalid") or value, ask=st.ask)
            return self._reprompt()
        save = st.ask.get("save")
        if st.ask.get("many"):
            return self._collect(st.ask, save, value if isinstance(value, list) else [value])
        if save:
            self.session.slots[save] = value
        self.leave("next")

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
        return self._reprompt()

    # -- moving between states -----------------------------------------------------------
    def leave(self, trigger: str) -> None:
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
            st = self.state
            name = self._visit(st)
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
        if st.edit and self._edit_id and len(self.replies) > first:
            self.replies[first].edit_message_id, self._edit_id = self._edit_id, None
        if st.call:
            self.session.stack.append([self.session.flow, st.name])
            self.session.flow = st.call[0]
            return self.fs.flows[st.call[0]].start
        if st.waits:
            self._show(st)
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
        for call in st.do:
            out = self.call_action(call.name, call.args, call.save)
            if isinstance(out, Go):
                return out.state
        return None

    def call_action(self, name: str, args: dict, save: str | None = None) -> Any:
        spec = self.engine.registry.actions[name]
        values = {k: self._arg(v) for k, v in args.items()}
        try:
            out = spec.fn(self, **values)
        except ActionError:
            raise
        except Exception as e:
            raise ActionError(f"{self.where()} action={name}", f"{type(e).__name__}: {e}") from e
        self._keep(spec.provides, out, save)
        self.refresh()
        return out

    def _keep(self, provides, out: Any, save: str | None) -> None:
        if isinstance(out, dict):
            self.result.update(out)
            for key in provides:
                if key in out:
                    self.session.slots[key] = out[key]
        if save and not isinstance(out, Go):
            self.session.slots[save] = out

    def _arg(self, value: Any) -> Any:
        if isinstance(value, str) and "{{" in value:
            return self.fs.templates.expression(strip_braces(value))(**self.variables())
        return value

    # -- showing a waiting state ---------------------------------------------------------
    def _show(self, st: State) -> None:
        s = self.session
        s.step += 1
        s.buttons = self._static_buttons(st.buttons)
        if st.dynamic:
            s.buttons = self._dynamic_buttons(st) + self._static_buttons(st.dynamic.extra)
        self._attach(st)
        self._arm_timeout(st)

    def _static_buttons(self, specs) -> list[dict]:
        out = []
        for b in specs:
            if b.when and not self.condition(b.when):
                continue
            label = self.fs.templates.render_label(b.text, self.lang, self.variables())
            out.append({"text": label, "go": b.go, "save": b.save, "value": b.value, "url": b.url})
        return out

    def _dynamic_buttons(self, st: State) -> list[dict]:
        dyn = st.dynamic
        items = self.call_action(dyn.source, dyn.args) or []
        if not items and dyn.empty:
            self.say(dyn.empty)
        return [{"text": str(i["text"]), "go": i.get("go", dyn.go), "save": i.get("save", dyn.save),
                 "value": i.get("value"), "url": None, "dyn": True} for i in items]

    def _attach(self, st: State, reply: Reply | None = None) -> None:
        """Put the state's buttons (and the contact keyboard) on the last reply."""
        if not self.replies:
            self.say("common/use_buttons")
        reply = reply or self.replies[-1]
        columns = st.dynamic.columns if st.dynamic else 1
        reply.buttons = []
        for i, b in enumerate(self.session.buttons):
            button = Button(b["text"], url=b["url"]) if b.get("url") else \
                Button(b["text"], f"f{self.session.step}.{i}")
            row = reply.buttons[-1] if reply.buttons else None
            if b.get("dyn") and row and len(row) < columns and row[-1].data and \
                    self.session.buttons[i - 1].get("dyn"):
                row.append(button)
            else:
                reply.buttons.append([button])
        self._ask_keyboard(st, reply)

    def _ask_keyboard(self, st: State, reply: Reply) -> None:
        if not st.ask:
            return
        kind = st.ask.get("type")
        if kind in ("contact", "phone"):
            label = self.fs.templates.render_label(st.ask.get("button") or "common/btn_share_contact",
                                                   self.lang, self.variables())
            reply.keyboard = [[KeyButton(label, request_contact=True)]]
        elif kind == "choice":
            reply.keyboard = [[KeyButton(str(o))] for o in st.ask.get("options", [])]
        if reply.keyboard:
            self.session.keyboard = self._keyboard_shown = True

    def _show_again(self) -> None:
        """Repeat the current state's question with its buttons (after a stale press)."""
        st = self.state
        if st.say:
            self.say(st.say[-1][0])
        self._reprompt()

    def _reprompt(self) -> None:
        """After an error message: show the current state's buttons again on it."""
        s = self.session
        if not s.flow or not self._position_valid() or not self.replies:
            return
        st = self.state
        if s.buttons or st.ask:
            self._attach(st, self.replies[-1])

    def _finish_keyboard(self) -> None:
        """Hide a reply keyboard (contact sharing) once the dialog has moved on."""
        messages = [r for r in self.replies if not r.answer_only]
        if self.session.keyboard and not self._keyboard_shown and messages:
            messages[0].remove_keyboard = True
            self.session.keyboard = False

    # -- timeouts ------------------------------------------------------------------------
    def _arm_timeout(self, st: State) -> None:
        if not st.timeout:
            return
        now = utcnow()
        if st.timeout.get("remind_after"):
            self.session.remind_at = now + timedelta(seconds=parse_duration(st.timeout["remind_after"]))
        if st.timeout.get("abandon_after"):
            self.session.abandon_at = now + timedelta(seconds=parse_duration(st.timeout["abandon_after"]))

    def timeout(self, now) -> None:
        """Apply a due reminder or abandonment to this conversation."""
        s = self.session
        if not self._position_valid():
            s.remind_at = s.abandon_at = None
            return
        spec = self.state.timeout or {}
        if s.abandon_at and s.abandon_at <= now:
            self.say(spec.get("abandon") or "common/session_lost")
            s.flow = s.state = None
            s.stack, s.slots, s.buttons = [], {}, []
            s.remind_at = s.abandon_at = None
        elif s.remind_at and s.remind_at <= now:
            s.remind_at = None
            self.say(spec["remind"])
            self._attach(self.state)
