"""GetCarePlans 2.0 (clinicalprocess:logistics:logistics): vårdplaner, e.g. SIP and rehabiliteringsplaner.

The responder schema is GetCarePlansResponder_2.0.xsd in the official RIV-TA bundle; its
types come from the logistics core schema version 3 (`urn:riv:clinicalprocess:logistics:logistics:3`).

Request:  careUnitHSAId*, patientId{id, type}, datePeriod{start, end}?, sourceSystemHSAId?,
          careContactId*
Response: carePlan{carePlanHeader, carePlanBody}*, result{resultCode, errorCode?, logId, ...}
Body:     content{id?, mediaType, value? (base64), reference?}*,
          participatingCareUnitHSAId{root, extension?}*, typeOfCarePlanEnum?
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt

from lxml import etree

from npo_core import Answer, Contract, Query, Record
from npo_core.contract import format_timestamp, parse_timestamp
from npo_core.identity import HSA_ID_OID, PatientId

CORE = "urn:riv:clinicalprocess:logistics:logistics:3"
NO_LOG_ID = "00000000-0000-0000-0000-000000000000"

# typeOfCarePlanEnum, with the names the enumeration's documentation gives them.
PLAN_TYPES = {
    "SIP": "Samordnad individuell plan",
    "SPLPTLRV": "Samordnad plan enligt LPT och LRV",
    "SPU": "Samordnad plan vid utskrivning",
    "VP": "Vårdplan",
    "HP": "Habiliteringsplan",
    "RP": "Rehabiliteringsplan",
    "GP": "Genomförandeplan",
    "SVP": "Standardiserad vårdplan",
}


def c(local: str) -> str:
    """A name in the logistics core namespace."""
    return f"{{{CORE}}}{local}"


def sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def opt(parent: etree._Element, tag: str, text: str | None) -> None:
    """An optional element: written only when there is a value."""
    if text not in (None, ""):
        sub(parent, tag, text)


def text(el: etree._Element | None, tag: str) -> str | None:
    found = el.find(tag) if el is not None else None
    return found.text.strip() if found is not None and found.text is not None else None


def is_true(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("true", "1")


class GetCarePlans(Contract):
    name = "GetCarePlans"
    version = "2.0"
    service_domain = "clinicalprocess:logistics:logistics"
    categorization = "cll-cp"
    record_element = "carePlan"
    title = "Vårdplaner"
    schema = ("clinicalprocess_logistics_logistics/interactions/GetCarePlansInteraction/"
              "GetCarePlansResponder_2.0.xsd")
    wsdl = ("clinicalprocess_logistics_logistics/interactions/GetCarePlansInteraction/"
            "GetCarePlansInteraction_2.0_RIVTABP21.wsdl")

    @property
    def soap_action(self) -> str:
        """The official WSDL's SOAPAction leaves out the second "logistics"; producers expect the WSDL's."""
        return "urn:riv:clinicalprocess:logistics:GetCarePlansResponder:2:GetCarePlans"

    # -- consumer side: what npo sends and reads ---------------------------------------------
    def build_request(self, query: Query) -> etree._Element:
        req = etree.Element(self.q("GetCarePlans"), nsmap={None: self.responder_namespace, "core": CORE})
        for unit in query.care_units:
            sub(req, self.q("careUnitHSAId"), unit)
        patient = sub(req, self.q("patientId"))
        sub(patient, c("id"), query.patient.id)
        sub(patient, c("type"), query.patient.root)
        if query.period:
            period = sub(req, self.q("datePeriod"))
            sub(period, c("start"), query.period[0].strftime("%Y%m%d"))
            sub(period, c("end"), query.period[1].strftime("%Y%m%d"))
        if query.source_system:
            sub(req, self.q("sourceSystemHSAId"), query.source_system)
        return req

    def parse_response(self, payload: etree._Element) -> Answer:
        records = [self._record(plan) for plan in payload.iterfind(self.q("carePlan"))]
        result = payload.find(self.q("result"))
        return Answer(records=records, result_code=text(result, c("resultCode")) or "ERROR",
                      message=text(result, c("message")))

    def _record(self, plan: etree._Element) -> Record:
        fields, header = parse_header(plan.find(c("carePlanHeader")))
        body = plan.find(c("carePlanBody"))
        plan_type = text(body, c("typeOfCarePlanEnum"))
        detail = {
            "header": header,
            "type": plan_type,
            "content": [parse_content(el) for el in body.iterfind(c("content"))] if body is not None else [],
            "participants": [hsa_id for el in body.iterfind(c("participatingCareUnitHSAId"))
                             if (hsa_id := text(el, c("extension")))] if body is not None else [],
        }
        when = parse_timestamp(header["document_time"] or header["author_time"])
        return Record(
            id=fields["document_id"] or "",
            contract=self.id,
            information_type=self.categorization,
            time=when,
            care_provider_id=fields["care_provider_id"],
            care_unit_id=fields["care_unit_id"],
            care_unit_name=fields["care_unit_name"],
            source_system=fields["source_system"],
            title=header["document_title"] or PLAN_TYPES.get(plan_type or "", "Vårdplan"),
            author=header["author_name"],
            block_time=when,
            approved_for_patient=is_true(fields["approved_for_patient"]),
            nullified=is_true(fields["nullified"]),
            patient_id=fields["patient_id"],
            detail=detail,
        )

    # -- producer side: what the demo producers (and conformance) use -------------------------
    def parse_request(self, payload: etree._Element) -> Query:
        patient = payload.find(self.q("patientId"))
        period = payload.find(self.q("datePeriod"))
        span = None
        if period is not None:
            span = tuple(dt.datetime.strptime(text(period, c(k)), "%Y%m%d").date() for k in ("start", "end"))
        return Query(
            patient=PatientId(text(patient, c("id")) or "", text(patient, c("type")) or ""),
            period=span,
            care_units=tuple(el.text.strip() for el in payload.iterfind(self.q("careUnitHSAId")) if el.text),
            source_system=text(payload, self.q("sourceSystemHSAId")),
        )

    def render_response(self, records: list[Record], query: Query) -> etree._Element:
        resp = etree.Element(self.q("GetCarePlansResponse"), nsmap={None: self.responder_namespace, "core": CORE})
        for record in records:
            if not matches(record, query):
                continue
            plan = sub(resp, self.q("carePlan"))
            render_header(sub(plan, c("carePlanHeader")), record, query.patient)
            body = sub(plan, c("carePlanBody"))
            for item in record.detail.get("content", []):
                render_content(sub(body, c("content")), item)
            for hsa_id in record.detail.get("participants", []):
                participant = sub(body, c("participatingCareUnitHSAId"))
                sub(participant, c("root"), HSA_ID_OID)
                sub(participant, c("extension"), hsa_id)
            opt(body, c("typeOfCarePlanEnum"), record.detail.get("type"))
        result = sub(resp, self.q("result"))
        sub(result, c("resultCode"), "OK")
        sub(result, c("logId"), NO_LOG_ID)
        return resp

    def demo_records(self, demo) -> list[Record]:
        from .demo import care_plans

        return care_plans(self, demo)


def matches(record: Record, query: Query) -> bool:
    """What a producer answers: the patient's plans, filtered as the request asks."""
    day = record.time.date() if record.time else None
    return ((not query.period or day is None or query.period[0] <= day <= query.period[1])
            and (not query.care_units or record.care_unit_id in query.care_units)
            and (not query.source_system or record.source_system == query.source_system))


# -- the header: PatientSummaryHeaderType of the logistics core, in its element order -------------

ORG_KEYS = ("orgUnitHSAId", "orgUnitName", "orgUnitTelecom", "orgUnitEmail", "orgUnitAddress", "orgUnitLocation")
ROLE_KEYS = ("code", "codeSystem", "displayName")


def parse_header(h: etree._Element | None) -> tuple[dict, dict]:
    """(what the Record carries itself, the rest of the header: kept in detail["header"])."""
    prof = h.find(c("accountableHealthcareProfessional")) if h is not None else None
    role = prof.find(c("healthcareProfessionalRoleCode")) if prof is not None else None
    org = prof.find(c("healthcareProfessionalOrgUnit")) if prof is not None else None
    legal = h.find(c("legalAuthenticator")) if h is not None else None
    unit = text(prof, c("healthcareProfessionalCareUnitHSAId"))
    fields = {
        "document_id": text(h, c("documentId")),
        "source_system": text(h, c("sourceSystemHSAId")),
        "patient_id": text(h.find(c("patientId")) if h is not None else None, c("id")),
        "care_unit_id": unit,
        "care_provider_id": text(prof, c("healthcareProfessionalCareGiverHSAId")),
        # The unit's name, when the header's org unit is the accountable unit itself.
        "care_unit_name": text(org, c("orgUnitName")) if unit and text(org, c("orgUnitHSAId")) == unit else None,
        "approved_for_patient": text(h, c("approvedForPatient")),
        "nullified": text(h, c("nullified")),
    }
    header = {  # the keys npo_core.demo.DemoSource.record writes
        "document_time": text(h, c("documentTime")),
        "author_time": text(prof, c("authorTime")),
        "author_hsa_id": text(prof, c("healthcareProfessionalHSAId")),
        "author_name": text(prof, c("healthcareProfessionalName")),
        "author_role": {k: text(role, c(k)) for k in ROLE_KEYS} if role is not None else None,
        "org_unit": {k: text(org, c(k)) for k in ORG_KEYS} if org is not None else None,
        "signature": {"time": text(legal, c("signatureTime")), "hsa_id": text(legal, c("legalAuthenticatorHSAId")),
                      "name": text(legal, c("legalAuthenticatorName"))} if legal is not None else None,
        "care_contact_id": text(h, c("careContactId")),
        "nullified_reason": text(h, c("nullifiedReason")),
        "document_title": text(h, c("documentTitle")),
    }
    return fields, header


def render_header(h: etree._Element, record: Record, patient: PatientId) -> None:
    """The inverse of parse_header. Unlike the description domain's header, nullified comes before careContactId."""
    hd = record.detail.get("header", {})
    sub(h, c("documentId"), record.id)
    sub(h, c("sourceSystemHSAId"), record.source_system)
    opt(h, c("documentTitle"), hd.get("document_title"))
    opt(h, c("documentTime"), hd.get("document_time"))
    pid = sub(h, c("patientId"))
    sub(pid, c("id"), patient.id)
    sub(pid, c("type"), patient.root)
    prof = sub(h, c("accountableHealthcareProfessional"))
    sub(prof, c("authorTime"), hd.get("author_time") or format_timestamp(record.time))
    opt(prof, c("healthcareProfessionalHSAId"), hd.get("author_hsa_id"))
    opt(prof, c("healthcareProfessionalName"), hd.get("author_name"))
    if hd.get("author_role"):
        role = sub(prof, c("healthcareProfessionalRoleCode"))
        for k in ROLE_KEYS:
            opt(role, c(k), hd["author_role"].get(k))
    if hd.get("org_unit"):
        org = sub(prof, c("healthcareProfessionalOrgUnit"))
        for k in ORG_KEYS:
            opt(org, c(k), hd["org_unit"].get(k))
    opt(prof, c("healthcareProfessionalCareUnitHSAId"), record.care_unit_id)
    opt(prof, c("healthcareProfessionalCareGiverHSAId"), record.care_provider_id)
    if hd.get("signature"):
        legal = sub(h, c("legalAuthenticator"))
        sub(legal, c("signatureTime"), hd["signature"]["time"])
        opt(legal, c("legalAuthenticatorHSAId"), hd["signature"].get("hsa_id"))
        opt(legal, c("legalAuthenticatorName"), hd["signature"].get("name"))
    sub(h, c("approvedForPatient"), "true" if record.approved_for_patient else "false")
    if record.nullified:
        sub(h, c("nullified"), "true")
        opt(h, c("nullifiedReason"), hd.get("nullified_reason"))
    opt(h, c("careContactId"), hd.get("care_contact_id"))


# -- content: the plan itself, as text or as a reference to a document --------------------------


def parse_content(el: etree._Element) -> dict:
    """A MultimediaType: text media are decoded (UTF-8); anything else keeps its base64 value."""
    media_type = text(el, c("mediaType"))
    value = text(el, c("value"))
    item = {"id": text(el, c("id")), "media_type": media_type, "text": None, "value": None,
            "reference": text(el, c("reference"))}
    if value and (media_type or "").startswith("text/"):
        try:
            item["text"] = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            item["value"] = value  # not what it claims to be: keep it, never guess
    else:
        item["value"] = value
    return item


def render_content(el: etree._Element, item: dict) -> None:
    opt(el, c("id"), item.get("id"))
    sub(el, c("mediaType"), item.get("media_type") or "text/plain")
    if item.get("text") is not None:
        sub(el, c("value"), base64.b64encode(item["text"].encode("utf-8")).decode("ascii"))
    else:
        opt(el, c("value"), item.get("value"))
    opt(el, c("reference"), item.get("reference"))
