"""Laboratory answers for the demo patients (GetLaboratoryOrderOutcome 3 and 4).

One generator describes each answer neutrally (the same draws, ids and times for either major);
each major's body is then written in its own wire's shape, what `read_detail` gives back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from ... import HSA_ID_OID, format_timestamp
from ...riv import compact
from ...riv.codes import NPU, SNOMED_CT_SE
from .. import PROVIDERS
from .stories import pick, story

REPORT_STATUS = "2.16.840.1.113883.4.642.3.235"  # FHIR DiagnosticReportStatus, as the 4.x TKB prescribes
STATUS_TEXT = {"final": "Slutsvar", "preliminary": "Preliminärsvar", "partial": "Delsvar"}
RESULT_TYPE = {"final": "DEF", "preliminary": "PREL"}  # 3.x resultType
INTERPRETATION = {"above": ("281302008", "Över referensintervall"), "below": ("281300000", "Under referensintervall"),
                  "abnormal": ("263654008", "Avvikande")}
SPECIMENS = {"Venöst blod": "122555007", "Plasma": "119361006", "Serum": "119364003", "Urin": "122575003"}
ANALYSIS_KEYS = ("id", "code", "code_system", "name", "sampled", "analysed", "specimen", "value", "unit", "low",
                 "high", "reference", "population", "abnormal", "comment")
NUMBER = re.compile(r"-?(0|[1-9][0-9]*)((\.|,)[0-9]+)?([eE][+-]?[0-9]+)?")  # 4.x DecimalPrimitiveType

# NPU code, Swedish name, unit, reference low/high (text), specimen, (lowest, highest value drawn), decimals
ANALYSES = {
    "hb": ("NPU28309", "B-Hemoglobin (Hb)", "g/L", "117", "153", "Venöst blod", (98, 166), 0),
    "lpk": ("NPU02593", "B-Leukocyter", "×10⁹/L", "3.5", "8.8", "Venöst blod", (2.9, 15.5), 1),
    "tpk": ("NPU03568", "B-Trombocyter", "×10⁹/L", "145", "348", "Venöst blod", (120, 460), 0),
    "crp": ("NPU19748", "P-CRP", "mg/L", None, "5", "Plasma", (1, 95), 0),
    "glu": ("NPU02192", "P-Glukos", "mmol/L", "4.0", "6.0", "Plasma", (4.1, 12.5), 1),
    "krea": ("NPU18016", "P-Kreatinin", "µmol/L", "45", "90", "Plasma", (48, 150), 0),
    "na": ("NPU03429", "P-Natrium", "mmol/L", "137", "145", "Plasma", (130, 147), 0),
    "k": ("NPU03230", "P-Kalium", "mmol/L", "3.5", "4.4", "Plasma", (3.1, 5.3), 1),
    "alat": ("NPU19651", "P-ALAT", "µkat/L", None, "0.76", "Plasma", (0.15, 1.9), 2),
    "alp": ("NPU27783", "P-ALP", "µkat/L", "0.6", "1.8", "Plasma", (0.5, 3.4), 1),
    "alb": ("NPU19673", "P-Albumin", "g/L", "36", "48", "Plasma", (29, 47), 0),
    "tsh": ("NPU03577", "P-TSH", "mIU/L", "0.4", "4.0", "Plasma", (0.1, 9.5), 2),
    "ft4": ("NPU03579", "P-T4, fritt", "pmol/L", "12", "22", "Plasma", (9, 27), 0),
    "hba1c": ("NPU27300", "B-HbA1c (IFCC)", "mmol/mol", "27", "42", "Venöst blod", (31, 78), 0),
    "kol": ("NPU01566", "P-Kolesterol", "mmol/L", "3.3", "6.9", "Plasma", (3.4, 8.1), 1),
    "ldl": ("NPU01568", "P-LDL-kolesterol", "mmol/L", "1.2", "4.3", "Plasma", (1.3, 5.6), 1),
    "hdl": ("NPU01567", "P-HDL-kolesterol", "mmol/L", "1.0", "2.7", "Plasma", (0.8, 2.6), 1),
    "tg": ("NPU04094", "P-Triglycerid", "mmol/L", "0.45", "2.60", "Plasma", (0.5, 4.2), 2),
    "ferritin": ("NPU19763", "P-Ferritin", "µg/L", "13", "150", "Plasma", (6, 320), 0),
    "inr": ("NPU01685", "P-PK(INR)", None, "0.9", "1.2", "Plasma", (0.9, 1.4), 1),
}
# warfarin: the therapeutic interval the anticoagulation clinic doses by, and the values drawn around it
WARFARIN_INR = ("2.0", "3.0", "Warfarinbehandlade", (1.7, 3.6))
MALE_REFERENCE = {"NPU28309": ("134", "170"), "NPU18016": ("60", "105")}
GROUPS = {"Blodstatus": ("hb", "lpk", "tpk"), "Elstatus": ("na", "k", "krea"), "Leverstatus": ("alat", "alp", "alb"),
          "Tyreoideaprover": ("tsh", "ft4"), "Lipidstatus": ("kol", "ldl", "hdl", "tg")}
# (frågeställning, what was ordered: group names and single analyses), by key; each story names its own
ORDERS = {
    "anaemia": ("Trötthet och yrsel sedan en månad. Anemi?", ("Blodstatus", "ferritin", "Tyreoideaprover")),
    "fever": ("Feber och hosta sedan fyra dagar.", ("Blodstatus", "crp")),
    "diabetes": ("Årskontroll diabetes typ 2.", ("hba1c", "Elstatus", "Lipidstatus")),
    "thyroid": ("Uppföljning hypotyreos, levotyroxin 100 µg.", ("Tyreoideaprover",)),
    "iron": ("Kontroll efter tre månaders järnbehandling.", ("Blodstatus", "ferritin")),
    "ace": ("Kontroll två veckor efter insatt ACE-hämmare.", ("Elstatus",)),
    "liver": ("Förhöjt ALAT vid förra provtagningen.", ("Leverstatus", "crp")),
    "inr": ("Warfarinbehandling, mål-INR 2,0–3,0. Kontroll enligt AK-mottagningen.", ("inr",)),
    "gallstones": ("Smärtor under höger arcus efter måltid.", ("Leverstatus", "Blodstatus", "crp")),
    "heart_failure": ("Bensvullnad, hjärtsvikt?", ("Elstatus", "Blodstatus")),
}
# (comment, the analysis it speaks of or None): a comment names only an analysis its answer has
REPORTS = [(None, None), (None, None), (None, None),
           ("Hemolys i provet. Kalium kan vara falskt förhöjt, ny provtagning rekommenderas.", "k"),
           ("Lipemiskt prov, triglycerider analyserade efter ultracentrifugering.", "tg"),
           ("Svaret kontrollerat mot föregående prov.", None)]
LABS = {"Region Stockholm": "Klinisk kemi, Karolinska Universitetslaboratoriet",
        "Västra Götalandsregionen": "Klinisk kemi, Sahlgrenska Universitetssjukhuset",
        "Region Skåne": "Klinisk kemi, Labmedicin Skåne",
        "Uppsala kommun": "Klinisk kemi och farmakologi, Akademiska sjukhuset",
        "Capio S:t Görans Sjukhus AB": "Klinisk kemi, S:t Görans sjukhus"}


def _analysis(**fields) -> dict:
    """Every neutral analysis carries the same keys."""
    return {k: fields.get(k) for k in ANALYSIS_KEYS}


def _deviation(a: dict) -> str | None:
    """'above', 'below' or 'abnormal' for a pathological value; None for a normal or missing one."""
    if not a.get("abnormal"):
        return None
    try:
        value = float(a["value"].replace(",", "."))
        if a.get("high") and value > float(a["high"]):
            return "above"
        if a.get("low") and value < float(a["low"]):
            return "below"
    except (AttributeError, ValueError):
        pass
    return "abnormal"


def _title(analyses: list[dict]) -> str:
    names = [a["name"] or a["code"] or "Analys" for a in analyses]
    more = f" m.fl. ({len(names)} analyser)" if len(names) > 3 else ""
    return (", ".join(names[:3]) + more) or "Laboratoriesvar"


def _demo_analysis(demo, key: str, record_key: str, n: int, male: bool, sampled: str, analysed: str) -> dict:
    rng = demo.rng
    code, name, unit, low, high, specimen, (lo, hi), decimals = ANALYSES[key]
    low, high = MALE_REFERENCE.get(code, (low, high)) if male else (low, high)
    population = ("Män" if male else "Kvinnor") if code in MALE_REFERENCE else None
    if key == "inr" and "warfarin" in story(demo).tags:
        low, high, population, (lo, hi) = WARFARIN_INR
    within = rng.random() < 0.8  # most results are normal; the rest anywhere in the plausible range
    value = round(rng.uniform(float(low or lo), float(high or hi)) if within else rng.uniform(lo, hi), decimals)
    abnormal = bool((low and value < float(low)) or (high and value > float(high)))
    return _analysis(id=f"{record_key}-{n}", code=code, code_system=NPU, name=name, sampled=sampled,
                     analysed=analysed, specimen=specimen, value=f"{value:.{decimals}f}", unit=unit, low=low,
                     high=high, population=population,
                     abnormal=abnormal,
                     comment="Omanalyserat med samma resultat." if abnormal and rng.random() < 0.1 else None)


def records(contract, demo) -> list:
    """Laboratory answers for one patient at one source; the major decides only how its wire writes them."""
    rng = demo.rng
    count = {"rich": rng.randint(4, 8), "variants": 5, "blocked": rng.randint(2, 5),
             "heavy": 1100 if demo.logical_address == PROVIDERS[0][4][0] else rng.randint(50, 90),  # ×4.6 results
             "not_in_tgp": 2}.get(demo.profile, 0)
    male = int(demo.patient.id[10]) % 2 == 1
    lab = {"id": demo.logical_address.split("-")[0] + "-LAB1",
           "name": LABS.get(demo.care_provider_name, f"Klinisk kemi, {demo.care_provider_name}")}
    orders = pick(ORDERS, story(demo).orders)
    out = []
    for i in range(count):
        key = f"lab-{i}"
        unit = demo.units[i % len(demo.units)] if demo.profile == "blocked" else None
        when = demo.when(365 * i + 364, 365 * i + 1) if demo.profile == "blocked" else demo.when(min_days_back=1)
        sampled = format_timestamp(when)
        registered = format_timestamp(when + dt.timedelta(minutes=rng.randint(35, 240)))
        reason, ordered = rng.choice(orders)
        analyses = []
        for item in ordered:
            for k in GROUPS.get(item, (item,)):
                a = _demo_analysis(demo, k, key, len(analyses) + 1, male, sampled, registered)
                analyses.append({**a, "group": item if item in GROUPS else None})
        doctor_hsa, doctor, _ = demo.clinician()
        report, about = rng.choice(REPORTS)
        report = report if about is None or any(a["code"] == ANALYSES[about][0] for a in analyses) else None
        answer = {"status": "final", "registered": registered, "report": report,
                  "order": {"id": f"RID{rng.randint(1000000, 9999999)}", "reason": reason}, "lab": lab,
                  "analyses": analyses}
        signed, variant = True, i if demo.profile == "variants" else None
        if variant == 1:  # every optional part absent: no referral, no lab, free-text analysis only
            answer.update(report=None, order=None, lab=None, analyses=[_analysis(
                id=f"{key}-1", name="S-Digoxin", sampled=sampled, value="1.4", unit="nmol/L",
                abnormal=True, reference="Terapeutiskt intervall 0,6–1,2 nmol/L") | {"group": None}])
        elif variant == 2:  # preliminary: one analysis still running, not yet signed
            analyses[-1] = _analysis(id=analyses[-1]["id"], code=analyses[-1]["code"], code_system=NPU,
                                     name=analyses[-1]["name"], sampled=sampled, specimen=analyses[-1]["specimen"],
                                     comment="Analys pågår, svar kommer.") | {"group": analyses[-1]["group"]}
            answer["status"], signed = "preliminary", False
        elif variant == 3:  # a text result with a text reference
            analyses.append(_analysis(id=f"{key}-{len(analyses) + 1}", code="NPU21578", code_system=NPU,
                                      name="U-Nitrit", sampled=sampled, analysed=registered, specimen="Urin",
                                      value="Positiv", reference="Negativ", abnormal=True) | {"group": None})
        elif demo.profile == "heavy" and i < 3:  # Linda's special variants
            if i == 0:  # the full catalogue in one order
                answer["analyses"] = [_demo_analysis(demo, k, key, n, male, sampled, registered) | {"group": None}
                                      for n, k in enumerate(ANALYSES, 1)]
            else:  # producer text that looks like markup is still text
                answer["report"] = ("<b>Obs!</b> Prov taget ovanför infart & kan vara utspätt. "
                                    "Ring lab 08-123 45 67 vid frågor <script>alert(1)</script>") * i
        record = demo.record(contract=contract.id, information_type=contract.categorization, key=key,
                             title=_title(answer["analyses"]), time=when, detail={}, unit=unit,
                             without_owner=variant == 4, signed=signed)
        doctor_sig = {"time": registered, "hsa_id": doctor_hsa, "name": doctor} if signed else None
        header = {**record.detail["header"], "document_time": registered, "author_time": registered,
                  "document_title": None, "signature": doctor_sig}  # the 3.1 TKB forbids a documentTitle
        detail = _three(answer, record, header) if contract.major == 3 else _four(answer, record, header, demo)
        out.append(dataclasses.replace(record, detail=detail))
    return out


# -- major 3: the PatientSummary body, outcomes as text ------------------------------------------


def _reference_text(a: dict) -> str | None:
    """The interval as 3.x writes it: '117–153', '<5' or '>60'; else the reference text."""
    low, high = a.get("low"), a.get("high")
    if low and high:
        return f"{low}–{high}"
    return f"<{high}" if high else f">{low}" if low else a.get("reference")


def _three(answer: dict, record, header: dict) -> dict:
    lab = answer["lab"]
    return compact({
        "result_type": RESULT_TYPE[answer["status"]], "registered": answer["registered"],
        "discipline": "Klinisk kemi",  # the one value the TKB allows
        "report": answer["report"],
        "lab": lab and {"author_time": answer["registered"],
                        "org_unit": {"orgUnitHSAId": lab["id"], "orgUnitName": lab["name"]}},
        "analyses": [_analysis3(a, record.source_system) for a in answer["analyses"]],
        "order": {} if answer["order"] is None else answer["order"],  # the order is required, its id "" here
        "header": header,
    })


def _analysis3(a: dict, source: str) -> dict:
    code = ({"code": a["code"], "codeSystem": a["code_system"], "displayName": a["name"]} if a["code"] else None)
    outcome = None if a["value"] is None else compact({
        "value": a["value"], "unit": a["unit"], "time": a["analysed"], "pathological": bool(a["abnormal"]),
        "reference_interval": _reference_text(a), "population": a["population"]})
    return compact({"id": {"root": source, "extension": a["id"]}, "time": a["sampled"] and {"start": a["sampled"]},
                    "code": code, "text": None if code else a["name"],
                    "status": "Pågående" if a["value"] is None else "Avklarad",  # KV åtgärdsstatus
                    "comment": a["comment"], "specimen": a["specimen"], "outcome": outcome})


# -- major 4: the JoL header and typed results, in analysis groups ----------------------------------


def _ii(root: str, extension: str | None) -> dict:
    """An IIType; without an extension it is written empty (not known)."""
    return compact({"root": root, "extension": extension})


def _cv(code: str | None, system: str, name: str | None) -> dict:
    """A CVType: code, system and display name, or the name alone as originalText."""
    return compact({"code": code, "codeSystem": system, "displayName": name}) if code else compact(
        {"originalText": name})


def _four(answer: dict, record, header: dict, demo) -> dict:
    source, role = record.source_system, header["author_role"]
    org, signature = header["org_unit"], header["signature"]
    author = header["author_time"] and compact({
        "id": header["author_hsa_id"] and _ii(HSA_ID_OID, header["author_hsa_id"]), "name": header["author_name"],
        "time": header["author_time"], "role": role and _cv(role.get("code"), role.get("codeSystem"),
                                                            role.get("displayName")),
        "org_unit": org and compact({"id": org.get("orgUnitHSAId") and _ii(HSA_ID_OID, org["orgUnitHSAId"]),
                                     "name": org.get("orgUnitName")})})
    groups, current = [], object()
    for a in answer["analyses"]:  # consecutive analyses of one named group share a groupOfAnalyses
        if a["group"] is None or a["group"] != current:
            groups.append(compact({"name": a["group"], "analyses": []}))
            current = a["group"]
        groups[-1].setdefault("analyses", []).append(_analysis4(a, source))
    order = answer["order"]
    return compact({
        "id": _ii(source, record.id), "type": _cv(answer["status"], REPORT_STATUS, STATUS_TEXT[answer["status"]]),
        "text": answer["report"],
        "referral": order and compact({"id": _ii(source, order["id"]), "time": format_timestamp(record.time),
                                       "question": order["reason"]}),
        "groups": groups,
        "recipient_unit": compact({"id": record.care_unit_id and _ii(HSA_ID_OID, record.care_unit_id),
                                   "name": record.care_unit_name or "Okänd mottagande enhet"}),  # a name is required
        "header": compact({
            "access": compact({
                "care_giver": _ii(HSA_ID_OID, record.care_provider_id),
                "care_unit": record.care_unit_id and _ii(HSA_ID_OID, record.care_unit_id),
                "block_comparison_time": format_timestamp(record.block_time or record.time),
                "approved_for_patient": record.approved_for_patient,
                "patient_id": _ii(demo.patient.root, demo.patient.id)}),
            "source_system": _ii(HSA_ID_OID, source),
            "record": {"id": _ii(source, record.id), "time": header["document_time"]},
            "author": author,
            "signature": signature and compact({"id": signature["hsa_id"] and _ii(HSA_ID_OID, signature["hsa_id"]),
                                                "name": signature["name"], "time": signature["time"]})}),
    })


def _analysis4(a: dict, source: str) -> dict:
    result = None
    if a["value"] is not None:
        value = {"pq": compact({"value": a["value"], "unit": a["unit"]})} if NUMBER.fullmatch(a["value"]) \
            else {"st": a["value"]}  # TKB rule 3.3: no unit is written as an empty unit
        reference = None
        if a["low"] or a["high"] or a["reference"] or a["population"]:
            reference = compact({  # an interval or a description, never both (rule 009)
                "interval": compact({"low": a["low"], "high": a["high"], "unit": a["unit"]})
                if a["low"] or a["high"] else None,
                "description": None if a["low"] or a["high"] else a["reference"], "population": a["population"]})
        interpretation = a["abnormal"] and INTERPRETATION[_deviation(a)]
        result = compact({"value": value, "reference": reference,
                          "interpretations": [_cv(interpretation[0], SNOMED_CT_SE, interpretation[1])]
                          if interpretation else None})
    specimen = compact({"material": a["specimen"] and _cv(SPECIMENS.get(a["specimen"]), SNOMED_CT_SE, a["specimen"]),
                        "time": a["sampled"]}) if a["sampled"] else None
    return compact({"id": a["id"] and _ii(source, a["id"]), "time": a["analysed"],
                    "code": _cv(a["code"], a["code_system"], a["name"]), "comment": a["comment"],
                    "specimens": [specimen] if specimen else None, "results": [result] if result else None})
