"""GetLaboratoryOrderOutcome 3.1 and 4.2 (and 4.0 answers) specifics (generic checks: test_conformance)."""

from __future__ import annotations

import copy
import datetime as dt
import time

import pytest
from lxml import etree
from markupsafe import Markup

from npo_core import Query, soap
from npo_core.demo import PATIENTS, PROVIDERS, demo_source
from npo_core.demo.content.get_laboratory_order_outcome import ANALYSES
from npo_core.identity import parse_patient_id
from npo_core.riv.codes import NPU
from npo_core.schemas import SchemaSet
from npo_plugins.contracts import get_laboratory_order_outcome as lab

from .conftest import DEMO_TODAY, login

V3, V4 = lab.GetLaboratoryOrderOutcome3(), lab.GetLaboratoryOrderOutcome4()
C3, C4 = (f"{{{c.core_namespace}}}" for c in (V3, V4))
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


def shown(record) -> dict:
    """What the view shows of a record: its columns and detail rows."""
    v = view()
    return {**{heading: cell(record) for heading, cell in v.columns}, **dict(v.details(record))}


def analyses4(record) -> list[dict]:
    return [a for g in record.detail.get("groups", []) for a in g["analyses"]]


def test_both_majors_describe_the_same_answers_with_the_same_ids():
    """Each major writes the answer in its own shape; the records and what the view shows of them agree."""
    for pid in PATIENTS:
        for address in ADDRESSES:
            three, four = answers(V3, pid, address), answers(V4, pid, address)
            assert [r.id for r in three] == [r.id for r in four] and len({r.id for r in four}) == len(four)
            for a, b in zip(three, four):
                assert (a.time, a.block_time, a.title, a.has_owner) == (b.time, b.block_time, b.title, b.has_owner)
                items3, items4 = lab._items(a), lab._items(b)
                same = lambda i: (i[0], (i[1] or {}).get("code"), i[2], i[3])  # noqa: E731  name, code, result, flag
                assert [same(i) for i in items3] == [same(i) for i in items4]
                assert all((y[4] or "").startswith(x[4] or "") for x, y in zip(items3, items4))  # 4.x adds a unit
                assert lab._status(a) == lab._status(b)
                assert (a.detail.get("order") or {}).get("reason") == (b.detail.get("referral") or {}).get("question")
                assert a.detail.get("report") == b.detail.get("text")


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
    assert four.findtext(f"{V4.q('patientId')}/{C4}root") == "1.2.752.129.2.1.3.3"
    assert four.findtext(f"{V4.q('careGiverHSAId')}/{C4}root") == "1.2.752.129.2.1.4.1"


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
    assert lab.split_reference(text) == parsed


def test_pathological_results_are_flagged_in_both_majors():
    records = answers(V4, FIONA) + answers(V4, LINDA, ADDRESSES[1])
    assert {i[3] for r in records for i in lab._items(r)} >= {"", " ↑", " ↓"}
    root = payload(V4, records)
    codes = {e.text for e in root.iter(f"{C4}code") if e.getparent().tag == f"{C4}interpretation"}
    assert codes <= {"281302008", "281300000", "263654008"} and len(codes) >= 2
    flags = payload(V3, answers(V3, FIONA)).iter(f"{C3}pathologicalFlag")
    assert {f.text for f in flags} == {"true", "false"}
    for a in (a for r in records for a in analyses4(r)):
        assert a["code"]["codeSystem"] == NPU and a["code"]["code"].startswith("NPU")
        assert a["results"][0]["value"] and a["specimens"][0]["time"]


def test_egon_has_every_variant():
    for contract in (V3, V4):
        full, bare, preliminary, text, ownerless = answers(contract, EGON)
        assert full.detail["header"]["signature"]
        assert shown(full)["Frågeställning"] and shown(preliminary)["Status"] == "Preliminärsvar"
        assert "Frågeställning" not in shown(bare) and "Utlåtande" not in shown(bare)
        assert [(i[0], (i[1] or {}).get("code"), i[4]) for i in lab._items(bare)] == [
            ("S-Digoxin", None, "Terapeutiskt intervall 0,6–1,2 nmol/L")]
        assert not preliminary.detail["header"].get("signature")
        assert lab._result(lab._items(preliminary)[-1]) == "Svar väntas"
        assert lab._items(text)[-1][2:4] == ("Positiv", " *")
        assert not ownerless.has_owner and decode(contract, wire(contract, [ownerless])).records[0].to_json() == \
            ownerless.to_json()
    three, four = answers(V3, EGON), answers(V4, EGON)
    assert three[1].detail["order"] == {} and "referral" not in four[1].detail  # no order: 3.x still writes one
    assert payload(V3, [three[1]]).find(f".//{C3}order/{C3}orderId") is not None
    assert four[2].detail["type"]["code"] == "preliminary" and three[2].detail["result_type"] == "PREL"
    root = payload(V4, [four[4]])
    assert root.findtext(f".//{C4}accountableCareGiver/{C4}extension") == ""


def test_what_real_producers_send_beyond_the_demo_is_understood():
    """A tilläggssvar, a result comment, an analysis without outcome fields, and an INFO result."""
    record = answers(V3, FIONA)[0]
    root = payload(V3, [record])
    body = root.find(f".//{C3}laboratoryOrderOutcomeBody")
    body.find(f"{C3}resultType").text = "TILL"
    comment = etree.Element(f"{C3}resultComment")
    comment.text = "Kompletterande analys tillagd."
    body.find(f"{C3}discipline").addnext(comment)
    for outcome in body.iter(f"{C3}analysisOutcome"):
        for child in list(outcome)[1:]:
            if child.tag != f"{C3}pathologicalFlag":
                outcome.remove(child)
    result = root.find(V3.q("result"))
    result.find(f"{C3}resultCode").text = "INFO"
    etree.SubElement(result, f"{C3}message").text = "Vissa svar kan saknas."
    answer = V3.parse_response(root)
    parsed = answer.records[0]
    assert (answer.result_code, answer.message) == ("INFO", "Vissa svar kan saknas.")
    assert parsed.detail["result_type"] == "TILL" and lab._status(parsed) == "Tilläggssvar"
    assert shown(parsed)["Kommentar"] == "Kompletterande analys tillagd."
    assert all(set(a["outcome"]) == {"value", "pathological"} for a in parsed.detail["analyses"])
    assert all(i[4] is None for i in lab._items(parsed))


def test_a_sparse_4x_answer_parses_without_errors():
    record = answers(V4, EGON)[1]
    root = payload(V4, [record])
    for tag in ("author", "signature", "specimen", "recipientUnit", "identifier"):
        for el in list(root.iter(f"{C4}{tag}")):
            if tag != "identifier" or el.getparent().tag == f"{C4}analysis":
                el.getparent().remove(el)
    parsed = V4.parse_response(root).records[0]
    assert parsed.id == record.id and parsed.author is None and parsed.care_unit_name is None
    assert "specimens" not in analyses4(parsed)[0] and parsed.time == parsed.block_time
    assert all(isinstance(value, str) for _, value in view().details(parsed))


def with_value(value: etree._Element) -> etree._Element:
    """Fiona's first 4.2 answer, its first result's value replaced."""
    root = payload(V4, answers(V4, FIONA)[:1])
    old = next(root.iter(f"{C4}result")).find(f"{C4}value")
    old.getparent().replace(old, value)
    return root


def value(xml: str) -> etree._Element:
    return etree.fromstring(f'<value xmlns="{C4[1:-1]}">{xml}</value>')


@pytest.mark.parametrize("xml,decoded,text", [
    ("<intervalPQ><low>3.5</low><high>5.0</high><unit>mmol/L</unit></intervalPQ>",
     {"intervalPQ": {"low": "3.5", "high": "5.0", "unit": "mmol/L"}}, "3,5–5,0 mmol/L"),
    ("<intervalPQ><low>0.5</low><lowClosed>true</lowClosed><unit>g/L</unit></intervalPQ>",
     {"intervalPQ": {"low": "0.5", "lowClosed": True, "unit": "g/L"}}, "≥0,5 g/L"),
    ("<pq><value>4,70</value><unit>mmol/L</unit></pq>", {"pq": {"value": "4,70", "unit": "mmol/L"}}, "4,70 mmol/L"),
    ("<cv><code>10828004</code><codeSystem>1.2.752.116.2.1.1</codeSystem><displayName>Positiv</displayName></cv>",
     {"cv": {"code": "10828004", "codeSystem": "1.2.752.116.2.1.1", "displayName": "Positiv"}}, "Positiv"),
    ("<st>Se kommentar</st>", {"st": "Se kommentar"}, "Se kommentar"),
])
def test_every_value_form_of_a_4x_result_is_kept_and_shown(schemas, xml, decoded, text):
    """Before, a result given as an interval decoded to value: null, unit: null."""
    root = with_value(value(xml))
    assert schemas.schema(V4.schema).validate(root), schemas.schema(V4.schema).error_log
    record = V4.parse_response(root).records[0]
    assert analyses4(record)[0]["results"][0]["value"] == decoded
    assert lab._items(record)[0][2] == text and text in shown(record)["Analyser"]
    assert text in next(value for label, value in view().details(record) if label == analyses4(record)[0]["code"][
        "displayName"])
    again = V4.parse_response(payload(V4, [record])).records[0]  # and it renders back the same
    assert analyses4(again)[0]["results"][0]["value"] == decoded


def test_group_codes_specimen_ids_and_care_process_are_kept_and_shown(schemas):
    root = payload(V4, answers(V4, FIONA)[:1])
    c = lambda local: f"{C4}{local}"  # noqa: E731
    group = root.find(f".//{c('groupOfAnalyses')}")
    code = etree.Element(c("code"))
    for k, v in (("code", "NPU99999"), ("codeSystem", NPU), ("displayName", "Blodstatus")):
        etree.SubElement(code, c(k)).text = v
    group.insert(1 if group.find(c("name")) is not None else 0, code)
    specimen = root.find(f".//{c('specimen')}")
    ident = etree.Element(c("identifier"))
    etree.SubElement(ident, c("root")).text = "1.2.752.1"
    etree.SubElement(ident, c("extension")).text = "P-4711"
    specimen.insert(0, ident)
    lock = root.find(f".//{c('blockComparisonTime')}")
    process = etree.Element(c("careProcessId"))
    process.text = "5f0c3b1e-8a2d-4c6f-9b7e-1d2a3c4b5e6f"
    lock.addprevious(process)
    assert schemas.schema(V4.schema).validate(root), schemas.schema(V4.schema).error_log
    record = V4.parse_response(root).records[0]
    assert record.detail["groups"][0]["code"]["code"] == "NPU99999"
    assert analyses4(record)[0]["specimens"][0]["id"] == {"root": "1.2.752.1", "extension": "P-4711"}
    assert record.detail["header"]["access"]["care_process_id"] == process.text
    rows = shown(record)
    assert "NPU99999 (NPU)" in rows["Analysgrupper"] and rows["Vårdprocess"] == process.text
    assert "prov-id P-4711" in rows[analyses4(record)[0]["code"]["displayName"]]


def test_an_answer_by_4_0_is_read_by_the_4_major(schemas, bundle):
    """A 4.0 producer: a requester in its referral and an extension there (4.0 allows one, 4.2 does not)."""
    root = payload(V4, answers(V4, FIONA)[:1])
    c = lambda local: f"{C4}{local}"  # noqa: E731
    for ext in list(root.iter("{urn:riv:clinicalprocess:healthcond:actoutcome:4.1}*")):
        ext.getparent().remove(ext)  # no 4.1 patientId or orgUnit: 4.0 has neither
    referral = root.find(f".//{c('referral')}")
    requester = etree.SubElement(referral, c("requester"))
    etree.SubElement(requester, c("name")).text = "Anna Andersson"
    etree.SubElement(referral, "{urn:example:lab-extension:1}priority").text = "akut"
    etree.cleanup_namespaces(root)
    by_40 = schemas.schema(lab.FOLDER + "GetLaboratoryOrderOutcomeResponder_4.0.xsd")
    assert by_40.validate(root), by_40.error_log
    assert not schemas.schema(V4.schema).validate(root)  # 4.2 alone refuses it ...
    assert V4.minor_schemas and schemas.issues(V4, root) == []  # ... the 4 major accepts it
    schemas.validate(V4, root)
    record = V4.parse_response(copy.deepcopy(root)).records[0]
    assert record.id == answers(V4, FIONA)[0].id and record.patient_id is None and record.has_owner
    assert record.detail["referral"]["requester"] == {"name": "Anna Andersson"}
    assert analyses4(record) and all(isinstance(v, str) for _, v in view().details(record))


def test_lindas_largest_answer_is_generated_rendered_and_parsed_quickly():
    count = {V3.id: lambda r: len(r.detail["analyses"]), V4.id: lambda r: len(analyses4(r))}
    for contract in (V3, V4):
        start = time.perf_counter()
        records = answers(contract, LINDA)
        data = wire(contract, records)
        answer = decode(contract, data)
        elapsed = time.perf_counter() - start
        results = sum(count[contract.id](r) for r in answer.records)
        print(f"\n{contract.id}: {len(records)} answers, {results} results, {len(data) / 1e6:.1f} MB, {elapsed:.2f} s")
        assert len(answer.records) == len(records) and 4500 <= results <= 5500
        assert len(data) < soap.MAX_BODY_BYTES and elapsed < 10
    assert all(200 <= sum(len(analyses4(r)) for r in answers(V4, LINDA, a)) <= 600 for a in ADDRESSES[1:])


def test_the_view_gives_plain_text_even_for_markup_from_the_producer():
    records = answers(V4, LINDA)
    shown_ = view()
    cells = [cell(r) for r in records[:3] for _, cell in shown_.columns] + [
        value for r in records[:3] for _, value in shown_.details(r)]
    assert all(isinstance(c, str) and not isinstance(c, Markup) for c in cells)
    assert any("<script>alert(1)</script>" in c for c in cells)
    full = analyses4(records[0])
    assert len(full) == len(ANALYSES) and records[0].title.endswith(f"m.fl. ({len(full)} analyser)")


def test_the_view_reads_like_a_swedish_lab_list():
    preliminary = answers(V4, EGON)[2]
    assert shown(preliminary)["Status"] == "Preliminärsvar" and "Svar väntas" in shown(preliminary)["Analyser"]
    kalium = {"analyses": [{"code": {"code": "NPU03230", "codeSystem": NPU, "displayName": "P-Kalium"},
                            "outcome": {"value": "4.7", "unit": "mmol/L", "pathological": True,
                                        "reference_interval": "3.5–4.4"}}]}
    [item] = lab._items3(kalium)
    assert lab._result(item) == "4,7 mmol/L ↑"
    assert lab._line(item) == "4,7 mmol/L ↑ – ref. 3,5–4,4 – NPU03230 (NPU)"


async def test_the_core_shows_an_answer_from_both_majors_once(demo):
    anna = await login(demo, patient=FIONA, relation=True)
    shown_ = (await anna.records("labb"))["records"]
    assert shown_ and len({(r["source_system"], r["id"]) for r in shown_}) == len(shown_)
    assert {r["contract"] for r in shown_} == {"GetLaboratoryOrderOutcome:4"}
    own = [r for r in answers(V4, FIONA) if r.care_provider_id == shown_[0]["care_provider_id"]]
    assert {r["id"] for r in shown_} == {r.id for r in own}


def test_module_constants_are_the_official_ones():
    assert (V3.soap_action, V4.soap_action) == (
        "urn:riv:clinicalprocess:healthcond:actoutcome:GetLaboratoryOrderOutcomeResponder:3:GetLaboratoryOrderOutcome",
        "urn:riv:clinicalprocess:healthcond:actoutcome:GetLaboratoryOrderOutcomeResponder:4:GetLaboratoryOrderOutcome")
    assert V3.categorizations == V4.categorizations == ("und-kkm-ure",)
    assert V4.minor_schemas == ("clinicalprocess_healthcond_actoutcome/interactions/"
                                "GetLaboratoryOrderOutcomeInteraction/GetLaboratoryOrderOutcomeResponder_4.0.xsd",)


async def test_the_pages_show_answers_and_escape_what_the_producer_wrote(demo):
    await login(demo, patient=LINDA, relation=True)
    listing = await demo.get(f"/patient/{LINDA}/labb")
    assert listing.status == 200 and "Klinisk kemi och laboratorium" in await listing.text()
    record = answers(V4, LINDA)[1]
    page = await (await demo.get(f"/patient/{LINDA}/labb/{record.id}")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
