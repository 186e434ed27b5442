"""The portal's words: Dutch and English have the same keys and placeholders in every text
table, no key is defined twice, every literal key a template reads exists, and a missing
key fails loudly instead of rendering as nothing."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from jinja2 import Environment

from datahub_api.portal import i18n
from datahub_api.portal.i18n import LANGUAGES, MissingText, Words, placeholders, text_tables

TEMPLATES = Path(i18n.__file__).parent / "templates"


@pytest.mark.parametrize("name", sorted(text_tables()))
def test_every_language_has_the_same_keys(name: str) -> None:
    table = text_tables()[name]
    assert sorted(table) == sorted(LANGUAGES)
    dutch = set(table["nl"])
    for language in LANGUAGES:
        assert set(table[language]) - dutch == set(), f"{name}: only in {language}"
        assert dutch - set(table[language]) == set(), f"{name}: missing in {language}"


@pytest.mark.parametrize("name", sorted(text_tables()))
def test_every_language_has_the_same_placeholders(name: str) -> None:
    table = text_tables()[name]
    differing = {
        key: {language: sorted(placeholders(table[language][key])) for language in LANGUAGES}
        for key in table["nl"]
        if len({frozenset(placeholders(table[language].get(key, ""))) for language in LANGUAGES})
        > 1
    }
    assert differing == {}


def test_no_key_is_in_two_tables() -> None:
    """A later table would silently replace the earlier word."""
    seen: dict[str, str] = {}
    twice = []
    for name, table in text_tables().items():
        for key in table["nl"]:
            if key in seen:
                twice.append((key, seen[key], name))
            seen[key] = name
    assert twice == []


def test_no_key_is_hidden_by_a_dict_method() -> None:
    """``t.items`` in a template is the dict's method, never the word."""
    for language in LANGUAGES:
        assert {key for key in i18n.texts(language) if hasattr(dict, key)} == set()


def _literal_keys(source: str) -> set[str]:
    dotted = re.findall(r"\bt\.([A-Za-z_][A-Za-z0-9_]*)", source)
    indexed = re.findall(r"\bt\[\s*'([^'+]+)'\s*\]", source)
    return set(dotted) | set(indexed)


def test_every_literal_key_a_template_reads_exists() -> None:
    missing = {}
    for template in sorted(TEMPLATES.glob("*.html")):
        unknown = {k for k in _literal_keys(template.read_text()) if k not in i18n.texts("nl")}
        if unknown:
            missing[template.name] = sorted(unknown)
    assert missing == {}


def test_a_missing_key_raises_in_a_template_when_strict() -> None:
    assert i18n.STRICT  # tests/conftest.py turns it on
    template = Environment().from_string("<p>{{ t.no_such_word }} {{ t['also_not'] }}</p>")
    with pytest.raises(MissingText, match="no_such_word"):
        template.render(t=i18n.texts("nl"))


def test_a_missing_key_is_logged_and_shown_in_production(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(i18n, "STRICT", False)
    template = Environment().from_string("<p>{{ t.no_such_word }}|{{ t.login }}</p>")
    with caplog.at_level(logging.ERROR, logger="datahub_api.portal.i18n"):
        assert template.render(t=i18n.texts("en")) == "<p>[no_such_word]|Log in</p>"
    assert [record.key for record in caplog.records] == ["no_such_word"]  # type: ignore[attr-defined]


def test_membership_checks_do_not_raise() -> None:
    words = Words("nl", {"a": "b"})
    assert "x" not in words
    assert words.get("x") is None


def test_placeholders_are_read_as_format_fields() -> None:
    assert placeholders("{n} of {total:>3}, {{literal}}") == {"n", "total"}
