"""GetMaternityMedicalHistory 2.0 (clinicalprocess:healthcond:actoutcome): mödrahälsovårdens journal.

The 2.0 core has a header of its own: careContactId comes last; the author's HSA id, org unit (its id
and name), care unit and care provider are mandatory (written empty where the producer lacks them,
read as absent); the signature has no name. The answer carries no result: it is OK by definition.
"""

from __future__ import annotations

from npo_core import InformationView, hookimpl, riv
from npo_core.riv import PQ, views

MEDICATION = (("medicament", "medicament", "str"), ("dosage", "dosage", "str"))
PREVIOUS = (("year", "year", "int"), ("month", "month", "int"), ("delivery", "delivery", "int"),
            ("healthcareFacility", "facility", "str"), ("progress", "progress", "str"), ("sex", "sex", "int"),
            ("weightOfChild", "child_weight", PQ), ("gestation", "gestation", "int"))
REGISTRATION = (
    ("lastMenstrualPeriod", "lmp", "str"), ("indicationPregnancy", "indication", "str"),
    ("contraceptiveDiscontinued", "contraceptive_stop", "str"),
    ("expectedDayOfDeliveryFromLastMenstrualPeriod", "edd_lmp", "str"),
    ("expectedDayOfDeliveryFromUltrasoundScan", "edd_ultrasound", "str"),
    ("expectedDayOfDeliveryFromEmbryonicTransfer", "edd_embryo", "str"),
    ("length", "length", PQ), ("weight", "weight", PQ), ("bodyMassIndex", "bmi", PQ),
    ("infertility", "infertility", "num"), ("previousGravidityAndParity", "previous", [PREVIOUS]),
    ("diseasesThrombosis", "thrombosis", "bool"), ("diseasesEndocineDiseases", "endocrine", "bool"),
    ("diseasesRecurrentUrinaryTractInfections", "uti", "bool"), ("diseasesDiabetesMellitus", "diabetes", "bool"),
    ("medicationDuringPregnacy", "medication", [MEDICATION]),
    ("assessmentAtFirstContactStandardCare", "standard_care", "bool"))
CHECKUP = (
    ("completeWeeksOfGestation", "weeks", "int"), ("weight", "weight", PQ), ("symphysisFundalHeight", "sfh", PQ),
    ("haemoglobin", "hb", PQ), ("bloodPressureSystolic", "bp_systolic", PQ),
    ("bloodPressureDiastolic", "bp_diastolic", PQ), ("proteinuria", "proteinuria", PQ),
    ("glycosuria", "glycosuria", PQ), ("fetalPosition", "fetal_position", ["int"]),
    ("fetalPresentation", "fetal_presentation", ["int"]), ("fetalHeartRate", "fetal_heart_rate", [PQ]),
    ("typeOfLeave", "leave", ["int"]), ("medicationSinceRegistration", "medication", [MEDICATION]))
MOTHER = (
    ("bloodPressureSystolic", "bp_systolic", PQ), ("bloodPressureDiastolic", "bp_diastolic", PQ),
    ("haemoglobin", "hb", PQ), ("bodyTemperature", "temperature", "num"), ("scarsOK", "scars_ok", "bool"),
    ("sutureRemoved", "suture_removed", "bool"), ("perineumComfortable", "perineum_ok", "bool"),
    ("vulvaVaginaPortioOK", "vulva_ok", "bool"), ("uterusContracted", "uterus_contracted", "bool"),
    ("uterusNote", "uterus_note", "str"), ("breastfeeding", "breastfeeding", "bool"))
CHILD = (("ordinalNumber", "ordinal", "int"), ("weight", "weight", PQ), ("apgarScore1", "apgar1", "int"),
         ("apgarScore5", "apgar5", "int"), ("apgarScore10", "apgar10", "int"))
BODY = (("registrationRecord", "registration", REGISTRATION), ("pregnancyCheckupRecord", "checkup", CHECKUP),
        ("postDeliveryRecord", "post_delivery", (("motherPostDeliveryRecord", "mother", MOTHER),
                                                 ("childPostDeliveryRecord", "children", [CHILD]))))
TITLES = {"registration": "Inskrivning mödrahälsovård", "checkup": "Graviditetskontroll",
          "post_delivery": "Efterkontroll"}
# the author in the 2.0 core, in its order: "" where mandatory (written empty), None where optional
AUTHOR = {"authorTime": None, "healthcareProfessionalHSAId": "", "healthcareProfessionalName": None,
          "healthcareProfessionalRoleCode": None, "healthcareProfessionalOrgUnit": "",
          "healthcareProfessionalCareUnitHSAId": "", "healthcareProfessionalCareGiverHSAId": ""}
DELIVERY = {0: "ej angivet", 1: "X-gravid", 2: "spontan abort", 4: "dödfött", 5: "levande fött"}
PRESENTATION = {0: "huvudbjudning", 1: "sätesbjudning", 2: "snedläge", 3: "tvärläge"}
UNTITLED = "Mödrahälsovård"


class GetMaternityMedicalHistory(riv.PatientSummaryContract):
    name, version, title = "GetMaternityMedicalHistory", "2.0", "Mödrahälsovård"
    service_domain = "clinicalprocess:healthcond:actoutcome"
    categorization = "utr-mtr"
    record_element = "maternityMedicalRecord"
    header_element, body_element = "maternityMedicalRecordHeader", "maternityMedicalRecordBody"
    body = BODY
    unit_tag = "careUnitHSAid"
    has_result = False
    untitled = UNTITLED  # the title where the header has none (the view names the kind of visit)

    def read_detail(self, header, body) -> dict:
        detail = super().read_detail(header, body)
        org_unit = detail["header"]["org_unit"]
        if org_unit is not None and not any(org_unit.values()):  # the mandatory org unit, written empty
            detail["header"]["org_unit"] = None
        return detail

    def render_response(self, records, query):
        """The core's header, rearranged as the 2.0 core declares it."""
        response = super().render_response(records, query)
        for header in response.iter(self.c(self.header_element)):
            if (contact := header.find(self.c("careContactId"))) is not None:
                header.append(contact)  # last, after nullified
            for name in list(header.iterfind(f"{self.c('legalAuthenticator')}/{self.c('legalAuthenticatorName')}")):
                name.getparent().remove(name)
            author = header.find(self.c("accountableHealthcareProfessional"))
            for local, empty in AUTHOR.items():  # in the 2.0 order, each mandatory one written where absent
                if (found := author.find(self.c(local))) is not None:
                    author.append(found)
                elif empty is not None:
                    riv.sub(author, self.c(local), empty)
            org = author.find(self.c("healthcareProfessionalOrgUnit"))
            for i, local in enumerate(("orgUnitHSAId", "orgUnitName")):
                if org.find(self.c(local)) is None:
                    org.insert(i, riv.sub(org, self.c(local), ""))
        return response


def _pq(pq: dict | None) -> str:
    if not pq or pq.get("value") is None:
        return "–"
    return f"{pq['value']:g} {pq.get('unit') or ''}".replace(".", ",").strip()


def _note(record) -> str:
    """The record's title; where the producer gave none, the kind of visit its body holds."""
    kind = next((TITLES[k] for k in TITLES if k in record.detail), None) if record.title == UNTITLED else None
    return (kind or record.title) + (" (makulerad)" if record.nullified else "")


def _week(record) -> str:
    """Complete weeks at a visit; at inskrivning, weeks+days counted from the last period."""
    d = record.detail
    if "checkup" in d and d["checkup"].get("weeks") is not None:
        return str(d["checkup"]["weeks"])
    lmp = views.day(d.get("registration", {}).get("lmp"))
    if lmp and record.time:
        days = (record.time.date() - lmp).days
        return f"{days // 7}+{days % 7}"
    return "–"


def _bp(values: dict) -> str:
    sys_, dia = values.get("bp_systolic"), values.get("bp_diastolic")
    return f"{sys_['value']:g}/{dia['value']:g} mmHg" if sys_ and dia and "value" in sys_ and "value" in dia else "–"


def _medication(items: list[dict]) -> str:
    return "; ".join(f"{m.get('medicament') or 'Läkemedel'}{', ' + m['dosage'] if m.get('dosage') else ''}"
                     for m in items)


def _registration(reg: dict) -> list[tuple[str, str]]:
    previous = reg.get("previous", [])
    para = sum(1 for p in previous if p.get("delivery") in (4, 5))
    risks = [label for key, label in (("thrombosis", "Tidigare trombos"), ("endocrine", "Endokrin sjukdom"),
                                      ("uti", "Upprepade urinvägsinfektioner"), ("diabetes", "Diabetes mellitus"))
             if reg.get(key)]
    if (reg.get("bmi") or {}).get("value", 0) >= 30:
        risks.append("BMI 30 eller mer")
    return [
        ("Sista mens", views.date_text(reg.get("lmp"))),
        ("Beräknad förlossning", f"{views.date_text(reg.get('edd_lmp'))} (sista mens)"
         + (f", {views.date_text(reg['edd_ultrasound'])} (ultraljud)" if reg.get("edd_ultrasound") else "")),
        ("Längd, vikt, BMI", " / ".join(_pq(reg.get(k)) for k in ("length", "weight", "bmi"))),
        ("Paritet", f"Gravida {len(previous) + 1}, para {para}"),
        ("Tidigare graviditeter", "; ".join(
            f"{p.get('year', '–')}-{p.get('month') or 0:02d}: {DELIVERY.get(p.get('delivery'), 'uppgift saknas')}"
            + (f", v. {p['gestation']}" if p.get("gestation") else "") for p in previous) or "Inga"),
        ("Riskfaktorer", ", ".join(risks) or "Inga kända"),
        ("Läkemedel", _medication(reg.get("medication", [])) or "Inga"),
        ("Basprogram", {True: "Ja", False: "Nej, utökad övervakning"}.get(reg.get("standard_care"), "–")),
    ]


def _checkup(c: dict) -> list[tuple[str, str]]:
    rows = [("Vikt", _pq(c.get("weight"))), ("SF-mått", _pq(c.get("sfh"))), ("Hb", _pq(c.get("hb"))),
            ("Blodtryck", _bp(c)), ("Fosterljud", ", ".join(_pq(f) for f in c.get("fetal_heart_rate", [])) or "–"),
            ("Fosterläge", ", ".join(PRESENTATION.get(p, str(p)) for p in c.get("fetal_presentation", [])) or "–")]
    if c.get("medication"):
        rows.append(("Läkemedel sedan inskrivning", _medication(c["medication"])))
    return rows


def _post_delivery(p: dict) -> list[tuple[str, str]]:
    mother = p.get("mother", {})
    rows = [("Blodtryck", _bp(mother)), ("Hb", _pq(mother.get("hb"))),
            ("Amning", {True: "Ja", False: "Nej"}.get(mother.get("breastfeeding"), "–")),
            ("Livmoder", mother.get("uterus_note") or {True: "Väl kontraherad", False: "Ej kontraherad"}.get(
                mother.get("uterus_contracted"), "–"))]
    for child in p.get("children", []):
        apgar = "-".join(str(child[k]) for k in ("apgar1", "apgar5", "apgar10") if child.get(k) is not None)
        rows.append((f"Barn {child.get('ordinal', '')}".strip(),
                     f"födelsevikt {_pq(child.get('weight'))}" + (f", Apgar {apgar}" if apgar else "")))
    return rows


def _details(record) -> list[tuple[str, str]]:
    d = record.detail
    rows = (_registration(d["registration"]) if "registration" in d else []) \
        + (_checkup(d["checkup"]) if "checkup" in d else []) \
        + (_post_delivery(d["post_delivery"]) if "post_delivery" in d else [])
    if record.nullified:
        rows.insert(0, ("Makulerad", d.get("header", {}).get("nullified_reason") or "Ja"))
    return rows + [("Ansvarig", views.author(record))]


@hookimpl
def register_contracts(register):
    register(GetMaternityMedicalHistory())


@hookimpl
def register_views(register):
    register(InformationView(
        slug="modravard", title="Mödrahälsovård", categorizations=("utr-mtr",), order=90,
        columns=(("Datum", views.date), ("Anteckning", _note), ("Graviditetsvecka", _week), *views.OWNER),
        details=_details,
        help="Mödrahälsovårdens journal: inskrivning, graviditetskontroller och efterkontroll, från "
             "barnmorskemottagningarnas journalsystem. Förlossningsjournalen och barnhälsovården ingår inte.",
    ))
