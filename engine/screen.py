"""Showing a waiting state: its buttons (static, built by an action, the contact keyboard)
on the state's last message, showing them again after an error, and the state's timeout
(a reminder, then abandoning the conversation). Functions of a `Step`, kept apart from
moving between states.
"""
from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from .events import Button, KeyButton, Reply
from .flowmodel import State
from .flows import parse_duration
from .session import utcnow

if TYPE_CHECKING:
    from .step import Step

__all__ = ["show", "attach", "show_again", "reprompt", "finish_keyboard", "timeout"]


def show(step: Step, st: State) -> None:
    s = step.session
    s.step += 1
    s.buttons = _static_buttons(step, st.buttons)
    if st.dynamic:
        s.buttons = _dynamic_buttons(step, st) + _static_buttons(step, st.dynamic.extra)
    attach(step, st)
    _arm_timeout(step, st)


def _static_buttons(step: Step, specs) -> list[dict]:
    out = []
    for b in specs:
        if b.when and not step.condition(b.when):
            continue
        label = step.label(b.text)
        out.append({"text": label, "go": b.go, "save": b.save, "value": b.value, "url": b.url})
    return out


def _dynamic_buttons(step: Step, st: State) -> list[dict]:
    dyn = st.dynamic
    items = step.call_action(dyn.source, dyn.args)[1] or []
    if not items and dyn.empty:
        step.say(dyn.empty)
    return [{"text": str(i["text"]), "go": i.get("go", dyn.go), "save": i.get("save", dyn.save),
             "value": i.get("value"), "url": None, "dyn": True} for i in items]


def attach(step: Step, st: State, reply: Reply | None = None) -> None:
    """Put the state's buttons (and the contact keyboard) on the last reply."""
    if not step.replies:
        step.say("common/use_buttons")
    reply = reply or step.replies[-1]
    columns = st.dynamic.columns if st.dynamic else 1
    reply.buttons = []
    for i, b in enumerate(step.session.buttons):
        button = Button(b["text"], url=b["url"]) if b.get("url") else \
            Button(b["text"], f"f{step.session.step}.{i}")
        row = reply.buttons[-1] if reply.buttons else None
        if b.get("dyn") and row and len(row) < columns and row[-1].data and \
                step.session.buttons[i - 1].get("dyn"):
            row.append(button)
        else:
            reply.buttons.append([button])
    _ask_keyboard(step, st, reply)


def _ask_keyboard(step: Step, st: State, reply: Reply) -> None:
    if not st.ask:
        return
    kind = st.ask.get("type")
    if kind in ("contact", "phone"):
        label = step.label(st.ask.get("button") or "common/btn_share_contact")
        reply.keyboard = [[KeyButton(label, request_contact=True)]]
    elif kind == "choice":
        reply.keyboard = [[KeyButton(str(o))] for o in st.ask.get("options", [])]
    if reply.keyboard:
        step.session.keyboard = step.keyboard_shown = True


def show_again(step: Step) -> None:
    """Repeat the current state's question with its buttons (after a stale press)."""
    st = step.state
    if st.say:
        step.say(st.say[-1][0])
    reprompt(step)


def reprompt(step: Step) -> None:
    """After an error message: show the current state's buttons again on it."""
    s = step.session
    if not s.flow or not step.position_valid() or not step.replies:
        return
    st = step.state
    if s.buttons or st.ask:
        attach(step, st, step.replies[-1])


def finish_keyboard(step: Step) -> None:
    """Hide a reply keyboard (contact sharing) once the dialog has moved on."""
    messages = [r for r in step.replies if not r.answer_only]
    if step.session.keyboard and not step.keyboard_shown and messages:
        messages[0].remove_keyboard = True
        step.session.keyboard = False


# -- timeouts ------------------------------------------------------------------------
def _arm_timeout(step: Step, st: State) -> None:
    if not st.timeout:
        return
    now = utcnow()
    if st.timeout.get("remind_after"):
        step.session.remind_at = now + timedelta(seconds=parse_duration(st.timeout["remind_after"]))
    if st.timeout.get("abandon_after"):
        step.session.abandon_at = now + timedelta(seconds=parse_duration(st.timeout["abandon_after"]))


def timeout(step: Step, now) -> None:
    """Apply a due reminder or abandonment to this conversation."""
    s = step.session
    if not step.position_valid():
        s.remind_at = s.abandon_at = None
        return
    spec = step.state.timeout or {}
    if s.abandon_at and s.abandon_at <= now:
        step.say(spec.get("abandon") or "common/session_lost")
        s.flow = s.state = None
        s.stack, s.slots, s.buttons = [], {}, []
        s.remind_at = s.abandon_at = None
    elif s.remind_at and s.remind_at <= now:
        s.remind_at = None
        step.say(spec["remind"])
        attach(step, step.state)
