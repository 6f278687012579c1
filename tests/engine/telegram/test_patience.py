"""How long a put-off update is tried again (engine/telegram/patience.py), on a test clock."""
from __future__ import annotations

from engine.telegram.patience import Patience


def test_waits_double_from_20_ms_to_half_a_second_and_the_try_past_the_patience_is_the_last():
    now = [100.0]
    patience = Patience(3.0, clock=lambda: now[0])
    waits = []
    while patience.may_wait(7):
        waits.append(patience.put_off(7))
        now[0] += waits[-1]
    assert waits[:6] == [0.02, 0.04, 0.08, 0.16, 0.32, 0.5] and set(waits[6:]) == {0.5}
    assert 3.0 <= sum(waits) < 3.5                   # the last try comes once 3 s have passed
    assert patience.may_wait(8) and len(patience) == 1  # another update is not touched


def test_an_applied_update_is_forgotten_and_an_event_without_update_never_waits():
    patience = Patience(0.01, clock=lambda: 0.0)
    patience.put_off(9)
    assert not patience.may_wait(9)
    patience.forget(9)
    assert patience.may_wait(9) and len(patience) == 0
    assert not patience.may_wait(None)
