"""GetActivities 1.0 specifics: the IIType request, one record per activity of a group, partial times, the view,
and zeep reading a demo answer with the official WSDL (generic checks: test_conformance)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from lxml import etree

from npo_core import Query, conformance, soap
from npo_core.demo import PATIENTS, demo_source
from npo_core.identity import parse_patient_id
from npo_core.plugins import collect, make_plugin_manager
from npo_core.schemas import SchemaSet
from npo_plugins.contracts import get_activities
from npo_plugins.contracts.get_activities import RESPONDER, GetActivities

from .conftest import DEMO_TODAY

CORE = "urn:riv:clinicalprocess:activity:actions:1"
REG = collect(make_plugin_manager(load_entrypoints=False, extra=(get_activities,)))
CONTRACT = REG.contracts["GetActivities:1"]
FIONA, EGON = "199701062383", "193601286499"


@pytest.fixture(scope="module")
def schemas(bundle):
    return SchemaSet(bundle)


@pytest.mark.parametrize("check", [c.name for c in conformance.checks(CONTRACT, Path("."), REG.views)])
def test_conformance(check, bundle):
    next(c for c in conformance.checks(CONTRACT, bundle, REG.views, DEMO_TODAY) if c.name == check).run()


def test_requests_validate_and_carry_every_filter_the_schema_can_say(schemas):
    query = Query(parse_patient_id("196812732391"), period=(dt.date(2020, 1, 1), dt.date(2026, 12, 31)),
                  care_units=("SE2321000016-9RKT",), care_providers=("SE2321000016-F0VB",),
                  source_system="SE2321000016-TKC1")
    request = CONTRACT.build_request(query)
    assert schemas.issues(CONTRACT, request) == []
    assert CONTRACT.parse_request(request) == query
    assert request.findtext(f"{{{RESPONDER}}}patientId/{{{CORE}}}root") == "1.2.752.129.2.1.3.3"
    assert request.findtext(f"{{{RESPONDER}}}time/{{{CORE}}}end") == "20261231235959"
    assert request.findtext(f"{{{RESPONDER}}}interactionAgreementId") == GetActivities.interaction_agreement_id
    assert len(GetActivities.interaction_agreement_id) == 36, "the declared default (npo_core.riv.GroupedContract)"
    # The schema takes one care unit: with several, none is asked for rather than only the first.
    several = CONTRACT.build_request(Query(query.patient, care_units=("SE2321000016-9RKT", "SE2321000016-A1SD")))
    assert schemas.issues(CONTRACT, several) == [] and several.find(f"{{{RESPONDER}}}careUnitId") is None


def test_every_demo_answer_validates_and_decodes_to_its_records(schemas):
    for pid in PATIENTS:
        for address in conformance.ADDRESSES:
            records = CONTRACT.demo_records(demo_source(pid, address, CONTRACT.id, DEMO_TODAY))
            answer = CONTRACT.render_response(records, Query(parse_patient_id(pid)))
            assert schemas.issues(CONTRACT, answer) == [], (pid, address)
            decoded = CONTRACT.parse_response(soap.unwrap(soap.parse_xml(soap.envelope(answer)))[0]).records
            assert [r.to_json() for r in decoded] == [r.to_json() for r in records]
            assert all(r.information_type == "caa-ga" and r.patient_id == pid for r in decoded)


GROUP = f"""<GetActivitiesResponse xmlns="{RESPONDER}" xmlns:c="{CORE}"><activityGroup>
  <c:patient><c:id><c:root>1.2.752.129.2.1.3.1</c:root><c:extension>{FIONA}</c:extension></c:id>
    <c:dateOfBirth>19970106</c:dateOfBirth></c:patient>
  <c:performerRole><c:code><c:code>201010</c:code><c:codeSystem>1.2.752.129.2.2.1.4</c:codeSystem>
      <c:displayName>Läkare</c:displayName></c:code>
    <c:person><c:name>Sara Lund</c:name></c:person>
    <c:careUnit><c:id><c:root>1.2.752.129.2.1.4.1</c:root><c:extension>SE2321000016-9RKT</c:extension></c:id>
      <c:name>Gubbängens vårdcentral</c:name>
      <c:careGiver><c:id><c:root>1.2.752.129.2.1.4.1</c:root><c:extension>SE2321000016-F0VB</c:extension></c:id>
      </c:careGiver></c:careUnit></c:performerRole>
  <c:sourceSystem><c:id><c:root>1.2.752.129.2.1.4.1</c:root><c:extension>SE2321000016-TKC1</c:extension></c:id>
  </c:sourceSystem>
  <c:careProcessId>3f2b8c1e-7d4a-4b6e-9c21-5a0e8f7d6b34</c:careProcessId>
  <c:activity><c:id><c:root>1.2.752.129.2.1.2.1</c:root><c:extension>A-1</c:extension></c:id>
    <c:code><c:code>AA039</c:code><c:codeSystem>1.2.752.116.1.3.2.1.4</c:codeSystem>
      <c:displayName>Klinisk undersökning av nervsystemet</c:displayName></c:code>
    <c:time><c:start><c:format>YYYYMM</c:format><c:value>202403</c:value></c:start></c:time>
    <c:approvedForPatient>false</c:approvedForPatient><c:registrationTime>20240320101500</c:registrationTime>
  </c:activity>
  <c:activity><c:id><c:root>1.2.752.129.2.1.2.1</c:root><c:extension>A-2</c:extension></c:id>
    <c:code><c:code>29303009</c:code><c:codeSystem>1.2.752.116.2.1.1</c:codeSystem></c:code>
    <c:targetSite><c:code>368209003</c:code><c:codeSystem>1.2.752.116.2.1.1</c:codeSystem>
      <c:displayName>Höger överarm</c:displayName></c:targetSite>
    <c:time><c:start><c:format>YYYYMMDDhhmmss</c:format><c:value>20240321083000</c:value></c:start>
      <c:end><c:format>YYYYMMDDhhmmss</c:format><c:value>20240321084500</c:value></c:end></c:time>
    <c:description>Vilo-EKG</c:description>
    <c:approvedForPatient>true</c:approvedForPatient><c:registrationTime>20240321090000</c:registrationTime>
  </c:activity>
</activityGroup></GetActivitiesResponse>"""


def test_each_activity_of_a_group_is_a_record_with_the_groups_owner(schemas, monkeypatch):
    payload = soap.parse_xml(GROUP.encode())
    assert schemas.issues(CONTRACT, payload) == []
    reads = []
    monkeypatch.setattr(GetActivities, "read_body", lambda self, el: reads.append(el) or {})
    first, second = CONTRACT.parse_response(payload).records
    assert not reads, "decided on the group and a few peeked paths: the body is read when asked for"
    for r in (first, second):
        assert (r.care_unit_id, r.care_provider_id, r.care_unit_name, r.author, r.source_system, r.patient_id) == (
            "SE2321000016-9RKT", "SE2321000016-F0VB", "Gubbängens vårdcentral", "Sara Lund", "SE2321000016-TKC1", FIONA)
    assert (first.id, first.title, first.approved_for_patient) == ("A-1", "Klinisk undersökning av nervsystemet", False)
    assert first.time.date() == dt.date(2024, 3, 1) and first.block_time.date() == dt.date(2024, 3, 20)
    assert (second.id, second.title, second.time.hour, second.time.minute) == ("A-2", "29303009", 8, 30)
    monkeypatch.undo()
    first, second = CONTRACT.parse_response(payload).records
    assert second.detail["target_site"]["displayName"] == "Höger överarm" and second.detail["description"] == "Vilo-EKG"
    assert first.detail["group"]["care_process_id"] == "3f2b8c1e-7d4a-4b6e-9c21-5a0e8f7d6b34"
    assert first.detail["group"] == second.detail["group"] and "activity" not in first.detail["group"]


def test_an_activity_repeated_in_its_group_is_one_record():
    """As the core counts a group's records: its distinct activities (by id), at least one."""
    payload = soap.parse_xml(GROUP.encode())
    first = payload[0].find(etree.QName(CORE, "activity").text)
    first.addnext(etree.fromstring(etree.tostring(first)))
    assert [r.id for r in CONTRACT.parse_response(payload).records] == ["A-1", "A-2"]
    assert CONTRACT.records_in(payload[0]) == 2
    for activity in payload[0].findall(etree.QName(CORE, "activity").text):
        payload[0].remove(activity)
    assert CONTRACT.parse_response(payload).records == [] and CONTRACT.records_in(payload[0]) == 1


def test_the_view_names_the_code_system_each_record_carries():
    view = REG.views["atgarder"]
    first, second = CONTRACT.parse_response(soap.parse_xml(GROUP.encode())).records
    cells = lambda r: {heading: cell(r) for heading, cell in view.columns}  # noqa: E731
    assert cells(first)["Kod"] == "AA039 (KVÅ)" and cells(second)["Kod"] == "29303009 (SNOMED CT)"
    assert cells(second)["Lokalisation"] == "Höger överarm" and cells(first)["Vårdenhet"] == "Gubbängens vårdcentral"
    assert dict(view.details(first))["Tid"] == "2024-03", "a partial time is shown as precisely as it was given"
    assert dict(view.details(second))["Tid"] == "2024-03-21", "start and end the same day: one date"
    assert dict(view.details(first))["Utförd av"] == "Sara Lund, Läkare"
    assert dict(view.details(first))["Kan visas för patienten"] == "Nej"


def test_egon_has_the_variants_and_fiona_activities_from_every_source():
    today = DEMO_TODAY
    egon = CONTRACT.demo_records(demo_source(EGON, "SE2321000016-TKC1", CONTRACT.id, today))
    assert egon[0].detail["time"]["start"]["format"] == "YYYYMM" and egon[0].time.day == 1
    assert egon[1].author is None and egon[1].title == egon[1].detail["code"]["code"]
    assert not egon[2].has_owner
    fiona = [r for a in conformance.ADDRESSES for r in CONTRACT.demo_records(demo_source(FIONA, a, CONTRACT.id, today))]
    assert len({r.care_provider_id for r in fiona}) == len(conformance.ADDRESSES)
    assert {r.detail["code"]["codeSystem"] for r in fiona} <= {"1.2.752.116.2.1.1", "1.2.752.116.1.3.2.1.4"}


def test_zeep_with_the_official_wsdl_decodes_a_demo_answer(bundle):
    zeep = pytest.importorskip("zeep")
    records = CONTRACT.demo_records(demo_source(FIONA, "SE2321000131-MLM1", CONTRACT.id, DEMO_TODAY))
    answer = CONTRACT.render_response(records, Query(parse_patient_id(FIONA)))
    client = zeep.Client(str(bundle / CONTRACT.wsdl))
    decoded = client.get_element(answer.tag).parse(etree.fromstring(etree.tostring(answer)), client.wsdl.types)
    groups = decoded.activityGroup
    assert records and [g.activity[0].id.extension for g in groups] == [r.id for r in records]
    assert [g.performerRole.careUnit.id.extension for g in groups] == [r.care_unit_id for r in records]
    assert [g.activity[0].code.displayName for g in groups] == [r.title for r in records]


def test_every_element_the_schema_defines_is_read_and_written_back(bundle, schemas, monkeypatch):
    """An answer with every element of the official schema: nothing unmapped, and rendering what was read
    gives an answer that reads the same."""
    from npo_core.riv import coverage, instances

    # instances has no candidate for this domain's UUIDType (a version 4 UUID): careProcessId
    monkeypatch.setattr(instances, "CANDIDATES", instances.CANDIDATES + ("3f2b8c1e-7d4a-4b6e-9c21-5a0e8f7d6b34",))
    for answer in instances.maximal(bundle / CONTRACT.schema, "GetActivitiesResponse"):
        assert schemas.issues(CONTRACT, answer) == []
        assert not coverage.unmapped(CONTRACT, answer)
        records = CONTRACT.parse_response(answer).records
        again = CONTRACT.render_response(records, Query(parse_patient_id(FIONA)))
        assert schemas.issues(CONTRACT, again) == []
        assert [r.to_json() for r in CONTRACT.parse_response(again).records] == [r.to_json() for r in records]
        assert records[0].detail["group"]["additional_participant"][0]["device"]["model"]["value"]
