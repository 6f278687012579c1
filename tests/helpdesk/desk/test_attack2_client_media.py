"""Attack (issue 16, point 2: location relays). Support asks the client where the shop is;
the client answers the support message, as Telegram's Reply, with a location (or a contact
card of the person on site). Staff's location gets a clear "cannot relay" in the thread;
the client's goes to the dialogs as if it were about nothing: the thread never sees it,
and the client is answered with whatever the menu says, not that it was not sent."""
from __future__ import annotations

import pytest

from tests.support.desk import eventually, known_sent, reply_json
from tests.support.fakes.telegram_api import FakeTelegramAPI
from tests.support.telegram_harness import running_bot
from tests.support.tickets import TECH, file_ticket

GROUP = -1234


@pytest.mark.parametrize("what", [
    {"location": {"latitude": 55.75, "longitude": 37.62}},
    {"contact": {"phone_number": "+79001112233", "first_name": "Олег"}},
])
def test_a_clients_location_or_contact_in_reply_to_support_is_relayed_or_refused_clearly(world, monkeypatch, what):
    monkeypatch.setattr(world.app.settings.notify.system, "work_group_id", GROUP)
    with FakeTelegramAPI() as api, running_bot(world.app.engine, api):
        client, group = api.user(101, "Имя101"), api.group(GROUP)
        file_ticket(world, 101)
        card = known_sent(api.wait_for(GROUP, contains="#1", timeout=120))
        group.member(TECH, "Пётр")._message(text="Пришлите, где вы находитесь",
                                            reply_to_message=reply_json(card, group.chat))
        support = known_sent(api.wait_for(101, contains="Пришлите, где", timeout=120))
        in_group, to_client = len(api.messages(GROUP)), len(api.messages(101))
        client._message(reply_to_message=reply_json(support, client.chat), **what)
        answers = eventually(lambda: api.messages(101)[to_client:])
        texts = [m.plain_text for m in answers]
        relayed = api.messages(GROUP)[in_group:]
        # either the thread got it, or the client was told it was NOT sent to support
        assert relayed or any("не" in t and ("отправ" in t or "передать" in t or "переслать" in t)
                              for t in texts), texts
