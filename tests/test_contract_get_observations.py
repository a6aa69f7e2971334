"""GetObservations 1.1 specifics: the IIType request, one record per observation of a group, the value forms,
the view, the demo patients' observations, and zeep calling the demo producer with the official WSDL
(generic checks: test_conformance, run here too on the plugin alone)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from lxml import etree

from npo_core import Query, conformance, engagement, soap
from npo_core.demo import PATIENTS, demo_source
from npo_core.demo.platform import DemoProducers, make_platform
from npo_core.identity import parse_patient_id
from npo_core.plugins import collect, make_plugin_manager
from npo_core.registry import NATIONAL_EI
from npo_core.riv import coverage, instances
from npo_core.schemas import SchemaSet
from npo_plugins.contracts import get_observations
from npo_plugins.contracts.get_observations import RESPONDER, GetObservations, value_text

from .conftest import DEMO_TODAY

CORE = "urn:riv:clinicalprocess:healthcond:basic:1"
REG = collect(make_plugin_manager(load_entrypoints=False, extra=(get_observations,)))
CONTRACT = REG.contracts["GetObservations:1"]
VIEW = REG.views["observationer"]
FIONA, EGON, HARRY, LINDA, MOHAMED = PATIENTS
SNOMED = "1.2.752.116.2.1.1"


@pytest.fixture(scope="module")
def schemas(bundle):
    return SchemaSet(bundle)


def demo(pid: str, address: str = "SE2321000016-TKC1"):
    return CONTRACT.demo_records(demo_source(pid, address, CONTRACT.id, DEMO_TODAY))


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
    assert request.findtext(f"{{{RESPONDER}}}time/{{{CORE}}}start") == "20200101000000"
    assert request.findtext(f"{{{RESPONDER}}}careUnitId/{{{CORE}}}extension") == "SE2321000016-9RKT"
    assert request.findtext(f"{{{RESPONDER}}}sourceSystemHSAId") == "SE2321000016-TKC1"
    assert request.findtext(f"{{{RESPONDER}}}interactionAgreementId") == GetObservations.interaction_agreement_id
    # The schema takes one care unit and one care giver: with several, none is asked for rather than only the first.
    several = CONTRACT.build_request(Query(query.patient, care_units=("SE2321000016-9RKT", "SE2321000016-A1SD"),
                                           care_providers=("SE2321000016-F0VB", "SE2321000255-F00001")))
    assert schemas.issues(CONTRACT, several) == []
    assert several.find(f"{{{RESPONDER}}}careUnitId") is None and several.find(f"{{{RESPONDER}}}careGiverId") is None
    plain = CONTRACT.build_request(Query(parse_patient_id(FIONA)))
    assert schemas.issues(CONTRACT, plain) == [] and CONTRACT.parse_request(plain) == Query(parse_patient_id(FIONA))


def test_every_demo_answer_validates_decodes_to_its_records_and_is_fully_mapped(schemas):
    total = 0
    for pid in PATIENTS:
        for address in conformance.ADDRESSES:
            records = demo(pid, address)
            answer = CONTRACT.render_response(records, Query(parse_patient_id(pid)))
            assert schemas.issues(CONTRACT, answer) == [], (pid, address)
            decoded = CONTRACT.parse_response(soap.unwrap(soap.parse_xml(soap.envelope(answer)))[0]).records
            assert [r.to_json() for r in decoded] == [r.to_json() for r in records]
            assert all(r.information_type == "chb-o" and r.patient_id == pid for r in decoded)
            assert not coverage.unmapped(CONTRACT, answer)
            total += len(records)
    assert total > 100


GROUP = f"""<GetObservationsResponse xmlns="{RESPONDER}" xmlns:c="{CORE}"><observationGroup>
  <c:patient><c:id><c:root>1.2.752.129.2.1.3.1</c:root><c:extension>{FIONA}</c:extension></c:id>
    <c:dateOfBirth>19970106</c:dateOfBirth></c:patient>
  <c:performerRole><c:code><c:code>204010</c:code><c:codeSystem>1.2.752.129.2.2.1.4</c:codeSystem>
      <c:displayName>Sjuksköterska</c:displayName></c:code>
    <c:person><c:name>Sara Lund</c:name></c:person>
    <c:careUnit><c:id><c:root>1.2.752.129.2.1.4.1</c:root><c:extension>SE2321000016-9RKT</c:extension></c:id>
      <c:name>Gubbängens vårdcentral</c:name>
      <c:careGiver><c:id><c:root>1.2.752.129.2.1.4.1</c:root><c:extension>SE2321000016-F0VB</c:extension></c:id>
        <c:name>Region Stockholm</c:name></c:careGiver></c:careUnit></c:performerRole>
  <c:sourceSystem><c:id><c:root>1.2.752.129.2.1.4.1</c:root><c:extension>SE2321000016-TKC1</c:extension></c:id>
  </c:sourceSystem>
  <c:observation><c:id><c:root>1.2.752.129.2.1.2.1</c:root><c:extension>O-1</c:extension></c:id>
    <c:type><c:code>50373000</c:code><c:codeSystem>{SNOMED}</c:codeSystem>
      <c:codeSystemName>SNOMED CT-SE</c:codeSystemName>
      <c:codeSystemVersion>2024-05</c:codeSystemVersion><c:displayName>Kroppslängd</c:displayName></c:type>
    <c:time><c:start><c:format>YYYYMM</c:format><c:value>202403</c:value></c:start></c:time>
    <c:value><c:pq><c:value>167.5</c:value><c:unit>cm</c:unit></c:pq></c:value>
    <c:valueNegation>false</c:valueNegation>
    <c:approvedForPatient>false</c:approvedForPatient><c:registrationTime>20240320101500</c:registrationTime>
  </c:observation>
  <c:observation><c:id><c:root>1.2.752.129.2.1.2.1</c:root><c:extension>O-2</c:extension></c:id>
    <c:type><c:code>267038008</c:code><c:codeSystem>{SNOMED}</c:codeSystem></c:type>
    <c:time><c:start><c:format>YYYYMMDDhhmmss</c:format><c:value>20240321083000</c:value></c:start></c:time>
    <c:value/>
    <c:targetSite><c:code>30021000</c:code><c:codeSystem>{SNOMED}</c:codeSystem>
      <c:displayName>Underben</c:displayName></c:targetSite>
    <c:valueNegation>true</c:valueNegation><c:description>Inga ödem</c:description>
    <c:approvedForPatient>true</c:approvedForPatient>
  </c:observation>
</observationGroup></GetObservationsResponse>"""


def test_each_observation_of_a_group_is_a_record_with_the_groups_owner(schemas, monkeypatch):
    payload = soap.parse_xml(GROUP.encode())
    assert schemas.issues(CONTRACT, payload) == []
    reads = []
    monkeypatch.setattr(GetObservations, "read_body", lambda self, el: reads.append(el) or {})
    first, second = CONTRACT.parse_response(payload).records
    assert not reads, "decided on the group and a few peeked paths: the observation is read when asked for"
    for r in (first, second):
        assert (r.care_unit_id, r.care_provider_id, r.care_unit_name, r.care_provider_name, r.author,
                r.source_system, r.patient_id) == ("SE2321000016-9RKT", "SE2321000016-F0VB", "Gubbängens vårdcentral",
                                                   "Region Stockholm", "Sara Lund", "SE2321000016-TKC1", FIONA)
    assert (first.id, first.title, first.approved_for_patient) == ("O-1", "Kroppslängd", False)
    assert first.time.date() == dt.date(2024, 3, 1) and first.block_time.date() == dt.date(2024, 3, 20)
    assert (second.id, second.title, second.time.hour, second.time.minute) == ("O-2", "267038008", 8, 30)
    assert second.block_time == second.time, "no registration time: blocks compare the observation's own time"
    monkeypatch.undo()
    first, second = CONTRACT.parse_response(payload).records
    assert first.detail["type"] == {"code": "50373000", "codeSystem": SNOMED, "codeSystemName": "SNOMED CT-SE",
                                    "codeSystemVersion": "2024-05", "displayName": "Kroppslängd"}
    assert first.detail["value"] == {"pq": {"value": 167.5, "unit": "cm"}}
    assert second.detail["value"] == {} and second.detail["value_negation"] is True
    assert first.detail["group"] == second.detail["group"] and "observation" not in first.detail["group"]
    assert first.detail["group"]["performer_role"]["code"]["displayName"] == "Sjuksköterska"


def test_the_view_shows_values_as_measured_and_names_the_code_system_each_record_carries():
    first, second = CONTRACT.parse_response(soap.parse_xml(GROUP.encode())).records
    cells = lambda r: {heading: cell(r) for heading, cell in VIEW.columns}  # noqa: E731
    assert cells(first)["Kod"] == "50373000 (SNOMED CT-SE)" and cells(second)["Kod"] == "267038008 (SNOMED CT)"
    assert cells(first)["Värde"] == "167,5 cm" and cells(second)["Värde"] == "Ej förekommande"
    assert (cells(first)["Vårdenhet"], cells(first)["Vårdgivare"]) == ("Gubbängens vårdcentral", "Region Stockholm")
    details = dict(VIEW.details(first))
    assert details["Tid"] == "2024-03", "a partial time is shown as precisely as it was given"
    assert details["Utförd av"] == "Sara Lund, Sjuksköterska" and details["Kan visas för patienten"] == "Nej"
    assert details["Signerad"] == "Ej signerad" and dict(VIEW.details(second))["Lokalisation"] == \
        "Underben (30021000, SNOMED CT)"


def test_the_view_renders_every_value_form_of_egons_variants():
    egon = {r.id.rsplit("-obs-", 1)[1]: r for r in demo(EGON)}
    shown = {key: value_text(r) for key, r in egon.items()}
    assert shown["v3-0"] == "Före detta rökare" and shown["v4-0"] == "Ej förekommande"
    assert shown["v7-0"].count("–") == 1 and shown["v6-0"][:2] == "20"
    assert shown["v0-0"].endswith(" mm[Hg]") and egon["v0-0"].detail["status"]["displayName"] == "Slutförd"
    assert egon["v5-0"].detail["time"]["start"]["format"] == "YYYYMM" and egon["v5-0"].time.day == 1
    assert not egon["v1-0"].has_owner
    assert "legal_authenticator" not in egon["v2-0"].detail["group"] and not egon["v2-0"].approved_for_patient
    assert egon["v6-0"].title == "298059007", "no term: the code is the title"
    details = dict(VIEW.details(egon["v8-0"]))
    assert details["Medverkande"] == "Mätutrustning: Blodtrycksmätare Omron M3"
    assert details["Relaterad information"].startswith("Hänvisar till: vko ")
    for record in egon.values():
        assert all(isinstance(cell(record), str) for _h, cell in VIEW.columns)
        assert all(isinstance(value, str) for _l, value in VIEW.details(record))


def test_each_demo_patients_observations_fit_the_patient():
    def values(pid, code):
        return [r.detail["value"]["pq"]["value"] for a in conformance.ADDRESSES for r in demo(pid, a)
                if r.detail["type"]["code"] == code and "pq" in r.detail["value"]]

    weight, height, systolic = "27113001", "50373000", "271649006"
    assert values(FIONA, weight) and all(58 <= v <= 66 for v in values(FIONA, weight))  # 29 years
    assert values(LINDA, weight) and all(44 <= v <= 50 for v in values(LINDA, weight))  # 127 years
    assert all(150 <= v <= 152 for v in values(LINDA, height)) and all(180 <= v <= 182 for v in values(MOHAMED, height))
    assert values(LINDA, systolic) and min(values(LINDA, systolic)) >= 142 > max(values(FIONA, systolic) or [0])
    for pid, kind in PATIENTS.items():
        records = [r for a in conformance.ADDRESSES for r in demo(pid, a)]
        assert records, pid
        assert {r.detail["type"]["codeSystem"] for r in records} == {SNOMED}
        sex = records[0].detail["group"]["patient"]["gender"]["code"]
        assert sex == ("1" if int(pid[10]) % 2 else "2"), pid
    harry = demo(HARRY)
    assert len({r.care_unit_id for r in harry}) > 1 and len({r.time.year for r in harry}) > 1, "over units and years"
    assert '<script>' in demo(LINDA)[0].detail["description"], "producer text is data: the view must escape it"


def test_every_element_the_schema_defines_is_read_and_written_back(bundle, schemas):
    """An answer with every element of the official schema: nothing unmapped, and rendering what was read
    gives an answer that reads the same."""
    for answer in instances.maximal(bundle / CONTRACT.schema, "GetObservationsResponse"):
        assert schemas.issues(CONTRACT, answer) == []
        assert not coverage.unmapped(CONTRACT, answer)
        records = CONTRACT.parse_response(answer).records
        again = CONTRACT.render_response(records, Query(parse_patient_id(FIONA)))
        assert schemas.issues(CONTRACT, again) == []
        assert [r.to_json() for r in CONTRACT.parse_response(again).records] == [r.to_json() for r in records]
        group = records[0].detail["group"]
        assert group["additional_participant"][0]["location"]["address"][0]["part"][0]["value"]
        assert records[0].detail["relation"][0]["referred_information"]["information_owner"]["id"]["extension"]


def test_the_demo_index_lists_observations_under_their_categorization():
    producers = DemoProducers({CONTRACT.id: CONTRACT}, DEMO_TODAY)
    request = engagement.find_content_request(parse_patient_id(FIONA), "riv:clinicalprocess:healthcond:basic")
    answer = producers.find_content(soap.envelope(request, NATIONAL_EI))
    found = engagement.parse_find_content_response(soap.unwrap(soap.parse_xml(answer))[0])
    assert {e.categorization for e in found} == {"chb-o"}
    assert {e.logical_address for e in found} == set(conformance.ADDRESSES)


async def test_zeep_with_the_official_wsdl_calls_the_demo_producer_and_decodes_its_answer(bundle, aiohttp_server):
    zeep = pytest.importorskip("zeep")
    platform = await aiohttp_server(make_platform({CONTRACT.id: CONTRACT}, today=DEMO_TODAY))
    url = str(platform.make_url(f"/vp/{CONTRACT.service_path}"))
    address = "SE2321000131-MLM1"
    records = demo(FIONA, address)
    ours = CONTRACT.build_request(Query(parse_patient_id(FIONA)))

    def call():
        client = zeep.Client(str(bundle / CONTRACT.wsdl))
        wsdl_ns = f"urn:riv:{CONTRACT.service_domain}:{CONTRACT.name}:{CONTRACT.major}:rivtabp21"
        binding = next(b for b in client.wsdl.bindings if b.startswith(f"{{{wsdl_ns}}}"))
        value = client.get_element(ours.tag).parse(ours, client.wsdl.types)
        service = client.create_service(binding, url)
        return service[CONTRACT.name](_soapheaders={"LogicalAddress": address}, **{k: value[k] for k in value})

    answer = await asyncio.get_running_loop().run_in_executor(None, call)
    groups = answer.observationGroup
    assert records and [g.observation[0].id.extension for g in groups] == [r.id for r in records]
    assert [g.performerRole.careUnit.id.extension for g in groups] == [r.care_unit_id for r in records]
    assert [g.observation[0].type.displayName for g in groups] == [r.title for r in records]
    assert [float(g.observation[0].value.pq.value) for g in groups if g.observation[0].value.pq] == \
        [r.detail["value"]["pq"]["value"] for r in records if "pq" in r.detail["value"]]
    assert {g.patient.id.extension for g in groups} == {FIONA}


def test_only_one_group_is_written_per_record_and_a_producer_filters_as_asked():
    records = demo(FIONA)
    unit = records[0].care_unit_id
    answer = CONTRACT.render_response(records, CONTRACT.parse_request(CONTRACT.build_request(
        Query(parse_patient_id(FIONA), care_units=(unit,)))))
    groups = answer.findall(CONTRACT.q("observationGroup"))
    assert len(groups) == sum(r.care_unit_id == unit for r in records) > 0
    assert all(len(g.findall(etree.QName(CORE, "observation").text)) == 1 for g in groups)


def test_an_observation_repeated_in_its_group_is_one_record_and_a_group_without_one_is_reported():
    """The core accounts for an answer's groups: a repeat is the same observation, an empty group is unread."""
    from npo_core.decoding import decode_payload

    payload = soap.parse_xml(GROUP.encode())
    first = payload[0].find(etree.QName(CORE, "observation").text)
    first.addnext(etree.fromstring(etree.tostring(first)))
    assert [r.id for r in CONTRACT.parse_response(payload).records] == ["O-1", "O-2"]
    records = demo(FIONA)
    answer = CONTRACT.render_response(records, Query(parse_patient_id(FIONA)))
    emptied = answer[1]
    emptied.remove(emptied.find(etree.QName(CORE, "observation").text))
    decoded = decode_payload(CONTRACT, answer)
    assert [r.id for r in decoded.records] == [r.id for r in records[:1] + records[2:]]
    assert decoded.unread == [{"element": "observationGroup", "reason": "Posten kunde inte läsas", "count": 1}]


@pytest.fixture
def pm():
    """The demo with this plugin, whether or not its entry point is installed yet."""
    pm = make_plugin_manager()
    if not any(p is get_observations for p in pm.get_plugins()):
        pm.register(get_observations)
    return pm


async def test_the_set_page_names_code_systems_and_a_record_page_keeps_producer_markup_inert(demo):
    from .conftest import login

    await login(demo, patient=LINDA, relation=True)
    page = await (await demo.get(f"/patient/{LINDA}/observationer")).text()
    assert "Observationer" in page and "(SNOMED CT)" in page and " mm[Hg]" in page
    record = await demo.get(f"/patient/{LINDA}/observationer/SE2321000016-TKC1-obs-0-0")
    assert record.status == 200
    text = await record.text()
    assert "&lt;script&gt;alert(" in text and '<script>alert("npo")' not in text and "<img src=x" not in text
