"""NPS (Netuser Paid Services): EAN lists, signed mandates, audits and daily files."""
