"""The PatientSummary family's shared shapes: header, patient id, period, request and result.

Each function takes the contract's core (domain) namespace, because the same shapes are declared
again in every domain's core schema.

The header is read in two steps. `read_header` takes only what the PDL decision needs (owner,
patient, time, nullified, approved-for-patient) in one pass over the header's children: it runs
for every record of every answer, and is the hot path of a heavy patient. `header_detail` reads
the whole header, for the pages and the JSON that ask for it.
"""

from __future__ import annotations

import datetime as dt

from lxml import etree

from ..contract import Answer, Query, Record, format_date, format_timestamp, parse_timestamp
from ..errors import ContractError
from ..identity import PatientId, parse_patient_id
from .spec import CV as ROLE
from .spec import ORG_UNIT, parse, render, sub

SIGNATURE = (("signatureTime", "time", "str"), ("legalAuthenticatorHSAId", "hsa_id", "str"),
             ("legalAuthenticatorName", "name", "str"), ("legalAuthenticatorRoleCode", "role", ROLE))
# PatientSummaryHeaderType element by element: what npo reads of a header (the coverage check's map)
HEADER = (("documentId", "", "str"), ("sourceSystemHSAId", "", "str"), ("documentTitle", "", "str"),
          ("documentTime", "", "str"), ("patientId", "", (("id", "", "str"), ("type", "", "str"))),
          ("accountableHealthcareProfessional", "", (
              ("authorTime", "", "str"), ("healthcareProfessionalHSAId", "", "str"),
              ("healthcareProfessionalName", "", "str"), ("healthcareProfessionalRoleCode", "", ROLE),
              ("healthcareProfessionalOrgUnit", "", ORG_UNIT), ("healthcareProfessionalCareUnitHSAId", "", "str"),
              ("healthcareProfessionalCareGiverHSAId", "", "str"))),
          ("legalAuthenticator", "", SIGNATURE), ("approvedForPatient", "", "str"), ("careContactId", "", "str"),
          ("nullified", "", "str"), ("nullifiedReason", "", "str"))


def text(el: etree._Element | None) -> str | None:
    """An element's stripped text; None when absent or empty-tagged."""
    return None if el is None or el.text is None else el.text.strip()


def boolean(value: str | None) -> bool | None:
    return None if value is None else value.strip().lower() in ("true", "1")


class HeaderReader:
    """The decision fields of a PatientSummaryHeaderType in one core namespace, read in one pass."""

    TOP = ("documentId", "documentTitle", "documentTime", "approvedForPatient", "nullified")
    PROFESSIONAL = ("authorTime", "healthcareProfessionalName", "healthcareProfessionalCareUnitHSAId",
                    "healthcareProfessionalCareGiverHSAId")

    def __init__(self, core_ns: str, source_tag: str = "sourceSystemHSAId"):
        c = lambda local: f"{{{core_ns}}}{local}"  # noqa: E731
        self.top = {c(k): k for k in self.TOP} | {c(source_tag): "source"}
        self.professional = {c(k): k for k in self.PROFESSIONAL}
        self.patient, self.author = c("patientId"), c("accountableHealthcareProfessional")
        self.patient_id = c("id")
        self.org_unit, self.org_id, self.org_name = (c("healthcareProfessionalOrgUnit"), c("orgUnitHSAId"),
                                                     c("orgUnitName"))

    def __call__(self, h: etree._Element | None) -> dict:
        """{field: text} for the fields present; the first of each, as a path lookup would find."""
        if h is None:
            raise ContractError("En post i svaret saknar sitt huvud (header).", code="missing_header")
        out: dict = {}
        top, professional = self.top, self.professional
        for e in h:
            tag = e.tag
            key = top.get(tag)
            if key is not None:
                if key not in out:
                    out[key] = text(e)
            elif tag == self.patient:
                if "patient_id" not in out:  # the first patientId with an id: another patient's is never shown
                    for x in e:
                        if x.tag == self.patient_id and x.text is not None:
                            out["patient_id"] = x.text.strip()
                            break
            elif tag == self.author and "author" not in out:
                out["author"] = True
                for x in e:
                    key = professional.get(x.tag)
                    if key is not None:
                        if key not in out:
                            out[key] = text(x)
                    elif x.tag == self.org_unit and "org_unit" not in out:
                        out["org_unit"] = True
                        for y in x:  # the first id and name of the first org unit
                            if y.tag == self.org_id:
                                out.setdefault("org_id", text(y))
                            elif y.tag == self.org_name:
                                out.setdefault("org_name", text(y))
        return out

    def unit_name(self, found: dict) -> str | None:
        """The author's org unit's name, where that org unit is the record's care unit."""
        unit = found.get("healthcareProfessionalCareUnitHSAId")
        return found.get("org_name") if unit and found.get("org_id") == unit else None


def record(found: dict, reader: HeaderReader, *, contract: str, information_type: str, title: str | None,
           untitled: str, time: str | None, block_time: str | None, nullified: bool, detail) -> Record:
    """A Record from the header's decision fields; the body may know the title, time and block time better
    (RIV-TA time stamps), and may nullify a record the header does not."""
    when = parse_timestamp(found.get("documentTime") or found.get("authorTime"))
    return Record(
        id=found.get("documentId") or "",
        contract=contract,
        information_type=information_type,
        time=parse_timestamp(time) or when,
        care_provider_id=found.get("healthcareProfessionalCareGiverHSAId"),
        care_unit_id=found.get("healthcareProfessionalCareUnitHSAId"),
        care_unit_name=reader.unit_name(found),
        source_system=found.get("source"),
        title=title or found.get("documentTitle") or untitled,
        author=found.get("healthcareProfessionalName"),
        block_time=parse_timestamp(block_time) or when,
        approved_for_patient=bool(boolean(found.get("approvedForPatient"))),
        nullified=bool(boolean(found.get("nullified"))) or nullified,
        patient_id=found.get("patient_id"),
        detail=detail,
    )


def header_detail(h: etree._Element, core_ns: str) -> dict:
    """The whole header as the record's detail["header"], for pages and for rendering it again."""
    c = lambda local: f"{{{core_ns}}}{local}"  # noqa: E731
    firsts: dict = {}
    for e in h:
        firsts.setdefault(e.tag, e)
    prof_el = firsts.get(c("accountableHealthcareProfessional"))
    prof: dict = {}
    for e in (prof_el if prof_el is not None else ()):
        prof.setdefault(e.tag, e)
    legal = firsts.get(c("legalAuthenticator"))
    return {
        "document_time": text(firsts.get(c("documentTime"))),
        "author_time": text(prof.get(c("authorTime"))),
        "author_hsa_id": text(prof.get(c("healthcareProfessionalHSAId"))),
        "author_name": text(prof.get(c("healthcareProfessionalName"))),
        "author_role": _or_none(prof.get(c("healthcareProfessionalRoleCode")), core_ns, ROLE),
        "org_unit": _every(prof.get(c("healthcareProfessionalOrgUnit")), core_ns, ORG_UNIT),
        "signature": None if legal is None else _signature(parse(legal, core_ns, SIGNATURE)),
        "care_contact_id": text(firsts.get(c("careContactId"))),
        "nullified_reason": text(firsts.get(c("nullifiedReason"))),
        "document_title": text(firsts.get(c("documentTitle"))),
    }


def _signature(found: dict) -> dict:
    """Time, id and name always (None where absent); the role only where a domain's header has one."""
    return {"time": found.get("time"), "hsa_id": found.get("hsa_id"), "name": found.get("name"),
            **({"role": found["role"]} if "role" in found else {})}


def _or_none(el, ns, spec) -> dict | None:
    return None if el is None else parse(el, ns, spec)


def _every(el, ns, spec) -> dict | None:
    """Every key of the spec, None where absent (the header's org unit, as pages read it)."""
    found = _or_none(el, ns, spec)
    return None if found is None else {key: found.get(key) for _e, key, _k in spec}


def render_header(parent: etree._Element, tag: str, core_ns: str, rec: Record, patient: PatientId, *,
                  source_tag: str = "sourceSystemHSAId", nullified: bool = True) -> None:
    """The inverse of reading it, element order as the schema requires. `nullified=False` for contracts
    whose header may not carry it (they say it in the body)."""
    c = lambda local: f"{{{core_ns}}}{local}"  # noqa: E731
    hd = rec.detail.get("header") or {}
    h = sub(parent, tag)
    sub(h, c("documentId"), rec.id)
    sub(h, c(source_tag), rec.source_system)
    _opt(h, c("documentTitle"), hd.get("document_title"))
    _opt(h, c("documentTime"), hd.get("document_time"))
    patient_id(h, c("patientId"), core_ns, patient)
    prof = sub(h, c("accountableHealthcareProfessional"))
    sub(prof, c("authorTime"), hd.get("author_time") or format_timestamp(rec.time))
    _opt(prof, c("healthcareProfessionalHSAId"), hd.get("author_hsa_id"))
    _opt(prof, c("healthcareProfessionalName"), hd.get("author_name"))
    if hd.get("author_role"):
        render(sub(prof, c("healthcareProfessionalRoleCode")), core_ns, ROLE, hd["author_role"])
    if hd.get("org_unit"):
        render(sub(prof, c("healthcareProfessionalOrgUnit")), core_ns, ORG_UNIT, hd["org_unit"])
    _opt(prof, c("healthcareProfessionalCareUnitHSAId"), rec.care_unit_id)
    _opt(prof, c("healthcareProfessionalCareGiverHSAId"), rec.care_provider_id)
    if hd.get("signature"):
        render(sub(h, c("legalAuthenticator")), core_ns, SIGNATURE, hd["signature"])
    sub(h, c("approvedForPatient"), rec.approved_for_patient)
    _opt(h, c("careContactId"), hd.get("care_contact_id"))
    if rec.nullified and nullified:
        sub(h, c("nullified"), True)
        _opt(h, c("nullifiedReason"), hd.get("nullified_reason"))


def _opt(parent: etree._Element, tag: str, value) -> None:
    if value not in (None, ""):
        sub(parent, tag, value)


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


def read_query(payload: etree._Element, ns: str, core_ns: str, *, unit_tag="careUnitHSAId", giver_tag=None,
               period_tag="timePeriod", source_tag="sourceSystemHSAId") -> Query:
    """A request as a producer reads it (demo producers, conformance tests)."""
    pid = payload.find(f"{{{ns}}}patientId")
    patient = parse_patient_id(text(pid.find(f"{{{core_ns}}}id") if pid is not None else None) or "")
    per = payload.find(f"{{{ns}}}{period_tag}")
    span = None
    if per is not None:  # an open end reads as the earliest or latest date
        start, end = (parse_timestamp(text(per.find(f"{{{core_ns}}}{k}"))) for k in ("start", "end"))
        span = (start.date() if start else dt.date.min, end.date() if end else dt.date.max)
    listed = lambda local: tuple(e.text.strip() for e in payload.iterfind(f"{{{ns}}}{local}") if e.text)  # noqa: E731
    return Query(patient=patient, period=span, care_units=listed(unit_tag),
                 care_providers=listed(giver_tag) if giver_tag else (),
                 source_system=text(payload.find(f"{{{ns}}}{source_tag}")))


# -- result ----------------------------------------------------------------------------


def answer(records: list[Record], payload: etree._Element, ns: str, core_ns: str) -> Answer:
    r = payload.find(f"{{{ns}}}result")
    if r is None:
        return Answer(records=records)
    return Answer(records=records, result_code=text(r.find(f"{{{core_ns}}}resultCode")) or "ERROR",
                  message=text(r.find(f"{{{core_ns}}}message")))


def render_result(payload: etree._Element, ns: str, core_ns: str, code: str = "OK", message: str | None = None,
                  log_id: str = "00000000-0000-0000-0000-000000000000") -> None:
    r = sub(payload, f"{{{ns}}}result")
    sub(r, f"{{{core_ns}}}resultCode", code)
    sub(r, f"{{{core_ns}}}logId", log_id)
    _opt(r, f"{{{core_ns}}}message", message)


def matches(rec: Record, query: Query) -> bool:
    """What a producer returns for a query: the patient's records, filtered as asked."""
    in_period = not query.period or rec.time is None or query.period[0] <= rec.time.date() <= query.period[1]
    return (in_period
            and (not query.care_units or rec.care_unit_id in query.care_units)
            and (not query.care_providers or rec.care_provider_id in query.care_providers)
            and (not query.source_system or rec.source_system == query.source_system))
