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

REASON_TEXT = {
    NO_OWNER: "Saknar vårdgivare eller vårdenhet (HSA-id) och kan därför inte visas i sammanhållen journalföring.",
    SCOPE: "Ligger utanför ditt medarbetaruppdrag.",
    NO_CONSENT: "Kräver patientens samtycke eller nödöppning.",
    NO_RELATION: "Kräver att du intygar en aktuell patientrelation.",
    BLOCKED: "Spärrad information.",
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


def block_applies(block: Block, record: Record, block_type_of_record: str | None,
                  assignment: Assignment, employee_id: str, now: dt.datetime) -> bool:
    """CheckBlocks v4 semantics for one block and one record; undecidable means blocked."""
    if block.block_type == "Inner":
        if record.care_unit_id != block.care_unit_id or assignment.care_unit_id == block.care_unit_id:
            return False
    elif block.block_type == "Outer":
        if record.care_provider_id != block.care_provider_id or assignment.care_provider_id == block.care_provider_id:
            return False
    else:
        return True  # an unknown kind of block cannot be decided
    if block_type_of_record and block_type_of_record in block.excluded_types:
        return False
    for revoke in block.revokes:  # a matching, unexpired temporary revoke lifts the block whatever the time
        if (revoke.care_unit_id == assignment.care_unit_id and revoke.employee_id in (None, employee_id)
                and now < revoke.end):
            return False
    if block.info_start or block.info_end:
        when = record.block_time or record.time
        if when is None:
            return True
        day = when.date()
        if (block.info_start and day < block.info_start) or (block.info_end and day > block.info_end):
            return False
    return True


@dataclass(frozen=True)
class Decision:
    shown: bool
    reason: str | None = None
    emergency: bool = False  # shown only because of an emergency assertion


def decide(record: Record, *, assignment: Assignment, employee_id: str, consent: Consent | None,
           relation_attested: bool, blocks: list[Block], now: dt.datetime,
           block_type_of_record: str | None = None) -> Decision:
    """One record, one clinician: shown, or withheld with a reason.

    `blocks` are the patient's blocks; `consent` is the valid consent or emergency
    assertion of this clinician for this patient, if any.
    """
    if (record.care_unit_id and record.care_unit_id == assignment.care_unit_id
            and record.care_provider_id in (None, assignment.care_provider_id)):
        return Decision(True)  # own care unit (unit HSA-ids are unique; a contradicting provider is not trusted)
    if not record.has_owner:
        return Decision(False, NO_OWNER)
    same_provider = record.care_provider_id == assignment.care_provider_id
    if same_provider:
        if assignment.scope not in ("VG", "SJF"):
            return Decision(False, SCOPE)
    else:
        if assignment.scope != "SJF":
            return Decision(False, SCOPE)
        if consent is None:
            return Decision(False, NO_CONSENT)
        if not relation_attested and consent.assertion_type != "Emergency":
            return Decision(False, NO_RELATION)
    if any(block_applies(b, record, block_type_of_record, assignment, employee_id, now) for b in blocks):
        return Decision(False, BLOCKED)
    return Decision(True, emergency=not same_provider and consent is not None
                    and consent.assertion_type == "Emergency")
