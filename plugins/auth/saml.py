"""SAML 2.0 login (service provider) for an IdP that speaks Inera's attribute names.

Built on pysaml2, which signs and verifies with Debian's `xmlsec1`. What npo insists on:

- Only SP-initiated logins: every response must answer an AuthnRequest this server sent to
  *this browser* (a one-time state cookie names it), so a response cannot be replayed, injected
  into another browser, or sent unsolicited.
- Signed assertions (`want_assertions_signed`), verified against the IdP's key from its
  metadata only; SHA-1 signatures and digests are refused; the assertion must come from the
  configured IdP; its validity window (NotBefore/NotOnOrAfter, with `saml.clock_skew`) is
  checked; an assertion id is accepted once.
- Who the clinician is and their commissions come from the assertion, in Inera's attribute
  names (http://sambi.se/attributes/1/...); several commissions are encoded as described in
  docs/authentication.md. Only a commission with purpose "Vård och behandling" and a read right
  can be chosen (the core's assignment page shows "Ej behörig" when none is left).

Settings (`npo env set ENV saml.KEY VALUE`): entity_id, base_url, sp_cert, sp_key, idp_metadata,
and optionally idp_entity_id, clock_skew (seconds, default 60), xmlsec_binary.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import calendar
import datetime as dt
import logging
import os
import secrets
import shutil
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from aiohttp import web
from lxml import etree

from npo_core import SCOPES, Assignment, AuthMethod, Clinician, NpoError, csrf_exempt, hookimpl

log = logging.getLogger("npo.auth.saml")

SAMBI = "http://sambi.se/attributes/1/"
EMPLOYEE_HSA_ID = SAMBI + "employeeHsaId"
GIVEN_NAME, SURNAME = SAMBI + "givenName", SAMBI + "surname"
# One value per commission, all in the same order: the n:th value of each belongs to commission n.
COMMISSION_ATTRIBUTES = {
    "id": SAMBI + "commissionHsaId",
    "name": SAMBI + "commissionName",
    "purpose": SAMBI + "commissionPurpose",
    "care_unit_id": SAMBI + "healthCareUnitHsaId",
    "care_unit_name": SAMBI + "healthCareUnitName",
    "care_provider_id": SAMBI + "healthCareProviderHsaId",
    "care_provider_name": SAMBI + "healthCareProviderName",
}
# Any number of values, each "<commissionHsaId>;<activity>;<informationClass>;<scope>".
COMMISSION_RIGHT = SAMBI + "commissionRight"
READ_ACTIVITY = "läsa"
WIDTH = {scope: i for i, scope in enumerate(SCOPES)}  # VE < VG < SJF

STATE_COOKIE = "npo_saml_state"
STATE_SECONDS = 600
ACS_PATH, METADATA_PATH, START_PATH = "/saml/acs", "/saml/metadata", "/saml/login"

DSIG = "http://www.w3.org/2000/09/xmldsig#"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
STRONG_SIGNATURES = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
    "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1", "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1",
}
STRONG_DIGESTS = {
    "http://www.w3.org/2001/04/xmlenc#sha256", "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
}


@dataclass(frozen=True)
class Reason:
    status: int
    title: str
    message: str
    advice: tuple[str, ...] = ("Börja om inloggningen från npo:s inloggningssida.",)


REASONS = {
    "not_configured": Reason(503, "SAML-inloggningen är inte konfigurerad",
                             "npo saknar inställningar för inloggning via identitetsutfärdaren.",
                             ("Kontakta npo:s förvaltning.",)),
    "no_login_started": Reason(400, "Ingen pågående inloggning",
                               "Inloggningssvaret hör inte till en inloggning som pågår i den här webbläsaren. "
                               "Det kan redan ha använts, eller så tog inloggningen för lång tid."),
    "unsolicited": Reason(400, "Svaret hör till en annan inloggning",
                          "Inloggningssvaret besvarar inte den inloggning som startades här."),
    "replayed": Reason(400, "Inloggningsintyget har redan använts",
                       "Ett inloggningsintyg kan bara användas en gång."),
    "expired": Reason(400, "Inloggningsintyget har gått ut",
                      "Inloggningsintyget från identitetsutfärdaren är inte längre giltigt.",
                      ("Börja om inloggningen. Kvarstår felet kan klockan i din dator eller hos "
                       "identitetsutfärdaren gå fel: kontakta IT-supporten.",)),
    "unsigned": Reason(400, "Inloggningsintyget är inte signerat",
                       "npo godtar bara inloggningsintyg som identitetsutfärdaren har signerat."),
    "bad_signature": Reason(400, "Inloggningsintygets signatur är ogiltig",
                            "Signaturen på inloggningsintyget stämmer inte med identitetsutfärdarens nyckel, "
                            "eller så har intyget ändrats efter att det signerades."),
    "weak_signature": Reason(400, "Inloggningsintyget är signerat med en för svag algoritm",
                             "npo godtar inte signaturer med SHA-1."),
    "wrong_issuer": Reason(400, "Okänd identitetsutfärdare",
                           "Inloggningsintyget kommer inte från den identitetsutfärdare npo använder."),
    "idp_refused": Reason(400, "Inloggningen avbröts",
                          "Identitetsutfärdaren avbröt eller nekade inloggningen."),
    "bad_attributes": Reason(400, "Inloggningsintyget saknar uppgifter",
                             "Inloggningsintyget saknar uppgifter som npo behöver (HSA-id eller fullständiga "
                             "medarbetaruppdrag).",
                             ("Börja om inloggningen. Kvarstår felet: kontakta IT-supporten.",)),
    "invalid": Reason(400, "Inloggningssvaret kunde inte godtas",
                      "Inloggningssvaret från identitetsutfärdaren är inte giltigt."),
}


class Refused(Exception):
    def __init__(self, code: str, detail: str = ""):
        super().__init__(code)
        self.code, self.detail, self.reason = code, detail, REASONS[code]


# -- one-time state: pending requests and used assertions ------------------------------------


class Pending:
    """AuthnRequest ids by the random token in this browser's state cookie; each taken once."""

    def __init__(self, ttl: float = STATE_SECONDS, limit: int = 10_000, clock=time.monotonic):
        self.ttl, self.limit, self.clock = ttl, limit, clock
        self._items: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, request_id: str) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._items[token] = (request_id, self.clock())
            while len(self._items) > self.limit:
                self._items.popitem(last=False)
        return token

    def take(self, token: str | None) -> str | None:
        with self._lock:
            item = self._items.pop(token or "", None)
        if item is None or self.clock() - item[1] > self.ttl:
            return None
        return item[0]


class UsedAssertions:
    """Assertion ids already accepted, kept until they expire anyway."""

    def __init__(self, clock=time.time):
        self.clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_use(self, assertion_id: str, until: float) -> bool:
        now = self.clock()
        with self._lock:
            for old in [k for k, v in self._until.items() if v < now]:
                del self._until[old]
            if assertion_id in self._until:
                return False
            self._until[assertion_id] = until
            return True


# -- pysaml2 configuration, rebuilt when settings or files change ------------------------------


def _file_key(path: str | None):
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return (path, None)
    return path, st.st_mtime_ns, st.st_size


class ServiceProvider:
    """A pysaml2 client for the current settings, plus what npo checks around it."""

    def __init__(self, settings: dict[str, str]):
        from saml2 import BINDING_HTTP_POST
        from saml2.client import Saml2Client
        from saml2.config import SPConfig

        missing = [k for k in ("entity_id", "base_url", "sp_cert", "sp_key") if not settings.get(k)]
        if missing:
            raise NpoError("SAML saknar " + ", ".join(f"saml.{k}" for k in missing) + ".", code="not_configured")
        xmlsec = settings.get("xmlsec_binary") or shutil.which("xmlsec1")
        if not xmlsec:
            raise NpoError("SAML behöver programmet xmlsec1 (apt-get install xmlsec1).", code="not_configured")
        self.acs_url = settings["base_url"].rstrip("/") + ACS_PATH
        self.clock_skew = int(settings.get("clock_skew") or 60)
        config = {
            "entityid": settings["entity_id"],
            "xmlsec_binary": xmlsec,
            "key_file": settings["sp_key"],
            "cert_file": settings["sp_cert"],
            "encryption_keypairs": [{"key_file": settings["sp_key"], "cert_file": settings["sp_cert"]}],
            "accepted_time_diff": self.clock_skew,
            "allow_unknown_attributes": True,
            "only_use_keys_in_metadata": True,
            "service": {"sp": {
                "endpoints": {"assertion_consumer_service": [(self.acs_url, BINDING_HTTP_POST)]},
                "want_assertions_signed": True,
                "want_response_signed": False,
                "authn_requests_signed": True,
                "allow_unsolicited": False,
            }},
        }
        self.metadata_config = SPConfig().load(dict(config))
        self.client = None
        self.idp_entity_id = None
        if settings.get("idp_metadata"):
            config["metadata"] = {"local": [settings["idp_metadata"]]}
            self.client = Saml2Client(config=SPConfig().load(config))
            idps = list(self.client.metadata.identity_providers())
            wanted = settings.get("idp_entity_id")
            if wanted and wanted not in idps:
                raise NpoError(f"saml.idp_entity_id {wanted} finns inte i IdP-metadata.", code="not_configured")
            if not wanted and len(idps) != 1:
                raise NpoError("IdP-metadata beskriver flera IdP:er: ange saml.idp_entity_id.", code="not_configured")
            self.idp_entity_id = wanted or idps[0]
        self.lock = threading.Lock()  # pysaml2's client keeps state; one call at a time

    def metadata(self) -> bytes:
        from saml2.metadata import create_metadata_string

        xml = create_metadata_string(None, config=self.metadata_config, sign=False)
        return xml if isinstance(xml, bytes) else xml.encode()

    def start(self) -> tuple[str, str]:
        """A new AuthnRequest: its id and the IdP URL (HTTP-Redirect binding) to send the browser to."""
        from saml2 import BINDING_HTTP_REDIRECT

        if self.client is None:
            raise NpoError("SAML saknar saml.idp_metadata.", code="not_configured")
        with self.lock:
            request_id, info = self.client.prepare_for_authenticate(
                entityid=self.idp_entity_id, relay_state="", binding=BINDING_HTTP_REDIRECT)
        return request_id, dict(info["headers"])["Location"]

    def accept(self, encoded: str, request_id: str):
        """The verified AuthnResponse, or Refused with the reason."""
        from saml2 import BINDING_HTTP_POST

        if self.client is None:
            raise NpoError("SAML saknar saml.idp_metadata.", code="not_configured")
        xml = precheck(encoded)
        try:
            with self.lock:
                response = self.client.parse_authn_request_response(
                    encoded, BINDING_HTTP_POST, outstanding={request_id: "/"})
                if response is not None and response.name_id is not None:
                    self.client.users.remove_person(response.name_id)  # npo keeps no identity cache here
        except Exception as e:  # pysaml2 raises many kinds; each becomes one clear reason
            raise classify(e, xml, self.clock_skew) from None
        if response is None or response.assertion is None:
            raise Refused("invalid", "no assertion")
        issuer = response.issuer()
        if issuer != self.idp_entity_id:
            raise Refused("wrong_issuer", f"issuer {issuer!r}")
        return response


def precheck(encoded: str) -> etree._Element:
    """Before pysaml2: parse safely, refuse DTDs, SHA-1 and assertions that carry no signature."""
    try:
        data = base64.b64decode("".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError):
        raise Refused("invalid", "SAMLResponse is not base64") from None
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise Refused("invalid", "DTD in SAML response")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError:
        raise Refused("invalid", "SAMLResponse is not XML") from None
    for method in root.iter(f"{{{DSIG}}}SignatureMethod"):
        if method.get("Algorithm") not in STRONG_SIGNATURES:
            raise Refused("weak_signature", method.get("Algorithm") or "")
    for method in root.iter(f"{{{DSIG}}}DigestMethod"):
        if method.get("Algorithm") not in STRONG_DIGESTS:
            raise Refused("weak_signature", method.get("Algorithm") or "")
    for assertion in root.iter(f"{{{SAML_NS}}}Assertion"):
        if assertion.find(f"{{{DSIG}}}Signature") is None:
            raise Refused("unsigned", "assertion without signature")
    return root


def _epoch(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return calendar.timegm(dt.datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").timetuple())
    except ValueError:
        return None


def classify(error: Exception, xml: etree._Element, skew: int) -> Refused:
    """pysaml2's exception as one of npo's reasons (by class name: they move between modules)."""
    names = {cls.__name__ for cls in type(error).__mro__}
    text = str(error)
    if "StatusError" in names:  # the IdP answered with a non-success status (cancelled, AuthnFailed, ...)
        return Refused("idp_refused", text)
    if "UnsolicitedResponse" in names:
        return Refused("unsolicited", text)
    if names & {"SignatureError", "BadSignature", "IncorrectlySigned", "MissingKey", "CertificateError"}:
        return Refused("unsigned" if "missing" in text.lower() else "bad_signature", text)
    ends = [_epoch(e.get("NotOnOrAfter")) for e in xml.iter() if e.get("NotOnOrAfter")]
    if any(t is not None and t + skew < time.time() for t in ends):
        return Refused("expired", text)
    starts = [_epoch(e.get("NotBefore")) for e in xml.iter() if e.get("NotBefore")]
    if any(t is not None and t - skew > time.time() for t in starts):
        return Refused("invalid", f"not yet valid: {text}")
    log.info("SAML response refused by pysaml2: %s: %s", type(error).__name__, text)
    return Refused("invalid", f"{type(error).__name__}: {text}")


class SPCache:
    def __init__(self):
        self._lock = threading.Lock()
        self._key = None
        self._sp: ServiceProvider | None = None

    def get(self, settings: dict[str, str]) -> ServiceProvider:
        key = (tuple(sorted(settings.items())),
               *(_file_key(settings.get(k)) for k in ("idp_metadata", "sp_cert", "sp_key")))
        with self._lock:
            if key != self._key:
                try:
                    self._sp, self._key = ServiceProvider(settings), key
                except NpoError:
                    raise
                except Exception as e:  # unreadable files, bad metadata, a clock_skew that is no number
                    raise NpoError(f"SAML-inställningarna kan inte användas: {type(e).__name__}: {e}",
                                   code="not_configured") from None
            return self._sp


# -- the assertion's content --------------------------------------------------------------------


def attributes_of(response) -> dict[str, list[str]]:
    """Attribute name → values, read from the verified assertion itself."""
    found: dict[str, list[str]] = {}
    for statement in response.assertion.attribute_statement or []:
        for attribute in statement.attribute or []:
            values = [(v.text or "").strip() for v in attribute.attribute_value or []]
            found.setdefault(attribute.name, []).extend(values)
    return found


def identity(attributes: dict[str, list[str]]) -> tuple[Clinician, list[Assignment] | None]:
    """The clinician and their commissions; None when the assertion carries no commissions at all."""
    employee = attributes.get(EMPLOYEE_HSA_ID) or []
    if len(employee) != 1 or not employee[0]:
        raise Refused("bad_attributes", f"{len(employee)} employeeHsaId values")
    given, surname = (attributes.get(GIVEN_NAME) or [""])[0], (attributes.get(SURNAME) or [""])[0]
    clinician = Clinician(hsa_id=employee[0], name=f"{given} {surname}".strip() or employee[0])
    columns = {field: attributes.get(name) or [] for field, name in COMMISSION_ATTRIBUTES.items()}
    count = len(columns["id"])
    if count == 0 and not any(columns.values()) and COMMISSION_RIGHT not in attributes:
        return clinician, None
    if any(len(values) != count for values in columns.values()):
        raise Refused("bad_attributes", "commission attributes differ in number: "
                      + ", ".join(f"{f}={len(v)}" for f, v in columns.items()))
    if any(not value for values in columns.values() for value in values) or len(set(columns["id"])) != count:
        raise Refused("bad_attributes", "empty or repeated commission value")
    widest: dict[str, str] = {}
    for right in attributes.get(COMMISSION_RIGHT) or []:
        parts = [p.strip() for p in right.split(";")]
        if len(parts) != 4 or parts[0] not in columns["id"] or parts[3] not in SCOPES:
            raise Refused("bad_attributes", f"commissionRight {right!r}")
        commission, activity, _information_class, scope = parts
        if activity.lower() == READ_ACTIVITY and WIDTH[scope] > WIDTH.get(widest.get(commission, ""), -1):
            widest[commission] = scope
    assignments = []
    for i in range(count):
        row = {field: values[i] for field, values in columns.items()}
        if row["id"] in widest:  # a commission without a read right cannot read in npo
            assignments.append(Assignment(scope=widest[row["id"]], **row))
    return clinician, assignments


# -- the login method ---------------------------------------------------------------------------

PENDING = Pending()
USED = UsedAssertions()
PROVIDERS = SPCache()


class SamlLogin(AuthMethod):
    name = "saml"
    title = "Inloggning via identitetsutfärdare (SAML)"
    login_path = "/login/saml"

    def routes(self, core) -> list:
        loop_run = asyncio.get_running_loop

        async def provider() -> ServiceProvider:
            settings = core.plugin_settings("saml")
            return await loop_run().run_in_executor(None, PROVIDERS.get, settings)

        def refused(request, e: Refused):
            log.warning("SAML login refused (%s): %s", e.code, e.detail or "-")
            response = core.render("auth_refused.html", request=request, reason=e.reason, code=e.code,
                                   retry=self.login_path, status=e.reason.status)
            response.del_cookie(STATE_COOKIE, path=ACS_PATH)
            return response

        async def page(request):
            return core.render("login_saml.html", request=request, start=START_PATH)

        async def start(request):
            try:
                sp = await provider()
                request_id, location = await loop_run().run_in_executor(None, sp.start)
            except NpoError as e:
                log.error("SAML login cannot start: %s", e.message)
                return refused(request, Refused("not_configured", e.message))
            redirect = web.HTTPSeeOther(location)
            # SameSite=None: the IdP posts the answer from its own site; Secure is then required.
            redirect.set_cookie(STATE_COOKIE, PENDING.add(request_id), max_age=STATE_SECONDS, path=ACS_PATH,
                                secure=True, httponly=True, samesite="None")
            raise redirect

        @csrf_exempt  # the IdP's form posts here; the one-time state cookie is the binding instead
        async def acs(request):
            form = await request.post()
            request_id = PENDING.take(request.cookies.get(STATE_COOKIE))
            encoded = str(form.get("SAMLResponse") or "")
            try:
                if not encoded:
                    raise Refused("invalid", "no SAMLResponse")
                if request_id is None:
                    raise Refused("no_login_started")
                try:
                    sp = await provider()
                except NpoError as e:
                    raise Refused("not_configured", e.message) from None
                response = await loop_run().run_in_executor(None, sp.accept, encoded, request_id)
                until = (response.not_on_or_after or 0) or time.time() + 3600
                if not USED.first_use(response.assertion.id, max(until, time.time()) + sp.clock_skew):
                    raise Refused("replayed", response.assertion.id)
                clinician, assignments = identity(attributes_of(response))
            except Refused as e:
                return refused(request, e)
            if assignments is None:  # the IdP sent no commissions: ask the directory plugins
                assignments = await core.assignments_for(clinician)
            # Browsers send no SameSite=Strict cookie with the IdP's cross-site POST; other clients may.
            log.info("SAML login: %s with %d assignment(s)", clinician.hsa_id, len(assignments))
            # A page, not a redirect: the session cookie is SameSite=Strict, and a redirect that
            # continues the IdP's cross-site POST would arrive without it.
            response = core.render("saml_continue.html", request=request, next="/")
            core.login(request, response, clinician, assignments, self.name)
            response.del_cookie(STATE_COOKIE, path=ACS_PATH)
            return response

        async def metadata(request):
            try:
                sp = await provider()
            except NpoError as e:
                return refused(request, Refused("not_configured", e.message))
            body = await loop_run().run_in_executor(None, sp.metadata)  # pysaml2 asks xmlsec1 what it supports
            return web.Response(body=body, content_type="application/samlmetadata+xml")

        return [web.get(self.login_path, page), web.get(START_PATH, start), web.post(ACS_PATH, acs),
                web.get(METADATA_PATH, metadata)]


@hookimpl
def register_auth_methods(register):
    register(SamlLogin())
