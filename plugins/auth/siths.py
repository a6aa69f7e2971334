"""SITHS card login: mutual TLS served by npo itself, the employee HSA-id from the certificate.

How a certificate is judged (see docs/authentication.md for the reasons):

- The TLS layer (Python's ssl, OpenSSL) *requests* a client certificate (CERT_OPTIONAL) and
  checks its chain to the SITHS CAs in `siths.ca_bundle`, but with X509_V_FLAG_NO_CHECK_TIME and
  without CRLs. A card that is expired, not yet valid or revoked therefore still completes the
  handshake, and npo answers with its own Swedish page instead of the browser's error.
- npo then judges every certificate itself, with `cryptography`: the chain to a CA in the bundle
  (signatures, again), the validity dates of every certificate in it, the extended key usage,
  and revocation against the CRLs in `siths.crl_file` (which must be fresh: a CRL past its
  nextUpdate means revocation cannot be judged, and the login is refused).
- A certificate from a CA that is not in the bundle cannot reach npo: OpenSSL aborts the
  handshake (alert unknown_ca) and the browser shows its own error. Python's ssl offers no
  verify callback that could let it through.

The employee HSA-id is the subject's serialNumber (OID 2.5.4.5). Assignments come from the
core's `assignments_for` hook (e.g. the `directory` plugin). No check passes, no session.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import re
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from npo_core import AuthMethod, Clinician, NpoError, StartupError, csrf_exempt, hookimpl, session_json

log = logging.getLogger("npo.auth.siths")

NO_CHECK_TIME = 0x200000  # X509_V_FLAG_NO_CHECK_TIME: validity dates are judged by npo, with a clear page
MAX_CHAIN = 8
HSA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
PERSONAL_NUMBER = re.compile(r"^(\d{2})?\d{6}[-+]?\d{4}$")


@dataclass(frozen=True)
class Reason:
    status: int
    title: str
    message: str
    advice: tuple[str, ...] = ()


REASONS = {
    "no_tls": Reason(400, "SITHS-inloggning kräver https",
                     "Sidan nåddes utan TLS, så inget SITHS-kort kan läsas.",
                     ("Öppna npo med adressen som börjar med https://.",)),
    "no_certificate": Reason(401, "SITHS-kort behövs",
                             "För att logga in behöver du ditt SITHS-kort. Webbläsaren skickade inget certifikat.",
                             ("Sätt i SITHS-kortet i kortläsaren.",
                              "Stäng alla webbläsarfönster och öppna npo igen, så att webbläsaren frågar efter "
                              "certifikat på nytt.",
                              "Välj kortets certifikat för legitimering när webbläsaren frågar.")),
    "expired": Reason(403, "Certifikatet har gått ut",
                      "Certifikatet på ditt SITHS-kort är inte längre giltigt, så du kan inte logga in med det.",
                      ("Kontakta ditt SITHS-kortombud eller din IT-avdelning för att förnya kortet.",)),
    "not_yet_valid": Reason(403, "Certifikatet gäller inte ännu",
                            "Certifikatet på ditt SITHS-kort har ett giltighetsdatum som inte har börjat.",
                            ("Försök igen när certifikatet börjar gälla, eller kontakta ditt SITHS-kortombud.",)),
    "revoked": Reason(403, "Certifikatet är spärrat",
                      "Certifikatet på ditt SITHS-kort är spärrat (återkallat) och kan inte användas för "
                      "inloggning.",
                      ("Kontakta ditt SITHS-kortombud eller din IT-avdelning.",)),
    "revocation_unknown": Reason(503, "Spärrkontrollen kunde inte göras",
                                 "npo kan just nu inte kontrollera om ditt certifikat är spärrat, och loggar "
                                 "därför inte in någon med SITHS-kort.",
                                 ("Försök igen om en stund. Kvarstår felet: kontakta npo:s förvaltning "
                                  "(spärrlistan behöver uppdateras).",)),
    "untrusted": Reason(403, "Certifikatet är inte utfärdat av SITHS",
                        "Certifikatet som webbläsaren skickade kommer inte från en SITHS-utfärdare som npo "
                        "litar på.",
                        ("Välj certifikatet på ditt SITHS-kort när webbläsaren frågar.",)),
    "not_client_certificate": Reason(403, "Fel certifikat",
                                     "Certifikatet får inte användas för inloggning (det saknar användningen "
                                     "klientautentisering).",
                                     ("Välj kortets certifikat för legitimering när webbläsaren frågar.",)),
    "personal_identity_number": Reason(403, "Välj certifikatet med HSA-id",
                                       "Certifikatet innehåller ett personnummer men inget HSA-id. npo behöver "
                                       "kortets certifikat med ditt HSA-id.",
                                       ("Stäng webbläsaren, öppna npo igen och välj det andra certifikatet på "
                                        "kortet.",)),
    "no_hsa_id": Reason(403, "Certifikatet saknar HSA-id",
                        "Certifikatet innehåller inget HSA-id (serialNumber), så npo vet inte vem du är i HSA.",
                        ("Välj kortets certifikat för legitimering, eller kontakta ditt SITHS-kortombud.",)),
}


class CardRefused(Exception):
    def __init__(self, code: str, detail: str = ""):
        super().__init__(code)
        self.code, self.detail, self.reason = code, detail, REASONS[code]


class SithsConfigError(NpoError):
    status = 503
    code = "siths_not_configured"


# -- trust material: CA bundle and CRLs, read again when the files change ----------------


def _file_key(path: str) -> tuple:
    st = os.stat(path)
    return path, st.st_mtime_ns, st.st_size


def load_crls(data: bytes) -> list[x509.CertificateRevocationList]:
    """One DER CRL or any number of PEM ones (one per issuing CA)."""
    marker = b"-----BEGIN X509 CRL-----"
    if marker not in data:
        return [x509.load_der_x509_crl(data)]
    return [x509.load_pem_x509_crl(marker + part.split(b"-----END X509 CRL-----")[0] + b"-----END X509 CRL-----\n")
            for part in data.split(marker)[1:]]


class Trust:
    """The SITHS CAs and their CRLs; judges one client certificate."""

    def __init__(self, ca_bundle: str, crl_file: str | None):
        try:
            self.cas = x509.load_pem_x509_certificates(Path(ca_bundle).read_bytes())
        except (OSError, ValueError) as e:
            raise SithsConfigError(f"siths.ca_bundle {ca_bundle} kan inte läsas: {e}") from None
        self.crls: list[x509.CertificateRevocationList] = []
        if crl_file:
            try:
                self.crls = load_crls(Path(crl_file).read_bytes())
            except (OSError, ValueError) as e:
                raise SithsConfigError(f"siths.crl_file {crl_file} kan inte läsas: {e}") from None
        self.checks_revocation = bool(crl_file)

    def _issuer_of(self, cert: x509.Certificate) -> x509.Certificate | None:
        for ca in self.cas:
            if ca.subject == cert.issuer:
                try:
                    cert.verify_directly_issued_by(ca)
                except (ValueError, TypeError, InvalidSignature):
                    continue
                return ca
        return None

    def chain(self, leaf: x509.Certificate) -> list[x509.Certificate]:
        """Leaf first, up to a CA of the bundle that has no issuer there (a root)."""
        chain = [leaf]
        while len(chain) <= MAX_CHAIN:
            issuer = self._issuer_of(chain[-1])
            if issuer is None or issuer in chain:
                break
            chain.append(issuer)
        if len(chain) < 2:
            raise CardRefused("untrusted", f"issuer {leaf.issuer.rfc4514_string()} is not in the CA bundle")
        return chain

    def _crl_for(self, cert: x509.Certificate, issuer: x509.Certificate):
        valid = [c for c in self.crls if c.issuer == cert.issuer and c.is_signature_valid(issuer.public_key())]
        return max(valid, key=lambda c: c.last_update_utc, default=None)

    def check(self, der: bytes, now: dt.datetime) -> x509.Certificate:
        """The leaf certificate if it may log in; CardRefused otherwise."""
        try:
            leaf = x509.load_der_x509_certificate(der)
        except ValueError:
            raise CardRefused("untrusted", "certificate cannot be parsed") from None
        chain = self.chain(leaf)
        for cert in chain:
            if now > cert.not_valid_after_utc:
                raise CardRefused("expired", f"{cert.subject.rfc4514_string()} expired {cert.not_valid_after_utc}")
            if now < cert.not_valid_before_utc:
                raise CardRefused("not_yet_valid", f"{cert.subject.rfc4514_string()} starts "
                                                    f"{cert.not_valid_before_utc}")
        try:
            usage = leaf.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE).value
        except x509.ExtensionNotFound:
            usage = None
        if usage is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in usage:
            raise CardRefused("not_client_certificate")
        if self.checks_revocation:
            self._check_revocation(chain, now)
        return leaf

    def _check_revocation(self, chain: list[x509.Certificate], now: dt.datetime) -> None:
        """The leaf needs a fresh CRL from its issuer; CA certificates are checked where one is given."""
        for i, cert in enumerate(chain[:-1]):
            crl = self._crl_for(cert, chain[i + 1])
            if crl is None:
                if i == 0:
                    raise CardRefused("revocation_unknown", f"no CRL from {cert.issuer.rfc4514_string()}")
                continue
            if crl.next_update_utc is None or crl.next_update_utc < now:
                raise CardRefused("revocation_unknown", f"CRL of {cert.issuer.rfc4514_string()} is out of date "
                                                        f"(nextUpdate {crl.next_update_utc})")
            if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
                raise CardRefused("revoked", f"serial {cert.serial_number:x} of {cert.subject.rfc4514_string()}")


class TrustCache:
    def __init__(self):
        self._lock = threading.Lock()
        self._key = None
        self._trust: Trust | None = None

    def get(self, settings: dict) -> Trust:
        ca_bundle, crl_file = settings.get("ca_bundle"), settings.get("crl_file") or None
        if not ca_bundle:
            raise SithsConfigError("SITHS-inloggning saknar siths.ca_bundle (npo env set ENV siths.ca_bundle ...).")
        try:
            key = (_file_key(ca_bundle), _file_key(crl_file) if crl_file else None)
        except OSError as e:
            raise SithsConfigError(f"SITHS-filen {e.filename} kan inte läsas: {e.strerror}.") from None
        with self._lock:
            if key != self._key:
                self._trust, self._key = Trust(ca_bundle, crl_file), key
            return self._trust


TRUST = TrustCache()


# -- who is at the keyboard ----------------------------------------------------------------


def _attr(name: x509.Name, oid) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value).strip() if values else None


def clinician_of(cert: x509.Certificate) -> Clinician:
    hsa_id = _attr(cert.subject, NameOID.SERIAL_NUMBER)
    if not hsa_id:
        raise CardRefused("no_hsa_id")
    if PERSONAL_NUMBER.match(hsa_id):
        raise CardRefused("personal_identity_number")
    if not HSA_ID.match(hsa_id):
        raise CardRefused("no_hsa_id", f"serialNumber {hsa_id!r} is not an HSA-id")
    given, surname = _attr(cert.subject, NameOID.GIVEN_NAME), _attr(cert.subject, NameOID.SURNAME)
    name = f"{given} {surname}" if given and surname else _attr(cert.subject, NameOID.COMMON_NAME) or hsa_id
    return Clinician(hsa_id=hsa_id, name=name, title=_attr(cert.subject, NameOID.TITLE))


def judge(settings: dict, der: bytes) -> Clinician:
    return clinician_of(TRUST.get(settings).check(der, dt.datetime.now(dt.timezone.utc)))


def peer_certificate(request: web.Request) -> bytes:
    """The DER certificate the browser presented on this connection."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        raise CardRefused("no_tls")
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        raise CardRefused("no_certificate")
    return der


class SithsLogin(AuthMethod):
    name = "siths"
    title = "SITHS-kort"
    login_path = "/login/siths"

    async def identify(self, core, request: web.Request) -> Clinician:
        """Judge the connection's certificate now (CardRefused or the clinician).

        Loading a large CRL and checking signatures runs off the event loop.
        """
        try:
            der = peer_certificate(request)
            settings = core.plugin_settings("siths")
            return await asyncio.get_running_loop().run_in_executor(None, judge, settings, der)
        except CardRefused as e:
            log.warning("SITHS login refused (%s): %s", e.code, e.detail or "-")
            raise

    def routes(self, core) -> list:
        def refused(request, e: CardRefused):
            if request.path.startswith("/api/"):
                return web.json_response({"error": e.code, "message": e.reason.message}, status=e.reason.status)
            return core.render("auth_refused.html", request=request, reason=e.reason, code=e.code,
                               retry=self.login_path, status=e.reason.status)

        async def page(request):
            try:
                clinician = await self.identify(core, request)
            except CardRefused as e:
                return refused(request, e)
            return core.render("login_siths.html", request=request, clinician=clinician)

        @csrf_exempt
        async def login(request):
            try:
                clinician = await self.identify(core, request)
            except CardRefused as e:
                return refused(request, e)
            assignments = await core.assignments_for(clinician)
            log.info("SITHS login: %s with %d assignment(s)", clinician.hsa_id, len(assignments))
            if request.path.startswith("/api/"):
                response = web.json_response({})
                response.text = json.dumps(session_json(core.login(request, response, clinician, assignments,
                                                                   self.name)))
                return response
            redirect = web.HTTPSeeOther("/")
            core.login(request, redirect, clinician, assignments, self.name)
            raise redirect

        return [web.get(self.login_path, page), web.post(self.login_path, login),
                web.post("/api/login/siths", login)]


@hookimpl
def register_auth_methods(register):
    register(SithsLogin())


@hookimpl
def server_ssl_context(core):
    """Mutual TLS for the web server, where the environment enables SITHS."""
    env = core.env
    if "siths" not in env.auth_methods:
        return None
    settings = core.plugin_settings("siths")
    missing = [k for k in ("server_cert", "server_key", "ca_bundle") if not settings.get(k)]
    if missing:
        raise StartupError(f"SITHS is enabled in {env.name} but not configured: "
                           + "; ".join(f"npo env set {env.name} siths.{k} FILE" for k in missing))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(settings["server_cert"], settings["server_key"])
        ctx.load_verify_locations(cafile=settings["ca_bundle"])
    except (OSError, ssl.SSLError) as e:
        raise StartupError(f"SITHS TLS settings in {env.name} cannot be used: {e}") from None
    ctx.verify_mode = ssl.CERT_OPTIONAL  # no card still reaches npo, which explains what is needed
    ctx.verify_flags |= NO_CHECK_TIME    # an expired card reaches npo, which refuses it with a clear page
    try:
        TRUST.get(settings)  # the same files must also load for npo's own checks
    except SithsConfigError as e:
        raise StartupError(e.message) from None
    return ctx
