"""The PDL decision table as pure unit tests: plain dataclasses in, `npo_core.pdl` decisions out, no server.

`CASES` is the table of tests/test_pdl_decisions.py, case by case under the same ids (a test below keeps
the two lists of ids the same), with each setup step done the way the access path does it, through the
same pure functions: a consent or emergency registered through the API is `pdl.consent_terms` and
`pdl.covering_consent`, opening blocked information is `pdl.block_basis`, `pdl.may_reveal`,
`pdl.blocks_at` and `pdl.opening_needs_emergency`. The read is `pdl.valid_consent`, `pdl.decide_all` and
`pdl.read_log`. What the guard store does (only the patient's blocks that are not cancelled) is done by
`Guards.blocks_of_the_patient`.

Then the rows of docs/access_rules.md the table does not reach (another patient, owners that cannot be
read or that the source cannot carry), consent limits and precedence, reveal by basis and the list of
opened blocks.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import pytest

from npo_core import SWEDEN, Assignment, BadRequest, Record
from npo_core import pdl

PATIENT, OTHER_PATIENT = "191212121212", "199701062383"
ANNA, COLLEAGUE = "SE2321000016-1001", "SE2321000016-1002"
PROVIDER = {"P1": "SE2321000016-F0VB", "P2": "SE2321000131-E000000000001"}
UNIT = {"OWN": ("SE2321000016-9RKT", "P1", "Gubbängens vårdcentral"),
        "SIB": ("SE2321000016-A1SD", "P1", "Medicinkliniken, Södersjukhuset"),
        "EXT": ("SE2321000131-E000000011", "P2", "Kardiologi, Sahlgrenska Universitetssjukhuset"),
        "EXT2": ("SE2321000131-F000000022", "P2", "Vårdcentralen Hjällbo")}
SOURCE = {"P1": "SE2321000016-TST1", "P2": "SE2321000131-TST2"}  # one source system per provider
OWNERS = {SOURCE[p]: frozenset([PROVIDER[p]]) for p in PROVIDER}  # whose records each source may carry
CONTRACT = {"dia": "GetDiagnosis:2", "upp": "GetDiagnosisUpp:2"}
BLOCK_TYPES = {CONTRACT["dia"]: None, CONTRACT["upp"]: "upp"}
WHEN = dt.datetime(2024, 5, 15, 10, 0, tzinfo=SWEDEN)
NOW = dt.datetime(2026, 1, 15, 12, 0, tzinfo=SWEDEN)
EMERGENCY_HOURS = 4


def assignment(scope: str) -> Assignment:
    unit, provider, name = UNIT["OWN"]
    return Assignment(f"{ANNA}-{scope}", f"Läkare ({scope}), {name}", unit, name, PROVIDER[provider],
                      "Region Stockholm", scope=scope)


def record(key: str, unit: str | None, provider: str | None, contract: str = "dia",
           when: dt.datetime | None = WHEN, patient: str = PATIENT) -> Record:
    """A diagnosis at `unit` (alias) of `provider` (alias), as decoded from its source's answer."""
    source = SOURCE[provider or (UNIT[unit][1] if unit else "P2")]
    return Record(id=f"doc-{key}", contract=CONTRACT[contract], information_type="dia", time=when,
                  care_provider_id=PROVIDER[provider] if provider else None,
                  care_unit_id=UNIT[unit][0] if unit else None, source_system=source, title=f"Diagnos {key}",
                  block_time=when, patient_id=patient, source_address=source)


RECORDS = {r.id.removeprefix("doc-"): r for r in [
    record("own", "OWN", "P1"),
    record("own-b", "OWN", "P1"),
    record("sib", "SIB", "P1"),
    record("ext", "EXT", "P2"),
    record("ext2", "EXT2", "P2"),
    record("ext-upp", "EXT", "P2", contract="upp"),
    record("ext-2019", "EXT", "P2", when=dt.datetime(2019, 6, 1, 9, 0, tzinfo=SWEDEN)),
    record("ext-late", "EXT", "P2", when=dt.datetime(2024, 5, 15, 23, 30, tzinfo=SWEDEN)),
    record("ext-after-midnight", "EXT", "P2", when=dt.datetime(2024, 5, 16, 0, 30, tzinfo=SWEDEN)),
    record("no-unit-ext", None, "P2"),
    record("no-unit-p1", None, "P1"),
    record("no-provider-ext", "EXT", None),
    record("no-provider-own", "OWN", None),
    record("no-ids", None, None),
    record("own-unit-other-provider", "OWN", "P2"),
    record("ext-undated", "EXT", "P2", when=None),
    record("own-undated", "OWN", "P1", when=None),
]}


# -- the guards of one case, changed by its setup steps ------------------------------------------------

@dataclass
class Guards:
    assignment: Assignment
    relation: bool
    consents: list[pdl.Consent] = field(default_factory=list)
    blocks: list[tuple[pdl.Block, bool]] = field(default_factory=list)  # (block, cancelled)

    def blocks_of_the_patient(self) -> list[pdl.Block]:
        """What the guard store gives a read: the patient's blocks that are not cancelled."""
        return [b for b, cancelled in self.blocks if b.patient_id == PATIENT and not cancelled]

    def register(self, *, emergency: bool, whole_unit: bool, days: int | None, reason: str | None) -> pdl.Consent:
        """`AccessService.register_consent`: the terms, and a covering one reused."""
        terms = pdl.consent_terms(emergency=emergency, whole_unit=whole_unit, days=days, reason=reason,
                                  employee_id=ANNA, start=NOW, emergency_hours=EMERGENCY_HOURS)
        existing = pdl.covering_consent(self.consents, terms, self.assignment, ANNA, PATIENT)
        if existing:
            return existing
        a = self.assignment
        consent = pdl.Consent(f"c{len(self.consents)}", terms.assertion_type, PATIENT, a.care_provider_id,
                              a.care_unit_id, terms.employee_id, terms.start, terms.end, registered_by=ANNA)
        self.consents.append(consent)
        return consent


def days(n: float | None) -> dt.datetime | None:
    return None if n is None else NOW + dt.timedelta(days=n)


@dataclass(frozen=True)
class Consent:
    """A consent (or emergency assertion) in the guard store; times in days from now."""

    employee: str | None = None
    unit: str = "OWN"
    assertion: str = "Consent"
    starts: float = -1
    ends: float | None = 30
    ended: str | None = None  # "cancel" | "annul"
    patient: str = PATIENT

    def apply(self, g: Guards) -> None:
        unit_id, provider, _ = UNIT[self.unit]
        g.consents.append(pdl.Consent(f"c{len(g.consents)}", self.assertion, self.patient, PROVIDER[provider],
                                      unit_id, self.employee, days(self.starts), days(self.ends),
                                      cancelled=self.ended == "cancel", annulled=self.ended == "annul"))


@dataclass(frozen=True)
class Revoke:
    unit: str = "OWN"
    employee: str | None = None
    expired: bool = False

    def revoke(self) -> pdl.TemporaryRevoke:
        end = NOW - dt.timedelta(hours=1) if self.expired else NOW + dt.timedelta(days=1)
        return pdl.TemporaryRevoke(UNIT[self.unit][0], self.employee, end, "PatientsConsent")


@dataclass(frozen=True)
class Block:
    kind: str
    at: str
    start: dt.date | None = None
    end: dt.date | None = None
    excluded: tuple[str, ...] = ()
    revokes: tuple[Revoke, ...] = ()
    cancelled: bool = False
    patient: str = PATIENT

    def apply(self, g: Guards) -> None:
        unit_id, provider = (UNIT[self.at][0], UNIT[self.at][1]) if self.kind == "Inner" else (None, self.at)
        g.blocks.append((pdl.Block(f"b{len(g.blocks)}", self.kind, self.patient, PROVIDER[provider], unit_id,
                                   self.start, self.end, frozenset(self.excluded),
                                   tuple(r.revoke() for r in self.revokes)), self.cancelled))


@dataclass(frozen=True)
class Emergency:
    """Nödöppning with a reason (POST /api/emergency)."""

    def apply(self, g: Guards) -> None:
        g.register(emergency=True, whole_unit=False, days=None, reason="Medvetslös patient på akuten")


@dataclass(frozen=True)
class ApiConsent:
    whole_unit: bool = True
    then: str | None = None  # "cancel" | "annul"

    def apply(self, g: Guards) -> None:
        consent = g.register(emergency=False, whole_unit=self.whole_unit, days=7, reason=None)
        if self.then:
            g.consents[g.consents.index(consent)] = dataclasses.replace(
                consent, cancelled=self.then == "cancel", annulled=self.then == "annul")


@dataclass(frozen=True)
class OpenBlocked:
    """The two active choices: reveal where blocked information is, then open one place."""

    basis: str
    provider: str
    unit: str | None = None

    def apply(self, g: Guards) -> None:
        a, reason = g.assignment, "Akut bröstsmärta" if self.basis == "Emergency" else None
        basis = pdl.block_basis(self.basis, reason)
        assert pdl.may_reveal(basis, g.consents, a, ANNA, PATIENT, NOW)
        opened = pdl.blocks_at(g.blocks_of_the_patient(), PROVIDER[self.provider],
                               UNIT[self.unit][0] if self.unit else None)
        assert opened
        g.blocks = [(dataclasses.replace(b, revokes=b.revokes + (
            pdl.TemporaryRevoke(a.care_unit_id, ANNA, NOW + dt.timedelta(days=1), basis),)) if b in opened else b,
                     cancelled) for b, cancelled in g.blocks]
        consent = pdl.valid_consent(g.consents, a, ANNA, PATIENT, g.relation, NOW)
        if pdl.opening_needs_emergency(basis, PROVIDER[self.provider], a, consent):
            g.consents.append(pdl.Consent("emergency", "Emergency", PATIENT, a.care_provider_id, a.care_unit_id, ANNA,
                                          NOW, NOW + dt.timedelta(hours=EMERGENCY_HOURS)))


# -- the read ------------------------------------------------------------------------------------------

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


NOTHING_SHOWN = LogRow("Läsa", None, None, None, 0)


def decide(records, g: Guards):
    """`AccessService.read` from the guards on: the consent it goes by, every record decided, the log."""
    consent = pdl.valid_consent(g.consents, g.assignment, ANNA, PATIENT, g.relation, NOW)
    decided = pdl.decide_all([(r, OWNERS[r.source_address]) for r in records], assignment=g.assignment,
                             employee_id=ANNA, consent=consent, relation_attested=g.relation,
                             blocks=g.blocks_of_the_patient(), now=NOW, patient_id=PATIENT, block_types=BLOCK_TYPES)
    return consent, decided, pdl.read_log(decided.shown, decided.withheld, g.assignment.care_provider_id)


# -- the table (the same as tests/test_pdl_decisions.py's) ---------------------------------------------

NO_OWNER, SCOPE, NO_CONSENT, NO_RELATION, BLOCKED = (
    pdl.NO_OWNER, pdl.SCOPE, pdl.NO_CONSENT, pdl.NO_RELATION, pdl.BLOCKED)
THREE = ("own", "sib", "ext")
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
    relation: bool = True


def outer_p2(**kw) -> Block:
    return Block("Outer", "P2", **kw)


def interval(start, end) -> Block:
    return outer_p2(start=start, end=end)


D = dt.date
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


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_decision(case: Case):
    g = Guards(assignment(case.scope), case.relation)
    for step in case.setup:
        step.apply(g)

    _, decided, log = decide([RECORDS[k] for k in case.records], g)

    assert sorted(r.id.removeprefix("doc-") for r, _ in decided.shown) == sorted(case.shown)
    assert dict(decided.withheld) == case.withheld
    assert sorted(LogRow(x.activity, x.resource_care_provider_id, x.resource_care_unit_id, x.contract, x.record_count)
                  for x in log) == sorted(case.log, key=lambda row: tuple(map(str, row)))
    assert any(d.emergency for _, d in decided.shown) == any(row.activity == "Nödöppning" for row in case.log)
    if not case.shown:
        assert [x.detail for x in log] == [{"withheld": case.withheld}]


def test_the_table_is_the_end_to_end_tables_case_by_case():
    """Read without importing it (it runs a server and plugins): the ids of tests/test_pdl_decisions.py."""
    tree = ast.parse((Path(__file__).parent / "test_pdl_decisions.py").read_text())
    ids = [n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call)
           and getattr(n.func, "id", None) == "Case" and n.args and isinstance(n.args[0], ast.Constant)]
    assert ids == [c.id for c in CASES]


# -- the rows of docs/access_rules.md that the table does not reach -----------------------------------

def one(r: Record, *, scope: str = "SJF", relation: bool = True, consent: bool = True,
        owners: frozenset[str] | None = None) -> pdl.Decision:
    a = assignment(scope)
    valid = pdl.Consent("c", "Consent", PATIENT, a.care_provider_id, a.care_unit_id, None, NOW - dt.timedelta(1), None)
    decided = pdl.decide_all([(r, OWNERS[r.source_address] if owners is None else owners)], assignment=a,
                             employee_id=ANNA, consent=valid if consent else None, relation_attested=relation,
                             blocks=[], now=NOW, patient_id=PATIENT, block_types=BLOCK_TYPES)
    return decided.shown[0][1] if decided.shown else pdl.Decision(False, next(iter(decided.withheld)))


@pytest.mark.parametrize("r, owners, reason", [
    pytest.param(record("own", "OWN", "P1", patient=OTHER_PATIENT), None, pdl.OTHER_PATIENT,
                 id="about-another-patient-even-at-the-own-unit"),
    pytest.param(dataclasses.replace(RECORDS["ext"], owner_readable=False), None, pdl.OWNER_UNREADABLE,
                 id="an-owner-id-that-cannot-be-read"),
    pytest.param(RECORDS["ext"], frozenset([PROVIDER["P1"]]), pdl.OWNER_MISMATCH,
                 id="a-provider-its-source-cannot-carry"),
    pytest.param(RECORDS["no-provider-own"], frozenset([PROVIDER["P2"]]), pdl.OWNER_MISMATCH,
                 id="the-own-unit-from-another-providers-source"),
])
def test_never_shown(r, owners, reason):
    assert one(r, owners=owners) == pdl.Decision(False, reason)


def test_a_source_indexed_for_a_provider_may_carry_its_records():
    assert one(RECORDS["ext"], owners=frozenset([PROVIDER["P1"], PROVIDER["P2"]])).shown


def test_what_is_withheld_is_counted_where_it_is_and_by_which_source():
    a, r = assignment("SJF"), RECORDS["ext"]
    block = pdl.Block("b", "Outer", PATIENT, PROVIDER["P2"], None, None, None)
    consent = pdl.Consent("c", "Consent", PATIENT, a.care_provider_id, a.care_unit_id, None, NOW, None)
    decided = pdl.decide_all([(r, OWNERS[r.source_address]), (RECORDS["ext2"], frozenset([PROVIDER["P1"]])),
                              (RECORDS["own-undated"], OWNERS[SOURCE["P1"]]), (RECORDS["own"], OWNERS[SOURCE["P1"]])],
                             assignment=a, employee_id=ANNA, consent=consent, relation_attested=True,
                             blocks=[block], now=NOW, patient_id=PATIENT, block_types=BLOCK_TYPES)
    assert [x.id for x, _ in decided.shown] == ["doc-own-undated", "doc-own"]  # undated first, then newest first
    assert decided.blocked_where == {(PROVIDER["P2"], None, UNIT["EXT"][0], None): 1}
    assert decided.forged == {(SOURCE["P2"], CONTRACT["dia"]): 1}


# -- consents: precedence and limits ------------------------------------------------------------------

def consent(kind: str, start_days: float, employee: str | None = None) -> pdl.Consent:
    a = assignment("SJF")
    return pdl.Consent(f"{kind}{start_days}", kind, PATIENT, a.care_provider_id, a.care_unit_id, employee,
                       days(start_days), None)


def test_consent_outranks_emergency_only_with_a_relation_and_the_latest_wins():
    cs = [consent("Consent", -5), consent("Consent", -2), consent("Emergency", -1)]
    assert pdl.valid_consent(cs, assignment("SJF"), ANNA, PATIENT, True, NOW) is cs[1]
    assert pdl.valid_consent(cs, assignment("SJF"), ANNA, PATIENT, False, NOW) is cs[2]
    assert pdl.valid_consent(cs[:2], assignment("SJF"), ANNA, PATIENT, False, NOW) is cs[1]  # none preferred
    assert pdl.valid_consent([], assignment("SJF"), ANNA, PATIENT, True, NOW) is None


def terms(**kw) -> pdl.ConsentTerms:
    return pdl.consent_terms(**{"emergency": False, "whole_unit": True, "days": None, "reason": None,
                                "employee_id": ANNA, "start": NOW, "emergency_hours": EMERGENCY_HOURS, **kw})


@pytest.mark.parametrize("kw, code", [
    (dict(emergency=True), "reason_required"), (dict(emergency=True, reason="  "), "reason_required"),
    (dict(days=0), "bad_duration"), (dict(days=366), "bad_duration"), (dict(days=-1), "bad_duration"),
])
def test_consent_limits(kw, code):
    with pytest.raises(BadRequest) as refused:
        terms(**kw)
    assert refused.value.code == code


def test_consent_terms():
    assert terms(days=365) == pdl.ConsentTerms("Consent", None, NOW, NOW + dt.timedelta(days=365))
    assert terms(whole_unit=False) == pdl.ConsentTerms("Consent", ANNA, NOW, None)  # until ended
    assert terms(emergency=True, reason="Akut") == pdl.ConsentTerms(  # always personal, and short
        "Emergency", ANNA, NOW, NOW + dt.timedelta(hours=EMERGENCY_HOURS))
    assert terms(emergency=True, reason="Akut", days=2).end == NOW + dt.timedelta(days=2)


def test_a_covering_consent_is_reused_and_a_personal_one_does_not_cover_the_unit():
    a, personal, unit = assignment("SJF"), consent("Consent", -1, ANNA), consent("Consent", -1)
    assert pdl.covering_consent([personal], terms(whole_unit=True), a, ANNA, PATIENT) is None
    assert pdl.covering_consent([personal], terms(whole_unit=False), a, ANNA, PATIENT) is personal
    assert pdl.covering_consent([unit], terms(whole_unit=False), a, ANNA, PATIENT) is unit
    assert pdl.covering_consent([unit], terms(emergency=True, reason="Akut"), a, ANNA, PATIENT) is None  # another kind
    ended = dataclasses.replace(unit, cancelled=True)
    assert pdl.covering_consent([ended], terms(), a, ANNA, PATIENT) is None


@pytest.mark.parametrize("scope, kind, relation, basis", [
    ("SJF", "Consent", True, True), ("SJF", "Consent", False, False), ("SJF", "Emergency", False, True),
    ("SJF", None, True, False), ("VG", "Consent", True, False), ("VE", "Emergency", False, False),
])
def test_a_basis_for_other_care_providers(scope, kind, relation, basis):
    chosen = consent(kind, -1) if kind else None
    assert pdl.has_basis(assignment(scope), chosen, relation) is basis


# -- blocks: the two active choices, reveal by basis, what was opened ---------------------------------

@pytest.mark.parametrize("basis, reason, code", [
    ("", None, "basis_required"), ("Consent", None, "basis_required"), ("Emergency", " ", "reason_required"),
])
def test_a_block_basis_is_named_and_an_emergency_says_why(basis, reason, code):
    with pytest.raises(BadRequest) as refused:
        pdl.block_basis(basis, reason)
    assert refused.value.code == code


def test_step_one_by_consent_needs_a_registered_consent():
    a = assignment("SJF")
    assert not pdl.may_reveal("PatientsConsent", [], a, ANNA, PATIENT, NOW)
    assert not pdl.may_reveal("PatientsConsent", [consent("Emergency", -1)], a, ANNA, PATIENT, NOW)
    assert pdl.may_reveal("PatientsConsent", [consent("Consent", -1)], a, ANNA, PATIENT, NOW)
    assert pdl.may_reveal("Emergency", [], a, ANNA, PATIENT, NOW)


def test_step_two_opens_the_outer_block_on_the_provider_and_inner_ones_on_the_unit():
    outer = pdl.Block("o", "Outer", PATIENT, PROVIDER["P2"], None, None, None)
    inner = pdl.Block("i", "Inner", PATIENT, PROVIDER["P2"], UNIT["EXT"][0], None, None)
    other = pdl.Block("x", "Inner", PATIENT, PROVIDER["P2"], UNIT["EXT2"][0], None, None)
    assert pdl.blocks_at([outer, inner, other], PROVIDER["P2"], None) == [outer]
    assert pdl.blocks_at([outer, inner, other], PROVIDER["P2"], UNIT["EXT"][0]) == [outer, inner]
    assert pdl.blocks_at([outer, inner], PROVIDER["P1"], None) == []


@pytest.mark.parametrize("basis, provider, has_consent, needed", [
    ("Emergency", "P2", False, True), ("Emergency", "P2", True, False), ("Emergency", "P1", False, False),
    ("PatientsConsent", "P2", False, False),
])
def test_an_emergency_opening_of_another_providers_block_registers_an_emergency(basis, provider, has_consent, needed):
    chosen = consent("Consent", -1) if has_consent else None
    assert pdl.opening_needs_emergency(basis, PROVIDER[provider], assignment("SJF"), chosen) is needed


OUTER_P2 = pdl.Block("o", "Outer", PATIENT, PROVIDER["P2"], None, None, None)
LIFTED_P2 = dataclasses.replace(OUTER_P2, revokes=(
    pdl.TemporaryRevoke(UNIT["OWN"][0], ANNA, NOW + dt.timedelta(days=1), "PatientsConsent"),))


@pytest.mark.parametrize("owners, basis, revealed, blocks, known", [
    (frozenset(), False, False, [], True),  # the engagement index
    (frozenset([PROVIDER["P1"]]), False, False, [], True),  # the clinician's own care provider
    (frozenset([PROVIDER["P2"]]), False, False, [], False),  # another's, before a basis: counted only
    (frozenset([PROVIDER["P2"]]), True, False, [], True),
    (frozenset([PROVIDER["P2"]]), True, False, [OUTER_P2], False),  # under an outer block: until step one
    (frozenset([PROVIDER["P2"]]), True, True, [OUTER_P2], True),
    (frozenset([PROVIDER["P2"]]), True, False, [LIFTED_P2], True),  # the clinician opened it
    (frozenset([PROVIDER["P2"]]), False, True, [], False),  # step one gives no basis
])
def test_reveal_by_basis(owners, basis, revealed, blocks, known):
    assert pdl.may_know_of(owners, assignment=assignment("SJF"), employee_id=ANNA, basis=basis,
                           reveal_blocked=revealed, blocks=blocks, now=NOW) is known


def revoke_row(provider: str, *, unit: str = "OWN", employee: str | None = ANNA, ends: float | None = 1) -> dict:
    return {"care_unit_id": UNIT[unit][0], "employee_id": employee, "end": days(ends).isoformat() if ends else None,
            "reason": "PatientsConsent", "block_care_provider_id": PROVIDER[provider], "block_care_unit_id": None}


def test_opened_blocks_listed_are_this_clinicians_unexpired_ones_and_another_providers_only_with_a_basis():
    rows = [revoke_row("P1"), revoke_row("P2"), revoke_row("P2", employee=COLLEAGUE), revoke_row("P2", unit="SIB"),
            revoke_row("P2", ends=-1), revoke_row("P2", ends=None), revoke_row("P2", employee=None)]
    listed = lambda basis: [rows.index(r) for r, _ in pdl.opened(  # noqa: E731
        rows, assignment=assignment("SJF"), employee_id=ANNA, now=NOW, basis=basis)]
    assert listed(True) == [0, 1, 6] and listed(False) == [0]


# -- the log of a read --------------------------------------------------------------------------------

def test_one_log_entry_per_owner_contract_and_basis_sorted():
    shown = [(RECORDS["ext"], pdl.Decision(True, emergency=True)), (RECORDS["no-provider-own"], pdl.Decision(True)),
             (RECORDS["own"], pdl.Decision(True)), (RECORDS["ext"], pdl.Decision(True))]
    assert pdl.read_log(shown, {}, PROVIDER["P1"]) == [  # an own-unit record without a provider is the own one's
        pdl.LogLine("Läsa", PROVIDER["P1"], UNIT["OWN"][0], CONTRACT["dia"], 2),
        pdl.LogLine("Läsa", PROVIDER["P2"], UNIT["EXT"][0], CONTRACT["dia"], 1),
        pdl.LogLine("Nödöppning", PROVIDER["P2"], UNIT["EXT"][0], CONTRACT["dia"], 1)]
    attempt = pdl.LogLine("Läsa", detail={"withheld": {"blocked": 2}})  # nothing shown: the attempt is logged
    assert pdl.read_log([], {"blocked": 2}, PROVIDER["P1"]) == [attempt]
