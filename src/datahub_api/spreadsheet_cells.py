"""Cells a spreadsheet will not run: every CSV and XLSX writer passes its texts through here.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a
formula by Excel and LibreOffice when the file is opened (CSV injection), and a formula can
leak the sheet's contents or start programs. Such a text gets a leading ``'`` (shown by no
spreadsheet, and plain to a program reading the file). A number (``-1,250``, ``-0.5``) is left
alone: spreadsheets read it as a number, not a formula. The Fluvius EAN cell ``="541..."`` is
the one formula a file holds on purpose; its writer never passes it here.
"""

from __future__ import annotations

import re

FORMULA_STARTS = frozenset("=+-@\t\r")
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?")


def formula_safe(text: str) -> str:
    """``text``, with a leading ``'`` when a spreadsheet would read it as a formula."""
    if text and text[0] in FORMULA_STARTS and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def starts_a_formula(text: str) -> bool:
    """Whether a spreadsheet would read ``text`` as a formula (after any number check)."""
    return formula_safe(text) != text
