"""GetMaternityMedicalHistory 2.0 specifics: the 2.0 core's header, titles by kind of visit, who has maternity
records, the pregnancy timeline, and the body spec."""

from __future__ import annotations

import dataclasses
import datetime as dt

from lxml import etree

from npo_core import Query, Record, riv
from npo_core.contract import parse_timestamp
from npo_core.demo import PATIENTS, PROVIDERS, demo_source
from npo_core.identity import parse_patient_id
from npo_core.riv.instances import maximal
from npo_core.schemas import SchemaSet
from npo_plugins.contracts.get_maternity_medical_history import BODY, GetMaternityMedicalHistory, register_views

from .conftest import DEMO_TODAY, login

ADDRESSES = [p[4][0] for p in PROVIDERS]
CONTRACT = GetMaternityMedicalHistory()
CORE = CONTRACT.core_namespace
FIONA, EGON = "199701062383", "193601286499"


def records(pid: str, address: str):
    return CONTRACT.demo_records(demo_source(pid, address, CONTRACT.id, DEMO_TODAY))


def view():
    views = []
    register_views(views.append)
    return views[0]


def test_request_uses_careUnitHSAid_and_timePeriod(bundle):
    query = Query(parse_patient_id(FIONA), period=(dt.date(2024, 1, 1), dt.date(2026, 1, 1)),
                  care_units=("SE2321000131-F000000022",), source_system="SE2321000131-MLM1")
    element = CONTRACT.build_request(query)
    assert [etree.QName(e).localname for e in element] == ["careUnitHSAid", "patientId", "timePeriod",
                                                           "sourceSystemHSAId"]
    assert SchemaSet(bundle).issues(CONTRACT, element) == []
    assert CONTRACT.parse_request(element) == query


def test_only_women_of_childbearing_age_have_pregnancies():
    for pid in PATIENTS:
        found = [r for a in ADDRESSES for r in records(pid, a)]
        if pid == FIONA:
            assert len(found) > 5
        elif pid == EGON:  # one record made on him by mistake, and nullified
            (r,) = found
            assert r.nullified and not r.approved_for_patient and not r.has_owner
            assert set(r.detail) == {"header"} and r.detail["header"]["nullified_reason"]
        else:
            assert found == [], pid  # Harry and Mohamed are men; Linda was born in 1899


def test_the_answer_has_no_result_and_empty_mandatory_owner_elements_still_validate(bundle):
    response = CONTRACT.render_response(records(EGON, ADDRESSES[0]), Query(parse_patient_id(EGON)))
    assert response.find(f"{{{CONTRACT.responder_namespace}}}result") is None
    assert SchemaSet(bundle).issues(CONTRACT, response) == []
    prof = response.find(f".//{{{CORE}}}accountableHealthcareProfessional")
    assert prof.findtext(f"{{{CORE}}}healthcareProfessionalCareUnitHSAId") == ""
    assert [etree.QName(e).localname for e in prof.find(f"{{{CORE}}}healthcareProfessionalOrgUnit")] == [
        "orgUnitHSAId", "orgUnitName"]
    header = response.find(f".//{{{CORE}}}maternityMedicalRecordHeader")
    assert [etree.QName(e).localname for e in header][-3:] == ["approvedForPatient", "nullified", "nullifiedReason"]
    answer = CONTRACT.parse_response(response)
    assert answer.result_code == "OK" and answer.records[0].detail["header"]["org_unit"] is None
    assert answer.records[0].detail["header"]["author_role"] == {"displayName": "Barnmorska"}


def test_the_2_0_header_puts_the_care_contact_last_and_signs_without_a_name(bundle):
    (record,) = records(FIONA, PROVIDERS[0][4][0])[:1]
    header = {**record.detail["header"], "care_contact_id": "vk-1", "nullified_reason": "Fel patient", "signature": {
        "time": "20250101120000", "hsa_id": "SE2321000016-B1", "name": "Berit Barnmorska"}}
    record = dataclasses.replace(record, detail={**record.detail, "header": header}, nullified=True)
    response = CONTRACT.render_response([record], Query(parse_patient_id(FIONA)))
    assert SchemaSet(bundle).issues(CONTRACT, response) == []
    element = response.find(f".//{{{CORE}}}maternityMedicalRecordHeader")
    assert [etree.QName(e).localname for e in element][-3:] == ["nullified", "nullifiedReason", "careContactId"]
    assert element.find(f"{{{CORE}}}legalAuthenticator/{{{CORE}}}legalAuthenticatorName") is None
    (back,) = CONTRACT.parse_response(response).records
    assert back.detail["header"]["care_contact_id"] == "vk-1" and back.detail["header"]["org_unit"]["orgUnitName"]


def test_a_record_without_a_document_title_is_shown_by_its_kind_of_visit():
    later = records(FIONA, PROVIDERS[1][4][0])
    response = CONTRACT.render_response(later, Query(parse_patient_id(FIONA)))
    for title in response.iter(f"{{{CORE}}}documentTitle"):
        title.getparent().remove(title)
    untitled = CONTRACT.parse_response(response).records
    assert {r.title for r in untitled} == {"Mödrahälsovård"}  # decided on the header: it has no title
    note = dict(view().columns)["Anteckning"]
    assert [note(r) for r in untitled] == [r.title for r in later]  # the page names the kind of visit
    assert set(map(note, untitled)) == {"Inskrivning mödrahälsovård", "Graviditetskontroll", "Efterkontroll"}
    titled = dataclasses.replace(later[1], title="Producentens titel", nullified=True)
    assert note(titled) == "Producentens titel (makulerad)"  # the producer's own title first
    assert note(dataclasses.replace(untitled[0], detail={"header": {}})) == "Mödrahälsovård"  # no kind: no more


def test_every_value_of_an_answer_with_every_schema_element_is_kept(bundle):
    (payload,) = maximal(bundle / CONTRACT.schema, "GetMaternityMedicalHistoryResponse")
    body = payload.find(f".//{{{CORE}}}maternityMedicalRecordBody")
    (record,) = CONTRACT.parse_response(payload).records
    detail = {k: v for k, v in record.detail.items() if k != "header"}

    def values(v):
        return sum(map(values, v.values() if isinstance(v, dict) else v)) if isinstance(v, (dict, list)) else 1

    assert values(detail) == sum(1 for e in body.iter() if len(e) == 0) > 60
    again = CONTRACT.render_response([record], Query(parse_patient_id(FIONA)))
    assert {k: v for k, v in CONTRACT.parse_response(again).records[0].detail.items() if k != "header"} == detail


def test_fionas_pregnancies_tell_one_story():
    (early,) = records(FIONA, PROVIDERS[0][4][0])
    later = records(FIONA, PROVIDERS[1][4][0])
    assert [r.title for r in later][0] == "Inskrivning mödrahälsovård" and later[-1].title == "Efterkontroll"
    weeks = [r.detail["checkup"]["weeks"] for r in later if "checkup" in r.detail]
    assert weeks == sorted(weeks) and weeks[-1] >= 39
    assert [r.time for r in later] == sorted(r.time for r in later)
    (previous,) = later[0].detail["registration"]["previous"]
    lmp = parse_timestamp(early.detail["registration"]["lmp"]).date()
    miscarriage = lmp + dt.timedelta(weeks=previous["gestation"])
    assert (previous["year"], previous["month"], previous["delivery"]) == (miscarriage.year, miscarriage.month, 2)
    assert early.time.date() < miscarriage  # registered before it happened
    heights = {r.detail["registration"]["length"]["value"] for r in (early, later[0])}
    assert len(heights) == 1  # the same woman, measured in two regions
    assert all(r.detail["header"]["author_role"]["displayName"] == "Barnmorska" for r in later)


def test_the_view_shows_weeks_and_parity():
    later = records(FIONA, PROVIDERS[1][4][0])
    columns = dict((h, f) for h, f in view().columns)
    assert columns["Graviditetsvecka"](later[0]).count("+") == 1
    assert columns["Graviditetsvecka"](later[1]) == "16"
    details = dict(view().details(later[0]))
    assert details["Paritet"] == "Gravida 2, para 0" and details["Riskfaktorer"] == "Inga kända"
    assert "Apgar" in dict(view().details(later[-1]))["Barn 1"]


def test_unreadable_producer_values_are_left_out_not_raised():
    body = etree.fromstring(f"""<b xmlns:c="{CORE}"><c:registrationRecord>
        <c:lastMenstrualPeriod>okänt</c:lastMenstrualPeriod>
        <c:weight><c:value>sextio</c:value><c:unit>kg</c:unit></c:weight>
        <c:previousGravidityAndParity><c:year>2019</c:year><c:delivery>x</c:delivery></c:previousGravidityAndParity>
        <c:diseasesThrombosis>true</c:diseasesThrombosis></c:registrationRecord></b>""")
    detail = riv.parse(body, CORE, BODY)
    assert detail == {"registration": {"lmp": "okänt", "weight": {"unit": "kg"}, "previous": [{"year": 2019}],
                                       "thrombosis": True}}
    empty = CONTRACT.parse_response(etree.fromstring(f'<r xmlns="{CONTRACT.responder_namespace}"/>'))
    assert (empty.result_code, empty.records) == ("OK", [])
    rows = dict(view().details(_with(detail)))
    assert rows["Sista mens"] == "–" and rows["Riskfaktorer"] == "Tidigare trombos"
    assert rows["Längd, vikt, BMI"] == "– / – / –"


def test_the_codec_keeps_order_repetition_quantities_and_foreign_namespaces():
    spec = (("code", "code", riv.CV), ("value", "values", [riv.PQ]), ("{urn:x}flag", "flag", "bool"),
            ("count", "count", "int"))
    data = {"count": 3, "flag": False, "values": [{"value": 1.5, "unit": "ml"}], "code": {"displayName": "X"}}
    parent = etree.Element("p")
    riv.render(parent, "urn:c", spec, data)
    assert [e.tag for e in parent] == ["{urn:c}code", "{urn:c}value", "{urn:x}flag", "{urn:c}count"]
    assert riv.parse(parent, "urn:c", spec) == data


async def test_end_to_end_fionas_pregnancy_is_shown_and_egons_mistake_is_withheld(demo):
    anna = await login(demo, patient=FIONA, relation=True)
    await anna.post("/api/relation")
    await anna.post("/api/consent", {"whole_unit": True, "days": 7}, expect=201)
    shown = (await anna.records("modravard"))["records"]
    assert {r["care_unit_name"] for r in shown} == {"Gubbängens vårdcentral", "Vårdcentralen Hjällbo"}
    page = await (await demo.get(f"/patient/{FIONA}/modravard")).text()
    assert "Efterkontroll" in page and "Graviditetsvecka" in page
    anna = await login(demo, patient=EGON, relation=True)
    result = await anna.records("modravard")
    assert result["records"] == [] and [w["reason"] for w in result["withheld"]] == ["missing_hsa_id"]


def _with(detail: dict) -> Record:
    return Record(id="x", contract=CONTRACT.id, information_type="utr-mtr", time=None, care_provider_id=None,
                  care_unit_id=None, source_system=None, title="Inskrivning", detail=detail)
