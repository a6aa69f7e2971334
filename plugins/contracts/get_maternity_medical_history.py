"""GetMaternityMedicalHistory 2.0 (clinicalprocess:healthcond:actoutcome): mödrahälsovårdens journal."""

from __future__ import annotations

import dataclasses
import datetime as dt

from lxml import etree

from npo_core import Answer, Contract, InformationView, Query, Record, hookimpl
from npo_core.contract import SWEDEN, Children, format_date, format_timestamp
from npo_core.demo import PROVIDERS

from . import patientsummary as ps
from .fields import date_text, day, parse_fields, render_fields, with_role

CORE = "urn:riv:clinicalprocess:healthcond:actoutcome:2"
KV_BEFATTNING = "1.2.752.129.2.2.1.4"

def _pq(pq: dict | None) -> str:
    if not pq:
        return "–"
    return f"{pq['value']:g} {pq.get('unit') or ''}".replace(".", ",").strip()


# -- the maternity record ---------------------------------------------------------------------

MEDICATION = (("medicament", "medicament", "str"), ("dosage", "dosage", "str"))
PREVIOUS = (("year", "year", "int"), ("month", "month", "int"), ("delivery", "delivery", "int"),
            ("healthcareFacility", "facility", "str"), ("progress", "progress", "str"), ("sex", "sex", "int"),
            ("weightOfChild", "child_weight", "pq"), ("gestation", "gestation", "int"))
REGISTRATION = (
    ("lastMenstrualPeriod", "lmp", "str"), ("indicationPregnancy", "indication", "str"),
    ("contraceptiveDiscontinued", "contraceptive_stop", "str"),
    ("expectedDayOfDeliveryFromLastMenstrualPeriod", "edd_lmp", "str"),
    ("expectedDayOfDeliveryFromUltrasoundScan", "edd_ultrasound", "str"),
    ("expectedDayOfDeliveryFromEmbryonicTransfer", "edd_embryo", "str"),
    ("length", "length", "pq"), ("weight", "weight", "pq"), ("bodyMassIndex", "bmi", "pq"),
    ("infertility", "infertility", "num"), ("previousGravidityAndParity", "previous", [PREVIOUS]),
    ("diseasesThrombosis", "thrombosis", "bool"), ("diseasesEndocineDiseases", "endocrine", "bool"),
    ("diseasesRecurrentUrinaryTractInfections", "uti", "bool"), ("diseasesDiabetesMellitus", "diabetes", "bool"),
    ("medicationDuringPregnacy", "medication", [MEDICATION]),
    ("assessmentAtFirstContactStandardCare", "standard_care", "bool"))
CHECKUP = (
    ("completeWeeksOfGestation", "weeks", "int"), ("weight", "weight", "pq"), ("symphysisFundalHeight", "sfh", "pq"),
    ("haemoglobin", "hb", "pq"), ("bloodPressureSystolic", "bp_systolic", "pq"),
    ("bloodPressureDiastolic", "bp_diastolic", "pq"), ("proteinuria", "proteinuria", "pq"),
    ("glycosuria", "glycosuria", "pq"), ("fetalPosition", "fetal_position", ["int"]),
    ("fetalPresentation", "fetal_presentation", ["int"]), ("fetalHeartRate", "fetal_heart_rate", ["pq"]),
    ("typeOfLeave", "leave", ["int"]), ("medicationSinceRegistration", "medication", [MEDICATION]))
MOTHER = (
    ("bloodPressureSystolic", "bp_systolic", "pq"), ("bloodPressureDiastolic", "bp_diastolic", "pq"),
    ("haemoglobin", "hb", "pq"), ("bodyTemperature", "temperature", "num"), ("scarsOK", "scars_ok", "bool"),
    ("sutureRemoved", "suture_removed", "bool"), ("perineumComfortable", "perineum_ok", "bool"),
    ("vulvaVaginaPortioOK", "vulva_ok", "bool"), ("uterusContracted", "uterus_contracted", "bool"),
    ("uterusNote", "uterus_note", "str"), ("breastfeeding", "breastfeeding", "bool"))
CHILD = (("ordinalNumber", "ordinal", "int"), ("weight", "weight", "pq"), ("apgarScore1", "apgar1", "int"),
         ("apgarScore5", "apgar5", "int"), ("apgarScore10", "apgar10", "int"))
BODY = (("registrationRecord", "registration", REGISTRATION), ("pregnancyCheckupRecord", "checkup", CHECKUP),
        ("postDeliveryRecord", "post_delivery", (("motherPostDeliveryRecord", "mother", MOTHER),
                                                 ("childPostDeliveryRecord", "children", [CHILD]))))

TITLES = {"registration": "Inskrivning mödrahälsovård", "checkup": "Graviditetskontroll",
          "post_delivery": "Efterkontroll"}
DELIVERY = {0: "ej angivet", 1: "X-gravid", 2: "spontan abort", 4: "dödfött", 5: "levande fött"}
PRESENTATION = {0: "huvudbjudning", 1: "sätesbjudning", 2: "snedläge", 3: "tvärläge"}
LMP_DAYS_BACK = 640  # the demo's completed pregnancy; its last visit is an efterkontroll about 9 months ago


def _kind(detail: dict) -> str | None:
    return next((k for k in TITLES if k in detail), None)


class GetMaternityMedicalHistory(Contract):
    name = "GetMaternityMedicalHistory"
    version = "2.0"
    service_domain = "clinicalprocess:healthcond:actoutcome"
    categorization = "utr-mtr"
    record_element = "maternityMedicalRecord"
    title = "Mödrahälsovård"
    schema = ("clinicalprocess_healthcond_actoutcome/interactions/GetMaternityMedicalHistoryInteraction/"
              "GetMaternityMedicalHistoryResponder_2.0.xsd")
    wsdl = ("clinicalprocess_healthcond_actoutcome/interactions/GetMaternityMedicalHistoryInteraction/"
            "GetMaternityMedicalHistoryInteraction_2.0_RIVTABP21.wsdl")

    def build_request(self, query: Query) -> etree._Element:
        return ps.build_query(self, query, CORE, unit_tag="careUnitHSAid")

    def parse_response(self, payload: etree._Element) -> Answer:
        """The 2.0 response carries no result: an answer is OK by definition."""
        records = []
        for el in payload.iterfind(self.q("maternityMedicalRecord")):
            children = Children(el)
            detail = parse_fields(children.first(f"{{{CORE}}}maternityMedicalRecordBody"), CORE, BODY)
            record = ps.parse_header(children.first(f"{{{CORE}}}maternityMedicalRecordHeader"), CORE,
                                     contract=self.id, information_type=self.categorization,
                                     untitled=TITLES.get(_kind(detail), "Mödrahälsovård"))
            hd = record.detail["header"]
            if hd["org_unit"] and not any(hd["org_unit"].values()):
                hd["org_unit"] = None  # the mandatory org unit, left empty by a producer that lacks it
            record.detail.update(detail)
            records.append(record)
        return Answer(records=records)

    def parse_request(self, payload: etree._Element) -> Query:
        return ps.read_query(payload, self.responder_namespace, CORE, unit_tag="careUnitHSAid")

    def render_response(self, records: list[Record], query: Query) -> etree._Element:
        resp = etree.Element(self.q(f"{self.name}Response"), nsmap={None: self.responder_namespace, "core": CORE})
        for r in records:
            if ps.matches(r, query):
                el = ps.sub(resp, self.q("maternityMedicalRecord"))
                _render_header(el, r, query)
                render_fields(ps.sub(el, f"{{{CORE}}}maternityMedicalRecordBody"), CORE, BODY, r.detail)
        return resp

    def demo_records(self, demo) -> list[Record]:
        """Pregnancies only for women of childbearing age; Egon (a man) has one record made on him by mistake."""
        if demo.profile == "variants":
            return [self._wrong_patient(demo)] if demo.logical_address == PROVIDERS[0][4][0] else []
        unit = next((u for u in demo.units if "vårdcentral" in u[1].lower()), None)  # barnmorskemottagningen
        if not childbearing(demo.patient.id, demo.today) or unit is None:
            return []
        height = 158.0 + int(demo.patient.id[-3:]) % 17  # the same woman wherever she is measured
        first_lmp = demo.today - dt.timedelta(days=LMP_DAYS_BACK + 360)
        if demo.logical_address == PROVIDERS[0][4][0]:  # an early miscarriage, registered before it happened
            return _pregnancy(self, demo, unit, first_lmp, height, [], complete=False)
        if demo.logical_address == PROVIDERS[1][4][0]:  # after moving: a first delivery, followed all the way
            lost = first_lmp + dt.timedelta(weeks=9)
            previous = [{"year": lost.year, "month": lost.month, "delivery": 2, "facility": PROVIDERS[0][3][0][1],
                         "progress": "Missfall v. 9, ingen skrapning.", "gestation": 9}]
            return _pregnancy(self, demo, unit, demo.today - dt.timedelta(days=LMP_DAYS_BACK), height, previous,
                              complete=True)
        return []

    def _wrong_patient(self, demo) -> Record:
        record = demo.record(contract=self.id, information_type=self.categorization, key="mtr-0",
                             title=TITLES["registration"], time=demo.when(), detail={}, without_owner=True,
                             approved=False)
        record = _for_this_core(with_role(record, "Barnmorska"))
        header = {**record.detail["header"], "nullified_reason":
                  "Felregistrering: anteckningen avsåg en annan patient och har makulerats. Innehållet är borttaget."}
        return dataclasses.replace(record, nullified=True, detail={"header": header})


def childbearing(pid: str, today: dt.date) -> bool:
    """Sex from the personnummer's 11th digit (even: woman), age from its first eight."""
    return int(pid[10]) % 2 == 0 and 18 <= today.year - int(pid[:4]) <= 50


def _for_this_core(record: Record) -> Record:
    """The 2.0 core's signature has no name, so the demo header keeps none either."""
    signature = record.detail["header"]["signature"]
    if signature:
        header = {**record.detail["header"], "signature": {**signature, "name": None}}
        record = dataclasses.replace(record, detail={**record.detail, "header": header})
    return record


def _pregnancy(contract: Contract, demo, unit, lmp: dt.date, height: float, previous: list,
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
        out.append(_for_this_core(with_role(record, "Barnmorska")))
    return out


def _render_header(parent: etree._Element, record: Record, query: Query) -> None:
    """The 2.0 core's header: careContactId comes last; author HSA id, org unit, care unit and care provider
    are mandatory (written empty when the producer lacks them); the signature has no name."""
    c = lambda local: f"{{{CORE}}}{local}"  # noqa: E731
    hd = record.detail.get("header", {})
    h = ps.sub(parent, c("maternityMedicalRecordHeader"))
    ps.sub(h, c("documentId"), record.id)
    ps.sub(h, c("sourceSystemHSAId"), record.source_system)
    ps.opt(h, c("documentTitle"), hd.get("document_title"))
    ps.opt(h, c("documentTime"), hd.get("document_time"))
    ps.patient_id(h, c("patientId"), CORE, query.patient)
    prof = ps.sub(h, c("accountableHealthcareProfessional"))
    ps.sub(prof, c("authorTime"), hd.get("author_time") or format_timestamp(record.time))
    ps.sub(prof, c("healthcareProfessionalHSAId"), hd.get("author_hsa_id") or "")
    ps.opt(prof, c("healthcareProfessionalName"), hd.get("author_name"))
    if hd.get("author_role"):
        role = ps.sub(prof, c("healthcareProfessionalRoleCode"))
        for k in ("code", "codeSystem", "displayName"):
            ps.opt(role, c(k), hd["author_role"].get(k))
    unit = hd.get("org_unit") or {}
    org = ps.sub(prof, c("healthcareProfessionalOrgUnit"))
    for k in ("orgUnitHSAId", "orgUnitName"):
        ps.sub(org, c(k), unit.get(k) or "")
    for k in ("orgUnitTelecom", "orgUnitEmail", "orgUnitAddress", "orgUnitLocation"):
        ps.opt(org, c(k), unit.get(k))
    ps.sub(prof, c("healthcareProfessionalCareUnitHSAId"), record.care_unit_id or "")
    ps.sub(prof, c("healthcareProfessionalCareGiverHSAId"), record.care_provider_id or "")
    if hd.get("signature"):
        legal = ps.sub(h, c("legalAuthenticator"))
        ps.sub(legal, c("signatureTime"), hd["signature"]["time"])
        ps.opt(legal, c("legalAuthenticatorHSAId"), hd["signature"].get("hsa_id"))
    ps.sub(h, c("approvedForPatient"), record.approved_for_patient)
    if record.nullified:
        ps.sub(h, c("nullified"), True)
        ps.opt(h, c("nullifiedReason"), hd.get("nullified_reason"))
    ps.opt(h, c("careContactId"), hd.get("care_contact_id"))


# -- the web view -----------------------------------------------------------------------------


def _week(record: Record) -> str:
    """Complete weeks at a visit; at inskrivning, weeks+days counted from the last period."""
    d = record.detail
    if "checkup" in d and d["checkup"].get("weeks") is not None:
        return str(d["checkup"]["weeks"])
    lmp = day(d.get("registration", {}).get("lmp"))
    if lmp and record.time:
        days = (record.time.date() - lmp).days
        return f"{days // 7}+{days % 7}"
    return "–"




def _bp(values: dict) -> str:
    sys_, dia = values.get("bp_systolic"), values.get("bp_diastolic")
    return f"{sys_['value']:g}/{dia['value']:g} mmHg" if sys_ and dia else "–"


def _medication(items: list[dict]) -> str:
    return "; ".join(f"{m.get('medicament') or 'Läkemedel'}{', ' + m['dosage'] if m.get('dosage') else ''}" for m in items)


def _registration(reg: dict) -> list[tuple[str, str]]:
    previous = reg.get("previous", [])
    para = sum(1 for p in previous if p.get("delivery") in (4, 5))
    risks = [label for key, label in (("thrombosis", "Tidigare trombos"), ("endocrine", "Endokrin sjukdom"),
                                      ("uti", "Upprepade urinvägsinfektioner"), ("diabetes", "Diabetes mellitus"))
             if reg.get(key)]
    if (reg.get("bmi") or {}).get("value", 0) >= 30:
        risks.append("BMI 30 eller mer")
    return [
        ("Sista mens", date_text(reg.get("lmp"))),
        ("Beräknad förlossning", f"{date_text(reg.get('edd_lmp'))} (sista mens)"
         + (f", {date_text(reg['edd_ultrasound'])} (ultraljud)" if reg.get("edd_ultrasound") else "")),
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
            ("Blodtryck", _bp(c)),
            ("Fosterljud", ", ".join(_pq(f) for f in c.get("fetal_heart_rate", [])) or "–"),
            ("Fosterläge", ", ".join(PRESENTATION.get(p, str(p)) for p in c.get("fetal_presentation", [])) or "–")]
    if c.get("medication"):
        rows.append(("Läkemedel sedan inskrivning", _medication(c["medication"])))
    return rows


def _post_delivery(p: dict) -> list[tuple[str, str]]:
    mother = p.get("mother", {})
    rows = [("Blodtryck", _bp(mother)),
            ("Hb", _pq(mother.get("hb"))),
            ("Amning", {True: "Ja", False: "Nej"}.get(mother.get("breastfeeding"), "–")),
            ("Livmoder", mother.get("uterus_note") or {True: "Väl kontraherad", False: "Ej kontraherad"}.get(
                mother.get("uterus_contracted"), "–"))]
    for child in p.get("children", []):
        apgar = "-".join(str(child[k]) for k in ("apgar1", "apgar5", "apgar10") if child.get(k) is not None)
        rows.append((f"Barn {child.get('ordinal', '')}".strip(),
                     f"födelsevikt {_pq(child.get('weight'))}" + (f", Apgar {apgar}" if apgar else "")))
    return rows


def _details(record: Record) -> list[tuple[str, str]]:
    d = record.detail
    rows = (_registration(d["registration"]) if "registration" in d else []) \
        + (_checkup(d["checkup"]) if "checkup" in d else []) \
        + (_post_delivery(d["post_delivery"]) if "post_delivery" in d else [])
    if record.nullified:
        rows.insert(0, ("Makulerad", d.get("header", {}).get("nullified_reason") or "Ja"))
    return rows + [("Ansvarig", record.author or "–")]


@hookimpl
def register_contracts(register):
    register(GetMaternityMedicalHistory())


@hookimpl
def register_views(register):
    register(InformationView(
        slug="modravard", title="Mödrahälsovård", categorizations=("utr-mtr",), order=90,
        columns=(("Datum", lambda r: r.time.strftime("%Y-%m-%d") if r.time else "–"),
                 ("Anteckning", lambda r: r.title + (" (makulerad)" if r.nullified else "")),
                 ("Graviditetsvecka", _week),
                 ("Vårdenhet", lambda r: r.care_unit_name or r.care_unit_id or "Okänd"),
                 ("Vårdgivare", lambda r: r.care_provider_name or r.care_provider_id or "Okänd")),
        details=_details,
        help="Mödrahälsovårdens journal: inskrivning, graviditetskontroller och efterkontroll.",
    ))
