"""GetCarePlans 2.0: npo's conformance checks, the contract's own details, and a real SOAP client."""

from __future__ import annotations

import base64
import datetime as dt
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from npo_core import Query, conformance, soap
from npo_core.demo import PATIENTS, demo_source
from npo_core.identity import parse_patient_id
from npo_core.plugins import collect, make_plugin_manager
from npo_core.schemas import SchemaSet

import npo_careplans
from npo_careplans.contract import CORE, PLAN_TYPES

# This plugin alone, whatever else is installed.
REG = collect(make_plugin_manager(load_entrypoints=False, extra=(npo_careplans,)))
CONTRACT = REG.contracts["GetCarePlans:2"]
CHECKS = [check.name for check in conformance.checks(CONTRACT, Path("."), REG.views)]
FIONA, EGON = "199701062383", "193601286499"


@pytest.mark.parametrize("name", CHECKS)
def test_conformance(name, bundle, today):
    """Exactly what `npo contracts check GetCarePlans` runs."""
    check = next(c for c in conformance.checks(CONTRACT, bundle, REG.views, today) if c.name == name)
    check.run()


def test_it_sends_the_soap_action_of_the_official_wsdl(bundle):
    assert CONTRACT.soap_action == "urn:riv:clinicalprocess:logistics:GetCarePlansResponder:2:GetCarePlans"
    assert CONTRACT.responder_namespace == "urn:riv:clinicalprocess:logistics:logistics:GetCarePlansResponder:2"
    actions = etree.parse(str(bundle / CONTRACT.wsdl)).xpath("//*[local-name()='operation']/@soapAction")
    assert actions == [CONTRACT.soap_action]


def test_the_request_carries_the_filters_to_the_producer():
    query = Query(parse_patient_id("196812732391"), period=(dt.date(2024, 1, 1), dt.date(2026, 12, 31)),
                  care_units=("SE2321000016-9RKT", "SE2321000016-A1SD"), source_system="SE2321000016-TKC1")
    request = CONTRACT.build_request(query)
    assert request.findtext(f"{{{CONTRACT.responder_namespace}}}datePeriod/{{{CORE}}}start") == "20240101"
    assert CONTRACT.parse_request(request) == query


def test_a_producers_answer_is_read_field_by_field(bundle):
    """A hand-written answer, as a producer would send it: every field lands where the view reads it."""
    text = "Mål: gå med rollator inomhus.\nUppföljning: om fyra veckor."
    xml = f"""<GetCarePlansResponse xmlns="{CONTRACT.responder_namespace}" xmlns:c="{CORE}">
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
            <c:value>{base64.b64encode(text.encode()).decode()}</c:value></c:content>
          <c:participatingCareUnitHSAId><c:root>1.2.752.129.2.1.4.1</c:root>
            <c:extension>SE2120003005-HSV1</c:extension></c:participatingCareUnitHSAId>
          <c:typeOfCarePlanEnum>RP</c:typeOfCarePlanEnum>
        </c:carePlanBody>
      </carePlan>
      <result><c:resultCode>OK</c:resultCode><c:logId>1</c:logId></result>
    </GetCarePlansResponse>"""
    payload = soap.parse_xml(xml.encode())
    assert SchemaSet(bundle).issues(CONTRACT, payload) == []
    answer = CONTRACT.parse_response(payload)
    [plan] = answer.records
    assert answer.result_code == "OK"
    assert (plan.id, plan.title, plan.author, plan.care_unit_id, plan.care_provider_id) == (
        "VP-1", "Rehabiliteringsplan efter höftfraktur", "Sara Lund", "SE2321000016-9RKT", "SE2321000016-F0VB")
    assert plan.time == dt.datetime(2026, 3, 15, 10, 15, tzinfo=plan.time.tzinfo) and plan.has_owner
    details = dict(REG.views["vardplaner"].details(plan))
    assert details["Plan"] == text and details["Typ av plan"] == "Rehabiliteringsplan"
    assert details["Deltagande enheter"] == "SE2120003005-HSV1"


def test_every_demo_patient_gets_swedish_care_plans_and_egon_the_variants(today):
    for pid in PATIENTS:
        plans = CONTRACT.demo_records(demo_source(pid, "SE2321000016-TKC1", CONTRACT.id, today))
        assert plans and all(p.patient_id == pid and p.information_type == "cll-cp" for p in plans)
    fiona = [p for address in conformance.ADDRESSES
             for p in CONTRACT.demo_records(demo_source(FIONA, address, CONTRACT.id, today))]
    assert {"SIP", "RP"} <= {p.detail["type"] for p in fiona}
    assert all(p.detail["type"] in PLAN_TYPES for p in fiona)
    egon = CONTRACT.demo_records(demo_source(EGON, "SE2321000016-TKC1", CONTRACT.id, today))
    assert egon[0].detail["content"][0]["media_type"] == "application/pdf"
    assert egon[1].title == "Vårdplan" and egon[1].detail["type"] is None
    assert not egon[2].has_owner


def test_zeep_calls_the_demo_producer_with_the_official_wsdl(bundle, platform_url, today):
    """An independent SOAP client, built only from the official WSDL, gets our demo plans."""
    zeep = pytest.importorskip("zeep")
    client = zeep.Client(str(bundle / CONTRACT.wsdl))
    binding = "{urn:riv:clinicalprocess:logistics:logistics:GetCarePlans:2:rivtabp21}GetCarePlansResponderBinding"
    service = client.create_service(binding, f"{platform_url}/{CONTRACT.service_path}")
    answer = service.GetCarePlans(patientId={"id": FIONA, "type": "1.2.752.129.2.1.3.1"},
                                  _soapheaders={"LogicalAddress": "SE2321000016-TKC1"})
    expected = CONTRACT.demo_records(demo_source(FIONA, "SE2321000016-TKC1", CONTRACT.id, today))
    assert answer.result.resultCode == "OK"
    assert [p.carePlanHeader.documentId for p in answer.carePlan] == [r.id for r in expected]
    assert [p.carePlanBody.typeOfCarePlanEnum for p in answer.carePlan] == [r.detail["type"] for r in expected]


def installed() -> bool:
    try:
        importlib.metadata.distribution("npo-careplans")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(not installed(), reason="not installed: pip install -e . to test the entry point")
def test_the_installed_plugin_passes_npo_contracts_check(tmp_path, bundle):
    """What CI runs; "(careplans)", the entry point's name, shows npo found the plugin by itself."""
    done = subprocess.run([sys.executable, "-m", "npo_core", "--registry", str(tmp_path / "r.db"),
                           "contracts", "check", "GetCarePlans", "--schemas", str(bundle)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "GetCarePlans:2 (careplans) conforms to GetCarePlans 2.0." in done.stdout
