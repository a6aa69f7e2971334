"""GetCarePlans 2.0: npo's conformance checks, the declaration's own details, and a real SOAP client."""

from __future__ import annotations

import base64
import datetime as dt
import urllib.request

import pytest
from lxml import etree

from npo_core import Query, SchemaSet, demo_profile, parse_patient_id

import npo_careplans
from npo_careplans.contract import PLAN_TYPES

CONTRACT = npo_careplans.GetCarePlans()
VIEWS = []
npo_careplans.register_views(VIEWS.append)
[VIEW] = VIEWS
CORE, RESPONDER = CONTRACT.core_namespace, CONTRACT.responder_namespace
FIONA, EGON = "199701062383", "193601286499"
PATIENTS = (FIONA, EGON, "194602226559", "189908029805", "199008199391")  # npo's demo patients
ADDRESSES = ("SE2321000016-TKC1", "SE2321000131-MLM1", "SE2321000255-MEL1", "SE2120003005-PRC1",
             "SE5565745196-CSM1")  # the demo source systems
SOAP, REGISTRY = "http://schemas.xmlsoap.org/soap/envelope/", "urn:riv:itintegration:registry:1"


def test_the_installed_plugin_passes_npo_contracts_check(npo, bundle):
    """What CI runs; "(careplans)", the entry point's name, shows npo found the plugin by itself."""
    done = npo("contracts", "check", "GetCarePlans", "--schemas", str(bundle))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "GetCarePlans:2 (careplans) conforms to GetCarePlans 2.0." in done.stdout


def test_it_sends_the_soap_action_of_the_official_wsdl(bundle):
    assert CONTRACT.soap_action == "urn:riv:clinicalprocess:logistics:GetCarePlansResponder:2:GetCarePlans"
    assert RESPONDER == "urn:riv:clinicalprocess:logistics:logistics:GetCarePlansResponder:2"
    actions = etree.parse(str(bundle / CONTRACT.wsdl)).xpath("//*[local-name()='operation']/@soapAction")
    assert actions == [CONTRACT.soap_action]


def test_the_request_carries_the_filters_to_the_producer(bundle):
    query = Query(parse_patient_id("196812732391"), period=(dt.date(2024, 1, 1), dt.date(2026, 12, 31)),
                  care_units=("SE2321000016-9RKT", "SE2321000016-A1SD"), source_system="SE2321000016-TKC1")
    request = CONTRACT.build_request(query)
    assert SchemaSet(bundle).issues(CONTRACT, request) == []
    assert request.findtext(f"{{{RESPONDER}}}datePeriod/{{{CORE}}}start") == "20240101"
    assert CONTRACT.parse_request(request) == query


PLAN = "Mål: gå med rollator inomhus.\nUppföljning: om fyra veckor."
ANSWER = f"""<GetCarePlansResponse xmlns="{RESPONDER}" xmlns:c="{CORE}">
  <carePlan>
    <c:carePlanHeader>
      <c:documentId>VP-1</c:documentId><c:sourceSystemHSAId>SE2321000016-TKC1</c:sourceSystemHSAId>
      <c:documentTitle>Rehabiliteringsplan efter höftfraktur</c:documentTitle>
      <c:documentTime>20260315101500</c:documentTime>
      <c:patientId><c:id>{FIONA}</c:id><c:type>1.2.752.129.2.1.3.1</c:type></c:patientId>
      <c:accountableHealthcareProfessional>
        <c:authorTime>20260315101500</c:authorTime>
        <c:healthcareProfessionalName>Sara Lund</c:healthcareProfessionalName>
        <c:healthcareProfessionalCareUnitHSAId>SE2321000016-9RKT</c:healthcareProfessionalCareUnitHSAId>
        <c:healthcareProfessionalCareGiverHSAId>SE2321000016-F0VB</c:healthcareProfessionalCareGiverHSAId>
      </c:accountableHealthcareProfessional>
      <c:approvedForPatient>true</c:approvedForPatient>
    </c:carePlanHeader>
    <c:carePlanBody>
      <c:content><c:mediaType>text/plain</c:mediaType>
        <c:value>{base64.b64encode(PLAN.encode()).decode()}</c:value></c:content>
      <c:content><c:id>bilaga-1</c:id><c:mediaType>application/pdf</c:mediaType>
        <c:reference>https://dokument.example.se/vp-1.pdf</c:reference></c:content>
      <c:participatingCareUnitHSAId><c:root>1.2.752.129.2.1.4.1</c:root>
        <c:extension>SE2120003005-HSV1</c:extension></c:participatingCareUnitHSAId>
      <c:typeOfCarePlanEnum>RP</c:typeOfCarePlanEnum>
    </c:carePlanBody>
  </carePlan>
  <carePlan>
    <c:carePlanHeader>
      <c:documentId>VP-2</c:documentId><c:sourceSystemHSAId>SE2321000016-TKC1</c:sourceSystemHSAId>
      <c:patientId><c:id>{FIONA}</c:id><c:type>1.2.752.129.2.1.3.1</c:type></c:patientId>
      <c:accountableHealthcareProfessional><c:authorTime>20260401090000</c:authorTime>
      </c:accountableHealthcareProfessional>
      <c:approvedForPatient>false</c:approvedForPatient>
    </c:carePlanHeader>
    <c:carePlanBody><c:typeOfCarePlanEnum>SIP</c:typeOfCarePlanEnum></c:carePlanBody>
  </carePlan>
  <result><c:resultCode>OK</c:resultCode><c:logId>1</c:logId></result>
</GetCarePlansResponse>"""


def test_a_producers_answer_is_read_field_by_field(bundle):
    """A hand-written answer, as a producer would send it: every field lands where the view reads it."""
    payload = etree.fromstring(ANSWER.encode())
    assert SchemaSet(bundle).issues(CONTRACT, payload) == []
    answer = CONTRACT.parse_response(payload)
    [plan, untitled] = answer.records
    assert answer.result_code == "OK"
    assert (plan.id, plan.title, plan.author, plan.care_unit_id, plan.care_provider_id) == (
        "VP-1", "Rehabiliteringsplan efter höftfraktur", "Sara Lund", "SE2321000016-9RKT", "SE2321000016-F0VB")
    assert plan.time == dt.datetime(2026, 3, 15, 10, 15, tzinfo=plan.time.tzinfo) and plan.has_owner
    details = dict(VIEW.details(plan))
    assert details["Plan"] == PLAN + "\n\nDokument (application/pdf): https://dokument.example.se/vp-1.pdf"
    assert details["Typ av plan"] == "Rehabiliteringsplan" and details["Deltagande enheter"] == "SE2120003005-HSV1"
    # no documentTitle: the plan is named by its type; no owner, not approved for the patient
    assert (untitled.title, untitled.has_owner, untitled.approved_for_patient) == (
        "Samordnad individuell plan", False, False)


def test_every_element_of_the_answer_is_mapped(npo, tmp_path):
    """Nothing a producer sends is left unread: `npo contracts coverage` finds no unmapped element."""
    (tmp_path / "answer.xml").write_text(ANSWER)
    done = npo("contracts", "coverage", "GetCarePlans", str(tmp_path / "answer.xml"))
    assert done.returncode == 0 and "every element is mapped by GetCarePlans:2" in done.stdout, done.stdout


def test_a_nullified_plan_has_its_care_contact_last_in_the_header(bundle):
    """This domain's header order: nullified, nullifiedReason, careContactId (the one override)."""
    [plan, _] = CONTRACT.parse_response(etree.fromstring(ANSWER.encode())).records
    header = {**plan.detail["header"], "care_contact_id": "VK-7", "nullified_reason": "Felregistrerad"}
    nullified = plan.changed(nullified=True, detail={**plan.detail, "header": header})
    answer = CONTRACT.render_response([nullified], Query(parse_patient_id(FIONA)))
    assert SchemaSet(bundle).issues(CONTRACT, answer) == []
    [back] = CONTRACT.parse_response(answer).records
    assert back.to_json() == nullified.to_json()


def ask(platform_url: str, patient: str, address: str) -> list:
    """One demo producer's plans for one patient, asked as npo asks: the records of its answer."""
    envelope = etree.Element(f"{{{SOAP}}}Envelope")
    etree.SubElement(etree.SubElement(envelope, f"{{{SOAP}}}Header"), f"{{{REGISTRY}}}LogicalAddress").text = address
    etree.SubElement(envelope, f"{{{SOAP}}}Body").append(CONTRACT.build_request(Query(parse_patient_id(patient))))
    request = urllib.request.Request(f"{platform_url}/{CONTRACT.service_path}", data=etree.tostring(envelope),
                                     headers={"Content-Type": "text/xml; charset=utf-8",
                                              "SOAPAction": CONTRACT.soap_action})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = CONTRACT.parse_response(etree.fromstring(response.read()).find(f"{{{SOAP}}}Body")[0])
    assert answer.result_code == "OK"
    return answer.records


def test_every_demo_patient_gets_swedish_care_plans_and_egon_the_variants(platform_url):
    assert [demo_profile(pid) for pid in PATIENTS] == ["rich", "variants", "blocked", "heavy", "not_in_tgp"]
    for pid in PATIENTS:
        plans = ask(platform_url, pid, ADDRESSES[0])
        assert plans and all(p.patient_id == pid and p.information_type == "cll-cp" for p in plans)
    fiona = [p for address in ADDRESSES for p in ask(platform_url, FIONA, address)]
    assert {"SIP", "RP"} <= {p.detail["type"] for p in fiona}
    assert all(p.detail["type"] in PLAN_TYPES for p in fiona)
    egon = ask(platform_url, EGON, ADDRESSES[0])
    assert egon[0].detail["content"][0]["mediaType"] == "application/pdf"
    assert egon[1].title == "Vårdplan" and "type" not in egon[1].detail
    assert not egon[2].has_owner


def test_zeep_calls_the_demo_producer_with_the_official_wsdl(bundle, platform_url):
    """An independent SOAP client, built only from the official WSDL, reads the same plans as npo."""
    zeep = pytest.importorskip("zeep")
    client = zeep.Client(str(bundle / CONTRACT.wsdl))
    binding = "{urn:riv:clinicalprocess:logistics:logistics:GetCarePlans:2:rivtabp21}GetCarePlansResponderBinding"
    service = client.create_service(binding, f"{platform_url}/{CONTRACT.service_path}")
    answer = service.GetCarePlans(patientId={"id": FIONA, "type": "1.2.752.129.2.1.3.1"},
                                  _soapheaders={"LogicalAddress": "SE2321000016-TKC1"})
    expected = ask(platform_url, FIONA, "SE2321000016-TKC1")
    assert answer.result.resultCode == "OK"
    assert [p.carePlanHeader.documentId for p in answer.carePlan] == [r.id for r in expected]
    assert [p.carePlanBody.typeOfCarePlanEnum for p in answer.carePlan] == [r.detail["type"] for r in expected]
