"""Attack (issue 16, point 3: staff are members of the work group). docs/tickets.md says a
role command names a member "by @username or an id the bot has seen", and the refusal
(desk/staff_who) tells the admin the person must have written to the bot or the group. But
any digits are taken as a person: an admin's typo, `/technician 4242424242`, makes a
stranger the bot never saw a technician (told "✅ 4242424242 — мастер"), who from then on
passes every staff check (the picker lists them, an assignment sends them the card with
the client's data)."""
from __future__ import annotations

from engine.testing import Chat
from helpdesk.desk import staff
from tests.support.tickets import GROUP

ADMIN = 920
NEVER_SEEN = 4242424242


def test_an_id_the_bot_never_saw_is_not_made_staff(world):
    staff.set_admins(GROUP, [{"id": ADMIN, "first_name": "Анна"}])
    admin = Chat(world.app.engine, ADMIN, chat_id=GROUP, first_name="Анна")
    [answer] = admin.event(kind="command", text=f"/technician {NEVER_SEEN}", chat_type="supergroup",
                           message_id=77)
    assert not staff.is_staff(NEVER_SEEN), answer.text
    assert "мастер" not in answer.text
