"""和暦/西暦 for printed documents: the one implementation lives in :mod:`onshi.rules.wareki` (a pure, low layer, so
that input parsing in registry and web uses the same era table); this module keeps the documents' import path."""

from onshi.rules.wareki import DATE_STYLES, ERAS, Era, era_of, format_date, format_seireki, format_wareki

__all__ = ["DATE_STYLES", "ERAS", "Era", "era_of", "format_date", "format_seireki", "format_wareki"]
