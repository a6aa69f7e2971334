"""GetDiagnosis 2.0 specifics: request filters, schema error paths, the CLI (generic checks: test_conformance)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from lxml import etree

from npo_core import Query, soap
from npo_core.demo import demo_source
from npo_core.demo.platform import DemoProducers
from npo_core.identity import parse_patient_id
from npo_core.schemas import SchemaSet
from npo_plugins.contracts.get_diagnosis import GetDiagnosis

from .conftest import DEMO_TODAY

ADDRESSES = ["SE2321000016-TKC1", "SE2321000131-MLM1", "SE2120003005-PRC1"]


@pytest.fixture(scope="module")
def schemas(bundle):
    return SchemaSet(bundle)


def test_requests_validate_against_the_official_schema(schemas):
    contract = GetDiagnosis()
    import datetime as dt

    for query in (Query(parse_patient_id("199701062383")),
                  Query(parse_patient_id("196812732391"), period=(dt.date(2020, 1, 1), dt.date(2026, 1, 1)),
                        care_units=("SE2321000016-9RKT",), source_system="SE2321000016-TKC1")):
        element = contract.build_request(query)
        assert schemas.issues(contract, element) == []
        back = contract.parse_request(element)
        assert back.patient == query.patient and back.period == query.period
        assert back.care_units == query.care_units and back.source_system == query.source_system


def test_a_schema_error_names_its_path(schemas):
    contract = GetDiagnosis()
    response = contract.render_response(
        contract.demo_records(demo_source("199701062383", ADDRESSES[0], contract.id, DEMO_TODAY)),
        Query(parse_patient_id("199701062383")))
    response.find(".//{*}documentTime").text = "yesterday"
    issues = schemas.issues(contract, response)
    assert issues[0].path.startswith("/GetDiagnosisResponse/diagnosis") and issues[0].path.endswith("/documentTime")
    assert "yesterday" in issues[0].message


def _response_file(tmp_path, envelope: bool):
    contract = GetDiagnosis()
    records = contract.demo_records(demo_source("199701062383", ADDRESSES[1], contract.id, DEMO_TODAY))
    payload = contract.render_response(records, Query(parse_patient_id("199701062383")))
    path = tmp_path / ("envelope.xml" if envelope else "body.xml")
    path.write_bytes(soap.envelope(payload) if envelope else etree.tostring(payload))
    return path, records


def npo(*args, **kw):
    return subprocess.run([sys.executable, "-m", "npo_core", *args], capture_output=True, text=True, **kw)


@pytest.mark.parametrize("envelope", [True, False])
def test_cli_validate_and_decode_match_the_consumer_path(tmp_path, bundle, envelope):
    path, records = _response_file(tmp_path, envelope)
    done = npo("contracts", "validate", "GetDiagnosis", str(path), "--schemas", str(bundle))
    assert done.returncode == 0 and "is valid GetDiagnosis 2.0" in done.stdout, done.stderr
    done = npo("contracts", "decode", "GetDiagnosis", str(path))
    assert done.returncode == 0, done.stderr
    decoded = json.loads(done.stdout)
    assert decoded["result_code"] == "OK"
    assert decoded["records"] == [r.to_json() for r in GetDiagnosis().parse_response(
        soap.unwrap(soap.parse_xml(path.read_bytes()))[0]).records]
    assert [r["id"] for r in decoded["records"]] == [r.id for r in records]


def test_cli_validate_reports_each_error_with_its_path(tmp_path, bundle):
    path, _ = _response_file(tmp_path, True)
    path.write_bytes(path.read_bytes().replace(b"<core:typeOfDiagnosis>Huvuddiagnos",
                                               b"<core:typeOfDiagnosis>Kanske"))
    done = npo("contracts", "validate", "GetDiagnosis:2", str(path), "--schemas", str(bundle))
    assert done.returncode == 1
    assert re.search(r"^/GetDiagnosisResponse/diagnosis\[\d\]/diagnosisBody/typeOfDiagnosis \(line \d+\): .*Kanske",
                     done.stderr, re.M), done.stderr
    assert "Traceback" not in done.stderr


def test_demo_producer_refuses_a_request_without_logical_address():
    producers = DemoProducers({"GetDiagnosis:2": GetDiagnosis()})
    body = soap.envelope(GetDiagnosis().build_request(Query(parse_patient_id("199701062383"))))
    with pytest.raises(Exception, match="VP002"):
        producers.answer(GetDiagnosis(), body)
