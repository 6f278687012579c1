"""engine/ahead.py: the questions a flow asks from a state on, read from the flow itself
(what an intro announcing "N questions" counts)."""
from __future__ import annotations

from engine.ahead import asks_ahead
from engine.flows import parse_flow_file

FLOW = """
flow: form
start: intro
states:
  intro:
    do: plan
    next: ask_name
  ask_name:
    when: "not name"
    say: t/a
    ask: {type: text, save: name}
    next: ask_age
  ask_age:
    say: t/a
    ask: {type: number, save: age}
    next:
      - {if: "age > 60", go: ask_pension}
      - {go: route}
  ask_pension:
    say: t/a
    ask: {type: text, save: pension}
    next: done
  route:
    next:
      - {if: "vip", go: ask_vip}
      - {go: done}
  ask_vip:
    say: t/a
    ask: {type: text, save: vip_note}
    next: done
  done:
    end: true
"""


def flow(tmp_path):
    path = tmp_path / "form.yaml"
    path.write_text(FLOW, encoding="utf-8")
    parsed, errors = parse_flow_file(str(path))
    assert errors == []
    return parsed


def conditions(**known):
    """A condition evaluated with `known` slots (the engine's is Jinja; these few suffice)."""
    table = {"not name": not known.get("name"), "vip": bool(known.get("vip"))}
    return lambda source: table[source]


def test_every_question_is_counted_until_an_answer_decides_the_way(tmp_path):
    assert asks_ahead(flow(tmp_path), "ask_name", conditions()) == ["ask_name", "ask_age"]


def test_a_question_whose_when_is_false_now_is_skipped(tmp_path):
    assert asks_ahead(flow(tmp_path), "ask_name", conditions(name="Иван")) == ["ask_age"]


def test_a_condition_that_does_not_follow_a_question_is_evaluated_now(tmp_path):
    form = flow(tmp_path)
    assert asks_ahead(form, "route", conditions(vip=True)) == ["ask_vip"]
    assert asks_ahead(form, "route", conditions(vip=False)) == []


def test_an_action_stops_the_walk_and_an_unknown_state_counts_nothing(tmp_path):
    form = flow(tmp_path)
    assert asks_ahead(form, "intro", conditions()) == []
    assert asks_ahead(form, "nowhere", conditions()) == []
