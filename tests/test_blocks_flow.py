"""Harry Harrisson's blocked information: known to exist, revealed and opened in two logged steps."""

from __future__ import annotations

from .conftest import login

HARRY = "194602226559"
VGR = "SE2321000131-E000000000001"
UPPSALA_HSV = "SE2120003005-HSV1"


async def harry_with_consent(demo):
    anna = await login(demo, patient=HARRY)
    await anna.post("/api/relation")
    await anna.post("/api/consent", {"whole_unit": True, "days": 1}, expect=201)
    return anna


async def test_blocked_information_is_announced_without_content(demo):
    anna = await harry_with_consent(demo)
    result = await anna.records("diagnoser")
    withheld = {w["reason"]: w["count"] for w in result["withheld"]}
    assert withheld.get("blocked", 0) > 0
    assert result["blocked_where"] == [], "where it is needs an active choice"
    assert VGR not in {r["care_provider_id"] for r in result["records"]}
    # The temporary revoke for Gubbängens vårdcentral opens the municipality's home care records.
    assert UPPSALA_HSV in {r["care_unit_id"] for r in result["records"]}
    # Before step 1 not even a row for the blocked provider's source: a row would say where blocked data is.
    assert "Västra Götalandsregionen" not in {s["care_provider_name"] for s in result["sources"]}
    assert result["hidden_sources"]["count"] >= 1
    page = await (await demo.get(f"/patient/{HARRY}/diagnoser")).text()
    assert "Spärrad information finns" in page and "Steg 1" in page


async def test_reveal_then_open_are_two_logged_choices(demo):
    anna = await harry_with_consent(demo)
    body = await anna.post("/api/blocked/open", {"care_provider_id": VGR, "basis": "PatientsConsent"}, expect=400)
    assert body["error"] == "reveal_first"
    await anna.post("/api/blocked/reveal", {"basis": "Emergency"}, expect=400)  # emergency needs a reason
    await anna.post("/api/blocked/reveal", {"basis": "PatientsConsent"})
    result = await anna.records("diagnoser")
    places = {p["care_provider_id"]: p for p in result["blocked_where"]}
    assert VGR in places and places[VGR]["care_provider_name"] == "Västra Götalandsregionen"
    blocked_before = places[VGR]["count"]
    assert VGR not in {r["care_provider_id"] for r in result["records"]}, "revealing is not opening"

    opened = await anna.post("/api/blocked/open", {"care_provider_id": VGR, "basis": "PatientsConsent"})
    assert len(opened["opened_blocks"]) == 1
    after = await anna.records("diagnoser")
    assert len([r for r in after["records"] if r["care_provider_id"] == VGR]) == blocked_before
    actions = [r["action"] for r in demo.core.guards.log_rows("patient_id = ? and user_id = ?",
                                                              [HARRY, "SE2321000016-1001"])]
    assert actions.index("reveal_blocked") < actions.index("open_blocked")


async def test_opening_in_an_emergency_is_logged_as_nodoppning(demo):
    anna = await login(demo, patient=HARRY)  # no consent at all
    await anna.post("/api/blocked/reveal", {"basis": "Emergency", "reason": "Medvetslös patient"})
    await anna.post("/api/blocked/open", {"care_provider_id": VGR, "basis": "Emergency",
                                          "reason": "Medvetslös patient", "days": 0.5})
    result = await anna.records("diagnoser")
    assert result["emergency"] and VGR in {r["care_provider_id"] for r in result["records"]}
    rows = demo.core.guards.log_rows("request_id = ?", [result["request_id"]])
    assert {r["activity"] for r in rows if r["resource_care_provider_id"] == VGR} == {"Nödöppning"}
    opened = demo.core.guards.log_rows("action = 'open_blocked'")
    assert opened[-1]["activity"] == "Nödöppning"


async def test_step_one_with_the_patients_consent_needs_a_registered_consent(demo):
    anna = await login(demo, patient=HARRY)
    await anna.post("/api/relation")
    body = await anna.post("/api/blocked/reveal", {"basis": "PatientsConsent"}, expect=403)
    assert body["error"] == "consent_required"
    assert (await anna.records("diagnoser"))["blocked_where"] == [], "nothing revealed"
    await anna.post("/api/consent", {"whole_unit": True, "days": 1}, expect=201)
    await anna.post("/api/blocked/reveal", {"basis": "PatientsConsent"})
    assert (await anna.records("diagnoser"))["blocked_where"]


async def test_a_revoke_is_at_most_seven_days(demo):
    anna = await harry_with_consent(demo)
    await anna.post("/api/blocked/reveal", {"basis": "PatientsConsent"})
    body = await anna.post("/api/blocked/open", {"care_provider_id": VGR, "basis": "PatientsConsent", "days": 8},
                           expect=400)
    assert "7" in body["message"]


async def test_the_openapi_document_describes_every_api_route(demo):
    await login(demo)
    spec = await (await demo.get("/api/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    routes = {(r.method, r.resource.canonical) for r in demo.app.router.routes()
              if r.resource and r.resource.canonical.startswith("/api/") and r.method != "HEAD"}
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert routes - {("POST", "/api/login/demo"), ("GET", "/api/openapi.json")} == documented
