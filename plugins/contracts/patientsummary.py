"""Shared by the "PatientSummary 2.x" contracts: the header, patient id, period and result.

Each function takes the contract's core (domain) namespace, because the same shapes
are declared again in every domain's core schema.
"""

from __future__ import annotations

import datetime as dt

from lxml import etree

from npo_core import Answer, ContractError, Query, Record
from npo_core.contract import Children, format_date, format_timestamp, parse_timestamp
from npo_core.identity import PatientId

ROLE_KEYS = ("code", "codeSystem", "displayName")
ORG_KEYS = ("orgUnitHSAId", "orgUnitName", "orgUnitTelecom", "orgUnitEmail", "orgUnitAddress", "orgUnitLocation")


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


def required(children: Children, tag: str) -> etree._Element:
    """A child the schema requires: its absence makes the answer unusable, with a reason."""
    found = children.first(tag)
    if found is None:
        raise ContractError(f"En post i svaret saknar {etree.QName(tag).localname}.", code="missing_element")
    return found


def boolean(value: str | None) -> bool | None:
    return None if value is None else value.strip().lower() in ("true", "1")


def texts(el: etree._Element | None, ns: str, keys) -> dict | None:
    """Each key's child (a local name in `ns`) as stripped text, None where absent; None for no element."""
    if el is None:
        return None
    children = Children(el)
    return {k: children.text(f"{{{ns}}}{k}") for k in keys}


def present(el: etree._Element | None, ns: str, keys) -> dict | None:
    """Like `texts`, but only the children present (a CVType as the parts it has)."""
    found = texts(el, ns, keys)
    return None if found is None else {k: v for k, v in found.items() if v is not None}


def unit_name(org_unit: dict | None, unit_id: str | None) -> str | None:
    """The author's org unit's name, where that org unit is the record's care unit."""
    return org_unit["orgUnitName"] if org_unit and unit_id and org_unit["orgUnitHSAId"] == unit_id else None


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
                 title: str | None = None, untitled: str = "", time: str | None = None,
                 block_time: str | None = None, nullified: bool = False,
                 source_tag: str = "sourceSystemHSAId") -> Record:
    """Normalise a PatientSummaryHeaderType; the full header is kept for rendering it again.

    The body may know better: its `title`, `time` and `block_time` (RIV-TA time stamps) stand where
    given, else the header's (a record with no title at all is `untitled`); `nullified` adds to the
    header's. `source_tag` is the header's spelling of sourceSystemHSAId."""
    if h is None:
        raise ContractError("En post i svaret saknar sitt huvud (header).", code="missing_header")
    c = lambda local: f"{{{core_ns}}}{local}"  # noqa: E731
    head = Children(h)
    prof = head.under(c("accountableHealthcareProfessional"))
    org, role = prof.first(c("healthcareProfessionalOrgUnit")), prof.first(c("healthcareProfessionalRoleCode"))
    legal = head.first(c("legalAuthenticator"))
    org_unit = texts(org, core_ns, ORG_KEYS)
    signed = Children(legal)
    header = {
        "document_time": head.text(c("documentTime")),
        "author_time": prof.text(c("authorTime")),
        "author_hsa_id": prof.text(c("healthcareProfessionalHSAId")),
        "author_name": prof.text(c("healthcareProfessionalName")),
        "author_role": texts(role, core_ns, ROLE_KEYS),
        "org_unit": org_unit,
        "signature": {"time": signed.text(c("signatureTime")), "hsa_id": signed.text(c("legalAuthenticatorHSAId")),
                      "name": signed.text(c("legalAuthenticatorName"))} if legal is not None else None,
        "care_contact_id": head.text(c("careContactId")),
        "nullified_reason": head.text(c("nullifiedReason")),
        "document_title": head.text(c("documentTitle")),
    }
    when = parse_timestamp(header["document_time"] or header["author_time"])
    unit_id = prof.text(c("healthcareProfessionalCareUnitHSAId"))
    return Record(
        id=head.text(c("documentId")) or "",
        contract=contract,
        information_type=information_type,
        time=parse_timestamp(time) or when,
        care_provider_id=prof.text(c("healthcareProfessionalCareGiverHSAId")),
        care_unit_id=unit_id,
        care_unit_name=unit_name(org_unit, unit_id),
        source_system=head.text(c(source_tag)),
        title=title or header["document_title"] or untitled,
        author=header["author_name"],
        block_time=parse_timestamp(block_time) or when,
        approved_for_patient=bool(boolean(head.text(c("approvedForPatient")))),
        nullified=bool(boolean(head.text(c("nullified")))) or nullified,
        # a path, not head.under(): the first patientId with an id, so another patient's record is never shown
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
