"""Every registered contract, against the official RIV-TA bundle (libxml2 via lxml) and zeep.

Parametrised over the plugins actually installed, so a new contract plugin is covered
the moment it registers.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from lxml import etree

from npo_core import Query, soap
from npo_core.demo import PATIENTS, PROVIDERS, demo_source
from npo_core.identity import parse_patient_id
from npo_core.plugins import collect, make_plugin_manager
from npo_core.schemas import SchemaSet

from .conftest import DEMO_TODAY

CONTRACTS = collect(make_plugin_manager()).contracts
ADDRESSES = [p[4][0] for p in PROVIDERS]
QUERIES = [
    Query(parse_patient_id("199701062383")),
    Query(parse_patient_id("196812732391"), period=(dt.date(2020, 1, 1), dt.date(2026, 12, 31)),
          care_units=("SE2321000016-9RKT",), source_system="SE2321000016-TKC1"),
]


@pytest.fixture(scope="module")
def schemas(bundle):
    return SchemaSet(bundle)


@pytest.fixture(params=sorted(CONTRACTS))
def contract(request):
    return CONTRACTS[request.param]


def test_every_contract_names_its_official_schema_and_wsdl(contract, bundle):
    assert contract.schema and (bundle / contract.schema).is_file()
    assert contract.wsdl and (bundle / contract.wsdl).is_file()
    wsdl = etree.parse(str(bundle / contract.wsdl))
    actions = wsdl.xpath("//*[local-name()='operation']/@soapAction")
    assert contract.soap_action in actions, (contract.soap_action, actions)


def test_requests_validate(contract, schemas):
    for query in QUERIES:
        element = contract.build_request(query)
        assert schemas.issues(contract, element) == [], query
        assert contract.parse_request(element).patient == query.patient


def test_demo_responses_validate_and_decode_to_the_same_records(contract, schemas):
    for pid in PATIENTS:
        for address in ADDRESSES:
            records = contract.demo_records(demo_source(pid, address, contract.id, DEMO_TODAY))
            query = Query(parse_patient_id(pid))
            response = contract.render_response(records, query)
            assert schemas.issues(contract, response) == [], (pid, address)
            wire = soap.envelope(response)
            decoded = contract.parse_response(soap.unwrap(soap.parse_xml(wire))[0])
            assert decoded.result_code in ("OK", "INFO")
            assert [r.to_json() for r in decoded.records] == [r.to_json() for r in records], (pid, address)
            assert all(r.contract == contract.id and r.patient_id in (None, pid) for r in decoded.records)


def test_each_variant_patient_has_a_record_without_provider_or_unit(contract):
    records = [r for address in ADDRESSES
               for r in contract.demo_records(demo_source("193601286499", address, contract.id, DEMO_TODAY))]
    assert any(not r.has_owner for r in records), "Egon needs one record lacking care provider / care unit"


async def test_zeep_with_the_official_wsdl_calls_the_demo_producer(contract, bundle, platform):
    """zeep builds the request from our request's values, calls over HTTP, decodes the answer."""
    zeep = pytest.importorskip("zeep")
    url = str(platform.make_url(f"/vp/{contract.service_path}"))
    ours = contract.build_request(QUERIES[0])
    expected = contract.demo_records(demo_source("199701062383", "SE2321000131-MLM1", contract.id, DEMO_TODAY))

    def call():
        client = zeep.Client(str(bundle / contract.wsdl))
        wsdl_ns = f"urn:riv:{contract.service_domain}:{contract.name}:{contract.major}:rivtabp21"
        binding = next(b for b in client.wsdl.bindings if b.startswith(f"{{{wsdl_ns}}}"))
        service = client.create_service(binding, url)
        element = client.get_element(ours.tag)
        value = element.parse(ours, client.wsdl.types)
        kwargs = {k: value[k] for k in value}
        return zeep.helpers.serialize_object(
            service[contract.name](_soapheaders={"LogicalAddress": "SE2321000131-MLM1"}, **kwargs))

    answer = await asyncio.get_running_loop().run_in_executor(None, call)
    text = repr(answer)
    assert expected, "the demo producer should have records for Fiona"
    for record in expected:
        assert record.id in text


def test_find_content_request_and_demo_answer_validate(bundle, schemas):
    from npo_core import engagement
    from npo_core.demo.platform import DemoProducers
    from npo_core.registry import NATIONAL_EI

    class FindContent:  # SchemaSet validates by a contract's schema path
        id, schema = "FindContent:1", engagement.SCHEMA

    request = engagement.find_content_request(parse_patient_id("199701062383"), "riv:clinicalprocess:healthcond:description", "dia")
    assert schemas.issues(FindContent, request) == []
    answer = DemoProducers(CONTRACTS, DEMO_TODAY).find_content(soap.envelope(request, NATIONAL_EI))
    payload = soap.unwrap(soap.parse_xml(answer))[0]
    assert schemas.issues(FindContent, payload) == []
    found = engagement.parse_find_content_response(payload)
    assert found and {e.categorization for e in found} == {"dia"}
    assert {e.logical_address for e in found} <= set(ADDRESSES)
