"""GetFunctionalStatus 2.0 specifics: one contract, two categorizations (fun-fun, pad-pad)."""

from __future__ import annotations

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
        assert bool(r.detail["padl"]) == (r.information_type == "pad-pad")
        assert (r.detail["disability"] is not None) == (r.information_type == "fun-fun")
        assert r.detail["comment"] is None or r.information_type == "pad-pad"  # TKB: comment only for PADL
    response = GFS.render_response(records, Query(parse_patient_id("199701062383")))
    wire = [el.text for el in response.iterfind(".//{*}assessmentCategory")]
    assert wire == [r.information_type for r in records]
    assert [r.information_type for r in GFS.parse_response(response).records] == wire


def test_padl_uses_the_five_activities_and_the_view_lists_them():
    padl = [r for r in assessments("199701062383") if r.information_type == "pad-pad"]
    names = {cv.get("displayName") for r in padl for cv in (p["type"] for p in r.detail["padl"])}
    assert names <= {"personlig hygien", "på/avklädning", "förflyttning", "toalettbesök", "födointag"}
    rows = dict(_details(padl[0]))
    assert str(rows["Bedömning"]).count("<br>") == len(padl[0].detail["padl"]) - 1


def test_egon_has_the_variants_of_this_contract():
    records = assessments("193601286499")
    assert any(r.detail["header"]["signature"] is None for r in records)
    assert any(not r.approved_for_patient for r in records)
    assert any(not r.has_owner for r in records)
    assert any((r.detail["disability"] or {}).get("assessment") == {"originalText": "Nedsatt balans"} for r in records)
