"""Activities and procedures for the demo patients (GetActivities): one activity per activity group."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from ...contract import format_timestamp
from ...identity import HSA_ID_OID
from ...riv.codes import KVA, LOCAL_ID, SNOMED_CT_SE
from .stories import fits

STAMP = "YYYYMMDDhhmmss"


def _cv(code: str, system: str, text: str | None, named: bool = False) -> dict:
    cv = {"code": code, "codeSystem": system}
    if named:  # some producers name their code system, most send the OID alone
        cv["codeSystemName"] = {KVA: "KVÅ", SNOMED_CT_SE: "SNOMED CT"}[system]
    return {**cv, "displayName": text} if text else cv


RIGHT_ARM = _cv("368209003", SNOMED_CT_SE, "Höger överarm")
LEFT_ARM = _cv("368208006", SNOMED_CT_SE, "Vänster överarm")
LOWER_LEG = _cv("30021000", SNOMED_CT_SE, "Underben")
IM = _cv("76601001", SNOMED_CT_SE, "Intramuskulär injektion")
DONE = _cv("385658003", SNOMED_CT_SE, "Utförd")

# (code, code system, text, target site, method, description, minutes it took or None): a varied pool
ACTIVITIES = [
    ("29303009", SNOMED_CT_SE, "Elektrokardiografi", None, None, "Vilo-EKG, sinusrytm 68/min.", None),
    ("46973005", SNOMED_CT_SE, "Blodtrycksmätning", RIGHT_ARM, None, "Sittande, efter vila: 138/84.", None),
    ("82078001", SNOMED_CT_SE, "Venös blodprovstagning", LEFT_ARM, None, "Fasteprover inför årskontroll.", None),
    ("127783003", SNOMED_CT_SE, "Spirometri", None, None, "Före och efter bronkdilaterare.", 30),
    ("33879002", SNOMED_CT_SE, "Vaccination", LEFT_ARM, IM, "Säsongsinfluensa, dos 1 av 1.", None),
    ("225358003", SNOMED_CT_SE, "Sårvård", LOWER_LEG, None, "Omläggning av bensår, läker som förväntat.", 20),
    ("252465000", SNOMED_CT_SE, "Pulsoximetri", None, None, "Saturation 97 % i vila.", None),
    ("AA039", KVA, "Klinisk undersökning av nervsystemet", None, None, "Inga fokala neurologiska bortfall.", None),
    ("AN032", KVA, "Klinisk undersökning av rörelseapparaten", None, None, "Nedsatt rörlighet i höft.", None),
    ("91251008", SNOMED_CT_SE, "Fysioterapi", None, None, "Gång- och balansträning enligt program.", 45),
    ("73761001", SNOMED_CT_SE, "Koloskopi", None, None, "Undersökt till caekum, inga polyper.", 40),
    ("16310003", SNOMED_CT_SE, "Ultraljudsundersökning", None, None, "Ultraljud buk utan anmärkning.", 25),
]
# the story tag an activity needs (the others fit anyone)
NEEDS = {"Sårvård": "leg_ulcer", "Klinisk undersökning av rörelseapparaten": "elderly", "Fysioterapi": "elderly"}

HOSTILE = '<script>alert("npo")</script> Omläggning <img src=x onerror=alert(1)> &amp; "citat"'
COUNT = {"variants": 3, "blocked": 2, "heavy": 150, "not_in_tgp": 2}


def _stamp(value: dt.datetime) -> dict:
    return {"format": STAMP, "value": format_timestamp(value)}


def _ii(extension: str, root: str = HSA_ID_OID) -> dict:
    return {"root": root, "extension": extension}


def records(contract, demo) -> list:
    rich = demo.rng.randint(2, 4)  # drawn for every profile: the draws that follow depend on it
    count = rich if demo.profile == "rich" else COUNT.get(demo.profile, 0)
    birth = demo.patient.birth_date
    # The schema's date of birth takes only 19xx and 20xx: Linda Johansson (1899) cannot be said as she is.
    born = birth.strftime("%Y%m%d") if birth and birth.year >= 1900 else "19000101"
    pool = [a for a in ACTIVITIES if fits(demo, NEEDS.get(a[2]))]
    out = []
    for i in range(count):
        code, system, text, site, method, description, minutes = demo.rng.choice(pool)
        when = demo.when()
        variant = demo.profile == "variants"
        record = demo.record(contract=contract.id, information_type=contract.categorization, key=f"act-{i}",
                             title=text if not (variant and i == 1) else code, time=when, detail={},
                             without_owner=variant and i == 2, approved=not (demo.profile == "rich" and i == 1))
        header = record.detail["header"]
        registered = when + dt.timedelta(minutes=30 + 15 * (i % 4))
        time = {"start": _stamp(when)}
        if minutes:
            time["end"] = _stamp(when + dt.timedelta(minutes=minutes))
        if variant and i == 0:  # only the month is known: a partial time stamp
            time = {"start": {"format": "YYYYMM", "value": when.strftime("%Y%m")}}
            record = replace(record, time=when.replace(day=1, hour=0, minute=0))
        activity = {"id": _ii(record.id, LOCAL_ID), "status": DONE,  # (None: the element is left out)
                    "code": _cv(code, system, None if variant and i == 1 else text, named=i % 2 == 1),
                    "target_site": site, "time": time, "method": method,
                    "description": HOSTILE if demo.profile == "heavy" and i == 0 else description,
                    "approved_for_patient": record.approved_for_patient,
                    "registration_time": format_timestamp(registered)}
        role = header["author_role"]
        performer = {"id": _ii(header["author_hsa_id"]), "code": role,
                     "person": {"id": _ii(header["author_hsa_id"]), "name": header["author_name"]}}
        if record.care_unit_id:
            giver = {"id": _ii(record.care_provider_id), "name": demo.care_provider_name}
            performer["care_unit"] = {"id": _ii(record.care_unit_id), "name": record.care_unit_name,
                                      "care_giver": giver}
        group = {"patient": {"id": _ii(demo.patient.id, demo.patient.root), "date_of_birth": born},
                 "performer_role": performer,
                 "legal_authenticator": {"id": _ii(header["author_hsa_id"]), "time": _stamp(registered),
                                         "name": header["author_name"]},
                 "source_system": {"id": _ii(demo.logical_address)}}
        if record.care_unit_name:
            group["location"] = {"name": record.care_unit_name}
        if variant and i == 1:  # no performer named, not signed
            del performer["person"], group["legal_authenticator"]
            record = replace(record, author=None)
        detail = {**{k: v for k, v in activity.items() if v is not None}, "group": group}
        out.append(replace(record, detail=detail, block_time=registered))
    return out
