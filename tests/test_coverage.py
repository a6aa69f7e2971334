"""Nothing lost: every element of an answer is mapped by its contract's declaration.

Checked on the demo producers' answers for every demo patient and source, and on answers
generated from the official schemas with every element each defines (every minor a major
accepts), so a field a real producer may send cannot be silently dropped by a spec."""

from __future__ import annotations

import subprocess
import sys

import pytest
from lxml import etree

from npo_core import Query, parse_patient_id, soap
from npo_core.conformance import ADDRESSES
from npo_core.demo import PATIENTS, demo_source
from npo_core.plugins import collect, make_plugin_manager
from npo_core.riv.coverage import unmapped
from npo_core.riv.instances import maximal
from npo_core.schemas import SchemaSet

from .conftest import DEMO_TODAY

CONTRACTS = collect(make_plugin_manager()).contracts


@pytest.fixture(params=sorted(CONTRACTS))
def contract(request):
    contract = CONTRACTS[request.param]
    assert hasattr(contract, "mapped_elements"), f"{contract.id} is not a declaration"
    return contract


def test_the_demo_answers_have_no_element_the_declaration_does_not_map(contract):
    answers = 0
    for pid in PATIENTS:
        for address in ADDRESSES:
            source = demo_source(pid, address, contract.id, DEMO_TODAY)
            records = contract.demo_records(source) if source else []
            if records:
                answers += 1
                found = unmapped(contract, contract.render_response(records, Query(parse_patient_id(pid))))
                assert not found, (pid, address, dict(found))
    assert answers, f"{contract.id} has no demo answer to check"


def test_answers_with_every_schema_element_are_fully_mapped(contract, bundle):
    schemas = SchemaSet(bundle)
    for xsd in (contract.schema, *contract.minor_schemas):
        instances = maximal(bundle / xsd, f"{contract.name}Response")
        for instance in instances:
            assert schemas.issues(contract, instance) == [], (xsd, "the generated answer is not schema-valid")
            assert not unmapped(contract, instance), (xsd, dict(unmapped(contract, instance)))
        assert sum(1 for _ in instances[0].iter()) > 20, "the generated answer has the schema's elements"


def test_the_cli_lists_what_is_not_mapped(tmp_path):
    contract = CONTRACTS["GetDiagnosis:2"]
    pid = "199701062383"
    payload = contract.render_response(contract.demo_records(demo_source(pid, ADDRESSES[0], contract.id, DEMO_TODAY)),
                                       Query(parse_patient_id(pid)))
    path = tmp_path / "answer.xml"
    path.write_bytes(soap.envelope(payload))
    done = subprocess.run([sys.executable, "-m", "npo_core", "contracts", "coverage", "GetDiagnosis", str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "every element is mapped" in done.stdout, done.stderr
    body = payload.find(".//{*}diagnosisBody")
    etree.SubElement(body, "{urn:example:extension}severity").text = "hög"
    path.write_bytes(soap.envelope(payload))
    done = subprocess.run([sys.executable, "-m", "npo_core", "contracts", "coverage", "GetDiagnosis", str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "diagnosis/diagnosisBody/severity" in done.stdout
    assert "1 element(s) in 1 place(s)" in done.stderr
