"""The rules of the NPS channel, one module per seam: :mod:`.lists` (EAN lists with per-EAN
mandate evidence), :mod:`.audits` (audits of signed paper mandates) and
:mod:`.daily_files` (the daily files)."""
