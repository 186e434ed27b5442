"""Signed paper mandates an ESP keeps and describes (NPS lists, yearly history exports):
the checks both channels apply to the description, so that one set of rules decides whether
a signatory is the grid user on record and whether a document hash is well-formed. The
signatory is compared only after registration, never in the request (see
:mod:`datahub_api.paper_mandates`); the audits of the documents themselves live in the NPS
domain and cover both channels."""

from __future__ import annotations

import re
import unicodedata

from datahub_api.organisations import enterprise_number

SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
# The channels whose signed mandates the DSO audits (see nps/service/audits.py).
AUDITED_CHANNELS = ("nps", "annual_history")


def loose_name(text: str) -> str:
    """A name compared loosely: accents, case, punctuation and spacing do not count."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain.lower()).split())


def is_grid_user(
    signatory_name: str | None,
    signatory_enterprise_number: str | None,
    *,
    grid_user_name: str,
    grid_user_company: str | None,
) -> bool:
    """Whether the signatory is the grid user on record: for a company its enterprise
    number, for a person the name (loosely compared)."""
    if grid_user_company is not None:
        try:
            given = enterprise_number.canonical(signatory_enterprise_number or "")
        except enterprise_number.InvalidEnterpriseNumber:
            return False
        return given == grid_user_company
    return loose_name(signatory_name or "") == loose_name(grid_user_name)


def well_formed_sha256(value: str | None) -> bool:
    return value is not None and SHA256_HEX.fullmatch(value) is not None
