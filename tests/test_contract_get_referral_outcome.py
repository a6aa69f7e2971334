"""GetReferralOutcome 3.1 and 3.2 specifics: request names, robust parsing, demo content (generic: test_conformance)."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from npo_core import Query
from npo_core.demo import PATIENTS, PROVIDERS, demo_source
from npo_core.identity import parse_patient_id
from npo_core.schemas import SchemaSet
from npo_core.demo.content.get_referral_outcome import CONSULTS
from npo_plugins.contracts.get_referral_outcome import EXT, GetReferralOutcome, register_views

from .conftest import DEMO_TODAY, login

ADDRESSES = [p[4][0] for p in PROVIDERS]
CONTRACT = GetReferralOutcome()
NS = CONTRACT.responder_namespace
CORE = "urn:riv:clinicalprocess:healthcond:actoutcome:3"


def records(pid: str, address: str):
    return CONTRACT.demo_records(demo_source(pid, address, CONTRACT.id, DEMO_TODAY))


def view():
    views = []
    register_views(views.append)
    return views[0]


def test_request_uses_the_contracts_own_spelling_and_reads_back(bundle):
    query = Query(parse_patient_id("196812732391"), period=(dt.date(2024, 1, 1), dt.date(2026, 6, 30)),
                  care_units=("SE2321000016-9RKT", "SE2321000016-A1SD"), source_system="SE2321000016-TKC1")
    element = CONTRACT.build_request(query)
    assert [etree.QName(e).localname for e in element] == [
        "careUnitHSAid", "careUnitHSAid", "patientId", "datePeriod", "sourceSystemHSAId"]
    assert SchemaSet(bundle).issues(CONTRACT, element) == []
    back = CONTRACT.parse_request(element)
    assert (back.patient, back.period, back.care_units, back.source_system) == (
        query.patient, query.period, query.care_units, query.source_system)


def test_a_sparse_answer_with_an_error_result_parses_without_raising():
    payload = etree.fromstring(f"""
      <GetReferralOutcomeResponse xmlns="{NS}" xmlns:core="{CORE}">
        <referralOutcome>
          <core:referralOutcomeHeader><core:documentId>R1</core:documentId>
            <core:sourceSystemHSAId>SE1</core:sourceSystemHSAId>
            <core:accountableHealthcareProfessional><core:authorTime>20250102030405</core:authorTime>
            </core:accountableHealthcareProfessional><core:approvedForPatient>false</core:approvedForPatient>
          </core:referralOutcomeHeader>
          <core:referralOutcomeBody><core:referralOutcomeText>Svar utan rubrik</core:referralOutcomeText>
            <core:act><core:actCode><core:code>UJF32</core:code></core:actCode><core:actTime>igår</core:actTime>
            </core:act></core:referralOutcomeBody>
        </referralOutcome>
        <result><core:resultCode>ERROR</core:resultCode><core:logId>x</core:logId>
          <core:message>Delvis fel i källsystemet</core:message></result>
      </GetReferralOutcomeResponse>""")
    answer = CONTRACT.parse_response(payload)
    assert (answer.result_code, answer.message) == ("ERROR", "Delvis fel i källsystemet")
    (record,) = answer.records
    assert record.title == "Remissvar" and not record.has_owner and not record.approved_for_patient
    assert record.detail["acts"] == [{"code": {"code": "UJF32"}, "time": "igår"}]
    assert all(isinstance(cell(record), str) for _, cell in view().columns)
    assert dict(view().details(record))["Remiss"] == "–, skickad –"


def test_answers_come_from_units_that_give_them_and_fit_the_patients_age():
    for pid in PATIENTS:
        age = DEMO_TODAY.year - int(pid[:4])
        for address in ADDRESSES:
            for r in records(pid, address):
                consult = next(c for c in CONSULTS if c.title == r.title)
                assert consult.ages[0] <= age <= (consult.ages[1] or age), (pid, r.title)
                if r.has_owner:
                    assert any(w in r.care_unit_name.lower() for w in consult.at), (r.care_unit_name, r.title)
                assert {c["code"]["codeSystem"] for c in r.detail.get("clinical_information", [])} <= {
                    "1.2.752.116.1.1.1.1.3"}
    assert records("199701062383", "SE2120003005-PRC1") == []  # no municipal answers for a young woman


def test_the_variant_patient_covers_each_shape():
    egon = [r for address in ADDRESSES for r in records("193601286499", address)]
    assert any(not r.has_owner for r in egon)
    assert any(r.nullified and r.detail["header"]["nullified_reason"] for r in egon)
    minimal = [r for r in egon if r.detail["header"]["signature"] is None]
    assert minimal and all(set(r.detail) == {"header", "type", "title", "text", "referral"} for r in minimal)
    assert any(r.detail["type"] == "SR" and not r.approved_for_patient for r in egon)
    assert any(r.detail["referral"].get("care_contact_id") and all("id" in a for a in r.detail["acts"])
               for r in egon if r.detail.get("acts"))


def test_attestation_is_written_in_the_31_extension_namespace():
    recs = records("193601286499", ADDRESSES[0])
    response = CONTRACT.render_response(recs, Query(parse_patient_id("193601286499")))
    assert response.findall(f".//{{{EXT}}}attested/{{{EXT}}}attesterName")
    parsed = CONTRACT.parse_response(response).records
    assert [r.detail.get("attested") for r in parsed] == [r.detail.get("attested") for r in recs]


def test_blocked_patient_has_two_to_five_answers_per_source_a_year_apart_over_units():
    for address in ADDRESSES:
        harry = records("194602226559", address)
        assert 2 <= len(harry) <= 5, address
        assert len({((DEMO_TODAY - r.time.date()).days - 1) // 365 for r in harry}) == len(harry)  # a year each
        units = [u for p in PROVIDERS if p[4][0] == address for u in p[3]]
        if len(units) > 1 and len(harry) > 2:
            assert len({r.care_unit_id for r in harry}) >= 2, address


def test_heavy_patient_has_hundreds_at_one_source_and_markup_stays_text():
    linda = records("189908029805", ADDRESSES[0])
    assert len(linda) == 300 and len({r.id for r in linda}) == 300
    assert all(len(records("189908029805", a)) <= 2 for a in ADDRESSES[1:])
    marked = [r for r in linda if "<script>" in r.detail["text"]]
    assert marked
    details = dict(view().details(marked[0]))
    assert "<script>" in details["Svar"] and type(details["Svar"]) is str  # the template escapes it


@pytest.mark.parametrize("pid", list(PATIENTS))
def test_demo_records_are_stable(pid):
    assert [r.to_json() for r in records(pid, ADDRESSES[1])] == [r.to_json() for r in records(pid, ADDRESSES[1])]


async def test_end_to_end_producer_markup_is_escaped_on_the_record_page(demo):
    anna = await login(demo, patient="189908029805", relation=True)
    shown = (await anna.records("remissvar"))["records"]
    assert len(shown) >= 300  # the heavy patient's answers at her own care provider need no consent
    marked = next(r for r in shown if "<script>" in r["detail"]["text"])
    page = await (await demo.get(f"/patient/189908029805/remissvar/{marked['id']}")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page


BUNDLE_31 = ("clinicalprocess_healthcond_actoutcome/interactions/GetReferralOutcomeInteraction/"
             "GetReferralOutcomeResponder_3.1.xsd")
BUNDLE_32 = BUNDLE_31.replace("_3.1.xsd", "_3.2.xsd")
AUTHOR = {"authorTime": "20250301101500", "healthcareProfessionalHSAId": "SE2321000016-7788",
          "healthcareProfessionalName": "Karin Berg",
          "healthcareProfessionalRoleCode": {"code": "201010", "codeSystem": "1.2.752.129.2.2.1.4",
                                             "codeSystemName": "KV befattning", "codeSystemVersion": "5",
                                             "displayName": "Läkare", "originalText": "Allmänläkare"},
          "healthcareProfessionalOrgUnit": {"orgUnitHSAId": "SE2321000016-9RKT",
                                            "orgUnitName": "Gubbängens vårdcentral",
                                            "orgUnitTelecom": "08-123 45", "orgUnitEmail": "vc@example.se",
                                            "orgUnitAddress": "Vägen 1", "orgUnitLocation": "Stockholm"},
          "healthcareProfessionalCareUnitHSAId": "SE2321000016-9RKT",
          "healthcareProfessionalCareGiverHSAId": "SE2321000016-F0VB"}
ACT = {"id": "A1", "code": {"code": "UJF32", "codeSystem": "1.2.752.116.1.3.2.1.4"}, "text": "Koloskopi",
       "time": "20250320090000", "results": [
           {"id": "bild-1", "mediaType": "image/jpeg", "value": "aGVq"},
           {"mediaType": "application/pdf", "reference": "https://pacs.example.se/rapport/1.pdf"}]}


def _fill(parent, tag, value, ns=CORE):
    """Elements from a detail-shaped dict, in the order given (the schema's)."""
    el = etree.SubElement(parent, f"{{{ns}}}{tag}")
    if isinstance(value, dict):
        for k, v in value.items():
            for item in v if isinstance(v, list) else [v]:
                _fill(el, k, item, ns)
    else:
        el.text = value
    return el


def _answer_32() -> etree._Element:
    """A 3.2 answer: no referralOutcomeTitle (3.2 made it optional), every other body element there."""
    payload = etree.Element(f"{{{NS}}}GetReferralOutcomeResponse", nsmap={None: NS, "core": CORE, "ext": EXT})
    outcome = etree.SubElement(payload, f"{{{NS}}}referralOutcome")
    _fill(outcome, "referralOutcomeHeader", {
        "documentId": "R32", "sourceSystemHSAId": "SE2321000016-TKC1", "documentTitle": "Konsultationssvar",
        "patientId": {"id": "193601286499", "type": "1.2.752.129.2.1.3.1"},
        "accountableHealthcareProfessional": {"authorTime": "20250321100000",
                                              "healthcareProfessionalCareUnitHSAId": "SE2321000016-A1SD",
                                              "healthcareProfessionalCareGiverHSAId": "SE2321000016-F0VB"},
        "approvedForPatient": "true"})
    body = _fill(outcome, "referralOutcomeBody", {
        "referralOutcomeTypeCode": "SS", "referralOutcomeText": "Normal koloskopi.",
        "clinicalInformation": {"clinicalInformationCode": {"code": "D50.9", "codeSystem": "1.2.752.116.1.1.1.1.3"},
                                "clinicalInformationText": "Järnbristanemi"},
        "act": {"actId": ACT["id"], "actCode": ACT["code"], "actText": ACT["text"], "actTime": ACT["time"],
                "actResult": ACT["results"]},
        "referral": {"referralId": "REM25-1", "referralReason": "Anemi", "referralTime": "20250301101500",
                     "referralAuthor": AUTHOR, "careContactId": "VK-1"}})
    _fill(body, "attested", {"attestedTime": "20250321110000", "attesterHSAId": "SE2321000016-1001",
                             "attesterName": "Anna Lindqvist"}, EXT)
    result = _fill(payload, "result", {"resultCode": "OK", "logId": "1"})
    result.tag = f"{{{NS}}}result"
    return payload


def test_a_32_answer_is_accepted_by_the_3_major_and_decoded_whole(bundle):
    schemas = SchemaSet(bundle)
    payload = _answer_32()
    assert CONTRACT.minor_schemas == (BUNDLE_32,)
    assert schemas.schema(BUNDLE_32).validate(payload), schemas.schema(BUNDLE_32).error_log
    assert not schemas.schema(BUNDLE_31).validate(payload)  # 3.1 demands a title
    assert "referralOutcomeTitle" in str(schemas.schema(BUNDLE_31).error_log)
    assert schemas.issues(CONTRACT, payload) == []
    schemas.validate(CONTRACT, payload)  # what a read does: no ContractError
    (record,) = CONTRACT.parse_response(payload).records
    assert (record.id, record.title, record.care_unit_id, record.approved_for_patient) == (
        "R32", "Konsultationssvar", "SE2321000016-A1SD", True)  # no body title: the header's
    assert {k: v for k, v in record.detail.items() if k != "header"} == {
        "type": "SS", "text": "Normal koloskopi.",
        "clinical_information": [{"code": {"code": "D50.9", "codeSystem": "1.2.752.116.1.1.1.1.3"},
                                  "text": "Järnbristanemi"}],
        "acts": [ACT],
        "referral": {"id": "REM25-1", "reason": "Anemi", "time": "20250301101500", "author": AUTHOR,
                     "care_contact_id": "VK-1"},
        "attested": {"time": "20250321110000", "hsa_id": "SE2321000016-1001", "name": "Anna Lindqvist"}}
    shown = dict(view().details(record))
    assert shown["Diagnoser"] == "D50.9 (ICD-10-SE) Järnbristanemi"  # the code system the record carries
    assert shown["Åtgärder"] == "UJF32 (KVÅ) Koloskopi (2025-03-20)"
    assert shown["Resultat"] == "image/jpeg (bifogat) [bild-1]; application/pdf https://pacs.example.se/rapport/1.pdf"
    assert shown["Remittent"] == "Karin Berg, Gubbängens vårdcentral" and shown["Vårdkontakt"] == "VK-1"
    rendered = CONTRACT.render_response([record], Query(parse_patient_id("193601286499")))
    assert schemas.issues(CONTRACT, rendered) == []
    assert CONTRACT.parse_response(rendered).records[0].to_json() == record.to_json()  # rendered again: the same


def test_a_32_answer_without_any_title_is_a_remissvar(bundle):
    payload = _answer_32()
    header = payload.find(f".//{{{CORE}}}referralOutcomeHeader")
    header.remove(header.find(f"{{{CORE}}}documentTitle"))
    assert SchemaSet(bundle).issues(CONTRACT, payload) == []
    assert CONTRACT.parse_response(payload).records[0].title == "Remissvar"
