"""Observations for the demo patients (GetObservations): vital signs and measurements that fit each patient.

A visit (blood pressure check, weighing, fever) gives a few observations by one clinician at one unit; each
observation is a record and is answered in a group of its own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from ... import HSA_ID_OID, format_timestamp
from ...riv.codes import KV_KON, LOCAL_ID, SNOMED_CT_SE
from .. import patient_name

STAMP = "YYYYMMDDhhmmss"
# kind: (SNOMED CT code, Swedish term, UCUM unit, decimals)
KINDS = {
    "systolic": ("271649006", "Systoliskt blodtryck", "mm[Hg]", 0),
    "diastolic": ("271650006", "Diastoliskt blodtryck", "mm[Hg]", 0),
    "pulse": ("78564009", "Pulsfrekvens", "/min", 0),
    "weight": ("27113001", "Kroppsvikt", "kg", 1),
    "height": ("50373000", "Kroppslängd", "cm", 0),
    "waist": ("276361009", "Midjemått", "cm", 0),
    "temperature": ("386725007", "Kroppstemperatur", "Cel", 1),
    "saturation": ("431314004", "Syremättnad (SpO2)", "%", 0),
}
# What fits each demo patient: age and sex (Fiona 29, Egon 90, Harry 80, Linda 127, Mohamed 36)
RANGES = {
    "rich": {"systolic": (108, 124), "diastolic": (64, 78), "pulse": (56, 78), "weight": (58, 66),
             "height": (166, 168), "waist": (70, 78), "temperature": (36.4, 38.9), "saturation": (96, 99)},
    "variants": {"systolic": (136, 162), "diastolic": (70, 88), "pulse": (60, 88), "weight": (68, 76),
                 "height": (172, 174), "waist": (96, 104), "temperature": (36.0, 37.4), "saturation": (92, 97)},
    "blocked": {"systolic": (130, 150), "diastolic": (76, 90), "pulse": (58, 80), "weight": (82, 94),
                "height": (178, 180), "waist": (98, 108), "temperature": (36.2, 38.4), "saturation": (94, 98)},
    "heavy": {"systolic": (142, 172), "diastolic": (64, 86), "pulse": (62, 94), "weight": (44, 50),
              "height": (150, 152), "waist": (76, 86), "temperature": (35.8, 37.6), "saturation": (91, 96)},
    "not_in_tgp": {"systolic": (116, 132), "diastolic": (70, 84), "pulse": (54, 72), "weight": (76, 86),
                   "height": (180, 182), "waist": (84, 92), "temperature": (36.4, 38.2), "saturation": (97, 99)},
}
VISITS = [["systolic", "diastolic", "pulse"], ["weight"], ["weight", "height", "waist", "systolic", "diastolic"],
          ["temperature", "saturation", "pulse"]]
VISIT_COUNT = {"blocked": 3, "heavy": 40, "not_in_tgp": 2}
LEFT_ARM = {"code": "368208006", "codeSystem": SNOMED_CT_SE, "displayName": "Vänster överarm"}
PULSE_OXIMETRY = {"code": "252465000", "codeSystem": SNOMED_CT_SE, "displayName": "Pulsoximetri"}
FINAL = {"code": "completed", "codeSystem": "2.16.840.1.113883.5.14", "displayName": "Slutförd"}  # HL7 ActStatus
HOSTILE = '<script>alert("npo")</script> Mätt efter vila <img src=x onerror=alert(1)> &amp; "citat"'


def _cv(code: str, text: str | None = None, system: str = SNOMED_CT_SE) -> dict:
    return {"code": code, "codeSystem": system, **({"displayName": text} if text else {})}


def _ii(extension: str, root: str = HSA_ID_OID) -> dict:
    return {"root": root, "extension": extension}


def _stamp(value: dt.datetime, form: str = STAMP) -> dict:
    return {"format": form, "value": format_timestamp(value)[:len(form)]}


def records(contract, demo) -> list:
    if demo.profile == "variants":
        return _variants(contract, demo)
    count = VISIT_COUNT.get(demo.profile, 0)
    if demo.profile == "rich":
        count = demo.rng.randint(3, 5)
    elif demo.profile == "heavy" and demo.logical_address != "SE2321000016-TKC1":
        count = demo.rng.randint(6, 12)
    out = []
    for i in range(count):
        if demo.profile == "blocked":  # a visit a year, over the units: every kind of block shows
            when, unit = demo.when(365 * (i + 1) - 1, 365 * i), demo.units[i % len(demo.units)]
        else:
            when, unit = demo.when(), None
        visit = _visit(contract, demo, f"obs-{i}", when, unit=unit)
        for n, kind in enumerate(demo.rng.choice(VISITS)):
            observation = _measured(demo, kind)
            if demo.profile == "heavy" and i == 0 and n == 0:  # producer text is data, never markup
                observation["description"] = HOSTILE
            out.append(_record(visit, n, observation))
    return out


def _measured(demo, kind: str) -> dict:
    code, text, unit, decimals = KINDS[kind]
    low, high = RANGES[demo.profile][kind]
    value = round(demo.rng.uniform(low, high), decimals) if decimals else float(demo.rng.randint(low, high))
    observation = {"type": _cv(code, text), "value": {"pq": {"value": value, "unit": unit}}}
    if kind in ("systolic", "diastolic"):
        observation["target_site"] = LEFT_ARM
    if kind == "saturation":
        observation["method"] = PULSE_OXIMETRY
    return observation


def _visit(contract, demo, key: str, when: dt.datetime, **options) -> tuple:
    """A visit's record (its owner, clinician and times) and the group its observations are answered in."""
    record = demo.record(contract=contract.id, information_type=contract.categorization, key=key, title="",
                         time=when, detail={}, **options)
    header = record.detail["header"]
    registered = when + dt.timedelta(minutes=5 + 5 * demo.rng.randint(0, 5))
    birth = demo.patient.birth_date
    # The schema's date of birth takes only 19xx and 20xx: Linda Johansson (1899) cannot be said as she is.
    born = birth.strftime("%Y%m%d") if birth and birth.year >= 1900 else "19000101"
    male = int(demo.patient.id[10]) % 2 == 1
    performer = {"id": _ii(header["author_hsa_id"]), "code": header["author_role"],
                 "person": {"id": _ii(header["author_hsa_id"]), "name": header["author_name"]}}
    if record.care_unit_id:
        performer["care_unit"] = {"id": _ii(record.care_unit_id), "name": record.care_unit_name,
                                  "care_giver": {"id": _ii(record.care_provider_id), "name": demo.care_provider_name}}
    group = {"patient": {"id": _ii(demo.patient.id, demo.patient.root), "name": patient_name(demo.patient.id),
                         "date_of_birth": born,
                         "gender": _cv("1" if male else "2", "Man" if male else "Kvinna", KV_KON)},
             "performer_role": performer,
             "legal_authenticator": {"id": _ii(header["author_hsa_id"]), "time": _stamp(registered),
                                     "name": header["author_name"]},
             "source_system": {"id": _ii(demo.logical_address)}}
    if options.get("signed") is False:
        del group["legal_authenticator"]
    provider = demo.care_provider_name if record.care_unit_id else None
    return replace(record, care_provider_name=provider, block_time=registered), group


def _record(visit: tuple, n: int, observation: dict, time: dict | None = None):
    """One observation of a visit as its record: dated by when it was made, blocks compared by its registration."""
    record, group = visit
    observation = {"id": _ii(f"{record.id}-{n}", LOCAL_ID), **observation,
                   "time": time or {"start": _stamp(record.time), "end": _stamp(record.time)},
                   "value_negation": observation.get("value_negation", False),
                   "approved_for_patient": record.approved_for_patient,
                   "registration_time": format_timestamp(record.block_time)}
    return replace(record, id=f"{record.id}-{n}", title=observation["type"].get("displayName") or
                   observation["type"]["code"], detail={**observation, "group": group})


def _variants(contract, demo) -> list:
    """Egon: every variant of the contract, once."""
    when = [demo.when() for _ in range(9)]
    out = []
    bp = _visit(contract, demo, "obs-v0", when[0])  # a blood pressure check, signed and with its status
    for n, kind in enumerate(("systolic", "diastolic", "pulse")):
        out.append(_record(bp, n, {**_measured(demo, kind), "status": FINAL}))
    out.append(_record(_visit(contract, demo, "obs-v1", when[1], without_owner=True), 0, _measured(demo, "weight")))
    out.append(_record(_visit(contract, demo, "obs-v2", when[2], signed=False, approved=False), 0,
                       _measured(demo, "pulse")))  # preliminary: not signed, not (yet) for the patient
    out.append(_record(_visit(contract, demo, "obs-v3", when[3]), 0, {  # a coded finding
        "type": _cv("229819007", "Tobaksbruk"), "value": {"cv": _cv("8517006", "Före detta rökare")},
        "description": "Slutade röka för 20 år sedan, 30 paketår."}))
    out.append(_record(_visit(contract, demo, "obs-v4", when[4]), 0, {  # a negated finding: no oedema
        "type": _cv("267038008", "Ödem"), "value": {}, "value_negation": True,
        "target_site": _cv("30021000", "Underben"), "description": "Inga ödem på underbenen."}))
    month = when[5].replace(day=1, hour=0, minute=0)  # only the month is known: a partial time stamp
    height = _visit(contract, demo, "obs-v5", month)
    out.append(_record(height, 0, _measured(demo, "height"), time={"start": _stamp(month, "YYYYMM")}))
    onset = when[6] - dt.timedelta(days=4)  # a time as the value, the code alone as its type (no term)
    out.append(_record(_visit(contract, demo, "obs-v6", when[6]), 0, {
        "type": _cv("298059007"), "value": {"ts": _stamp(onset, "YYYYMMDD")}}))
    fever = {"start": _stamp(when[7] - dt.timedelta(days=6), "YYYYMMDD"),
             "end": _stamp(when[7] - dt.timedelta(days=2), "YYYYMMDD")}
    out.append(_record(_visit(contract, demo, "obs-v7", when[7]), 0, {  # a period as the value
        "type": _cv("386661006", "Feber"), "value": {"ivl_ts": fever}, "description": "Feberperiod enligt patienten."}))
    home, group = _visit(contract, demo, "obs-v8", when[8])  # measured at home, with a device, about a contact
    group = {**group, "additional_participant": [{
        "type": _cv("DEV", "Utrustning", "2.16.840.1.113883.5.90"), "role": _cv("DEV", "Mätutrustning",
                                                                                "2.16.840.1.113883.5.90"),
        "device": {"type": _cv("258057004", "Blodtrycksmätare"), "model": {"value": "Omron M3"}}}]}
    contact = {"code": _cv("REFR", "Hänvisar till", "2.16.840.1.113883.5.1002"), "referred_information": {
        "id": _ii(f"{demo.logical_address}-vko-1", LOCAL_ID), "time": _stamp(when[8], "YYYYMMDD"), "type": "vko",
        "information_owner": {"id": _ii(home.care_unit_id or demo.care_provider_id)}}}
    out.append(_record((home, group), 0, {**_measured(demo, "systolic"), "description": "Hemmätning, medelvärde "
                                          "av tre mätningar.", "relation": [contact]}))
    return out
