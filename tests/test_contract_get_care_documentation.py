"""GetCareDocumentation 2.1 and 3.0 specifics: the two majors agree, partial answers (hasMore), the notes view.

Generic checks (schema, round trip, zeep) are in test_conformance.
"""

from __future__ import annotations

import datetime as dt

import pytest

from npo_core import Query, soap
from npo_core.demo import demo_source
from npo_core.demo.platform import DemoProducers
from npo_core.identity import parse_patient_id
from npo_core.schemas import SchemaSet
from npo_plugins.contracts.get_care_documentation import (
    BAD_REFERENCE, PAGE_SIZE, GetCareDocumentation2, GetCareDocumentation3, PagedQuery, _details)

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


@pytest.mark.parametrize("pid", ["199701062383", EGON, "194602226559"])
def test_both_majors_describe_the_same_notes(pid):
    """Same ids and content; 3.0 has no document type and no nullified notes, so it leaves those out."""
    for address in (TAKECARE, "SE2120003005-PRC1"):
        two, three = notes(V2, pid, address), notes(V3, pid, address)
        assert [r.id for r in two if not r.nullified] == [r.id for r in three]
        for a, b in zip([r for r in two if not r.nullified], three):
            left, right = a.to_json(), b.to_json()
            left["detail"]["document_type"] = None
            assert {**left, "contract": None} == {**right, "contract": None}


def test_egon_has_every_variant():
    two = notes(V2, EGON)
    assert [r for r in two if r.nullified][0].detail["header"]["nullified_reason"]
    assert any(r.detail["header"]["signature"] is None for r in two)
    assert any(not r.approved_for_patient for r in two)
    assert any(not r.has_owner for r in two)
    untitled = [r for r in two if r.detail["title"] is None]
    assert untitled and untitled[0].title == "Anteckning utan fysiskt möte" and not untitled[0].detail["document_type"]
    attachment = [r for r in two if r.detail["multimedia"]][0]
    assert attachment.detail["text"] is None and attachment.detail["multimedia"]["media_type"] == "application/pdf"
    [opinion] = [o for r in two for o in r.detail["dissenting"]]
    assert opinion["person_id"] == EGON and opinion["person_name"] == "Egon Johansson"
    assert any(r.detail["text"].startswith("<article") for r in two if r.detail["text"])


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

