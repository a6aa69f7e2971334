"""Column functions every information set's view uses: a record's date, owner and coded values."""

from __future__ import annotations

import datetime as dt

from ..contract import Record, shown_timestamp
from .codes import coded, term

DASH = "–"


def date(record: Record) -> str:
    return record.time.strftime("%Y-%m-%d") if record.time else DASH


def date_time(record: Record) -> str:
    return record.time.strftime("%Y-%m-%d %H:%M") if record.time else DASH


def day(value: str | None) -> dt.date | None:
    found = shown_timestamp(value)
    return found.date() if found else None


def date_text(value: str | None) -> str:
    """A RIV-TA date or time stamp as YYYY-MM-DD; an unreadable one as missing."""
    found = day(value)
    return found.isoformat() if found else DASH


def title(record: Record) -> str:
    return record.title


def unit(record: Record) -> str:
    return record.care_unit_name or record.care_unit_id or "Okänd"


def provider(record: Record) -> str:
    return record.care_provider_name or record.care_provider_id or "Okänd"


def author(record: Record) -> str:
    return record.author or DASH


def field(key: str, default: str = DASH):
    """A column of one body field as text."""
    return lambda record: _text(record.detail.get(key), default)


def code(key: str):
    """A column of a CV body field with its code system, as the record carries it: "J45.9 (ICD-10-SE)"."""
    return lambda record: coded(record.detail.get(key))


def words(key: str, default: str = DASH):
    """A column of a CV body field's words (displayName, originalText, code)."""
    return lambda record: term(record.detail.get(key), default)


def yes_no(value) -> str:
    return {True: "Ja", False: "Nej"}.get(value, "Uppgift saknas")


def _text(value, default: str) -> str:
    if value is None or value == "":
        return default
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


OWNER = (("Vårdenhet", unit), ("Vårdgivare", provider))
