"""GetLaboratoryOrderOutcome 3.1 and 4.2 (clinicalprocess:healthcond:actoutcome): laboratory answers.

Major 3 carries the PatientSummary header and text outcomes. Major 4 carries the JoL header (IIType ids,
no `result`) and typed values (PQ, interval, CV, text) in analysis groups, and reads answers by 4.0 too
(4.2 keeps every element of 4.0). The record id is the same through either major: the core shows it once.
"""

from __future__ import annotations

import re

from lxml import etree

from npo_core import InformationView, Record, hookimpl, riv
from npo_core.riv import CV, II, ORG_UNIT, PERIOD, codes, views

NS = "urn:riv:clinicalprocess:healthcond:actoutcome:"
FOLDER = "clinicalprocess_healthcond_actoutcome/interactions/GetLaboratoryOrderOutcomeInteraction/"
A31, E41, E42 = (f"{{{NS}{minor}}}" for minor in ("3.1", "4.1", "4.2"))
S, TS = "str", "ts"

# major 3: the PatientSummary body, the outcome as text
PROFESSIONAL = (("authorTime", "author_time", TS), ("healthcareProfessionalHSAId", "hsa_id", S),
                ("healthcareProfessionalName", "name", S), ("healthcareProfessionalRoleCode", "role", CV),
                ("healthcareProfessionalOrgUnit", "org_unit", ORG_UNIT),
                ("healthcareProfessionalCareUnitHSAId", "care_unit_id", S),
                ("healthcareProfessionalCareGiverHSAId", "care_giver_id", S))
OUTCOME3 = (("outcomeValue", "value", S), ("outcomeUnit", "unit", S), ("observationTime", "time", TS),
            ("pathologicalFlag", "pathological", "bool"), ("outcomeDescription", "description", S),
            ("referenceInterval", "reference_interval", S), ("referencePopulation", "population", S))
ANALYSIS3 = (("analysisId", "id", II), ("analysisTime", "time", PERIOD), ("analysisCode", "code", CV),
             ("analysisText", "text", S), ("analysisStatus", "status", S), ("analysisComment", "comment", S),
             ("specimen", "specimen", S), ("method", "method", S),
             ("relationToAnalysis", "related", [(("analysisId", "id", II),)]), ("analysisOutcome", "outcome", OUTCOME3),
             (A31 + "attested", "attested", ((A31 + "attestedTime", "time", TS), (A31 + "attesterHSAId", "hsa_id", S),
                                             (A31 + "attesterName", "name", S))))

# major 4: the JoL header and typed results; decimals kept as written (4.2 allows "3,5", and "2.60" is precise).
# An IIType's extension and a quantity's unit are required: written empty where not known (TKB rule 3.3).
II4, R = (("root", "root", S), ("extension", "extension", riv.REQUIRED)), riv.REQUIRED
ORG = (("id", "id", II4), ("name", "name", S))
SIGNED = (("id", "id", II4), ("name", "name", S), ("timestamp", "time", TS), ("byRole", "role", CV))
HEADER = riv.jol.header_spec((
    ("accountableCareGiver", "care_giver", II4), ("accountableCareUnit", "care_unit", II4),
    ("originalPatientId", "original_patient_id", II4), ("careProcessId", "care_process_id", S),
    ("lockTime", "lock_time", TS), ("blockComparisonTime", "block_comparison_time", TS),
    ("approvedForPatient", "approved_for_patient", "bool"), (E41 + "patientId", "patient_id", II4)),
    author=((E41 + "orgUnit", "org_unit", ORG),), signature=((E41 + "orgUnit", "org_unit", ORG),), ii=II4)
INTERVAL = (("low", "low", S), ("lowClosed", "lowClosed", "bool"), ("high", "high", S),
            ("highClosed", "highClosed", "bool"), ("unit", "unit", R))
VALUE = (("cv", "cv", CV), ("pq", "pq", (("value", "value", S), ("unit", "unit", R))),
         ("intervalPQ", "intervalPQ", INTERVAL), ("st", "st", S))
SPECIMEN = (("identifier", "id", II4), ("material", "material", CV), ("timestamp", "time", TS),
            ("anatomicalLocation", "location", CV), ("comment", "comment", S),
            ("activity", "activities", [(("code", "code", CV), ("time", "time", PERIOD), ("method", "method", CV))]),
            ("container", "containers", [(("identifier", "ids", [II4]), ("type", "type", CV))]))
REFERENCE = (("interval", "interval", INTERVAL), ("description", "description", S), ("population", "population", S),
             ("comment", "comment", S))
REFERRAL = (("identifier", "id", II4), ("timestamp", "time", TS), ("version", "version", "int"),
            ("question", "question", S), ("requestedCareService", "requested_services", [CV]),
            ("requester", "requester", (("id", "id", II4), ("name", "name", S), ("byRole", "role", CV),
                                        ("orgUnit", "org_unit", ORG))),
            (E42 + "referralInformation", "information", ((E42 + "referralComment", "comment", S),
                                                          (E42 + "referralMedicalInformation", "medical", S))))


def _analysis4(depth: int = 6) -> tuple:
    """AnalysisType: a result's related analyses are AnalysisType again, mapped `depth` levels deep."""
    result = (("type", "type", CV), ("value", "value", VALUE), ("comment", "comment", S),
              ("interpretation", "interpretations", [CV]), ("reference", "reference", REFERENCE),
              ("recipientSignature", "recipient_signature", SIGNED),
              ("performerSignature", "performer_signature", SIGNED))
    return (("identifier", "id", II4), ("timestamp", "time", TS), ("code", "code", CV), ("method", "method", CV),
            ("status", "status", CV), ("comment", "comment", S), ("accredited", "accredited", "bool"),
            ("specimen", "specimens", [SPECIMEN]), ("device", "devices", [(("identifier", "id", II4),)]),
            ("result", "results", [result + ((("related", "related", [_analysis4(depth - 1)]),) if depth else ())]))


class _LaboratoryOrderOutcome(riv.PatientSummaryContract):
    name = "GetLaboratoryOrderOutcome"
    service_domain = "clinicalprocess:healthcond:actoutcome"
    categorization = "und-kkm-ure"
    title = "Klinisk kemi och laboratorium"
    record_element = "laboratoryOrderOutcome"
    untitled = "Laboratoriesvar"
    analyses: str  # the analyses' element path in the body
    named: tuple  # the spec of what an analysis is named by

    def title_of(self, peek: riv.Peek) -> str:
        """The first three analyses' names, and how many there are."""
        found = peek.body.iterfind(self.analyses) if peek.body is not None else ()
        names = [self.name_of(riv.parse(a, self.core_namespace, self.named)) for a in found]
        return ", ".join(names[:3]) + (f" m.fl. ({len(names)} analyser)" if len(names) > 3 else "")


class GetLaboratoryOrderOutcome3(_LaboratoryOrderOutcome):
    version = "3.1"
    header_element, body_element = "laboratoryOrderOutcomeHeader", "laboratoryOrderOutcomeBody"
    body = (("resultType", "result_type", S), ("registrationTime", "registered", TS), ("discipline", "discipline", S),
            ("resultReport", "report", S), ("resultComment", "comment", S),
            ("accountableHealthcareProfessional", "lab", PROFESSIONAL), ("analysis", "analyses", [ANALYSIS3]),
            ("order", "order", (("orderId", "id", R), ("orderReason", "reason", S))))
    time_from = block_time_from = ("analyses.time.start", "analyses.time.end")  # dated by its sample
    analyses, named = f"{{{NS}3}}analysis", (("analysisCode", "code", CV), ("analysisText", "text", S))

    @staticmethod
    def name_of(a: dict) -> str:
        cv = a.get("code") or {}
        return cv.get("displayName") or cv.get("originalText") or a.get("text") or cv.get("code") or "Analys"

    def render_body(self, body: etree._Element, record: Record) -> None:  # an order is required, and so its id
        riv.render(body, self.core_namespace, self.body, {"order": {}, **record.detail})


class GetLaboratoryOrderOutcome4(_LaboratoryOrderOutcome, riv.JolContract):
    """The JoL header; dated by its (first) sample, else its block comparison time. Ids are extensions only."""

    version = "4.2"
    minor_schemas = (FOLDER + "GetLaboratoryOrderOutcomeResponder_4.0.xsd",)
    header, has_result, root_identifies = HEADER, False, False
    body = (("identifier", "id", II4), ("laboratoryIdentifier", "laboratory_id", II4), ("type", "type", CV),
            ("text", "text", S), ("referral", "referral", REFERRAL),
            ("groupOfAnalyses", "groups", [(("name", "name", S), ("comment", "comment", S), ("code", "code", CV),
                                            ("analysis", "analyses", [_analysis4()]))]),
            ("recipientUnit", "recipient_unit", ORG), ("recipientSignature", "recipient_signature", SIGNED),
            ("contactInformation", "contact", (("text", "text", S),)))
    deciding = {**riv.JolContract.deciding, "care_provider_id": ("access.care_giver",),
                "time": ("body.groups.analyses.specimens.time", "access.block_comparison_time", "record.time"),
                "block_time": ("access.block_comparison_time", "record.time"),
                "unit_id": ("body.recipient_unit.id",), "unit_name": ("body.recipient_unit.name",)}
    analyses, named = f"{{{NS}4}}groupOfAnalyses/{{{NS}4}}analysis", (("code", "code", CV),)

    @staticmethod
    def name_of(a: dict) -> str:
        return codes.term(a.get("code"), "Analys")


def _id(data: dict | None, *keys: str) -> str | None:
    """The extension of the IIType at `keys` in parsed data."""
    for key in keys:
        data = (data or {}).get(key)
    return (data or {}).get("extension")


# -- the view: either major's analyses as items (name, code, result, flag, reference, notes) --------------

NUMBER = re.compile(r"-?(0|[1-9][0-9]*)((\.|,)[0-9]+)?([eE][+-]?[0-9]+)?")
_N = r"-?\d+(?:[.,]\d+)?"
REFERENCE_TEXT = re.compile(rf"\s*(?:({_N})\s*[–-]\s*({_N})|<\s*({_N})|>\s*({_N}))\s*")
STATUS = {"DEF": "Slutsvar", "PREL": "Preliminärsvar", "TILL": "Tilläggssvar", "final": "Slutsvar",
          "preliminary": "Preliminärsvar", "partial": "Delsvar"}
FLAGS = {"281302008": " ↑", "281300000": " ↓", "281301001": ""}  # SNOMED CT: above, below, within; else " *"


def _sv(text: str | None) -> str | None:
    """Decimal comma for numbers shown to Swedish readers; other text as it came."""
    return text.replace(".", ",") if text and NUMBER.fullmatch(text) else text


def _range(low, high, unit=None, low_closed=None, high_closed=None) -> str | None:
    low, high = _sv(low), _sv(high)
    shown = (f"{low}–{high}" if low and high else f"{'≤' if high_closed else '<'}{high}" if high
             else f"{'≥' if low_closed else '>'}{low}" if low else "")
    return " ".join(filter(None, (shown, unit))) or None


def _interval(iv: dict | None) -> str | None:
    return iv and _range(iv.get("low"), iv.get("high"), iv.get("unit"), iv.get("lowClosed"), iv.get("highClosed"))


def split_reference(text: str | None) -> tuple[str | None, str | None, str | None]:
    """A 3.x reference interval as (low, high, text): '117–153', '<5' and '>60' are numbers, the rest text."""
    m = REFERENCE_TEXT.fullmatch(text or "")
    if not m:
        return None, None, text
    low, high, below, above = (g.replace(",", ".") if g else None for g in m.groups())
    return low or above, high or below, None


def _flag3(outcome: dict, low: str | None, high: str | None) -> str:
    if not outcome.get("pathological"):
        return ""
    try:
        value = float(outcome["value"].replace(",", "."))
        return " ↑" if high and value > float(high) else " ↓" if low and value < float(low) else " *"
    except (KeyError, AttributeError, ValueError):
        return " *"


def _items3(d) -> list[tuple]:
    out = []
    for a in d.get("analyses") or []:
        o = a.get("outcome") or {}
        low, high, text = split_reference(o.get("reference_interval"))
        result = o.get("value") and " ".join(filter(None, (_sv(o["value"]), o.get("unit"))))
        out.append((GetLaboratoryOrderOutcome3.name_of(a), a.get("code"), result, _flag3(o, low, high),
                    _range(low, high) or text, (o.get("population"), o.get("description"), a.get("specimen"),
                                                a.get("method"), a.get("comment"))))
    return out


def _value4(v: dict) -> str | None:
    if pq := v.get("pq"):
        return " ".join(filter(None, (_sv(pq.get("value")), pq.get("unit"))))
    return _interval(v.get("intervalPQ")) or (codes.term(v["cv"]) if v.get("cv") else v.get("st"))


def _items4(d) -> list[tuple]:
    out = []
    for a in (a for g in d.get("groups") or [] for a in g.get("analyses") or []):
        specimens = a.get("specimens") or []
        for r in a.get("results") or [{}]:
            ref = r.get("reference") or {}
            flags = (FLAGS.get(i.get("code"), " *") for i in r.get("interpretations") or [])
            notes = (ref.get("population"), ref.get("comment"), r.get("comment"), a.get("comment"),
                     *(codes.term(s.get("material"), "") for s in specimens),
                     *(f"prov-id {_id(s, 'id')}" for s in specimens if _id(s, "id")))
            out.append((GetLaboratoryOrderOutcome4.name_of(a), a.get("code"), _value4(r.get("value") or {}),
                        next((f for f in flags if f), ""), _interval(ref.get("interval")) or ref.get("description"),
                        notes))
    return out


def _items(r: Record) -> list[tuple]:
    return _items4(r.detail) if r.contract.endswith(":4") else _items3(r.detail)


def _coded(cv: dict | None) -> str | None:
    return (cv or {}).get("code") and codes.coded(cv)  # "NPU03230 (NPU)", the code system the record names


def _result(item: tuple) -> str:
    return f"{item[2]}{item[3]}" if item[2] else "Svar väntas"


def _line(item: tuple) -> str:
    reference, notes = item[4], item[5]
    return " – ".join(filter(None, (_result(item), reference and f"ref. {reference}", *notes, _coded(item[1]))))


def _facts(r: Record) -> list[tuple[str, str | None]]:
    d, h = r.detail, r.detail.get("header") or {}
    signed = ("Signerat av", (h.get("signature") or {}).get("name"))
    if not r.contract.endswith(":4"):
        order, lab = d.get("order") or {}, (d.get("lab") or {}).get("org_unit") or {}
        return [("Remiss", order.get("id")), ("Frågeställning", order.get("reason")), ("Utlåtande", d.get("report")),
                ("Kommentar", d.get("comment")), ("Laboratorium", lab.get("orgUnitName")), signed]
    referral = d.get("referral") or {}
    groups = (" ".join(filter(None, (g.get("name"), _coded(g.get("code"))))) for g in d.get("groups") or [])
    return [("Remiss", _id(referral, "id")), ("Frågeställning", referral.get("question")),
            ("Analysgrupper", ", ".join(filter(None, groups))), ("Utlåtande", d.get("text")),
            ("Laboratorium", _id(d, "laboratory_id")), ("Svarsmottagare", (d.get("recipient_unit") or {}).get("name")),
            ("Vårdprocess", (h.get("access") or {}).get("care_process_id")),
            ("Kontakt", (d.get("contact") or {}).get("text")), signed]


def _details(r: Record) -> list[tuple[str, str]]:
    rows = [(item[0], _line(item)) for item in _items(r)] + _facts(r) + [("Beställare", r.author)]
    return [(label, value) for label, value in rows if value]


def _status(r: Record) -> str:
    d = r.detail
    code = d.get("result_type") or (d.get("type") or {}).get("code")
    return "Makulerat" if r.nullified else STATUS.get(code) or codes.term(d.get("type"), code or "–")


def _abnormal(r: Record) -> str:
    items = _items(r)
    return f"{sum(bool(i[3]) for i in items)} av {len(items)}"


@hookimpl
def register_contracts(register):
    register(GetLaboratoryOrderOutcome3())
    register(GetLaboratoryOrderOutcome4())


@hookimpl
def register_views(register):
    register(InformationView(
        slug="labb", title="Klinisk kemi och laboratorium", categorizations=("und-kkm-ure",), order=40,
        columns=(("Provtagning", views.date_time),
                 ("Analyser", lambda r: "; ".join(f"{i[0]} {_result(i)}" for i in _items(r)) or r.title),
                 ("Status", _status), ("Avvikande", _abnormal), *views.OWNER),
        details=_details,
        help="Laboratoriesvar inom klinisk kemi från laboratoriernas system, med den analyskod (oftast NPU) "
             "laboratoriet angett. ↑ och ↓ markerar värden över eller under referensintervallet, * andra avvikande "
             "resultat. Preliminärsvar kan ändras; svar inom mikrobiologi och patologi ingår inte här.",
    ))
