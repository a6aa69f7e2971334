"""The PDL decision table, written once: test_pdl_decisions runs it through the server, test_pdl_pure
through the pure functions of `npo_core.pdl`.

Setup steps are plain data; each of those modules says what a step does there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import NamedTuple

from npo_core import SWEDEN, pdl

# -- the world every case runs in ---------------------------------------------------------

PATIENT = "191212121212"  # Tolvan Tolvansson: not a demo patient, so only the tests' producers know him
OTHER_PATIENT = "199701062383"
ANNA = "SE2321000016-1001"  # the demo clinician
COLLEAGUE = "SE2321000016-1002"

PROVIDER = {"P1": "SE2321000016-F0VB",  # Region Stockholm: Anna's care provider
            "P2": "SE2321000131-E000000000001"}  # Västra Götalandsregionen: another care provider
UNIT = {"OWN": ("SE2321000016-9RKT", "P1", "Gubbängens vårdcentral"),  # Anna's care unit
        "SIB": ("SE2321000016-A1SD", "P1", "Medicinkliniken, Södersjukhuset"),  # same provider, other unit
        "EXT": ("SE2321000131-E000000011", "P2", "Kardiologi, Sahlgrenska Universitetssjukhuset"),
        "EXT2": ("SE2321000131-F000000022", "P2", "Vårdcentralen Hjällbo")}
SOURCE = {"P1": "SE2321000016-TST1", "P2": "SE2321000131-TST2"}  # one source system per provider
CONTRACT = {"dia": "GetDiagnosis:2", "upp": "GetDiagnosisUpp:2"}  # upp: a test contract blocks may exclude
WHEN = dt.datetime(2024, 5, 15, 10, 0, tzinfo=SWEDEN)
NOW = dt.datetime(2026, 1, 15, 12, 0, tzinfo=SWEDEN)  # the pure functions' now (the server uses the clock)


class RecordSpec(NamedTuple):
    """Where a record is (aliases; None leaves that HSA-id out of it), its contract and its time."""

    unit: str | None
    provider: str | None
    contract: str = "dia"
    when: dt.datetime | None = WHEN


RECORD_SPECS = {
    "own": RecordSpec("OWN", "P1"),
    "own-b": RecordSpec("OWN", "P1"),
    "sib": RecordSpec("SIB", "P1"),
    "ext": RecordSpec("EXT", "P2"),
    "ext2": RecordSpec("EXT2", "P2"),
    "ext-upp": RecordSpec("EXT", "P2", contract="upp"),
    "ext-2019": RecordSpec("EXT", "P2", when=dt.datetime(2019, 6, 1, 9, 0, tzinfo=SWEDEN)),
    "ext-late": RecordSpec("EXT", "P2", when=dt.datetime(2024, 5, 15, 23, 30, tzinfo=SWEDEN)),
    "ext-after-midnight": RecordSpec("EXT", "P2", when=dt.datetime(2024, 5, 16, 0, 30, tzinfo=SWEDEN)),  # 15th in UTC
    "no-unit-ext": RecordSpec(None, "P2"),
    "no-unit-p1": RecordSpec(None, "P1"),
    "no-provider-ext": RecordSpec("EXT", None),
    "no-provider-own": RecordSpec("OWN", None),
    "no-ids": RecordSpec(None, None),
    "own-unit-other-provider": RecordSpec("OWN", "P2"),  # a contradictory header: our unit, their provider
    "ext-undated": RecordSpec("EXT", "P2", when=None),  # neither documentTime nor authorTime
    "own-undated": RecordSpec("OWN", "P1", when=None),
}


# -- setup steps ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Consent:
    """A consent (or emergency assertion) put in the guard store; times in days from now."""

    employee: str | None = None  # None: the whole care unit
    unit: str = "OWN"
    assertion: str = "Consent"
    starts: float = -1
    ends: float | None = 30
    ended: str | None = None  # "cancel" | "annul"
    patient: str = PATIENT


@dataclass(frozen=True)
class Revoke:
    """A temporary revoke (tillfällig hävning) of the block it is listed in."""

    unit: str = "OWN"
    employee: str | None = None  # None: everyone at the unit
    expired: bool = False  # it ended an hour ago


@dataclass(frozen=True)
class Block:
    """Inner on a care unit (alias) or Outer on a care provider (alias), with its revokes."""

    kind: str
    at: str
    start: dt.date | None = None
    end: dt.date | None = None
    excluded: tuple[str, ...] = ()
    revokes: tuple[Revoke, ...] = ()
    cancelled: bool = False
    patient: str = PATIENT


@dataclass(frozen=True)
class Emergency:
    """Nödöppning with a reason (POST /api/emergency)."""


@dataclass(frozen=True)
class ApiConsent:
    """A consent registered as the API does (POST /api/consent), then perhaps cancelled or annulled."""

    whole_unit: bool = True
    then: str | None = None  # "cancel" | "annul"


@dataclass(frozen=True)
class OpenBlocked:
    """The two active choices of the API: reveal where blocked information is, then open one place."""

    basis: str
    provider: str
    unit: str | None = None


# -- expected access-log rows of the read ---------------------------------------------------------

class LogRow(NamedTuple):
    activity: str
    provider: str | None
    unit: str | None
    contract: str | None
    count: int


def read(provider: str, unit: str, count: int = 1, contract: str = "dia") -> LogRow:
    return LogRow("Läsa", PROVIDER[provider], UNIT[unit][0], CONTRACT[contract], count)


def emergency_read(provider: str, unit: str, count: int = 1, contract: str = "dia") -> LogRow:
    return LogRow("Nödöppning", PROVIDER[provider], UNIT[unit][0], CONTRACT[contract], count)


NOTHING_SHOWN = LogRow("Läsa", None, None, None, 0)  # the attempt is logged even when nothing is shown


# -- the table -------------------------------------------------------------------------------

NO_OWNER, SCOPE, NO_CONSENT, NO_RELATION, BLOCKED = (
    pdl.NO_OWNER, pdl.SCOPE, pdl.NO_CONSENT, pdl.NO_RELATION, pdl.BLOCKED)
THREE = ("own", "sib", "ext")  # one record at Anna's unit, one at a sibling unit, one at another provider
OWN_AND_SIB = (read("P1", "OWN"), read("P1", "SIB"))
ALL_THREE = OWN_AND_SIB + (read("P2", "EXT"),)
EXT_BLOCK = dict(shown=("own", "sib"), withheld={BLOCKED: 1}, log=OWN_AND_SIB)
EXT_SHOWN = dict(shown=THREE, log=ALL_THREE)


@dataclass(frozen=True)
class Case:
    id: str
    setup: tuple = ()
    shown: tuple[str, ...] = ()
    withheld: dict = field(default_factory=dict)
    log: tuple[LogRow, ...] = ()
    records: tuple[str, ...] = THREE
    scope: str = "SJF"
    relation: bool = True  # the clinician attests a care relation (POST /api/relation)


def outer_p2(**kw) -> Block:
    return Block("Outer", "P2", **kw)


def interval(start, end) -> Block:
    return outer_p2(start=start, end=end)


D = dt.date
# Case(id, setup steps, shown record keys, withheld {reason: count}, access-log rows of the read,
#      records=keys of RECORD_SPECS (default: own, sib, ext), scope="SJF", relation=True)
CASES = [
    # -- where the record is × consent (assignment scope SJF) --
    Case("sjf/own-and-sibling-shown-other-provider-needs-consent", shown=("own", "sib"), withheld={NO_CONSENT: 1},
         log=OWN_AND_SIB),
    Case("sjf/unit-wide-consent", (Consent(),), **EXT_SHOWN),
    Case("sjf/personal-consent", (Consent(employee=ANNA),), **EXT_SHOWN),
    Case("sjf/personal-consent-of-a-colleague", (Consent(employee=COLLEAGUE),), ("own", "sib"), {NO_CONSENT: 1},
         OWN_AND_SIB),
    Case("sjf/expired-consent", (Consent(starts=-10, ends=-1),), ("own", "sib"), {NO_CONSENT: 1}, OWN_AND_SIB),
    Case("sjf/consent-not-yet-started", (Consent(starts=1, ends=10),), ("own", "sib"), {NO_CONSENT: 1},
         OWN_AND_SIB),
    Case("sjf/cancelled-consent", (Consent(ended="cancel"),), ("own", "sib"), {NO_CONSENT: 1}, OWN_AND_SIB),
    Case("sjf/annulled-consent", (Consent(ended="annul"),), ("own", "sib"), {NO_CONSENT: 1}, OWN_AND_SIB),
    Case("sjf/consent-for-another-unit", (Consent(unit="SIB"),), ("own", "sib"), {NO_CONSENT: 1}, OWN_AND_SIB),
    Case("sjf/consent-for-another-patient", (Consent(patient=OTHER_PATIENT),), ("own", "sib"), {NO_CONSENT: 1},
         OWN_AND_SIB),
    Case("sjf/consent-without-attested-relation", (Consent(),), ("own",), {NO_RELATION: 2}, (read("P1", "OWN"),),
         relation=False),
    # the national service's manual lists "aktuell patientrelation" for every read beyond the own unit
    Case("sjf/own-providers-other-unit-needs-an-attested-relation", (), ("own",), {NO_RELATION: 1, NO_CONSENT: 1},
         (read("P1", "OWN"),), relation=False),
    Case("vg/own-providers-other-unit-needs-an-attested-relation", (), ("own",), {NO_RELATION: 1},
         (read("P1", "OWN"),), records=("own", "sib"), scope="VG", relation=False),
    Case("sjf/api-consent-for-the-unit", (ApiConsent(),), **EXT_SHOWN),
    Case("sjf/api-personal-consent", (ApiConsent(whole_unit=False),), **EXT_SHOWN),
    Case("sjf/api-consent-cancelled", (ApiConsent(then="cancel"),), ("own", "sib"), {NO_CONSENT: 1}, OWN_AND_SIB),
    Case("sjf/api-consent-annulled", (ApiConsent(then="annul"),), ("own", "sib"), {NO_CONSENT: 1}, OWN_AND_SIB),
    Case("sjf/emergency-needs-no-relation-and-is-logged-as-nodoppning", (Emergency(),), THREE, {},
         OWN_AND_SIB + (emergency_read("P2", "EXT"),), relation=False),
    Case("sjf/expired-emergency", (Consent(employee=ANNA, assertion="Emergency", starts=-1, ends=-0.05),),
         ("own", "sib"), {NO_CONSENT: 1}, OWN_AND_SIB),
    Case("sjf/consent-outranks-emergency-in-the-log", (Consent(), Emergency()), **EXT_SHOWN),
    Case("sjf/one-log-row-per-provider-unit-and-contract", (Consent(),), ("own", "own-b", "ext", "ext2", "ext-upp"),
         {}, (read("P1", "OWN", 2), read("P2", "EXT"), read("P2", "EXT2"), read("P2", "EXT", contract="upp")),
         records=("own", "own-b", "ext", "ext2", "ext-upp")),
    Case("sjf/two-undated-records", (Consent(),), ("own-undated", "ext-undated"), {},
         (read("P1", "OWN"), read("P2", "EXT")), records=("own-undated", "ext-undated")),
    Case("sjf/contradictory-header-own-unit-other-provider", (), ("own",), {NO_CONSENT: 1}, (read("P1", "OWN"),),
         records=("own", "own-unit-other-provider")),
    # -- assignment scope --
    Case("vg/other-provider-outside-assignment", (), ("own", "sib"), {SCOPE: 1}, OWN_AND_SIB, scope="VG"),
    Case("vg/consent-does-not-widen-the-assignment", (Consent(),), ("own", "sib"), {SCOPE: 1}, OWN_AND_SIB,
         scope="VG"),
    Case("ve/own-unit-only", (), ("own",), {SCOPE: 2}, (read("P1", "OWN"),), scope="VE"),
    Case("ve/consent-and-emergency-do-not-widen-the-assignment", (Consent(), Emergency()), ("own",), {SCOPE: 2},
         (read("P1", "OWN"),), scope="VE"),
    Case("ve/nothing-at-own-unit-still-logs-the-attempt", (), (), {SCOPE: 2}, (NOTHING_SHOWN,), records=("sib", "ext"),
         scope="VE"),
    # -- block kinds --
    Case("inner/on-other-providers-unit", (Consent(), Block("Inner", "EXT")), **EXT_BLOCK),
    Case("inner/only-that-unit", (Consent(), Block("Inner", "EXT")), ("own", "ext2"), {BLOCKED: 1},
         (read("P1", "OWN"), read("P2", "EXT2")), records=("own", "ext", "ext2")),
    Case("inner/sibling-unit-same-provider-sjf", (Block("Inner", "SIB"),), ("own",), {BLOCKED: 1, NO_CONSENT: 1},
         (read("P1", "OWN"),)),
    Case("inner/sibling-unit-same-provider-vg", (Block("Inner", "SIB"),), ("own",), {BLOCKED: 1, SCOPE: 1},
         (read("P1", "OWN"),), scope="VG"),
    Case("inner/own-unit-never-blocked-for-itself", (Consent(), Block("Inner", "OWN")), **EXT_SHOWN),
    Case("outer/on-other-provider", (Consent(), outer_p2()), **EXT_BLOCK),
    Case("outer/own-provider-not-blocked-inside-it", (Consent(), Block("Outer", "P1")), **EXT_SHOWN),
    Case("outer/missing-consent-is-the-reason-before-the-block", (outer_p2(),), ("own", "sib"), {NO_CONSENT: 1},
         OWN_AND_SIB),
    Case("outer/emergency-does-not-lift-a-block", (Emergency(), outer_p2()), relation=False, **EXT_BLOCK),
    Case("outer/cancelled-block", (Consent(), outer_p2(cancelled=True)), **EXT_SHOWN),
    Case("outer/another-patients-block", (Consent(), outer_p2(patient=OTHER_PATIENT)), **EXT_SHOWN),
    # -- block time interval (the record "ext" is from 2024-05-15 10:00) --
    Case("interval/record-inside", (Consent(), interval(D(2024, 1, 1), D(2024, 12, 31))), **EXT_BLOCK),
    Case("interval/record-on-first-day", (Consent(), interval(D(2024, 5, 15), D(2024, 12, 31))), **EXT_BLOCK),
    Case("interval/record-late-on-last-day", (Consent(), interval(D(2023, 1, 1), D(2024, 5, 15))),
         ("own", "sib"), {BLOCKED: 1}, OWN_AND_SIB, records=("own", "sib", "ext-late")),
    Case("interval/open-ended-after-start", (Consent(), interval(D(2024, 1, 1), None)), **EXT_BLOCK),
    Case("interval/open-started-before-end", (Consent(), interval(None, D(2024, 12, 31))), **EXT_BLOCK),
    Case("interval/record-before", (Consent(), interval(D(2024, 6, 1), D(2024, 12, 31))), **EXT_SHOWN),
    Case("interval/record-after", (Consent(), interval(D(2020, 1, 1), D(2024, 5, 14))), **EXT_SHOWN),
    Case("interval/open-ended-starting-after-record", (Consent(), interval(D(2024, 5, 16), None)), **EXT_SHOWN),
    Case("interval/after-midnight-swedish-time-is-the-next-day", (Consent(), interval(None, D(2024, 5, 15))),
         ("own", "sib", "ext-after-midnight"), {}, ALL_THREE, records=("own", "sib", "ext-after-midnight")),
    Case("interval/partly-overlapping-records", (Consent(), interval(D(2018, 1, 1), D(2023, 12, 31))),
         ("own", "ext"), {BLOCKED: 1}, (read("P1", "OWN"), read("P2", "EXT")), records=("own", "ext-2019", "ext")),
    # -- information types excluded from a block --
    Case("excluded/upp-excluded-from-outer", (Consent(), outer_p2(excluded=("upp",))), ("own", "ext-upp"),
         {BLOCKED: 1}, (read("P1", "OWN"), read("P2", "EXT", contract="upp")), records=("own", "ext", "ext-upp")),
    Case("excluded/lak-excluded-does-not-free-upp", (Consent(), outer_p2(excluded=("lak",))), ("own",),
         {BLOCKED: 2}, (read("P1", "OWN"),), records=("own", "ext", "ext-upp")),
    Case("excluded/both-excluded-from-inner", (Consent(), Block("Inner", "EXT", excluded=("lak", "upp"))),
         ("own", "ext-upp"), {BLOCKED: 1}, (read("P1", "OWN"), read("P2", "EXT", contract="upp")),
         records=("own", "ext", "ext-upp")),
    # -- temporary revokes --
    Case("revoke/for-the-unit", (Consent(), outer_p2(revokes=(Revoke(),))), **EXT_SHOWN),
    Case("revoke/for-this-employee", (Consent(), outer_p2(revokes=(Revoke(employee=ANNA),))), **EXT_SHOWN),
    Case("revoke/for-a-colleague", (Consent(), outer_p2(revokes=(Revoke(employee=COLLEAGUE),))), **EXT_BLOCK),
    Case("revoke/expired", (Consent(), outer_p2(revokes=(Revoke(expired=True),))), **EXT_BLOCK),
    Case("revoke/for-another-unit", (Consent(), outer_p2(revokes=(Revoke(unit="SIB"),))), **EXT_BLOCK),
    Case("revoke/lifts-only-its-own-block", (Consent(), outer_p2(revokes=(Revoke(),)), Block("Inner", "EXT")),
         **EXT_BLOCK),
    Case("revoke/of-an-inner-block-at-a-sibling-unit", (Block("Inner", "SIB", revokes=(Revoke(),)),),
         ("own", "sib"), {NO_CONSENT: 1}, OWN_AND_SIB),
    Case("revoke/undated-record-under-an-interval-block-stays-blocked-without-revoke",
         (Consent(), interval(D(2024, 1, 1), D(2024, 12, 31))), ("own",), {BLOCKED: 1}, (read("P1", "OWN"),),
         records=("own", "ext-undated")),
    Case("revoke/undated-record-under-an-interval-block-with-revoke", (
        Consent(), outer_p2(start=D(2024, 1, 1), end=D(2024, 12, 31), revokes=(Revoke(),))), ("own", "ext-undated"),
         {}, (read("P1", "OWN"), read("P2", "EXT")), records=("own", "ext-undated")),
    Case("revoke/api-open-with-patients-consent", (Consent(), outer_p2(), OpenBlocked("PatientsConsent", "P2")),
         **EXT_SHOWN),
    Case("revoke/api-open-inner-block-by-unit", (Consent(), Block("Inner", "EXT"),
                                                 OpenBlocked("PatientsConsent", "P2", "EXT")), **EXT_SHOWN),
    Case("revoke/api-emergency-open-registers-emergency", (outer_p2(), OpenBlocked("Emergency", "P2")), THREE, {},
         OWN_AND_SIB + (emergency_read("P2", "EXT"),), relation=False),
    # -- records lacking HSA-ids --
    Case("missing/no-care-unit", (Consent(),), ("own",), {NO_OWNER: 1}, (read("P1", "OWN"),),
         records=("own", "no-unit-ext")),
    Case("missing/no-care-provider", (Consent(),), ("own",), {NO_OWNER: 1}, (read("P1", "OWN"),),
         records=("own", "no-provider-ext")),
    Case("missing/no-care-unit-at-own-provider", (Consent(),), ("own",), {NO_OWNER: 1}, (read("P1", "OWN"),),
         records=("own", "no-unit-p1")),
    Case("missing/no-ids-at-all", (Consent(),), (), {NO_OWNER: 1}, (NOTHING_SHOWN,), records=("no-ids",)),
    Case("missing/reason-precedes-scope", (), ("own",), {NO_OWNER: 1, SCOPE: 1}, (read("P1", "OWN"),),
         records=("own", "no-unit-ext", "sib"), scope="VE"),
    Case("missing/no-care-provider-at-own-unit-is-shown", (), ("no-provider-own",), {}, (read("P1", "OWN"),),
         records=("no-provider-own",)),
    Case("missing/no-care-provider-at-own-unit-during-emergency", (Emergency(),), ("no-provider-own", "ext"), {},
         (read("P1", "OWN"), emergency_read("P2", "EXT")), records=("no-provider-own", "ext"), relation=False),
]
