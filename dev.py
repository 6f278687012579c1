#!/usr/bin/env python3
"""Set up and run, with nothing installed but Python 3.11:

    python3 dev.py demo    # venv + dependencies, demo data, the terminal chat
    python3 dev.py test    # venv + test dependencies, the whole test suite
    python3 dev.py lock    # re-resolve .ci/constraints.txt (after changing a dependency)
    python3 dev.py census  # re-count what each test sends to PostgreSQL (tests/support/census.py)

Both install the exact versions of .ci/constraints.txt (pip's constraints file), so what
runs here is what CI ran; pyproject.toml's floors are those versions (tests/test_lint.py).

`test` runs the linter first (ruff, configured in pyproject.toml: pyflakes, bugbear, import
order) and stops on any finding, then the suite on SQLite and, side by side with it, on
PostgreSQL when TEST_DATABASE_URL is set or a local server answers at 127.0.0.1:5432
(database `test`, trust auth), with only the tests that can meet PostgreSQL (tests/conftest.py
says which) less those a statement census found to repeat what others send it
(tests/support/pg_repeats.txt, rewritten by `census`; docs/architecture.md, "The two test
passes"). Each pass uses pytest-xdist workers (PARALLEL, PG_PARALLEL), a test file per
worker (its module fixtures stay together), each worker with a PostgreSQL database of its own
(tests/support/database.py); `-n 0` runs serially. Each pass's output goes to a file and is
printed whole when it ends, SQLite's first, so the two never interleave. It exits non-zero
when either pass fails, and also when no test ran at all. Extra arguments go to both passes.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import venv

ROOT = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(ROOT, ".venv")
PY = os.path.join(VENV, "Scripts" if os.name == "nt" else "bin", "python")
CONSTRAINTS = os.path.join(ROOT, ".ci", "constraints.txt")
EXTRAS = "test,postgres,report,bench"      # every extra, so each has its versions locked
LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/test"
# Most tests wait on sockets and subprocesses, not the CPU: three workers on two cores took the
# suite from ~13 to ~5.5 minutes per backend, measured on this project's 2-core machine.
PARALLEL = ["-n", "3", "--dist", "loadfile"]
# The PostgreSQL pass runs beside the SQLite one (both mostly wait) and, with a third of the
# tests, takes as many worker-seconds (every statement a round trip): measured side by side
# under load, SQLite 992 s on 3 workers and PostgreSQL 1,505 s on 2, ~3,000 worker-seconds
# each. So it gets as many workers, and the two passes end about together.
PG_PARALLEL = ["-n", "3", "--dist", "loadfile"]


def setup(extra: str) -> None:
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"Python 3.11 is what CI runs and pyproject.toml admits; this is "
                 f"{sys.version.split()[0]}: run it with python3.11")
    if not os.path.exists(PY):
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    spec = f".[{extra}]" if extra else "."
    marker = os.path.join(VENV, f".installed-{extra or 'base'}")
    stamp = " ".join(str(os.path.getmtime(p)) for p in (os.path.join(ROOT, "pyproject.toml"), CONSTRAINTS))
    if os.path.exists(marker) and open(marker).read() == stamp:
        return
    print(f"installing {spec} ...", flush=True)
    # --no-compile: byte-compiling every installed module took most of a fresh install, and
    # Python compiles what it imports anyway
    run([PY, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-compile",
         "-c", CONSTRAINTS, "-e", spec])
    with open(marker, "w") as f:
        f.write(stamp)


def lock() -> None:
    """Resolve every extra afresh (pip's dry run, nothing installed) into CONSTRAINTS."""
    import json
    import tempfile
    setup("")
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        run([PY, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--dry-run",
             "--ignore-installed", "--report", report, "-e", f".[{EXTRAS}]"])
        with open(report) as f:
            found = [i["metadata"] for i in json.load(f)["install"]]
    pins = sorted((m["name"], m["version"]) for m in found if m["name"] != "helpdesk-bot")
    with open(CONSTRAINTS) as f:
        head = [line for line in f if line.startswith("#")]
    with open(CONSTRAINTS, "w") as f:
        f.writelines(head)
        f.writelines(f"{name}=={version}\n" for name, version in sorted(pins, key=lambda p: p[0].lower()))
    print(f"{len(pins)} versions in {CONSTRAINTS}; raise pyproject.toml's floors to them")


def run(cmd: list[str], env: dict | None = None) -> int:
    code = subprocess.call(cmd, cwd=ROOT, env=env)
    if code:
        sys.exit(code)
    return code


def postgres_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL", "")
    if url:
        return url
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return ""
    return LOCAL_PG


def lint() -> None:
    print("== ruff check ==", flush=True)
    if subprocess.call([PY, "-m", "ruff", "check", "."], cwd=ROOT):
        sys.exit("ruff found problems (above): fix them, `ruff check --fix .` sorts imports")


def test(args: list[str]) -> None:
    setup("test")
    lint()
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
    passes = [("SQLite", [PY, "-m", "pytest", "-q", *PARALLEL, *args], env)]
    url = postgres_url()
    if url:
        # only the tests that can meet PostgreSQL (tests/conftest.py): the rest run on SQLite
        passes.append(("PostgreSQL", [PY, "-m", "pytest", "-q", *PG_PARALLEL, *args],
                       {**env, "TEST_DATABASE_URL": url, "TEST_BACKEND_PASS": "postgresql"}))
    else:
        print("== PostgreSQL: skipped (no TEST_DATABASE_URL and nothing answers at 127.0.0.1:5432) ==")
    print(f"== running the suite on {' and '.join(name for name, _, _ in passes)}"
          f" (each pass's output when it ends) ==", flush=True)
    codes = run_side_by_side(passes)
    failed = [name for (name, _, _), code in zip(passes, codes, strict=True) if code]
    if failed:
        sys.exit(f"the test suite failed on {' and '.join(failed)} (exit codes {codes})")


def run_side_by_side(passes: list[tuple[str, list[str], dict]]) -> list[int]:
    """Start every pass at once, each writing to a file of its own; print each file whole,
    in the given order, as soon as it and those before it have ended. Their exit codes
    (pytest's 5 when no test ran, so that fails too)."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix="dev-test-") as tmp:
        running = []
        try:
            for i, (name, cmd, env) in enumerate(passes):
                out = open(os.path.join(tmp, f"{i}.out"), "w+b")
                running.append((name, out, subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out,
                                                            stderr=subprocess.STDOUT)))
            codes = []
            for name, out, proc in running:
                code = proc.wait()
                out.seek(0)
                print(f"== test suite on {name} ==", flush=True)
                sys.stdout.buffer.write(out.read())
                sys.stdout.flush()
                codes.append(code)
            return codes
        finally:
            for _, out, proc in running:
                if proc.poll() is None:        # Ctrl-C, or an error above: stop the rest
                    proc.terminate()
                    proc.wait()
                out.close()


def census(args: list[str]) -> None:
    """The PostgreSQL pass with every test and a census of the statements each sends, then
    tests/support/pg_repeats.txt rewritten from it: the tests whose statements others send
    too, which the PostgreSQL pass of `test` then leaves out (they run on SQLite)."""
    import tempfile
    setup("test")
    url = postgres_url()
    if not url:
        sys.exit("census needs PostgreSQL: set TEST_DATABASE_URL or start one at 127.0.0.1:5432")
    with tempfile.TemporaryDirectory(prefix="census-") as folder:
        env = {**os.environ, "TEST_DATABASE_URL": url, "TEST_BACKEND_PASS": "postgresql",
               "TEST_STATEMENT_CENSUS": folder}
        run([PY, "-m", "pytest", "-q", *PG_PARALLEL, *args], env=env)
        run([PY, "-m", "tests.support.census", folder])


def demo(args: list[str]) -> None:
    setup("")
    os.execv(PY, [PY, os.path.join(ROOT, "run.py"), "demo", *args])


if __name__ == "__main__":
    commands = {"test": test, "demo": demo, "lock": lambda args: lock(), "census": census}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](sys.argv[2:])
