"""Header-first decoding decides exactly as a full decoding would.

A declared contract builds each record from its header and a few peeked body paths, and reads
the rest of the body only when a page asks (`riv.Detail`). Here a second, independent path reads
every record whole (ElementPath on the header, the body parsed first and the contract's own
derivations applied to the parsed values) over the whole demo corpus and over fuzz-mutated
answers: every field a PDL decision or a page's list reads must be the same."""

from __future__ import annotations

import random

import pytest
from lxml import etree

from npo_core import ContractError, Query, parse_patient_id, parse_timestamp, riv, soap
from npo_core.conformance import ADDRESSES
from npo_core.demo import PATIENTS, demo_source
from npo_core.plugins import collect, make_plugin_manager

from .conftest import DEMO_TODAY
from .test_fuzz import mutate

# the declarations that decode through one of the core's header-first paths: a PatientSummary header's
# or a JoL header's (GetLaboratoryOrderOutcome 4, GetCareDocumentation 3)
HEADER_FIRST = (riv.PatientSummaryContract.parse_response, riv.JolContract.parse_response)
CONTRACTS = {cid: c for cid, c in collect(make_plugin_manager()).contracts.items()
             if type(c).parse_response in HEADER_FIRST}
DECIDING = ("id", "patient_id", "care_provider_id", "care_unit_id", "care_unit_name", "source_system", "time",
            "block_time", "nullified", "approved_for_patient", "information_type", "title", "author", "contract")
OPS = ("drop", "duplicate", "reorder", "rename", "junk_text", "no_text", "strip_children", "wrong_date",
       "unknown_child")


class ParsedPeek(riv.Peek):
    """The contract's derivations read from the parsed body instead of its elements."""

    def __init__(self, contract, body):
        super().__init__(body, {})
        self.data = contract.read_body(body) if body is not None else {}

    def __call__(self, key_path: str):
        return _first(self.data, key_path.split("."))


def _first(value, keys):
    """The first value along a key path, through repeated elements in order (as an element path finds it)."""
    if isinstance(value, list):
        return next((v for item in value if (v := _first(item, keys)) is not None), None)
    if not keys:
        return None if value is None or isinstance(value, dict) else _as_text(value)
    return _first(value.get(keys[0]), keys[1:]) if isinstance(value, dict) else None


def _as_text(value) -> str:
    return {True: "true", False: "false"}.get(value, value) if isinstance(value, bool) else str(value)


def full(contract, el) -> dict:
    """The deciding fields of one record, read whole."""
    if isinstance(contract, riv.JolContract):
        return full_jol(contract, el)
    c = contract.c
    header, body = el.find(c(contract.header_element)), el.find(c(contract.body_element))
    if header is None:
        raise ContractError("no header")
    t = lambda path: riv.text(header.find(path))  # noqa: E731
    prof = f"{c('accountableHealthcareProfessional')}/"
    peek = ParsedPeek(contract, body)
    when = parse_timestamp(t(c("documentTime")) or t(prof + c("authorTime")))
    unit = t(prof + c("healthcareProfessionalCareUnitHSAId"))
    org_id, org_name = (t(f"{prof}{c('healthcareProfessionalOrgUnit')}/{c(k)}") for k in ("orgUnitHSAId", "orgUnitName"))
    patient = next((riv.text(i) for i in header.iterfind(f"{c('patientId')}/{c('id')}") if i.text is not None), None)
    return {
        "id": t(c("documentId")) or "", "patient_id": patient, "contract": contract.id,
        "care_provider_id": t(prof + c("healthcareProfessionalCareGiverHSAId")), "care_unit_id": unit,
        "care_unit_name": org_name if unit and org_id == unit else None,
        "source_system": t(c(contract.header_source_tag)),
        "time": parse_timestamp(peek.first(contract.time_from)) or when,
        "block_time": parse_timestamp(peek.first(contract.block_time_from)) or when,
        "nullified": riv.boolean(t(c("nullified"))) is True or contract.nullified_of(peek),
        "approved_for_patient": riv.boolean(t(c("approvedForPatient"))) is True,
        "information_type": contract.information_type_of(peek),
        "title": contract.title_of(peek) or t(c("documentTitle")) or contract.untitled,
        "author": t(prof + c("healthcareProfessionalName")),
    }


def full_jol(contract, el) -> dict:
    """The deciding fields of one record with a JoL header, read whole: ElementPath on the header along each
    declared key path, the parsed body for the body's paths."""
    c, core = contract.c, contract.core_namespace
    header, body = el.find(c(contract.header_element)), el.find(c(contract.body_element))
    if header is None:
        raise ContractError("no header")
    peek = ParsedPeek(contract, body)

    def value(key_path: str) -> str | None:
        if key_path.startswith("body."):
            return peek(key_path.removeprefix("body."))
        return riv.text(header.find(riv.element_path(core, contract.header, key_path))) or None

    def is_ii(key_path: str) -> bool:
        spec, path = (contract.body, key_path[5:]) if key_path.startswith("body.") else (contract.header, key_path)
        try:
            riv.element_path(core, spec, path + ".root")
            return True
        except KeyError:
            return False

    def first(name: str) -> str | None:
        for key_path in contract.deciding[name]:
            parts = (".extension", ".root") if contract.root_identifies else (".extension",)
            for path in [key_path + p for p in parts] if is_ii(key_path) else [key_path]:
                if (found := value(path)) is not None:
                    return found
        return None

    unit = first("care_unit_id")
    return {
        "id": first("id") or "", "patient_id": first("patient_id"), "contract": contract.id,
        "care_provider_id": first("care_provider_id"), "care_unit_id": unit,
        "care_unit_name": first("unit_name") if unit and first("unit_id") == unit else None,
        "source_system": first("source_system"), "time": parse_timestamp(first("time")),
        "block_time": parse_timestamp(first("block_time")), "nullified": contract.nullified_of(peek),
        "approved_for_patient": riv.boolean(first("approved_for_patient")) is True,
        "information_type": contract.information_type_of(peek),
        "title": contract.title_of(peek) or contract.untitled, "author": first("author"),
    }


def compare(contract, payload) -> int:
    """Both paths over one answer; records neither path can read are skipped by both."""
    checked = 0
    for el in payload.iterchildren(contract.q(contract.record_element)):
        single = etree.Element(payload.tag, nsmap=payload.nsmap)
        single.append(etree.fromstring(etree.tostring(el)))
        try:
            [fast] = contract.parse_response(single).records
        except (ValueError, ContractError):
            with pytest.raises((ValueError, ContractError)):
                full(contract, single[0])
            continue
        assert {k: getattr(fast, k) for k in DECIDING} == full(contract, single[0])
        assert "header" in fast.detail or "unreadable" in fast.detail  # the detail reads, or says it cannot
        checked += 1
    return checked


def demo_payloads(contract):
    for pid in PATIENTS:
        for address in ADDRESSES:
            source = demo_source(pid, address, contract.id, DEMO_TODAY)
            records = contract.demo_records(source) if source else []
            if records:
                yield contract.render_response(records, Query(parse_patient_id(pid)))


@pytest.fixture(params=sorted(CONTRACTS))
def contract(request):
    return CONTRACTS[request.param]


def test_the_demo_corpus_decides_the_same_header_first(contract):
    assert sum(compare(contract, p) for p in demo_payloads(contract)) > 0


def test_mutated_answers_decide_the_same_header_first(contract):
    rng = random.Random(contract.id)
    payloads = list(demo_payloads(contract))[:6]
    checked = 0
    for _ in range(60):
        payload = soap.unwrap(soap.parse_xml(soap.envelope(rng.choice(payloads))))[0]
        ops = [(rng.choice(OPS), rng.randrange(10_000), rng.randrange(10_000), rng.choice(["", "x", "20261301"]))
               for _ in range(rng.randint(1, 4))]
        mutate(payload, ops)
        checked += compare(contract, payload)
    assert checked > 0
