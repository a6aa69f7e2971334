"""Fetch once per look at a patient: later pages read the answers kept for the session and patient, and
are still decided against the guards as they are then and logged before they are sent."""

from __future__ import annotations

import asyncio

from npo_core.kept import KeptAnswers

from .conftest import login

FIONA, EGON = "199701062383", "193601286499"
VGR = "SE2321000131-E000000000001"  # another care provider than Anna's


def calls(client) -> int:
    """SOAP calls npo made to producers so far (driftsstatus counts every one)."""
    return sum(row["calls"] for row in client.core.monitor.summary())


def reads(client, patient: str) -> list[dict]:
    return client.core.guards.log_rows("patient_id = ? and action = 'read'", [patient])


async def consented(client, patient=FIONA):
    anna = await login(client, patient=patient, relation=True)
    await anna.post("/api/consent", {"whole_unit": True, "days": 1}, expect=None)
    return anna


async def test_a_later_page_asks_no_producer_and_still_logs_its_own_read(demo):
    anna = await consented(demo)
    first = await anna.records()
    asked = calls(demo)
    assert not first["kept"] and asked > 0
    again = await anna.records("diagnoser")  # a set page of the same look
    assert again["kept"] and calls(demo) == asked
    assert again["fetched_at"] == first["fetched_at"]
    diagnoses = {r["id"] for r in first["records"] if r["information_type"] == "dia"}
    assert {r["id"] for r in again["records"]} == diagnoses
    logged = {row["request_id"] for row in reads(demo, FIONA)}
    assert {first["request_id"], again["request_id"]} <= logged  # each page its own entries
    second = [row for row in reads(demo, FIONA) if row["request_id"] == again["request_id"]]
    assert {row["contract"] for row in second} == {"GetDiagnosis:2"}
    assert sum(row["record_count"] for row in second) == len(diagnoses)


async def test_a_consent_ended_a_moment_ago_applies_to_kept_answers(demo):
    anna = await consented(demo)
    before = await anna.records()
    assert any(r["care_provider_id"] == VGR for r in before["records"])
    [consent] = await anna.get("/api/consents")
    await anna.post(f"/api/consents/{consent['id']}/cancel")
    after = await anna.records()
    assert after["kept"]
    assert not any(r["care_provider_id"] == VGR for r in after["records"])
    assert sum(w["count"] for w in after["withheld"]) > 0


async def test_a_block_added_a_moment_ago_applies_to_kept_answers(demo):
    anna = await consented(demo)
    before = await anna.records()
    at_vgr = sum(1 for r in before["records"] if r["care_provider_id"] == VGR)
    assert at_vgr
    guards = demo.core.guards
    _, sql = guards.block_insert_sql(block_type="Outer", patient_id=FIONA, care_provider_id=VGR, care_unit_id=None,
                                     info_start=None, info_end=None, excluded_types=[], registered_by="SE-TEST")
    guards.admin_change("SE-TEST", "register_block", FIONA, [sql])
    after = await anna.records()
    assert after["kept"]
    assert not any(r["care_provider_id"] == VGR for r in after["records"])
    assert {w["reason"]: w["count"] for w in after["withheld"]}.get("blocked") == at_vgr


async def test_another_session_never_reads_this_sessions_answers(demo):
    anna = await consented(demo)
    await anna.records()
    asked = calls(demo)
    demo.session.cookie_jar.clear()  # another browser: a session of its own, this one still open
    again = await consented(demo)
    body = await again.records()
    assert not body["kept"] and calls(demo) > asked  # it asked the producers itself
    assert len(demo.core.sessions._sessions) == 2


async def test_what_is_kept_goes_with_the_look(demo):
    anna = await consented(demo)
    await anna.records()
    kept = demo.core.kept
    assert kept.records > 0
    await anna.post("/api/assignment", {"assignment_id": "SE2321000016-1001-U1"})  # closes every patient
    assert kept.records == 0
    anna = await consented(demo)
    assert not (await anna.records())["kept"]  # the patient opened again: a new look
    assert (await anna.records())["kept"]
    assert not (await anna.get("/api/records?fresh=1"))["kept"]  # "Hämta igen"
    await anna.post("/api/logout")
    assert kept.records == 0


async def test_kept_answers_expire_and_an_operators_change_asks_again(demo):
    demo.core.registry.set_environment("demo", keep_answers=0.5)
    anna = await consented(demo)
    await anna.records()
    assert (await anna.records())["kept"]
    await asyncio.sleep(0.6)
    assert not (await anna.records())["kept"]
    demo.core.registry.remove_source_system("demo", "SE2120003005-PRC1")  # an operator removes a producer
    body = await anna.records()
    assert not body["kept"]
    gone = [s for s in body["sources"] if s["logical_address"] == "SE2120003005-PRC1"]
    assert gone and all(s["status"] == "error" and "tillfrågades inte" in s["message"] for s in gone)
    assert not any(r["source_system"] == "SE2120003005-PRC1" for r in body["records"])
    demo.core.registry.set_environment("demo", keep_answers=0)
    assert not (await anna.records())["kept"]


async def test_two_tabs_opening_at_once_fetch_once(demo):
    anna = await consented(demo)
    before = calls(demo)
    first, second = await asyncio.gather(anna.records(), anna.records())
    assert sorted([first["kept"], second["kept"]]) == [False, True]
    once = calls(demo) - before
    await anna.get("/api/records?fresh=1")
    assert calls(demo) - before == 2 * once
    assert first["request_id"] != second["request_id"]


async def test_the_page_says_when_it_was_fetched_and_fetches_again(demo):
    anna = await consented(demo)
    page = await (await demo.get(f"/patient/{FIONA}")).text()
    assert "Hämtad " in page and "Hämta igen" in page
    asked = calls(demo)
    await demo.get(f"/patient/{FIONA}/diagnoser")
    assert calls(demo) == asked
    resp = await demo.post("/hamta-igen", data={"csrf_token": anna.csrf, "patient_id": FIONA,
                                                "next": f"/patient/{FIONA}/diagnoser"}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/patient/{FIONA}/diagnoser"
    await demo.get(f"/patient/{FIONA}/diagnoser")
    assert calls(demo) > asked


class Look:
    def __init__(self, patient_id):
        from npo_core.identity import parse_patient_id

        self.patient = parse_patient_id(patient_id)


def answers(n: int):
    return lambda: asyncio.sleep(0, [(None, [object()] * n)])


async def test_kept_answers_are_bounded_per_session_and_per_process():
    clock = [0.0]
    kept = KeptAnswers(max_session_records=100, max_records=250, clock=lambda: clock[0])
    fiona, egon, linda = Look(FIONA), Look(EGON), Look("189908029805")
    ids = frozenset({"GetDiagnosis:2"})
    await kept.fetch("s1", fiona, ids, "setup", 60, answers(60))
    await kept.fetch("s1", egon, ids, "setup", 60, answers(60))  # 120 > 100: Fiona's, the older, goes
    assert kept.records == 60 and (await kept.fetch("s1", fiona, ids, "setup", 60, answers(60)))[1] is False
    await kept.fetch("s2", fiona, ids, "setup", 60, answers(90))
    await kept.fetch("s3", linda, ids, "setup", 60, answers(90))  # 60 + 90 + 90 > 250: the least recent goes
    assert kept.records <= 250
    assert (await kept.fetch("s3", linda, ids, "setup", 60, answers(90)))[1] is True
    assert (await kept.fetch("s4", linda, ids, "setup", 60, answers(101)))[0].records == 101  # never kept
    assert (await kept.fetch("s4", linda, ids, "setup", 60, answers(101)))[1] is False
    clock[0] = 61
    assert (await kept.fetch("s3", linda, ids, "setup", 60, answers(90)))[1] is False  # expired
    assert (await kept.fetch("s3", linda, ids, "other setup", 60, answers(90)))[1] is False
    assert (await kept.fetch("s3", Look("189908029805"), ids, "other setup", 60, answers(90)))[1] is False



async def test_a_tab_waiting_for_another_tabs_fetch_fetches_itself_when_that_one_goes_away():
    kept = KeptAnswers()
    fiona, ids = Look(FIONA), frozenset({"GetDiagnosis:2"})
    started = asyncio.Event()

    async def slow():
        started.set()
        await asyncio.sleep(10)

    first = asyncio.ensure_future(kept.fetch("s1", fiona, ids, "setup", 60, slow))
    await started.wait()
    second = asyncio.ensure_future(kept.fetch("s1", fiona, ids, "setup", 60, answers(3)))
    await asyncio.sleep(0)
    first.cancel()  # the first tab was closed while its producers answered
    got, was_kept = await asyncio.wait_for(second, 2)
    assert (got.records, was_kept) == (3, False) and first.cancelled()


async def test_a_major_disabled_by_the_operator_is_not_shown_from_kept_answers(demo):
    anna = await consented(demo)
    before = await anna.records("kontakter")
    assert {r["contract"] for r in before["records"]} == {"GetCareContacts:3"}
    demo.core.registry.set_contract_enabled("GetCareContacts:3", "demo", False)
    after = await anna.records("kontakter")  # the answers kept were GetCareContacts 3's: 2 is asked now
    assert not after["kept"] and {r["contract"] for r in after["records"]} == {"GetCareContacts:2"}
    assert len(after["records"]) == len(before["records"])
