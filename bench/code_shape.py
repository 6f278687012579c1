"""The shape of the code (issue 12's measure): function length median/p90/max and the
modules over 400 lines, over engine/, helpdesk/ and integrations/. Prints JSON.

    python bench/code_shape.py [ROOT]      # ROOT: a checkout (default: this one)
"""
from __future__ import annotations

import ast
import json
import os
import statistics
import sys

PACKAGES = ("engine", "helpdesk", "integrations")
BIG = 400


def measure(root: str) -> dict:
    lengths: list[int] = []
    big: dict[str, int] = {}
    for package in PACKAGES:
        for folder, _, files in os.walk(os.path.join(root, package)):
            for name in sorted(f for f in files if f.endswith(".py")):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as f:
                    source = f.read()
                if source.count("\n") > BIG:
                    big[os.path.relpath(path, root)] = source.count("\n")
                lengths += [n.end_lineno - n.lineno + 1 for n in ast.walk(ast.parse(source))
                            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    lengths.sort()
    return {"functions": len(lengths), "median_lines": statistics.median(lengths),
            "p90_lines": lengths[int(len(lengths) * 0.9)], "max_lines": lengths[-1],
            f"modules_over_{BIG}_lines": dict(sorted(big.items(), key=lambda kv: -kv[1]))}


if __name__ == "__main__":
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    print(json.dumps(measure(sys.argv[1] if len(sys.argv) > 1 else here), indent=2))
