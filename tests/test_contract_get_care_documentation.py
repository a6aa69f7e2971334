"""GetCareDocumentation 2.1 and 3.0 specifics: the two majors agree, partial answers (hasMore), the notes view.

Generic checks (schema, round trip, zeep) are in test_conformance.
"""

from __future__ import annotations

import datetime as dt

import pytest

from lxml import etree

from npo_core import Query, parse_timestamp, riv, soap
from npo_core.demo import demo_source
from npo_core.demo.platform import DemoProducers
from npo_core.identity import parse_patient_id
from npo_core.schemas import SchemaSet
from npo_core.riv.jol import BAD_REFERENCE, PAGE_SIZE, PagedQuery
from npo_core.riv.jol import identifier as ii_value
from npo_plugins.contracts.get_care_documentation import (NOTE_CODES, GetCareDocumentation2, GetCareDocumentation3,
                                                          _details)

from .conftest import DEMO_TODAY, login
from .test_docbook import assert_inert

V2, V3 = GetCareDocumentation2(), GetCareDocumentation3()
EGON, LINDA = "193601286499", "189908029805"
TAKECARE = "SE2321000016-TKC1"  # Linda's 3,000 notes are here


@pytest.fixture(scope="module")
def schemas(bundle):
    return SchemaSet(bundle)


def notes(contract, pid: str, address: str = TAKECARE):
    return contract.demo_records(demo_source(pid, address, contract.id, DEMO_TODAY))


@pytest.mark.parametrize("contract", [V2, V3], ids=["2.1", "3.0"])
def test_requests_carry_every_filter_and_validate(contract, schemas):
    query = Query(parse_patient_id("196812732391"), period=(dt.date(2020, 1, 1), dt.date(2026, 1, 1)),
                  care_units=("SE2321000016-9RKT", "SE2321000016-A1SD"), source_system=TAKECARE,
                  **({"care_providers": ("SE2321000016-F0VB",), "has_more_reference": "eyJvZmZzZXQiOiA1MDB9"}
                     if contract is V3 else {}))
    element = contract.build_request(query)
    assert schemas.issues(contract, element) == []
    back = contract.parse_request(element)
    assert (back.patient, back.period, back.care_units, back.source_system) == \
        (query.patient, query.period, query.care_units, query.source_system)
    assert (back.care_providers, back.has_more_reference) == (query.care_providers, query.has_more_reference)


def as_patient_summary(jol: dict, title: str | None) -> dict:
    """A 3.0 JoL header in 2.1's header shape, for comparing what both majors say."""
    author, signed = jol.get("author") or {}, jol.get("signature")
    return {"document_time": jol["record"]["time"], "author_time": author.get("time"),
            "author_hsa_id": ii_value(author.get("id")), "author_name": author.get("name"),
            "author_role": author.get("role"),
            "org_unit": author.get("org_unit") and {k: author["org_unit"].get(k) for _e, k, _t in riv.ORG_UNIT},
            "signature": signed and {"time": signed["time"], "hsa_id": ii_value(signed.get("id")),
                                     "name": signed.get("name")},
            "care_contact_id": None, "nullified_reason": None, "document_title": title}


@pytest.mark.parametrize("pid", ["199701062383", EGON, "194602226559"])
def test_both_majors_describe_the_same_notes(pid):
    """Same ids, records and content; 3.0 has no document type and no nullified notes, so it leaves those out."""
    for address in (TAKECARE, "SE2120003005-PRC1"):
        two, three = notes(V2, pid, address), notes(V3, pid, address)
        assert [r.id for r in two if not r.nullified] == [r.id for r in three]
        for a, b in zip([r for r in two if not r.nullified], three):
            assert {**a.to_json(detail=False), "contract": None} == {**b.to_json(detail=False), "contract": None}
            note, body = dict(a.detail["note"]), dict(b.detail)
            assert {k: note.get(k) for k in ("title", "text", "multimedia")} == \
                {k: body.get(k) for k in ("title", "text", "multimedia")}
            assert body["note_code"] == {"code": note["note_code"], "codeSystem": riv.codes.KV_NOTE_TYPE,
                                         "displayName": NOTE_CODES[note["note_code"]]}
            assert [{**o, "person_id": (o["person_id"]["id"], o["person_id"]["type"])}
                    for o in note.get("dissenting", [])] == \
                [{**o, "person_id": (o["person_id"]["extension"], o["person_id"]["root"])}
                 for o in body.get("dissenting", [])]
            assert a.detail["header"] == as_patient_summary(body["header"], note.get("title"))
            assert "document_type" not in body and set(body) <= {"note_code", "title", "text", "multimedia",
                                                                  "dissenting", "header"}


def test_egon_has_every_variant():
    two = notes(V2, EGON)
    assert [r for r in two if r.nullified][0].detail["header"]["nullified_reason"]
    assert any(r.detail["header"]["signature"] is None for r in two)
    assert any(not r.approved_for_patient for r in two)
    assert any(not r.has_owner for r in two)
    untitled = [r for r in two if "title" not in r.detail["note"]]
    assert untitled and untitled[0].title == "Anteckning utan fysiskt möte"
    assert "document_type" not in untitled[0].detail["note"]
    attachment = [r.detail["note"] for r in two if r.detail["note"].get("multimedia")][0]
    assert "text" not in attachment and attachment["multimedia"]["mediaType"] == "application/pdf"
    assert attachment["multimedia"]["reference"].startswith("https://")
    [opinion] = [o for r in two for o in r.detail["note"].get("dissenting", [])]
    assert opinion["person_id"] == {"id": EGON, "type": "1.2.752.129.2.1.3.1"}
    assert opinion["person_name"] == "Egon Johansson" and opinion["id"]["root"]
    assert any(r.detail["note"]["text"].startswith("<article") for r in two if r.detail["note"].get("text"))
    [opinion] = [o for r in notes(V3, EGON) for o in r.detail.get("dissenting", [])]  # an IIType in 3.0
    assert opinion["person_id"] == {"root": "1.2.752.129.2.1.3.1", "extension": EGON}


def _first(contract, pid=EGON) -> tuple:
    payload = contract.render_response(notes(contract, pid), Query(parse_patient_id(pid)))
    return payload, payload.find(f".//{{{contract.core_namespace}}}{contract.body_element}")


def test_every_element_of_a_note_is_kept(schemas):
    """The note code's whole CV (3.0), an embedded attachment, a header's care process: as the producer sent them."""
    payload, body = _first(V3)
    code = body.find(V3.c("clinicalDocumentNoteCode"))
    for local, value in (("codeSystemName", "KV Anteckningstyp"), ("codeSystemVersion", "2.0"),
                         ("originalText", "Besök")):
        code.insert({"codeSystemName": 2, "codeSystemVersion": 3}.get(local, len(code)), etree.Element(V3.c(local)))
        code.find(V3.c(local)).text = value
    media = etree.SubElement(body, V3.c("multimediaEntry"))
    for local, value in (("mediaType", "image/png"), ("value", "iVBORw0KGgo="), ("reference", "https://x.invalid/a")):
        etree.SubElement(media, V3.c(local)).text = value
    body.insert(list(body).index(media), body.find(V3.c("clinicalDocumentNoteText")))  # the schema's order
    access = payload.find(f".//{{{V3.core_namespace}}}accessControlHeader")
    process = etree.Element(V3.c("careProcessId"))
    etree.SubElement(process, V3.c("root")).text = "1.2.752.129.2.1.2.1"
    access.insert(3, process)
    assert schemas.issues(V3, payload) == []
    record = V3.parse_response(payload).records[0]
    assert record.detail["note_code"]["codeSystemName"] == "KV Anteckningstyp"
    assert record.detail["note_code"]["codeSystemVersion"] == "2.0" and record.detail["note_code"]["originalText"]
    assert record.detail["multimedia"] == {"mediaType": "image/png", "value": "iVBORw0KGgo=",
                                           "reference": "https://x.invalid/a"}
    assert record.detail["header"]["access"]["care_process_id"] == {"root": "1.2.752.129.2.1.2.1"}
    assert dict(_details(record))["Anteckningstyp"] == f"{record.detail['note_code']['code']} (KV Anteckningstyp)"
    again = V3.render_response([record], Query(parse_patient_id(EGON)))
    assert schemas.issues(V3, again) == [] and V3.parse_response(again).records[0].to_json() == record.to_json()


def test_a_2_1_note_without_a_title_is_titled_by_its_header_then_by_its_kind():
    payload, body = _first(V2)
    note = body.find(V2.c("clinicalDocumentNote"))
    note.remove(note.find(V2.c("clinicalDocumentNoteTitle")))
    header = payload.find(f".//{{{V2.core_namespace}}}careDocumentationHeader")
    header.find(V2.c("documentTitle")).text = "Mottagningsanteckning"
    assert V2.parse_response(payload).records[0].title == "Mottagningsanteckning"
    header.remove(header.find(V2.c("documentTitle")))
    record = V2.parse_response(payload).records[0]
    assert record.title == NOTE_CODES[record.detail["note"]["note_code"]]
    assert dict(_details(record))["Anteckningstyp"] == f"{record.detail['note']['note_code']} (KV Anteckningstyp)"


def test_3_0_decides_on_its_header_alone_and_as_a_whole_reading_would(monkeypatch):
    """The JoL header's decision fields by a few paths; the body and the whole header only when asked for."""
    for pid, address in ((EGON, TAKECARE), (LINDA, "SE2321000131-MLM1")):
        payload = V3.render_response(notes(V3, pid, address), Query(parse_patient_id(pid)))
        reads = []
        monkeypatch.setattr(GetCareDocumentation3, "read_body", lambda self, el: reads.append(el) or {})
        records = V3.parse_response(payload).records
        assert records and not reads
        monkeypatch.undo()
        for el, r in zip(payload.iterchildren(V3.q("careDocumentation")), records):
            header = riv.parse(el.find(V3.c("header")), V3.core_namespace, V3.header)  # read whole
            access, entry, author = header["access"], header["record"], header.get("author") or {}
            org, unit = author.get("org_unit") or {}, ii_value(access.get("care_unit"))
            assert (r.id, r.care_unit_id, r.care_provider_id, r.patient_id, r.source_system) == (
                ii_value(entry["id"]), unit, ii_value(access.get("care_provider")), ii_value(access["patient_id"]),
                ii_value(header["source_system"]))
            assert (r.author, r.approved_for_patient, r.care_unit_name) == (
                author.get("name"), access["approved_for_patient"], org.get("orgUnitName") if unit else None)
            assert r.time == parse_timestamp(entry["time"]) and r.block_time == parse_timestamp(access["block_time"])
            assert dict(r.detail)["header"] == header


def test_harry_has_two_to_five_notes_per_source_over_units_and_years():
    for address in (TAKECARE, "SE2321000131-MLM1", "SE2321000255-MEL1"):
        records = notes(V2, "194602226559", address)
        assert 2 <= len(records) <= 5
        assert len({r.care_unit_id for r in records}) == min(len(records), 2 if address != TAKECARE else 3)
        assert len({r.time.year for r in records}) >= 2


def test_lindas_special_notes_show_as_inert_text():
    special = {r.title: dict(_details(r))["Anteckning"] for r in notes(V2, LINDA) if "-voo-s" in r.id}
    assert set(special) == {"Epikris (lång)", "Remissvar", "Provsvarsanteckning"}
    for html in special.values():
        assert_inert(str(html))
    assert special["Remissvar"].startswith("<p>&lt;article")  # not well-formed: shown as text
    assert "riktlinjen" in special["Provsvarsanteckning"] and "javascript" not in special["Provsvarsanteckning"]
    assert special["Epikris (lång)"].count("<section>") == 40


def _ask(producers, query: Query) -> tuple[bytes, object]:
    wire = producers.answer(V3, soap.envelope(V3.build_request(query), TAKECARE))
    return wire, V3.parse_response(soap.unwrap(soap.parse_xml(wire))[0])


def test_a_producer_pages_a_large_answer_newest_first_and_follow_ups_fetch_the_rest(schemas):
    producers = DemoProducers({V3.id: V3}, DEMO_TODAY)
    expected = notes(V3, LINDA)
    assert len(expected) > 3000
    query, pages, seen = Query(parse_patient_id(LINDA)), [], []
    while True:
        wire, answer = _ask(producers, query)
        assert schemas.issues(V3, soap.unwrap(soap.parse_xml(wire))[0]) == []
        assert answer.result_code == "OK"
        pages.append(len(answer.records))
        seen += answer.records
        if not answer.has_more:
            break
        [(address, reference)] = answer.has_more
        assert address == TAKECARE
        query = Query(parse_patient_id(LINDA), has_more_reference=reference)
    assert pages == [PAGE_SIZE] * (len(expected) // PAGE_SIZE) + [len(expected) % PAGE_SIZE]
    assert sorted(r.id for r in seen) == sorted(r.id for r in expected)
    assert [r.time for r in seen] == sorted((r.time for r in expected), reverse=True)


def test_a_bad_reference_is_a_logical_error():
    producers = DemoProducers({V3.id: V3}, DEMO_TODAY)
    for reference in ("not base64!", "eyJmb28iOiAxfQ==", "eyJvZmZzZXQiOiAtMX0="):
        _, answer = _ask(producers, Query(parse_patient_id(LINDA), has_more_reference=reference))
        assert (answer.result_code, answer.message, answer.records) == ("ERROR", BAD_REFERENCE, [])


def test_only_a_producer_pages_a_plain_render_is_whole():
    records = notes(V3, LINDA)
    whole = V3.parse_response(V3.render_response(records, Query(parse_patient_id(LINDA))))
    assert len(whole.records) == len(records) and not whole.has_more
    first = V3.parse_response(V3.render_response(records, PagedQuery(parse_patient_id(LINDA))))
    assert len(first.records) == PAGE_SIZE and first.has_more


def test_hasmore_pairs_without_both_parts_are_ignored():
    payload = V3.render_response([], Query(parse_patient_id(LINDA)))
    more = payload.makeelement(V3.q("hasMore"))
    more.append(payload.makeelement(V3.q("logicalAddress")))
    more[0].text = TAKECARE
    payload.insert(0, more)
    assert V3.parse_response(payload).has_more == []


async def test_the_core_follows_hasmore_to_the_end(demo):
    """With 2.1 off, all of Linda's notes at TakeCare must come through 3.0's follow-up requests."""
    demo.core.registry.set_contract_enabled("GetCareDocumentation:2", "demo", False)
    anna = await login(demo, patient=LINDA, relation=True)
    result = await anna.records("anteckningar")
    status = [s for s in result["sources"] if s["logical_address"] == TAKECARE and s["contract"] ==
              "GetCareDocumentation:3"]
    assert [s["status"] for s in status] == ["ok"]
    shown = [r for r in result["records"] if r["source_system"] == TAKECARE]
    assert len(shown) == len(notes(V3, LINDA))


async def test_a_note_page_renders_docbook_and_keeps_producer_markup_inert(demo):
    await login(demo, patient=EGON, relation=True)
    page = await (await demo.get(f"/patient/{EGON}/anteckningar/{TAKECARE}-voo-v4")).text()
    assert '<div class="docbook">' in page and "<h4>Epikris</h4>" in page
    assert "<strong>Återbesök på hjärtmottagningen om tre månader.</strong>" in page
    assert "Avvikande mening" in page and "Egon Johansson: Jag har aldrig" in page
    page = await (await demo.get(f"/patient/{EGON}/anteckningar/{TAKECARE}-voo-v0")).text()
    assert "Kontaktorsak: Årskontroll hypertoni.<br>" in page

