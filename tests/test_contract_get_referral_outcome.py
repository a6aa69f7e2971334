"""GetReferralOutcome 3.1 specifics: request names, robust parsing, demo content (generic checks: test_conformance)."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from npo_core import Query
from npo_core.demo import PATIENTS, PROVIDERS, demo_source
from npo_core.identity import parse_patient_id
from npo_core.schemas import SchemaSet
from npo_plugins.contracts.get_referral_outcome import CONSULTS, EXT, GetReferralOutcome, register_views

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
                assert {c["code"]["code_system"] for c in r.detail.get("clinical_information", [])} <= {
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
