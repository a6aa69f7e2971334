"""The demo environment: fictitious producers, clinicians and the national test patients.

Everything is deterministic: a record's content follows from a seed made of the patient,
the source system and the contract, so every run and every test sees the same journal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass, field

from ..contract import SWEDEN, Record, format_timestamp
from ..identity import PatientId, parse_patient_id
from ..sessions import Assignment, Clinician

# (HSA-id, name, kind, [(unit HSA-id, unit name)], (logical address, source system name))
PROVIDERS = [
    ("SE2321000016-F0VB", "Region Stockholm", "region",
     [("SE2321000016-9RKT", "Gubbängens vårdcentral"),
      ("SE2321000016-A1SD", "Medicinkliniken, Södersjukhuset"),
      ("SE2321000016-15CQ", "Akutmottagningen, Karolinska Universitetssjukhuset Solna")],
     ("SE2321000016-TKC1", "TakeCare")),
    ("SE2321000131-E000000000001", "Västra Götalandsregionen", "region",
     [("SE2321000131-E000000011", "Kardiologi, Sahlgrenska Universitetssjukhuset"),
      ("SE2321000131-F000000022", "Vårdcentralen Hjällbo")],
     ("SE2321000131-MLM1", "Millennium")),
    ("SE2321000255-F00001", "Region Skåne", "region",
     [("SE2321000255-3HJK", "Ortopedi, Skånes universitetssjukhus Lund"),
      ("SE2321000255-7PLM", "Vårdcentralen Tåbelund")],
     ("SE2321000255-MEL1", "Melior")),
    ("SE2120003005-VG01", "Uppsala kommun", "kommun",
     [("SE2120003005-HSV1", "Hemsjukvården, Uppsala kommun")],
     ("SE2120003005-PRC1", "Procapita")),
    ("SE5565745196-VG01", "Capio S:t Görans Sjukhus AB", "privat",
     [("SE5565745196-SG01", "Akutkliniken, S:t Görans sjukhus")],
     ("SE5565745196-CSM1", "Cosmic")),
]

# Majors a source system is routed for where not every one: Procapita's notes are still on
# GetCareDocumentation 2.1, so the platform refuses 3 there (VP007) and npo falls back to 2.
ROUTED_MAJORS = {("SE2120003005-PRC1", "GetCareDocumentation"): (2,)}

CLINICIANS = [
    (Clinician("SE2321000016-1001", "Anna Lindqvist", "Läkare"), [
        Assignment("SE2321000016-1001-U1", "Läkare, Gubbängens vårdcentral", "SE2321000016-9RKT",
                   "Gubbängens vårdcentral", "SE2321000016-F0VB", "Region Stockholm", scope="SJF"),
        Assignment("SE2321000016-1001-U2", "Jourläkare, Medicinkliniken Södersjukhuset", "SE2321000016-A1SD",
                   "Medicinkliniken, Södersjukhuset", "SE2321000016-F0VB", "Region Stockholm", scope="VG"),
    ]),
    (Clinician("SE2321000131-2002", "Erik Nilsson", "Sjuksköterska"), [
        Assignment("SE2321000131-2002-U1", "Sjuksköterska, Kardiologi Sahlgrenska", "SE2321000131-E000000011",
                   "Kardiologi, Sahlgrenska Universitetssjukhuset", "SE2321000131-E000000000001", "Västra Götalandsregionen"),
    ]),
    (Clinician("SE2120003005-3003", "Maria Holm", "Distriktssköterska"), [
        Assignment("SE2120003005-3003-U1", "Distriktssköterska, Hemsjukvården", "SE2120003005-HSV1",
                   "Hemsjukvården, Uppsala kommun", "SE2120003005-VG01", "Uppsala kommun"),
    ]),
    (Clinician("SE2321000255-4004", "Johan Berg", "Medicinsk sekreterare"), [
        Assignment("SE2321000255-4004-U1", "Administratör, Ortopedi Lund", "SE2321000255-3HJK",
                   "Ortopedi, Skånes universitetssjukhus Lund", "SE2321000255-F00001", "Region Skåne",
                   purpose="Administration", scope="VE"),
    ]),
]

# The national demo environment's test patients and what each one exercises.
PATIENTS = {
    "199701062383": ("Fiona Andersdotter", "rich"),  # realistic data, varied structure, every set
    "193601286499": ("Egon Johansson", "variants"),  # contract variants; records without provider/unit
    "194602226559": ("Harry Harrisson", "blocked"),  # records under every kind of block
    "189908029805": ("Linda Johansson", "heavy"),  # special variants, thousands of records
    "199008199391": ("Mohamed Al Samed", "not_in_tgp"),  # not available in Tillgänglig patient
}


def patient_name(pid: str) -> str | None:
    entry = PATIENTS.get(pid)
    return entry[0] if entry else None


def profile(pid: str) -> str | None:
    entry = PATIENTS.get(pid)
    return entry[1] if entry else None


def provider_of(logical_address: str):
    for provider in PROVIDERS:
        if provider[4][0] == logical_address:
            return provider
    return None


FIRST = ["Karin", "Lars", "Eva", "Mikael", "Sara", "Johan", "Lena", "Ahmed", "Sofia", "Per", "Ingrid", "Oskar"]
LAST = ["Berg", "Lund", "Ek", "Sandberg", "Nyström", "Hassan", "Wallin", "Björk", "Falk", "Holm", "Åberg"]
ROLES = [("201010", "Läkare"), ("204010", "Sjuksköterska"), ("202010", "Fysioterapeut"),
         ("203090", "Undersköterska"), ("204090", "Distriktssköterska")]


@dataclass
class DemoSource:
    """What a contract plugin needs to invent one patient's records at one source system."""

    patient: PatientId
    profile: str
    logical_address: str
    care_provider_id: str
    care_provider_name: str
    units: list[tuple[str, str]]
    contract_id: str
    today: dt.date = field(default_factory=lambda: dt.date.today())

    def __post_init__(self):
        # Seeded by contract *name*: two major versions of a contract describe the same records.
        family = self.contract_id.split(":")[0]
        seed = hashlib.sha256(f"{self.patient.id}|{self.logical_address}|{family}".encode()).hexdigest()
        self.rng = random.Random(int(seed[:16], 16))

    def when(self, max_days_back: int = 3 * 365, min_days_back: int = 0) -> dt.datetime:
        day = self.today - dt.timedelta(days=self.rng.randint(min_days_back, max_days_back))
        return dt.datetime(day.year, day.month, day.day, self.rng.randint(7, 19), self.rng.choice([0, 15, 30, 45]),
                           tzinfo=SWEDEN)

    def clinician(self) -> tuple[str, str, tuple[str, str]]:
        name = f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)}"
        hsa = f"{self.care_provider_id}-{self.rng.randint(1000, 9999)}"
        return hsa, name, self.rng.choice(ROLES)

    def record(self, *, contract: str, information_type: str, key: str, title: str, time: dt.datetime,
               detail: dict, unit: tuple[str, str] | None = None, without_owner: bool = False,
               signed: bool = True, approved: bool = True) -> Record:
        """A record with a complete, realistic header; `without_owner` drops provider and unit."""
        unit = unit or self.rng.choice(self.units)
        author_hsa, author_name, role = self.clinician()
        stamp = format_timestamp(time)
        header = {
            "document_time": stamp, "author_time": stamp, "author_hsa_id": author_hsa, "author_name": author_name,
            "author_role": {"code": role[0], "codeSystem": "1.2.752.129.2.2.1.4", "displayName": role[1]},
            "org_unit": None if without_owner else {"orgUnitHSAId": unit[0], "orgUnitName": unit[1],
                                                    "orgUnitTelecom": None, "orgUnitEmail": None,
                                                    "orgUnitAddress": None, "orgUnitLocation": None},
            "signature": {"time": stamp, "hsa_id": author_hsa, "name": author_name} if signed else None,
            "care_contact_id": None, "nullified_reason": None, "document_title": title,
        }
        return Record(
            id=f"{self.logical_address}-{key}", contract=contract, information_type=information_type, time=time,
            care_provider_id=None if without_owner else self.care_provider_id,
            care_unit_id=None if without_owner else unit[0],
            care_unit_name=None if without_owner else unit[1],
            source_system=self.logical_address, title=title, author=author_name, block_time=time,
            approved_for_patient=approved, patient_id=self.patient.id, detail={**detail, "header": header})


def demo_source(pid: str, logical_address: str, contract_id: str, today: dt.date | None = None) -> DemoSource | None:
    provider = provider_of(logical_address)
    kind = profile(pid)
    if provider is None or kind is None:
        return None
    return DemoSource(parse_patient_id(pid), kind, logical_address, provider[0], provider[1], provider[3],
                      contract_id, today or dt.date.today())


def seed_registry(registry, contract_ids) -> None:
    """Demo producers in the registry: every demo source system produces every contract."""
    for hsa_id, name, kind, units, (address, system) in PROVIDERS:
        registry.add_care_provider(hsa_id, name, kind)
        for unit_id, unit_name in units:
            registry.add_care_unit(unit_id, hsa_id, unit_name)
        registry.add_source_system("demo", address, hsa_id, system, contract_ids)


HARRY = "194602226559"


def seed_blocks(guards) -> None:
    """Harry Harrisson's blocks: one of every kind, so every rule shows in the demo (idempotent)."""
    if guards.block_rows(HARRY):
        return
    by = "SE2321000016-SEED"
    plans = [
        dict(block_type="Inner", care_provider_id="SE2321000016-F0VB", care_unit_id="SE2321000016-15CQ"),
        dict(block_type="Outer", care_provider_id="SE2321000131-E000000000001", care_unit_id=None),
        dict(block_type="Outer", care_provider_id="SE2321000255-F00001", care_unit_id=None,
             info_start=dt.date(2018, 1, 1), info_end=dt.date(2023, 12, 31)),
        dict(block_type="Inner", care_provider_id="SE5565745196-VG01", care_unit_id="SE5565745196-SG01",
             excluded_types=["lak", "upp"]),
        dict(block_type="Inner", care_provider_id="SE2120003005-VG01", care_unit_id="SE2120003005-HSV1"),
    ]
    for plan in plans:
        bid, sql = guards.block_insert_sql(patient_id=HARRY, info_start=plan.pop("info_start", None),
                                           info_end=plan.pop("info_end", None),
                                           excluded_types=plan.pop("excluded_types", []), registered_by=by, **plan)
        statements = [sql]
        if plan["care_unit_id"] == "SE2120003005-HSV1":  # lifted for a week at Gubbängens vårdcentral
            statements.append(guards.revoke_insert_sql(
                block_id=bid, care_unit_id="SE2321000016-9RKT", employee_id=None, reason="PatientsConsent",
                reason_text="Patienten samtycker till att hemsjukvårdens journal visas", days=7,
                registered_by=by)[1])
        guards.admin_change(by, "register_block", HARRY, statements, block_id=bid)
