"""Web security of the real app (the `demo` fixture: real registry, real demo producers, real HTTP).

- CSRF: every POST route of the JSON API and of the HTML forms refuses a missing, wrong or foreign token
  (403) and changes nothing (consents, blocks and revokes, access log, feedback, the session's state);
  the same request with the right token does change something, so each refusal is meaningful.
- Session fixation beyond tests/test_sessions.py: a planted *valid* session id is replaced at login and
  a logged-out id cannot be replayed.
- A record id outside what the clinician may see (another patient's record, another provider's record
  without consent, no record at all): the same 404 text, byte for byte.
- Path traversal on /static and on record ids, sent raw on a socket (a client would normalise the path).
- Invalid personnummer: a clear 400 that names the problem, nothing logged, no patient context.
- Bodies over MAX_REQUEST_BYTES: 413, nothing changed; malformed JSON: a clear 400, never a 500.
- Oversized request lines and headers: aiohttp's limits give a clear 4xx and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from npo_core.web import MAX_REQUEST_BYTES

from .conftest import login

HARRY = "194602226559"
FIONA = "199701062383"
LINDA = "189908029805"
VGR = "SE2321000131-E000000000001"
ANNA_U2 = "SE2321000016-1001-U2"


# -- helpers ------------------------------------------------------------------------------------------

def session_id(client) -> str | None:
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/")).get("npo_session")
    return cookie.value if cookie else None


def snapshot(client, sid: str | None, *, activity: bool = False) -> dict:
    """Everything a state-changing request could change; with `activity`, also when the session was last used."""
    core = client.core
    session = core.sessions._sessions.get(sid or "")
    used = {"last_seen": session and session.last_seen} if activity else {}
    return {
        **used,
        "log": len(core.guards.log_rows()),
        "consents": core.guards.consent_rows(),
        "blocks": core.guards.block_rows(),
        "feedback": core.registry.feedback(),
        "session": None if session is None else {
            "assignment": session.assignment.id if session.assignment else None,
            "patients": {pid: (ctx.relation_attested, ctx.reveal_blocked) for pid, ctx in session.patients.items()},
            "kept": core.kept.records_of(session.id),  # the producers' answers kept for its open patients
        },
    }


async def raw_request(client, request: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    """Send bytes as they are (no client-side normalisation); (status, whole response)."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(request)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
        await writer.wait_closed()
    status_line = data.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1."), data[:200]
    return int(status_line.split()[1]), data


def get(path: str, sid: str | None = None, extra: bytes = b"") -> bytes:
    cookie = f"Cookie: npo_session={sid}\r\n".encode() if sid else b""
    return (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + cookie + extra
            + b"\r\n")


async def still_serving(client) -> None:
    resp = await client.get("/api/session")
    assert resp.status == 200, await resp.text()


# -- CSRF ---------------------------------------------------------------------------------------------

# Every POST route but the logins (no session yet: csrf_exempt) with a body that changes state if the
# token is right; each names its patient. {consent} is replaced by a consent registered in the setup.
# Consents are registered for Fiona: Harry's valid consent would be reused, which changes nothing.
STATE_CHANGES = {
    ("/api/assignment", "json"): {"assignment_id": ANNA_U2},
    ("/api/patient", "json"): {"patient_id": FIONA},
    ("/api/relation", "json"): {"patient_id": HARRY},
    ("/api/consent", "json"): {"patient_id": FIONA, "whole_unit": True, "days": 5},
    ("/api/consents/{consent}/cancel", "json"): {"patient_id": HARRY},
    ("/api/consents/{consent}/annul", "json"): {"patient_id": HARRY},
    ("/api/emergency", "json"): {"patient_id": HARRY, "reason": "Medvetslös patient"},
    ("/api/blocked/reveal", "json"): {"patient_id": HARRY, "basis": "PatientsConsent"},
    ("/api/blocked/open", "json"): {"patient_id": HARRY, "care_provider_id": VGR, "basis": "PatientsConsent"},
    ("/api/logout", "json"): {},
    ("/assignment", "form"): {"assignment_id": ANNA_U2},
    ("/patient", "form"): {"patient_id": FIONA},
    ("/consent", "form"): {"patient_id": FIONA, "kind": "consent", "scope": "unit", "days": "5", "relation": "yes"},
    ("/relation", "form"): {"patient_id": HARRY},
    ("/consent/end", "form"): {"patient_id": HARRY, "consent_id": "{consent}", "how": "cancel"},
    ("/blocked/reveal", "form"): {"patient_id": HARRY, "basis": "PatientsConsent"},
    ("/blocked/open", "form"): {"patient_id": HARRY, "care_provider_id": VGR, "basis": "PatientsConsent"},
    ("/hamta-igen", "form"): {"patient_id": HARRY},
    ("/synpunkter", "form"): {"did": "Öppnade översikten", "expected": "Alla diagnoser", "happened": "En saknades"},
    ("/logout", "form"): {},
    ("/-/session", "json"): {},  # "Fortsätt arbeta": extends the session (its last_seen)
}
EXEMPT = {("POST", "/login"), ("POST", "/api/login/demo")}


async def test_every_post_route_is_covered_by_the_csrf_test(demo):
    posts = {(r.method, r.resource.canonical) for r in demo.app.router.routes() if r.method == "POST"}
    exempt = {(r.method, r.resource.canonical) for r in demo.app.router.routes()
              if r.method == "POST" and getattr(r.handler, "csrf_exempt", False)}
    assert exempt == EXEMPT, "only the logins may skip the CSRF check"
    covered = {("POST", path.replace("{consent}", "{id}").replace("/cancel", "/{how}").replace("/annul", "/{how}"))
               for path, _ in STATE_CHANGES}
    assert posts - EXEMPT == covered


async def harry_in_context(demo):
    """Anna (two assignments) on Harry, relation attested, a consent registered, blocked places revealed."""
    anna = await login(demo, patient=FIONA)
    await anna.post("/api/patient", {"patient_id": HARRY})  # both open, as in two tabs
    await anna.post("/api/relation")
    consent = (await anna.post("/api/consent", {"whole_unit": True, "days": 1}, expect=201))["consent_id"]
    await anna.post("/api/blocked/reveal", {"basis": "PatientsConsent"})
    await anna.records()  # answers kept for Harry, which "Hämta igen" lets go
    return anna, consent


@pytest.mark.parametrize("path, kind", list(STATE_CHANGES), ids=[p for p, _ in STATE_CHANGES])
async def test_a_post_without_the_right_csrf_token_is_refused_and_changes_nothing(demo, aiohttp_client, path, kind):
    anna, consent = await harry_in_context(demo)
    erik_client = await aiohttp_client(demo.server)  # another clinician's session: a valid token, but not Anna's
    erik = await login(erik_client, hsa_id="SE2321000131-2002", assignment=None)
    path_now = path.replace("{consent}", consent)
    body = {k: v.replace("{consent}", consent) if isinstance(v, str) else v
            for k, v in STATE_CHANGES[(path, kind)].items()}
    sid = session_id(demo)
    activity = path == "/-/session"  # "Fortsätt arbeta" changes only how long the session lives
    before = snapshot(demo, sid, activity=activity)
    wrong = "A" * len(anna.csrf)
    attempts = {
        "form, no token": dict(data=body),
        "form, wrong token": dict(data={**body, "csrf_token": wrong}),
        "form, another session's token": dict(data={**body, "csrf_token": erik.csrf}),
        "form, empty token": dict(data={**body, "csrf_token": ""}),
        "form with the right token, header wrong": dict(data={**body, "csrf_token": anna.csrf},
                                                         headers={"X-CSRF-Token": wrong}),
        "json, no header": dict(json=body),
        "json, wrong header": dict(json=body, headers={"X-CSRF-Token": wrong}),
        "json, another session's token": dict(json=body, headers={"X-CSRF-Token": erik.csrf}),
        "json, token in the body": dict(json={**body, "csrf_token": anna.csrf}),
        "text/plain with the token in it": dict(data=f"csrf_token={anna.csrf}",
                                                headers={"Content-Type": "text/plain"}),
    }
    for name, kwargs in attempts.items():
        resp = await demo.post(path_now, allow_redirects=False, **kwargs)
        text = await resp.text()
        assert resp.status == 403, f"{path_now}, {name}: {resp.status} {text[:300]}"
        assert "CSRF" in text, f"{path_now}, {name}: the refusal says why"
        if path.startswith("/api/"):
            assert json.loads(text)["error"] == "csrf"
        assert snapshot(demo, sid, activity=activity) == before, f"{path_now}, {name}: something changed"
    # The control: the same request with the right token does change something.
    if kind == "json":
        resp = await demo.post(path_now, json=body, headers={"X-CSRF-Token": anna.csrf}, allow_redirects=False)
    else:
        resp = await demo.post(path_now, data={**body, "csrf_token": anna.csrf}, allow_redirects=False)
    assert resp.status in (200, 201, 303), f"{path_now} with the right token: {resp.status} {await resp.text()}"
    assert snapshot(demo, sid, activity=activity) != before, \
        f"{path_now} with the right token changed nothing: a useless control"


async def test_a_post_without_a_session_is_not_logged_in_and_changes_nothing(demo):
    before = snapshot(demo, None)
    resp = await demo.post("/api/consent", json={"days": 1}, headers={"X-CSRF-Token": "x"})
    assert resp.status == 401 and (await resp.json())["error"] == "not_logged_in"
    resp = await demo.post("/consent", data={"kind": "consent", "csrf_token": "x"}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/login"
    assert snapshot(demo, None) == before


# -- session fixation (what tests/test_sessions.py does not cover) ------------------------------------

async def test_a_planted_valid_session_id_is_replaced_at_login(demo, aiohttp_client):
    attacker = await aiohttp_client(demo.server)
    await login(attacker, hsa_id="SE2321000131-2002", assignment=None)
    planted = session_id(attacker)
    demo.session.cookie_jar.update_cookies({"npo_session": planted})  # the victim's browser carries it
    anna = await login(demo, patient=None)
    own = session_id(demo)
    assert own and own != planted, "login issues a fresh id even over a valid one"
    assert (await anna.get("/api/session"))["clinician"]["hsa_id"] == "SE2321000016-1001"
    # The planted id never leads to Anna: core.login ends the browser's old session, so it is simply gone.
    theirs = await attacker.get("/api/session")
    assert theirs.status == 401, await theirs.text()
    status, _ = await raw_request(demo, get("/api/session", planted))
    assert status == 401


async def test_a_logged_out_session_id_cannot_be_replayed(demo):
    anna = await login(demo, patient=FIONA)
    old = session_id(demo)
    await anna.post("/api/logout")
    status, _ = await raw_request(demo, get("/api/session", old))
    assert status == 401
    status, response = await raw_request(demo, get("/patient", old))
    assert status == 303 and b"Location: /login" in response


# -- records outside the patient context ------------------------------------------------------------

async def test_a_record_outside_what_you_may_see_is_the_same_404_whoever_it_belongs_to(demo):
    """Another patient's record, another provider's record without consent and no record: one answer."""
    anna = await login(demo, patient=LINDA, relation=True)
    lindas = {r["id"] for r in (await anna.records("diagnoser"))["records"]}
    await anna.post("/api/patient", {"patient_id": FIONA})
    await anna.post("/api/relation")
    fionas = {r["id"] for r in (await anna.records("diagnoser"))["records"]}
    other_patient = sorted(lindas - fionas)[-1]  # Linda's own provider: shown to Anna for Linda, not for Fiona
    other_provider = "SE2321000131-MLM1-dia-0"  # Fiona's diagnosis at Västra Götalandsregionen: no consent
    assert other_provider not in fionas
    answers = {}
    for name, record_id in {"another patient's": other_patient, "another provider's": other_provider,
                            "no such": "SE2321000016-TKC1-dia-does-not-exist"}.items():
        resp = await demo.get(f"/patient/{FIONA}/diagnoser/{record_id}")
        body = (await resp.read()).replace(resp.headers["X-Request-Id"].encode(), b"")  # each request's own
        answers[name] = (resp.status, re.sub(rb"\d{4}-\d{2}-\d{2} kl\. \d{2}:\d{2}:\d{2}", b"", body))
    assert {status for status, _ in answers.values()} == {404}
    assert len({body for _, body in answers.values()}) == 1, "the answer must not tell which case it is"
    assert "Posten finns inte".encode() in answers["no such"][1]
    # Both ids are real: the record is shown where it may be.
    await anna.post("/api/relation")
    await anna.post("/api/consent", {"days": 1}, expect=201)
    assert (await demo.get(f"/patient/{FIONA}/diagnoser/{other_provider}")).status == 200
    assert (await demo.get(f"/patient/{LINDA}/diagnoser/{other_patient}")).status == 200


# -- path traversal -------------------------------------------------------------------------------------

SECRETS = [b"[build-system]", b"def register_routes", b"{% block", b"root:x:0:0", b"SQLite format 3"]
STATIC_TRAVERSALS = [
    "/static/../pyproject.toml", "/static/../../../pyproject.toml", "/static/../web.py",
    "/static/../templates/base.html", "/static/%2e%2e/web.py", "/static/%2e%2e/%2e%2e/%2e%2e/pyproject.toml",
    "/static/..%2fweb.py", "/static/..%2F..%2F..%2Fpyproject.toml", "/static/..%5cweb.py",
    "/static/%252e%252e/web.py", "/static//etc/passwd", "/static/%2fetc%2fpasswd", "/static/....//web.py",
    "/static/npo.css/../../web.py", "/static/%00../web.py", "/static/", "/static",
]


@pytest.mark.parametrize("path", STATIC_TRAVERSALS)
async def test_static_files_never_leave_the_static_folder(demo, path):
    await login(demo)
    status, response = await raw_request(demo, get(path))
    assert status in (400, 403, 404), (path, response[:300])
    assert not any(secret in response for secret in SECRETS), (path, response[:300])
    assert b"npo.js" not in response, "no directory listing"
    status, response = await raw_request(demo, get("/static/npo.css"))
    assert status == 200, "the static folder itself is served"


SET = f"/patient/{FIONA}/diagnoser/"
RECORD_TRAVERSALS = [
    SET + "..%2F..%2F..%2Fpyproject.toml", SET + "%2e%2e/%2e%2e/static/npo.css",
    SET + "....//....//etc/passwd", "/patient/..%2f..%2fpyproject.toml/x",
    SET + "SE2321000016-TKC1-dia-0%00", SET + "A" * 4000,
    SET + "%2Fetc%2Fpasswd", SET + "SE2321000016-TKC1-dia-0/../../../pyproject.toml",
]


@pytest.mark.parametrize("path", RECORD_TRAVERSALS)
async def test_record_ids_are_ids_never_paths(demo, path):
    await login(demo, patient=FIONA)
    status, response = await raw_request(demo, get(path, session_id(demo)))
    assert status in (400, 404), (path, response[:300])
    assert not any(secret in response for secret in SECRETS), (path, response[:300])
    if status == 404 and path.startswith(SET) and "/" not in path[len(SET):]:  # one segment: the record route
        assert "Posten finns inte".encode() in response, response[:300]


# -- invalid personnummer --------------------------------------------------------------------------

def luhn_valid(first_eleven: str) -> str:
    total = 0
    for i, ch in enumerate(first_eleven[2:]):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n // 10 + n % 10
    return first_eleven + str((10 - total % 10) % 10)


INVALID_IDS = {
    "": "bad_request", "   ": "bad_request",  # empty: the field is missing ("patient_id ska vara en text.")
    "abcdefghijkl": "invalid_patient_id",
    "19970106-2384": "invalid_patient_id",  # wrong check digit
    luhn_valid("19971306238"): "invalid_patient_id",  # month 13, check digit right
    luhn_valid("19970231238"): "invalid_patient_id",  # 31 February
    luhn_valid("20991231238"): "invalid_patient_id",  # born in the future
    "19970106+2383": "invalid_patient_id",  # '+' only in the ten-digit form
    "1997010623830": "invalid_patient_id", "199701062383'; drop table consents; --": "invalid_patient_id",
    "<script>alert(1)</script>": "invalid_patient_id", "1" * 50_000: "invalid_patient_id",
}


async def test_an_invalid_personnummer_gets_a_clear_error_and_nothing_is_logged(demo):
    anna = await login(demo)
    before = snapshot(demo, session_id(demo))
    for raw, code in INVALID_IDS.items():
        body = await anna.post("/api/patient", {"patient_id": raw}, expect=400)
        assert body["error"] == code and body["message"].endswith(".") and "Traceback" not in body["message"], body
    for raw in (199701062383, None, ["199701062383"], {"id": "199701062383"}, True):
        body = await anna.post("/api/patient", {"patient_id": raw}, expect=400)
        assert body.pop("reference")["request_id"] and body == {"error": "bad_request",
                                                                "message": "patient_id ska vara en text."}
    resp = await demo.post("/patient", data={"patient_id": "19970106-2384", "csrf_token": anna.csrf})
    page = await resp.text()
    assert resp.status == 400 and "Kontrollsiffran stämmer inte" in page and "<script>" not in page
    resp = await demo.post("/patient", data={"patient_id": "<script>alert(1)</script>", "csrf_token": anna.csrf})
    assert resp.status == 400 and "<script>alert" not in await resp.text()
    assert snapshot(demo, session_id(demo)) == before, "no search is logged and no patient context is set"


async def test_a_personnummer_written_with_other_digits_is_refused(demo):
    """Python's \\d matches any Unicode digit: Harry's number in other digits must not open 'another' patient.

    The consent and block tables and the access log compare ids as strings, so an accepted
    '１９４６０２２２-６５５９' would be logged under an id that `npo log extract --patient 194602226559`
    does not find, and Harry's blocks would not apply to it.
    """
    anna = await login(demo)
    for raw in ("１９４６０２２２-６５５９", "١٩٤٦٠٢٢٢٦٥٥٩", "१९४६०२२२६५५९"):
        resp = await anna.client.post("/api/patient", json={"patient_id": raw}, headers={"X-CSRF-Token": anna.csrf})
        body = await resp.json()
        assert resp.status == 400 and body["error"] == "invalid_patient_id", (
            f"{raw!r} was accepted as patient {body.get('patient')!r}: logged as "
            f"{[r['patient_id'] for r in demo.core.guards.log_rows('action = ?', ['search'])][-1:]}")


# -- oversized and malformed bodies ---------------------------------------------------------------------

async def test_a_body_over_the_limit_is_refused_and_changes_nothing(demo):
    anna = await login(demo, patient=FIONA)
    await anna.post("/api/relation")
    sid = session_id(demo)
    before = snapshot(demo, sid)
    pad = "x" * (MAX_REQUEST_BYTES + 1024)
    token = {"X-CSRF-Token": anna.csrf}

    async def chunked():
        for _ in range(MAX_REQUEST_BYTES // 4096 + 4):
            yield b" " * 4096
        yield b'{"days": 1}'

    attempts = [
        ("/api/consent", dict(json={"whole_unit": True, "days": 1, "pad": pad}, headers=token)),
        ("/api/patient", dict(json={"patient_id": HARRY, "pad": pad}, headers=token)),
        ("/api/emergency", dict(json={"reason": pad}, headers=token)),
        ("/api/consent", dict(data=chunked(), headers={**token, "Content-Type": "application/json"})),
        ("/consent", dict(data={"kind": "consent", "days": "1", "relation": "yes", "csrf_token": anna.csrf,
                                "pad": pad})),
        ("/synpunkter", dict(data={"did": pad, "csrf_token": anna.csrf})),
        ("/api/consent", dict(data={"pad": pad, "csrf_token": anna.csrf})),  # form body, token in it
    ]
    for path, kwargs in attempts:
        resp = await demo.post(path, allow_redirects=False, **kwargs)
        assert resp.status in (400, 413), (path, resp.status, (await resp.text())[:300])
        assert snapshot(demo, sid) == before, f"{path}: something changed"
    # Just under the limit is an ordinary request.
    body = await anna.post("/api/consent", {"whole_unit": True, "days": 1,
                                            "pad": "x" * (MAX_REQUEST_BYTES - 1024)}, expect=201)
    assert body["consent_id"]
    await still_serving(demo)


MALFORMED_JSON = {
    "not json": b"patient_id=199701062383",
    "truncated": b'{"patient_id": "1997',
    "an array": b'["199701062383"]',
    "a string": b'"199701062383"',
    "not utf-8": b'{"patient_id": "\xff\xfe"}',
    "deeply nested": b"[" * 40_000,  # under the size limit
    "a 5000-digit number": b'{"days": ' + b"7" * 5000 + b"}",
    "a lone surrogate": b'{"whole_unit": true, "days": 1, "represented_by": "\\ud800"}',
}


@pytest.mark.parametrize("name", list(MALFORMED_JSON))
async def test_malformed_json_gets_a_clear_400_never_a_500(demo, name):
    anna = await login(demo, patient=FIONA)
    sid = session_id(demo)
    before = snapshot(demo, sid)
    resp = await demo.post("/api/consent", data=MALFORMED_JSON[name],
                           headers={"X-CSRF-Token": anna.csrf, "Content-Type": "application/json"})
    body = await resp.json()
    assert resp.status == 400 and body["error"] == "bad_request" and body["message"], (name, resp.status, body)
    assert snapshot(demo, sid) == before
    await still_serving(demo)


# -- oversized request lines and headers ---------------------------------------------------------------

OVERSIZED = {
    "a 100 kB header": get("/api/session", extra=b"X-Big: " + b"a" * 100_000 + b"\r\n"),
    "a 9 kB header (over aiohttp's 8190)": get("/api/session", extra=b"X-Big: " + b"a" * 9000 + b"\r\n"),
    "a 20 kB cookie": get("/api/session", extra=b"Cookie: npo_session=" + b"a" * 20_000 + b"\r\n"),
    "a 20 kB request line": get("/patient/diagnoser/" + "a" * 20_000),
    "a 70 kB query string": get("/api/records?set=" + "d" * 70_000),
    "1000 headers": get("/api/session", extra=b"".join(b"X-H%d: v\r\n" % i for i in range(1000))),
    "a header name of 10 kB": get("/api/session", extra=b"X-" + b"n" * 10_000 + b": v\r\n"),
}


@pytest.mark.parametrize("name", list(OVERSIZED))
async def test_oversized_request_lines_and_headers_get_a_clear_4xx_and_the_server_keeps_serving(demo, name):
    await login(demo)
    status, response = await raw_request(demo, OVERSIZED[name])
    assert 400 <= status < 500, (name, response[:300])
    head = response.split(b"\r\n\r\n", 1)[0].lower()
    assert b"traceback" not in response.lower() and b"content-type: text/html" not in head, "a plain-text refusal"
    await still_serving(demo)


# -- login CSRF --------------------------------------------------------------------------------------

async def test_another_site_cannot_log_a_browser_in(demo):
    """The logins have no session to take a token from: the form has its own double-submit token, and the
    JSON login takes JSON only (which no cross-site form can send)."""
    resp = await demo.post("/login", data={"clinician": "SE2321000016-1001"}, allow_redirects=False)
    assert resp.status == 403 and "CSRF" in await resp.text() and session_id(demo) is None
    resp = await demo.post("/api/login/demo", data={"clinician": "SE2321000016-1001"}, allow_redirects=False)
    assert resp.status == 400 and session_id(demo) is None
    for body in (b"[1]", b'"SE2321000016-1001"', b"null", b"{"):
        resp = await demo.post("/api/login/demo", data=body, headers={"Content-Type": "application/json"})
        assert resp.status == 400 and (await resp.json())["error"] == "bad_request", body
    page = await (await demo.get("/login")).text()
    token = page.split('name="login_token" value="', 1)[1].split('"', 1)[0]
    resp = await demo.post("/login", data={"clinician": "SE2321000016-1001", "login_token": "x" + token[1:]},
                           allow_redirects=False)
    assert resp.status == 403 and session_id(demo) is None, "a token that is not the cookie's"
    resp = await demo.post("/login", data={"clinician": "SE2321000016-1001", "login_token": token},
                           allow_redirects=False)
    assert resp.status == 303 and session_id(demo), "the site's own form logs in"
