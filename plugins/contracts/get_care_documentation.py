"""GetCareDocumentation 2.1 and 3.0 (clinicalprocess:healthcond:description): journalanteckningar.

Both major versions describe the same notes: one demo generator serves both (same record ids) and
both parsers give the same Record, so the core shows a note that arrives through both once. 2.1
uses the PatientSummary header with its own spelling (`sourceSystemHSAid`) and the 2.1 ext result;
3.0 the JoL header with IIType ids and blockComparisonTime, and partial answers (hasMore). Note
text may be entity-encoded DocBook, which the view renders through `docbook.to_html`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json

from lxml import etree
from lxml.builder import ElementMaker

from npo_core import Answer, Contract, InformationView, Query, Record, hookimpl
from npo_core.contract import Children, format_timestamp, parse_timestamp, shown_timestamp
from npo_core.demo import PROVIDERS, patient_name
from npo_core.identity import HSA_ID_OID, parse_patient_id

from . import docbook
from . import patientsummary as ps

CORE2 = "urn:riv:clinicalprocess:healthcond:description:2"
EXT2 = "urn:riv:clinicalprocess:healthcond:description:2.1"  # where 2.1 declares its result
CORE3 = "urn:riv:clinicalprocess:healthcond:description:3"
KV_NOTE_TYPE = "1.2.752.129.2.2.2.11"  # KV Anteckningstyp
NOTE_CODES = {"utr": "Utredning", "atb": "Åtgärd/Behandling", "sam": "Sammanfattning", "sao": "Samordning",
              "ins": "Inskrivning", "slu": "Slutanteckning", "auf": "Anteckning utan fysiskt möte",
              "sva": "Slutenvårdsanteckning", "bes": "Besöksanteckning"}
DOCUMENT_TYPES = {"epi": "Epikris", "int": "Intagningsanteckning", "dag": "Daganteckning",
                  "ova": "Öppenvårdsanteckning", "ovs": "Öppenvårdssammanfattning", "ovr": "Övrigt dokument"}
ORG_KEYS = ("orgUnitHSAId", "orgUnitName", "orgUnitTelecom", "orgUnitEmail", "orgUnitAddress", "orgUnitLocation")
ROLE_KEYS = ("code", "codeSystem", "displayName")
PAGE_SIZE = 500  # notes per 3.0 answer from a demo producer; the rest follows on hasMore
BAD_REFERENCE = "Referensen som skickats i hasMoreReference är ogiltig"


def ns(core: str):
    return lambda local: f"{{{core}}}{local}"


c2, c3 = ns(CORE2), ns(CORE3)


# -- the body, shared by both versions ----------------------------------------------------------------


def title_of(detail: dict, header_title: str | None) -> str:
    return (detail.get("title") or header_title or detail.get("note_code_name")
            or NOTE_CODES.get(detail.get("note_code") or "") or "Journalanteckning")


def _read_body(note: Children, n, *, person_ii: bool) -> dict:
    """Title, text, attachment and dissenting opinions: the same in both versions but for names."""
    media = note.first(n("multimediaEntry"))
    entry = Children(media)
    dissent_tag = "dissentingOpinion" if person_ii else "dissentintOpinion"  # sic, in 2.1
    opinions = []
    for opinion in map(Children, note.all(n(dissent_tag))):
        oid, person = opinion.first(n("opinionId")), opinion.under(n("personId"))
        ident = Children(oid)
        opinions.append({
            "id": None if oid is None else {"root": ident.text(n("root")), "extension": ident.text(n("extension"))},
            "time": opinion.text(n("authorTime")), "opinion": opinion.text(n("opinion")) or "",
            "person_id": person.text(n("extension" if person_ii else "id")),
            "person_id_type": person.text(n("root" if person_ii else "type")),
            "person_name": opinion.text(n("personName")) or ""})
    return {"title": note.text(n("clinicalDocumentNoteTitle")), "text": note.text(n("clinicalDocumentNoteText")),
            "multimedia": None if media is None else {k: entry.text(n(tag)) for k, tag in
                                                      (("media_type", "mediaType"), ("value", "value"),
                                                       ("reference", "reference"))},
            "dissenting": opinions}


def _write_body(note: etree._Element, d: dict, n, *, person_ii: bool) -> None:
    """What follows the note code(s), in the schema's order."""
    ps.opt(note, n("clinicalDocumentNoteTitle"), d.get("title"))
    ps.opt(note, n("clinicalDocumentNoteText"), d.get("text"))
    if media := d.get("multimedia"):
        el = ps.sub(note, n("multimediaEntry"))
        ps.sub(el, n("mediaType"), media.get("media_type"))
        ps.opt(el, n("value"), media.get("value"))
        ps.opt(el, n("reference"), media.get("reference"))
    for o in d.get("dissenting") or []:
        el = ps.sub(note, n("dissentingOpinion" if person_ii else "dissentintOpinion"))
        if o.get("id"):
            _ii(el, n("opinionId"), n, o["id"].get("root"), o["id"].get("extension"))
        ps.sub(el, n("authorTime"), o.get("time"))
        ps.sub(el, n("opinion"), o.get("opinion") or "")
        person = ps.sub(el, n("personId"))  # IIType {root, extension} in 3.0, PersonIdType {id, type} in 2.1
        for local, key in ((("root", "person_id_type"), ("extension", "person_id")) if person_ii
                           else (("id", "person_id"), ("type", "person_id_type"))):
            ps.sub(person, n(local), o.get(key))
        ps.sub(el, n("personName"), o.get("person_name") or "")


def _ii(parent: etree._Element, tag: str, n, root: str | None, extension: str | None = None) -> None:
    if root:
        el = ps.sub(parent, tag)
        ps.sub(el, n("root"), root)
        ps.opt(el, n("extension"), extension)


def _hsa(parent: etree._Element, tag: str, hsa_id: str | None) -> None:
    if hsa_id:
        _ii(parent, tag, c3, HSA_ID_OID, hsa_id)


def _ii_value(el: etree._Element | None) -> str | None:
    """An IIType's identifier: the extension within root's namespace, else root itself."""
    if el is None:
        return None
    ii = Children(el)
    return ii.text(c3("extension")) or ii.text(c3("root"))


# -- the two major versions ------------------------------------------------------------------------


class _CareDocumentation(Contract):
    name = "GetCareDocumentation"
    service_domain = "clinicalprocess:healthcond:description"
    categorization = "voo"
    record_element = "careDocumentation"
    title = "Journalanteckningar"

    def demo_records(self, demo) -> list[Record]:
        return _demo_notes(self, demo)


class GetCareDocumentation2(_CareDocumentation):
    version = "2.1"
    schema = ("clinicalprocess_healthcond_description/interactions/GetCareDocumentationInteraction/"
              "GetCareDocumentationResponder_2.1.xsd")
    wsdl = ("clinicalprocess_healthcond_description/interactions/GetCareDocumentationInteraction/"
            "GetCareDocumentationInteraction_2.1_RIVTABP21.wsdl")

    def build_request(self, query: Query) -> etree._Element:
        return ps.build_query(self, query, CORE2, unit_tag="careUnitHSAid", source_tag="sourceSystemHSAid")

    def parse_request(self, payload: etree._Element) -> Query:
        return ps.read_query(payload, self.responder_namespace, CORE2, unit_tag="careUnitHSAid",
                             source_tag="sourceSystemHSAid")

    def parse_response(self, payload: etree._Element) -> Answer:
        records = []
        for el in payload.iterfind(self.q("careDocumentation")):
            children = Children(el)
            note = children.under(c2("careDocumentationBody")).under(c2("clinicalDocumentNote"))
            note_code = note.text(c2("clinicalDocumentNoteCode"))
            detail = {"note_code": note_code, "note_code_name": NOTE_CODES.get(note_code or ""),
                      "document_type": note.text(c2("clinicalDocumentTypeCode")),
                      **_read_body(note, c2, person_ii=False)}
            # title_of(detail, the header's title): the note's title, else the header's, else the note's kind
            record = ps.parse_header(children.first(c2("careDocumentationHeader")), CORE2, contract=self.id,
                                     information_type=self.categorization, title=detail["title"],
                                     untitled=title_of(detail, None), source_tag="sourceSystemHSAid")
            record.detail.update(detail)
            records.append(record)
        return ps.answer(records, payload, EXT2, EXT2)

    def render_response(self, records: list[Record], query: Query) -> etree._Element:
        resp = etree.Element(self.q("GetCareDocumentationResponse"),
                             nsmap={None: self.responder_namespace, "core": CORE2, "ext": EXT2})
        for r in records:
            if not ps.matches(r, query):
                continue
            el = ps.sub(resp, self.q("careDocumentation"))
            ps.render_header(el, c2("careDocumentationHeader"), CORE2, r, query.patient)
            el[-1][1].tag = c2("sourceSystemHSAid")  # this header type's own spelling
            note = ps.sub(ps.sub(el, c2("careDocumentationBody")), c2("clinicalDocumentNote"))
            ps.opt(note, c2("clinicalDocumentNoteCode"), r.detail.get("note_code"))
            ps.opt(note, c2("clinicalDocumentTypeCode"), r.detail.get("document_type"))
            _write_body(note, r.detail, c2, person_ii=False)
        ps.render_result(resp, EXT2, EXT2)
        return resp


# -- 3.0 ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PagedQuery(Query):
    """A request as a producer received it (parse_request): its answer comes in pages.

    Rendering a plain Query answers in one piece, which is what tests and the CLI want.
    """

    page_size: int = PAGE_SIZE


class GetCareDocumentation3(_CareDocumentation):
    version = "3.0"
    schema = ("clinicalprocess_healthcond_description/interactions/GetCareDocumentationInteraction/"
              "GetCareDocumentationResponder_3.0.xsd")
    wsdl = ("clinicalprocess_healthcond_description/interactions/GetCareDocumentationInteraction/"
            "GetCareDocumentationInteraction_3.0_RIVTABP21.wsdl")

    def build_request(self, query: Query) -> etree._Element:
        req = etree.Element(self.q("GetCareDocumentation"), nsmap={None: self.responder_namespace, "core": CORE3})
        for unit in query.care_units:
            _hsa(req, self.q("careUnit"), unit)
        for provider in query.care_providers:
            _hsa(req, self.q("healthcareProvider"), provider)
        _ii(req, self.q("patientId"), c3, query.patient.root, query.patient.id)
        ps.period(req, self.q("datePeriod"), CORE3, query.period)
        if query.source_system:
            _hsa(req, self.q("sourceSystemId"), query.source_system)
        ps.opt(req, self.q("hasMoreReference"), query.has_more_reference)
        return req

    def parse_request(self, payload: etree._Element) -> PagedQuery:
        ids = lambda local: tuple(v for el in payload.iterfind(self.q(local)) if (v := _ii_value(el)))  # noqa: E731
        period = payload.find(self.q("datePeriod"))
        span = None
        if period is not None:
            span = (parse_timestamp(ps.text(period, c3("start"))).date(),
                    parse_timestamp(ps.text(period, c3("end"))).date())
        return PagedQuery(patient=parse_patient_id(_ii_value(payload.find(self.q("patientId"))) or ""), period=span,
                          care_units=ids("careUnit"), care_providers=ids("healthcareProvider"),
                          source_system=_ii_value(payload.find(self.q("sourceSystemId"))),
                          has_more_reference=ps.text(payload, self.q("hasMoreReference")))

    def parse_response(self, payload: etree._Element) -> Answer:
        records = []
        for el in payload.iterfind(self.q("careDocumentation")):
            children = Children(el)
            body = children.under(c3("body"))
            note_code = body.under(c3("clinicalDocumentNoteCode"))
            detail = {"note_code": note_code.text(c3("code")),
                      "note_code_name": note_code.text(c3("displayName")) or note_code.text(c3("originalText")),
                      "document_type": None, **_read_body(body, c3, person_ii=True)}
            record = self._read_header(children.first(c3("header")), detail)
            record.detail.update(detail)
            records.append(record)
        result = payload.find(self.q("result"))
        more = [(ps.text(m, self.q("logicalAddress")) or "", ps.text(m, self.q("reference")) or "")
                for m in payload.iterfind(self.q("hasMore"))]
        return Answer(records=records, result_code=ps.text(result, c3("resultCode")) or "ERROR",
                      message=ps.text(result, c3("resultText")), has_more=[m for m in more if all(m)])

    def _read_header(self, h: etree._Element | None, detail: dict) -> Record:
        """The JoL header, normalised to the same Record (and header dict) as 2.1 gives."""
        head = Children(h)
        access, author = head.under(c3("accessControlHeader")), head.under(c3("author"))
        entry, signature = head.under(c3("record")), head.first(c3("signature"))
        signed = Children(signature)
        unit_id = _ii_value(access.first(c3("accountableCareUnit")))
        org_unit = ps.texts(author.first(c3("orgUnit")), CORE3, ORG_KEYS)
        header = {
            "document_time": entry.text(c3("timestamp")), "author_time": author.text(c3("timestamp")),
            "author_hsa_id": _ii_value(author.first(c3("id"))), "author_name": author.text(c3("name")),
            "author_role": ps.texts(author.first(c3("byRole")), CORE3, ROLE_KEYS),
            "org_unit": org_unit,
            "signature": None if signature is None else {"time": signed.text(c3("timestamp")),
                                                         "hsa_id": _ii_value(signed.first(c3("id"))),
                                                         "name": signed.text(c3("name"))},
            "care_contact_id": None, "nullified_reason": None, "document_title": detail.get("title"),
        }
        when = parse_timestamp(header["document_time"] or header["author_time"])
        return Record(
            id=_ii_value(entry.first(c3("id"))) or "", contract=self.id,
            information_type=self.categorization, time=when,
            care_provider_id=_ii_value(access.first(c3("accountableHealthcareProvider"))), care_unit_id=unit_id,
            care_unit_name=ps.unit_name(org_unit, unit_id),
            source_system=_ii_value(head.first(c3("sourceSystemId"))), title=title_of(detail, None),
            author=header["author_name"], block_time=parse_timestamp(access.text(c3("blockComparisonTime"))) or when,
            approved_for_patient=bool(ps.boolean(access.text(c3("approvedForPatient")))),
            patient_id=_ii_value(access.first(c3("patientId"))), detail={"header": header})

    def render_response(self, records: list[Record], query: Query) -> etree._Element:
        resp = etree.Element(self.q("GetCareDocumentationResponse"),
                             nsmap={None: self.responder_namespace, "core": CORE3})
        matching = [r for r in records if ps.matches(r, query)
                    and (not query.care_providers or r.care_provider_id in query.care_providers)]
        page, more, error = _page(matching, query)
        for r in page:
            el = ps.sub(resp, self.q("careDocumentation"))
            _write_header(el, r, query)
            b = ps.sub(el, c3("body"))
            code = ps.sub(b, c3("clinicalDocumentNoteCode"))
            if r.detail.get("note_code"):
                ps.sub(code, c3("code"), r.detail["note_code"])
                ps.sub(code, c3("codeSystem"), KV_NOTE_TYPE)
                ps.opt(code, c3("displayName"), r.detail.get("note_code_name"))
            else:
                ps.opt(code, c3("originalText"), r.detail.get("note_code_name"))
            _write_body(b, r.detail, c3, person_ii=True)
        if more:
            has_more = ps.sub(resp, self.q("hasMore"))
            ps.sub(has_more, self.q("logicalAddress"), more[0])
            ps.sub(has_more, self.q("reference"), more[1])
        result = ps.sub(resp, self.q("result"))
        ps.sub(result, c3("resultCode"), "ERROR" if error else "OK")
        ps.opt(result, c3("resultText"), error)
        return resp

    def demo_records(self, demo) -> list[Record]:
        """The same notes as 2.1, as far as 3.0 carries them: no document type, no nullified notes."""
        return [dataclasses.replace(r, detail={**r.detail, "document_type": None})
                for r in super().demo_records(demo) if not r.nullified]


def _write_header(parent: etree._Element, r: Record, query: Query) -> None:
    hd = r.detail.get("header") or {}
    h = ps.sub(parent, c3("header"))
    access = ps.sub(h, c3("accessControlHeader"))
    _hsa(access, c3("accountableHealthcareProvider"), r.care_provider_id)
    _hsa(access, c3("accountableCareUnit"), r.care_unit_id)
    _ii(access, c3("patientId"), c3, query.patient.root, query.patient.id)
    ps.sub(access, c3("blockComparisonTime"), format_timestamp(r.block_time or r.time))
    ps.sub(access, c3("approvedForPatient"), r.approved_for_patient)
    _hsa(h, c3("sourceSystemId"), r.source_system)
    record = ps.sub(h, c3("record"))
    _ii(record, c3("id"), c3, r.id)  # root only, like documentId in 2.x (TKB): majors deduplicate
    ps.sub(record, c3("timestamp"), hd.get("document_time") or format_timestamp(r.time))
    if hd.get("author_time"):
        author = ps.sub(h, c3("author"))
        _hsa(author, c3("id"), hd.get("author_hsa_id"))
        ps.opt(author, c3("name"), hd.get("author_name"))
        ps.sub(author, c3("timestamp"), hd["author_time"])
        if hd.get("author_role"):
            role = ps.sub(author, c3("byRole"))
            for k in ROLE_KEYS:
                ps.opt(role, c3(k), hd["author_role"].get(k))
        if hd.get("org_unit"):
            org = ps.sub(author, c3("orgUnit"))
            for k in ORG_KEYS:
                ps.opt(org, c3(k), hd["org_unit"].get(k))
    if signature := hd.get("signature"):
        el = ps.sub(h, c3("signature"))
        _hsa(el, c3("id"), signature.get("hsa_id"))
        ps.opt(el, c3("name"), signature.get("name"))
        ps.sub(el, c3("timestamp"), signature["time"])


def _page(matching: list[Record], query: Query) -> tuple[list[Record], tuple[str, str] | None, str | None]:
    """Partial answers (TKB): newest first, PAGE_SIZE at a time, an opaque reference to the rest."""
    size = getattr(query, "page_size", None)
    if not size:
        return matching, None, None
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(query.has_more_reference or "e30="))["offset"]) \
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


# -- demo content ---------------------------------------------------------------------------------------

DOCBOOK = "http://docbook.org/ns/docbook"
E = ElementMaker(namespace=DOCBOOK, nsmap={None: DOCBOOK})


def _article(title: str, *parts) -> str:
    return etree.tostring(E.article(E.info(E.title(title)), *parts, version="5.0"), encoding="unicode")


def _section(title: str, *content) -> etree._Element:
    return E.section(E.title(title), *(E.para(p) if isinstance(p, str) else p for p in content))


def _items(*items: str, ordered: bool = False) -> etree._Element:
    return (E.orderedlist if ordered else E.itemizedlist)(*(E.listitem(E.para(i)) for i in items))


def _bold(text: str) -> etree._Element:
    return E.emphasis(text, role="bold")


def _values(rng) -> dict:
    decimal = lambda lo, hi: f"{rng.uniform(lo, hi):.1f}".replace(".", ",")  # noqa: E731
    return {"temp": decimal(37.8, 39.6), "sat": rng.randint(92, 98), "crp": rng.choice([34, 56, 88, 112, 145]),
            "bt": f"{rng.randint(124, 158)}/{rng.randint(72, 94)}", "puls": rng.randint(58, 92),
            "vikt": rng.randint(58, 104), "krea": rng.randint(62, 118), "k": decimal(3.6, 4.8),
            "hba1c": rng.randint(44, 78), "nrs": rng.randint(1, 7), "dag": rng.randint(2, 9),
            "mmse": rng.randint(19, 28), "hb": rng.randint(98, 141), "flimmer": rng.randint(118, 164)}


# (note code, document type, title, template): plain text notes
PLAIN = [
    ("bes", "ova", "Besöksanteckning",
     "Kontaktorsak: Hosta och feber sedan fem dagar.\n"
     "Anamnes: Tidigare frisk. Tilltagande hosta med missfärgade upphostningar, feber upp till {temp} grader. "
     "Ingen andnöd i vila.\n"
     "Status: Allmäntillstånd lätt påverkat. Cor: regelbunden rytm, inga blåsljud. Pulm: krepitationer basalt "
     "höger. Saturation {sat} % på rumsluft. CRP {crp} mg/L.\n"
     "Bedömning: Samhällsförvärvad pneumoni utan behov av sjukhusvård (CRB-65 0).\n"
     "Åtgärd: Fenoximetylpenicillin 1 g x 3 i 7 dagar. Återkontakt vid försämring eller om febern kvarstår "
     "efter tre dygn."),
    ("bes", "ova", "Besöksanteckning",
     "Kontaktorsak: Årskontroll hypertoni.\n"
     "Aktuellt: Mår bra, inga biverkningar. Tar sina läkemedel regelbundet och promenerar dagligen.\n"
     "Status: Blodtryck {bt} mmHg sittande, puls {puls}/min regelbunden. Vikt {vikt} kg.\n"
     "Lab: Kreatinin {krea} µmol/L, kalium {k} mmol/L.\n"
     "Bedömning: Välbehandlad essentiell hypertoni.\n"
     "Planering: Oförändrad behandling. Nytt besök om ett år med provtagning en vecka innan."),
    ("bes", "ova", "Besöksanteckning",
     "Kontaktorsak: Smärta i höger knä sedan ett halvår, värst i trappor.\n"
     "Status: Lätt svullnad, ingen rodnad eller värmeökning. Krepitationer vid flexion. Stabila ledband. "
     "Går utan hjälpmedel.\n"
     "Bedömning: Klinisk bild av primär gonartros.\n"
     "Åtgärd: Remiss till fysioterapeut för artrosskola. Paracetamol vid behov. Åter vid behov."),
    ("bes", "ova", "Diabetesbesök",
     "Kontaktorsak: Diabeteskontroll hos diabetessjuksköterska.\n"
     "Aktuellt: Inga känningar av låga värden. Följer kostråden.\n"
     "Mätvärden: HbA1c {hba1c} mmol/mol, blodtryck {bt} mmHg, vikt {vikt} kg.\n"
     "Fotundersökning: Inga sår, monofilament känns bilateralt.\n"
     "Planering: Fortsatt metformin. Ögonbottenfotografering bokad. Nytt besök om sex månader."),
    ("auf", "ovr", "Telefonanteckning",
     "Patienten ringer om yrsel på morgonen sedan blodtrycksmedicinen höjdes.\n"
     "Råd: Ta tabletten till kvällen i stället och resa sig långsamt. Ringa igen om besvären kvarstår efter "
     "en vecka. Blodtryckskontroll hos distriktssköterska bokad."),
    ("auf", "ovr", "Telefonanteckning",
     "Dottern ringer: patienten har fallit i hemmet i natt. Ingen medvetandeförlust, kan stödja på benen.\n"
     "Bedömning: Ingen akut skada enligt beskrivningen.\n"
     "Åtgärd: Hembesök av distriktssköterska i morgon. Söka akut vid höftsmärta eller ny förvirring."),
    ("sva", "dag", "Daganteckning",
     "Vårddag {dag}. Sovit gott. Smärtskattning NRS {nrs} i vila.\n"
     "Afebril. Mobiliseras med rollator till toaletten med stöd av en person.\n"
     "Äter halva portioner, näringsdryck två gånger dagligen. Hb {hb} g/L.\n"
     "Planering: Fortsatt mobilisering med fysioterapeut, blodstatus i morgon."),
    ("slu", "ovs", "Slutanteckning fysioterapi",
     "Behandlingsperioden avslutas efter {dag} besök.\n"
     "Mål: Gå utan hjälpmedel inomhus och klara trappor. Målet är uppnått.\n"
     "Patienten har ett hemträningsprogram för balans och benstyrka och fortsätter två gånger i veckan. "
     "Ny remiss vid behov."),
    ("atb", "ova", "Omläggning",
     "Omläggning av venöst bensår vänster underben. Sårytan cirka {dag} cm², rena sårkanter, lätt fibrinbelagd "
     "sårbädd, ingen rodnad runt såret.\n"
     "Rengjort med ljummet kranvatten, skumförband och kompressionslindning.\n"
     "Nästa omläggning om tre dagar i hemmet av distriktssköterska."),
]


def _epikris(v: dict) -> str:
    return _article(
        "Epikris",
        _section("Orsak till inläggning", "Hjärtklappning och andfåddhet sedan två dygn. EKG på akutmottagningen "
                 f"visade förmaksflimmer med kammarfrekvens {v['flimmer']} slag/min."),
        _section("Förlopp", "Frekvensreglerad med betablockad. Ekokardiografi visade normal vänsterkammarfunktion. "
                 "CHA₂DS₂-VASc 3, antikoagulantia insatt efter samtal om nytta och risker. Spontan konvertering "
                 f"till sinusrytm vårddag {v['dag']}."),
        _section("Läkemedel vid utskrivning", _items("Metoprolol depottablett 50 mg, 1 x 1 (ny)",
                                                     "Apixaban 5 mg, 1 x 2 (ny)",
                                                     "Enalapril 10 mg, 1 x 1 (oförändrad)")),
        _section("Uppföljning", E.para(_bold("Återbesök på hjärtmottagningen om tre månader."),
                                       " Informerad om blödningsrisk och att söka vård vid nya symtom.")))


def _inskrivning(v: dict) -> str:
    return _article(
        "Inskrivningsanteckning",
        _section("Kontaktorsak", "Inkommer med ambulans efter fall i hemmet, kan inte belasta vänster ben."),
        _section("Anamnes", "Bor ensam i lägenhet med hemtjänst två gånger dagligen. Tidigare förmaksflimmer och "
                 "hypertoni."),
        _section("Status", f"Vaken och orienterad. Blodtryck {v['bt']} mmHg, puls {v['puls']}/min oregelbunden. "
                 "Vänster ben förkortat och utåtroterat. Röntgen visar lårbenshalsfraktur."),
        _section("Bedömning", "Collumfraktur vänster höft."),
        _section("Planering", _items("Operation i morgon, fasta från midnatt", "Smärtlindring enligt ordination",
                                     "Trycksårsprevention och tidig mobilisering efter operation", ordered=True)))


def _samordning(v: dict) -> str:
    return _article(
        "Samordnad individuell plan",
        E.para("SIP-möte i hemmet med patienten, dottern, distriktssköterska, biståndshandläggare och "
               "rehabpersonal. Patienten vill bo kvar hemma."),
        _section("Överenskommelser", _items("Hemsjukvården ansvarar för läkemedel via dosdispenserade påsar",
                                            "Hemtjänst utökas till fyra besök per dag",
                                            "Arbetsterapeut provar ut duschstol och toalettförhöjning",
                                            "Vårdcentralen ansvarar för medicinsk uppföljning")),
        _section("Nästa möte", E.para("Uppföljning om sex veckor, ",
                                      _bold("fast vårdkontakt: distriktssköterskan"), ".")))


def _utredning(v: dict) -> str:
    return _article(
        "Minnesutredning",
        _section("Bakgrund", "Anhöriga har märkt tilltagande glömska det senaste året. Klarar inte längre sin "
                 "ekonomi."),
        _section("Undersökning", E.para("MMSE-SR ", _bold(f"{v['mmse']}/30"), ", klocktest med felplacerade "
                                        "visare. DT hjärna visar måttlig central och kortikal atrofi.")),
        _section("Bedömning", E.para("Sannolik ", E.emphasis("Alzheimers sjukdom"), ", mild till måttlig grad. "
                                     "Diagnosen meddelad patienten och dottern.")),
        E.bibliography(E.bibliomixed("Socialstyrelsen. Nationella riktlinjer för vård och omsorg vid "
                                     "demenssjukdom. Stöd för styrning och ledning. Stockholm; 2017.")))


# (note code, document type, title, builder): DocBook notes
DOCBOOK_NOTES = [("sam", "epi", "Epikris", _epikris), ("ins", "int", "Inskrivningsanteckning", _inskrivning),
                 ("sao", "ovr", "Samordnad individuell plan", _samordning), ("utr", "ova", "Minnesutredning",
                                                                               _utredning)]


def _note(contract, demo, key: str, kind: tuple, when, *, title: str | None = "", text: str | None = "",
          **options) -> Record:
    """One note; `title`/`text` default to the kind's own, None leaves the part out."""
    note_code, document_type, own_title, make = kind
    if text == "":
        text = make(_values(demo.rng)) if callable(make) else make.format(**_values(demo.rng))
    title = own_title if title == "" else title
    multimedia = options.pop("multimedia", None)
    dissenting = options.pop("dissenting", [])
    detail = {"note_code": note_code, "note_code_name": NOTE_CODES.get(note_code or ""),
              "document_type": document_type, "title": title, "text": text, "multimedia": multimedia,
              "dissenting": dissenting}
    record = demo.record(contract=contract.id, information_type=contract.categorization, key=key,
                         title=title_of(detail, title), time=when, detail=detail, **options)
    record.detail["header"]["document_title"] = title
    return record


def _kinds(rng) -> tuple:
    return rng.choice(DOCBOOK_NOTES) if rng.random() < 0.35 else rng.choice(PLAIN)


def _demo_notes(contract, demo) -> list[Record]:
    rng, profile = demo.rng, demo.profile
    if profile == "variants":
        return _variants(contract, demo)
    if profile == "blocked":
        return [_note(contract, demo, f"voo-{i}", _kinds(rng), demo.when(365 * (i + 1) - 1, 365 * i),
                      unit=demo.units[i % len(demo.units)]) for i in range(rng.randint(2, 5))]
    if profile == "heavy":
        count = 3000 if demo.logical_address == PROVIDERS[0][4][0] else rng.randint(200, 400)
        notes = [_note(contract, demo, f"voo-{i}", _kinds(rng), demo.when(15 * 365)) for i in range(count)]
        return notes + _special(contract, demo)
    count = {"rich": rng.randint(6, 10), "not_in_tgp": 2}.get(profile, 0)
    return [_note(contract, demo, f"voo-{i}", _kinds(rng), demo.when()) for i in range(count)]


def _variants(contract, demo) -> list[Record]:
    """Egon: every variant of the contract, once."""
    rng = demo.rng
    when = [demo.when() for _ in range(8)]
    nullified = _note(contract, demo, "voo-v1", PLAIN[4], when[1])
    nullified.detail["header"]["nullified_reason"] = "Anteckningen skrevs på fel patient."
    opinion = {"id": {"root": "2c8b1f3e-5d47-4a8e-9b0a-6f1d2e3c4b5a", "extension": None},
               "time": format_timestamp(when[4] + dt.timedelta(days=12)),  # written after reading the note
               "person_id": demo.patient.id, "person_id_type": demo.patient.root,
               "person_name": patient_name(demo.patient.id) or "Patienten",
               "opinion": "Jag har aldrig haft förmaksflimmer tidigare, det var hjärtklappning av stress. Jag vill "
                          "att det framgår att jag inte samtyckte till blodförtunnande behandling."}
    return [
        _note(contract, demo, "voo-v0", PLAIN[1], when[0]),
        dataclasses.replace(nullified, nullified=True),
        _note(contract, demo, "voo-v2", PLAIN[6], when[2], signed=False),  # preliminary, unsigned
        _note(contract, demo, "voo-v3", ("auf", None, None, PLAIN[5][3]), when[3], title=None),  # no titles, no type
        _note(contract, demo, "voo-v4", DOCBOOK_NOTES[0], when[4], dissenting=[opinion]),
        _note(contract, demo, "voo-v5", ("utr", "ovr", "Remissvar ögonkliniken (inskannat)", None), when[5],
              text=None, multimedia={"media_type": "application/pdf", "value": None,
                                     "reference": f"https://bilagor.demo.invalid/{demo.logical_address}/"
                                                  f"remissvar-{rng.randint(10000, 99999)}.pdf"}),
        _note(contract, demo, "voo-v6", PLAIN[0], when[6], approved=False),  # not (yet) for the patient
        _note(contract, demo, "voo-v7", PLAIN[2], when[7], without_owner=True),
    ]


def _special(contract, demo) -> list[Record]:
    """Linda: a very long note, DocBook that is not well-formed, and DocBook with elements outside the rules."""
    long_note = _article("Epikris", *(_section(f"Vårdtillfälle {k}", "Inlagd för hjärtsvikt i försämring. "
                                               "Diuretika intravenöst med god effekt, viktnedgång 3 kg. "
                                               "Utskriven till hemmet med hemsjukvård.") for k in range(1, 41)))
    broken = ('<article xmlns="http://docbook.org/ns/docbook" version="5.0"><para>Remissvar från ögonkliniken: '
              'katarakt bilateralt, operation planeras.<para></article>')
    foreign = ('<article xmlns="http://docbook.org/ns/docbook" xmlns:xl="http://www.w3.org/1999/xlink" '
               'version="5.0"><para>Provsvar enligt tabell, se även <link xl:href="javascript:alert(1)">'
               'riktlinjen</link>.</para><informaltable><tr><td>Hb 128 g/L</td></tr></informaltable>'
               '<para onmouseover="alert(1)">Kontroll om en månad.</para></article>')
    kinds = [("sam", "epi", "Epikris (lång)", long_note), ("bes", "ova", "Remissvar", broken),
             ("bes", "ova", "Provsvarsanteckning", foreign)]
    return [_note(contract, demo, f"voo-s{i}", kind[:3] + (None,), demo.when(), text=kind[3])
            for i, kind in enumerate(kinds)]


# -- the view -----------------------------------------------------------------------------------------


def _date(stamp: str | None) -> str:
    when = shown_timestamp(stamp)
    return when.strftime("%Y-%m-%d %H:%M") if when else "–"


def _details(r: Record) -> list[tuple[str, object]]:
    d, header = r.detail, r.detail.get("header") or {}
    rows: list[tuple[str, object]] = []
    if d.get("text"):
        rows.append(("Anteckning", docbook.to_html(d["text"])))
    if media := d.get("multimedia"):
        rows.append(("Bilaga", f"{media.get('media_type') or 'okänd typ'}: "
                               f"{media.get('reference') or 'inbäddad fil, visas inte'}"))
    for o in d.get("dissenting") or []:
        rows.append(("Avvikande mening", f"{_date(o.get('time'))} {o.get('person_name')}: {o.get('opinion')}"))
    if d.get("document_type"):
        rows.append(("Dokumenttyp", DOCUMENT_TYPES.get(d["document_type"], d["document_type"])))
    signature = header.get("signature")
    rows += [("Signerad", f"{_date(signature.get('time'))} av {signature.get('name') or signature.get('hsa_id')}"
              if signature else "Nej, osignerad"),
             ("Får visas för patienten", "Ja" if r.approved_for_patient else "Nej")]
    if r.nullified and header.get("nullified_reason"):
        rows.append(("Orsak till makulering", header["nullified_reason"]))
    return rows


def _author(r: Record) -> str:
    role = ((r.detail.get("header") or {}).get("author_role") or {}).get("displayName")
    return ", ".join(x for x in (r.author, role) if x) or "–"


@hookimpl
def register_contracts(register):
    register(GetCareDocumentation2())
    register(GetCareDocumentation3())


@hookimpl
def register_views(register):
    register(InformationView(
        slug="anteckningar", title="Journalanteckningar", categorizations=("voo",), order=20,
        columns=(("Datum", lambda r: r.time.strftime("%Y-%m-%d") if r.time else "–"),
                 ("Anteckning", lambda r: f"{r.title} (makulerad)" if r.nullified else r.title),
                 ("Typ", lambda r: r.detail.get("note_code_name") or "–"),
                 ("Författare", _author),
                 ("Vårdenhet", lambda r: r.care_unit_name or r.care_unit_id or "Okänd"),
                 ("Vårdgivare", lambda r: r.care_provider_name or r.care_provider_id or "Okänd")),
        details=_details,
        help="Journalanteckningar från vårdgivare i sammanhållen journalföring: besök, telefonkontakter, "
             "epikriser och andra anteckningar.",
    ))
