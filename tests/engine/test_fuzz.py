"""Property: whatever a user sends, in any order, the bot answers and the conversation stays
in a state that exists (the shipped flows, the real app wiring, standalone mode)."""
from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from engine.events import Contact, Event, FileRef
from engine.session import Conversation
from helpdesk import config
from helpdesk.app import build_app

_ids = itertools.count(900_000)

texts = st.one_of(st.text(max_size=50), st.just(""), st.just("x" * 10_000), st.just("🙂🔥"),
                  st.sampled_from(["1", "2", "+7 912 345 67 89", "7707083893", "Иван"]))
actions = st.one_of(
    st.tuples(st.just("text"), texts),
    st.tuples(st.just("command"), st.sampled_from(["/start", "/menu", "/cancel", "/help", "/nope", "/"])),
    st.tuples(st.just("press"), st.integers(0, 6)),
    st.tuples(st.just("data"), st.text(max_size=70)),
    st.tuples(st.just("contact"), st.booleans()),
    st.tuples(st.just("file"), st.sampled_from(["photo", "document"])),
    st.tuples(st.just("other"), st.just("")),
)


def _event(user: int, action, last_buttons):
    kind, arg = action
    base = dict(chat_id=user, user_id=user, language="ru")
    if kind == "press":
        data = last_buttons[arg % len(last_buttons)] if last_buttons else "f0.0"
        return Event(kind="button", data=data, **base)
    if kind == "data":
        return Event(kind="button", data=arg, **base)
    if kind == "contact":
        return Event(kind="contact", contact=Contact("+79123456789", user if arg else user + 1), **base)
    if kind == "file":
        return Event(kind="file", files=(FileRef("fid", arg, "a.pdf", "", 10),), **base)
    return Event(kind=kind, text=arg, **base)


def test_random_event_sequences_always_get_a_reply(database):
    app = build_app(config.load(environ={}), connect=False)
    engine = app.engine
    apology = engine.flowset.templates.render("common/error", "ru", {})

    @hsettings(max_examples=60, deadline=None, derandomize=True, database=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(actions, min_size=1, max_size=25))
    def run(sequence):
        user = next(_ids)
        buttons: list[str] = []
        for action in sequence:
            replies = engine.handle(_event(user, action, buttons))
            assert replies, f"no reply to {action}"
            assert not any(r.text == apology for r in replies), f"crashed on {action}"
            pressable = [b.data for r in replies for row in r.buttons for b in row if b.data]
            buttons = pressable or buttons
            row = Conversation.get_or_none(Conversation.user_id == user)
            assert row is None or row.flow is None or engine.flowset.has_state(row.flow, row.state)
    run()
