"""A read is decided on what is true when it is shown, about the patient it named, from the source
that really sent each record: races in one session, guards changing mid-read, owner ids in other forms,
forged owners and shadowing, another patient's records, caps, redirects.

Producers here are written in the test (real SOAP over 127.0.0.1, rendered by the contract's own
producer side, then altered the way a hostile or sloppy producer would), not the demo platform.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from urllib.parse import quote

import pytest
from aiohttp import web

from npo_core import access, soap
from npo_core.access import _dedupe
from npo_core.app import Core
from npo_core.contract import Query, Record
from npo_core.demo import demo_source, seed_registry
from npo_core.identity import parse_patient_id
from npo_core.plugins import collect
from npo_core.web import make_app

from .conftest import DEMO_TODAY, login

FIONA, HARRY = "199701062383", "194602226559"
OWN_PROVIDER, OWN_UNIT = "SE2321000016-F0VB", "SE2321000016-9RKT"
TKC, MLM = "SE2321000016-TKC1", "SE2321000131-MLM1"  # Region Stockholm's and Västra Götaland's source systems
VGR = "SE2321000131-E000000000001"
DIAGNOSIS = "GetDiagnosis:2"


class Producers:
    """GetDiagnosis at two addresses; each answer can be held back, altered or replaced by the test."""

    def __init__(self, contract):
        self.contract = contract
        self.records = {address: contract.demo_records(demo_source(FIONA, address, DIAGNOSIS, DEMO_TODAY))
                        for address in (TKC, MLM)}
        self.gate: asyncio.Event | None = None
        self.arrived = asyncio.Event()
        self.alter = {}  # address -> function(payload element) -> None
        self.replace = {}  # address -> function(request) -> web.Response
        self.calls: dict[str, int] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        address = request.match_info["address"]
        self.calls[address] = self.calls.get(address, 0) + 1
        await request.read()
        self.arrived.set()
        if self.gate is not None:
            await self.gate.wait()
        if address in self.replace:
            return self.replace[address](request)
        payload = self.contract.render_response(self.records[address], Query(parse_patient_id(FIONA)))
        if address in self.alter:
            self.alter[address](payload)
        return web.Response(body=soap.envelope(payload), content_type="text/xml")


@pytest.fixture
async def world(aiohttp_server, aiohttp_client, registry, pm):
    contract = collect(pm).contracts[DIAGNOSIS]
    producers = Producers(contract)
    app = web.Application()
    app.router.add_post("/p/{address}", producers.handle)
    server = await aiohttp_server(app)
    seed_registry(registry, [DIAGNOSIS])
    registry.set_environment("demo", engagement_index=None, base_url=str(server.make_url("/vp")))
    for row in registry.source_systems("demo"):
        registry.remove_source_system("demo", row.logical_address)
    registry.add_source_system("demo", TKC, OWN_PROVIDER, "TakeCare", [DIAGNOSIS], endpoint=str(server.make_url(f"/p/{TKC}")))
    registry.add_source_system("demo", MLM, VGR, "Millennium", [DIAGNOSIS], endpoint=str(server.make_url(f"/p/{MLM}")))
    core = Core(registry, "demo", pm)
    client = await aiohttp_client(make_app(core))
    client.core, client.producers = core, producers
    yield client
    core.guards.close()


async def consenting(world, patient=FIONA):
    anna = await login(world, patient=patient)
    await anna.post("/api/relation")
    await anna.post("/api/consent", {"whole_unit": True, "days": 1}, expect=201)
    return anna


def vgr_records(result) -> list[dict]:
    return [r for r in result["records"] if r["source_system"] == MLM]


def held(world) -> asyncio.Event:
    world.producers.gate, world.producers.arrived = asyncio.Event(), asyncio.Event()
    return world.producers.gate


# -- the page is the patient ----------------------------------------------------------------------


async def test_a_read_is_decided_and_logged_under_the_patient_and_assignment_it_started_with(world):
    anna = await consenting(world)
    gate = held(world)
    reading = asyncio.ensure_future(anna.records("diagnoser"))  # tab 1: Fiona, under the SJF assignment
    await world.producers.arrived.wait()
    # Meanwhile, in tab 2 of the same session: another patient, then another assignment.
    await anna.post("/api/patient", {"patient_id": HARRY})
    await anna.post("/api/assignment", {"assignment_id": "SE2321000016-1001-U2"})
    gate.set()
    result = await reading

    assert result["patient"] == FIONA
    assert vgr_records(result), "decided under the SJF assignment with its consent, not the VG one chosen since"
    rows = world.core.guards.log_rows("request_id = ?", [result["request_id"]])
    assert rows and {(r["patient_id"], r["assignment_id"]) for r in rows} == {(FIONA, "SE2321000016-1001-U1")}
    assert sum(r["record_count"] for r in rows) == len(result["records"])
    shown = {(r["care_provider_id"], r["care_unit_id"]) for r in result["records"]}
    assert {(r["resource_care_provider_id"], r["resource_care_unit_id"]) for r in rows} == shown
    # The session's patients closed with the assignment: Fiona's page cannot be read again without reopening.
    body = await anna.get(f"/api/records?patient_id={FIONA}", expect=409)
    assert body["error"] == "patient_not_open"


async def test_an_action_names_its_patient_and_never_lands_on_another(world):
    anna = await login(world, patient=FIONA)
    await anna.post("/api/patient", {"patient_id": HARRY})  # the second tab; both are open now
    body = await world.post("/api/consent", json={"whole_unit": True}, headers={"X-CSRF-Token": anna.csrf})
    assert body.status == 400 and (await body.json())["error"] == "patient_required"
    await anna.post("/api/relation", {"patient_id": FIONA})
    await anna.post("/api/consent", {"patient_id": FIONA, "whole_unit": True, "days": 1}, expect=201)
    consents = {c["patient_id"] for c in world.core.guards.consent_rows()}
    assert consents == {FIONA}
    assert len(vgr_records(await anna.get(f"/api/records?patient_id={FIONA}&set=diagnoser"))) > 0
    harry = await anna.get(f"/api/records?patient_id={HARRY}&set=diagnoser")
    assert harry["patient"] == HARRY and harry["consent"] is None
    body = await anna.get("/api/records?patient_id=199008199391", expect=409)  # never opened: not read
    assert body["error"] == "patient_not_open"


async def test_a_valid_consent_is_reused_not_registered_twice(world):
    anna = await consenting(world)
    again = await anna.post("/api/consent", {"whole_unit": True, "days": 30}, expect=200)
    assert again["existing"] is True
    assert len(world.core.guards.consent_rows(FIONA)) == 1
    result = await anna.records("diagnoser")
    assert result["consent"]["id"] == again["consent_id"] and result["consent"]["whole_unit"] is True
    assert result["consent"]["registered_by_me"] and result["consent"]["can_end"] and result["consent"]["end"]


async def test_listing_consents_is_a_logged_read(world):
    anna = await consenting(world)
    listed = await anna.get("/api/consents")
    assert [c["patient_id"] for c in listed] == [FIONA]
    assert world.core.guards.log_rows("action = 'list_consents' and patient_id = ?", [FIONA])


# -- guards are read again at decision time --------------------------------------------------------


async def test_a_consent_cancelled_while_producers_answer_is_honoured(world):
    anna = await consenting(world)
    [consent] = world.core.guards.consent_rows(FIONA)
    gate = held(world)
    reading = asyncio.ensure_future(anna.records("diagnoser"))
    await world.producers.arrived.wait()
    await anna.post(f"/api/consents/{consent['id']}/cancel")
    gate.set()
    result = await reading
    assert not vgr_records(result) and {w["reason"]: w["count"] for w in result["withheld"]}["no_consent"] > 0
    rows = world.core.guards.log_rows("request_id = ?", [result["request_id"]])
    assert VGR not in {r["resource_care_provider_id"] for r in rows}


async def test_a_block_added_by_the_cli_while_producers_answer_is_honoured(world):
    anna = await consenting(world)
    gate = held(world)
    reading = asyncio.ensure_future(anna.records("diagnoser"))
    await world.producers.arrived.wait()
    guards = world.core.guards  # what `npo blocks add` does, in the same registry.db
    bid, sql = guards.block_insert_sql(block_type="Outer", patient_id=FIONA, care_provider_id=VGR, care_unit_id=None,
                                       info_start=None, info_end=None, excluded_types=[], registered_by="admin")
    guards.admin_change("admin", "register_block", FIONA, [sql], block_id=bid)
    gate.set()
    result = await reading
    assert not vgr_records(result) and {w["reason"] for w in result["withheld"]} == {"blocked"}


async def test_a_guard_change_between_decision_and_commit_makes_the_read_decide_again(world, monkeypatch):
    """The log transaction checks the guards' epoch: a change slipped in after the decision is caught."""
    anna = await consenting(world)
    [consent] = world.core.guards.consent_rows(FIONA)
    decide, calls = access.AccessService._decide, []

    def decide_then_cancel(self, *args):
        out = decide(self, *args)
        if not calls:  # right after the first decision, before its log entry commits
            world.core.guards.admin_change("admin", "cancel_consent", FIONA,
                                           [world.core.guards.consent_end_sql(consent["id"], "cancel", "admin")])
        calls.append(1)
        return out

    monkeypatch.setattr(access.AccessService, "_decide", decide_then_cancel)
    result = await anna.records("diagnoser")
    assert len(calls) == 2 and not vgr_records(result)


# -- ids at the edge, owners checked ---------------------------------------------------------------


def set_owner(provider=None, unit=None, *, index=None):
    """Rewrite the care provider / unit id of every (or one) record of an answer."""
    def alter(payload):
        for n, el in enumerate(payload.iter("{*}healthcareProfessionalCareGiverHSAId")):
            if provider is not None and index in (None, n):
                el.text = provider
        for n, el in enumerate(payload.iter("{*}healthcareProfessionalCareUnitHSAId")):
            if unit is not None and index in (None, n):
                el.text = unit
    return alter


@pytest.mark.parametrize("form, reason", [
    (VGR.lower(), "blocked"), (VGR + "\u200b", "blocked"), ("\ufeff" + VGR, "blocked"), (f" {VGR}\n", "blocked"),
    (VGR.replace("-", " -"), "owner_unreadable"), ("SE2321000131-E00000000000١", "owner_unreadable"),
])
async def test_an_owner_id_in_another_form_never_slips_past_a_block(world, form, reason):
    anna = await consenting(world)
    bid, sql = world.core.guards.block_insert_sql(block_type="Outer", patient_id=FIONA, care_provider_id=VGR,
                                                  care_unit_id=None, info_start=None, info_end=None,
                                                  excluded_types=[], registered_by="admin")
    world.core.guards.admin_change("admin", "register_block", FIONA, [sql], block_id=bid)
    world.producers.alter[MLM] = set_owner(form)
    result = await anna.records("diagnoser")
    assert not vgr_records(result)
    assert {w["reason"]: w["count"] for w in result["withheld"]} == {reason: len(world.producers.records[MLM])}


async def test_a_source_cannot_claim_the_clinicians_own_unit(world):
    anna = await login(world, patient=FIONA)  # no consent, no relation: only the own unit shows at once
    world.producers.alter[MLM] = lambda payload: (set_owner(unit=OWN_UNIT)(payload), [
        el.getparent().remove(el) for el in list(payload.iter("{*}healthcareProfessionalCareGiverHSAId"))])
    result = await anna.records("diagnoser")
    assert not vgr_records(result), "another provider's source claiming 'your unit, no provider' is not believed"
    withheld = {w["reason"]: w["count"] for w in result["withheld"]}
    assert withheld["owner_mismatch"] == len(world.producers.records[MLM])


async def test_a_source_cannot_claim_another_care_provider(world):
    anna = await consenting(world)
    world.producers.alter[MLM] = set_owner(OWN_PROVIDER)  # Västra Götaland's system writing Stockholm's name
    result = await anna.records("diagnoser")
    assert not vgr_records(result)
    assert {w["reason"]: w["count"] for w in result["withheld"]}["owner_mismatch"] == len(world.producers.records[MLM])
    [row] = [s for s in world.core.monitor.summary() if s["logical_address"] == MLM]
    assert row["owner_mismatches"] == len(world.producers.records[MLM]), "driftsstatus says which source did it"


async def test_one_source_can_never_shadow_another_sources_record(world):
    anna = await consenting(world)
    genuine = world.producers.records[TKC][0]
    forged = dataclasses.replace(genuine, title="FÖRFALSKAD", source_system=TKC,
                                 detail={**genuine.detail, "display_name": "FÖRFALSKAD"})
    world.producers.records[MLM] = [forged]  # same id, same claimed source system and owner
    result = await anna.records("diagnoser")
    titles = {r["id"]: r["title"] for r in result["records"] if r["care_provider_id"] == OWN_PROVIDER}
    assert titles[genuine.id] == genuine.title and "FÖRFALSKAD" not in {r["title"] for r in result["records"]}
    assert {w["reason"]: w["count"] for w in result["withheld"]} == {"owner_mismatch": 1}


def test_dedupe_merges_only_the_same_sources_versions():
    base = Record("doc-1", "GetCareContacts:2", "vko", None, OWN_PROVIDER, OWN_UNIT, TKC, "Besök",
                  source_address=TKC)
    newer = dataclasses.replace(base, contract="GetCareContacts:3", title="Besök v3")
    forged = dataclasses.replace(base, contract="GetCareContacts:9", title="FÖRFALSKAD", source_address=MLM)
    kept = _dedupe([base, newer, forged])
    assert sorted(r.title for r in kept) == ["Besök v3", "FÖRFALSKAD"], "the forgery stands alone, under its source"


async def test_records_about_another_patient_are_withheld_and_counted(world):
    anna = await consenting(world)
    other = world.producers.contract.render_response(world.producers.records[MLM][:2], Query(parse_patient_id(HARRY)))

    def add_harrys(payload):
        for el in other.iterfind(world.producers.contract.q("diagnosis")):
            payload.insert(0, copy.deepcopy(el))

    world.producers.alter[MLM] = add_harrys
    result = await anna.records("diagnoser")
    assert {w["reason"]: w["count"] for w in result["withheld"]} == {"other_patient": 2}
    assert len(vgr_records(result)) == len(world.producers.records[MLM])


# -- caps, redirects, follow-ups -------------------------------------------------------------------


@pytest.mark.parametrize("cap, what", [("MAX_CONTRACT_RECORDS", "kontraktet hos källan"),
                                       ("MAX_SOURCE_RECORDS", "källan"), ("MAX_READ_RECORDS", "läsningen")])
async def test_a_source_over_a_record_cap_is_cut_and_says_so(world, monkeypatch, cap, what):
    monkeypatch.setattr(access, cap, 1)
    anna = await consenting(world)
    result = await anna.records("diagnoser")
    cut = [s for s in result["sources"] if s["status"] == "cut"]
    assert {s["logical_address"] for s in cut} == {TKC, MLM}
    assert sum(s["records"] for s in cut) == (1 if cap == "MAX_READ_RECORDS" else 2) == len(result["records"])
    assert result["complete"] is False and result["sets"]["diagnoser"]["complete"] is False
    assert all(f"gränsen för {what} nåddes" in s["message"] for s in cut), [s["message"] for s in cut]


async def test_a_source_over_its_byte_cap_is_cut_and_says_so(world, monkeypatch):
    monkeypatch.setattr(access, "MAX_SOURCE_BYTES", 1500)
    anna = await consenting(world)
    result = await anna.records("diagnoser")
    statuses = {s["logical_address"]: s for s in result["sources"]}
    assert statuses[MLM]["status"] == "cut" and "MiB" in statuses[MLM]["message"]
    assert result["complete"] is False


async def test_a_redirect_is_a_source_error_and_is_never_followed(world, aiohttp_server):
    elsewhere = []

    async def record_hit(request):
        elsewhere.append(dict(request.headers))
        return web.Response(text="")

    trap = web.Application()
    trap.router.add_route("*", "/{tail:.*}", record_hit)
    trap_server = await aiohttp_server(trap)
    world.producers.replace[MLM] = lambda request: web.Response(
        status=307, headers={"Location": str(trap_server.make_url("/steal"))})
    anna = await consenting(world)
    result = await anna.records("diagnoser")
    [status] = [s for s in result["sources"] if s["logical_address"] == MLM]
    assert status["status"] == "error" and "omdirigering" in status["message"]
    assert elsewhere == [], "neither the patient id nor the sender headers went anywhere else"
    assert result["complete"] is False


PATIENT_GETS = ("/api/records", "/api/sets", "/api/consents")
PATIENT_POSTS = {"/api/relation": {}, "/api/consent": {"whole_unit": True, "days": 1},
                 "/api/emergency": {"reason": "Medvetslös"}, "/api/blocked/reveal": {"basis": "Emergency",
                                                                                    "reason": "Medvetslös"},
                 "/api/blocked/open": {"care_provider_id": VGR, "basis": "Emergency", "reason": "Medvetslös"},
                 "/api/consents/no-such/cancel": {}}


async def test_ids_are_validated_on_every_path_that_takes_a_patient(world):
    anna = await consenting(world)
    [consent] = world.core.guards.consent_rows(FIONA)
    log_before = len(world.core.guards.log_rows())
    for bad in ("19970106+2383", "199701062384", "", "١٩٩٧٠١٠٦٢٣٨٣", "1997-01-06"):
        for path in PATIENT_GETS:
            resp = await world.get(f"{path}?patient_id={quote(bad)}")
            body = await resp.json()
            assert resp.status == 400 and body["error"] in ("invalid_patient_id", "patient_required"), (path, bad)
        for path, data in PATIENT_POSTS.items():
            resp = await world.post(path.replace("no-such", consent["id"]), json={**data, "patient_id": bad},
                                    headers={"X-CSRF-Token": anna.csrf})
            body = await resp.json()
            assert resp.status == 400 and body["error"] in ("invalid_patient_id", "patient_required"), (path, bad)
    assert len(world.core.guards.log_rows()) == log_before, "nothing was read or registered for any of them"
    assert world.core.guards.consent_rows(FIONA) == [consent]


async def test_two_sources_with_the_same_record_id_each_open_their_own_record_page(world):
    anna = await consenting(world)
    genuine = world.producers.records[TKC][0]
    twin = dataclasses.replace(world.producers.records[MLM][0], id=genuine.id, title="Millenniums egen post",
                               detail={**world.producers.records[MLM][0].detail, "code": {"displayName": "Millenniums egen post"}})
    world.producers.records[MLM] = [twin]
    result = await anna.records("diagnoser")
    assert sorted(r["title"] for r in result["records"] if r["id"] == genuine.id) == sorted(
        [genuine.title, "Millenniums egen post"]), "both shown, each under its own source"
    overview = await (await world.get(f"/patient/{FIONA}/diagnoser")).text()
    for source, title, other in ((TKC, genuine.title, "Millenniums egen post"), (MLM, "Millenniums egen post", genuine.title)):
        assert f"?kalla={source}" in overview
        page = await (await world.get(f"/patient/{FIONA}/diagnoser/{quote(genuine.id, safe='')}?kalla={source}")).text()
        assert title in page and other not in page, source


async def test_a_record_link_without_its_source_opens_nothing_when_two_sources_share_the_id(world):
    anna = await consenting(world)
    genuine = world.producers.records[TKC][0]
    world.producers.records[MLM] = [dataclasses.replace(world.producers.records[MLM][0], id=genuine.id)]
    assert len([r for r in (await anna.records("diagnoser"))["records"] if r["id"] == genuine.id]) == 2
    resp = await world.get(f"/patient/{FIONA}/diagnoser/{quote(genuine.id, safe='')}")
    assert resp.status == 404, "which source's record would be a guess"


async def test_a_body_that_cannot_be_read_is_said_on_its_record_page(world, monkeypatch):
    """Records are decided on their header and their body read when a page asks: a body the contract cannot
    read costs that record's details, and its page says so instead of showing dashes."""
    anna = await consenting(world)
    contract = world.core.contracts["GetDiagnosis:2"]

    def broken(body):
        raise ValueError("a body this contract cannot read")

    monkeypatch.setattr(contract, "read_body", broken)
    genuine = world.producers.records[TKC][0]
    result = await anna.records("diagnoser")
    [shown] = [r for r in result["records"] if r["id"] == genuine.id]
    assert shown["title"] == genuine.title and "kunde inte läsas" in shown["detail"]["unreadable"]
    page = await (await world.get(f"/patient/{FIONA}/diagnoser/{quote(genuine.id, safe='')}?kalla={TKC}")).text()
    assert "Postens innehåll kunde inte läsas (ValueError)." in page and "Uppgifterna nedan kan därför saknas" in page
