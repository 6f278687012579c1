"""The fixture flow set of the engine tests (tests/engine/fixtures/): a registry with test
actions (a VIP predicate, an order that can fail) and an engine on it."""
from __future__ import annotations

import os

from engine import Engine, Outcome, Registry, builtins, load_flowset
from tests.support.paths import TESTS

FLOWS = os.path.join(TESTS, "engine", "fixtures", "engine_flows")
TEMPLATES = os.path.join(TESTS, "engine", "fixtures", "engine_templates")
COMMANDS = {"start": "main", "menu": "main", "cancel": "main"}


def make_registry(vip_ids=(), fail=False):
    reg = builtins.register(Registry())
    placed = []

    @reg.predicate("is_vip")
    def is_vip(step):
        return step.user_id in vip_ids

    @reg.action("list_items")
    def list_items(step):
        return [{"text": f"Item {i}", "value": i} for i in (1, 2)]

    @reg.action("place_order", reads=["qty"], gives=["order_no"], outcomes=["placed", "failed"])
    def place_order(step, qty):
        if fail == "raise":
            raise RuntimeError("warehouse is down")
        placed.append(qty)
        return Outcome("failed" if fail else "placed", order_no=len(placed))

    reg.placed = placed
    return reg


def make_engine(reg=None, flows=FLOWS, templates=TEMPLATES):
    reg = reg or make_registry()
    fs = load_flowset(flows, templates, reg, languages=["ru", "en"], default_language="ru",
                      menu_flow="main", commands=COMMANDS)
    return Engine(fs, reg)
