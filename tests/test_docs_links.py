"""The README and docs/*.md hold together: every relative link reaches a file of the
repository (and its anchor a heading there), no link leaves the repository, and every
command, make target and setting they name exists."""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path

import pytest
import typer.main
from typer.core import TyperCommand, TyperGroup, TyperOption

from datahub_api.cli import cli
from datahub_api.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^```.*?^```[ \t]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]*)\)")
BARE_URL = re.compile(r"<?\b(?:https?|ftp|mailto):[^\s)>]*|<[^\s>]+@[^\s>]+>")
HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def _prose(text: str) -> str:
    """The text outside fenced code blocks and code spans."""
    return CODE_SPAN.sub(" ", FENCE.sub("", text))


def _code(text: str) -> list[str]:
    """Each code span, and each line of each fenced code block."""
    pieces = [line for block in FENCE.findall(text) for line in block.splitlines()]
    pieces += [match.group(2) for match in CODE_SPAN.finditer(FENCE.sub("", text))]
    return [" ".join(piece.split()) for piece in pieces]


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: the text without markup, lower-case, without
    punctuation, spaces as hyphens."""
    text = CODE_SPAN.sub(lambda m: m.group(2), heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text).lower()
    kept = "".join(
        c for c in text if c in " -_" or unicodedata.category(c)[0] in "LM" or c.isdecimal()
    )
    return kept.replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    found = set()
    for match in HEADING.finditer(FENCE.sub("", page.read_text())):
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def test_slugs_are_githubs() -> None:
    assert slug("Installation data (data service `IG`)") == "installation-data-data-service-ig"
    assert slug("Gas: m³, kWh and gas days") == "gas-m-kwh-and-gas-days"
    assert slug("Budgets and throttles (shared by every process)") == (
        "budgets-and-throttles-shared-by-every-process"
    )


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_links_stay_inside_the_repository_and_resolve(page: Path) -> None:
    prose = _prose(page.read_text())
    external = BARE_URL.findall(prose)
    assert not external, f"links outside the repository: {external}"
    broken = []
    for target in LINK.findall(prose):
        path_part, _, anchor = target.partition("#")
        if re.match(r"^[a-z][a-z0-9+.-]*:|^/", path_part):
            broken.append(f"{target} (not a relative link)")
            continue
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.is_relative_to(ROOT) or not linked.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and (linked.suffix != ".md" or anchor not in anchors(linked)):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"broken links in {_page_id(page)}: {broken}"


def test_every_doc_page_is_listed_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for page in PAGES[1:]:
        assert f"](docs/{page.name})" in readme, f"the README does not list {page.name}"


Command = TyperGroup | TyperCommand


@cache
def _root_command() -> TyperGroup:
    command = typer.main.get_command(cli)
    assert isinstance(command, TyperGroup)
    return command


def _option_names(command: Command) -> set[str]:
    names = {"--help"}
    for parameter in command.params:
        if isinstance(parameter, TyperOption):
            names.update(parameter.opts)
            names.update(parameter.secondary_opts)
    return names


def _command_problems(words: list[str]) -> list[str]:
    """What is wrong with ``datahub-api`` followed by ``words`` (as written in the docs:
    alternatives as ``a|b``, optional parts in brackets, placeholders in capitals)."""
    commands: list[Command] = [_root_command()]
    path = "datahub-api"
    for word in words:
        if word in {"&&", "|", ";", ">", "2>&1"} or word.startswith(("#", ")", '"')):
            break
        bare = word.strip("[]()\"'.,;:")
        if bare.startswith("-"):
            option = bare.split("=")[0]
            if not any(option in _option_names(c) for c in commands):
                return [f"{path}: no option {option}"]
            continue
        group = commands[0]
        if isinstance(group, TyperGroup):
            names = bare.replace("\\|", "|").split("|")
            found = [group.commands.get(name) for name in names]
            if not bare or None in found:
                return [f"{path}: no command {bare!r}"]
            commands = [c for c in found if isinstance(c, Command)]
            path = f"{path} {bare}"
    return []


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_command_written_is_real(page: Path) -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.MULTILINE))
    problems = []
    for code in _code(page.read_text()):
        for match in re.finditer(r"(?<![\w-])datahub-api((?: +[^ ]+)*)", code):
            words = match.group(1).split()
            if words and re.fullmatch(r"[a-z][a-z-]*(\\?\|[a-z-]+)*", words[0]):
                problems += _command_problems(words)
        for target in re.findall(r"(?<![\w-])make ([a-z][a-z-]*)", code):
            if target not in targets:
                problems.append(f"make {target}: no such target in the Makefile")
    assert not problems, f"{_page_id(page)}: {problems}"


def _variables_read_by_code() -> set[str]:
    names = {"DATABASE_URL"} | {f"DATAHUB_{name.upper()}" for name in Settings.model_fields}
    for source in [*(ROOT / "src").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]:
        names.update(re.findall(r"[\"'](DATAHUB_[A-Z0-9_]+)[\"']", source.read_text()))
    return names


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_setting_named_exists(page: Path) -> None:
    known = _variables_read_by_code()
    unknown = []
    for name, star in re.findall(r"\b(DATAHUB_[A-Z0-9_]*[A-Z0-9])(_?\*?)", page.read_text()):
        if star.endswith("*"):
            if not any(k.startswith(name + star[:-1]) for k in known):
                unknown.append(name + star)
        elif name not in known:
            unknown.append(name)
    assert not unknown, f"{_page_id(page)} names settings the code does not read: {unknown}"
