"""Every child of an answer is accounted for: a record npo shows or withholds, or an element reported
as unread with a reason. Over the whole demo corpus, and over hypothesis-made answers that mix known
records, unknown elements, records in the wrong namespace, broken records and another patient's records."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from npo_core import soap
from npo_core.contract import Query
from npo_core.decoding import decode_payload
from npo_core.demo import PATIENTS, PROVIDERS
from npo_core.demo.platform import DemoProducers
from npo_core.identity import parse_patient_id
from npo_core.plugins import collect, make_plugin_manager

from .conftest import DEMO_TODAY

CONTRACTS = collect(make_plugin_manager()).contracts
PRODUCERS = DemoProducers(CONTRACTS, DEMO_TODAY, routed={})  # the whole corpus, every major everywhere
FIONA, HARRY = "199701062383", "194602226559"


def answer(contract, patient: str, address: str) -> etree._Element:
    request = soap.envelope(contract.build_request(Query(parse_patient_id(patient))), address)
    return soap.unwrap(soap.parse_xml(PRODUCERS.answer(contract, request)))[0]


def record_level(contract, payload) -> int:
    """Children that are not the envelope (result, hasMore): each must become a record or an unread entry."""
    return sum(1 for c in payload if isinstance(c.tag, str) and etree.QName(c).localname not in contract.envelope_elements)


@pytest.mark.parametrize("contract_id", sorted(CONTRACTS))
def test_every_record_level_element_of_the_demo_corpus_is_accounted_for(contract_id):
    contract = CONTRACTS[contract_id]
    assert contract.record_element, "a contract names its record element, so nothing it does not read is lost"
    checked = 0
    for patient in PATIENTS:
        for provider in PROVIDERS:
            payload = answer(contract, patient, provider[4][0])
            decoded = decode_payload(contract, payload)
            assert decoded.unread == [], (patient, provider[0], decoded.unread)
            assert len(decoded.records) == record_level(contract, payload)
            checked += len(decoded.records)
    assert checked > 0


def mutations(contract):
    return st.lists(st.sampled_from(["unknown", "wrong_namespace", "broken", "other_patient", "comment"]),
                    max_size=6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_hypothesis_answers_lose_nothing(data):
    contract = CONTRACTS[data.draw(st.sampled_from(sorted(CONTRACTS)))]
    address = data.draw(st.sampled_from([p[4][0] for p in PROVIDERS]))
    payload = copy.deepcopy(answer(contract, FIONA, address))
    records = [c for c in payload if etree.QName(c).localname == contract.record_element]
    harry = [c for c in answer(contract, HARRY, address) if etree.QName(c).localname == contract.record_element]
    other_patient = 0
    for kind in data.draw(mutations(contract)):
        if kind == "unknown":
            payload.insert(data.draw(st.integers(0, len(payload))), etree.Element("{urn:x-producer:1}extraInfo"))
        elif kind == "comment":
            payload.insert(0, etree.Comment("a producer's comment carries no record"))
        elif kind == "wrong_namespace" and records:
            el = records.pop(data.draw(st.integers(0, len(records) - 1)))
            el.tag = f"{{{contract.responder_namespace.rsplit(':', 1)[0]}:core}}{contract.record_element}"
        elif kind == "broken" and records:  # a time stamp no producer should send, in one record only
            el = records.pop(data.draw(st.integers(0, len(records) - 1)))
            stamps = [t for t in el.iter() if isinstance(t.tag, str) and (t.text or "").strip().isdigit()
                      and len((t.text or "").strip()) in (8, 12, 14)]
            if stamps:
                stamps[0].text = "?"
        elif kind == "other_patient" and harry:
            payload.insert(0, copy.deepcopy(harry.pop()))
            other_patient += 1
    decoded = decode_payload(contract, payload)
    unread = sum(u["count"] for u in decoded.unread)
    assert len(decoded.records) + unread == record_level(contract, payload), decoded.unread
    assert all(u["reason"] and u["element"] for u in decoded.unread)
    # Another patient's records are decoded (and then withheld by the decision as other_patient), never merged.
    assert sum(1 for r in decoded.records if r.patient_id == HARRY) <= other_patient


def test_one_broken_record_costs_that_record_not_the_answer():
    contract = CONTRACTS["GetDiagnosis:2"]
    payload = answer(contract, FIONA, PROVIDERS[0][4][0])
    first = next(c for c in payload if etree.QName(c).localname == "diagnosis")
    next(t for t in first.iter("{*}documentTime")).text = "${documentTime}"  # a SoapUI placeholder left in
    decoded = decode_payload(contract, payload)
    assert len(decoded.records) == record_level(contract, payload) - 1
    [unread] = decoded.unread
    assert unread["element"] == "diagnosis" and unread["count"] == 1 and "documentTime" in unread["reason"]
