"""A real SAML 2.0 identity provider for tests, built with pysaml2 (signing with xmlsec1).

It has its own RSA key and self-signed certificate, publishes metadata, and serves a real
HTTP SSO endpoint (HTTP-Redirect binding in, HTTP-POST binding out): it checks the SP's signed
AuthnRequest against the SP's metadata and answers with an auto-posting form, as Inera's IdP does.
The test sets who logs in (`idp.next`) and how the answer should be made: signed or not,
already expired, signed with SHA-1, tampered with after signing, or an error status.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import warnings
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

SAMBI = "http://sambi.se/attributes/1/"


def rsa_keypair(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed RSA certificate and key, as SAML metadata usually carries."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365)).sign(key, hashes.SHA256()))
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def person(hsa_id: str, given: str, surname: str, commissions=(), rights=()) -> dict[str, list[str]]:
    """Inera-style attributes: one value per commission in each commission attribute, in order.

    `commissions` are dicts with id, name, purpose, unit, unit_name, provider, provider_name;
    `rights` are "<commissionHsaId>;<activity>;<informationClass>;<scope>" strings.
    """
    attributes = {SAMBI + "employeeHsaId": [hsa_id], SAMBI + "givenName": [given], SAMBI + "surname": [surname]}
    names = {"id": "commissionHsaId", "name": "commissionName", "purpose": "commissionPurpose",
             "unit": "healthCareUnitHsaId", "unit_name": "healthCareUnitName",
             "provider": "healthCareProviderHsaId", "provider_name": "healthCareProviderName"}
    if commissions:
        for key, attribute in names.items():
            attributes[SAMBI + attribute] = [c[key] for c in commissions]
    if rights:
        attributes[SAMBI + "commissionRight"] = list(rights)
    return attributes


class TestIdP:
    __test__ = False

    def __init__(self, folder: Path, entity_id: str = "https://idp.test.example/idp", keypair=None):
        self.folder = folder
        self.entity_id = entity_id
        self.cert, self.key = keypair or rsa_keypair(folder, "idp-signing")
        self.sso_url: str | None = None
        self.server = None  # saml2.server.Server, once the SP's metadata is known
        self.next: dict = {}  # identity=..., and options for respond()
        self.requests: list = []

    def _config(self, sp_metadata: Path | None) -> dict:
        from saml2 import BINDING_HTTP_REDIRECT
        from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

        config = {
            "entityid": self.entity_id, "key_file": str(self.key), "cert_file": str(self.cert),
            "xmlsec_binary": "/usr/bin/xmlsec1", "signing_algorithm": SIG_RSA_SHA256,
            "digest_algorithm": DIGEST_SHA256,
            "service": {"idp": {
                "endpoints": {"single_sign_on_service": [(self.sso_url, BINDING_HTTP_REDIRECT)]},
                "want_authn_requests_signed": True,
                "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None}},
            }},
        }
        if sp_metadata:
            config["metadata"] = {"local": [str(sp_metadata)]}
        return config

    def write_metadata(self, sso_url: str) -> Path:
        """The IdP's metadata, for the SP's `saml.idp_metadata`."""
        from saml2.config import IdPConfig
        from saml2.metadata import create_metadata_string

        self.sso_url = sso_url
        xml = create_metadata_string(None, config=IdPConfig().load(self._config(None)), sign=False)
        path = self.folder / "idp-metadata.xml"
        path.write_bytes(xml if isinstance(xml, bytes) else xml.encode())
        return path

    def trust_sp(self, sp_metadata: bytes) -> None:
        from saml2.config import IdPConfig

        with warnings.catch_warnings():  # pysaml2's IdP module uses a cipher mode cryptography deprecates
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            from saml2.server import Server

        path = self.folder / "sp-metadata.xml"
        path.write_bytes(sp_metadata)
        self.server = Server(config=IdPConfig().load(self._config(path)))

    def impostor(self) -> "TestIdP":
        """Same entity id, endpoint and SP, but a key the SP has never seen."""
        other_folder = self.folder / "impostor"
        other_folder.mkdir(exist_ok=True)
        other = TestIdP(other_folder, self.entity_id)
        other.sso_url = self.sso_url
        other.trust_sp((self.folder / "sp-metadata.xml").read_bytes())
        return other

    # -- answering -------------------------------------------------------------------------

    def parse(self, query) -> object:
        """The SP's AuthnRequest from the redirect's query; its signature is checked."""
        from saml2 import BINDING_HTTP_REDIRECT

        return self.server.parse_authn_request(
            query["SAMLRequest"], BINDING_HTTP_REDIRECT, relay_state=query.get("RelayState"),
            sigalg=query["SigAlg"], signature=query["Signature"])

    def respond(self, request, identity: dict | None = None, *, sign: bool = True, lifetime_minutes: int = 5,
                sha1: bool = False, tamper: tuple[str, str] | None = None, status: str | None = None) -> str:
        """A base64 SAMLResponse to the AuthnRequest `request`."""
        from saml2.assertion import Policy
        from saml2.xmldsig import DIGEST_SHA1, DIGEST_SHA256, SIG_RSA_SHA1, SIG_RSA_SHA256

        message = request.message
        if status:
            response = self.server.create_error_response(message.id, message.assertion_consumer_service_url,
                                                         info=(status, "Användaren avbröt"), sign=False)
        else:
            policy = self.server.config.getattr("policy", "idp")
            self.server.config.setattr("idp", "policy", Policy(
                {"default": {"lifetime": {"minutes": lifetime_minutes}, "attribute_restrictions": None}},
                self.server.metadata))
            algorithms = {"sign_alg": SIG_RSA_SHA1, "digest_alg": DIGEST_SHA1} if sha1 else \
                {"sign_alg": SIG_RSA_SHA256, "digest_alg": DIGEST_SHA256}
            try:
                response = self.server.create_authn_response(
                    identity=identity, in_response_to=message.id,
                    destination=message.assertion_consumer_service_url, sp_entity_id=message.issuer.text,
                    name_id_policy=message.name_id_policy, userid=(identity.get(SAMBI + "employeeHsaId") or ["?"])[0],
                    authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI"},
                    sign_assertion=sign, sign_response=False, **algorithms)
            finally:
                self.server.config.setattr("idp", "policy", policy)
        xml = str(response)
        if tamper:
            assert tamper[0] in xml
            xml = xml.replace(*tamper)
        return base64.b64encode(xml.encode()).decode()

    def app(self) -> web.Application:
        """GET /sso: the browser arrives with the SP's request and leaves with an auto-posting form."""

        async def sso(request):
            authn_request = self.parse(request.query)
            self.requests.append(authn_request)
            options = dict(self.next)
            encoded = self.respond(authn_request, options.pop("identity", None), **options)
            acs = html.escape(authn_request.message.assertion_consumer_service_url)
            relay = html.escape(request.query.get("RelayState", ""))
            body = (f'<!doctype html><html><body onload="document.forms[0].submit()">'
                    f'<form method="post" action="{acs}">'
                    f'<input type="hidden" name="SAMLResponse" value="{encoded}">'
                    f'<input type="hidden" name="RelayState" value="{relay}">'
                    f'<noscript><button type="submit">Fortsätt</button></noscript></form></body></html>')
            return web.Response(text=body, content_type="text/html")

        app = web.Application()
        app.router.add_get("/sso", sso)
        return app
