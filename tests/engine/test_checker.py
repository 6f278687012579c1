"""What `flows check` tells an admin: every broken fixture in tests/engine/fixtures/bad_flows/
gives exactly its `# expect:` lines (file:line:col: message); a template missing in one
language is reported; every shipped template exists in ru and en."""
from __future__ import annotations

import glob
import os
import re
import shutil

import pytest

from engine import Registry, builtins
from engine.checker import check_flows
from engine.flows import parse_flow_file
from engine.templates import Templates
from helpdesk.app import PROJECT_ROOT, check
from helpdesk.ops import cli

HERE = os.path.dirname(__file__)
BAD = sorted(glob.glob(os.path.join(HERE, "fixtures", "bad_flows", "*.yaml")))
ADMIN_TEMPLATES = os.path.join(HERE, "fixtures", "admin_templates")
_EXPECT = re.compile(r"^# expect: (.*)$", re.M)


def registry() -> Registry:
    reg = builtins.register(Registry())
    reg.register_action("create_ticket", lambda step: {})
    return reg


def expected_lines(path: str, shown: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [m.replace("{f}", shown) for m in _EXPECT.findall(f.read())]


def check_one(path: str, shown: str, templates_root: str) -> list[str]:
    """The checker's problems for one flow file checked on its own."""
    flow, problems = parse_flow_file(path, shown)
    if flow is None:
        return problems
    reg = registry()
    templates = Templates(templates_root, ["ru", "en"], "ru", filters=reg.filters)
    problems += check_flows({flow.name: flow}, templates, reg, menu_flow=flow.name,
                            commands={}, root=os.path.dirname(templates_root))
    return problems


@pytest.fixture(scope="module")
def templates_root(tmp_path_factory):
    """The fixture texts plus the engine's own (common/...), laid out as templates/<lang>/."""
    root = tmp_path_factory.mktemp("project") / "templates"
    for lang in ("ru", "en"):
        shutil.copytree(os.path.join(PROJECT_ROOT, "templates", lang, "common"), root / lang / "common")
    shutil.copytree(ADMIN_TEMPLATES, root, dirs_exist_ok=True)
    return str(root)


@pytest.mark.parametrize("path", BAD, ids=lambda p: os.path.basename(p)[:-5])
def test_bad_flow_gives_exactly_its_expected_lines(path, templates_root):
    shown = os.path.relpath(path, PROJECT_ROOT)
    expected = expected_lines(path, shown)
    assert expected, f"{shown} has no '# expect:' lines"
    # problems elsewhere (a broken template no flow of this file uses) are not this case's
    got = [p for p in check_one(path, shown, templates_root) if p.startswith(shown + ":")]
    assert sorted(got) == sorted(expected)


def test_every_required_kind_of_mistake_has_a_fixture():
    names = {os.path.basename(p)[:-5] for p in BAD}
    assert names >= {"unknown_key", "undefined_target", "unreachable", "no_way_out",
                     "unknown_action", "missing_template", "jinja_syntax", "unknown_variable",
                     "duplicate_key", "missing_subflow", "yaml_syntax", "python_tag"}


def test_python_tag_is_never_executed(tmp_path, templates_root):
    marker = tmp_path / "pwned"
    flow = tmp_path / "tag.yaml"
    flow.write_text("flow: tag\nstart: a\nstates:\n  a:\n    say: t/hello\n"
                    f"    do: !!python/object/apply:os.system [\"touch {marker}\"]\n    end: true\n")
    problems = check_one(str(flow), "tag.yaml", templates_root)
    assert "tag.yaml:6:9: YAML tag '!!python/object/apply:os.system' is not allowed in flows" in problems
    assert not marker.exists()


def test_template_missing_in_one_language_is_reported(templates_root, tmp_path):
    flow = tmp_path / "lang.yaml"
    flow.write_text("flow: lang\nstart: a\nstates:\n  a:\n    say: t/only_ru\n    end: true\n")
    problems = [p for p in check_one(str(flow), "flows/lang.yaml", templates_root) if p.startswith("flows/")]
    assert problems == ["flows/lang.yaml:5:10: template 't/only_ru' is missing in 'en' "
                        "(templates/en/t/only_ru.j2)"]


def test_flows_check_command_reports_missing_language(settings, tmp_path, capsys):
    """The same through `python run.py flows check` on a copy of the project's files."""
    shutil.copytree(os.path.join(PROJECT_ROOT, "flows"), tmp_path / "flows")
    shutil.copytree(os.path.join(PROJECT_ROOT, "templates"), tmp_path / "templates")
    os.remove(tmp_path / "templates" / "en" / "menu" / "btn_help.j2")
    env = {"ENGINE__FLOWS_DIR": str(tmp_path / "flows"), "ENGINE__TEMPLATES_DIR": str(tmp_path / "templates")}
    from helpdesk import config
    s = config.load(environ=env)
    problems = check(s)
    assert any(p.endswith(": template 'menu/btn_help' is missing in 'en' "
                          f"({os.path.relpath(tmp_path / 'templates/en/menu/btn_help.j2', PROJECT_ROOT)})")
               and p.startswith(os.path.relpath(tmp_path / "flows" / "menu.yaml", PROJECT_ROOT) + ":")
               for p in problems), problems


def _template_names(lang: str) -> set[str]:
    base = os.path.join(PROJECT_ROOT, "templates", lang)
    return {os.path.relpath(p, base) for p in glob.glob(os.path.join(base, "**", "*.j2"), recursive=True)}


def test_every_shipped_template_exists_in_ru_and_en():
    ru, en = _template_names("ru"), _template_names("en")
    assert sorted(ru - en) == [], "missing in templates/en"
    assert sorted(en - ru) == [], "missing in templates/ru"


def test_shipped_flows_pass_the_check(capsys):
    assert cli.main(["flows", "check"]) == 0, capsys.readouterr().out


# -- the guide's walk-throughs (docs/flows.md), followed literally on a copy of the project --
def _copy_project(tmp_path):
    shutil.copytree(os.path.join(PROJECT_ROOT, "flows"), tmp_path / "flows")
    shutil.copytree(os.path.join(PROJECT_ROOT, "templates"), tmp_path / "templates")
    from helpdesk import config
    return config.load(environ={"ENGINE__FLOWS_DIR": str(tmp_path / "flows"),
                                "ENGINE__TEMPLATES_DIR": str(tmp_path / "templates")})


def _replace(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"the guide no longer matches {path.name}: {old!r}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_guide_add_a_question_to_registration(tmp_path):
    from engine.tools import scenarios
    from helpdesk.flowtools import scenario_project
    s = _copy_project(tmp_path)
    flow = tmp_path / "flows" / "registration.yaml"
    _replace(flow, "    ask: {type: text, min: 2, max: 200, save: position}\n    next: confirm_company\n",
             "    ask: {type: text, min: 2, max: 200, save: position}\n    next: ask_email\n\n"
             "  ask_email:\n"
             "    say: registration/ask_email\n"
             "    ask: {type: text, min: 5, max: 100, save: email}\n"
             "    next:\n"
             "      - {if: \"'@' in email\", go: confirm_company}\n"
             "      - {go: bad_email}\n"
             "  bad_email:\n"
             "    say: registration/bad_email\n"
             "    next: ask_email\n")
    texts = {"ru": ("Ваш e-mail для уведомлений?", "Похоже, это не e-mail. Пример: name@company.ru",
                    "\nУведомления придут на {{ email }}."),
             "en": ("Your e-mail for notifications?", "That does not look like an e-mail.",
                    "\nNotifications go to {{ email }}.")}
    for lang, (ask, bad, line) in texts.items():
        base = tmp_path / "templates" / lang / "registration"
        (base / "ask_email.j2").write_text(ask + "\n", encoding="utf-8")
        (base / "bad_email.j2").write_text(bad + "\n", encoding="utf-8")
        with open(base / "registered.j2", "a", encoding="utf-8") as f:
            f.write(line + "\n")
    assert check(s) == []
    test = tmp_path / "flows" / "tests" / "registration.yaml"
    _replace(test, "    - send: Кладовщик\n",
             "    - send: Кладовщик\n      expect: {text: Ваш e-mail, state: registration.ask_email}\n"
             "    - send: склад\n      expect: {text: это не e-mail, state: registration.ask_email}\n"
             "    - send: sklad@example.ru\n")
    _replace(test, "    - send: Storekeeper\n",
             "    - send: Storekeeper\n      expect: {text: Your e-mail}\n    - send: store@example.com\n")
    outcomes, problems = scenarios.run_file(str(test), s, scenario_project())
    assert problems == [] and [o.failure for o in outcomes if not o.ok] == []
    assert "Уведомления придут на sklad@example.ru" in _transcript_of(test, s)


def _transcript_of(path, settings) -> str:
    """Re-run the first scenario up to the end and return what the bot said."""
    from engine import storage
    from engine.tools import scenarios
    from helpdesk.app import build_app
    scenario = scenarios.load_file(str(path))[0][0]
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        s = scenarios._settings_for(settings, scenario, tmp)
        runner = scenarios._Runner(build_app(s).engine, scenario)
        try:
            for step in scenario.steps:
                runner.do(step)
            return "\n".join(r.text for r in runner.chat.transcript)
        finally:
            storage.close()


def test_guide_add_a_menu_item(tmp_path):
    s = _copy_project(tmp_path)
    (tmp_path / "flows" / "price.yaml").write_text(
        "flow: price\ndescription: Прайс-лист\nstart: show\nstates:\n  show:\n    say: price/text\n"
        "    buttons:\n      - {text: price/btn_open, url: \"https://example.ru/price.pdf\"}\n"
        "      - {text: common/btn_back, go: done}\n  done:\n    end: true\n", encoding="utf-8")
    menu = tmp_path / "flows" / "menu.yaml"
    _replace(menu, "      - {text: menu/btn_help, go: help}\n",
             "      - {text: menu/btn_help, go: help}\n      - {text: menu/btn_price, go: price}\n")
    with open(menu, "a", encoding="utf-8") as f:
        f.write("  price:\n    call: price\n    next: main\n")
    for lang, label in (("ru", "📄 Прайс-лист"), ("en", "📄 Price list")):
        (tmp_path / "templates" / lang / "menu" / "btn_price.j2").write_text(label + "\n", encoding="utf-8")
        os.makedirs(tmp_path / "templates" / lang / "price")
        (tmp_path / "templates" / lang / "price" / "text.j2").write_text("Прайс / Price\n", encoding="utf-8")
        (tmp_path / "templates" / lang / "price" / "btn_open.j2").write_text("Open\n", encoding="utf-8")
    assert check(s) == []
    test = tmp_path / "flows" / "tests" / "price.yaml"
    test.write_text("- scenario: прайс-лист из меню\n  user: {id: 5901, language: ru}\n  steps:\n"
                    "    - send: /start\n      expect: {buttons_include: [\"📄 Прайс-лист\"]}\n"
                    "    - click: \"📄 Прайс-лист\"\n      expect: {text: Прайс, state: price.show}\n"
                    "    - click: {template: common/btn_back}\n"
                    "      expect: {text: Главное меню, state: menu.main}\n", encoding="utf-8")
    from engine.tools import scenarios
    from helpdesk.flowtools import scenario_project
    outcomes, problems = scenarios.run_file(str(test), s, scenario_project())
    assert problems == [] and [o.failure for o in outcomes] == [None]
