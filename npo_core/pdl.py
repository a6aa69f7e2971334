"""The law for shared records, per record: care unit, care provider, consent, blocks.

Pure functions over plain data, so every rule is testable without I/O. The guards'
storage lives in `guards.py`; the one access path that applies these rules is `access.py`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .contract import Record
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


@dataclass(frozen=True)
class TemporaryRevoke:
    care_unit_id: str
    employee_id: str | None
    end: dt.datetime
    reason: str  # PatientsConsent | Emergency


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


# What one block does to one record for one clinician.
NOT_COVERED, BLOCKS, LIFTED = "not_covered", "blocks", "lifted"


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
    for revoke in block.revokes:  # a matching, unexpired temporary revoke lifts the block whatever the time
        if (revoke.care_unit_id == assignment.care_unit_id and revoke.employee_id in (None, employee_id)
                and now < revoke.end):
            return LIFTED
    return BLOCKS


def block_applies(block: Block, record: Record, block_type_of_record: str | None,
                  assignment: Assignment, employee_id: str, now: dt.datetime) -> bool:
    return block_state(block, record, block_type_of_record, assignment, employee_id, now) == BLOCKS


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
