"""GetDiagnosis end to end: web app → core access path → real SOAP → demo producers."""

from __future__ import annotations

import re

from npo_core.guards import GuardStore

from .conftest import login

FIONA = "199701062383"
OWN_PROVIDER = "SE2321000016-F0VB"
OWN_UNIT = "SE2321000016-9RKT"


async def test_diagnoses_of_fiona_come_from_several_producers_with_provider_and_unit(demo):
    anna = await login(demo, patient=FIONA)
    # Only the own care unit is visible at once; the own provider's other units need an attested relation,
    # other providers consent as well.
    before = await anna.records("diagnoser")
    assert {r["care_unit_id"] for r in before["records"]} <= {OWN_UNIT}
    assert {w["reason"] for w in before["withheld"]} == {"no_consent", "no_care_relation"}

    await anna.post("/api/relation")
    related = await anna.records("diagnoser")
    assert related["records"] and {r["care_provider_id"] for r in related["records"]} == {OWN_PROVIDER}
    assert [w["reason"] for w in related["withheld"]] == ["no_consent"]
    await anna.post("/api/consent", {"whole_unit": True, "days": 7}, expect=201)
    after = await anna.records("diagnoser")
    providers = {r["care_provider_id"] for r in after["records"]}
    assert len(providers) >= 2 and OWN_PROVIDER in providers
    for r in after["records"]:
        assert r["care_provider_name"] and r["care_unit_id"] and r["care_unit_name"], r
        assert r["detail"]["code"]["codeSystem"] == "1.2.752.116.1.1.1.1.3"
        assert re.match(r"[A-Z]\d\d", r["detail"]["code"]["code"])
    ok = [s for s in after["sources"] if s["status"] == "ok"]
    assert len({s["logical_address"] for s in ok}) == 5
    assert not after["withheld"]


async def test_the_page_lists_the_diagnoses_with_provider_and_unit(demo):
    anna = await login(demo, patient=FIONA)
    await anna.post("/api/relation")
    shown = (await anna.records("diagnoser"))["records"]
    page = await (await demo.get(f"/patient/{FIONA}/diagnoser")).text()
    assert "<h1>Fiona Andersdotter, 19970106-2383</h1>" in page
    for r in shown:
        assert r["title"] in page and r["care_unit_name"] in page and r["care_provider_name"] in page
    assert "Kräver patientens samtycke eller nödöppning" in page


async def test_every_read_is_logged_before_it_is_returned_and_the_chain_verifies(demo):
    anna = await login(demo, patient=FIONA)
    result = await anna.records()
    rows = demo.core.guards.log_rows("request_id = ?", [result["request_id"]])
    shown_groups = {(r["care_provider_id"], r["care_unit_id"]) for r in result["records"]}
    assert {(r["resource_care_provider_id"], r["resource_care_unit_id"]) for r in rows} == shown_groups
    assert sum(r["record_count"] for r in rows) == len(result["records"])
    assert all(r["user_id"] == "SE2321000016-1001" and r["patient_id"] == FIONA and r["activity"] == "Läsa"
               and r["purpose"] == "Vård och behandling" for r in rows)
    ok, count, bad = GuardStore(demo.core.registry.path).verify()
    assert ok and bad is None and count == len(demo.core.guards.log_rows())


async def test_disabling_a_contract_takes_effect_in_the_running_server(demo):
    anna = await login(demo, patient=FIONA)
    await anna.post("/api/relation")
    assert (await anna.records("diagnoser"))["records"]
    demo.core.registry.set_contract_enabled("GetDiagnosis:2", "demo", False)  # as `npo contracts disable` would
    result = await anna.records("diagnoser")
    assert result["records"] == [] and result["sources"] == [] and result["not_enabled"] == ["Diagnoser"]
    sets = await anna.get("/api/sets")
    assert [s["enabled"] for s in sets if s["slug"] == "diagnoser"] == [False]
    demo.core.registry.set_contract_enabled("GetDiagnosis:2", "demo", True)
    assert (await anna.records("diagnoser"))["records"]


async def test_a_removed_producer_is_never_called(demo):
    anna = await login(demo, patient=FIONA)
    demo.core.registry.remove_source_system("demo", "SE2321000131-MLM1")
    result = await anna.records()
    assert "SE2321000131-MLM1" not in {s["logical_address"] for s in result["sources"]}


async def test_mohamed_is_refused_by_tgp_and_the_search_is_logged(demo):
    anna = await login(demo)
    body = await anna.post("/api/patient", {"patient_id": "199008199391"}, expect=403)
    assert body["error"] == "tgp_refused"
    await anna.get("/api/records", expect=400)  # no patient context was set
    rows = demo.core.guards.log_rows("patient_id = ?", ["199008199391"])
    assert [r["action"] for r in rows] == ["search"]


async def test_invalid_personnummer_is_a_clear_error(demo):
    anna = await login(demo)
    body = await anna.post("/api/patient", {"patient_id": "199701062384"}, expect=400)
    assert body["error"] == "invalid_patient_id" and "Kontrollsiffran" in body["message"]


async def test_state_changes_need_the_csrf_token(demo):
    anna = await login(demo)
    resp = await demo.post("/api/patient", json={"patient_id": FIONA})
    assert resp.status == 403 and (await resp.json())["error"] == "csrf"
    resp = await demo.post("/api/patient", json={"patient_id": FIONA}, headers={"X-CSRF-Token": "wrong"})
    assert resp.status == 403
    await anna.post("/api/patient", {"patient_id": FIONA})


async def test_pages_are_not_cached_and_forbid_inline_script(demo):
    await login(demo, patient=FIONA)
    resp = await demo.get("/patient")
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in resp.headers["Content-Security-Policy"]


async def test_without_login_pages_redirect_and_api_says_401(demo):
    resp = await demo.get(f"/patient/{FIONA}", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/login"
    resp = await demo.get("/api/records")
    assert resp.status == 401


async def test_an_unknown_logical_address_is_reported_per_source(demo):
    demo.core.registry.set_environment("demo", engagement_index=None)  # the registry's own index: ask all
    demo.core.registry.add_source_system("demo", "SE2321000016-GONE", "SE2321000016-F0VB", "Nedlagt system",
                                         ["GetDiagnosis:2"])
    anna = await login(demo, patient=FIONA)
    result = await anna.records()
    gone = [s for s in result["sources"] if s["logical_address"] == "SE2321000016-GONE"]
    assert gone[0]["status"] == "error" and "VP004" in gone[0]["message"]
    assert result["records"], "the healthy sources are still shown"


async def test_the_engagement_index_decides_whom_to_ask(demo):
    """A registered producer without engagements for the patient is not asked; the local index asks it."""
    demo.core.registry.add_source_system("demo", "SE2321000016-NEW1", OWN_PROVIDER, "Nytt system", ["GetDiagnosis:2"])
    anna = await login(demo, patient=FIONA)
    await anna.post("/api/relation")
    await anna.post("/api/consent", {"whole_unit": True, "days": 1}, expect=201)  # every source may be named
    asked = {s["logical_address"] for s in (await anna.records())["sources"]}
    assert "SE2321000016-NEW1" not in asked and len(asked) == 5
    demo.core.registry.set_environment("demo", engagement_index=None)
    asked = {s["logical_address"] for s in (await anna.records())["sources"]}
    assert "SE2321000016-NEW1" in asked


async def test_an_engagement_index_failure_is_reported_not_hidden(demo):
    demo.core.registry.set_environment("demo", engagement_index="SE0000000000-NONE")
    anna = await login(demo, patient=FIONA)
    result = await anna.records()
    assert result["records"] == []
    assert result["sources"], "the failed lookups are reported"
    for status in result["sources"]:  # one per service domain asked
        assert status["source_name"] == "Engagemangsindex" and status["status"] == "error"
        assert "VP004" in status["message"]
