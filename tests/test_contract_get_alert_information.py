"""GetAlertInformation 2.0 specifics: TKB header rules, validity-based period filter, variants, the view."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from urllib.parse import unquote

from npo_core import Query
from npo_core.demo import PROVIDERS, demo_source
from npo_core.identity import parse_patient_id
from npo_core.plugins import collect, make_plugin_manager
from npo_core.riv import Detail
from npo_plugins.contracts.get_alert_information import GetAlertInformation, _details, _status, prominent

from .conftest import DEMO_TODAY, login

GAI = GetAlertInformation()
EGON = "193601286499"


def alerts(pid: str, address: str = "SE2321000016-TKC1"):
    return GAI.demo_records(demo_source(pid, address, GAI.id, DEMO_TODAY))


def test_alerts_come_first_and_blocks_may_exclude_them():
    views = collect(make_plugin_manager()).views
    assert min(views.values(), key=lambda v: v.order).slug == "uppmarksamhet"
    assert GAI.block_information_type == "upp" and GAI.categorizations == ("upp",)


def test_the_header_leaves_out_what_tkb_marks_not_applicable():
    response = GAI.render_response(alerts(EGON), Query(parse_patient_id(EGON)))
    for local in ("documentTitle", "documentTime", "nullified"):
        assert response.find(f".//{{*}}{local}") is None, local


def test_the_period_selects_alerts_whose_validity_overlaps_it():
    [alert] = [r for r in alerts(EGON) if r.id.endswith("upp-v0")]
    start = alert.time.date()
    old = dataclasses.replace(alert, time=alert.time - dt.timedelta(days=3000), detail={**alert.detail, "validity": {}})
    obsolete = dataclasses.replace(alert, detail={**alert.detail, "obsolete_time": alert.detail["validity"]["start"]})
    later = Query(parse_patient_id(EGON), period=(start + dt.timedelta(days=1), start + dt.timedelta(days=30)))
    shown = GAI.parse_response(GAI.render_response([alert, old, obsolete], later)).records
    assert [r.detail.get("obsolete_time") for r in shown] == [None, None]  # open-ended ones, not the obsolete one
    assert len(shown) == 2
    before = Query(parse_patient_id(EGON), period=(start - dt.timedelta(days=30), start - dt.timedelta(days=1)))
    assert GAI.parse_response(GAI.render_response([alert], before)).records == []


def test_egon_has_the_variants_of_this_contract():
    records = {r.id.rsplit("-", 1)[-1]: r for r in alerts(EGON)}
    assert records["v1"].detail["header"]["signature"] is None
    assert _status(records["v2"]) == "Inaktuell" and records["v2"].detail["obsolete_comment"]
    assert records["v3"].detail["validity"] == {} and "ascertained_date" not in records["v3"].detail
    assert records["v3"].title == "Överkänslighet: Naturgummilatex"
    assert records["v4"].detail["unstructured"] and not records["v4"].approved_for_patient
    assert not records["v5"].has_owner
    assert not any(r.nullified for r in records.values())  # N/A in this contract (TKB)


def test_penicillin_allergy_with_its_severity_in_the_view():
    rows = dict(_details(alerts(EGON)[0]))
    assert rows["Substans"] == "J01C (ATC) Betalaktamantibakteriella medel, penicilliner"  # the system it carries
    assert rows["Allvarlighetsgrad"] == "Skadande" and rows["Visshetsgrad"] == "Konstaterad"


def test_heavy_alerts_are_many_and_relate_to_each_other():
    records = alerts("189908029805", PROVIDERS[1][4][0])
    assert len(records) == 80
    ids = {r.id for r in records}
    related = [d for r in records for rel in r.detail.get("related", []) for d in rel["document_ids"]]
    assert related and set(related) <= ids


def test_an_answer_without_body_parts_or_result_still_decodes():
    payload = GAI.render_response(alerts(EGON)[:1], Query(parse_patient_id(EGON)))
    payload.remove(payload.find("{*}result"))
    body = payload.find(".//{*}alertInformationBody")
    for child in list(body)[1:]:
        body.remove(child)
    answer = GAI.parse_response(payload)
    assert answer.result_code == "OK"
    assert answer.records[0].title == "Överkänslighet"  # the type's words: no part left to name the agent
    assert set(answer.records[0].detail) == {"type", "header"}
    assert _details(answer.records[0]) and _status(answer.records[0]) == "Aktuell"


def test_the_title_names_what_each_part_of_the_body_is_about():
    by_title = {r.title: r for r in alerts(EGON) + alerts("199701062383") + alerts("189908029805")}
    decoded = GAI.parse_response(GAI.render_response(list(by_title.values()), Query(parse_patient_id(EGON))))
    assert [r.title for r in decoded.records] == list(by_title)  # read from the body, not the header
    assert {"Överkänslighet: Naturgummilatex", "Vårdbegränsning", "Smitta: Resistens mot meticillin",
            "Varning (överförd från tidigare journalsystem)"} <= set(by_title)
    assert all(r.detail["header"]["document_title"] is None for r in decoded.records)


def test_current_alerts_are_prominent_read_from_the_lazy_detail():
    records = alerts(EGON)
    decoded = GAI.parse_response(GAI.render_response(records, Query(parse_patient_id(EGON)))).records
    assert all(isinstance(r.detail, Detail) for r in decoded)
    assert [prominent(r) for r in decoded] == [not r.id.endswith("upp-v2") for r in records]  # v2 is obsolete
    assert [prominent(r) for r in decoded] == [prominent(r) for r in records]


async def test_the_overview_heads_with_the_current_alerts(demo):
    await login(demo, patient=EGON, relation=True)
    page = await (await demo.get(f"/patient/{EGON}")).text()
    heading = page[page.index('<section class="alerts"'):page.index('<div class="sets">')]
    shown = [r for r in alerts(EGON) if r.has_owner and r.care_provider_id == PROVIDERS[0][0]]
    linked = {unquote(i) for i in re.findall(r'href="/patient/[0-9]+/[^/"]+/([^"?]+)', heading)}
    assert shown and any(not prominent(r) for r in shown)
    for r in shown:  # a current alert heads the page (alone or merged with its duplicates); an obsolete one not
        if prominent(r):
            assert r.id in linked or any(o.id in linked and o.title == r.title for o in shown), r.title
        else:
            assert r.id not in linked, r.title
    assert "Resistens mot meticillin" not in heading  # v2: obsolete, so not at the top
