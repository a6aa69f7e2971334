"""SITHS login over real mutual TLS: our own CA, server and cards, a real server and a real client.

The server is built exactly as `npo serve` builds it: the TLS context comes from the
`server_ssl_context` hook, the assignments from the `directory` plugin's file.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import ssl
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from npo_core.app import Core
from npo_core.errors import StartupError
from npo_core.plugins import make_plugin_manager
from npo_core.web import make_app
from npo_plugins.auth import directory, siths
from npo_plugins.ui import web as web_view

from .certs import TestCA

ANNA = "SE2321000016-1001"
BERTIL = "SE2321000016-1002"
CECILIA = "SE2321000016-1003"  # only a commission for another purpose
DAVID = "SE2321000016-1004"    # in no directory row at all

DIRECTORY = [
    # employee, commission, name, purpose, unit, unit name, provider, provider name, scope
    (ANNA, "SE2321000016-U1", "Läkare, Kardiologen", "Vård och behandling", "SE2321000016-KARD",
     "Kardiologen Solna", "SE2321000016-0001", "Region Stockholm", "SJF"),
    (ANNA, "SE2321000016-U2", "Läkare, Akuten", "Vård och behandling", "SE2321000016-AKUT",
     "Akuten Huddinge", "SE2321000016-0001", "Region Stockholm", "VG"),
    (ANNA, "SE2321000016-U3", "Kvalitetsuppföljning", "Kvalitetssäkring", "SE2321000016-KVAL",
     "Kvalitetsenheten", "SE2321000016-0001", "Region Stockholm", "VE"),
    (BERTIL, "SE2321000016-U4", "Sjuksköterska, Akuten", "Vård och behandling", "SE2321000016-AKUT",
     "Akuten Huddinge", "SE2321000016-0001", "Region Stockholm", "VE"),
    (CECILIA, "SE2321000016-U5", "Statistik", "Statistik", "SE2321000016-STAT",
     "Statistikenheten", "SE2321000016-0001", "Region Stockholm", "VE"),
]


def write_directory(path: Path, rows=DIRECTORY) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([directory.FIELDS, *rows])
    return path


def write_crl(ca: TestCA, path: Path, revoked=(), next_update_days: int = 7) -> Path:
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca.cert.subject)
               .last_update(now - dt.timedelta(days=8)).next_update(now + dt.timedelta(days=next_update_days)))
    for card in revoked:
        serial = x509.load_pem_x509_certificate(card.cert.read_bytes()).serial_number
        builder = builder.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial)
                                                  .revocation_date(now - dt.timedelta(hours=1)).build())
    path.write_bytes(builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    return path


@dataclass
class Pki:
    ca: TestCA
    folder: Path
    cards: dict

    def crl(self, revoked=(), next_update_days=7) -> Path:
        return write_crl(self.ca, self.folder / "siths.crl", revoked, next_update_days)


@pytest.fixture
def pki(tmp_path) -> Pki:
    ca = TestCA(tmp_path, "SITHS test CA")
    stranger = TestCA(tmp_path, "Some other CA")
    cards = {
        "server": ca.issue("npo server", server=True),
        "anna": ca.issue("Anna Andersson", serial_number=ANNA),
        "bertil": ca.issue("Bertil Berg", serial_number=BERTIL),
        "cecilia": ca.issue("Cecilia Cederlund", serial_number=CECILIA),
        "david": ca.issue("David Dahl", serial_number=DAVID),
        "expired": ca.issue("Anna utgangen", serial_number=ANNA, days=-1),
        "revoked": ca.issue("Anna sparrad", serial_number=ANNA),
        "untrusted": stranger.issue("Anna falsk", serial_number=ANNA),
        "personal": ca.issue("Anna personnummer", serial_number="199701062383"),
        "no_serial": ca.issue("Anna utan HSA-id"),
    }
    return Pki(ca, tmp_path, cards)


@pytest.fixture
def pm():
    """Just what a login needs: the web view, SITHS and the directory (no contracts)."""
    return make_plugin_manager(load_entrypoints=False, extra=(web_view, siths, directory))


def configure(registry, pki: Pki, env: str = "qa", crl: Path | None = None) -> None:
    settings = {"server_cert": pki.cards["server"].cert, "server_key": pki.cards["server"].key,
                "ca_bundle": pki.ca.ca, "crl_file": crl or pki.crl(revoked=[pki.cards["revoked"]])}
    for key, value in settings.items():
        registry.set_plugin_setting(env, "siths", key, str(value))
    registry.set_plugin_setting(env, "directory", "file", str(write_directory(pki.folder / "uppdrag.csv")))


@pytest.fixture
async def npo(registry, pm, pki, aiohttp_server):
    """npo in QA, served over mutual TLS with the context `npo serve` would use."""
    configure(registry, pki)
    core = Core(registry, "qa", pm)
    tls = next(c for c in pm.hook.server_ssl_context(core=core) if c is not None)
    server = await aiohttp_server(make_app(core), ssl=tls)
    server.core = core
    yield server
    core.guards.close()


def browser(pki: Pki, card: str | None = None) -> aiohttp.ClientSession:
    """A browser that trusts npo's server certificate and, given a card, presents it."""
    ctx = ssl.create_default_context(cafile=str(pki.ca.ca))
    if card:
        ctx.load_cert_chain(pki.cards[card].cert, pki.cards[card].key)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx), cookie_jar=aiohttp.CookieJar(unsafe=True))


def session_cookie(response) -> str | None:
    for header in response.headers.getall("Set-Cookie", []):
        if header.startswith("npo_session="):
            return header
    return None


async def test_a_valid_card_gets_a_session_and_the_assignment_choice(npo, pki):
    url = npo.make_url
    async with browser(pki, "anna") as b:
        page = await b.get(url("/login/siths"))
        text = await page.text()
        assert page.status == 200 and "Anna Andersson" in text and ANNA in text
        resp = await b.post(url("/login/siths"), allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == "/"
        cookie = session_cookie(resp)
        assert cookie and "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        start = await (await b.get(url("/"))).text()
        assert "Välj medarbetaruppdrag" in start
        assert "Läkare, Kardiologen" in start and "Läkare, Akuten" in start
        assert "Kvalitetsuppföljning" not in start, "only purpose Vård och behandling is offered"
        session = await (await b.get(url("/api/session"))).json()
        assert session["clinician"] == {"hsa_id": ANNA, "name": "Anna Andersson"}
        assert [a["id"] for a in session["assignments"]] == ["SE2321000016-U1", "SE2321000016-U2"]
        assert session["assignment"] is None
        chosen = await b.post(url("/api/assignment"), json={"assignment_id": "SE2321000016-U2"},
                              headers={"X-CSRF-Token": session["csrf_token"]})
        assert (await chosen.json())["assignment"]["scope"] == "VG"
        assert "Sök patient" in await (await b.get(url("/"))).text()


async def test_every_login_gets_a_fresh_session_id_and_ends_the_old_one(npo, pki):
    url = npo.make_url
    async with browser(pki, "bertil") as b:
        b.cookie_jar.update_cookies({"npo_session": "planted-by-an-attacker"}, url("/"))
        first = session_cookie(await b.post(url("/login/siths"), allow_redirects=False))
        second = session_cookie(await b.post(url("/login/siths"), allow_redirects=False))
    ids = [c.split(";")[0].split("=", 1)[1] for c in (first, second)]
    assert "planted-by-an-attacker" not in ids and ids[0] != ids[1] and all(len(i) >= 40 for i in ids)
    session = npo.core.sessions.get(ids[1])
    assert session.auth_method == "siths" and session.assignment.id == "SE2321000016-U4", "one assignment: chosen"
    with pytest.raises(Exception, match="inte inloggad"):
        npo.core.sessions.get(ids[0])


async def test_the_json_api_logs_in_with_the_card_too(npo, pki):
    async with browser(pki, "anna") as b:
        resp = await b.post(npo.make_url("/api/login/siths"))
        body = await resp.json()
    assert resp.status == 200 and body["clinician"]["hsa_id"] == ANNA and session_cookie(resp)


@pytest.mark.parametrize("hsa_id, card", [(CECILIA, "cecilia"), (DAVID, "david")])
async def test_no_care_assignment_is_ej_behorig(npo, pki, hsa_id, card):
    async with browser(pki, card) as b:
        resp = await b.post(npo.make_url("/login/siths"))
        text = await resp.text()
        assert resp.status == 200 and "Ej behörig" in text
        assert (await (await b.get(npo.make_url("/api/session"))).json())["assignments"] == []


async def refused(npo, pki, card, *, status, code, words):
    """The page, the form post and the API all refuse, and no session cookie is ever set."""
    async with browser(pki, card) as b:
        page = await b.get(npo.make_url("/login/siths"))
        text = await page.text()
        assert page.status == status and f'data-reason="{code}"' in text and words in text, text
        assert "Försök igen" in text
        post = await b.post(npo.make_url("/login/siths"), allow_redirects=False)
        assert post.status == status and words in await post.text()
        api = await b.post(npo.make_url("/api/login/siths"))
        assert api.status == status and (await api.json())["error"] == code
        for resp in (page, post, api):
            assert session_cookie(resp) is None
        assert (await b.get(npo.make_url("/api/session"))).status == 401
    assert npo.core.sessions._sessions == {}


async def test_an_expired_card_gets_a_clear_page_and_no_session(npo, pki):
    await refused(npo, pki, "expired", status=403, code="expired", words="Certifikatet har gått ut")


async def test_a_revoked_card_gets_a_clear_page_and_no_session(npo, pki):
    await refused(npo, pki, "revoked", status=403, code="revoked", words="Certifikatet är spärrat")


async def test_no_card_gets_a_page_saying_a_siths_card_is_needed(npo, pki):
    await refused(npo, pki, None, status=401, code="no_certificate", words="SITHS-kort behövs")


async def test_the_personal_identity_certificate_is_explained(npo, pki):
    await refused(npo, pki, "personal", status=403, code="personal_identity_number",
                  words="Välj certifikatet med HSA-id")
    await refused(npo, pki, "no_serial", status=403, code="no_hsa_id", words="Certifikatet saknar HSA-id")


async def test_an_out_of_date_crl_refuses_every_card(npo, pki, registry):
    registry.set_plugin_setting("qa", "siths", "crl_file", str(pki.crl(next_update_days=-1)))
    await refused(npo, pki, "anna", status=503, code="revocation_unknown", words="Spärrkontrollen kunde inte göras")


async def test_a_crl_from_another_ca_does_not_count(npo, pki, registry, tmp_path):
    (tmp_path / "other").mkdir()
    other = TestCA(tmp_path / "other", "SITHS test CA")  # same name as the real CA, another key
    registry.set_plugin_setting("qa", "siths", "crl_file", str(write_crl(other, tmp_path / "forged.crl")))
    await refused(npo, pki, "revoked", status=503, code="revocation_unknown", words="Spärrkontrollen")


async def test_an_untrusted_card_never_reaches_npo(npo, pki):
    """OpenSSL refuses the handshake (alert unknown_ca): the browser shows its own error page.

    Python's ssl has no verify callback, so no page of ours can be shown; docs/authentication.md
    tells operators what the clinician sees. What matters here: no session, ever.
    """
    async with browser(pki, "untrusted") as b:
        with pytest.raises((aiohttp.ClientError, ssl.SSLError)):
            resp = await b.post(npo.make_url("/login/siths"))
            await resp.read()
    assert npo.core.sessions._sessions == {}


def test_npo_itself_refuses_an_untrusted_certificate_too(pki):
    """Defence in depth: npo's own check does not lean on the TLS layer for trust."""
    trust = siths.Trust(str(pki.ca.ca), None)
    now = dt.datetime.now(dt.timezone.utc)
    der = x509.load_pem_x509_certificate(pki.cards["untrusted"].cert.read_bytes()).public_bytes(
        serialization.Encoding.DER)
    with pytest.raises(siths.CardRefused) as refused_:
        trust.check(der, now)
    assert refused_.value.code == "untrusted"
    server = x509.load_pem_x509_certificate(pki.cards["server"].cert.read_bytes())
    with pytest.raises(siths.CardRefused) as wrong_use:
        trust.check(server.public_bytes(serialization.Encoding.DER), now)
    assert wrong_use.value.code == "not_client_certificate"


def test_tls_only_where_siths_is_enabled_and_configured(registry, pm, pki):
    configure(registry, pki, env="sit")
    registry.set_environment("sit", auth_methods=json.dumps([]))
    assert [c for c in pm.hook.server_ssl_context(core=Core(registry, "sit", pm)) if c] == []
    registry.set_environment("sit", auth_methods=json.dumps(["siths"]))
    [ctx] = [c for c in pm.hook.server_ssl_context(core=Core(registry, "sit", pm)) if c]
    assert ctx.verify_mode == ssl.CERT_OPTIONAL and ctx.verify_flags & siths.NO_CHECK_TIME
    registry.set_plugin_setting("sit", "siths", "ca_bundle", None)
    with pytest.raises(StartupError, match="npo env set sit siths.ca_bundle"):
        list(pm.hook.server_ssl_context(core=Core(registry, "sit", pm)))


def test_directory_reads_csv_and_json_alike_and_refuses_bad_rows(tmp_path):
    csv_file = write_directory(tmp_path / "uppdrag.csv")
    rows = [dict(zip(directory.FIELDS, row)) for row in DIRECTORY]
    json_file = tmp_path / "uppdrag.json"
    json_file.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    from_csv = directory.parse(csv_file.read_bytes(), str(csv_file))
    assert from_csv == directory.parse(json_file.read_bytes(), str(json_file))
    assert [a.id for a in from_csv[ANNA]] == ["SE2321000016-U1", "SE2321000016-U2", "SE2321000016-U3"]
    assert from_csv[BERTIL][0].care_unit_name == "Akuten Huddinge" and from_csv[BERTIL][0].scope == "VE"
    bad = [dict(rows[0], scope="ALLT"), dict(rows[0], purpose=""), rows[0]]
    for i, broken in enumerate(([bad[0]], [bad[1]], [rows[0], bad[2]])):
        with pytest.raises(directory.DirectoryError, match="okänd behörighetsomfattning|saknar purpose|två gånger"):
            directory.parse(json.dumps(broken).encode(), f"bad{i}.json")
    with pytest.raises(directory.DirectoryError, match="rubrikraden saknar commission_name.*scope"):
        directory.parse(b"employee_hsa_id,commission_hsa_id\n", "short.csv")


def test_a_broken_directory_stops_start_up(registry, pm, pki, tmp_path):
    configure(registry, pki)
    broken = write_directory(tmp_path / "trasig.csv", [DIRECTORY[0][:-1] + ("XX",)])
    registry.set_plugin_setting("qa", "directory", "file", str(broken))
    core = Core(registry, "qa", pm)
    with pytest.raises(StartupError, match="okänd behörighetsomfattning 'XX'"):
        pm.hook.startup(core=core)  # what the web app calls before it serves anything
    core.guards.close()
