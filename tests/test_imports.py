"""No import cycle, and every module of ``datahub_api`` imports on its own.

An import cycle hides behind import order: ``import a`` works when ``b`` happens to be loaded
first and fails when it is not. So the module graph (grimp's, which import-linter reads) must
have no cycle at all, and each module is imported first, in a process where no other module of
the package is loaded yet: one helper process lists the modules and loads the third-party
libraries once, then forks a child per module (a fork is a fresh ``datahub_api`` without
paying for FastAPI, SQLAlchemy and matplotlib again). The layers themselves are the
import-linter contracts in ``pyproject.toml``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import grimp

# Run in a fresh interpreter; prints one JSON object: {"modules": n, "failures": {name: text}}.
ISOLATED_IMPORTS = textwrap.dedent(
    """
    import importlib, json, os, pkgutil, sys, traceback

    PACKAGE = "datahub_api"

    def ours(name):
        return name == PACKAGE or name.startswith(PACKAGE + ".")

    def forget_ours():
        for name in [name for name in sys.modules if ours(name)]:
            del sys.modules[name]

    def in_child(work):
        # Run ``work`` in a forked child; its exit status is the answer, stderr its story.
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            status = 0
            try:
                os.write(write_end, (work() or "").encode())
            except BaseException:
                os.write(write_end, traceback.format_exc().encode())
                status = 1
            os._exit(status)
        os.close(write_end)
        chunks = []
        while chunk := os.read(read_end, 65536):
            chunks.append(chunk)
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status), b"".join(chunks).decode()

    package = importlib.import_module(PACKAGE)
    names = sorted(
        info.name for info in pkgutil.walk_packages(package.__path__, PACKAGE + ".")
    )
    forget_ours()

    def load_everything():
        for name in names:
            importlib.import_module(name)
        return "\\n".join(name for name in sys.modules if not ours(name))

    # The libraries every module needs, loaded once here so each child only loads ours.
    code, libraries = in_child(load_everything)
    if code == 0:
        for name in libraries.splitlines():
            try:
                importlib.import_module(name)
            except BaseException:
                pass
    forget_ours()

    failures = {}
    for name in names:
        code, story = in_child(lambda: importlib.import_module(name) and None)
        if code != 0:
            failures[name] = story
    print(json.dumps({"modules": len(names), "failures": failures}))
    """
)


def test_every_module_imports_on_its_own() -> None:
    result = subprocess.run(
        [sys.executable, "-c", ISOLATED_IMPORTS],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["modules"] > 100, answer
    failures: dict[str, str] = answer["failures"]
    assert failures == {}, "\n".join(f"{name}:\n{story}" for name, story in failures.items())


def import_cycles() -> list[list[str]]:
    """The groups of modules of ``datahub_api`` that import each other (strongly connected
    components of more than one module), counting every import: at module level, inside a
    function and under ``TYPE_CHECKING``."""
    graph = grimp.build_graph("datahub_api", cache_dir=None)
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's algorithm
        order[module] = low[module] = len(order)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in order:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], order[imported])
        if low[module] == order[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in order:
            visit(module)
    return groups


def test_no_import_cycle() -> None:
    assert import_cycles() == []


def test_tests_share_helpers_through_support_only() -> None:
    """A test module imports no other test module and no conftest: what tests share lives
    in ``tests/support``."""
    tests = Path(__file__).parent
    pattern = re.compile(
        r"^\s*(?:from|import)\s+(?:\.+|tests\.)(?:[\w.]*\.)?(?:test_\w+|conftest)\b", re.M
    )
    offenders = [
        str(path.relative_to(tests))
        for path in sorted(tests.rglob("*.py"))
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
