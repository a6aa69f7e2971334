"""GetVaccinationHistory 2.0 specifics: request names, robust parsing, demo content.

The generic checks are in test_conformance."""

from __future__ import annotations

import datetime as dt

from lxml import etree

from npo_core import Query
from npo_core.contract import parse_timestamp
from npo_core.demo import PATIENTS, PROVIDERS, demo_source
from npo_core.identity import parse_patient_id
from npo_core.schemas import SchemaSet
from npo_plugins.contracts.get_maternity_medical_history import GetMaternityMedicalHistory
from npo_plugins.contracts.get_vaccination_history import CORE, GetVaccinationHistory, register_views

from .conftest import DEMO_TODAY, login

ADDRESSES = [p[4][0] for p in PROVIDERS]
CONTRACT = GetVaccinationHistory()
FIONA, EGON, LINDA = "199701062383", "193601286499", "189908029805"


def records(pid: str, address: str, contract=CONTRACT):
    return contract.demo_records(demo_source(pid, address, contract.id, DEMO_TODAY))


def columns():
    views = []
    register_views(views.append)
    return dict(views[0].columns), views[0].details


def test_request_spells_sourceSystemHSAid_as_the_contract_does(bundle):
    query = Query(parse_patient_id(FIONA), period=(dt.date(2020, 1, 1), dt.date(2026, 1, 1)),
                  care_units=("SE2321000016-9RKT",), source_system="SE2321000016-TKC1")
    element = CONTRACT.build_request(query)
    assert [etree.QName(e).localname for e in element] == ["careUnitHSAid", "patientId", "timePeriod",
                                                           "sourceSystemHSAid"]
    assert SchemaSet(bundle).issues(CONTRACT, element) == []
    assert CONTRACT.parse_request(element) == query


def test_a_producer_that_says_INFO_and_leaves_out_optional_parts():
    payload = etree.fromstring(f"""
      <GetVaccinationHistoryResponse xmlns="{CONTRACT.responder_namespace}" xmlns:core="{CORE}">
        <vaccinationMedicalRecord>
          <core:vaccinationMedicalRecordHeader><core:documentId>V1</core:documentId>
            <core:sourceSystemHSAId>SE1</core:sourceSystemHSAId>
            <core:accountableHealthcareProfessional><core:authorTime>20240101120000</core:authorTime>
            </core:accountableHealthcareProfessional><core:approvedForPatient>true</core:approvedForPatient>
          </core:vaccinationMedicalRecordHeader>
          <core:vaccinationMedicalRecordBody><core:registrationRecord><core:date>2024-01-01</core:date>
            </core:registrationRecord>
            <core:administrationRecord><core:doseOrdinalNumber>två</core:doseOrdinalNumber>
              <core:typeOfVaccine><core:code>J07BB02</core:code></core:typeOfVaccine></core:administrationRecord>
          </core:vaccinationMedicalRecordBody>
        </vaccinationMedicalRecord>
        <result><core:resultCode>INFO</core:resultCode><core:logId>1</core:logId>
          <core:message>Vissa uppgifter saknas</core:message></result>
      </GetVaccinationHistoryResponse>""")
    answer = CONTRACT.parse_response(payload)
    assert (answer.result_code, answer.message) == ("INFO", "Vissa uppgifter saknas")
    (record,) = answer.records
    assert record.title == "J07BB02"  # no name: the type's code; the unreadable dose number is left out
    assert record.detail["administrations"] == [{"vaccine_type": {"code": "J07BB02"}}]
    cols, details = columns()
    assert all(isinstance(cell(record), str) for cell in cols.values())
    assert dict(details(record))["Registrerad"] == "– av –"


def test_fiona_has_her_childhood_programme_hpv_and_adult_vaccinations():
    stockholm = records(FIONA, ADDRESSES[0])
    atc = [(a["vaccine_type"]["code"], a.get("dose_number"), a.get("doses_prescribed"))
           for r in stockholm for a in r.detail["administrations"]]
    assert atc[:5] == [("J07CA06", 1, 3), ("J07CA06", 2, 3), ("J07CA06", 3, 3), ("J07BD52", 1, 2), ("J07BD52", 2, 2)]
    assert [n for code, n, _ in atc if code == "J07BM01"] == [1, 2, 3]  # the catch-up for girls born 1993–1998
    assert stockholm[0].detail["administrations"][0]["source"].startswith("Registrerad i efterhand")
    assert stockholm[0].detail["patient"] == {"birth_date": "19970106", "gender": {
        "code": "2", "codeSystem": "1.2.752.129.2.2.1.1", "displayName": "Kvinna"}}
    cols, details = columns()
    assert cols["Dos"](stockholm[0]) == "1 av 3" and cols["Vaccinerande enhet"](stockholm[0]) == "Gubbängens vårdcentral"
    shown = dict(details(stockholm[0]))  # the code with the code system the record carries
    assert shown["Vaccin"] == "Infanrix-Polio+Hib J07CA06 (ATC)" and shown["Skyddar mot"].startswith("Difteri, ")


def test_fionas_influenza_vaccination_falls_in_the_pregnancy_of_her_maternity_records():
    (flu,) = [r for r in records(FIONA, ADDRESSES[1]) if r.detail["registration"].get("risk_categories")]
    assert flu.detail["registration"]["risk_categories"] == [{"displayName": "Graviditet"}]
    maternity = records(FIONA, ADDRESSES[1], GetMaternityMedicalHistory())
    lmp = parse_timestamp(maternity[0].detail["registration"]["lmp"])
    assert lmp + dt.timedelta(weeks=16) < flu.time < maternity[-2].time  # after week 16, before the last check


def test_the_variant_patient_covers_each_shape():
    egon = [r for a in ADDRESSES for r in records(EGON, a)]
    assert any(not r.has_owner and r.detail["administrations"][0]["source"].endswith("vaccinationskort")
               for r in egon)
    assert any(r.title == "Vaccination ej given" and "administrations" not in r.detail for r in egon)
    assert any("vaccine_type" not in a and a["vaccine_name"].get("originalText")
               for r in egon for a in r.detail.get("administrations", []))
    assert any(r.nullified and not r.approved_for_patient for r in egon)
    assert any(r.detail["header"]["signature"] is None and r.detail["administrations"][0]["dose_complete"] is False
               for r in egon)
    assert any(len(r.detail.get("administrations", [])) == 2 for r in egon)
    full = [r for r in egon if "prescriber" in r.detail.get("administrations", [{}])[0]]
    assert full and full[0].detail["patient"]["gender"]["displayName"] == "Man"
    assert full[0].detail["administrations"][0]["prescriber_org"]["orgUnitName"] == full[0].care_unit_name


def test_units_give_what_they_give_and_covid_19_vaccine_exists_only_from_2021():
    for pid in PATIENTS:
        for address in ADDRESSES:
            for r in records(pid, address):
                names = {a["vaccine_type"]["code"] for a in r.detail.get("administrations", []) if "vaccine_type" in a}
                if r.has_owner and ("akut" in r.care_unit_name.lower() or "ortopedi" in r.care_unit_name.lower()):
                    assert names <= {"J07AM51"}, (pid, r.care_unit_name, names)
                if "J07BN01" in names:
                    assert r.time.year >= 2021


def test_heavy_patient_has_hundreds_at_one_source_and_special_cases():
    linda = records(LINDA, ADDRESSES[0])
    assert len(linda) == 300 and all(len(records(LINDA, a)) <= 2 for a in ADDRESSES[1:])
    assert not any("patient" in r.detail for r in linda)  # born 1899: the schema's dates start in 1900
    wrong = [r for r in linda if r.nullified]
    assert wrong and all(r.detail["administrations"][0]["vaccine_type"]["code"] == "J07BB02" for r in wrong)
    marked = [r for r in linda if "<script>" in r.detail["registration"].get("note", "")]
    _, details = columns()
    assert marked and "<script>" in dict(details(marked[0]))["Anteckning"]


def test_blocked_patient_has_two_to_five_per_source_a_year_apart():
    for address in ADDRESSES:
        harry = records("194602226559", address)
        years_back = {((DEMO_TODAY - r.time.date()).days - 1) // 365 for r in harry}
        assert 2 <= len(harry) <= 5 and len(years_back) == len(harry), address


async def test_end_to_end_fionas_vaccinations_come_from_where_she_lived(demo):
    anna = await login(demo, patient=FIONA, relation=True)
    await anna.post("/api/relation")
    await anna.post("/api/consent", {"whole_unit": True, "days": 7}, expect=201)
    shown = (await anna.records("vaccinationer"))["records"]
    assert {r["source_system"] for r in shown} == {ADDRESSES[0], ADDRESSES[1]}
    page = await (await demo.get(f"/patient/{FIONA}/vaccinationer")).text()
    assert "Infanrix-Polio+Hib" in page and "1 av 3" in page and "Vårdcentralen Hjällbo" in page
