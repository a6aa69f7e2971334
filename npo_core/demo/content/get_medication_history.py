"""Drug ordinations for the demo patients (GetMedicationHistory): chains of ordinations, each with
its prescription (förskrivning) or administrations, in the body's shape (the schema's element names)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import NamedTuple

from ...contract import Record, format_date, format_timestamp
from ...riv.codes import ATC, HSA_ID, ICD10SE, KV_BEFATTNING, KV_KON, LOCAL_ID, SNOMED_CT_SE
from .. import PROVIDERS, provider_of
from .stories import story


class Drug(NamedTuple):
    atc: str
    substance: str  # the ATC text, as SIL gives it
    form: str
    strength: str
    unit: str
    route: str
    purpose: str
    reason: tuple[str, str] | None  # ICD-10-SE
    # ("freq", amount, times a day) | ("prn", condition, low, high, most a day) | ("week",) | ("ramp",) |
    # ("single",) | ("period", low mg, high mg, hours)
    dosage: tuple


DRUGS = [
    Drug("A10BA02", "metformin", "Tablett", "500", "mg", "Oralt", "Mot diabetes",
         ("E11.9", "Diabetes mellitus typ 2 utan komplikationer"), ("freq", 1, 2)),
    Drug("A02BC01", "omeprazol", "Enterokapsel, hård", "20", "mg", "Oralt", "Mot sura uppstötningar",
         ("K21.9", "Gastroesofageal refluxsjukdom utan esofagit"), ("freq", 1, 1)),
    Drug("C09AA02", "enalapril", "Tablett", "10", "mg", "Oralt", "Mot högt blodtryck",
         ("I10.9", "Essentiell hypertoni"), ("freq", 1, 1)),
    Drug("R03AC02", "salbutamol", "Inhalationspulver", "0.2", "mg/dos", "Inhalation", "Mot andnöd",
         ("J45.9", "Astma, ospecificerad"), ("prn", "vid andnöd", 1, 2, 4)),
    Drug("R03AK07", "budesonid och formoterol", "Inhalationspulver", "160", "mikrog/dos", "Inhalation",
         "Förebyggande mot astma", ("J45.9", "Astma, ospecificerad"), ("freq", 2, 2)),
    Drug("B03AA07", "järn(II)sulfat", "Depottablett", "100", "mg", "Oralt", "Mot järnbrist",
         ("D50.9", "Järnbristanemi, ospecificerad"), ("freq", 1, 1)),
    Drug("N02CC01", "sumatriptan", "Tablett", "50", "mg", "Oralt", "Mot migränanfall",
         ("G43.9", "Migrän, ospecificerad"), ("prn", "vid migränanfall", 1, 1, 2)),
    Drug("N06DA02", "donepezil", "Filmdragerad tablett", "5", "mg", "Oralt", "Mot minnessvikt",
         ("F00.1", "Demens vid Alzheimers sjukdom med sen debut"), ("freq", 1, 1)),
    Drug("C01AA05", "digoxin", "Tablett", "0.13", "mg", "Oralt", "Mot förmaksflimmer och hjärtsvikt",
         ("I48.9", "Förmaksflimmer och förmaksfladder, ospecificerat"), ("freq", 1, 1)),
    Drug("B01AA03", "warfarin", "Tablett", "2.5", "mg", "Oralt", "Blodförtunnande",
         ("I48.9", "Förmaksflimmer och förmaksfladder, ospecificerat"), ("week",)),
    Drug("B01AF02", "apixaban", "Filmdragerad tablett", "5", "mg", "Oralt", "Blodförtunnande, förebygger stroke",
         ("I48.9", "Förmaksflimmer och förmaksfladder, ospecificerat"), ("freq", 1, 2)),
    Drug("C07AB02", "metoprolol", "Depottablett", "50", "mg", "Oralt", "Mot hjärtklappning och högt blodtryck",
         ("I10.9", "Essentiell hypertoni"), ("freq", 1, 1)),
    Drug("C10AA01", "simvastatin", "Filmdragerad tablett", "20", "mg", "Oralt", "Blodfettssänkande",
         ("E78.0", "Ren hyperkolesterolemi"), ("freq", 1, 1)),
    Drug("C03CA01", "furosemid", "Tablett", "40", "mg", "Oralt", "Vätskedrivande",
         ("I50.9", "Hjärtsvikt, ospecificerad"), ("freq", 1, 1)),
    Drug("H03AA01", "levotyroxinnatrium", "Tablett", "0.1", "mg", "Oralt", "Mot underfunktion i sköldkörteln",
         ("E03.9", "Hypotyreos, ospecificerad"), ("freq", 1, 1)),
    Drug("N06AB06", "sertralin", "Filmdragerad tablett", "50", "mg", "Oralt", "Mot nedstämdhet",
         ("F32.1", "Medelsvår depressiv episod"), ("freq", 1, 1)),
    Drug("J01CE02", "fenoximetylpenicillin", "Filmdragerad tablett", "1", "g", "Oralt", "Mot halsfluss",
         ("J02.0", "Streptokockfaryngit"), ("freq", 1, 3)),
    Drug("H02AB06", "prednisolon", "Tablett", "5", "mg", "Oralt", "Mot inflammation i luftvägarna",
         ("J44.1", "Kroniskt obstruktiv lungsjukdom med akut exacerbation, ospecificerad"), ("ramp",)),
    Drug("J01XX01", "fosfomycin", "Granulat till oral lösning", "3", "g", "Oralt", "Mot urinvägsinfektion",
         ("N30.0", "Akut cystit"), ("single",)),
    Drug("N02AA01", "morfin", "Injektionsvätska, lösning", "10", "mg/ml", "Subkutant", "Mot smärta",
         None, ("period", 2.5, 5, 4)),
    Drug("A10AE04", "insulin glargin", "Injektionsvätska, lösning", "100", "enheter/ml", "Subkutant",
         "Mot diabetes", ("E11.9", "Diabetes mellitus typ 2 utan komplikationer"), ("freq", 20, 1)),
    Drug("N05CF01", "zopiklon", "Filmdragerad tablett", "5", "mg", "Oralt", "Mot sömnbesvär",
         None, ("prn", "vid sömnsvårigheter, till natten", 1, 1, 1)),
]
BY_NAME = {d.substance: d for d in DRUGS}
# salbutamol for COPD: the same drug, ordinated for another reason
BY_NAME["salbutamol vid KOL"] = BY_NAME["salbutamol"]._replace(
    reason=("J44.9", "Kroniskt obstruktiv lungsjukdom, ospecificerad"))
PARACETAMOL = Drug("N02BE01", "paracetamol", "Tablett", "500", "mg", "Oralt", "Mot smärta och feber", None,
                   ("prn", "vid smärta eller feber", 1, 2, 4))
HOME_CARE = ("insulin glargin", "warfarin", "morfin", "furosemid", "metformin")  # what municipal nurses give
COURSE_DAYS = {"J01CE02": 10, "H02AB06": 24, "J01XX01": 1, "B03AA07": 90}  # treatments that end by themselves
ANNAN_ORSAK = {"code": "46021000052104", "codeSystem": SNOMED_CT_SE, "displayName": "annan ordinationsorsak"}
STOP_REASONS = ["Biverkningar", "Behandlingen avslutad enligt plan", "Ersatt av annat läkemedel", "Utebliven effekt"]
NOTES = ["Patienten informerad om vanliga biverkningar.",
         "Insatt under vårdtillfället, följs upp på vårdcentralen.",
         "Dosjustering efter samtal med patienten.", "Patienten vill pröva lägre dos.", "Uppföljning om tre månader."]
PLURAL = {"tablett": "tabletter", "kapsel": "kapslar", "dos": "doser", "dospåse": "dospåsar", "enheter": "enheter",
          "mg": "mg"}
DOCTOR, NURSE = ("201010", "Läkare"), ("204010", "Sjuksköterska")


def _dose_unit(drug: Drug) -> str:
    form = drug.form.lower()
    return ("dos" if drug.route == "Inhalation" else "enheter" if drug.unit == "enheter/ml" else
            "mg" if form.startswith("injektion") else "dospåse" if form.startswith("granulat") else
            "kapsel" if "kapsel" in form else "tablett")


def _dosage(drug: Drug) -> dict:
    """One DosageType for a drug's usual regimen, in the structure its kind of dosage needs."""
    unit = _dose_unit(drug)
    ucum = {"enheter": "[iU]", "mg": "mg"}.get(unit, f"{{{unit}}}")

    def dose(low: float, high: float | None = None) -> dict:
        return {"low": float(low), **({"high": float(high)} if high else {}), "unit": ucum}

    def amount(low: float, high: float | None = None) -> str:
        numbers = _number(f"{low:g}") + (f"-{_number(f'{high:g}')}" if high else "")
        return f"{numbers} {unit if not high and low <= 1 else PLURAL[unit]}"

    def times(n: int) -> str:
        return f"{n} {'gång' if n == 1 else 'gånger'}"

    daily = lambda n: {"value": float(n), "unit": "/d"}  # noqa: E731
    kind, *args = drug.dosage
    if kind == "freq":
        n, per_day = args
        out = {"dosageInstruction": f"{amount(n)} {times(per_day)} dagligen", "shortNotation": f"{n}x{per_day}",
               "setDosage": {"frequencyDosage": {"dose": dose(n), "frequency": daily(per_day)}}}
        if drug.atc in COURSE_DAYS:
            days = COURSE_DAYS[drug.atc]
            out = {"lengthOfTreatment": {"treatmentInterval": {"low": float(days), "unit": "d"},
                                         "isMaximumTreatmentTime": False},
                   **out, "dosageInstruction": f"{out['dosageInstruction']} i {days} dagar"}
    elif kind == "prn":
        condition, low, high, most = args
        high = high if high > low else None
        out = {"dosageInstruction": f"{amount(low, high)} {condition}, högst {times(most)} per dygn",
               "maximumDosage": {"frequencyDosage": {"dose": dose(high or low), "frequency": daily(most)}},
               "conditionalDosage": {"conditionDescription": condition,
                                     "frequencyDosage": {"dose": dose(low, high), "frequency": daily(1)}}}
    elif kind == "week":  # warfarin: a weekly schedule from the anticoagulation clinic
        out = {"dosageInstruction": "Enligt doseringsschema från AK-mottagningen: 2 tabletter mån, ons, fre; "
                                    "1,5 tablett övriga dagar",
               "setDosage": {"occasionDosage": {"period": {"value": 7.0, "unit": "d"}, "administration": [
                   {"dose": dose(n), "time": "kl 18", "dayOfPeriod": day}
                   for day, n in enumerate([2, 1.5, 2, 1.5, 2, 1.5, 1.5], 1)]}}}
    elif kind == "ramp":  # prednisolone: 8 tablets, one fewer every third day down to one
        out = {"dosageInstruction": "8 tabletter dagligen, minska med 1 tablett var tredje dag till 1 tablett",
               "setDosage": {"rampedDosage": {
                   "doseStep": {"value": -1.0, "unit": ucum}, "timeStep": {"value": 3.0, "unit": "d"},
                   "rampStart": {"frequencyDosage": {"dose": dose(8), "frequency": daily(1)}},
                   "rampEnd": {"frequencyDosage": {"dose": dose(1), "frequency": daily(1)}}}}}
    elif kind == "single":
        out = {"dosageInstruction": "1 dospåse som engångsdos, lös i ett halvt glas vatten, till natten",
               "setDosage": {"singleDose": {"dose": dose(1)}}}
    else:  # "period": as needed, at least some hours apart
        low, high, hours = args
        out = {"dosageInstruction": f"{amount(low, high)} vid smärta, tidigast var {hours}:e timme",
               "conditionalDosage": {"conditionDescription": "vid smärta", "periodDosage": {
                   "dose": dose(low, high), "period": {"value": float(hours), "unit": "h"}}}}
    return {**out, "unitDose": {"originalText": unit}}


def _drug(drug: Drug, with_dosage: bool = True) -> dict:
    """The drug as a product with its ATC code (no NPL ids in the demo: they would be invented)."""
    choice = {"drug": {"atcCode": {"code": drug.atc, "codeSystem": ATC, "codeSystemName": "ATC",
                                   "displayName": drug.substance},
                       "routeOfAdministration": {"originalText": drug.route}, "pharmaceuticalForm": drug.form,
                       "strength": float(drug.strength), "strengthUnit": drug.unit}}
    return {**choice, "dosage": [_dosage(drug)]} if with_dosage else choice


def _reasons(drug: Drug) -> dict:
    code = drug.reason
    return {"principalPrescriptionReason": [{"reason": {"code": code[0], "codeSystem": ICD10SE,
                                                        "displayName": code[1]}}]} if code else {}


def _hp(demo, when: dt.datetime, role: tuple[str, str], unit: tuple[str, str] | None = None) -> dict:
    """A prescriber, evaluator or nurse: never with care unit / care provider ids (TKB rule 1.9)."""
    hsa, name, _ = demo.clinician()
    hp = {"authorTime": format_timestamp(when), "healthcareProfessionalHSAId": hsa, "healthcareProfessionalName": name,
          "healthcareProfessionalRoleCode": {"code": role[0], "codeSystem": KV_BEFATTNING, "displayName": role[1]}}
    return {**hp, "healthcareProfessionalOrgUnit": {"orgUnitHSAId": unit[0], "orgUnitName": unit[1]}} if unit else hp


def _local(demo, kind: str, key: str) -> dict:
    return {"root": LOCAL_ID, "extension": f"{demo.logical_address}:{kind}-{key}"}


def _prescription(demo, drug: Drug, key: str, when: dt.datetime, prescriber: dict) -> dict:
    """A prescription (förskrivning) to a pharmacy, as primary care writes them."""
    tablets = _dose_unit(drug) in ("tablett", "kapsel")
    amount = (300.0 if drug.dosage[0] == "freq" else 100.0) if tablets else 3.0
    if drug.atc in COURSE_DAYS:  # a course is prescribed what it needs, no more
        amount = float(drug.dosage[1] * drug.dosage[2] * COURSE_DAYS[drug.atc]) if drug.dosage[0] == "freq" \
            else 108.0 if drug.dosage[0] == "ramp" else 1.0  # prednisolone: (8 + 7 + ... + 1) x 3 days
    return {"dispensationAuthorizationId": _local(demo, "recept", key),
            "validUntil": format_date((when + dt.timedelta(days=365)).date()),
            "totalAmount": amount,
            "packageUnit": "st" if tablets else "förp",
            "distributionMethod": demo.rng.choice(["Hämtas", "Hämtas", "Apodos", "Hemleverans"]),
            "dispensationAuthorizer": prescriber, "prescriptionSignatura": _dosage(drug)["dosageInstruction"]}


def _given(demo, drug: Drug, key: str, n: int, when: dt.datetime, unit) -> dict:
    """One administration a nurse signed."""
    return {"administrationId": _local(demo, "adm", f"{key}-{n}"),
            "administrationTime": {"start": format_timestamp(when), "end": format_timestamp(when)},
            **({"administrationComment": "Patienten sov, väcktes för läkemedel."} if n == 1 else {}),
            "routeOfAdministration": {"originalText": drug.route},
            "administeringHealthcareProfessional": _hp(demo, when, NURSE, unit)}


def _number(value) -> str:
    """2.5 -> 2,5 and 500.0 -> 500, as the view writes it."""
    value = float(value)
    return (f"{value:.0f}" if value.is_integer() else f"{value:g}").replace(".", ",")


def _title(choice: dict | None) -> str:
    """What was ordinated, as the contract reads it from the drug choices the demo uses."""
    if not choice:
        return "Läkemedelsordination"
    if "unstructuredDrugInformation" in choice:
        return choice["unstructuredDrugInformation"]["unstructuredInformation"]
    if "generics" in choice:
        g = choice["generics"]
        return f"{g['substance']} {_number(g['strength']['value'])} {g['strength']['unit']} {g['form'].lower()}"
    d = choice["drug"]
    name = d["atcCode"]["displayName"]
    form = d["pharmaceuticalForm"].lower()
    return f"{name[:1].upper()}{name[1:]} {_number(d['strength'])} {d['strengthUnit']} {form}"


def _record(demo, contract_id: str, key: str, when: dt.datetime, rx: dict, unit, patient=None, **kw) -> Record:
    detail = {"prescription": rx, **({"patient": patient} if patient else {})}
    record = demo.record(contract=contract_id, information_type="caa-gmh", key=key, time=when, unit=unit,
                         title=_title(rx.get("drug")), detail=detail, **kw)
    # this contract's TKB forbids documentTime
    return dataclasses.replace(record, detail={**record.detail, "header": {**record.detail["header"],
                                                                          "document_time": None}})


def records(contract, demo) -> list[Record]:
    """Ordination chains at one source system: each ordination a record, its prescription or administrations inside."""
    contract_id = contract.id
    if demo.profile == "variants":
        return _variants(demo, contract_id)
    main = demo.logical_address == PROVIDERS[0][4][0]
    target = {"rich": demo.rng.randint(5, 9), "blocked": 4, "heavy": 1000 if main else 300,
              "not_in_tgp": 2}.get(demo.profile, 0)
    municipal = provider_of(demo.logical_address)[2] == "kommun"
    own = [BY_NAME[name] for name in story(demo).drugs]
    given = [d for d in own if d.substance in HOME_CARE]  # what home care gives; a young patient: none of them
    pool = (given or own) if municipal else own
    out: list[Record] = []
    chain = 0
    while len(out) < target:
        if demo.profile == "blocked":  # one ordination a year, cycling through the units
            unit, first = demo.units[chain % len(demo.units)], demo.when(365 * (chain + 1), 365 * chain + 120)
            drug, length = demo.rng.choice(pool), 1
        else:
            drug = demo.rng.choice(pool)
            long_chain = demo.profile == "heavy" and chain == 3  # Linda's chain 3: warfarin dosed for years
            drug = BY_NAME["warfarin"] if long_chain else drug
            length = 1 if drug.atc in COURSE_DAYS else 40 if long_chain else \
                demo.rng.choice([1, 1, 2, 3])  # a course is one ordination: it is not adjusted, it ends
            length = min(length, target - len(out))
            # steps are at most 80 days apart, so the whole chain lies in the past
            unit, first = demo.rng.choice(demo.units), demo.when(max(3 * 365, 80 * length + 30), 80 * length)
        out += _chain(demo, contract_id, drug, unit, first, length, chain, municipal)
        chain += 1
    return out


def _chain(demo, contract_id, drug: Drug, unit, first, length: int, chain: int, municipal: bool) -> list[Record]:
    """One ordination chain: every change a new ordination; the last is active, and may stop the treatment.
    A course that has run its days is over: its ordination is no longer active."""
    outpatient = "vårdcentral" in unit[1].lower() and not municipal
    heavy = demo.profile == "heavy"
    stop = length > 1 and demo.rng.random() < 0.3
    keys = [f"lak-{chain}-{k}" for k in range(length)]
    times = [first + dt.timedelta(days=demo.rng.randint(20, 80) * k) for k in range(length)]
    out = []
    for k, when in enumerate(times):
        last = k == length - 1
        starts = not (last and stop)
        ended = drug.atc in COURSE_DAYS and when.date() + dt.timedelta(days=COURSE_DAYS[drug.atc]) < demo.today
        rx = {"prescriptionId": _local(demo, "ord", keys[k]), "typeOfPrescription": "I" if starts else "U",
              "prescriptionStatus": "Active" if last and not ended else "Inactive"}
        if heavy and chain % 100 == 2:  # producer text is data, never markup
            rx["prescriptionNote"] = 'Obs! <b>Interaktion</b> med "NSAID" & alkohol: <script>alert("x")</script>'
        elif heavy and chain % 100 == 4:
            rx["prescriptionNote"] = " ".join(NOTES * 40)
        elif demo.rng.random() < 0.3:
            rx["prescriptionNote"] = demo.rng.choice(NOTES)
        rx |= {**_reasons(drug), "treatmentPurpose": drug.purpose}
        if length > 1:
            rx["prescriptionChainId"] = _local(demo, "kedja", str(chain))
            if k:
                rx["precedingPrescriptionId"] = _local(demo, "ord", keys[k - 1])
            if not last:
                rx["succeedingPrescriptionId"] = _local(demo, "ord", keys[k + 1])
        rx |= {"prescriber": _hp(demo, when, DOCTOR, unit), "startOfFirstTreatment": format_timestamp(times[0])}
        if starts:
            rx["startOfTreatment"] = format_timestamp(when)
        if not last:
            rx["endOfTreatment"] = format_timestamp(times[k + 1])
        elif stop:
            rx |= {"endOfTreatment": format_timestamp(when),
                   "endOfTreatmentReason": {"originalText": demo.rng.choice(STOP_REASONS)}}
        elif drug.atc in COURSE_DAYS:
            rx["endOfTreatment"] = format_timestamp(when + dt.timedelta(days=COURSE_DAYS[drug.atc]))
        rx |= {"selfMedication": False, "drug": _drug(drug, with_dosage=starts)}
        if starts and outpatient:
            rx["dispensationAuthorization"] = _prescription(demo, drug, keys[k], when, rx["prescriber"])
        elif starts and (municipal or demo.rng.random() < 0.5 or (heavy and chain % 50 == 1)):
            many = 50 if heavy and chain % 50 == 1 else demo.rng.randint(1, 4)
            rx["administration"] = [_given(demo, drug, keys[k], n, when + dt.timedelta(hours=12 * n), unit)
                                    for n in range(many)]
        out.append(_record(demo, contract_id, keys[k], when, rx, unit))
    return out


def _variants(demo, contract_id: str) -> list[Record]:
    """Egon: the contract's choices and optional parts, one ordination each."""
    unit = demo.units[0]
    ward = next((u for u in demo.units if "vårdcentral" not in u[1].lower()), unit)
    when = [demo.when(700, 30) for _ in range(8)]
    base = lambda k, status="Active": {  # noqa: E731
        "prescriptionId": _local(demo, "ord", f"v{k}"), "typeOfPrescription": "I", "prescriptionStatus": status}
    metformin, enalapril, warfarin = BY_NAME["metformin"], BY_NAME["enalapril"], BY_NAME["warfarin"]
    out = []
    # 0: everything a prescription in primary care can carry
    prescriber = _hp(demo, when[0], DOCTOR, unit)
    rx = {**base(0), "prescriptionNote": "Dosen ökad då HbA1c ligger över målvärdet.", **_reasons(metformin),
          "additionalPrescriptionReason": [{"reason": ANNAN_ORSAK, "otherReason": "Viktnedgång önskas"}],
          "evaluationTime": format_timestamp(when[0] + dt.timedelta(days=90)), "treatmentPurpose": metformin.purpose,
          "prescriber": prescriber, "evaluator": _hp(demo, when[0] + dt.timedelta(days=92), DOCTOR, unit),
          "startOfFirstTreatment": format_timestamp(when[0]), "startOfTreatment": format_timestamp(when[0]),
          "selfMedication": False, "drug": {"comment": "Tas i samband med måltid", **_drug(metformin)},
          "dispensationAuthorization": {
              **_prescription(demo, metformin, "v0", when[0], prescriber),
              "minimumDispensationInterval": {"value": 80.0, "unit": "d"}, "distributionMethod": "Apodos",
              "dispensationAuthorizerComment": "Ny dos, se doseringstext.",
              "prescriptionSignatura": "1 tablett 2 gånger dagligen i samband med måltid",
              "firstDispensationBefore": format_date((when[0] + dt.timedelta(days=30)).date()),
              "nonReplaceable": "Prescriber", "drug": _drug(metformin, with_dosage=False)}}
    out.append(_record(demo, contract_id, "lak-v0", when[0], rx, unit))
    # 1: self-medication with a generic choice, as needed with a maximum; no prescriber
    rx = {**base(1), "treatmentPurpose": PARACETAMOL.purpose, "startOfTreatment": format_timestamp(when[1]),
          "selfMedication": True,
          "drug": {"generics": {"substance": "Paracetamol", "strength": {"value": 500.0, "unit": "mg"},
                                "form": "Tablett"}, "dosage": [_dosage(PARACETAMOL)]}}
    out.append(_record(demo, contract_id, "lak-v1", when[1], rx, unit))
    # 2: extemporaneous preparation and dosage in free text; unsigned, not for the patient's eyes
    rx = {**base(2), "principalPrescriptionReason": [{"reason": ANNAN_ORSAK,
                                                      "otherReason": "Torr och kliande hud på underbenen"}],
          "prescriber": _hp(demo, when[2], DOCTOR), "startOfTreatment": format_timestamp(when[2]),
          "selfMedication": False,
          "drug": {"unstructuredDrugInformation": {
                       "unstructuredInformation": "Hydrokortison 1 % i Essex kräm, extempore 100 g"},
                   "dosage": [{"dosageInstruction": "Smörjes tunt morgon och kväll", "setDosage": {
                       "unstructuredDosageInformation": {
                           "text": "Smörjes tunt på rodnad hud morgon och kväll i högst en vecka"}}}]}}
    out.append(_record(demo, contract_id, "lak-v2", when[2], rx, unit, signed=False, approved=False))
    # 3 and 4: a chain whose second ordination stops the treatment (type U: no dosage, a stop reason)
    first, stop = sorted(when[3:5])
    chain = {"treatmentPurpose": enalapril.purpose, "prescriptionChainId": _local(demo, "kedja", "v3")}
    rx = {**base(3, "Inactive"), **chain, "succeedingPrescriptionId": _local(demo, "ord", "v4"),
          "prescriber": _hp(demo, first, DOCTOR, unit), "startOfFirstTreatment": format_timestamp(first),
          "startOfTreatment": format_timestamp(first), "endOfTreatment": format_timestamp(stop),
          "selfMedication": False, "drug": _drug(enalapril)}
    out.append(_record(demo, contract_id, "lak-v3", first, rx, unit))
    rx = {**base(4), "typeOfPrescription": "U", **chain, "precedingPrescriptionId": _local(demo, "ord", "v3"),
          "prescriber": _hp(demo, stop, DOCTOR, unit), "startOfFirstTreatment": format_timestamp(first),
          "endOfTreatment": format_timestamp(stop), "endOfTreatmentReason": {"originalText": "Biverkan: torrhosta"},
          "selfMedication": False, "drug": _drug(enalapril, with_dosage=False)}
    out.append(_record(demo, contract_id, "lak-v4", stop, rx, unit))
    # 5: warfarin on a weekly schedule given on a ward, related to the INR it was dosed by (2.2 only);
    #    with patient information the population register lacks
    owner = {"id": {"root": HSA_ID, "extension": demo.care_provider_id}}
    rx = {**base(5), "treatmentPurpose": warfarin.purpose, "prescriber": _hp(demo, when[5], DOCTOR, ward),
          "startOfTreatment": format_timestamp(when[5]), "selfMedication": False, "drug": _drug(warfarin),
          "administration": [_given(demo, warfarin, "v5", n, when[5] + dt.timedelta(days=n), ward) for n in range(3)],
          "relation": [{"code": {"code": "416083004", "codeSystem": SNOMED_CT_SE, "displayName": "har orsak"},
                        "referredInformation": [{"id": {"root": demo.logical_address, "extension": "obs-pk-inr-v5"},
                                                 "type": {"originalText": "chb-go"}, "informationOwner": owner}]}]}
    patient = {"dateOfBirth": demo.patient.id[:8], "gender": {"code": "1", "codeSystem": KV_KON, "displayName": "Man"}}
    out.append(_record(demo, contract_id, "lak-v5", when[5], rx, ward, patient=patient))
    # 6: the producer cannot say which care unit and care provider own it
    digoxin = BY_NAME["digoxin"]
    rx = {**base(6), "treatmentPurpose": digoxin.purpose, "prescriber": _hp(demo, when[6], DOCTOR),
          "startOfTreatment": format_timestamp(when[6]), "selfMedication": False, "drug": _drug(digoxin)}
    out.append(_record(demo, contract_id, "lak-v6", when[6], rx, unit, without_owner=True))
    # 7: only what the schema demands: no drug, no reason, no dosage
    rx = {**base(7), "prescriber": {"authorTime": format_timestamp(when[7])},
          "startOfTreatment": format_timestamp(when[7]), "selfMedication": False}
    out.append(_record(demo, contract_id, "lak-v7", when[7], rx, unit))
    return out


