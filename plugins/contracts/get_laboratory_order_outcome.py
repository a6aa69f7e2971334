"""GetLaboratoryOrderOutcome 3.1 and 4.2 (clinicalprocess:healthcond:actoutcome): laboratory answers.

Major 3 carries the PatientSummary header and free-text outcomes; major 4 the JoL header
(IIType ids, no `result` element) with structured values, intervals and analysis groups.
Both parse into one detail shape, and one demo generator feeds both, so an answer keeps
its record id through either major and the core shows it once.
"""

from __future__ import annotations

import datetime as dt
import re

from lxml import etree

from npo_core import Answer, Contract, InformationView, Query, Record, hookimpl
from npo_core.contract import Children, format_timestamp, parse_timestamp
from npo_core.demo import PROVIDERS
from npo_core.identity import HSA_ID_OID, PatientId, parse_patient_id

from . import patientsummary as ps

CORE3 = "urn:riv:clinicalprocess:healthcond:actoutcome:3"
CORE4 = "urn:riv:clinicalprocess:healthcond:actoutcome:4"
EXT41 = "urn:riv:clinicalprocess:healthcond:actoutcome:4.1"  # patientId and orgUnit of the 4.x header
NPU = "1.2.752.108.1"
SNOMED = "1.2.752.116.2.1.1"
REPORT_STATUS = "2.16.840.1.113883.4.642.3.235"  # FHIR DiagnosticReportStatus, as the 4.x TKB prescribes
INTERACTION = "clinicalprocess_healthcond_actoutcome/interactions/GetLaboratoryOrderOutcomeInteraction/"

STATUS_TEXT = {"final": "Slutsvar", "preliminary": "Preliminärsvar", "partial": "Delsvar"}
RESULT_TYPE = {"final": "DEF", "preliminary": "PREL"}  # 3.x resultType
FROM_RESULT_TYPE = {"DEF": "final", "PREL": "preliminary", "TILL": "final"}  # a tilläggssvar completes a final one
WITHIN = "281301001"  # SNOMED CT: within reference range
INTERPRETATION = {"above": ("281302008", "Över referensintervall"), "below": ("281300000", "Under referensintervall"),
                  "abnormal": ("263654008", "Avvikande")}
SPECIMENS = {"Venöst blod": "122555007", "Plasma": "119361006", "Serum": "119364003", "Urin": "122575003"}
ANALYSIS_KEYS = ("id", "code", "code_system", "name", "sampled", "analysed", "specimen", "value", "unit", "low",
                 "high", "reference", "population", "abnormal", "comment")
ORG_KEYS = ("orgUnitHSAId", "orgUnitName", "orgUnitTelecom", "orgUnitEmail", "orgUnitAddress", "orgUnitLocation")

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
    "inr": ("NPU01685", "P-PK(INR)", None, "0.9", "1.2", "Plasma", (0.9, 3.9), 1),
}
MALE_REFERENCE = {"NPU28309": ("134", "170"), "NPU18016": ("60", "105")}
GROUPS = {"Blodstatus": ("hb", "lpk", "tpk"), "Elstatus": ("na", "k", "krea"), "Leverstatus": ("alat", "alp", "alb"),
          "Tyreoideaprover": ("tsh", "ft4"), "Lipidstatus": ("kol", "ldl", "hdl", "tg")}
# (frågeställning, what was ordered: group names and single analyses)
ORDERS = [
    ("Trötthet och yrsel sedan en månad. Anemi?", ("Blodstatus", "ferritin", "Tyreoideaprover")),
    ("Feber och hosta sedan fyra dagar.", ("Blodstatus", "crp")),
    ("Årskontroll diabetes typ 2.", ("hba1c", "Elstatus", "Lipidstatus")),
    ("Uppföljning hypotyreos, Levaxin 75 µg.", ("Tyreoideaprover",)),
    ("Kontroll två veckor efter insatt ACE-hämmare.", ("Elstatus",)),
    ("Förhöjt ALAT vid förra provtagningen.", ("Leverstatus", "crp")),
    ("Preoperativ koagulationskontroll.", ("inr",)),
    ("Smärtor under höger arcus efter måltid.", ("Leverstatus", "Blodstatus", "crp")),
    ("Bensvullnad, hjärtsvikt?", ("Elstatus", "Blodstatus")),
    ("Törst och viktnedgång.", ("glu", "hba1c", "Elstatus")),
]
REPORTS = [None, None, None, "Hemolys i provet. Kalium kan vara falskt förhöjt, ny provtagning rekommenderas.",
           "Lipemiskt prov, analyserat efter ultracentrifugering.", "Svaret kontrollerat mot föregående prov."]
LABS = {"Region Stockholm": "Klinisk kemi, Karolinska Universitetslaboratoriet",
        "Västra Götalandsregionen": "Klinisk kemi, Sahlgrenska Universitetssjukhuset",
        "Region Skåne": "Klinisk kemi, Labmedicin Skåne",
        "Uppsala kommun": "Klinisk kemi och farmakologi, Akademiska sjukhuset",
        "Capio S:t Görans Sjukhus AB": "Klinisk kemi, S:t Görans sjukhus"}

_NUM = r"-?\d+(?:[.,]\d+)?"
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)((\.|,)[0-9]+)?([eE][+-]?[0-9]+)?")  # 4.x DecimalPrimitiveType
_INTERVAL = re.compile(rf"\s*(?:({_NUM})\s*[–-]\s*({_NUM})|<\s*({_NUM})|>\s*({_NUM}))\s*")


def _c3(local: str) -> str:
    return f"{{{CORE3}}}{local}"


def _c4(local: str) -> str:
    return f"{{{CORE4}}}{local}"


# -- small shapes shared by both cores ---------------------------------------------------


def _ii(parent: etree._Element, tag: str, ns: str, root: str, extension: str | None) -> None:
    el = ps.sub(parent, tag)
    ps.sub(el, f"{{{ns}}}root", root)
    ps.sub(el, f"{{{ns}}}extension", extension or "")  # an empty extension says "not known" (4.x requires one)


def _ii_value(el: etree._Element | None, ns: str) -> str | None:
    """The extension; the root alone only where there is no extension element (3.x allows that)."""
    if el is None:
        return None
    ii = Children(el)
    return ii.text(f"{{{ns}}}root") if ii.first(f"{{{ns}}}extension") is None else ii.text(f"{{{ns}}}extension")


def _cv(parent: etree._Element, tag: str, ns: str, code: str | None, system: str | None, name: str | None) -> None:
    """A CVType: code, system and display name, or the name alone as originalText."""
    el = ps.sub(parent, tag)
    if code:
        ps.sub(el, f"{{{ns}}}code", code)
        ps.sub(el, f"{{{ns}}}codeSystem", system)
        ps.opt(el, f"{{{ns}}}displayName", name)
    else:
        ps.opt(el, f"{{{ns}}}originalText", name)


def _read_cv(el: etree._Element | None, ns: str) -> tuple[str | None, str | None, str | None]:
    cv = Children(el)
    return (cv.text(f"{{{ns}}}code"), cv.text(f"{{{ns}}}codeSystem"),
            cv.text(f"{{{ns}}}displayName") or cv.text(f"{{{ns}}}originalText"))


def _analysis(**fields) -> dict:
    """Every analysis carries the same keys, whichever major it came through."""
    return {k: fields.get(k) for k in ANALYSIS_KEYS}


def _reference_text(a: dict) -> str | None:
    """The interval as 3.x writes it: '117–153', '<5' or '>60'; else the reference text."""
    low, high = a.get("low"), a.get("high")
    if low and high:
        return f"{low}–{high}"
    return f"<{high}" if high else f">{low}" if low else a.get("reference")


def _split_reference(text: str | None) -> tuple[str | None, str | None, str | None]:
    """(low, high, text): the interval forms become numbers, anything else stays text."""
    m = _INTERVAL.fullmatch(text or "")
    if not m:
        return None, None, text
    low, high, below, above = (g.replace(",", ".") if g else None for g in m.groups())
    return low or above, high or below, None


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


def _latest_sample(analyses: list[dict]) -> str | None:
    """A lab answer is dated by its latest sample (what the 4.x block comparison time also says)."""
    return max((a["sampled"] for a in analyses if a["sampled"]), default=None)


def _matches(record: Record, query: Query) -> bool:
    return ps.matches(record, query) and (not query.care_providers or record.care_provider_id in query.care_providers)


# -- major 3: PatientSummary header, text outcomes ----------------------------------------


def _render_analysis3(parent: etree._Element, a: dict, source: str) -> None:
    el = ps.sub(parent, _c3("analysis"))
    _ii(el, _c3("analysisId"), CORE3, source, a["id"])
    if a["sampled"]:
        ps.sub(ps.sub(el, _c3("analysisTime")), _c3("start"), a["sampled"])
    if a["code"]:
        _cv(el, _c3("analysisCode"), CORE3, a["code"], a["code_system"], a["name"])
    else:
        ps.opt(el, _c3("analysisText"), a["name"])
    ps.sub(el, _c3("analysisStatus"), "Pågående" if a["value"] is None else "Avklarad")  # KV åtgärdsstatus
    ps.opt(el, _c3("analysisComment"), a["comment"])
    ps.opt(el, _c3("specimen"), a["specimen"])
    if a["value"] is not None:
        out = ps.sub(el, _c3("analysisOutcome"))
        ps.sub(out, _c3("outcomeValue"), a["value"])
        ps.opt(out, _c3("outcomeUnit"), a["unit"])
        ps.opt(out, _c3("observationTime"), a["analysed"])
        ps.sub(out, _c3("pathologicalFlag"), bool(a["abnormal"]))
        ps.opt(out, _c3("referenceInterval"), _reference_text(a))
        ps.opt(out, _c3("referencePopulation"), a["population"])


def _read_analysis3(el: etree._Element) -> dict:
    analysis = Children(el)
    code, system, name = _read_cv(analysis.first(_c3("analysisCode")), CORE3)
    out, period = analysis.under(_c3("analysisOutcome")), analysis.under(_c3("analysisTime"))
    low, high, reference = _split_reference(out.text(_c3("referenceInterval")))
    return _analysis(
        id=_ii_value(analysis.first(_c3("analysisId")), CORE3), code=code, code_system=system,
        name=name or analysis.text(_c3("analysisText")),
        sampled=period.text(_c3("start")) or period.text(_c3("end")),
        analysed=out.text(_c3("observationTime")), specimen=analysis.text(_c3("specimen")),
        value=out.text(_c3("outcomeValue")), unit=out.text(_c3("outcomeUnit")), low=low, high=high,
        reference=reference, population=out.text(_c3("referencePopulation")),
        abnormal=ps.boolean(out.text(_c3("pathologicalFlag"))), comment=analysis.text(_c3("analysisComment")))


# -- major 4: JoL header, IIType ids, structured results ------------------------------------


def _render_header4(parent: etree._Element, record: Record, patient: PatientId) -> None:
    hd = record.detail.get("header", {})
    h = ps.sub(parent, _c4("header"))
    ach = ps.sub(h, _c4("accessControlHeader"))
    _ii(ach, _c4("accountableCareGiver"), CORE4, HSA_ID_OID, record.care_provider_id)
    if record.care_unit_id:
        _ii(ach, _c4("accountableCareUnit"), CORE4, HSA_ID_OID, record.care_unit_id)
    ps.sub(ach, _c4("blockComparisonTime"), format_timestamp(record.block_time or record.time))
    ps.sub(ach, _c4("approvedForPatient"), record.approved_for_patient)
    _ii(ach, f"{{{EXT41}}}patientId", CORE4, patient.root, patient.id)
    _ii(h, _c4("sourceSystemId"), CORE4, HSA_ID_OID, record.source_system)
    rec = ps.sub(h, _c4("record"))
    _ii(rec, _c4("id"), CORE4, record.source_system, record.id)
    ps.sub(rec, _c4("timestamp"), hd.get("document_time") or format_timestamp(record.time))
    if hd.get("author_time"):
        author = ps.sub(h, _c4("author"))
        if hd.get("author_hsa_id"):
            _ii(author, _c4("id"), CORE4, HSA_ID_OID, hd["author_hsa_id"])
        ps.opt(author, _c4("name"), hd.get("author_name"))
        ps.sub(author, _c4("timestamp"), hd["author_time"])
        if hd.get("author_role"):
            role = hd["author_role"]
            _cv(author, _c4("byRole"), CORE4, role.get("code"), role.get("codeSystem"), role.get("displayName"))
        if hd.get("org_unit"):
            org = ps.sub(author, f"{{{EXT41}}}orgUnit")
            if hd["org_unit"].get("orgUnitHSAId"):
                _ii(org, _c4("id"), CORE4, HSA_ID_OID, hd["org_unit"]["orgUnitHSAId"])
            ps.opt(org, _c4("name"), hd["org_unit"].get("orgUnitName"))
    if hd.get("signature"):
        sig = ps.sub(h, _c4("signature"))
        if hd["signature"].get("hsa_id"):
            _ii(sig, _c4("id"), CORE4, HSA_ID_OID, hd["signature"]["hsa_id"])
        ps.opt(sig, _c4("name"), hd["signature"].get("name"))
        ps.sub(sig, _c4("timestamp"), hd["signature"]["time"])


def _read_header4(h: etree._Element, contract: str, information_type: str, recipient: tuple, *, title: str,
                  sampled: str | None) -> Record:
    """Normalise a 4.x header into the same Record and header dict as the PatientSummary header.

    The record is dated by its latest sample where it has one, else by the block comparison time."""
    head = Children(h)
    access, author, entry = (head.under(_c4("accessControlHeader")), head.under(_c4("author")),
                             head.under(_c4("record")))
    org, sig = author.first(f"{{{EXT41}}}orgUnit"), head.first(_c4("signature"))
    unit, signed = Children(org), Children(sig)
    role = _read_cv(author.first(_c4("byRole")), CORE4)
    header = {
        "document_time": entry.text(_c4("timestamp")),
        "author_time": author.text(_c4("timestamp")),
        "author_hsa_id": _ii_value(author.first(_c4("id")), CORE4),
        "author_name": author.text(_c4("name")),
        "author_role": dict(zip(("code", "codeSystem", "displayName"), role)) if any(role) else None,
        "org_unit": {**dict.fromkeys(ORG_KEYS), "orgUnitHSAId": _ii_value(unit.first(_c4("id")), CORE4),
                     "orgUnitName": unit.text(_c4("name"))} if org is not None else None,
        "signature": {"time": signed.text(_c4("timestamp")), "hsa_id": _ii_value(signed.first(_c4("id")), CORE4),
                      "name": signed.text(_c4("name"))} if sig is not None else None,
        "care_contact_id": None, "nullified_reason": None, "document_title": None,
    }
    unit_id = _ii_value(access.first(_c4("accountableCareUnit")), CORE4)
    block = access.text(_c4("blockComparisonTime"))
    when = parse_timestamp(header["document_time"])
    block_time = parse_timestamp(block) if block else when
    time = parse_timestamp(sampled) or block_time or when
    return Record(
        id=_ii_value(entry.first(_c4("id")), CORE4) or "", contract=contract,
        information_type=information_type, time=time,
        care_provider_id=_ii_value(access.first(_c4("accountableCareGiver")), CORE4),
        care_unit_id=unit_id, care_unit_name=recipient[1] if unit_id and recipient[0] == unit_id else None,
        source_system=_ii_value(head.first(_c4("sourceSystemId")), CORE4), title=title,
        author=header["author_name"], block_time=block_time or time,
        approved_for_patient=bool(ps.boolean(access.text(_c4("approvedForPatient")))),
        patient_id=_ii_value(access.first(f"{{{EXT41}}}patientId"), CORE4),
        detail={"header": header})


def _render_analysis4(parent: etree._Element, a: dict, source: str) -> None:
    el = ps.sub(parent, _c4("analysis"))
    if a["id"]:
        _ii(el, _c4("identifier"), CORE4, source, a["id"])
    ps.opt(el, _c4("timestamp"), a["analysed"])
    _cv(el, _c4("code"), CORE4, a["code"], a["code_system"], a["name"])
    ps.opt(el, _c4("comment"), a["comment"])
    if a["sampled"]:
        specimen = ps.sub(el, _c4("specimen"))
        if a["specimen"]:
            _cv(specimen, _c4("material"), CORE4, SPECIMENS.get(a["specimen"]), SNOMED, a["specimen"])
        ps.sub(specimen, _c4("timestamp"), a["sampled"])
    if a["value"] is None:
        return
    result = ps.sub(el, _c4("result"))
    value = ps.sub(result, _c4("value"))
    if _NUMBER.fullmatch(a["value"]):
        pq = ps.sub(value, _c4("pq"))
        ps.sub(pq, _c4("value"), a["value"])
        ps.sub(pq, _c4("unit"), a["unit"] or "")  # TKB rule 3.3: no unit is an empty string
    else:
        ps.sub(value, _c4("st"), a["value"])
    if a["abnormal"]:
        code, text = INTERPRETATION[_deviation(a)]
        _cv(result, _c4("interpretation"), CORE4, code, SNOMED, text)
    if a["low"] or a["high"] or a["reference"] or a["population"]:
        reference = ps.sub(result, _c4("reference"))
        if a["low"] or a["high"]:  # interval or description, never both (rule 009)
            interval = ps.sub(reference, _c4("interval"))
            ps.opt(interval, _c4("low"), a["low"])
            ps.opt(interval, _c4("high"), a["high"])
            ps.sub(interval, _c4("unit"), a["unit"] or "")
        else:
            ps.opt(reference, _c4("description"), a["reference"])
        ps.opt(reference, _c4("population"), a["population"])


def _read_analysis4(el: etree._Element, group: str | None) -> dict:
    analysis = Children(el)
    code, system, name = _read_cv(analysis.first(_c4("code")), CORE4)
    specimen, result = analysis.under(_c4("specimen")), analysis.first(_c4("result"))
    outcome = Children(result)
    value, reference = outcome.under(_c4("value")), outcome.under(_c4("reference"))
    pq, interval = value.under(_c4("pq")), reference.under(_c4("interval"))
    return {**_analysis(
        id=_ii_value(analysis.first(_c4("identifier")), CORE4), code=code, code_system=system, name=name,
        sampled=specimen.text(_c4("timestamp")), analysed=analysis.text(_c4("timestamp")),
        specimen=_read_cv(specimen.first(_c4("material")), CORE4)[2],
        value=pq.text(_c4("value")) or value.text(_c4("st")) or _read_cv(value.first(_c4("cv")), CORE4)[2],
        unit=pq.text(_c4("unit")) or None, low=interval.text(_c4("low")), high=interval.text(_c4("high")),
        reference=reference.text(_c4("description")), population=reference.text(_c4("population")),
        abnormal=None if result is None else any(
            _read_cv(i, CORE4)[0] != WITHIN for i in outcome.all(_c4("interpretation"))),
        comment=analysis.text(_c4("comment"))), "group": group}


# -- the contracts ------------------------------------------------------------------------


class _LaboratoryOrderOutcome(Contract):
    name = "GetLaboratoryOrderOutcome"
    service_domain = "clinicalprocess:healthcond:actoutcome"
    categorization = "und-kkm-ure"
    record_element = "laboratoryOrderOutcome"
    title = "Klinisk kemi och laboratorium"

    def demo_records(self, demo) -> list[Record]:
        return _demo_answers(self, demo)


class GetLaboratoryOrderOutcome3(_LaboratoryOrderOutcome):
    version = "3.1"
    schema = INTERACTION + "GetLaboratoryOrderOutcomeResponder_3.1.xsd"
    wsdl = INTERACTION + "GetLaboratoryOrderOutcomeInteraction_3.1_RIVTABP21.wsdl"

    def build_request(self, query: Query) -> etree._Element:
        return ps.build_query(self, query, CORE3)

    def parse_request(self, payload: etree._Element) -> Query:
        return ps.read_query(payload, self.responder_namespace, CORE3)

    def parse_response(self, payload: etree._Element) -> Answer:
        records = []
        for el in payload.iterfind(self.q("laboratoryOrderOutcome")):
            children = Children(el)
            body = Children(ps.required(children, _c3("laboratoryOrderOutcomeBody")))
            lab = body.under(_c3("accountableHealthcareProfessional")).first(_c3("healthcareProfessionalOrgUnit"))
            order, unit = body.under(_c3("order")), Children(lab)
            order_id, reason = order.text(_c3("orderId")), order.text(_c3("orderReason"))
            analyses = [_read_analysis3(a) for a in body.all(_c3("analysis"))]
            result_type = body.text(_c3("resultType"))
            detail = {
                "status": FROM_RESULT_TYPE.get(result_type, result_type),
                "registered": body.text(_c3("registrationTime")),
                "report": "\n\n".join(filter(None, (body.text(_c3("resultReport")),
                                                    body.text(_c3("resultComment"))))) or None,
                "order": {"id": order_id, "reason": reason} if order_id else None,  # "": no referral (ward tests)
                "lab": {"id": unit.text(_c3("orgUnitHSAId")), "name": unit.text(_c3("orgUnitName"))}
                if lab is not None else None,
                "analyses": analyses,
            }
            sampled = _latest_sample(analyses)
            record = ps.parse_header(children.first(_c3("laboratoryOrderOutcomeHeader")), CORE3, contract=self.id,
                                     information_type=self.categorization, title=_title(analyses), time=sampled,
                                     block_time=sampled)
            record.detail.update(detail)
            records.append(record)
        return ps.answer(records, payload, self.responder_namespace, CORE3)

    def render_response(self, records: list[Record], query: Query) -> etree._Element:
        resp = etree.Element(self.q(f"{self.name}Response"), nsmap={None: self.responder_namespace, "core": CORE3})
        for r in records:
            if not _matches(r, query):
                continue
            d = r.detail
            el = ps.sub(resp, self.q("laboratoryOrderOutcome"))
            ps.render_header(el, _c3("laboratoryOrderOutcomeHeader"), CORE3, r, query.patient)
            body = ps.sub(el, _c3("laboratoryOrderOutcomeBody"))
            ps.sub(body, _c3("resultType"), RESULT_TYPE.get(d["status"], d["status"]))
            ps.sub(body, _c3("registrationTime"), d["registered"])
            ps.sub(body, _c3("discipline"), "Klinisk kemi")  # the one value the TKB allows
            ps.opt(body, _c3("resultReport"), d["report"])
            if d.get("lab"):
                lab = ps.sub(body, _c3("accountableHealthcareProfessional"))
                ps.sub(lab, _c3("authorTime"), d["registered"])
                org = ps.sub(lab, _c3("healthcareProfessionalOrgUnit"))
                ps.opt(org, _c3("orgUnitHSAId"), d["lab"]["id"])
                ps.opt(org, _c3("orgUnitName"), d["lab"]["name"])
            for a in d["analyses"]:
                _render_analysis3(body, a, r.source_system)
            order = ps.sub(body, _c3("order"))
            ps.sub(order, _c3("orderId"), (d["order"] or {}).get("id") or "")
            ps.opt(order, _c3("orderReason"), (d["order"] or {}).get("reason"))
        ps.render_result(resp, self.responder_namespace, CORE3)
        return resp


class GetLaboratoryOrderOutcome4(_LaboratoryOrderOutcome):
    version = "4.2"
    schema = INTERACTION + "GetLaboratoryOrderOutcomeResponder_4.2.xsd"
    wsdl = INTERACTION + "GetLaboratoryOrderOutcomeInteraction_4.2_RIVTABP21.wsdl"

    def build_request(self, query: Query) -> etree._Element:
        req = etree.Element(self.q(self.name), nsmap={None: self.responder_namespace, "core": CORE4})
        for unit in query.care_units:
            _ii(req, self.q("careUnitHSAId"), CORE4, HSA_ID_OID, unit)
        for provider in query.care_providers:
            _ii(req, self.q("careGiverHSAId"), CORE4, HSA_ID_OID, provider)
        _ii(req, self.q("patientId"), CORE4, query.patient.root, query.patient.id)
        ps.period(req, self.q("datePeriod"), CORE4, query.period)
        if query.source_system:
            _ii(req, self.q("sourceSystemHSAId"), CORE4, HSA_ID_OID, query.source_system)
        return req

    def parse_request(self, payload: etree._Element) -> Query:
        def ids(tag: str) -> tuple[str, ...]:
            return tuple(filter(None, (_ii_value(e, CORE4) for e in payload.iterfind(self.q(tag)))))

        period = payload.find(self.q("datePeriod"))
        span = None
        if period is not None:
            span = tuple(parse_timestamp(ps.text(period, _c4(k))).date() for k in ("start", "end"))
        return Query(patient=parse_patient_id(_ii_value(payload.find(self.q("patientId")), CORE4) or ""),
                     period=span, care_units=ids("careUnitHSAId"), care_providers=ids("careGiverHSAId"),
                     source_system=_ii_value(payload.find(self.q("sourceSystemHSAId")), CORE4))

    def parse_response(self, payload: etree._Element) -> Answer:
        records = []
        for el in payload.iterfind(self.q("laboratoryOrderOutcome")):
            children = Children(el)
            body = Children(ps.required(children, _c4("body")))
            recipient, referral = body.first(_c4("recipientUnit")), body.first(_c4("referral"))
            receiver, asked = Children(recipient), Children(referral)
            analyses = [_read_analysis4(a, group.text(_c4("name")))
                        for group in map(Children, body.all(_c4("groupOfAnalyses")))
                        for a in group.all(_c4("analysis"))]
            record = _read_header4(ps.required(children, _c4("header")), self.id, self.categorization,
                                   (_ii_value(receiver.first(_c4("id")), CORE4), receiver.text(_c4("name")))
                                   if recipient is not None else (None, None),
                                   title=_title(analyses), sampled=_latest_sample(analyses))
            record.detail.update({
                "status": body.under(_c4("type")).text(_c4("code")),
                "registered": record.detail["header"]["document_time"],
                "report": body.text(_c4("text")),
                "order": {"id": _ii_value(asked.first(_c4("identifier")), CORE4),
                          "reason": asked.text(_c4("question"))} if referral is not None else None,
                "analyses": analyses,
            })
            records.append(record)
        return Answer(records=records)  # 4.x has no result element: an answer is an OK answer

    def render_response(self, records: list[Record], query: Query) -> etree._Element:
        resp = etree.Element(self.q(f"{self.name}Response"),
                             nsmap={None: self.responder_namespace, "core": CORE4, "ext": EXT41})
        for r in records:
            if not _matches(r, query):
                continue
            d = r.detail
            el = ps.sub(resp, self.q("laboratoryOrderOutcome"))
            _render_header4(el, r, query.patient)
            body = ps.sub(el, _c4("body"))
            _ii(body, _c4("identifier"), CORE4, r.source_system, r.id)
            _cv(body, _c4("type"), CORE4, d["status"], REPORT_STATUS, STATUS_TEXT.get(d["status"]))
            ps.opt(body, _c4("text"), d["report"])
            if d["order"]:
                referral = ps.sub(body, _c4("referral"))
                _ii(referral, _c4("identifier"), CORE4, r.source_system, d["order"]["id"])
                ps.sub(referral, _c4("timestamp"), format_timestamp(r.time))
                ps.opt(referral, _c4("question"), d["order"]["reason"])
            group, container = object(), None
            for a in d["analyses"]:  # consecutive analyses of one named group share a groupOfAnalyses
                if a.get("group") is None or a["group"] != group:
                    container = ps.sub(body, _c4("groupOfAnalyses"))
                    ps.opt(container, _c4("name"), a["group"])
                    group = a["group"]
                _render_analysis4(container, a, r.source_system)
            recipient = ps.sub(body, _c4("recipientUnit"))
            if r.care_unit_id:
                _ii(recipient, _c4("id"), CORE4, HSA_ID_OID, r.care_unit_id)
            ps.sub(recipient, _c4("name"), r.care_unit_name or "Okänd mottagande enhet")  # a name is mandatory
        return resp


# -- the demo journal ---------------------------------------------------------------------


def _demo_analysis(rng, key: str, record_key: str, n: int, male: bool, sampled: str, analysed: str) -> dict:
    code, name, unit, low, high, specimen, (lo, hi), decimals = ANALYSES[key]
    low, high = MALE_REFERENCE.get(code, (low, high)) if male else (low, high)
    within = rng.random() < 0.8  # most results are normal; the rest anywhere in the plausible range
    value = round(rng.uniform(float(low or lo), float(high or hi)) if within else rng.uniform(lo, hi), decimals)
    abnormal = bool((low and value < float(low)) or (high and value > float(high)))
    return _analysis(id=f"{record_key}-{n}", code=code, code_system=NPU, name=name, sampled=sampled,
                     analysed=analysed, specimen=specimen, value=f"{value:.{decimals}f}", unit=unit, low=low,
                     high=high, population=("Män" if male else "Kvinnor") if code in MALE_REFERENCE else None,
                     abnormal=abnormal,
                     comment="Omanalyserat med samma resultat." if abnormal and rng.random() < 0.1 else None)


def _demo_answers(contract: Contract, demo) -> list[Record]:
    """Laboratory answers for one patient at one source; the major decides only what its wire can carry."""
    rng = demo.rng
    count = {"rich": rng.randint(4, 8), "variants": 5, "blocked": rng.randint(2, 5),
             "heavy": 1100 if demo.logical_address == PROVIDERS[0][4][0] else rng.randint(50, 90),  # ×4.6 results
             "not_in_tgp": 2}.get(demo.profile, 0)
    male = int(demo.patient.id[10]) % 2 == 1
    lab = {"id": demo.logical_address.split("-")[0] + "-LAB1",
           "name": LABS.get(demo.care_provider_name, f"Klinisk kemi, {demo.care_provider_name}")}
    out = []
    for i in range(count):
        key = f"lab-{i}"
        unit = demo.units[i % len(demo.units)] if demo.profile == "blocked" else None
        when = demo.when(365 * i + 364, 365 * i + 1) if demo.profile == "blocked" else demo.when(min_days_back=1)
        sampled = format_timestamp(when)
        registered = format_timestamp(when + dt.timedelta(minutes=rng.randint(35, 240)))
        reason, ordered = rng.choice(ORDERS)
        analyses = []
        for item in ordered:
            for k in GROUPS.get(item, (item,)):
                a = _demo_analysis(rng, k, key, len(analyses) + 1, male, sampled, registered)
                analyses.append({**a, "group": item if item in GROUPS else None})
        doctor_hsa, doctor, _ = demo.clinician()
        detail = {"status": "final", "registered": registered, "report": rng.choice(REPORTS),
                  "order": {"id": f"RID{rng.randint(1000000, 9999999)}", "reason": reason},
                  "lab": dict(lab), "analyses": analyses}
        signed, variant = True, i if demo.profile == "variants" else None
        if variant == 1:  # every optional part absent: no referral, no lab, free-text analysis only
            detail.update(report=None, order=None, lab=None, analyses=[_analysis(
                id=f"{key}-1", name="S-Digoxin", sampled=sampled, value="1.4", unit="nmol/L",
                abnormal=True, reference="Terapeutiskt intervall 0,6–1,2 nmol/L") | {"group": None}])
        elif variant == 2:  # preliminary: one analysis still running, not yet signed
            analyses[-1] = _analysis(id=analyses[-1]["id"], code=analyses[-1]["code"], code_system=NPU,
                                     name=analyses[-1]["name"], sampled=sampled, specimen=analyses[-1]["specimen"],
                                     comment="Analys pågår, svar kommer.") | {"group": analyses[-1]["group"]}
            detail["status"], signed = "preliminary", False
        elif variant == 3:  # a text result with a text reference
            analyses.append(_analysis(id=f"{key}-{len(analyses) + 1}", code="NPU21578", code_system=NPU,
                                      name="U-Nitrit", sampled=sampled, analysed=registered, specimen="Urin",
                                      value="Positiv", reference="Negativ", abnormal=True) | {"group": None})
        elif demo.profile == "heavy" and i < 3:  # Linda's special variants
            if i == 0:  # the full catalogue in one order
                detail["analyses"] = [_demo_analysis(rng, k, key, n, male, sampled, registered) | {"group": None}
                                      for n, k in enumerate(ANALYSES, 1)]
            else:  # producer text that looks like markup is still text
                detail["report"] = ("<b>Obs!</b> Prov taget ovanför infart & kan vara utspätt. "
                                    "Ring lab 08-123 45 67 vid frågor <script>alert(1)</script>") * i
        if contract.major == 3:
            for a in detail["analyses"]:
                a.pop("group")
        else:
            detail.pop("lab")
        record = demo.record(contract=contract.id, information_type=contract.categorization, key=key,
                             title=_title(detail["analyses"]), time=when, detail=detail, unit=unit,
                             without_owner=variant == 4, signed=signed)
        doctor_sig = {"time": registered, "hsa_id": doctor_hsa, "name": doctor} if signed else None
        record.detail["header"].update(document_time=registered, author_time=registered, document_title=None,
                                       signature=doctor_sig)  # the 3.1 TKB forbids a documentTitle
        out.append(record)
    return out


# -- the view -----------------------------------------------------------------------------


def _sv(text: str) -> str:
    """Decimal comma for numbers shown to Swedish readers; other text as it came."""
    return text.replace(".", ",") if _NUMBER.fullmatch(text) else text


def _result(a: dict) -> str:
    if a.get("value") is None:
        return "Svar väntas"
    shown = _sv(a["value"]) + (f" {a['unit']}" if a.get("unit") else "")
    return shown + {"above": " ↑", "below": " ↓", "abnormal": " *"}.get(_deviation(a), "")


def _analysis_line(a: dict) -> str:
    reference = _reference_text({**a, "low": a.get("low") and _sv(a["low"]), "high": a.get("high") and _sv(a["high"])})
    parts = [_result(a), f"ref. {reference}" if reference else "", a.get("population") or "", a.get("comment") or ""]
    return " – ".join(p for p in parts if p)


def _details(r: Record) -> list[tuple[str, str]]:
    d, signature = r.detail, (r.detail.get("header") or {}).get("signature")
    rows = [(a.get("name") or a.get("code") or "Analys", _analysis_line(a)) for a in d.get("analyses") or []]
    rows += [("Remiss", (d.get("order") or {}).get("id")), ("Frågeställning", (d.get("order") or {}).get("reason")),
             ("Utlåtande", d.get("report")), ("Laboratorium", (d.get("lab") or {}).get("name")),
             ("Beställare", r.author), ("Signerat av", signature and signature.get("name"))]
    return [(label, value) for label, value in rows if value]


def _status(r: Record) -> str:
    status = r.detail.get("status")
    return "Makulerat" if r.nullified else STATUS_TEXT.get(status, status or "–")


def _abnormal(r: Record) -> str:
    analyses = r.detail.get("analyses") or []
    return f"{sum(bool(a.get('abnormal')) for a in analyses)} av {len(analyses)}"


@hookimpl
def register_contracts(register):
    register(GetLaboratoryOrderOutcome3())
    register(GetLaboratoryOrderOutcome4())


@hookimpl
def register_views(register):
    register(InformationView(
        slug="labb", title="Klinisk kemi och laboratorium", categorizations=("und-kkm-ure",), order=40,
        columns=(("Provtagning", lambda r: r.time.strftime("%Y-%m-%d %H:%M") if r.time else "–"),
                 ("Analyser", lambda r: "; ".join(f"{a.get('name') or a.get('code')} {_result(a)}"
                                                  for a in r.detail.get("analyses") or []) or r.title),
                 ("Status", _status),
                 ("Avvikande", _abnormal),
                 ("Vårdenhet", lambda r: r.care_unit_name or r.care_unit_id or "Okänd"),
                 ("Vårdgivare", lambda r: r.care_provider_name or r.care_provider_id or "Okänd")),
        details=_details,
        help="Laboratoriesvar inom klinisk kemi, NPU-kodade. ↑ och ↓ markerar värden över eller under "
             "referensintervallet, * andra avvikande resultat.",
    ))
