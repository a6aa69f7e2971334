"""The law for shared records (PDL/SVOD): who sees which record, by which consent, past which block, and what
the access log says of it.

Pure functions over plain data: no registry, database or I/O, so every rule runs as a unit test
(`tests/test_pdl_pure.py`). The guards' storage lives in `guards.py`; `access.py` reads the guards, asks
these functions and writes what they decide.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from .contract import Record
from .errors import BadRequest
from .sessions import Assignment

# Reasons a record is withheld. The API gives these, never the blocked content.
NO_OWNER = "missing_hsa_id"
SCOPE = "outside_assignment"
NO_CONSENT = "no_consent"
NO_RELATION = "no_care_relation"
BLOCKED = "blocked"
OTHER_PATIENT = "other_patient"
OWNER_UNREADABLE = "owner_unreadable"
OWNER_MISMATCH = "owner_mismatch"

REASON_TEXT = {
    NO_OWNER: "Saknar vårdgivare eller vårdenhet (HSA-id) och kan därför inte visas i sammanhållen journalföring.",
    SCOPE: "Ligger utanför ditt medarbetaruppdrag.",
    NO_CONSENT: "Kräver patientens samtycke eller nödöppning.",
    NO_RELATION: "Kräver att du intygar en aktuell patientrelation.",
    BLOCKED: "Spärrad information.",
    OTHER_PATIENT: "Gäller en annan patient och visas aldrig.",
    OWNER_UNREADABLE: "Vårdgivarens eller vårdenhetens HSA-id kan inte läsas; posten räknas som spärrad.",
    OWNER_MISMATCH: "Uppgiven vårdgivare stämmer inte med källan.",
}
READ, EMERGENCY_READ = "Läsa", "Nödöppning"  # the access log's activity for a read


# -- consent (samtycke) and emergency access (nödöppning) ---------------------------------------------


@dataclass(frozen=True)
class Consent:
    id: str
    assertion_type: str  # Consent | Emergency
    patient_id: str
    care_provider_id: str
    care_unit_id: str
    employee_id: str | None
    start: dt.datetime
    end: dt.datetime | None
    cancelled: bool = False
    annulled: bool = False
    registered_by: str | None = None

    def valid_for(self, assignment: Assignment, employee_id: str, patient_id: str, now: dt.datetime) -> bool:
        """TKB-Samtycke 7.4: not ended, not cancelled or annulled, and for this unit (or person)."""
        return (
            self.patient_id == patient_id
            and self.care_provider_id == assignment.care_provider_id
            and self.care_unit_id == assignment.care_unit_id
            and self.employee_id in (None, employee_id)
            and self.start <= now
            and (self.end is None or now < self.end)
            and not self.cancelled
            and not self.annulled
        )


def valid_consent(consents: list[Consent], assignment: Assignment, employee_id: str, patient_id: str,
                  relation_attested: bool, now: dt.datetime) -> Consent | None:
    """The consent or emergency assertion a read goes by. With an attested relation the patient's consent
    outranks an emergency assertion; without one, only an emergency assertion can open anything. The latest
    wins among equals."""
    valid = [c for c in consents if c.valid_for(assignment, employee_id, patient_id, now)]
    preferred = "Consent" if relation_attested else "Emergency"
    valid.sort(key=lambda c: (c.assertion_type == preferred, c.start))
    return valid[-1] if valid else None


def has_consent(consents: list[Consent], assignment: Assignment, employee_id: str, patient_id: str,
                now: dt.datetime) -> bool:
    """A valid consent of the patient (not an emergency assertion) covers this clinician."""
    return any(c.assertion_type == "Consent" and c.valid_for(assignment, employee_id, patient_id, now)
               for c in consents)


def has_basis(assignment: Assignment, consent: Consent | None, relation_attested: bool) -> bool:
    """A basis for other care providers' information: scope SJF and consent with a relation, or emergency."""
    return (assignment.scope == "SJF" and consent is not None
            and (relation_attested or consent.assertion_type == "Emergency"))


@dataclass(frozen=True)
class ConsentTerms:
    """What registering a consent or an emergency assertion stores."""

    assertion_type: str  # Consent | Emergency
    employee_id: str | None  # None: everyone at the care unit
    start: dt.datetime
    end: dt.datetime | None  # None: until ended


def consent_terms(*, emergency: bool, whole_unit: bool, days: int | None, reason: str | None, employee_id: str,
                  start: dt.datetime, emergency_hours: float) -> ConsentTerms:
    """The limits: an emergency needs a reason and is the clinician's own, for `emergency_hours` unless days
    are given; a consent lasts 1–365 days (Rehabstöd's cap, no legal maximum is known) or until ended."""
    if emergency and not (reason or "").strip():
        raise BadRequest("Ange skäl för nödöppning.", code="reason_required")
    if days is not None and not 1 <= days <= 365:
        raise BadRequest("Giltighetstiden ska vara 1–365 dagar.", code="bad_duration")
    end = start + dt.timedelta(days=days) if days else None
    if emergency and end is None:
        end = start + dt.timedelta(hours=emergency_hours)
    return ConsentTerms("Emergency" if emergency else "Consent",
                        None if whole_unit and not emergency else employee_id, start, end)


def covering_consent(consents: list[Consent], terms: ConsentTerms, assignment: Assignment, employee_id: str,
                     patient_id: str) -> Consent | None:
    """A valid one of the same kind that already covers what `terms` would (a personal one does not cover the
    whole unit): registering again would add nothing, so it is reused."""
    same = [c for c in consents if c.assertion_type == terms.assertion_type
            and c.valid_for(assignment, employee_id, patient_id, terms.start)
            and (c.employee_id is None or terms.employee_id is not None)]
    return same[-1] if same else None


# -- blocks (spärr) ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TemporaryRevoke:
    care_unit_id: str
    employee_id: str | None
    end: dt.datetime
    reason: str  # PatientsConsent | Emergency

    def lifts(self, assignment: Assignment, employee_id: str, now: dt.datetime) -> bool:
        """It opens its block for this clinician: at their care unit, for them (or everyone there), unexpired."""
        return (self.care_unit_id == assignment.care_unit_id and self.employee_id in (None, employee_id)
                and now < self.end)


@dataclass(frozen=True)
class Block:
    id: str
    block_type: str  # Inner | Outer
    patient_id: str
    care_provider_id: str
    care_unit_id: str | None
    info_start: dt.date | None
    info_end: dt.date | None
    excluded_types: frozenset[str] = frozenset()
    revokes: tuple[TemporaryRevoke, ...] = ()

    def lifted(self, assignment: Assignment, employee_id: str, now: dt.datetime) -> bool:
        return any(r.lifts(assignment, employee_id, now) for r in self.revokes)


# What one block does to one record for one clinician.
NOT_COVERED, BLOCKS, LIFTED = "not_covered", "blocks", "lifted"
BASES = ("PatientsConsent", "Emergency")  # why a clinician reveals or opens blocked information


def block_state(block: Block, record: Record, block_type_of_record: str | None,
                assignment: Assignment, employee_id: str, now: dt.datetime) -> str:
    """CheckBlocks v4 semantics for one block and one record; undecidable means blocked.

    LIFTED: the block covers the record, but this clinician's temporary revoke opens it."""
    if block.block_type == "Inner":
        if record.care_unit_id != block.care_unit_id or assignment.care_unit_id == block.care_unit_id:
            return NOT_COVERED
    elif block.block_type == "Outer":
        if record.care_provider_id != block.care_provider_id or assignment.care_provider_id == block.care_provider_id:
            return NOT_COVERED
    else:
        return BLOCKS  # an unknown kind of block cannot be decided
    if block_type_of_record and block_type_of_record in block.excluded_types:
        return NOT_COVERED
    if block.info_start or block.info_end:
        when = record.block_time or record.time
        if when is not None:
            day = when.date()
            if (block.info_start and day < block.info_start) or (block.info_end and day > block.info_end):
                return NOT_COVERED
    # a matching, unexpired temporary revoke lifts the block whatever the time
    return LIFTED if block.lifted(assignment, employee_id, now) else BLOCKS


def block_basis(basis: str, reason: str | None) -> str:
    """Both active choices (reveal, open) name their basis; an emergency also its reason."""
    if basis not in BASES:
        raise BadRequest("Ange patientens samtycke eller nödsituation.", code="basis_required")
    if basis == "Emergency" and not (reason or "").strip():
        raise BadRequest("Ange skäl för nödöppning.", code="reason_required")
    return basis


def may_reveal(basis: str, consents: list[Consent], assignment: Assignment, employee_id: str, patient_id: str,
               now: dt.datetime) -> bool:
    """Step one (where blocked information is) by the patient's consent needs a registered consent."""
    return basis == "Emergency" or has_consent(consents, assignment, employee_id, patient_id, now)


def blocks_at(blocks: list[Block], care_provider_id: str, care_unit_id: str | None) -> list[Block]:
    """What step two opens at one place: an outer block on the care provider, inner ones on the care unit."""
    return [b for b in blocks if (b.block_type == "Outer" and b.care_provider_id == care_provider_id)
            or (b.block_type == "Inner" and care_unit_id and b.care_unit_id == care_unit_id)]


def opening_needs_emergency(basis: str, care_provider_id: str, assignment: Assignment,
                            consent: Consent | None) -> bool:
    """Opening another care provider's blocked information in an emergency, without a valid consent or
    assertion, registers an emergency assertion too: else the opened records would still need a consent."""
    return basis == "Emergency" and care_provider_id != assignment.care_provider_id and consent is None


# -- every record of a read ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    shown: bool
    reason: str | None = None
    emergency: bool = False  # shown only because of an emergency assertion
    opened: bool = False  # shown only because the clinician opened a block (temporary revoke)


def decide(record: Record, *, assignment: Assignment, employee_id: str, consent: Consent | None,
           relation_attested: bool, blocks: list[Block], now: dt.datetime,
           block_type_of_record: str | None = None, patient_id: str | None = None,
           source_owners: frozenset[str] | None = None) -> Decision:
    """One record, one clinician: shown, or withheld with a reason.

    `blocks` are the patient's blocks; `consent` is the valid consent or emergency
    assertion of this clinician for this patient, if any. `patient_id` is the patient the read
    is for, and `source_owners` the care providers the record's source is registered or indexed
    for: what a producer writes about the patient and the owner is checked against both.
    """
    if patient_id and record.patient_id and record.patient_id != patient_id:
        return Decision(False, OTHER_PATIENT)
    if not record.owner_readable:
        return Decision(False, OWNER_UNREADABLE)
    if source_owners is not None and record.care_provider_id and record.care_provider_id not in source_owners:
        return Decision(False, OWNER_MISMATCH)
    own_provider_source = source_owners is None or assignment.care_provider_id in source_owners
    if (record.care_unit_id and record.care_unit_id == assignment.care_unit_id
            and record.care_provider_id in (None, assignment.care_provider_id)):
        if not own_provider_source:  # "your own unit" from another provider's source is not believed
            return Decision(False, OWNER_MISMATCH)
        return Decision(True)  # own care unit (unit HSA-ids are unique; a contradicting provider is not trusted)
    if not record.has_owner:
        return Decision(False, NO_OWNER)
    emergency = consent is not None and consent.assertion_type == "Emergency"
    same_provider = record.care_provider_id == assignment.care_provider_id
    if same_provider:
        if assignment.scope not in ("VG", "SJF"):
            return Decision(False, SCOPE)
        # The national service asks for a current patient relation before any read beyond the own unit.
        if not relation_attested and not emergency:
            return Decision(False, NO_RELATION)
    else:
        if assignment.scope != "SJF":
            return Decision(False, SCOPE)
        if consent is None:
            return Decision(False, NO_CONSENT)
        if not relation_attested and not emergency:
            return Decision(False, NO_RELATION)
    states = {block_state(b, record, block_type_of_record, assignment, employee_id, now) for b in blocks}
    if BLOCKS in states:
        return Decision(False, BLOCKED)
    return Decision(True, emergency=not same_provider and emergency, opened=LIFTED in states)


@dataclass
class Decided:
    """Every record of a read decided: what is shown (undated first, then newest first); what is withheld
    only counted."""

    shown: list[tuple[Record, Decision]]
    withheld: Counter  # reason -> records
    blocked_where: Counter  # (care provider id, its name, care unit id, its name) -> blocked records
    forged: Counter  # (source address, contract) -> records claiming an owner their source cannot carry


def decide_all(records: list[tuple[Record, frozenset[str]]], *, assignment: Assignment, employee_id: str,
               consent: Consent | None, relation_attested: bool, blocks: list[Block], now: dt.datetime,
               patient_id: str, block_types: dict[str, str | None]) -> Decided:
    """`decide` for each (record, the care providers its source may carry); `block_types`: contract id -> the
    information type blocks may exclude (lak, upp)."""
    out = Decided([], Counter(), Counter(), Counter())
    for record, owners in records:
        decision = decide(record, assignment=assignment, employee_id=employee_id, consent=consent,
                          relation_attested=relation_attested, blocks=blocks, now=now,
                          block_type_of_record=block_types.get(record.contract), patient_id=patient_id,
                          source_owners=owners)
        if decision.shown:
            out.shown.append((record, decision))
            continue
        out.withheld[decision.reason] += 1
        if decision.reason == BLOCKED:
            out.blocked_where[(record.care_provider_id, record.care_provider_name,
                               record.care_unit_id, record.care_unit_name)] += 1
        elif decision.reason == OWNER_MISMATCH:
            out.forged[(record.source_address, record.contract)] += 1
    out.shown.sort(key=lambda rd: (rd[0].time is None, rd[0].time), reverse=True)
    return out


# -- reveal by basis: what the clinician may learn of where information is ----------------------------


def may_know_of(owners: frozenset[str], *, assignment: Assignment, employee_id: str, basis: bool,
                reveal_blocked: bool, blocks: list[Block], now: dt.datetime) -> bool:
    """Whether a source's status may be shown. Before a basis for another care provider its sources are only
    counted, since a source asked for a set says that this provider holds that set for the patient; a provider
    under an outer block the clinician has not lifted stays counted until step one."""
    if not owners or assignment.care_provider_id in owners:
        return True  # the engagement index, or the clinician's own care provider
    if not basis:
        return False
    if reveal_blocked:
        return True
    outer = {b.care_provider_id for b in blocks
             if b.block_type == "Outer" and not b.lifted(assignment, employee_id, now)}
    return not (owners & outer)


def opened(revokes: list[dict], *, assignment: Assignment, employee_id: str, now: dt.datetime,
           basis: bool) -> list[tuple[dict, dt.datetime]]:
    """(revoke row, its end) of the blocked information this clinician has opened and may still read; another
    care provider's only with a basis, since the list says where blocked information is."""
    out = []
    for row in revokes:
        end = dt.datetime.fromisoformat(row["end"]) if row["end"] else None
        if end is None or not TemporaryRevoke(row["care_unit_id"], row["employee_id"], end, row["reason"]).lifts(
                assignment, employee_id, now):
            continue
        if row["block_care_provider_id"] != assignment.care_provider_id and not basis:
            continue
        out.append((row, end))
    return out


# -- the access log of a read --------------------------------------------------------------------------


@dataclass(frozen=True)
class LogLine:
    """One access-log entry of a read (the fields of `guards.LogEntry` it sets)."""

    activity: str
    resource_care_provider_id: str | None = None
    resource_care_unit_id: str | None = None
    contract: str | None = None
    record_count: int = 0
    detail: dict = field(default_factory=dict)


def read_log(shown: list[tuple[Record, Decision]], withheld: Counter, own_care_provider_id: str) -> list[LogLine]:
    """One entry per owner (care provider, care unit), contract and legal basis of what was shown (an emergency
    is logged as Nödöppning); with nothing shown, one for the attempt, saying what was withheld."""
    groups: Counter[tuple] = Counter(
        (r.care_provider_id or own_care_provider_id,  # only own-unit records may lack it: the owner is known
         r.care_unit_id, r.contract, d.emergency) for r, d in shown)
    lines = [LogLine(EMERGENCY_READ if emergency else READ, provider, unit, contract, count)
             for (provider, unit, contract, emergency), count in sorted(groups.items(),
                                                                        key=lambda kv: tuple(map(str, kv[0])))]
    return lines or [LogLine(READ, detail={"withheld": dict(withheld)})]
