"""Attack on issue 17 item 5 on the bot's own API: probes of bodies the limits should cover."""
from __future__ import annotations

import json

import pytest

from helpdesk.api.legacy import OneCRecord
from tests.support.api import one_c


def test_a_list_nested_in_an_object_is_bounded_too(live):
    """api.max_list_items (2,500 here) is checked on lists reached through lists and models
    only: the same list one object deeper in a 1C body (extra fields are kept as sent) passes."""
    body = {"guid": "k-1", "name": "Договор", "extra": {"rows": list(range(100_000))}}
    r = one_c(live).put("/api/contract", data=json.dumps(body),
                        headers={"Content-Type": "application/json"})
    assert r.status_code == 422, f"{r.status_code}: a 100,000-item list stored " \
                                 f"({OneCRecord.select().count()} record)"


@pytest.mark.parametrize("depth", [300, 900])
def test_deeply_nested_json_is_a_4xx_not_a_500(live, depth):
    body = '{"guid": "k-1", "name": "x", "deep": ' + "[" * depth + "]" * depth + "}"
    r = one_c(live).put("/api/contract", data=body, headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500, f"depth {depth}: {r.status_code} {r.text[:200]}"
    r = one_c(live).get("/api/contracts")
    assert r.status_code == 200, f"listing after depth {depth}: {r.status_code}"
