"""Pictures of the flows: `command()` (a project's `flows draw`) writes, for every flow,
`<out_dir>/<flow>.mmd` (Mermaid stateDiagram-v2, always) and `<flow>.svg` + `<flow>.png`
when Graphviz's `dot` program is on PATH, plus `<out_dir>/README.md` showing them all.

The graph is built straight from the parsed `Flow` objects rather than through
transitions' GraphMachine: the compiled machines know only states and triggers, while an
admin needs what the YAML says: texts, questions, button labels, conditions, actions,
sub-flow calls and timeouts; an action's outcomes (`on:`) are edges labelled with the
outcome. Both renderers (Mermaid text, DOT for Graphviz) share one
small graph model.
"""
from __future__ import annotations

import glob
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Callable

from ..checker import parse_all
from ..flowmodel import CONTINUE, ButtonSpec, Flow, State
from ..templates import strip_braces

__all__ = ["Graph", "build_graph", "to_mermaid", "to_dot", "draw", "command", "OUT_DIR"]

log = logging.getLogger(__name__)
OUT_DIR = "docs/flows"
START, END = "[*]", "[*]"
GENERATED = (".mmd", ".svg", ".png")
_MM_CODES = {"#": "#35;", ";": "#59;", "<": "#lt;", ">": "#gt;", '"': "#quot;", "{": "#123;",
             "}": "#125;", "\n": " "}
_MERMAID_WORDS = {"end", "state", "note", "direction", "class", "classdef", "click", "style",
                  "as", "default", "left", "right", "of"}


@dataclass
class Node:
    name: str
    kind: str                     # wait | auto | call | end
    lines: list[str] = field(default_factory=list)


@dataclass
class Edge:
    src: str
    dst: str                      # a state name, or END
    label: str = ""


@dataclass
class Graph:
    flow: Flow
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


# -- the model --------------------------------------------------------------------------
def build_graph(flow: Flow) -> Graph:
    """States with what they do, and every way between them, from a parsed flow."""
    g = Graph(flow)
    for st in flow.states.values():
        g.nodes.append(Node(st.name, _kind(st), _lines(st)))
        g.edges += _edges(st)
    return g


def _kind(st: State) -> str:
    return "call" if st.call else "wait" if st.waits else "end" if st.end else "auto"


def _lines(st: State) -> list[str]:
    out = [f"when {_cond(st.when[0])} (else skipped)"] if st.when else []
    out += [f"do {_action(c)}" for c in st.do]
    out += [f"outcome {outcome}: goes on here" for outcome, (go, _) in st.on.items() if go == CONTINUE]
    out += [f"say {text}" for text, _ in st.say]
    if st.ask:
        out.append(_ask(st.ask))
    if st.dynamic:
        out.append(f"buttons from {st.dynamic.source}" + (f" → {st.dynamic.save}" if st.dynamic.save else ""))
    out += [f"link {b.text}: {b.url}" for b in st.all_buttons() if b.url]
    if st.call:
        out.append(f"call flow {st.call[0]}")
    if st.timeout:
        out += _timeout(st.timeout)
    return out


def _action(call) -> str:
    args = ", ".join(f"{k}={v}" for k, v in call.args.items())
    return f"{call.name}({args})" + (f" → {call.save}" if call.save else "")


def _ask(spec: dict) -> str:
    options = [f"{k} {spec[k]}" for k in ("min", "max", "accept", "max_size") if k in spec]
    options += [f"options {', '.join(map(str, spec['options']))}"] if spec.get("options") else []
    options += ["many"] if spec.get("many") else []
    text = f"ask {spec.get('type', 'text')}" + (f" ({', '.join(options)})" if options else "")
    return text + (f" → {spec['save']}" if spec.get("save") else "")


def _timeout(spec: dict) -> list[str]:
    out = [f"remind after {spec['remind_after']}: {spec.get('remind')}"] if spec.get("remind_after") else []
    return out + ([f"abandon after {spec['abandon_after']}: {spec.get('abandon')}"]
                  if spec.get("abandon_after") else [])


def _cond(source: str | None) -> str:
    return strip_braces(source or "")


def _edges(st: State) -> list[Edge]:
    edges = [Edge(st.name, go, f"outcome {outcome}") for outcome, (go, _) in st.on.items() if go != CONTINUE]
    edges += [_button_edge(st, b) for b in st.all_buttons() if b.go]
    edges += [Edge(st.name, t, _button_label(b)) for b in st.all_buttons()
              if b.save and not b.go and not b.url for t in _next_targets(st)]
    if st.dynamic:
        label = f"button from {st.dynamic.source}"
        edges += [Edge(st.name, st.dynamic.go, label)] if st.dynamic.go else \
            [Edge(st.name, t, label) for t in _next_targets(st)]
    edges += _next_edges(st)
    if st.end:
        edges.append(Edge(st.name, END, "end (back to the caller or the menu)"))
    if st.timeout and st.timeout.get("abandon_after"):
        edges.append(Edge(st.name, END, f"no answer for {st.timeout['abandon_after']}"))
    return edges


def _button_edge(st: State, b: ButtonSpec) -> Edge:
    return Edge(st.name, b.go, _button_label(b))


def _button_label(b: ButtonSpec) -> str:
    label = f"button {b.text}"
    if b.save:
        label += f" → {b.save}={b.value}"
    return label + (f" (if {_cond(b.when)})" if b.when else "")


def _next_targets(st: State) -> list[str]:
    return [t.go for t in st.next]


def _next_edges(st: State) -> list[Edge]:
    """`next`: after an answer (ask), after a sub-flow returns (call), or straight on."""
    if st.waits and not st.ask:
        return []      # buttons without `go` already lead to `next`
    why = "answer" if st.ask else f"{st.call[0]} done" if st.call else ""
    edges = []
    for i, t in enumerate(st.next):
        cond = f"if {_cond(t.cond)}" if t.cond else ("otherwise" if i else "")
        edges.append(Edge(st.name, t.go, ", ".join(p for p in (why, cond) if p) or "next"))
    return edges


# -- Mermaid ----------------------------------------------------------------------------
def to_mermaid(g: Graph) -> str:
    """A Mermaid stateDiagram-v2 (GitHub and GitLab render it in Markdown)."""
    f = g.flow
    title = f"{f.name} — {f.description}" if f.description else f.name
    out = ["---", f"title: {_yaml_str(title)}", "---", "stateDiagram-v2"]
    out += [f"    %% generated from {f.file} by `python run.py flows draw`; do not edit"]
    out += [f"    state \"{_mm(n.name)}\" as {_mid(n.name)}" for n in g.nodes if _mid(n.name) != n.name]
    if f.start in f.states:
        out.append(f"    {START} --> {_mid(f.start)}")
    for n in g.nodes:
        out += [f"    {_mid(n.name)} : {_mm(line)}" for line in n.lines]
    for e in g.edges:
        dst = END if e.dst == END else _mid(e.dst)
        out.append(f"    {_mid(e.src)} --> {dst}" + (f" : {_mm(e.label)}" if e.label else ""))
    out += _mermaid_classes(g)
    return "\n".join(out) + "\n"


def _mermaid_classes(g: Graph) -> list[str]:
    styles = {"wait": "fill:#e3f2fd,stroke:#1565c0", "call": "fill:#fff8e1,stroke:#f9a825",
              "end": "fill:#e8f5e9,stroke:#2e7d32", "auto": "fill:#f5f5f5,stroke:#616161"}
    out = []
    for kind, style in styles.items():
        names = [_mid(n.name) for n in g.nodes if n.kind == kind]
        if names:   # class names get a suffix: `end` is a Mermaid keyword
            out += [f"    classDef {kind}s {style}", f"    class {','.join(names)} {kind}s"]
    return out


def _yaml_str(text: str) -> str:
    """A double-quoted YAML scalar for the front matter."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _mid(name: str) -> str:
    """A Mermaid state id: keywords (`end`, `state` ...) would break the diagram."""
    return f"{name}_" if name.lower() in _MERMAID_WORDS else name


def _mm(text: str) -> str:
    """Text safe on one Mermaid line: its entity codes for the characters it parses."""
    return "".join(_MM_CODES.get(ch, ch) for ch in str(text))


# -- Graphviz ---------------------------------------------------------------------------
def to_dot(g: Graph) -> str:
    """The same graph in Graphviz's DOT language (rendered by the `dot` program)."""
    colors = {"wait": "#e3f2fd", "call": "#fff8e1", "end": "#e8f5e9", "auto": "#f5f5f5"}
    out = [f"digraph {_q(g.flow.name)} {{",
           f"  label={_q(g.flow.name + (': ' + g.flow.description if g.flow.description else ''))};",
           "  labelloc=t; rankdir=TB; fontname=\"DejaVu Sans\";",
           "  node [shape=box, style=\"rounded,filled\", fontname=\"DejaVu Sans\", fontsize=10];",
           "  edge [fontname=\"DejaVu Sans\", fontsize=9];",
           "  __start [shape=circle, label=\"\", width=0.2, style=filled, fillcolor=black];",
           "  __end [shape=doublecircle, label=\"\", width=0.15, style=filled, fillcolor=black];"]
    if g.flow.start in g.flow.states:
        out.append(f"  __start -> {_q(g.flow.start)};")
    for n in g.nodes:
        label = "\\n".join([_esc(n.name)] + [_esc(line) for line in n.lines])
        out.append(f"  {_q(n.name)} [label=\"{label}\", fillcolor=\"{colors[n.kind]}\"];")
    for e in g.edges:
        dst = "__end" if e.dst == END else _q(e.dst)
        out.append(f"  {_q(e.src)} -> {dst} [label={_q(e.label)}];")
    return "\n".join(out + ["}"]) + "\n"


def _esc(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def _q(text: str) -> str:
    return f"\"{_esc(text)}\""


def _render(dot_program: str, dot_text: str, target: str) -> bool:
    fmt = os.path.splitext(target)[1][1:]
    try:
        subprocess.run([dot_program, f"-T{fmt}", "-o", target], input=dot_text.encode(),
                       check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        detail = getattr(e, "stderr", b"") or b""
        log.warning("dot could not draw %s: %s %s", target, e, detail.decode(errors="replace"))
        return False
    return True


# -- files ------------------------------------------------------------------------------
def draw(flows: dict[str, Flow], out_dir: str, dot_program: str | None = None) -> list[str]:
    """Write the diagrams of `flows` to `out_dir`; remove those of flows that are gone.
    Returns the written paths. `dot_program=None` looks for `dot` on PATH."""
    os.makedirs(out_dir, exist_ok=True)
    dot_program = dot_program if dot_program is not None else shutil.which("dot")
    written = []
    for flow in sorted(flows.values(), key=lambda f: f.name):
        written += _draw_one(build_graph(flow), out_dir, dot_program)
    _remove_stale(out_dir, set(flows))
    written.append(_write(os.path.join(out_dir, "README.md"), _index(flows)))
    return written


def _draw_one(g: Graph, out_dir: str, dot_program: str | None) -> list[str]:
    base = os.path.join(out_dir, g.flow.name)
    written = [_write(base + ".mmd", to_mermaid(g))]
    if dot_program:
        dot_text = to_dot(g)
        written += [p for p in (base + ".svg", base + ".png") if _render(dot_program, dot_text, p)]
    return written


def _write(path: str, text: str) -> str:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def _remove_stale(out_dir: str, names: set[str]) -> None:
    for path in glob.glob(os.path.join(out_dir, "*")):
        stem, ext = os.path.splitext(os.path.basename(path))
        if ext in GENERATED and stem not in names:
            os.remove(path)


def _index(flows: dict[str, Flow]) -> str:
    out = ["# Диаграммы диалогов / Flow diagrams", "",
           "Сгенерировано командой `python run.py flows draw` из `flows/*.yaml`; не редактируйте вручную.",
           "Generated by `python run.py flows draw` from `flows/*.yaml`; do not edit by hand.",
           "Legend: blue = waits for the user, yellow = calls a sub-flow, green = ends, grey = runs on.",
           "How to read them: [docs/flows.md](../flows.md).", ""]
    for flow in sorted(flows.values(), key=lambda f: f.name):
        out += [f"## {flow.name}" + (f": {flow.description}" if flow.description else ""), "",
                f"Source: `{flow.file}`", "", "```mermaid", to_mermaid(build_graph(flow)).rstrip(), "```", ""]
    return "\n".join(out)


def command(flows_dir: str, out_dir: str, root: str, check: Callable[[], list[str]]) -> int:
    """`flows draw`: draw every flow that parses; report problems too (`check()` gives the
    full checker's, run only when every file parses). Paths are printed relative to `root`."""
    flows, parse_problems = parse_all(flows_dir, root)
    written = draw(flows, out_dir)
    for path in written:
        print(os.path.relpath(path, root))
    if not shutil.which("dot"):
        print("note: Graphviz `dot` is not installed: only Mermaid (.mmd) files were written "
              "(apt-get install graphviz for SVG/PNG)", file=sys.stderr)
    problems = parse_problems or check()
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s): the diagrams show the files as they are; "
              "run `python run.py flows check`", file=sys.stderr)
    return 1 if problems else 0
