"""GetFunctionalStatus 2.0 specifics: one contract, two categorizations (fun-fun, pad-pad)."""

from __future__ import annotations

import dataclasses

from npo_core import Query
from npo_core.demo import PROVIDERS, demo_source
from npo_core.identity import parse_patient_id
from npo_core.plugins import collect, make_plugin_manager
from npo_plugins.contracts.get_functional_status import GetFunctionalStatus, _details

from .conftest import DEMO_TODAY

GFS = GetFunctionalStatus()


def assessments(pid: str):
    return [r for p in PROVIDERS for r in GFS.demo_records(demo_source(pid, p[4][0], GFS.id, DEMO_TODAY))]


def test_the_contract_and_its_view_answer_for_both_categorizations():
    assert GFS.categorizations == ("fun-fun", "pad-pad")
    assert collect(make_plugin_manager()).views["funktionstillstand"].categorizations == ("fun-fun", "pad-pad")


def test_each_record_belongs_to_its_own_category_on_the_wire_and_back():
    records = assessments("199701062383") + assessments("193601286499")
    assert {r.information_type for r in records} == {"fun-fun", "pad-pad"}
    for r in records:
        assert r.detail["category"] == r.information_type
        assert bool(r.detail.get("padl")) == (r.information_type == "pad-pad")
        assert ("disability" in r.detail) == (r.information_type == "fun-fun")
        assert "comment" not in r.detail or r.information_type == "pad-pad"  # TKB: comment only for PADL
    response = GFS.render_response(records, Query(parse_patient_id("199701062383")))
    wire = [el.text for el in response.iterfind(".//{*}assessmentCategory")]
    assert wire == [r.information_type for r in records]
    decoded = GFS.parse_response(response).records
    assert [r.information_type for r in decoded] == wire and [r.title for r in decoded] == [r.title for r in records]


def test_the_body_says_the_category_and_the_title():
    """A producer's PADL record is pad-pad whatever else it says; anything else is a disability assessment."""
    [padl, disability] = [next(r for r in assessments("199701062383") if r.information_type == t)
                          for t in ("pad-pad", "fun-fun")]
    response = GFS.render_response([padl, disability], Query(parse_patient_id("199701062383")))
    decoded = GFS.parse_response(response).records
    assert [(r.information_type, r.title) for r in decoded] == [
        ("pad-pad", "PADL-bedömning"), ("fun-fun", disability.detail["disability"]["assessment"]["displayName"])]
    for category in response.iterfind(".//{*}assessmentCategory"):
        category.text = "fun-fun"
    assert {r.information_type for r in GFS.parse_response(response).records} == {"fun-fun"}


def test_padl_uses_the_five_activities_and_the_view_lists_them():
    padl = [r for r in assessments("199701062383") if r.information_type == "pad-pad"]
    names = {cv.get("displayName") for r in padl for cv in (p["type"] for p in r.detail["padl"])}
    assert all(p["type"]["codeSystem"] == "1.2.752.116.1.1.3" for r in padl for p in r.detail["padl"])  # ICF
    assert names <= {"personlig hygien", "på/avklädning", "förflyttning", "toalettbesök", "födointag"}
    rows = dict(_details(padl[0]))
    assert str(rows["Bedömning"]).count("<br>") == len(padl[0].detail["padl"]) - 1
    disability = next(r for r in assessments("199701062383") if r.information_type == "fun-fun")
    code = disability.detail["disability"]["assessment"]["code"]
    assert dict(_details(disability))["Kod"] == f"{code} (ICF)"  # the code system the record names


def test_producer_text_in_a_padl_assessment_stays_text():
    record = next(r for r in assessments("199701062383") if r.information_type == "pad-pad")
    hostile = {**record.detail, "padl": [{"type": {"originalText": "födointag"}, "assessment": "<b>Äter</b> själv"}]}
    rows = dict(_details(dataclasses.replace(record, detail=hostile)))
    assert str(rows["Bedömning"]) == "Födointag: &lt;b&gt;Äter&lt;/b&gt; själv"


def test_egon_has_the_variants_of_this_contract():
    records = assessments("193601286499")
    assert any(r.detail["header"]["signature"] is None for r in records)
    assert any(r.detail.get("padl") == [{"type": {"originalText": "toalettbesök"},
                                         "assessment": "Behöver tillsyn nattetid."}] for r in records)
    assert any(not r.approved_for_patient for r in records)
    assert any(not r.has_owner for r in records)
    assert any(r.detail.get("disability", {}).get("assessment") == {"originalText": "Nedsatt balans"} for r in records)
