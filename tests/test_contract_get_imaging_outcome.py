"""GetImagingOutcome 1.0 specifics (generic checks: test_conformance)."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree
from markupsafe import Markup

from npo_core import Query, soap
from npo_core.demo import PROVIDERS, demo_source
from npo_core.identity import parse_patient_id
from npo_core.schemas import SchemaSet
from npo_plugins.contracts import get_imaging_outcome as imaging

from .conftest import DEMO_TODAY, login

CONTRACT = imaging.GetImagingOutcome()
ADDRESSES = [p[4][0] for p in PROVIDERS]
EGON, FIONA, HARRY, LINDA = "193601286499", "199701062383", "194602226559", "189908029805"
C = f"{{{imaging.CORE}}}"


@pytest.fixture(scope="module")
def schemas(bundle):
    return SchemaSet(bundle)


def reports(pid, address=ADDRESSES[0]):
    return CONTRACT.demo_records(demo_source(pid, address, CONTRACT.id, DEMO_TODAY))


def payload(records, query=None):
    return CONTRACT.render_response(records, query or Query(parse_patient_id(records[0].patient_id)))


def decode(element):
    return CONTRACT.parse_response(soap.unwrap(soap.parse_xml(soap.envelope(element)))[0])


def view():
    views = []
    imaging.register_views(views.append)
    return views[0]


def test_the_request_uses_date_period_and_validates(schemas):
    query = Query(parse_patient_id(FIONA), period=(dt.date(2025, 1, 1), dt.date(2026, 10, 31)),
                  care_units=("SE2321000016-9RKT",), source_system="SE2321000016-TKC1")
    element = CONTRACT.build_request(query)
    assert schemas.issues(CONTRACT, element) == []
    assert element.find(CONTRACT.q("datePeriod")) is not None and element.find(CONTRACT.q("timePeriod")) is None
    back = CONTRACT.parse_request(element)
    assert (back.patient, back.period, back.care_units, back.source_system) == (
        query.patient, query.period, query.care_units, query.source_system)


def test_the_producer_filters_on_unit_source_and_day():
    records = [r for a in ADDRESSES for r in reports(HARRY, a)]
    patient = parse_patient_id(HARRY)
    first = records[0]

    def answered(**filters):
        return decode(payload(records, Query(patient, **filters))).records

    assert {r.care_unit_id for r in answered(care_units=(first.care_unit_id,))} == {first.care_unit_id}
    assert {r.source_system for r in answered(source_system=ADDRESSES[1])} == {ADDRESSES[1]}
    day = first.time.date()
    assert [r.id for r in answered(period=(day, day))] == [r.id for r in records if r.time.date() == day]


def test_egon_has_every_variant():
    full, bare, preliminary, nullified, ownerless = reports(EGON)
    assert full.detail["referral"]["reason"] and full.detail["speciality"]["displayName"] == "Radiologi"
    assert full.detail["patient"]["weight"] == {"value": 78.0, "unit": "kg"} and full.detail["examinations"][0]["dicom"]
    assert full.detail["header"]["document_title"] == full.title and full.detail["header"]["signature"]
    assert not {"referral", "doses", "comment", "speciality", "patient"} & set(bare.detail)
    assert bare.detail["header"]["document_title"] is None
    assert bare.title == bare.detail["examinations"][0]["activity"]["originalText"]
    assert [e["activity"].get("code") for e in bare.detail["examinations"]] == [None]
    assert preliminary.detail["result_type"] == "PREL" and preliminary.detail["header"]["signature"] is None
    assert not preliminary.approved_for_patient
    assert nullified.nullified and nullified.detail["header"]["nullified_reason"]
    assert not ownerless.has_owner
    root = payload([bare, nullified])
    assert root.findtext(f".//{C}imageRecording/{C}examinationActivity/{C}originalText") == bare.title
    assert root.findtext(f".//{C}nullifiedReason") == "Undersökningen registrerad på fel patient."
    shown = {heading: cell(nullified) for heading, cell in view().columns}
    assert shown["Svar"] == "Makulerat"
    assert dict(view().details(nullified))["Makuleringsorsak"] == "Undersökningen registrerad på fel patient."


def test_examinations_are_kva_coded_only_where_kva_has_a_code():
    examinations = [e for pid in (FIONA, LINDA) for a in ADDRESSES for r in reports(pid, a)
                    for e in r.detail["examinations"]]
    coded = {tuple(e["activity"].values()) for e in examinations if "code" in e["activity"]}
    assert coded == {("AD042", "1.2.752.116.1.3.2.1.4", "Ultraljud sinus")}
    assert {e["activity"].get("displayName") or e["activity"]["originalText"] for e in examinations} >= {
        "DT hjärna utan kontrast", "Lungröntgen", "MR knä höger", "Ultraljud buk"}
    assert all(e["period"]["start"] < e["period"]["end"] for e in examinations if "end" in e["period"])
    for r in (r for a in ADDRESSES for r in reports(FIONA, a)):  # ionising radiation, and only that, has a dose
        radiating = any(e["modality"]["type"] in ("CT", "DX") for e in r.detail["examinations"])
        doses = r.detail.get("doses", [])
        assert bool(doses) == radiating and all(d["unit"] == "mSv" and d["value"] > 0 for d in doses)
    sinus = next(r for pid in (FIONA, LINDA) for a in ADDRESSES for r in reports(pid, a)
                 if r.title == "Ultraljud sinus")
    images = sinus.detail["examinations"][0]["images"]  # the code with the code system the record carries
    assert dict(view().details(sinus))["Ultraljud sinus"] == f"AD042 (KVÅ), US, Öron-näsa-hals, {images} bilder, " \
                                                             "Avklarad"


def test_harry_has_reports_over_several_units_and_years():
    for address in ADDRESSES:
        records = reports(HARRY, address)
        assert 2 <= len(records) <= 5
        assert len({r.time.year for r in records}) >= 2
        units = [u for p in PROVIDERS if p[4][0] == address for u, _ in p[3]]
        assert len({r.care_unit_id for r in records}) == min(len(records), len(units))


def test_lindas_special_reports_survive_the_wire_as_text():
    records = reports(LINDA)
    two = [r for r in records if len(r.detail["examinations"]) == 2]
    assert two and " + " in two[0].title
    long_report = max(records, key=lambda r: len(r.detail["report"]))
    assert len(long_report.detail["report"]) > 5000 and long_report.detail["result_type"] == "TILL"
    decoded = decode(payload(records))
    assert [r.to_json() for r in decoded.records] == [r.to_json() for r in records]
    assert any("<script>alert('x')</script>" in r.detail["report"] for r in decoded.records)
    shown = view()
    cells = [cell(r) for r in records[:3] for _, cell in shown.columns] + [
        value for r in records[:3] for _, value in shown.details(r)]
    assert all(isinstance(c, str) and not isinstance(c, Markup) for c in cells)


def test_an_error_result_is_reported():
    root = payload(reports(FIONA))
    result = root.find(CONTRACT.q("result"))
    result.find(f"{C}resultCode").text = "ERROR"
    etree.SubElement(result, f"{C}message").text = "Källsystemet svarar inte."
    answer = CONTRACT.parse_response(root)
    assert (answer.result_code, answer.message) == ("ERROR", "Källsystemet svarar inte.")


def test_the_view_shows_the_conclusion():
    record = reports(FIONA)[0]
    shown = {heading: cell(record) for heading, cell in view().columns}
    conclusion = record.detail["report"].rsplit("Bedömning:", 1)[1].strip()
    assert shown["Bedömning"] == imaging._excerpt(record.detail["report"]) and conclusion.startswith(
        shown["Bedömning"].rstrip("…"))
    assert shown["Undersökning"] == record.title and shown["Svar"] in imaging.RESULT_TYPES.values()


async def test_fiona_reads_her_reports_through_the_core(demo):
    anna = await login(demo, patient=FIONA, relation=True)
    shown = (await anna.records("bilddiagnostik"))["records"]
    own = [r for r in reports(FIONA) if r.care_provider_id == PROVIDERS[0][0]]
    assert {r["id"] for r in shown} == {r.id for r in own}
    assert all(r["contract"] == "GetImagingOutcome:1" and r["detail"]["report"] for r in shown)


async def test_the_record_page_escapes_what_the_producer_wrote(demo):
    await login(demo, patient=LINDA, relation=True)
    record = reports(LINDA)[0]
    page = await (await demo.get(f"/patient/{LINDA}/bilddiagnostik/{record.id}")).text()
    assert "&lt;script&gt;alert(" in page and "<script>alert(" not in page and "&lt;b&gt;OBS!" in page


def test_dicom_objects_and_image_references_are_kept_and_http_ones_are_links():
    record = reports(FIONA)[0]
    recording = record.detail["examinations"][0]
    [dicom], [image] = recording["dicom"], recording["structured"]
    assert dicom["sop"].startswith("2.25.") and dicom["reference"].startswith("https://")
    assert image["image"]["media_type"] == "image/jpeg"
    root = payload([record])
    assert root.findtext(f".//{C}imageRecording/{C}imageDicomData/{C}dicomSOP") == dicom["sop"]
    assert root.findtext(f".//{C}imageStructuredData/{C}imageData/{C}reference") == image["image"]["reference"]
    assert decode(root).records[0].detail["examinations"] == record.detail["examinations"]
    rows = dict(view().details(record))
    link = rows[f"{record.title.split(' + ')[0]}, DICOM"]
    assert isinstance(link, Markup) and 'rel="noopener noreferrer"' in link
    assert f'href="{dicom["reference"].replace("&", "&amp;")}"' in link


HOSTILE = ["javascript:alert(1)", " JaVaScRiPt:alert(1)", "java\tscript:alert(1)", "java\nscript:alert(1)",
           "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "//evil.example/x", "/wado?x=1",
           "https:/no-host", "http://[::1", "file:///etc/passwd"]


def test_a_reference_that_is_not_http_is_never_a_link():
    assert all(imaging.link(url) is None for url in HOSTILE)
    quoted = imaging.link('https://pacs.example.se/a"onmouseover="alert(1)&b=<i>')
    assert 'onmouseover="' not in quoted and "&#34;onmouseover=&#34;" in quoted and "<i>" not in quoted
    record = reports(FIONA)[0]
    recording = record.detail["examinations"][0]
    for url in HOSTILE:
        recording["dicom"][0]["reference"] = recording["structured"][0]["image"]["reference"] = url
        for label, value in view().details(record):
            assert not isinstance(value, Markup), (url, label)
        assert url.strip() in dict(view().details(record))[f"{record.title.split(' + ')[0]}, DICOM"]


async def test_lindas_script_reference_is_shown_as_text_in_the_page(demo):
    await login(demo, patient=LINDA, relation=True)
    record = reports(LINDA)[0]
    assert record.detail["examinations"][0]["dicom"][0]["reference"].startswith("javascript:")
    page = await (await demo.get(f"/patient/{LINDA}/bilddiagnostik/{record.id}")).text()
    assert "javascript:alert(&#39;pacs&#39;)" in page and 'href="javascript:' not in page.lower()
    fiona = reports(FIONA)[0]
    await login(demo, patient=FIONA, relation=True)
    page = await (await demo.get(f"/patient/{FIONA}/bilddiagnostik/{fiona.id}")).text()
    assert '<a href="https://pacs.example.se/wado?objectUID=' in page and 'rel="noopener noreferrer"' in page
