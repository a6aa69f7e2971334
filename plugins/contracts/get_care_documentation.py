"""GetCareDocumentation 2.1 and 3.0 (clinicalprocess:healthcond:description): journalanteckningar.

Both majors describe the same notes (same record ids), so the core shows a note that arrives through
both once. 2.1 is a PatientSummary declaration in the contract's own spelling (`careUnitHSAid`,
`sourceSystemHSAid`, the note inside `clinicalDocumentNote`, the result in the 2.1 ext namespace). 3.0
has the JoL header (IIType ids, blockComparisonTime), no nullified element, the note code as a CV and
partial answers (hasMore); the core has no JoL header yet, so it is declared here as a spec. Note text
may be entity-encoded DocBook, which the view renders by whitelist (`docbook.to_html`).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import json

from lxml import etree

from npo_core import (HSA_ID_OID, Answer, ContractError, InformationView, Query, Record, format_date, hookimpl,
                      parse_patient_id, parse_timestamp, riv, shown_timestamp)
from npo_core.riv import CV, II, ORG_UNIT, PERIOD, views

from . import docbook

EXT2 = "urn:riv:clinicalprocess:healthcond:description:2.1"  # where 2.1 declares its result
NOTE_CODES = {"utr": "Utredning", "atb": "Åtgärd/Behandling", "sam": "Sammanfattning", "sao": "Samordning",
              "ins": "Inskrivning", "slu": "Slutanteckning", "auf": "Anteckning utan fysiskt möte",
              "sva": "Slutenvårdsanteckning", "bes": "Besöksanteckning"}  # KV Anteckningstyp
DOCUMENT_TYPES = {"epi": "Epikris", "int": "Intagningsanteckning", "dag": "Daganteckning",
                  "ova": "Öppenvårdsanteckning", "ovs": "Öppenvårdssammanfattning", "ovr": "Övrigt dokument"}
PAGE_SIZE = 500  # notes per 3.0 answer from a demo producer; the rest follows on hasMore
BAD_REFERENCE = "Referensen som skickats i hasMoreReference är ogiltig"
MULTIMEDIA = (("mediaType", "mediaType", "str"), ("value", "value", "str"), ("reference", "reference", "str"))


def _note(opinion_tag: str, person: tuple) -> tuple:
    """What follows the note code(s) in both majors: title, text, attachment and dissenting opinions."""
    opinion = (("opinionId", "id", II), ("authorTime", "time", "ts"), ("opinion", "opinion", "str"),
               ("personId", "person_id", person), ("personName", "person_name", "str"))
    return (("clinicalDocumentNoteTitle", "title", "str"), ("clinicalDocumentNoteText", "text", "str"),
            ("multimediaEntry", "multimedia", MULTIMEDIA), (opinion_tag, "dissenting", [opinion]))


class _CareDocumentation(riv.PatientSummaryContract):
    name = "GetCareDocumentation"
    service_domain = "clinicalprocess:healthcond:description"
    categorization = "voo"
    title = "Journalanteckningar"
    record_element = "careDocumentation"
    untitled = "Journalanteckning"
    code_from = ""  # the note code's key path: the title where the note and its header have none

    @property
    def peeked(self) -> set[str]:
        return super().peeked | {self.code_from}

    def title_of(self, peek: riv.Peek) -> str | None:
        """The note's title, else its header's, else the kind of note (the old order)."""
        title = super().title_of(peek)
        if not title and peek.body is not None:
            title = riv.text(peek.body.getparent().find(f"{self.c(self.header_element)}/{self.c('documentTitle')}"))
        return title or NOTE_CODES.get(peek(self.code_from) or "")


class GetCareDocumentation2(_CareDocumentation):
    version = "2.1"
    header_element, body_element = "careDocumentationHeader", "careDocumentationBody"
    unit_tag = "careUnitHSAid"
    source_tag = header_source_tag = "sourceSystemHSAid"
    body = (("clinicalDocumentNote", "note", (
        ("clinicalDocumentNoteCode", "note_code", "str"), ("clinicalDocumentTypeCode", "document_type", "str"),
        *_note("dissentintOpinion", (("id", "id", "str"), ("type", "type", "str"))))),)  # sic, in 2.1
    title_from, code_from = ("note.title",), "note.note_code"
    has_result = False  # it has one, in the ext namespace:

    def parse_response(self, payload: etree._Element) -> Answer:
        found = super().parse_response(payload)
        return riv.header.answer(found.records, payload, EXT2, EXT2)

    def render_response(self, records: list[Record], query: Query) -> etree._Element:
        resp = super().render_response(records, query)
        riv.render_result(resp, EXT2, EXT2)
        return resp

    def mapped_elements(self) -> dict:
        mapped = super().mapped_elements()
        header = mapped[self.q(self.record_element)][self.c(self.header_element)]
        header[self.c(self.header_source_tag)] = header.pop(self.c("sourceSystemHSAId"))
        return {**mapped, f"{{{EXT2}}}result": riv.coverage.WHOLE}


# -- 3.0: the JoL header, the request with IIType ids, partial answers --------------------------------

JOL_HEADER = (
    ("accessControlHeader", "access", (
        ("accountableHealthcareProvider", "care_provider", II), ("accountableCareUnit", "care_unit", II),
        ("patientId", "patient_id", II), ("careProcessId", "care_process_id", II),
        ("blockComparisonTime", "block_time", "ts"), ("approvedForPatient", "approved_for_patient", "bool"))),
    ("sourceSystemId", "source_system", II),
    ("record", "record", (("id", "id", II), ("timestamp", "time", "ts"))),
    ("author", "author", (("id", "id", II), ("name", "name", "str"), ("timestamp", "time", "ts"),
                          ("byRole", "role", CV), ("orgUnit", "org_unit", ORG_UNIT))),
    ("signature", "signature", (("id", "id", II), ("name", "name", "str"), ("timestamp", "time", "ts"),
                                ("byRole", "role", CV))))
HAS_MORE = (("logicalAddress", "address", "str"), ("reference", "reference", "str"))  # in the responder namespace
RESULT = (("resultCode", "code", "str"), ("resultText", "text", "str"))
# The record's fields from the JoL header, as key paths into it: the first present wins (an IIType's
# identifier is its extension within root's namespace, else root itself). The rest is read when asked for.
DECIDING = {"id": ("record.id.extension", "record.id.root"), "time": ("record.time", "author.time"),
            **{key: (f"{path}.extension", f"{path}.root") for key, path in (
                ("care_provider_id", "access.care_provider"), ("care_unit_id", "access.care_unit"),
                ("patient_id", "access.patient_id"), ("source_system", "source_system"))},
            "block_time": ("access.block_time",), "approved": ("access.approved_for_patient",),
            "author": ("author.name",), "org_id": ("author.org_unit.orgUnitHSAId",),
            "org_name": ("author.org_unit.orgUnitName",)}


def ii_value(ii: dict | None) -> str | None:
    """An IIType's identifier: the extension within root's namespace, else root itself."""
    return (ii.get("extension") or ii.get("root")) if ii else None


def _hsa(value: str | None) -> dict | None:
    return {"root": HSA_ID_OID, "extension": value} if value else None


@dataclasses.dataclass(frozen=True)
class PagedQuery(Query):
    """A request as a producer received it (parse_request): its answer comes in pages.

    Rendering a plain Query answers in one piece, which is what tests and the CLI want."""

    page_size: int = PAGE_SIZE


class GetCareDocumentation3(_CareDocumentation):
    version = "3.0"
    header_element, body_element = "header", "body"
    body = (("clinicalDocumentNoteCode", "note_code", CV), *_note("dissentingOpinion", II))
    title_from = ("title", "note_code.displayName", "note_code.originalText")
    code_from = "note_code.code"

    @functools.cached_property
    def request(self) -> tuple:
        return tuple((self.q(tag), key, kind) for tag, key, kind in (
            ("careUnit", "care_units", [II]), ("healthcareProvider", "care_providers", [II]),
            ("patientId", "patient", II), ("datePeriod", "period", PERIOD), ("sourceSystemId", "source_system", II),
            ("hasMoreReference", "has_more_reference", "str")))

    def build_request(self, query: Query) -> etree._Element:
        req = etree.Element(self.q(self.name), nsmap={None: self.responder_namespace, "core": self.core_namespace})
        riv.render(req, self.core_namespace, self.request, {
            "care_units": [_hsa(u) for u in query.care_units],
            "care_providers": [_hsa(p) for p in query.care_providers],
            "patient": {"root": query.patient.root, "extension": query.patient.id},
            "period": query.period and {"start": format_date(query.period[0]), "end": format_date(query.period[1])},
            "source_system": _hsa(query.source_system), "has_more_reference": query.has_more_reference})
        return req

    def parse_request(self, payload: etree._Element) -> PagedQuery:
        asked = riv.parse(payload, self.core_namespace, self.request)
        period = asked.get("period")
        ids = lambda key: tuple(filter(None, map(ii_value, asked.get(key, []))))  # noqa: E731
        span = tuple(parse_timestamp(period.get(k)).date() for k in ("start", "end")) if period else None
        return PagedQuery(patient=parse_patient_id(ii_value(asked.get("patient")) or ""), period=span,
                          care_units=ids("care_units"), care_providers=ids("care_providers"),
                          source_system=ii_value(asked.get("source_system")),
                          has_more_reference=asked.get("has_more_reference"))

    @functools.cached_property
    def _deciding(self) -> dict:
        return {p: riv.element_path(self.core_namespace, JOL_HEADER, p) for paths in DECIDING.values() for p in paths}

    def parse_response(self, payload: etree._Element) -> Answer:
        paths, deciding = self._reading[-1], self._deciding
        records = []
        for el in payload.iterchildren(self.q(self.record_element)):
            header = el.find(self.c("header"))
            if header is None:
                raise ContractError("En post i svaret saknar sitt huvud (header).", code="missing_header")
            decided, body = riv.Peek(header, deciding), el.find(self.c("body"))
            found = {key: decided.first(key_paths) for key, key_paths in DECIDING.items()}
            peek, when, unit = riv.Peek(body, paths), parse_timestamp(found["time"]), found["care_unit_id"]
            records.append(Record(
                id=found["id"] or "", contract=self.id, information_type=self.information_type_of(peek), time=when,
                care_provider_id=found["care_provider_id"], care_unit_id=unit,
                care_unit_name=found["org_name"] if unit and found["org_id"] == unit else None,
                source_system=found["source_system"], title=self.title_of(peek) or self.untitled,
                author=found["author"], block_time=parse_timestamp(found["block_time"]) or when,
                approved_for_patient=bool(riv.boolean(found["approved"])), patient_id=found["patient_id"],
                detail=riv.Detail(self.read_detail, header, body)))
        result = riv.parse(payload.find(self.q("result")), self.core_namespace, RESULT)
        more = [riv.parse(m, self.responder_namespace, HAS_MORE) for m in payload.iterfind(self.q("hasMore"))]
        return Answer(records=records, result_code=result.get("code") or "ERROR", message=result.get("text"),
                      has_more=[(m["address"], m["reference"]) for m in more if len(m) == 2])

    def read_detail(self, header: etree._Element, body: etree._Element | None) -> dict:
        return {**self.read_body(body), "header": riv.parse(header, self.core_namespace, JOL_HEADER)}

    def mapped_elements(self) -> dict:
        mapped = super().mapped_elements()
        mapped[self.q(self.record_element)][self.c("header")] = riv.coverage.tree(self.core_namespace, JOL_HEADER)
        return mapped

    def render_response(self, records: list[Record], query: Query) -> etree._Element:
        core = self.core_namespace
        resp = etree.Element(self.q(f"{self.name}Response"), nsmap={None: self.responder_namespace, "core": core})
        page, more, error = _page([r for r in records if riv.header.matches(r, query)], query)
        for r in page:
            el = riv.sub(resp, self.q(self.record_element))
            riv.render(riv.sub(el, self.c("header")), core, JOL_HEADER, r.detail["header"])
            self.render_body(riv.sub(el, self.c("body")), r)
        if more:
            riv.render(riv.sub(resp, self.q("hasMore")), self.responder_namespace, HAS_MORE,
                       {"address": more[0], "reference": more[1]})
        riv.render(riv.sub(resp, self.q("result")), core, RESULT, {"code": "ERROR" if error else "OK", "text": error})
        return resp


def _page(matching: list[Record], query: Query) -> tuple[list[Record], tuple[str, str] | None, str | None]:
    """Partial answers (TKB): newest first, PAGE_SIZE at a time, an opaque reference to the rest."""
    size = getattr(query, "page_size", None)
    if not size:
        return matching, None, None
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(query.has_more_reference))["offset"]) \
            if query.has_more_reference else 0
    except (ValueError, KeyError, TypeError, binascii.Error):
        return [], None, BAD_REFERENCE
    if offset < 0:
        return [], None, BAD_REFERENCE
    ordered = sorted(matching, key=lambda r: (r.time is not None, r.time), reverse=True)
    page = ordered[offset:offset + size]
    if offset + size >= len(ordered):
        return page, None, None
    reference = base64.urlsafe_b64encode(json.dumps({"offset": offset + size}).encode()).decode()
    return page, (page[0].source_system, reference), None


# -- the view: one for both majors (2.1 holds the note in `note`, 3.0 in the body itself) ---------------


def note_of(r: Record):
    return r.detail.get("note") or r.detail


def note_code(r: Record) -> dict | None:
    """The note code as a CV: 3.0 sends one, 2.1 a KV Anteckningstyp code (the schema's enumeration)."""
    code = note_of(r).get("note_code")
    return code if isinstance(code, dict) or not code else \
        {"code": code, "codeSystem": riv.codes.KV_NOTE_TYPE, "displayName": NOTE_CODES.get(code)}


def _when(stamp: str | None) -> str:
    when = shown_timestamp(stamp)
    return when.strftime("%Y-%m-%d %H:%M") if when else "–"


def _details(r: Record) -> list[tuple[str, object]]:
    note, header = note_of(r), r.detail.get("header") or {}
    rows: list[tuple[str, object]] = [("Anteckning", docbook.to_html(note["text"]))] if note.get("text") else []
    if media := note.get("multimedia"):
        rows.append(("Bilaga", f"{media.get('mediaType') or 'okänd typ'}: "
                               f"{media.get('reference') or 'inbäddad fil, visas inte'}"))
    for o in note.get("dissenting") or []:
        rows.append(("Avvikande mening", f"{_when(o.get('time'))} {o.get('person_name')}: {o.get('opinion')}"))
    rows.append(("Anteckningstyp", riv.codes.coded(note_code(r))))
    if note.get("document_type"):
        rows.append(("Dokumenttyp", DOCUMENT_TYPES.get(note["document_type"], note["document_type"])))
    signed = header.get("signature")
    rows += [("Signerad", f"{_when(signed.get('time'))} av "
                          f"{signed.get('name') or signed.get('hsa_id') or ii_value(signed.get('id'))}"
              if signed else "Nej, osignerad"),
             ("Får visas för patienten", views.yes_no(r.approved_for_patient))]
    if r.nullified and header.get("nullified_reason"):
        rows.append(("Orsak till makulering", header["nullified_reason"]))
    return rows


def _author(r: Record) -> str:
    header = r.detail.get("header") or {}
    role = (header.get("author_role") or (header.get("author") or {}).get("role") or {}).get("displayName")
    return ", ".join(x for x in (r.author, role) if x) or "–"


@hookimpl
def register_contracts(register):
    register(GetCareDocumentation2())
    register(GetCareDocumentation3())


@hookimpl
def register_views(register):
    register(InformationView(
        slug="anteckningar", title="Journalanteckningar", categorizations=("voo",), order=20,
        columns=(("Datum", views.date), ("Anteckning", lambda r: f"{r.title} (makulerad)" if r.nullified else r.title),
                 ("Typ", lambda r: riv.codes.term(note_code(r))), ("Författare", _author), *views.OWNER),
        details=_details,
        help="Journalanteckningar från vårdgivare i sammanhållen journalföring: besök, telefonkontakter, "
             "epikriser och andra anteckningar.",
    ))
