"""Shared by the "PatientSummary 2.x" contracts: the header, patient id, period and result.

Each function takes the contract's core (domain) namespace, because the same shapes
are declared again in every domain's core schema.
"""

from __future__ import annotations

import datetime as dt

from lxml import etree

from npo_core import Answer, ContractError, Query, Record
from npo_core.contract import format_date, format_timestamp, parse_timestamp
from npo_core.identity import PatientId


def sub(parent: etree._Element, tag: str, text=None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text if isinstance(text, str) else ("true" if text is True else "false" if text is False else str(text))
    return el


def opt(parent: etree._Element, tag: str, text) -> None:
    if text not in (None, ""):
        sub(parent, tag, text)


def text(el: etree._Element | None, path: str, ns: dict | None = None) -> str | None:
    if el is None:
        return None
    found = el.find(path, ns)
    if found is None or found.text is None:
        return None
    return found.text.strip()


def required(el: etree._Element, tag: str) -> etree._Element:
    """A child the schema requires: its absence makes the answer unusable, with a reason."""
    found = el.find(tag)
    if found is None:
        raise ContractError(f"En post i svaret saknar {etree.QName(tag).localname}.", code="missing_element")
    return found


def boolean(value: str | None) -> bool | None:
    return None if value is None else value.strip().lower() in ("true", "1")


# -- requests ------------------------------------------------------------------------


def patient_id(parent: etree._Element, tag: str, core_ns: str, patient: PatientId) -> None:
    el = sub(parent, tag)
    sub(el, f"{{{core_ns}}}id", patient.id)
    sub(el, f"{{{core_ns}}}type", patient.root)


def period(parent: etree._Element, tag: str, core_ns: str, value: tuple[dt.date, dt.date] | None) -> None:
    if value:
        el = sub(parent, tag)
        sub(el, f"{{{core_ns}}}start", format_date(value[0]))
        sub(el, f"{{{core_ns}}}end", format_date(value[1]))


def build_query(contract, query: Query, core_ns: str, *, unit_tag="careUnitHSAId", giver_tag=None,
                period_tag="timePeriod", source_tag="sourceSystemHSAId") -> etree._Element:
    """The family's request: care units (and care givers where the contract has them), patient, period,
    source system. Tag spellings vary per contract."""
    req = etree.Element(contract.q(contract.name), nsmap={None: contract.responder_namespace, "core": core_ns})
    for unit in query.care_units:
        sub(req, contract.q(unit_tag), unit)
    for provider in query.care_providers if giver_tag else ():
        sub(req, contract.q(giver_tag), provider)
    patient_id(req, contract.q("patientId"), core_ns, query.patient)
    period(req, contract.q(period_tag), core_ns, query.period)
    if query.source_system:
        sub(req, contract.q(source_tag), query.source_system)
    return req


def read_query(payload: etree._Element, ns: str, core_ns: str, *, unit_tag="careUnitHSAId",
               period_tag="timePeriod", source_tag="sourceSystemHSAId") -> Query:
    """The inverse of build_query, for demo producers."""
    from npo_core.identity import parse_patient_id

    pid = payload.find(f"{{{ns}}}patientId")
    patient = parse_patient_id(text(pid, f"{{{core_ns}}}id") or "")
    per = payload.find(f"{{{ns}}}{period_tag}")
    span = None
    if per is not None:  # an open end reads as the earliest or latest date
        start, end = (parse_timestamp(text(per, f"{{{core_ns}}}{k}")) for k in ("start", "end"))
        span = (start.date() if start else dt.date.min, end.date() if end else dt.date.max)
    return Query(patient=patient, period=span,
                 care_units=tuple(e.text.strip() for e in payload.findall(f"{{{ns}}}{unit_tag}") if e.text),
                 source_system=text(payload, f"{{{ns}}}{source_tag}"))


# -- the header ----------------------------------------------------------------------


def parse_header(h: etree._Element, core_ns: str, *, contract: str, information_type: str,
                 title: str | None = None) -> Record:
    """Normalise a PatientSummaryHeaderType; the full header is kept for rendering it again."""
    if h is None:
        raise ContractError("En post i svaret saknar sitt huvud (header).", code="missing_header")
    c = lambda local: f"{{{core_ns}}}{local}"  # noqa: E731
    prof = h.find(c("accountableHealthcareProfessional"))
    org = prof.find(c("healthcareProfessionalOrgUnit")) if prof is not None else None
    unit_id = text(prof, c("healthcareProfessionalCareUnitHSAId"))
    org_id = text(org, c("orgUnitHSAId"))
    role = prof.find(c("healthcareProfessionalRoleCode")) if prof is not None else None
    legal = h.find(c("legalAuthenticator"))
    header = {
        "document_time": text(h, c("documentTime")),
        "author_time": text(prof, c("authorTime")),
        "author_hsa_id": text(prof, c("healthcareProfessionalHSAId")),
        "author_name": text(prof, c("healthcareProfessionalName")),
        "author_role": {k: text(role, c(k)) for k in ("code", "codeSystem", "displayName")} if role is not None else None,
        "org_unit": {k: text(org, c(k)) for k in ("orgUnitHSAId", "orgUnitName", "orgUnitTelecom", "orgUnitEmail",
                                                    "orgUnitAddress", "orgUnitLocation")} if org is not None else None,
        "signature": {"time": text(legal, c("signatureTime")), "hsa_id": text(legal, c("legalAuthenticatorHSAId")),
                      "name": text(legal, c("legalAuthenticatorName"))} if legal is not None else None,
        "care_contact_id": text(h, c("careContactId")),
        "nullified_reason": text(h, c("nullifiedReason")),
        "document_title": text(h, c("documentTitle")),
    }
    when = parse_timestamp(header["document_time"] or header["author_time"])
    return Record(
        id=text(h, c("documentId")) or "",
        contract=contract,
        information_type=information_type,
        time=when,
        care_provider_id=text(prof, c("healthcareProfessionalCareGiverHSAId")),
        care_unit_id=unit_id,
        care_unit_name=text(org, c("orgUnitName")) if org_id and org_id == unit_id else None,
        source_system=text(h, c("sourceSystemHSAId")),
        title=title or header["document_title"] or "",
        author=header["author_name"],
        block_time=when,
        approved_for_patient=bool(boolean(text(h, c("approvedForPatient")))),
        nullified=bool(boolean(text(h, c("nullified")))),
        patient_id=text(h, f"{c('patientId')}/{c('id')}"),
        detail={"header": header},
    )


def render_header(parent: etree._Element, tag: str, core_ns: str, record: Record, patient: PatientId) -> None:
    """The inverse of parse_header, element order as the schema requires."""
    c = lambda local: f"{{{core_ns}}}{local}"  # noqa: E731
    hd = record.detail.get("header", {})
    h = sub(parent, tag)
    sub(h, c("documentId"), record.id)
    sub(h, c("sourceSystemHSAId"), record.source_system)
    opt(h, c("documentTitle"), hd.get("document_title"))
    opt(h, c("documentTime"), hd.get("document_time"))
    patient_id(h, c("patientId"), core_ns, patient)
    prof = sub(h, c("accountableHealthcareProfessional"))
    sub(prof, c("authorTime"), hd.get("author_time") or format_timestamp(record.time))
    opt(prof, c("healthcareProfessionalHSAId"), hd.get("author_hsa_id"))
    opt(prof, c("healthcareProfessionalName"), hd.get("author_name"))
    if hd.get("author_role"):
        role = sub(prof, c("healthcareProfessionalRoleCode"))
        for k in ("code", "codeSystem", "displayName"):
            opt(role, c(k), hd["author_role"].get(k))
    if hd.get("org_unit"):
        org = sub(prof, c("healthcareProfessionalOrgUnit"))
        for k in ("orgUnitHSAId", "orgUnitName", "orgUnitTelecom", "orgUnitEmail", "orgUnitAddress",
                  "orgUnitLocation"):
            opt(org, c(k), hd["org_unit"].get(k))
    opt(prof, c("healthcareProfessionalCareUnitHSAId"), record.care_unit_id)
    opt(prof, c("healthcareProfessionalCareGiverHSAId"), record.care_provider_id)
    if hd.get("signature"):
        legal = sub(h, c("legalAuthenticator"))
        sub(legal, c("signatureTime"), hd["signature"]["time"])
        opt(legal, c("legalAuthenticatorHSAId"), hd["signature"].get("hsa_id"))
        opt(legal, c("legalAuthenticatorName"), hd["signature"].get("name"))
    sub(h, c("approvedForPatient"), record.approved_for_patient)
    opt(h, c("careContactId"), hd.get("care_contact_id"))
    if record.nullified:
        sub(h, c("nullified"), True)
        opt(h, c("nullifiedReason"), hd.get("nullified_reason"))


# -- result ----------------------------------------------------------------------------


def parse_result(payload: etree._Element, ns: str, core_ns: str) -> tuple[str, str | None]:
    r = payload.find(f"{{{ns}}}result")
    if r is None:
        return "OK", None
    return (text(r, f"{{{core_ns}}}resultCode") or "ERROR"), text(r, f"{{{core_ns}}}message")


def render_result(payload: etree._Element, ns: str, core_ns: str, code: str = "OK", message: str | None = None,
                  log_id: str = "00000000-0000-0000-0000-000000000000") -> None:
    r = sub(payload, f"{{{ns}}}result")
    sub(r, f"{{{core_ns}}}resultCode", code)
    sub(r, f"{{{core_ns}}}logId", log_id)
    opt(r, f"{{{core_ns}}}message", message)


def answer(records: list[Record], payload: etree._Element, ns: str, core_ns: str) -> Answer:
    code, message = parse_result(payload, ns, core_ns)
    return Answer(records=records, result_code=code, message=message)


def in_period(record: Record, query: Query) -> bool:
    if not query.period or record.time is None:
        return True
    return query.period[0] <= record.time.date() <= query.period[1]


def matches(record: Record, query: Query) -> bool:
    """What a producer returns for a query: the patient's records, filtered as asked."""
    return (in_period(record, query)
            and (not query.care_units or record.care_unit_id in query.care_units)
            and (not query.care_providers or record.care_provider_id in query.care_providers)
            and (not query.source_system or record.source_system == query.source_system))
