"""Identities that cross the wire: patient ids (with their OIDs) and HSA-ids."""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from dataclasses import dataclass

from .errors import BadRequest, InvalidPatientId

PERSONNUMMER_OID = "1.2.752.129.2.1.3.1"
SAMORDNINGSNUMMER_OID = "1.2.752.129.2.1.3.3"
NATIONAL_RESERVNUMMER_OID = "1.2.752.129.2.1.3.2"
HSA_ID_OID = "1.2.752.129.2.1.4.1"

# The three identifiers the national platform uses, each with its own validator (check_hsa_id,
# check_consumer_id, check_logical_address), for what an operator types; what producers send is read by
# normalise_hsa_id instead. An HSA-id: SE (or the test prefix TSTNMT), the organisation number with or without
# its century (10 or 12 digits), '-', an extension of letters and digits: SE2321000016-F0VB,
# SE162321000024-0001, TSTNMT2321000156-1002. HSA allows at most 31 characters.
_HSA_ID = re.compile(r"(?:SE|TSTNMT)[0-9]{10,12}-[A-Za-z0-9]{1,20}", re.ASCII)
HSA_ID_LIMIT = 31
# A consumer id (the HSA-id of npo's certificate in the platform's TAK): an HSA-id, in QA and SIT often with
# the T_SERVICES_ prefix of the test certificates: T_SERVICES_SE165565594230-10KD.
_CONSUMER_ID = re.compile(r"(?:T_SERVICES_)?" + _HSA_ID.pattern, re.ASCII)
# A logical address (a receiver in the TAK): an HSA-id, a bare organisation number (5565594230), or another
# code a platform uses (VS-1, T_SERVICES_...): letters, digits and _ . - inside, a letter or digit at each end.
_LOGICAL_ADDRESS = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?", re.ASCII)
PLATFORM_ID_LIMIT = 64
# Any form the national catalogues use for care providers and units (SE..., TSTNMT..., T_SERVICES_...):
# letters, digits and underscores in parts joined by hyphens. No white space, nothing invisible.
_WIRE_HSA_ID = re.compile(r"[A-Z0-9_]{2,40}(?:-[A-Z0-9_]{1,40})+")


def luhn_ok(digits: str) -> bool:
    """Luhn check over the ten digits YYMMDDNNNC."""
    total = 0
    for i, ch in enumerate(digits[:-1]):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return (10 - total % 10) % 10 == int(digits[-1])


@dataclass(frozen=True)
class PatientId:
    """A validated patient id in the 12-digit RIV-TA form, with its OID."""

    id: str
    root: str

    @property
    def kind(self) -> str:
        return {
            PERSONNUMMER_OID: "personnummer",
            SAMORDNINGSNUMMER_OID: "samordningsnummer",
        }.get(self.root, "reservnummer")

    @property
    def display(self) -> str:
        if self.root in (PERSONNUMMER_OID, SAMORDNINGSNUMMER_OID):
            return f"{self.id[:8]}-{self.id[8:]}"
        return self.id

    @property
    def birth_date(self) -> dt.date | None:
        if self.root not in (PERSONNUMMER_OID, SAMORDNINGSNUMMER_OID):
            return None
        day = int(self.id[6:8]) - (60 if self.root == SAMORDNINGSNUMMER_OID else 0)
        return dt.date(int(self.id[:4]), int(self.id[4:6]), day)


def parse_patient_id(
    raw: str, *, reserve: tuple[str, str] | None = None, today: dt.date | None = None
) -> PatientId:
    """Accept YYYYMMDDNNNC, YYYYMMDD-NNNC, YYMMDD-NNNC or YYMMDD+NNNC.

    The short forms are expanded with the century rule of the Tax Agency: '-' means under
    100 years old, '+' 100 or over. The check digit and the date are verified. Reserve
    numbers have local formats, so they are accepted only where an operator configured
    `reserve` = (regular expression, OID).
    """
    if not isinstance(raw, str):
        raise InvalidPatientId("Personnumret saknas.")
    text = raw.strip().replace(" ", "")
    today = today or dt.date.today()
    if reserve and re.fullmatch(reserve[0], text):
        return PatientId(text, reserve[1])
    m = re.fullmatch(r"([0-9]{2})?([0-9]{6})([-+]?)([0-9]{4})", text)  # ASCII digits only
    if not m:
        raise InvalidPatientId("Ange personnummer eller samordningsnummer med 12 siffror (ÅÅÅÅMMDD-NNNN).")
    century, yymmdd, sep, tail = m.groups()
    if century is None:
        yy = int(yymmdd[:2])
        full = 2000 + yy if 2000 + yy <= today.year else 1900 + yy
        if sep == "+":
            full -= 100
        century = str(full // 100)
    elif sep == "+":
        raise InvalidPatientId("Plustecken används bara med tio siffror.")
    digits = century + yymmdd + tail
    if not luhn_ok(digits[2:]):
        raise InvalidPatientId("Kontrollsiffran stämmer inte. Kontrollera numret.")
    day = int(digits[6:8])
    root = PERSONNUMMER_OID
    if day > 60:
        root, day = SAMORDNINGSNUMMER_OID, day - 60
    try:
        born = dt.date(int(digits[:4]), int(digits[4:6]), day)
    except ValueError:
        raise InvalidPatientId("Numret innehåller inget giltigt datum.") from None
    if born > today:
        raise InvalidPatientId("Födelsedatumet ligger i framtiden.")
    return PatientId(digits, root)


@functools.lru_cache(maxsize=4096)  # a heavy patient's records repeat a few dozen ids tens of thousands of times
def normalise_hsa_id(value: str | None) -> str | None:
    """An HSA-id as a producer sent it, in its one canonical form; None when it cannot be read.

    The form blocks are matched in: NFKC, invisible format characters (U+200B, U+FEFF, ...) and
    surrounding white space removed, upper case. What is still not an HSA-id is unreadable, and a
    record with an unreadable owner is withheld, never compared as a string that happens to differ."""
    if not isinstance(value, str):
        return None
    text = "".join(ch for ch in unicodedata.normalize("NFKC", value) if unicodedata.category(ch) != "Cf")
    text = text.strip().upper()
    return text if len(text) <= 64 and _WIRE_HSA_ID.fullmatch(text) else None


def _checked(value, what: str, form: re.Pattern, limit: int, shape: str) -> str:
    """`value` if it has the form, else a BadRequest that says what is wrong with it (first problem first)."""
    if not isinstance(value, str) or not value:
        raise BadRequest(f"Not a valid {what}: it is empty; {shape}.")
    for at, ch in enumerate(value, 1):
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            raise BadRequest(f"Not a valid {what}: it holds a control or invisible character (U+{ord(ch):04X}) at "
                             f"position {at}.")
        if ch.isspace():
            raise BadRequest(f"Not a valid {what}: it holds white space at position {at}.")
    if len(value) > limit:
        raise BadRequest(f"Not a valid {what}: {len(value)} characters, at most {limit}.")
    if not form.fullmatch(value):
        raise BadRequest(f"Not a valid {what}: {value!r}; {shape}.")
    return value


def check_hsa_id(value: str, what: str = "HSA-id") -> str:
    """An HSA-id: 'SE' or 'TSTNMT', the organisation number (10 or 12 digits), '-', then letters and digits;
    at most 31 characters."""
    return _checked(value, what, _HSA_ID, HSA_ID_LIMIT,
                    "an HSA-id is SE or TSTNMT, the organisation number, '-' and letters or digits "
                    "(SE2321000016-F0VB)")


def check_consumer_id(value: str, what: str = "consumer id") -> str:
    """npo's id as a service consumer on the platform: an HSA-id, optionally prefixed T_SERVICES_."""
    return _checked(value, what, _CONSUMER_ID, PLATFORM_ID_LIMIT,
                    "a consumer id is an HSA-id, optionally prefixed T_SERVICES_ (T_SERVICES_SE165565594230-10KD)")


def check_logical_address(value: str, what: str = "logical address") -> str:
    """A logical address in the platform's TAK: an HSA-id, a bare organisation number or another code."""
    return _checked(value, what, _LOGICAL_ADDRESS, PLATFORM_ID_LIMIT,
                    "a logical address is letters and digits, with _ . - between them "
                    "(SE2321000016-TKC1, 5565594230, VS-1)")
