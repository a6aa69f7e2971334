"""GetLaboratoryOrderOutcome 3.1 and 4.2 specifics (generic checks: test_conformance)."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from lxml import etree
from markupsafe import Markup

from npo_core import Query, soap
from npo_core.demo import PATIENTS, PROVIDERS, demo_source
from npo_core.identity import parse_patient_id
from npo_core.schemas import SchemaSet
from npo_plugins.contracts import get_laboratory_order_outcome as lab

from .conftest import DEMO_TODAY, login

V3, V4 = lab.GetLaboratoryOrderOutcome3(), lab.GetLaboratoryOrderOutcome4()
ADDRESSES = [p[4][0] for p in PROVIDERS]
EGON, FIONA, LINDA = "193601286499", "199701062383", "189908029805"


@pytest.fixture(scope="module")
def schemas(bundle):
    return SchemaSet(bundle)


def answers(contract, pid, address=ADDRESSES[0]):
    return contract.demo_records(demo_source(pid, address, contract.id, DEMO_TODAY))


def payload(contract, records, query=None):
    return contract.render_response(records, query or Query(parse_patient_id(records[0].patient_id)))


def wire(contract, records, query=None):
    return soap.envelope(payload(contract, records, query))


def decode(contract, data: bytes):
    return contract.parse_response(soap.unwrap(soap.parse_xml(data))[0])


def view():
    views = []
    lab.register_views(views.append)
    return views[0]


def test_both_majors_describe_the_same_answers_with_the_same_ids():
    """What differs is only what one wire cannot carry: the lab in 3.x, analysis groups in 4.x."""
    for pid in PATIENTS:
        for address in ADDRESSES:
            three, four = answers(V3, pid, address), answers(V4, pid, address)
            assert [r.id for r in three] == [r.id for r in four] and len({r.id for r in four}) == len(four)
            for a, b in zip(three, four):
                assert (a.time, a.block_time, a.title, a.has_owner) == (b.time, b.block_time, b.title, b.has_owner)
                assert {**a.detail, "lab": None} == {**b.detail, "lab": None, "analyses": [
                    {k: v for k, v in x.items() if k != "group"} for x in b.detail["analyses"]]}


def test_requests_carry_every_filter_the_major_knows(schemas):
    query = Query(parse_patient_id("196812732391"), period=(dt.date(2024, 1, 1), dt.date(2026, 6, 30)),
                  care_units=("SE2321000016-9RKT", "SE2321000016-A1SD"), care_providers=("SE2321000016-F0VB",),
                  source_system="SE2321000016-TKC1")
    for contract in (V3, V4):
        element = contract.build_request(query)
        assert schemas.issues(contract, element) == []
        back = contract.parse_request(element)
        assert (back.patient, back.period, back.care_units, back.source_system) == (
            query.patient, query.period, query.care_units, query.source_system)
    assert V4.parse_request(V4.build_request(query)).care_providers == query.care_providers
    four = V4.build_request(query)
    assert four.findtext(f"{V4.q('patientId')}/{{{lab.CORE4}}}root") == "1.2.752.129.2.1.3.3"
    assert four.findtext(f"{V4.q('careGiverHSAId')}/{{{lab.CORE4}}}root") == "1.2.752.129.2.1.4.1"


def test_the_producer_filters_on_care_giver_unit_and_sampling_day():
    records = answers(V4, FIONA)
    patient = parse_patient_id(FIONA)
    assert decode(V4, wire(V4, records, Query(patient, care_providers=("SE0000000000-0000",)))).records == []
    unit = records[0].care_unit_id
    by_unit = decode(V4, wire(V4, records, Query(patient, care_units=(unit,)))).records
    assert by_unit and {r.care_unit_id for r in by_unit} == {unit}
    day = records[0].time.date()
    assert [r.id for r in decode(V4, wire(V4, records, Query(patient, period=(day, day)))).records] == [
        r.id for r in records if r.time.date() == day]


@pytest.mark.parametrize("text,parsed", [
    ("117–153", ("117", "153", None)), ("3,5 - 4,4", ("3.5", "4.4", None)), ("<5", (None, "5", None)),
    (">60", ("60", None, None)), ("Negativ", (None, None, "Negativ")), (None, (None, None, None))])
def test_reference_intervals_written_as_text_become_numbers(text, parsed):
    assert lab._split_reference(text) == parsed


def test_pathological_results_are_flagged_in_both_majors():
    records = answers(V4, FIONA) + answers(V4, LINDA, ADDRESSES[1])
    analyses = [a for r in records for a in r.detail["analyses"]]
    assert {lab._deviation(a) for a in analyses} >= {None, "above", "below"}
    root = payload(V4, records)
    codes = {e.text for e in root.iter(f"{{{lab.CORE4}}}code") if e.getparent().tag == f"{{{lab.CORE4}}}interpretation"}
    assert codes <= {"281302008", "281300000", "263654008"} and len(codes) >= 2
    flags = payload(V3, answers(V3, FIONA)).iter(f"{{{lab.CORE3}}}pathologicalFlag")
    assert {f.text for f in flags} == {"true", "false"}
    for a in analyses:
        assert a["code_system"] == lab.NPU and a["code"].startswith("NPU") and a["value"] and a["sampled"]


def test_egon_has_every_variant():
    for contract in (V3, V4):
        full, bare, preliminary, text, ownerless = answers(contract, EGON)
        assert full.detail["order"]["reason"] and full.detail["header"]["signature"]
        assert bare.detail["order"] is None and bare.detail["report"] is None
        assert [(a["code"], a["name"], a["reference"]) for a in bare.detail["analyses"]] == [
            (None, "S-Digoxin", "Terapeutiskt intervall 0,6–1,2 nmol/L")]
        assert preliminary.detail["status"] == "preliminary" and preliminary.detail["header"]["signature"] is None
        assert preliminary.detail["analyses"][-1]["value"] is None and lab._result(preliminary.detail["analyses"][-1]) \
            == "Svar väntas"
        assert text.detail["analyses"][-1]["value"] == "Positiv" and lab._deviation(text.detail["analyses"][-1]) \
            == "abnormal"
        assert not ownerless.has_owner and decode(contract, wire(contract, [ownerless])).records[0].to_json() == \
            ownerless.to_json()
    root = payload(V4, [ownerless])
    assert root.findtext(f".//{{{lab.CORE4}}}accountableCareGiver/{{{lab.CORE4}}}extension") == ""


def test_what_real_producers_send_beyond_the_demo_is_understood():
    """A tilläggssvar, a result comment, an analysis without outcome fields, and an ERROR result."""
    record = answers(V3, FIONA)[0]
    root = payload(V3, [record])
    body = root.find(f".//{{{lab.CORE3}}}laboratoryOrderOutcomeBody")
    body.find(f"{{{lab.CORE3}}}resultType").text = "TILL"
    comment = etree.Element(f"{{{lab.CORE3}}}resultComment")
    comment.text = "Kompletterande analys tillagd."
    body.find(f"{{{lab.CORE3}}}discipline").addnext(comment)
    for outcome in body.iter(f"{{{lab.CORE3}}}analysisOutcome"):
        for child in list(outcome)[1:]:
            if child.tag != f"{{{lab.CORE3}}}pathologicalFlag":
                outcome.remove(child)
    result = root.find(V3.q("result"))
    result.find(f"{{{lab.CORE3}}}resultCode").text = "INFO"
    etree.SubElement(result, f"{{{lab.CORE3}}}message").text = "Vissa svar kan saknas."
    answer = V3.parse_response(root)
    parsed = answer.records[0]
    assert (answer.result_code, answer.message) == ("INFO", "Vissa svar kan saknas.")
    assert parsed.detail["status"] == "final" and parsed.detail["report"].endswith("Kompletterande analys tillagd.")
    assert all(a["unit"] is None and a["low"] is None for a in parsed.detail["analyses"])


def test_a_sparse_4x_answer_parses_without_errors():
    record = answers(V4, EGON)[1]
    root = payload(V4, [record])
    for tag in ("author", "signature", "specimen", "recipientUnit", "identifier"):
        for el in list(root.iter(f"{{{lab.CORE4}}}{tag}")):
            if tag != "identifier" or el.getparent().tag == f"{{{lab.CORE4}}}analysis":
                el.getparent().remove(el)
    parsed = V4.parse_response(root).records[0]
    assert parsed.id == record.id and parsed.author is None and parsed.care_unit_name is None
    assert parsed.detail["analyses"][0]["sampled"] is None and parsed.time == parsed.block_time


def test_lindas_largest_answer_is_generated_rendered_and_parsed_quickly():
    for contract in (V3, V4):
        start = time.perf_counter()
        records = answers(contract, LINDA)
        data = wire(contract, records)
        answer = decode(contract, data)
        elapsed = time.perf_counter() - start
        results = sum(len(r.detail["analyses"]) for r in answer.records)
        print(f"\n{contract.id}: {len(records)} answers, {results} results, {len(data) / 1e6:.1f} MB, {elapsed:.2f} s")
        assert len(answer.records) == len(records) and 4500 <= results <= 5500
        assert len(data) < soap.MAX_BODY_BYTES and elapsed < 10
    assert all(200 <= sum(len(r.detail["analyses"]) for r in answers(V4, LINDA, a)) <= 600 for a in ADDRESSES[1:])


def test_the_view_gives_plain_text_even_for_markup_from_the_producer():
    records = answers(V4, LINDA)
    shown = view()
    cells = [cell(r) for r in records[:3] for _, cell in shown.columns] + [
        value for r in records[:3] for _, value in shown.details(r)]
    assert all(isinstance(c, str) and not isinstance(c, Markup) for c in cells)
    assert any("<script>alert(1)</script>" in c for c in cells)
    full = records[0].detail["analyses"]
    assert len(full) == len(lab.ANALYSES) and records[0].title.endswith(f"m.fl. ({len(full)} analyser)")


def test_the_view_reads_like_a_swedish_lab_list():
    preliminary = answers(V4, EGON)[2]
    shown = dict((heading, cell(preliminary)) for heading, cell in view().columns)
    assert shown["Status"] == "Preliminärsvar" and "Svar väntas" in shown["Analyser"]
    a = {"value": "4.7", "unit": "mmol/L", "low": "3.5", "high": "4.4", "abnormal": True, "reference": None}
    assert lab._result(a) == "4,7 mmol/L ↑" and lab._analysis_line({**a, "population": None, "comment": None}) == \
        "4,7 mmol/L ↑ – ref. 3,5–4,4"


async def test_the_core_shows_an_answer_from_both_majors_once(demo):
    anna = await login(demo, patient=FIONA, relation=True)
    shown = (await anna.records("labb"))["records"]
    assert shown and len({(r["source_system"], r["id"]) for r in shown}) == len(shown)
    assert {r["contract"] for r in shown} == {"GetLaboratoryOrderOutcome:4"}
    own = [r for r in answers(V4, FIONA) if r.care_provider_id == shown[0]["care_provider_id"]]
    assert {r["id"] for r in shown} == {r.id for r in own}


def test_module_constants_are_the_official_ones():
    assert (V3.soap_action, V4.soap_action) == (
        "urn:riv:clinicalprocess:healthcond:actoutcome:GetLaboratoryOrderOutcomeResponder:3:GetLaboratoryOrderOutcome",
        "urn:riv:clinicalprocess:healthcond:actoutcome:GetLaboratoryOrderOutcomeResponder:4:GetLaboratoryOrderOutcome")
    assert V3.categorizations == V4.categorizations == ("und-kkm-ure",)


async def test_the_pages_show_answers_and_escape_what_the_producer_wrote(demo):
    await login(demo, patient=LINDA, relation=True)
    listing = await demo.get(f"/patient/{LINDA}/labb")
    assert listing.status == 200 and "Klinisk kemi och laboratorium" in await listing.text()
    record = answers(V4, LINDA)[1]
    page = await (await demo.get(f"/patient/{LINDA}/labb/{record.id}")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
