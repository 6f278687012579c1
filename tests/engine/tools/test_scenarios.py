"""The admins' YAML dialog scenarios: every shipped one passes, and the runner says which
step failed and why."""
from __future__ import annotations

import glob
import io
import os

import pytest

from engine.tools import scenarios
from helpdesk.app import PROJECT_ROOT, project_path
from helpdesk.flowtools import FIXTURES as PROJECT_FIXTURES
from helpdesk.flowtools import scenario_project
from helpdesk.ops import cli

SHIPPED = sorted(glob.glob(os.path.join(PROJECT_ROOT, "flows", "tests", "*.yaml")))
FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "scenarios")
PASSING = os.path.join(FIXTURES, "passing.yaml")
PROJECT = scenario_project()


@pytest.mark.parametrize("path", SHIPPED, ids=os.path.basename)
def test_shipped_scenarios_pass(path, settings):
    outcomes, problems = scenarios.run_file(path, settings, PROJECT)
    assert problems == []
    assert outcomes, "a scenario file with no scenarios"
    assert [o.failure for o in outcomes if not o.ok] == []


def test_every_shipped_flow_has_scenarios(settings):
    """Each flow is exercised: flows/tests/<flow>.yaml exists, or some step expects a state of it."""
    flows = {os.path.basename(p)[:-5] for p in glob.glob(os.path.join(PROJECT_ROOT, "flows", "*.yaml"))}
    covered = {os.path.basename(p)[:-5] for p in SHIPPED}
    for path in SHIPPED:
        for scenario in scenarios.load_file(path)[0]:
            covered |= {str(step.expect["state"]).split(".")[0] for step in scenario.steps
                        if "." in str(step.expect.get("state", ""))}
    assert sorted(flows - covered) == [], "add scenarios for these flows to flows/tests/"


def test_failure_names_file_line_step_expected_and_got(settings):
    outcomes, _ = scenarios.run_file(os.path.join(FIXTURES, "failing.yaml"), settings, PROJECT)
    (o,) = outcomes
    assert not o.ok and o.steps_passed == 3
    assert o.failure == ("tests/engine/tools/fixtures/scenarios/failing.yaml:9: scenario 'broken expectations', "
                         "step 4 (send \"И\"): expected text containing 'Отлично'; got: "
                         "'Слишком коротко: нужно не меньше 2 символов. Попробуйте ещё раз.'")


def test_format_mistakes_are_listed_with_line_and_col(settings):
    _, problems = scenarios.run_file(os.path.join(FIXTURES, "bad_format.yaml"), settings, PROJECT)
    f = "tests/engine/tools/fixtures/scenarios/bad_format.yaml"
    assert problems == [
        f"{f}:2:3: unknown key 'usr' in a scenario; did you mean 'user'?",
        f"{f}:4:7: unknown key 'sen' in a step; did you mean 'send'?",
        f"{f}:4:7: a step does exactly one of: click, press, send, send_file, share_contact, wait",
        f"{f}:6:16: unknown key 'txt' in 'expect'; did you mean 'text'?",
        f"{f}:7:7: 'wait' is a duration like 30s, 10m, 2h",
        f"{f}:9:3: unknown fixture 'crmm'",
        f"{f}:10:3: 'steps' must be a non-empty list",
    ]


def test_run_paths_exit_code_and_report(settings):
    out = io.StringIO()
    code = scenarios.run_paths([PASSING, os.path.join(FIXTURES, "failing.yaml")], settings, PROJECT, out)
    text = out.getvalue()
    assert code == 1
    assert "ok    tests/engine/tools/fixtures/scenarios/passing.yaml: the menu answers (1 steps)" in text
    assert "FAIL  tests/engine/tools/fixtures/scenarios/failing.yaml:9:" in text
    assert text.rstrip().endswith("1 scenario(s) passed, 1 failed")


def test_cli_flows_test_runs_the_files_it_is_given(capsys):
    """The CLI wiring only, on one small file: the shipped scenarios run once, above."""
    assert cli.main(["flows", "test", PASSING]) == 0
    assert capsys.readouterr().out.rstrip().endswith("1 scenario(s) passed, 0 failed")
    assert cli.main(["flows", "test", os.path.join(FIXTURES, "failing.yaml")]) == 1


def test_cli_flows_test_defaults_to_the_shipped_files(settings):
    assert scenarios.scenario_files(project_path(settings.engine.flows_dir)) == SHIPPED


def test_fixture_hook_prepares_settings(settings):
    @PROJECT_FIXTURES.fixture("make_admin")
    def make_admin(s):
        yield s.model_copy(update={"engine": s.engine.model_copy(update={"admins": [7002]})})

    try:
        outcomes, problems = scenarios.run_file(os.path.join(FIXTURES, "with_fixture.yaml"), settings, PROJECT)
    finally:
        PROJECT_FIXTURES.pop("make_admin")
    assert problems == [] and [o.failure for o in outcomes] == [None]
    # without the fixture the same user is refused
    scenario = scenarios.load_file(os.path.join(FIXTURES, "with_fixture.yaml"))[0][0]
    scenario.fixtures = []
    assert "Диалоги перезагружены" in scenarios.run_scenario(scenario, settings, PROJECT).failure


def test_each_scenario_gets_a_fresh_database(settings):
    """The same user id in two scenarios: the second starts with no conversation."""
    path = os.path.join(FIXTURES, "failing.yaml")
    first = scenarios.load_file(path)[0][0]
    first.steps = first.steps[:3]               # leaves the user in the questionnaire
    assert scenarios.run_scenario(first, settings, PROJECT).ok
    second = scenarios.load_file(path)[0][0]
    second.steps = second.steps[3:4]            # "И" as a first message: the menu, not "too short"
    second.steps[0].expect = {"text": "Главное меню"}
    assert scenarios.run_scenario(second, settings, PROJECT).ok
