"""Sessions: a clinician under one assignment; time-outs; a fresh id at every login."""

from __future__ import annotations

import pytest

from npo_core.demo import CLINICIANS
from npo_core.errors import Forbidden, Unauthenticated
from npo_core.identity import PatientId, parse_patient_id
from npo_core.sessions import MAX_OPEN_PATIENTS, PatientContext, SessionStore

from .conftest import login

ANNA, ANNA_ASSIGNMENTS = CLINICIANS[0]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_idle_and_absolute_time_outs():
    clock = Clock()
    store = SessionStore(idle=60, absolute=300, clock=clock)
    session = store.create(ANNA, ANNA_ASSIGNMENTS, "demo")
    for _ in range(5):  # active use keeps it alive until the absolute limit
        clock.now += 50
        assert store.get(session.id) is session
    clock.now += 51
    with pytest.raises(Unauthenticated, match="gått ut"):
        store.get(session.id)
    session = store.create(ANNA, ANNA_ASSIGNMENTS, "demo")
    clock.now += 61
    with pytest.raises(Unauthenticated):
        store.get(session.id)


def test_changing_assignment_closes_every_open_patient():
    session = SessionStore().create(ANNA, ANNA_ASSIGNMENTS, "demo")
    assert session.assignment is None, "two assignments: the clinician chooses"
    session.choose_assignment(ANNA_ASSIGNMENTS[0].id)
    session.open_patient(PatientContext(parse_patient_id("199701062383")))
    session.open_patient(PatientContext(parse_patient_id("194602226559")))
    assert list(session.patients) == ["199701062383", "194602226559"]
    session.choose_assignment(ANNA_ASSIGNMENTS[1].id)
    assert session.patients == {} and session.assignment.scope == "VG"
    with pytest.raises(Forbidden):
        session.choose_assignment("SE-someone-elses")


def test_a_session_keeps_at_most_twenty_open_patients_and_closes_the_oldest():
    session = SessionStore().create(ANNA, ANNA_ASSIGNMENTS[:1], "demo")
    ids = [p for p in ("199701062383", "194602226559", "189908029805", "193601286499")]
    for pid in ids:
        session.open_patient(PatientContext(parse_patient_id(pid)))
    session.open_patient(PatientContext(parse_patient_id(ids[0])))  # reopening moves it last
    assert list(session.patients) == ids[1:] + ids[:1]
    for n in range(MAX_OPEN_PATIENTS):
        session.open_patient(PatientContext(PatientId(f"19000101{n:04d}", "x")))
    assert len(session.patients) == MAX_OPEN_PATIENTS and ids[0] not in session.patients


async def test_a_planted_session_id_is_worthless_and_login_issues_a_new_one(demo):
    demo.session.cookie_jar.update_cookies({"npo_session": "attacker-chosen"})
    resp = await demo.get("/api/session")
    assert resp.status == 401
    resp = await demo.post("/api/login/demo", json={"clinician": ANNA.hsa_id})
    set_cookie = resp.headers["Set-Cookie"]
    value = set_cookie.split(";")[0].split("=", 1)[1]
    assert value != "attacker-chosen" and len(value) >= 40
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie and "Path=/" in set_cookie
    assert "Secure" not in set_cookie, "plain-HTTP demo only; every other environment sets Secure"


async def test_no_care_purpose_assignment_means_ej_behorig(demo):
    johan = await login(demo, hsa_id="SE2321000255-4004", assignment=None)
    assert (await johan.get("/api/session"))["assignments"] == []
    page = await (await demo.get("/")).text()
    assert "Ej behörig" in page
    body = await johan.post("/api/patient", {"patient_id": "199701062383"}, expect=403)
    assert body["error"] == "no_assignment"
    body = await johan.post("/api/assignment", {"assignment_id": "SE2321000255-4004-U1"}, expect=403)
    assert body["error"] == "wrong_purpose"


async def test_logout_ends_the_session(demo):
    anna = await login(demo)
    await anna.post("/api/logout")
    assert (await demo.get("/api/session")).status == 401
