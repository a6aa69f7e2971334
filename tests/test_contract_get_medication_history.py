"""GetMedicationHistory 2.2 specifics: 2.0 answers, header-first reading, the body spec, demo content (generic
checks: test_conformance)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from lxml import etree
from markupsafe import Markup

from npo_core import Query, riv, soap
from npo_core.demo import PROVIDERS, demo_source
from npo_core.identity import parse_patient_id
from npo_core.plugins import collect, make_plugin_manager
from npo_core.riv.instances import maximal
from npo_core.schemas import SchemaSet
from npo_plugins.contracts.get_medication_history import EXT, GetMedicationHistory

from .conftest import DEMO_TODAY

EGON, FIONA, HARRY, LINDA = "193601286499", "199701062383", "194602226559", "189908029805"
TKC = "SE2321000016-TKC1"
GMH = GetMedicationHistory()
CORE = GMH.core_namespace
XSD_2_0 = ("clinicalprocess_activityprescription_actoutcome/interactions/GetMedicationHistoryInteraction/"
           "GetMedicationHistoryResponder_2.0.xsd")

# A 2.0 producer's answer: an NPL id (mandatory in 2.0), a result saying INFO, and in the second
# record a local extension element, which 2.0 allows at the end of a prescription and 2.2 does not.
ANSWER_2_0 = f"""<GetMedicationHistoryResponse xmlns="{GMH.responder_namespace}" xmlns:c="{CORE}">
  <medicationMedicalRecord>
    <c:medicationMedicalRecordHeader>
      <c:documentId>ord-4711</c:documentId><c:sourceSystemHSAId>{TKC}</c:sourceSystemHSAId>
      <c:patientId><c:id>{FIONA}</c:id><c:type>1.2.752.129.2.1.3.1</c:type></c:patientId>
      <c:accountableHealthcareProfessional>
        <c:authorTime>20250305101500</c:authorTime>
        <c:healthcareProfessionalName>Anna Lindqvist</c:healthcareProfessionalName>
        <c:healthcareProfessionalCareUnitHSAId>SE2321000016-9RKT</c:healthcareProfessionalCareUnitHSAId>
        <c:healthcareProfessionalCareGiverHSAId>SE2321000016-F0VB</c:healthcareProfessionalCareGiverHSAId>
      </c:accountableHealthcareProfessional>
      <c:approvedForPatient>true</c:approvedForPatient>
    </c:medicationMedicalRecordHeader>
    <c:medicationMedicalRecordBody><c:medicationPrescription>
      <c:prescriptionId><c:root>1.2.752.129.2.1.2.1</c:root><c:extension>{TKC}:4711</c:extension></c:prescriptionId>
      <c:typeOfPrescription>I</c:typeOfPrescription><c:prescriptionStatus>Active</c:prescriptionStatus>
      <c:prescriber><c:authorTime>20250304160000</c:authorTime></c:prescriber>
      <c:startOfTreatment>20250305000000</c:startOfTreatment><c:selfMedication>false</c:selfMedication>
      <c:drug>
        <c:drug>
          <c:nplId><c:code>19000101000001</c:code><c:codeSystem>1.2.752.129.2.1.5.1</c:codeSystem>
            <c:displayName>Waran</c:displayName></c:nplId>
          <c:atcCode><c:code>B01AA03</c:code><c:codeSystem>1.2.752.129.2.2.3.1.1</c:codeSystem>
            <c:displayName>warfarin</c:displayName></c:atcCode>
          <c:pharmaceuticalForm>Tablett</c:pharmaceuticalForm><c:strength>2.5</c:strength>
          <c:strengthUnit>mg</c:strengthUnit>
        </c:drug>
        <c:dosage><c:dosageInstruction>Enligt doseringsschema från AK-mottagningen</c:dosageInstruction></c:dosage>
      </c:drug>
    </c:medicationPrescription></c:medicationMedicalRecordBody>
  </medicationMedicalRecord>
  <medicationMedicalRecord>
    <c:medicationMedicalRecordHeader>
      <c:documentId>ord-4712</c:documentId><c:sourceSystemHSAId>{TKC}</c:sourceSystemHSAId>
      <c:patientId><c:id>{FIONA}</c:id><c:type>1.2.752.129.2.1.3.1</c:type></c:patientId>
      <c:accountableHealthcareProfessional><c:authorTime>20250401090000</c:authorTime>
      </c:accountableHealthcareProfessional>
      <c:approvedForPatient>false</c:approvedForPatient>
    </c:medicationMedicalRecordHeader>
    <c:medicationMedicalRecordBody><c:medicationPrescription>
      <c:prescriptionId><c:root>1.2.752.129.2.1.2.1</c:root><c:extension>{TKC}:4712</c:extension></c:prescriptionId>
      <c:typeOfPrescription>I</c:typeOfPrescription><c:prescriptionStatus>Active</c:prescriptionStatus>
      <c:selfMedication>true</c:selfMedication>
      <c:drug><c:generics><c:substance>Paracetamol</c:substance><c:form>Tablett</c:form></c:generics></c:drug>
      <x:lokalUppgift xmlns:x="urn:example:lokal">Köpt receptfritt</x:lokalUppgift>
    </c:medicationPrescription></c:medicationMedicalRecordBody>
  </medicationMedicalRecord>
  <result><c:resultCode>INFO</c:resultCode><c:logId>7b0a0c1e-0000-4000-8000-000000000001</c:logId>
    <c:message>Läkemedel från dosdispensering visas inte</c:message></result>
</GetMedicationHistoryResponse>"""


@pytest.fixture(scope="module")
def schemas(bundle):
    return SchemaSet(bundle)


def records(pid=EGON, address=TKC):
    return GMH.demo_records(demo_source(pid, address, GMH.id, DEMO_TODAY))


def roundtrip(recs, query=None):
    payload = GMH.render_response(recs, query or Query(parse_patient_id(EGON)))
    return GMH.parse_response(soap.unwrap(soap.parse_xml(soap.envelope(payload)))[0])


def test_one_contract_for_major_2_that_blocks_may_exclude():
    assert (GMH.id, GMH.version, GMH.categorizations) == ("GetMedicationHistory:2", "2.2", ("caa-gmh",))
    assert GMH.block_information_type == "lak"
    assert GMH.soap_action == ("urn:riv:clinicalprocess:activityprescription:actoutcome:"
                               "GetMedicationHistoryResponder:2:GetMedicationHistory")


def test_the_request_is_valid_for_2_0_producers_too(schemas, bundle):
    query = Query(parse_patient_id(FIONA), period=(dt.date(2024, 1, 1), dt.date(2026, 6, 30)),
                  care_units=("SE2321000016-9RKT",), care_providers=("SE2321000016-F0VB",), source_system=TKC)
    element = GMH.build_request(query)
    assert schemas.issues(GMH, element) == []
    assert etree.XMLSchema(etree.parse(str(bundle / XSD_2_0))).validate(element)
    assert GMH.parse_request(element) == query


def test_a_request_with_an_open_ended_period_filters_by_overlap():
    element = GMH.build_request(Query(parse_patient_id(EGON)))
    period = etree.SubElement(element, GMH.q("datePeriod"))
    element.find(GMH.q("patientId")).addnext(period)
    etree.SubElement(period, f"{{{CORE}}}start").text = "20250101"
    query = GMH.parse_request(element)
    assert query.period == (dt.date(2025, 1, 1), dt.date.max)
    recs = records()
    kept = {r.id for r in roundtrip(recs, query).records}
    for r in recs:
        end = r.detail["prescription"].get("endOfTreatment")
        assert (r.id in kept) == (end is None or end[:8] >= "20250101"), r.id


def test_a_2_0_answer_validates_against_2_0_and_parses(bundle, schemas):
    payload = etree.fromstring(ANSWER_2_0.encode())
    schema_2_0 = etree.XMLSchema(etree.parse(str(bundle / XSD_2_0)))
    assert schema_2_0.validate(payload), schema_2_0.error_log
    # 2.2 alone accepts all of it but the 2.0 extension point at the end of a prescription; valid by 2.0 is valid
    schema_2_2 = etree.XMLSchema(etree.parse(str(bundle / GMH.schema)))
    assert not schema_2_2.validate(payload) and "lokalUppgift" in str(schema_2_2.error_log)
    assert GMH.minor_schemas == (XSD_2_0,) and schemas.issues(GMH, payload) == []
    answer = GMH.parse_response(payload)
    assert (answer.result_code, answer.message) == ("INFO", "Läkemedel från dosdispensering visas inte")
    waran, paracetamol = answer.records
    assert waran.title == "Waran 2,5 mg tablett"  # the NPL product name wins over the ATC text
    assert waran.time == dt.datetime(2025, 3, 4, 16, 0, tzinfo=waran.time.tzinfo)  # ordination, not registration
    assert waran.block_time == dt.datetime(2025, 3, 5, 10, 15, tzinfo=waran.time.tzinfo)
    assert (waran.care_provider_id, waran.care_unit_id, waran.author) == ("SE2321000016-F0VB", "SE2321000016-9RKT",
                                                                          "Anna Lindqvist")
    assert waran.detail["prescription"]["drug"]["drug"]["nplId"]["code"] == "19000101000001"
    assert waran.detail["prescription"]["drug"]["drug"]["strength"] == 2.5
    assert waran.detail["prescription"]["drug"]["dosage"] == [
        {"dosageInstruction": "Enligt doseringsschema från AK-mottagningen"}]
    assert paracetamol.title == "Paracetamol tablett" and not paracetamol.has_owner
    assert paracetamol.detail["prescription"]["selfMedication"] is True
    assert paracetamol.detail["prescription"]["drug"] == {"generics": {"substance": "Paracetamol", "form": "Tablett"}}
    assert paracetamol.time == paracetamol.block_time  # neither ordination nor start given: registration


def test_the_body_spec_writes_the_2_2_relation_in_its_extension_namespace():
    rx = next(r for r in records() if r.detail["prescription"].get("relation")).detail["prescription"]
    parent = etree.Element("x")
    riv.render(parent, CORE, GMH.body, {"prescription": rx})
    relation = parent[0][-1]
    assert relation.tag == f"{{{EXT}}}relation"
    assert [c.tag for c in relation] == [f"{{{EXT}}}code", f"{{{EXT}}}referredInformation"]
    assert relation.find(f"{{{EXT}}}code/{{{CORE}}}code").text == "416083004"
    owner = relation.find(f"{{{EXT}}}referredInformation/{{{EXT}}}informationOwner")
    assert [c.tag for c in owner] == [f"{{{CORE}}}id"]  # the core's InformationOwnerType
    assert riv.parse(parent, CORE, GMH.body) == {"prescription": rx}


@pytest.mark.parametrize("xsd", [GMH.schema, XSD_2_0])
def test_every_value_of_an_answer_with_every_schema_element_is_kept(bundle, xsd):
    (payload,) = maximal(bundle / xsd, "GetMedicationHistoryResponse")
    body = payload.find(f".//{{{CORE}}}medicationMedicalRecordBody")
    (record,) = GMH.parse_response(payload).records
    detail = {k: v for k, v in record.detail.items() if k != "header"}

    def values(v):
        return sum(map(values, v.values() if isinstance(v, dict) else v)) if isinstance(v, (dict, list)) else 1

    assert values(detail) == sum(1 for e in body.iter() if len(e) == 0) > 900
    again = GMH.render_response([record], Query(parse_patient_id(EGON)))
    assert {k: v for k, v in GMH.parse_response(again).records[0].detail.items() if k != "header"} == detail


def test_records_are_decided_on_the_header_and_a_few_peeked_body_values(monkeypatch):
    contract = GetMedicationHistory()
    payload = contract.render_response(records(LINDA), Query(parse_patient_id(LINDA)))
    expected = [(r.id, r.title, r.time) for r in contract.parse_response(payload).records]

    def unread(body):
        raise AssertionError("the body was read before its detail was asked for")

    monkeypatch.setattr(contract, "read_body", unread)
    answer = contract.parse_response(payload)
    assert [(r.id, r.title, r.time) for r in answer.records] == expected and len(expected) == 1000
    assert {"prescription.prescriber.authorTime", "prescription.startOfTreatment"} < contract.peeked
    assert len(contract.peeked) <= 16 and not any("dosage" in p for p in contract.peeked)  # a few values
    with pytest.raises(AssertionError, match="body was read"):
        answer.records[0].detail["prescription"]


def test_egon_has_every_drug_choice_and_optional_part():
    recs = records()
    rxs = [r.detail["prescription"] for r in recs]
    choices = Counter(next((k for k in rx.get("drug", {}) if k not in ("comment", "dosage")), None) for rx in rxs)
    assert {"drug", "generics", "unstructuredDrugInformation", None} <= set(choices)
    assert any(rx["selfMedication"] and "prescriber" not in rx for rx in rxs)
    assert any(rx["typeOfPrescription"] == "U" and rx.get("endOfTreatmentReason") for rx in rxs)
    assert any(rx.get("dispensationAuthorization", {}).get("nonReplaceable") for rx in rxs)
    assert any(rx.get("administration") and rx.get("relation") for rx in rxs)
    assert any(r.detail.get("patient") for r in recs)
    assert any(not r.approved_for_patient and not r.detail["header"]["signature"] for r in recs)
    assert sum(not r.has_owner for r in recs) == 1
    assert all(r.detail["header"]["document_time"] is None for r in recs)  # the TKB forbids documentTime


def test_the_demo_uses_every_kind_of_dosage():
    dosages = [d for pid in (FIONA, LINDA) for address in (TKC, "SE2321000131-MLM1")
               for r in records(pid, address) for d in r.detail["prescription"].get("drug", {}).get("dosage", [])]
    kinds = {kind for d in dosages for part in ("setDosage", "conditionalDosage") for kind in d.get(part, {})}
    assert {"frequencyDosage", "periodDosage", "occasionDosage", "rampedDosage", "singleDose",
            "conditionDescription"} <= kinds
    assert any("maximumDosage" in d for d in dosages) and any("lengthOfTreatment" in d for d in dosages)


def test_chains_link_up_and_end_in_one_active_ordination():
    recs = records(LINDA)
    ids = {r.detail["prescription"]["prescriptionId"]["extension"] for r in recs}
    chains: dict[str, list] = {}
    for r in recs:
        rx = r.detail["prescription"]
        for link in ("precedingPrescriptionId", "succeedingPrescriptionId"):
            assert rx.get(link, {"extension": next(iter(ids))})["extension"] in ids
        if "prescriptionChainId" in rx:
            chains.setdefault(rx["prescriptionChainId"]["extension"], []).append(rx)
    assert max(len(c) for c in chains.values()) == 40
    for chain in chains.values():
        assert [rx["prescriptionStatus"] for rx in chain] == ["Inactive"] * (len(chain) - 1) + ["Active"]
        assert all("dosage" not in rx["drug"] for rx in chain if rx["typeOfPrescription"] == "U")


def test_linda_has_a_thousand_records_and_markup_stays_text():
    counts = {p[4][0]: len(records(LINDA, p[4][0])) for p in PROVIDERS}
    assert counts[TKC] == 1000 and all(n == 300 for a, n in counts.items() if a != TKC)
    recs = records(LINDA)
    assert max(len(r.detail["prescription"].get("administration", [])) for r in recs) == 50
    view = collect(make_plugin_manager()).views["lakemedel"]
    odd = next(r for r in roundtrip(recs).records if "<script>" in r.detail["prescription"].get("prescriptionNote", ""))
    note = dict(view.details(odd))["Notat"]
    assert "<script>" in note and not isinstance(note, Markup)  # the template escapes it


def test_harry_has_two_to_five_records_per_source_over_units_and_years():
    for provider in PROVIDERS:
        recs = records(HARRY, provider[4][0])
        assert 2 <= len(recs) <= 5
        assert max(r.time for r in recs) - min(r.time for r in recs) > dt.timedelta(days=2 * 365)
        assert len({r.care_unit_id for r in recs}) == min(len(provider[3]), len(recs))


def test_the_view_reads_a_prescription():
    view = collect(make_plugin_manager()).views["lakemedel"]
    metformin = next(r for r in records() if r.id.endswith("lak-v0"))
    row = {heading: cell(metformin) for heading, cell in view.columns}
    assert (row["Läkemedel"], row["Kod"], row["Dosering"], row["Status"]) == (
        "Metformin 500 mg tablett", "A10BA02 (ATC)", "1 tablett 2 gånger dagligen", "Aktiv")
    details = dict(view.details(metformin))
    assert details["Ordinationsorsak"] == "Diabetes mellitus typ 2 utan komplikationer, Viktnedgång önskas"
    assert details["Förskrivning"].startswith("1 tablett 2 gånger dagligen i samband med måltid; 300 st; giltig")
    stop = next(r for r in records() if r.id.endswith("lak-v4"))
    assert {h: c(stop) for h, c in view.columns}["Status"] == "Aktiv, utsättning"
    assert dict(view.details(stop))["Utsättningsorsak"] == "Biverkan: torrhosta"
