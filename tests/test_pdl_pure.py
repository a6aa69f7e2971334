"""The PDL decision table as pure unit tests: plain dataclasses in, `npo_core.pdl` decisions out, no server.

`CASES` (tests/pdl_table.py) is the table tests/test_pdl_decisions.py runs through the server, here with
each setup step done the way the access path does it, through the same pure functions: a consent or
emergency registered through the API is `pdl.consent_terms` and `pdl.covering_consent`, opening blocked
information is `pdl.block_basis`, `pdl.may_reveal`, `pdl.blocks_at` and `pdl.opening_needs_emergency`.
The read is `pdl.valid_consent`, `pdl.decide_all` and `pdl.read_log`. What the guard store does (only the
patient's blocks that are not cancelled) is done by `Guards.blocks_of_the_patient`.

Then the rows of docs/access_rules.md the table does not reach (another patient, owners that cannot be
read or that the source cannot carry), consent limits and precedence, reveal by basis and the list of
opened blocks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from dataclasses import dataclass, field

import pytest

from npo_core import Assignment, BadRequest, Record
from npo_core import pdl

from .pdl_table import (ANNA, CASES, COLLEAGUE, CONTRACT, NOW, OTHER_PATIENT, PATIENT, PROVIDER, RECORD_SPECS,
                        SOURCE, UNIT, WHEN, ApiConsent, Block, Case, Consent, Emergency, LogRow, OpenBlocked, Revoke)

OWNERS = {SOURCE[p]: frozenset([PROVIDER[p]]) for p in PROVIDER}  # whose records each source may carry
BLOCK_TYPES = {CONTRACT["dia"]: None, CONTRACT["upp"]: "upp"}
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


RECORDS = {key: record(key, *spec) for key, spec in RECORD_SPECS.items()}


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


@functools.singledispatch
def apply(step, g: Guards) -> None:
    raise TypeError(f"no setup step {step!r}")


@apply.register
def _(step: Consent, g: Guards) -> None:
    unit_id, provider, _ = UNIT[step.unit]
    g.consents.append(pdl.Consent(f"c{len(g.consents)}", step.assertion, step.patient, PROVIDER[provider],
                                  unit_id, step.employee, days(step.starts), days(step.ends),
                                  cancelled=step.ended == "cancel", annulled=step.ended == "annul"))


def revoke(r: Revoke) -> pdl.TemporaryRevoke:
    end = NOW - dt.timedelta(hours=1) if r.expired else NOW + dt.timedelta(days=1)
    return pdl.TemporaryRevoke(UNIT[r.unit][0], r.employee, end, "PatientsConsent")


@apply.register
def _(step: Block, g: Guards) -> None:
    unit_id, provider = (UNIT[step.at][0], UNIT[step.at][1]) if step.kind == "Inner" else (None, step.at)
    g.blocks.append((pdl.Block(f"b{len(g.blocks)}", step.kind, step.patient, PROVIDER[provider], unit_id,
                               step.start, step.end, frozenset(step.excluded),
                               tuple(revoke(r) for r in step.revokes)), step.cancelled))


@apply.register
def _(step: Emergency, g: Guards) -> None:
    g.register(emergency=True, whole_unit=False, days=None, reason="Medvetslös patient på akuten")


@apply.register
def _(step: ApiConsent, g: Guards) -> None:
    consent = g.register(emergency=False, whole_unit=step.whole_unit, days=7, reason=None)
    if step.then:
        g.consents[g.consents.index(consent)] = dataclasses.replace(
            consent, cancelled=step.then == "cancel", annulled=step.then == "annul")


@apply.register
def _(step: OpenBlocked, g: Guards) -> None:
    a, reason = g.assignment, "Akut bröstsmärta" if step.basis == "Emergency" else None
    basis = pdl.block_basis(step.basis, reason)
    assert pdl.may_reveal(basis, g.consents, a, ANNA, PATIENT, NOW)
    opened = pdl.blocks_at(g.blocks_of_the_patient(), PROVIDER[step.provider],
                           UNIT[step.unit][0] if step.unit else None)
    assert opened
    g.blocks = [(dataclasses.replace(b, revokes=b.revokes + (
        pdl.TemporaryRevoke(a.care_unit_id, ANNA, NOW + dt.timedelta(days=1), basis),)) if b in opened else b,
                 cancelled) for b, cancelled in g.blocks]
    consent = pdl.valid_consent(g.consents, a, ANNA, PATIENT, g.relation, NOW)
    if pdl.opening_needs_emergency(basis, PROVIDER[step.provider], a, consent):
        g.consents.append(pdl.Consent("emergency", "Emergency", PATIENT, a.care_provider_id, a.care_unit_id, ANNA,
                                      NOW, NOW + dt.timedelta(hours=EMERGENCY_HOURS)))


# -- the read ------------------------------------------------------------------------------------------

def decide(records, g: Guards):
    """`AccessService.read` from the guards on: the consent it goes by, every record decided, the log."""
    consent = pdl.valid_consent(g.consents, g.assignment, ANNA, PATIENT, g.relation, NOW)
    decided = pdl.decide_all([(r, OWNERS[r.source_address]) for r in records], assignment=g.assignment,
                             employee_id=ANNA, consent=consent, relation_attested=g.relation,
                             blocks=g.blocks_of_the_patient(), now=NOW, patient_id=PATIENT, block_types=BLOCK_TYPES)
    return consent, decided, pdl.read_log(decided.shown, decided.withheld, g.assignment.care_provider_id)


# -- the table ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_decision(case: Case):
    g = Guards(assignment(case.scope), case.relation)
    for step in case.setup:
        apply(step, g)

    _, decided, log = decide([RECORDS[k] for k in case.records], g)

    assert sorted(r.id.removeprefix("doc-") for r, _ in decided.shown) == sorted(case.shown)
    assert dict(decided.withheld) == case.withheld
    assert sorted(LogRow(x.activity, x.resource_care_provider_id, x.resource_care_unit_id, x.contract, x.record_count)
                  for x in log) == sorted(case.log, key=lambda row: tuple(map(str, row)))
    assert any(d.emergency for _, d in decided.shown) == any(row.activity == "Nödöppning" for row in case.log)
    if not case.shown:
        assert [x.detail for x in log] == [{"withheld": case.withheld}]


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
