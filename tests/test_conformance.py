"""Every registered contract, against the official RIV-TA bundle (libxml2 via lxml) and zeep.

Parametrised over the plugins actually installed, so a new contract plugin is covered
the moment it registers.
"""

from __future__ import annotations

import asyncio

import pytest

from npo_core import conformance, soap
from npo_core.conformance import ADDRESSES
from npo_core.demo import demo_source
from npo_core.identity import parse_patient_id
from npo_core.plugins import collect, make_plugin_manager
from npo_core.schemas import SchemaSet

from .conftest import DEMO_TODAY

REG = collect(make_plugin_manager())
CONTRACTS = REG.contracts
QUERIES = conformance.queries()


@pytest.fixture(scope="module")
def schemas(bundle):
    return SchemaSet(bundle)


@pytest.fixture(params=sorted(CONTRACTS))
def contract(request):
    return CONTRACTS[request.param]


def test_every_contract_names_its_official_schema_and_wsdl(contract, bundle):
    conformance.official_files(contract, bundle)


def test_requests_validate(contract, schemas):
    conformance.requests_validate(contract, schemas)


def test_demo_responses_validate_and_decode_to_the_same_records(contract, schemas):
    assert conformance.demo_responses_round_trip(contract, schemas, DEMO_TODAY) > 0


def test_each_variant_patient_has_a_record_without_provider_or_unit(contract):
    conformance.variants_lack_an_owner(contract, DEMO_TODAY)


def test_its_view_renders_every_demo_record(contract):
    conformance.view_renders(contract, REG.views, DEMO_TODAY)


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
