"""SAML login against a real pysaml2 IdP (tests/saml_idp.py), over real HTTP(S), signatures by xmlsec1.

npo runs in SIT with only SAML enabled, served over TLS (the session and state cookies are
Secure). The browser follows the real flow: npo → IdP (signed AuthnRequest) → auto-posted
form → npo's ACS. Bad answers are made by the IdP itself (unsigned, expired, SHA-1, another
key, tampered after signing, an error status) and posted to the ACS for real.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import ssl
from html import unescape

import aiohttp
import pytest
from lxml import etree

from npo_core.app import Core
from npo_core.plugins import make_plugin_manager
from npo_core.web import make_app
from npo_plugins.auth import directory, saml
from npo_plugins.ui import web as web_view

from .certs import TestCA
from .saml_idp import SAMBI, TestIdP, person, rsa_keypair

# Skipped where Debian's xmlsec1 is missing, but never silently under CI.
pytestmark = pytest.mark.skipif(shutil.which("xmlsec1") is None and os.environ.get("CI") != "true",
                                reason="needs xmlsec1 (apt-get install xmlsec1)")

CARE = "Vård och behandling"
ANNA = "SE2321000016-1001"


def commission(n: int, purpose: str = CARE) -> dict:
    return {"id": f"SE2321000016-U{n}", "name": f"Uppdrag {n}", "purpose": purpose,
            "unit": f"SE2321000016-E{n}", "unit_name": f"Enhet {n}",
            "provider": "SE2321000016-0001", "provider_name": "Region Stockholm"}


ANNA_ATTRIBUTES = person(
    ANNA, "Anna", "Andersson",
    commissions=[commission(1), commission(2), commission(3, "Kvalitetssäkring"), commission(4)],
    rights=["SE2321000016-U1;Läsa;Alla;SJF",
            "SE2321000016-U2;Läsa;Alla;VG", "SE2321000016-U2;Skriva;Alla;SJF",
            "SE2321000016-U3;Läsa;Alla;VE",
            "SE2321000016-U4;Skriva;Alla;SJF"])  # U4 has no read right: not usable in npo


@pytest.fixture
def pm():
    return make_plugin_manager(load_entrypoints=False, extra=(web_view, saml, directory))


@pytest.fixture
def tls(tmp_path):
    ca = TestCA(tmp_path, "npo test CA")
    server = ca.issue("npo server", server=True)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(server.cert, server.key)
    return ca, server_ctx


@pytest.fixture(scope="session")
def keys(tmp_path_factory) -> dict:
    """RSA key pairs for the IdP and the SP, made once: generating them is the slow part."""
    folder = tmp_path_factory.mktemp("saml-keys")
    return {"idp": rsa_keypair(folder, "idp-signing"), "sp": rsa_keypair(folder, "sp")}


@pytest.fixture
async def idp(tmp_path, aiohttp_server, keys):
    folder = tmp_path / "idp"
    folder.mkdir()
    provider = TestIdP(folder, keypair=keys["idp"])
    server = await aiohttp_server(provider.app())
    provider.write_metadata(str(server.make_url("/sso")))
    return provider


@pytest.fixture
async def npo(tmp_path, registry, pm, tls, idp, keys, aiohttp_server):
    """npo in SIT with SAML only, over TLS; the IdP learns the SP from npo's metadata URL."""
    registry.set_environment("sit", auth_methods=json.dumps(["saml"]))
    sp_cert, sp_key = keys["sp"]
    core = Core(registry, "sit", pm)
    server = await aiohttp_server(make_app(core), ssl=tls[1])
    base = str(server.make_url("/")).rstrip("/")
    for key, value in {"entity_id": f"{base}/saml/metadata", "base_url": base, "sp_cert": sp_cert,
                       "sp_key": sp_key, "idp_metadata": tmp_path / "idp" / "idp-metadata.xml"}.items():
        registry.set_plugin_setting("sit", "saml", key, str(value))
    async with browser(tls) as b:
        resp = await b.get(server.make_url("/saml/metadata"))
        assert resp.status == 200 and resp.content_type == "application/samlmetadata+xml"
        server.sp_metadata = await resp.read()
    idp.trust_sp(server.sp_metadata)
    server.core = core
    yield server
    core.guards.close()


def browser(tls) -> aiohttp.ClientSession:
    ctx = ssl.create_default_context(cafile=str(tls[0].ca))
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx), cookie_jar=aiohttp.CookieJar(unsafe=True))


def form_of(page: str) -> tuple[str, dict]:
    action = unescape(re.search(r'<form method="post" action="([^"]+)"', page).group(1))
    fields = {unescape(n): unescape(v) for n, v in re.findall(r'name="([^"]+)" value="([^"]*)"', page)}
    return action, fields


async def through_idp(b, npo, idp, **answer) -> tuple[str, dict]:
    """Start at npo, follow the redirect to the IdP, and return the IdP's auto-posting form."""
    idp.next = {"identity": ANNA_ATTRIBUTES, **answer}
    start = await b.get(npo.make_url("/saml/login"), allow_redirects=False)
    assert start.status == 303
    state = start.headers["Set-Cookie"]
    assert state.startswith(f"{saml.STATE_COOKIE}=") and "Secure" in state and "SameSite=None" in state
    at_idp = await b.get(start.headers["Location"])
    assert at_idp.status == 200
    return form_of(await at_idp.text())


async def post(b, action: str, fields: dict):
    return await b.post(action, data=fields, allow_redirects=False)


def session_cookie(response) -> str | None:
    return next((h for h in response.headers.getall("Set-Cookie", []) if h.startswith("npo_session=")), None)


async def login(b, npo, idp, **answer):
    action, fields = await through_idp(b, npo, idp, **answer)
    return await post(b, action, fields)


async def assert_refused(response, code: str, words: str, npo=None):
    text = await response.text()
    assert response.status == saml.REASONS[code].status and f'data-reason="{code}"' in text, text
    assert words in text and "Försök igen" in text
    assert session_cookie(response) is None
    if npo is not None:
        assert npo.core.sessions._sessions == {}


async def test_sp_metadata_names_the_acs_and_requires_signed_assertions(npo):
    root = etree.fromstring(npo.sp_metadata)
    md = "{urn:oasis:names:tc:SAML:2.0:metadata}"
    sp = root.find(f"{md}SPSSODescriptor")
    assert root.get("entityID") == str(npo.make_url("/saml/metadata"))
    assert sp.get("WantAssertionsSigned") == "true" and sp.get("AuthnRequestsSigned") == "true"
    [acs] = sp.findall(f"{md}AssertionConsumerService")
    assert acs.get("Location") == str(npo.make_url("/saml/acs"))
    assert acs.get("Binding") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    assert sp.find(".//{http://www.w3.org/2000/09/xmldsig#}X509Certificate") is not None


async def test_login_offers_only_care_commissions_with_a_read_right(npo, idp, tls):
    async with browser(tls) as b:
        page = await b.get(npo.make_url("/login/saml"))
        assert page.status == 200 and 'href="/saml/login"' in await page.text()
        acs = await login(b, npo, idp)
        text = await acs.text()
        assert acs.status == 200 and "Du är inloggad" in text and 'http-equiv="refresh" content="0;url=/"' in text
        cookie = session_cookie(acs)
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert any(h.startswith(f'{saml.STATE_COOKIE}=""') for h in acs.headers.getall("Set-Cookie")), \
            "the one-time state cookie is cleared"
        start = await (await b.get(npo.make_url("/"))).text()
        assert "Välj medarbetaruppdrag" in start and "Uppdrag 1" in start and "Uppdrag 2" in start
        assert "Uppdrag 3" not in start and "Uppdrag 4" not in start
        session = await (await b.get(npo.make_url("/api/session"))).json()
    assert session["clinician"] == {"hsa_id": ANNA, "name": "Anna Andersson"}
    assert [(a["id"], a["scope"], a["care_unit_name"]) for a in session["assignments"]] == [
        ("SE2321000016-U1", "SJF", "Enhet 1"), ("SE2321000016-U2", "VG", "Enhet 2")]
    [request] = idp.requests
    assert request.message.assertion_consumer_service_url == str(npo.make_url("/saml/acs"))


async def test_one_commission_is_chosen_and_none_is_ej_behorig(npo, idp, tls):
    one = person("SE2321000016-1002", "Bertil", "Berg", [commission(5)], ["SE2321000016-U5;Läsa;Alla;VE"])
    none = person("SE2321000016-1003", "Cecilia", "Cederlund", [commission(6, "Statistik")],
                  ["SE2321000016-U6;Läsa;Alla;VE"])
    async with browser(tls) as b:
        await login(b, npo, idp, identity=one)
        session = await (await b.get(npo.make_url("/api/session"))).json()
        assert session["assignment"]["id"] == "SE2321000016-U5" and session["assignment"]["scope"] == "VE"
        assert "Sök patient" in await (await b.get(npo.make_url("/"))).text()
    async with browser(tls) as b:
        await login(b, npo, idp, identity=none)
        assert "Ej behörig" in await (await b.get(npo.make_url("/"))).text()


async def test_without_commission_attributes_the_directory_answers(npo, idp, tls, registry, tmp_path):
    rows = tmp_path / "uppdrag.json"
    rows.write_text(json.dumps([{
        "employee_hsa_id": ANNA, "commission_hsa_id": "SE2321000016-K1", "commission_name": "Katalogens uppdrag",
        "purpose": CARE, "care_unit_hsa_id": "SE2321000016-E9", "care_unit_name": "Enhet 9",
        "care_provider_hsa_id": "SE2321000016-0001", "care_provider_name": "Region Stockholm", "scope": "VG"}]),
        encoding="utf-8")
    registry.set_plugin_setting("sit", "directory", "file", str(rows))
    async with browser(tls) as b:
        await login(b, npo, idp, identity=person(ANNA, "Anna", "Andersson"))
        session = await (await b.get(npo.make_url("/api/session"))).json()
    assert session["assignment"]["id"] == "SE2321000016-K1"


async def test_every_login_gets_a_fresh_session_id(npo, idp, tls):
    async with browser(tls) as b:
        b.cookie_jar.update_cookies({"npo_session": "planted-by-an-attacker"}, npo.make_url("/"))
        first = session_cookie(await login(b, npo, idp))
        second = session_cookie(await login(b, npo, idp))
    ids = [c.split(";")[0].split("=", 1)[1] for c in (first, second)]
    assert "planted-by-an-attacker" not in ids and ids[0] != ids[1] and all(len(i) >= 40 for i in ids)
    # This client sends its cookie with the ACS post (a browser would not: SameSite=Strict), so the old one ends.
    assert [s.auth_method for s in npo.core.sessions._sessions.values()] == ["saml"]


async def test_a_replayed_response_is_refused(npo, idp, tls):
    async with browser(tls) as b:
        action, fields = await through_idp(b, npo, idp)
        assert session_cookie(await post(b, action, fields))
        again = await post(b, action, fields)
        await assert_refused(again, "no_login_started", "Ingen pågående inloggning")
    before = set(npo.core.sessions._sessions)
    async with browser(tls) as attacker:  # starts a login of its own, then posts the captured answer
        await through_idp(attacker, npo, idp)
        await assert_refused(await post(attacker, action, fields), "unsolicited", "annan inloggning")
    async with browser(tls) as stranger:  # no login started at all
        await assert_refused(await post(stranger, action, fields), "no_login_started", "Ingen pågående")
    assert set(npo.core.sessions._sessions) == before


def test_an_assertion_id_is_accepted_once():
    used = saml.UsedAssertions(clock=lambda: 1000.0)
    assert used.first_use("id-1", until=2000.0) and not used.first_use("id-1", until=2000.0)
    later = saml.UsedAssertions(clock=lambda: 3000.0)
    later._until = dict(used._until)
    assert later.first_use("id-2", until=4000.0) and "id-1" not in later._until, "expired ids are forgotten"


@pytest.mark.parametrize("answer, code, words", [
    ({"lifetime_minutes": -10}, "expired", "Inloggningsintyget har gått ut"),
    ({"sign": False}, "unsigned", "Inloggningsintyget är inte signerat"),
    ({"sha1": True}, "weak_signature", "för svag algoritm"),
    ({"tamper": ("SE2321000016-U3", "SE2321000016-U1")}, "bad_signature", "signatur är ogiltig"),
    ({"status": "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"}, "idp_refused", "Inloggningen avbröts"),
])
async def test_bad_answers_get_a_clear_page_and_no_session(npo, idp, tls, answer, code, words):
    async with browser(tls) as b:
        await assert_refused(await login(b, npo, idp, **answer), code, words, npo)


async def test_an_answer_signed_with_another_key_is_refused(npo, idp, tls):
    impostor = idp.impostor()
    async with browser(tls) as b:
        action, fields = await through_idp(b, npo, idp)
        forged = impostor.respond(idp.requests[-1], ANNA_ATTRIBUTES)
        await assert_refused(await post(b, action, {**fields, "SAMLResponse": forged}), "bad_signature",
                             "signatur är ogiltig", npo)


async def test_incomplete_commissions_are_refused(npo, idp, tls):
    broken = {**ANNA_ATTRIBUTES, SAMBI + "healthCareUnitName": ["Enhet 1"]}  # one name for four commissions
    async with browser(tls) as b:
        await assert_refused(await login(b, npo, idp, identity=broken), "bad_attributes", "saknar uppgifter", npo)
    no_id = {k: v for k, v in ANNA_ATTRIBUTES.items() if k != SAMBI + "employeeHsaId"}
    async with browser(tls) as b:
        await assert_refused(await login(b, npo, idp, identity=no_id), "bad_attributes", "saknar uppgifter", npo)


async def test_garbage_and_dtds_never_reach_pysaml2(npo, idp, tls):
    bomb = base64.b64encode(b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><r>&a;</r>').decode()
    for value, code in (("inte base64!", "invalid"), (bomb, "invalid"), ("", "invalid")):
        async with browser(tls) as b:
            action, fields = await through_idp(b, npo, idp)
            await assert_refused(await post(b, action, {**fields, "SAMLResponse": value}), code,
                                 "kunde inte godtas", npo)


async def test_an_unconfigured_sp_says_so(npo, tls, registry, tmp_path):
    registry.set_plugin_setting("sit", "saml", "idp_metadata", str(tmp_path / "saknas.xml"))
    async with browser(tls) as b:
        resp = await b.get(npo.make_url("/saml/login"), allow_redirects=False)
        await assert_refused(resp, "not_configured", "inte konfigurerad", npo)
    registry.set_plugin_setting("sit", "saml", "sp_key", None)
    async with browser(tls) as b:
        for path in ("/saml/login", "/saml/metadata"):
            resp = await b.get(npo.make_url(path), allow_redirects=False)
            await assert_refused(resp, "not_configured", "inte konfigurerad", npo)
