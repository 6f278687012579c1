"""`python run.py flows draw`: a Mermaid file per flow always, SVG and PNG through Graphviz
when `dot` is installed; the committed docs/flows/*.mmd match the flows."""
from __future__ import annotations

import os
import shutil
import stat
import sys

import pytest

from engine.checker import parse_all
from engine.flows import parse_flow_file
from engine.tools import diagrams
from helpdesk.app import PROJECT_ROOT
from helpdesk.ops import cli

HERE = os.path.dirname(__file__)
ORDER = os.path.join(HERE, "fixtures", "diagram_flows", "order.yaml")


@pytest.fixture
def order():
    flow, problems = parse_flow_file(ORDER, "tests/engine/tools/fixtures/diagram_flows/order.yaml")
    assert problems == []
    return flow


def test_mermaid_shows_states_buttons_conditions_calls_actions_and_timeouts(order):
    text = diagrams.to_mermaid(diagrams.build_graph(order))
    lines = text.splitlines()
    assert lines[:4] == ["---", 'title: "order — Заказ \\"для теста\\"; #1 <b>"', "---", "stateDiagram-v2"]
    expected = [
        '    state "state" as state_',                 # Mermaid keywords are renamed, shown as is
        '    state "end" as end_',
        "    [*] --> state_",
        "    state_ : when user.role != 'USER' and 1 #lt; 2 (else skipped)",
        "    state_ : do note(text=a#59;b#35;c) → noted",
        "    state_ : say order/hello",
        "    state_ : ask choice (options Да#59; конечно, #lt;нет#gt;) → answer",
        "    state_ : remind after 1m: order/remind",
        "    end_ : link order/btn_site: https://example.com/a?b=1#35;x",
        "    pay : call flow payment",
        "    pick : buttons from list_items → item",
        "    state_ --> end_ : answer, if answer == 'Да#59; конечно'",
        "    state_ --> pay : answer, otherwise",
        "    state_ --> [*] : no answer for 2h",
        "    end_ --> state_ : button order/btn_again (if tries #gt; 1)",
        "    end_ --> pay : button order/btn_pay",
        "    end_ --> pay : button order/btn_kind → kind=big",  # saves, then the state's next
        "    pay --> pick : payment done",
        "    pick --> end_ : button order/btn_back",
        "    pick --> done : button from list_items",
        "    done --> [*] : end (back to the caller or the menu)",
        "    class state_,end_,pick waits",
        "    class pay calls",
    ]
    assert [line for line in expected if line not in lines] == []


def test_outcomes_are_edges_labelled_with_the_outcome(tmp_path):
    path = tmp_path / "o.yaml"
    path.write_text("flow: o\nstart: create\nstates:\n  create:\n    do: ticket_submit\n"
                    "    on: {created: continue, duplicate: duplicate, refused: finish}\n"
                    "    say: ticket/created\n    end: true\n  duplicate:\n    say: ticket/duplicate\n"
                    "    end: true\n  finish:\n    end: true\n", encoding="utf-8")
    flow, problems = parse_flow_file(str(path), "o.yaml")
    assert problems == []
    lines = diagrams.to_mermaid(diagrams.build_graph(flow)).splitlines()
    assert "    create --> duplicate : outcome duplicate" in lines
    assert "    create --> finish : outcome refused" in lines
    assert "    create : outcome created: goes on here" in lines
    assert not any(line.startswith("    create --> continue") for line in lines)
    dot = diagrams.to_dot(diagrams.build_graph(flow))
    assert '"create" -> "duplicate" [label="outcome duplicate"];' in dot


def test_dot_has_the_same_graph(order):
    text = diagrams.to_dot(diagrams.build_graph(order))
    assert text.startswith('digraph "order" {')
    assert '"state" -> "end" [label="answer, if answer == \'Да; конечно\'"];' in text
    assert '"pay" [label="pay\\ncall flow payment", fillcolor="#fff8e1"];' in text
    assert '"done" -> __end [label="end (back to the caller or the menu)"];' in text
    assert '__start -> "state";' in text


def test_draw_writes_mermaid_without_graphviz_and_removes_stale(order, tmp_path):
    (tmp_path / "gone.mmd").write_text("old")
    (tmp_path / "gone.svg").write_text("old")
    (tmp_path / "notes.txt").write_text("not ours")
    written = diagrams.draw({"order": order}, str(tmp_path), dot_program="")
    assert sorted(os.path.basename(p) for p in written) == ["README.md", "order.mmd"]
    assert sorted(os.listdir(tmp_path)) == ["README.md", "notes.txt", "order.mmd"]
    readme = (tmp_path / "README.md").read_text()
    assert "## order: " in readme and "```mermaid\n---\ntitle:" in readme


def test_draw_pipes_dot_text_to_graphviz_for_svg_and_png(order, tmp_path):
    """A stand-in `dot` program records its input and arguments and writes the file."""
    fake = tmp_path / "dot"
    fake.write_text(f"#!{sys.executable}\n"
                    "import sys\n"
                    "data = sys.stdin.read()\n"
                    "out = sys.argv[sys.argv.index('-o') + 1]\n"
                    "open(out, 'w').write(sys.argv[1] + '\\n' + data)\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    out = tmp_path / "out"
    written = diagrams.draw({"order": order}, str(out), dot_program=str(fake))
    assert sorted(os.path.basename(p) for p in written) == ["README.md", "order.mmd", "order.png", "order.svg"]
    assert (out / "order.svg").read_text().startswith('-Tsvg\ndigraph "order" {')
    assert (out / "order.png").read_text().startswith('-Tpng\ndigraph "order" {')


def test_a_failing_dot_still_leaves_the_mermaid_file(order, tmp_path):
    written = diagrams.draw({"order": order}, str(tmp_path), dot_program="/bin/false")
    assert sorted(os.path.basename(p) for p in written) == ["README.md", "order.mmd"]


@pytest.mark.skipif(not shutil.which("dot"), reason="Graphviz is not installed")
def test_real_graphviz_draws_svg_and_png(order, tmp_path):
    diagrams.draw({"order": order}, str(tmp_path))
    assert (tmp_path / "order.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    assert (tmp_path / "order.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_committed_diagrams_are_current():
    """docs/flows/<flow>.mmd must match flows/<flow>.yaml: run `python run.py flows draw`."""
    flows, _ = parse_all(os.path.join(PROJECT_ROOT, "flows"), PROJECT_ROOT)
    stale = []
    for name, flow in flows.items():
        path = os.path.join(PROJECT_ROOT, "docs", "flows", name + ".mmd")
        current = diagrams.to_mermaid(diagrams.build_graph(flow))
        if not os.path.exists(path) or open(path, encoding="utf-8").read() != current:
            stale.append(name)
    assert stale == [], "redraw with: python run.py flows draw"


def test_cli_draw(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(diagrams, "OUT_DIR", str(tmp_path))
    cli.main(["flows", "draw"])
    assert os.path.exists(tmp_path / "menu.mmd") and os.path.exists(tmp_path / "README.md")
    assert "menu.mmd" in capsys.readouterr().out
