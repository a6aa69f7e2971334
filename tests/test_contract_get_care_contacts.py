"""GetCareContacts 2.0 and 3.0 specifics: each major's codes, one contact id, filters (generic: test_conformance)."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree
from markupsafe import Markup

from npo_core import Query, soap
from npo_core.demo import PROVIDERS, demo_source
from npo_core.identity import parse_patient_id
from npo_core.plugins import collect, make_plugin_manager
from npo_core.schemas import SchemaSet
from npo_plugins.contracts.get_care_contacts import GetCareContacts2, GetCareContacts3

from .conftest import DEMO_TODAY

EGON, FIONA, HARRY, LINDA = "193601286499", "199701062383", "194602226559", "189908029805"
TKC = "SE2321000016-TKC1"
V2, V3 = GetCareContacts2(), GetCareContacts3()


@pytest.fixture(scope="module")
def schemas(bundle):
    return SchemaSet(bundle)


def records(contract, pid=EGON, address=TKC):
    return contract.demo_records(demo_source(pid, address, contract.id, DEMO_TODAY))


def roundtrip(contract, recs, query=None):
    payload = contract.render_response(recs, query or Query(parse_patient_id(EGON)))
    return contract.parse_response(soap.unwrap(soap.parse_xml(soap.envelope(payload)))[0])


def test_the_two_majors_have_their_own_namespaces_and_soap_actions():
    assert (V2.id, V3.id) == ("GetCareContacts:2", "GetCareContacts:3")
    assert V2.responder_namespace == "urn:riv:clinicalprocess:logistics:logistics:GetCareContactsResponder:2"
    assert V2.soap_action == "urn:riv:ehr:patientsummary:GetCareContactsResponder:2:GetCareContacts"
    assert V3.soap_action == "urn:riv:clinicalprocess:logistics:logistics:GetCareContactsResponder:3:GetCareContacts"
    assert V2.block_information_type is V3.block_information_type is None
    assert V2.categorizations == V3.categorizations == ("vko",)


def test_requests_carry_each_majors_filters(schemas):
    query = Query(parse_patient_id(FIONA), period=(dt.date(2024, 1, 1), dt.date(2026, 6, 30)),
                  care_units=("SE2321000016-9RKT",), care_providers=("SE2321000016-F0VB",), source_system=TKC)
    for contract, period_tag in ((V2, "timePeriod"), (V3, "datePeriod")):
        element = contract.build_request(query)
        assert schemas.issues(contract, element) == []
        assert element.find(contract.q(period_tag)) is not None
        back = contract.parse_request(element)
        assert (back.patient, back.period, back.care_units, back.source_system) == (
            query.patient, query.period, query.care_units, query.source_system)
    assert V3.parse_request(V3.build_request(query)).care_providers == query.care_providers
    assert V2.parse_request(V2.build_request(query)).care_providers == ()  # 2.0 cannot filter on care giver


def test_one_contact_has_one_id_through_both_majors_in_each_majors_codes():
    two, three = records(V2), records(V3)
    assert [r.id for r in two] == [r.id for r in three]
    for a, b in zip(two, three):
        assert (a.time, a.care_unit_id, a.author, a.nullified, a.detail.get("reason")) == (
            b.time, b.care_unit_id, b.author, b.nullified, b.detail.get("reason"))
        assert a.detail.get("period") == b.detail.get("period") and a.detail.get("unit") == b.detail.get("unit")
    visit = next(i for i, r in enumerate(three) if r.detail.get("type", {}).get("code") == "1")
    assert two[visit].detail["type"] == "3" and two[visit].title == "Vårdtillfälle"  # 2.0 enum, its text
    assert three[visit].detail["type"] == {"code": "1", "codeSystem": "1.2.752.129.2.2.2.25",
                                           "displayName": "Slutenvårdstillfälle"}  # KV Kontakttyp
    assert three[visit].title == "Slutenvårdstillfälle"
    for contract, recs in ((V2, two), (V3, three)):  # the title is derived again from the codes on the wire
        assert [(r.id, r.title) for r in roundtrip(contract, recs).records] == [(r.id, r.title) for r in recs]


def test_a_nullified_contact_is_nullified_in_the_2_header_and_by_the_3_status():
    two, three = records(V2), records(V3)
    i = next(i for i, r in enumerate(two) if r.nullified)
    wire2 = V2.render_response([two[i]], Query(parse_patient_id(EGON)))
    wire3 = V3.render_response([three[i]], Query(parse_patient_id(EGON)))
    assert wire2.find(".//{*}careContactHeader/{*}nullified").text == "true"
    assert wire2.find(".//{*}careContactStatus") is None  # the 2.0 enum has no "makulerad"
    assert wire3.find(".//{*}careContactHeader/{*}nullified") is None  # the 3.0 TKB forbids it
    assert wire3.find(".//{*}careContactStatus/{*}code").text == "53691000052102"
    assert roundtrip(V2, [two[i]]).records[0].nullified and roundtrip(V3, [three[i]]).records[0].nullified


def test_egon_has_the_variants():
    for contract in (V2, V3):
        recs = records(contract)
        assert any(not r.has_owner and r.author for r in recs)  # an author's unit, but no PDL unit/provider
        assert any("end" not in r.detail["period"] and r.time.date() > DEMO_TODAY for r in recs)  # booked
        assert any("end" not in r.detail["period"] and r.time.date() < DEMO_TODAY for r in recs)  # ongoing
        assert any("type" not in r.detail and "status" not in r.detail and not r.approved_for_patient
                   for r in recs)
        assert any(r.block_time != r.time for r in recs)  # registered before it happens
    assert any(r.detail.get("patient") for r in records(V3)) and not any(r.detail.get("patient") for r in records(V2))


def test_harry_has_two_to_five_contacts_per_source_over_units_and_years():
    for provider in PROVIDERS:
        recs = records(V3, HARRY, provider[4][0])
        assert 2 <= len(recs) <= 5
        assert max(r.time for r in recs) - min(r.time for r in recs) > dt.timedelta(days=2 * 365)
        assert len({r.care_unit_id for r in recs}) == min(len(provider[3]), len(recs))


def test_linda_has_thousands_of_contacts_and_markup_stays_text(schemas):
    counts = {p[4][0]: len(records(V3, LINDA, p[4][0])) for p in PROVIDERS}
    assert counts[TKC] == 2000 and all(n == 300 for a, n in counts.items() if a != TKC)
    view = collect(make_plugin_manager()).views["kontakter"]
    odd = next(r for r in roundtrip(V3, records(V3, LINDA)).records if "<script>" in r.detail.get("reason", ""))
    reason = dict((h, f(odd)) for h, f in view.columns)["Orsak"]
    assert "<script>" in reason and not isinstance(reason, Markup)  # the template escapes it


def test_the_period_filter_keeps_contacts_that_overlap_it():
    recs = records(V3)
    ongoing = next(r for r in recs if "end" not in r.detail["period"] and r.time.date() < DEMO_TODAY)
    query = Query(parse_patient_id(EGON), period=(DEMO_TODAY, DEMO_TODAY + dt.timedelta(days=1)))
    kept = {r.id for r in roundtrip(V3, recs, query).records}
    assert ongoing.id in kept  # started before the period, still going on
    ended = [r for r in recs if r.detail["period"].get("end") and r.time.date() < DEMO_TODAY - dt.timedelta(3)]
    assert ended and all(r.id not in kept for r in ended)


def test_a_sparse_2_0_answer_parses(bundle):
    """Only what the 2.0 schema demands: no responsible professional, no codes, a start only."""
    xml = f"""<GetCareContactsResponse xmlns="{V2.responder_namespace}" xmlns:c="{V2.core_namespace}">
      <careContact><c:careContactHeader>
        <c:documentId>kontakt-1</c:documentId><c:sourceSystemHSAId>{TKC}</c:sourceSystemHSAId>
        <c:patientId><c:id>{EGON}</c:id><c:type>1.2.752.129.2.1.3.1</c:type></c:patientId>
        <c:approvedForPatient>false</c:approvedForPatient>
      </c:careContactHeader><c:careContactBody>
        <c:careContactOrgUnit><c:orgUnitHSAId>SE2321000016-9RKT</c:orgUnitHSAId>
          <c:orgUnitName>Gubbängens vårdcentral</c:orgUnitName></c:careContactOrgUnit>
        <c:careContactTimePeriod><c:start>20260105083000</c:start></c:careContactTimePeriod>
      </c:careContactBody></careContact>
    </GetCareContactsResponse>"""
    payload = etree.fromstring(xml.encode())
    assert SchemaSet(bundle).issues(V2, payload) == []
    answer = V2.parse_response(payload)
    assert answer.result_code == "OK" and answer.message is None  # 2.0 has no result element
    record = answer.records[0]
    assert (record.id, record.has_owner, record.author, record.title) == ("kontakt-1", False, None, "Vårdkontakt")
    assert (record.detail.get("type"), record.detail["period"], record.approved_for_patient) == (
        None, {"start": "20260105083000"}, False)
    assert record.detail["unit"] == {"orgUnitHSAId": "SE2321000016-9RKT", "orgUnitName": "Gubbängens vårdcentral"}
    assert record.time == dt.datetime(2026, 1, 5, 8, 30, tzinfo=record.time.tzinfo)


def test_a_3_0_error_answer_carries_its_message():
    payload = V3.render_response([], Query(parse_patient_id(EGON)))
    result = payload.find(V3.q("result"))
    result.find(V3.c("resultCode")).text = "ERROR"
    etree.SubElement(result, V3.c("message")).text = "Tekniskt fel i källsystemet"
    answer = V3.parse_response(payload)
    assert (answer.result_code, answer.message, answer.records) == ("ERROR", "Tekniskt fel i källsystemet", [])


def test_a_3_0_answer_keeps_every_body_element_and_a_makulerad_status_nullifies(schemas):
    """Each CV whole, the unit's contact details, the patient information; nullified by the status alone."""
    c = V3.c
    cv = {"code": "53691000052102", "codeSystem": "1.2.752.116.2.1.1", "codeSystemName": "SNOMED CT-SE",
          "codeSystemVersion": "2024-11", "displayName": "makulerad vårdkontakt", "originalText": "Makulerad"}
    kind = {"code": "2", "codeSystem": "1.2.752.129.2.2.2.25", "codeSystemName": "KV kontakttyp",
            "codeSystemVersion": "1", "displayName": "öppenvårdskontakt", "originalText": "Besök"}
    unit = {"orgUnitHSAId": "SE2321000016-9RKT", "orgUnitName": "Gubbängens vårdcentral",
            "orgUnitTelecom": "08-123 45", "orgUnitEmail": "vc@example.se", "orgUnitAddress": "Vägen 1",
            "orgUnitLocation": "Stockholm"}
    payload = etree.Element(V3.q("GetCareContactsResponse"))
    contact = etree.SubElement(payload, V3.q("careContact"))
    header = etree.SubElement(contact, c("careContactHeader"))
    for tag, value in (("documentId", "k-1"), ("sourceSystemHSAId", TKC)):
        etree.SubElement(header, c(tag)).text = value
    patient = etree.SubElement(header, c("patientId"))
    etree.SubElement(patient, c("id")).text = EGON
    etree.SubElement(patient, c("type")).text = "1.2.752.129.2.1.3.1"
    etree.SubElement(etree.SubElement(header, c("accountableHealthcareProfessional")), c("authorTime")).text = (
        "20260105080000")
    etree.SubElement(header, c("approvedForPatient")).text = "true"
    body = etree.SubElement(contact, c("careContactBody"))

    def fields(parent, tag, values):
        el = etree.SubElement(parent, c(tag))
        for k, v in values.items():
            etree.SubElement(el, c(k)).text = v

    fields(body, "careContactCode", kind)
    etree.SubElement(body, c("careContactReason")).text = "Hosta"
    fields(body, "careContactOrgUnit", unit)
    fields(body, "careContactTimePeriod", {"start": "20260105083000", "end": "20260105090000"})
    fields(body, "careContactStatus", cv)
    info = etree.SubElement(body, c("additionalPatientInformation"))
    fields(info, "dateOfBirth", {"format": "YYYYMMDD", "value": "19360128"})
    fields(info, "gender", {"code": "1", "codeSystem": "1.2.752.129.2.2.1.1", "displayName": "man"})
    result = etree.SubElement(payload, V3.q("result"))
    etree.SubElement(result, c("resultCode")).text = "OK"
    etree.SubElement(result, c("logId")).text = "1"
    assert schemas.issues(V3, payload) == []
    (record,) = V3.parse_response(payload).records
    assert record.nullified and record.title == "Öppenvårdskontakt"  # the header says nothing of it
    assert dict(record.detail) == {
        "type": kind, "reason": "Hosta", "unit": unit, "period": {"start": "20260105083000", "end": "20260105090000"},
        "status": cv, "patient": {"birth": {"format": "YYYYMMDD", "value": "19360128"},
                                  "gender": {"code": "1", "codeSystem": "1.2.752.129.2.2.1.1", "displayName": "man"}},
        "header": record.detail["header"]}
    view = collect(make_plugin_manager()).views["kontakter"]
    shown = dict(view.details(record))
    assert shown["Kod för kontakttyp"] == "2 (KV kontakttyp)"  # the code system as the record names it
    assert shown["Kod för status"] == "53691000052102 (SNOMED CT-SE)"
    assert shown["Patientuppgifter från vårdgivaren"] == "19360128, Man"
    assert dict((h, f(record)) for h, f in view.columns)["Status"] == "Makulerad"
    payload.find(f".//{c('careContactStatus')}/{c('code')}").text = "53671000052101"
    assert not V3.parse_response(payload).records[0].nullified  # avslutad


def test_the_2_0_enum_codes_are_shown_as_their_texts():
    view = collect(make_plugin_manager()).views["kontakter"]
    recs = roundtrip(V2, records(V2))
    done = next(r for r in recs.records if r.detail.get("status") == "5")
    assert dict((h, f(done)) for h, f in view.columns)["Status"] == "Avslutad"
    assert done.title in {"Besök", "Telefon", "Vårdtillfälle", "Dagsjukvård", "Annan"}
