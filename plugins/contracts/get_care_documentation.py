"""GetCareDocumentation 2.1 and 3.0 (clinicalprocess:healthcond:description): journalanteckningar.

Both majors describe the same notes (same record ids), so the core shows a note that arrives through
both once. 2.1 is a PatientSummary declaration in the contract's own spelling (`careUnitHSAid`,
`sourceSystemHSAid`, the note inside `clinicalDocumentNote`, the result in the 2.1 ext namespace). 3.0
is a JoL declaration (`riv.JolContract`: IIType ids, blockComparisonTime, partial answers by hasMore)
with no nullified element and the note code as a CV. Note text may be entity-encoded DocBook, which the
view renders by whitelist (`docbook.to_html`).
"""

from __future__ import annotations

from lxml import etree

from npo_core import Answer, InformationView, Query, Record, hookimpl, riv, shown_timestamp
from npo_core.riv import CV, II, ORG_UNIT, views

from . import docbook

EXT2 = "urn:riv:clinicalprocess:healthcond:description:2.1"  # where 2.1 declares its result
NOTE_CODES = {"utr": "Utredning", "atb": "Åtgärd/Behandling", "sam": "Sammanfattning", "sao": "Samordning",
              "ins": "Inskrivning", "slu": "Slutanteckning", "auf": "Anteckning utan fysiskt möte",
              "sva": "Slutenvårdsanteckning", "bes": "Besöksanteckning"}  # KV Anteckningstyp
DOCUMENT_TYPES = {"epi": "Epikris", "int": "Intagningsanteckning", "dag": "Daganteckning",
                  "ova": "Öppenvårdsanteckning", "ovs": "Öppenvårdssammanfattning", "ovr": "Övrigt dokument"}
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


class GetCareDocumentation3(_CareDocumentation, riv.JolContract):
    """The JoL header (no nullified element), the request's ids as IITypes, partial answers (hasMore)."""

    version = "3.0"
    unit_tag, giver_tag, source_tag, has_more = "careUnit", "healthcareProvider", "sourceSystemId", True
    header = riv.jol.header_spec((
        ("accountableHealthcareProvider", "care_provider", II), ("accountableCareUnit", "care_unit", II),
        ("patientId", "patient_id", II), ("careProcessId", "care_process_id", II),
        ("blockComparisonTime", "block_time", "ts"), ("approvedForPatient", "approved_for_patient", "bool")),
        author=(("orgUnit", "org_unit", ORG_UNIT),))
    body = (("clinicalDocumentNoteCode", "note_code", CV), *_note("dissentingOpinion", II))
    title_from = ("title", "note_code.displayName", "note_code.originalText")
    code_from = "note_code.code"


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
                          f"{signed.get('name') or signed.get('hsa_id') or riv.jol.identifier(signed.get('id'))}"
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
        help="Journalanteckningar från vårdgivare i sammanhållen journalföring: besök, telefonkontakter, epikriser och "
             "andra anteckningar, med författare och signering. En osignerad anteckning kan fortfarande ändras. "
             "Makulerade anteckningar visas överstrukna där källan skickar dem; en källa som svarar med version 3 av "
             "tjänstekontraktet skickar dem inte.",
    ))
