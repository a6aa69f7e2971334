"""Maternity records for the demo patients (GetMaternityMedicalHistory): Fiona's two pregnancies, and one
record made on Egon by mistake. GetVaccinationHistory's demo shares the pregnancy (LMP_DAYS_BACK, childbearing)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from ...contract import SWEDEN, Record, format_date
from .. import PROVIDERS

TITLES = {"registration": "Inskrivning mödrahälsovård", "checkup": "Graviditetskontroll",
          "post_delivery": "Efterkontroll"}
LMP_DAYS_BACK = 640  # the demo's completed pregnancy; its last visit is an efterkontroll about 9 months ago
MIDWIFE = {"displayName": "Barnmorska"}  # no KV Befattning code in the demo's table


def records(contract, demo) -> list[Record]:
    """Pregnancies only for women of childbearing age. Egon (a man) has one registration made on him by mistake:
    nullified at the source, its content removed and no owner named, so npo withholds it (missing_hsa_id)."""
    if demo.profile == "variants":
        return [_wrong_patient(contract, demo)] if demo.logical_address == PROVIDERS[0][4][0] else []
    unit = next((u for u in demo.units if "vårdcentral" in u[1].lower()), None)  # barnmorskemottagningen
    if not childbearing(demo.patient.id, demo.today) or unit is None:
        return []
    height = 158.0 + int(demo.patient.id[-3:]) % 17  # the same woman wherever she is measured
    first_lmp = demo.today - dt.timedelta(days=LMP_DAYS_BACK + 360)
    if demo.logical_address == PROVIDERS[0][4][0]:  # an early miscarriage, registered before it happened
        return _pregnancy(contract, demo, unit, first_lmp, height, [], complete=False)
    if demo.logical_address == PROVIDERS[1][4][0]:  # after moving: a first delivery, followed all the way
        lost = first_lmp + dt.timedelta(weeks=9)
        previous = [{"year": lost.year, "month": lost.month, "delivery": 2, "facility": PROVIDERS[0][3][0][1],
                     "progress": "Missfall v. 9, ingen skrapning.", "gestation": 9}]
        return _pregnancy(contract, demo, unit, demo.today - dt.timedelta(days=LMP_DAYS_BACK), height, previous,
                          complete=True)
    return []


def _wrong_patient(contract, demo) -> Record:
    record = _by_midwife(demo.record(contract=contract.id, information_type=contract.categorization, key="mtr-0",
                                     title=TITLES["registration"], time=demo.when(), detail={}, without_owner=True,
                                     approved=False))
    header = {**record.detail["header"], "nullified_reason":
              "Felregistrering: anteckningen avsåg en annan patient och har makulerats. Innehållet är borttaget."}
    return dataclasses.replace(record, nullified=True, detail={"header": header})


def childbearing(pid: str, today: dt.date) -> bool:
    """Sex from the personnummer's 11th digit (even: woman), age from its first eight."""
    return int(pid[10]) % 2 == 0 and 18 <= today.year - int(pid[:4]) <= 50


def _by_midwife(record: Record) -> Record:
    """A midwife writes it (the demo picks a random profession); the 2.0 core's signature has no name."""
    header = {**record.detail["header"], "author_role": MIDWIFE}
    if header["signature"]:
        header["signature"] = {**header["signature"], "name": None}
    return dataclasses.replace(record, detail={**record.detail, "header": header})


def _pregnancy(contract, demo, unit, lmp: dt.date, height: float, previous: list,
               complete: bool) -> list[Record]:
    """One pregnancy at one barnmorskemottagning: inskrivning, the basprogram's visits, efterkontroll."""
    rng = demo.rng
    weight = float(rng.randint(56, 72))
    registration = {
        "lmp": format_date(lmp), "indication": format_date(lmp + dt.timedelta(days=rng.randint(29, 35))),
        "contraceptive_stop": format_date(lmp - dt.timedelta(days=rng.randint(60, 200))),
        "edd_lmp": format_date(lmp + dt.timedelta(days=280)),
        "length": {"value": height, "unit": "cm"}, "weight": {"value": weight, "unit": "kg"},
        "bmi": {"value": round(weight / (height / 100) ** 2, 1), "unit": "kg/m2"},
        **({"previous": previous} if previous else {}),
        "thrombosis": False, "endocrine": False, "uti": False, "diabetes": False,
        "medication": [{"medicament": "Folsyra 400 mikrogram", "dosage": "1 tablett dagligen t.o.m. vecka 12"}],
        "standard_care": True,
    }
    if complete:  # the date from the routine ultrasound (RUL) replaces the one from the last period
        registration["edd_ultrasound"] = format_date(lmp + dt.timedelta(days=280 + rng.randint(-5, 5)))
    visits = [(rng.randint(52, 66) if complete else rng.randint(46, 58), "registration", registration)]
    hb, iron = float(rng.randint(122, 134)), False
    for week in (16, 25, 29, 32, 35, 37, 39, 40) if complete else ():
        hb = float(round(hb - rng.uniform(0.5, 3.5)))
        gain = max(0, week - 12) * 0.45 + rng.uniform(-0.6, 0.6)
        checkup = {"weeks": week, "weight": {"value": round(weight + gain, 1), "unit": "kg"},
                   **({"sfh": {"value": float(week + rng.randint(-2, 2)), "unit": "cm"}} if week >= 25 else {}),
                   "hb": {"value": hb, "unit": "g/L"},
                   "bp_systolic": {"value": float(rng.randint(102, 126)), "unit": "mm[Hg]"},
                   "bp_diastolic": {"value": float(rng.randint(62, 80)), "unit": "mm[Hg]"},
                   "proteinuria": {"value": 0.0, "unit": "g/L"}, "glycosuria": {"value": 0.0, "unit": "mmol/L"},
                   **({"fetal_position": [0]} if week >= 35 else {}),
                   **({"fetal_presentation": [0]} if week >= 32 else {}),
                   "fetal_heart_rate": [{"value": float(rng.randint(128, 155)), "unit": "/min"}]}
        if hb < 110 and not iron:
            iron = True
            checkup["medication"] = [{"medicament": "Järn, Duroferon 100 mg", "dosage": "1 tablett dagligen"}]
        visits.append((week * 7 + rng.randint(0, 4), "checkup", checkup))
    if complete:
        delivered = 283 + rng.randint(-3, 3)
        visits.append((delivered + rng.randint(56, 84), "post_delivery", {
            "mother": {"bp_systolic": {"value": float(rng.randint(105, 125)), "unit": "mm[Hg]"},
                       "bp_diastolic": {"value": float(rng.randint(65, 80)), "unit": "mm[Hg]"},
                       "hb": {"value": float(rng.randint(118, 132)), "unit": "g/L"},
                       "perineum_ok": True, "vulva_ok": True, "uterus_contracted": True,
                       "uterus_note": "Normal involution, ingen ömhet.", "breastfeeding": True},
            "children": [{"ordinal": 1, "weight": {"value": float(rng.randint(3150, 3950)), "unit": "g"},
                          "apgar1": rng.choice([8, 9]), "apgar5": 10, "apgar10": 10}]}))
    out = []
    for i, (offset, kind, body) in enumerate(visits):  # offset: days since the last period
        day = lmp + dt.timedelta(days=offset)
        when = dt.datetime(day.year, day.month, day.day, rng.randint(8, 16), rng.choice([0, 20, 40]), tzinfo=SWEDEN)
        record = demo.record(contract=contract.id, information_type=contract.categorization,
                             key=f"mtr-{lmp:%Y%m}-{i}", title=TITLES[kind], time=when, unit=unit, detail={kind: body})
        out.append(_by_midwife(record))
    return out
