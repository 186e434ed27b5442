"""Every module of ``datahub_api`` imports on its own.

An import cycle hides behind import order: ``import a`` works when ``b`` happens to be loaded
first and fails when it is not. So each module is imported first, in a process where no other
module of the package is loaded yet. One helper process lists the modules and loads the
third-party libraries once, then forks a child per module (a fork is a fresh ``datahub_api``
without paying for FastAPI, SQLAlchemy and matplotlib again); the layers themselves are the
import-linter contracts in ``pyproject.toml``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

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
