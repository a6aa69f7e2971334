"""RIV-TA SOAP 1.1 (RIVTABP21) on the wire: envelopes, hardened parsing, the HTTP call."""

from __future__ import annotations

import asyncio
import re
import ssl
import threading
from dataclasses import dataclass

import aiohttp
from lxml import etree

from .errors import ContractError

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
REGISTRY_NS = "urn:riv:itintegration:registry:1"
LOGICAL_ADDRESS = f"{{{REGISTRY_NS}}}LogicalAddress"
MAX_BODY_BYTES = 15 * 1024 * 1024  # the national service platform's cap
SENDER_HEADER = "x-vp-sender-id"
ORIGINAL_CONSUMER_HEADER = "x-rivta-original-serviceconsumer-hsaid"
CORRELATION_HEADER = "x-skltp-correlation-id"
# SKLTP VP's refusals of a service at a logical address: VP004 no route (no receiver for the address),
# VP007 authorisation missing in TAK. A producer registered for two majors but routed for one answers so.
UNSUPPORTED = re.compile(r"VP00[47]\b")

_local = threading.local()


def _parser() -> etree.XMLParser:
    """No DTD, no entities, no network; lxml parsers are per thread."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
            huge_tree=False, remove_pis=True, collect_ids=False,
        )
    return parser


def parse_xml(data: bytes, *, limit: int = MAX_BODY_BYTES) -> etree._Element:
    """Parse untrusted XML. Any DOCTYPE is refused outright (entity tricks need one)."""
    if len(data) > limit:
        raise ContractError(f"Svaret är för stort ({len(data)} byte, gräns {limit}).", code="too_large")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as e:
        if b"<!DOCTYPE" in data:  # e.g. an external DTD the parser refused to fetch
            raise ContractError("Svaret innehåller en DTD, vilket inte tillåts.", code="dtd_refused") from None
        raise ContractError(f"Svaret är inte välformad XML: {e}", code="malformed_xml") from None
    if root.getroottree().docinfo.doctype:
        raise ContractError("Svaret innehåller en DTD, vilket inte tillåts.", code="dtd_refused")
    return root


def envelope(payload: etree._Element, logical_address: str | None = None) -> bytes:
    """A SOAP 1.1 envelope with the RIV-TA LogicalAddress header (requests only)."""
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soapenv": SOAP_ENV})
    header = etree.SubElement(env, f"{{{SOAP_ENV}}}Header")
    if logical_address is not None:
        la = etree.SubElement(header, LOGICAL_ADDRESS, nsmap={"rr": REGISTRY_NS})
        la.text = logical_address
    etree.SubElement(env, f"{{{SOAP_ENV}}}Body").append(payload)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def fault_envelope(message: str, code: str = "soap:Server") -> bytes:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    fault = etree.SubElement(etree.SubElement(env, f"{{{SOAP_ENV}}}Body"), f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(fault, "faultcode").text = code
    etree.SubElement(fault, "faultstring").text = message
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def unwrap(root: etree._Element) -> tuple[etree._Element, str | None]:
    """(payload element, LogicalAddress header) of an envelope; a bare body passes through.

    A SOAP Fault becomes ContractError carrying the fault string.
    """
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        return root, None
    la = root.find(f"{{{SOAP_ENV}}}Header/{LOGICAL_ADDRESS}")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    children = [c for c in (body if body is not None else []) if isinstance(c.tag, str)]
    if not children:
        raise ContractError("SOAP-kuvertet saknar innehåll.", code="empty_body")
    payload = children[0]
    if payload.tag == f"{{{SOAP_ENV}}}Fault":
        reason = (payload.findtext("faultstring") or "okänt fel").strip()
        # The platform's own refusals of a contract version at an address (no route, not authorised in TAK)
        raise ContractError(f"Producenten svarade med SOAP-fel: {reason}",
                            code="unsupported" if UNSUPPORTED.match(reason) else "soap_fault")
    return payload, (la.text or "").strip() if la is not None else None


class ByteBudget:
    """Bytes one source (over its follow-ups) or one read may still receive; shared by its calls."""

    def __init__(self, limit: int, message: str):
        self.left, self.message = limit, message

    def take(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise ContractError(self.message, code="cut")


@dataclass(frozen=True)
class Timeouts:
    connect: float
    read: float


def client_ssl_context(client_cert: str | None, client_key: str | None, ca_bundle: str | None) -> ssl.SSLContext | None:
    """Mutual TLS towards the service platform when the environment configures it."""
    if not (client_cert or ca_bundle):
        return None
    ctx = ssl.create_default_context(cafile=ca_bundle or None)
    if client_cert:
        ctx.load_cert_chain(client_cert, client_key or None)
    return ctx


def make_session(pool_size: int, ssl_context: ssl.SSLContext | None = None) -> aiohttp.ClientSession:
    """One session per application; the pool is as wide as a fan-out, so it never queues in waves."""
    connector = aiohttp.TCPConnector(limit=pool_size, limit_per_host=pool_size, ssl=ssl_context or True,
                                     keepalive_timeout=30)
    return aiohttp.ClientSession(connector=connector, raise_for_status=False,
                                 auto_decompress=True, trust_env=False)


async def call(session: aiohttp.ClientSession, url: str, *, soap_action: str, logical_address: str,
               payload: etree._Element, consumer_hsa_id: str | None, timeouts: Timeouts,
               correlation_id: str | None = None, limit: int = MAX_BODY_BYTES, budgets: tuple = ()) -> bytes:
    """POST one request and return the raw body of a 200 answer; ContractError on any failure.

    `budgets` (each with `take(n)`, raising ContractError when spent) count every byte received
    against caps wider than one answer: one source's follow-ups, one whole read.

    Parsing is left to the caller, so a large body can be parsed off the event loop.
    """
    headers = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": f'"{soap_action}"'}
    if consumer_hsa_id:
        headers[SENDER_HEADER] = consumer_hsa_id
        headers[ORIGINAL_CONSUMER_HEADER] = consumer_hsa_id
    if correlation_id:
        headers[CORRELATION_HEADER] = correlation_id
    body = envelope(payload, logical_address)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeouts.connect, sock_read=timeouts.read)
    try:
        # Never follow a redirect: it would re-send the patient id, the sender headers and (in prod) the
        # client certificate to wherever a producer points.
        async with session.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False) as resp:
            if 300 <= resp.status < 400:
                raise ContractError(f"Producenten svarade med en omdirigering (HTTP {resp.status}); "
                                    "npo följer inga omdirigeringar.", code="redirect")
            if resp.content_length is not None and resp.content_length > limit:
                raise ContractError(f"Svaret är för stort ({resp.content_length} byte).", code="too_large")
            data = bytearray()
            async for chunk in resp.content.iter_chunked(65536):
                data += chunk
                for budget in budgets:
                    budget.take(len(chunk))
                if len(data) > limit:
                    raise ContractError(f"Svaret är större än {limit} byte.", code="too_large")
            status = resp.status
    except asyncio.TimeoutError:
        raise ContractError("Producenten svarade inte i tid.", code="timeout") from None
    except aiohttp.ClientConnectorError as e:
        raise ContractError(f"Kunde inte ansluta till tjänsteplattformen: {e.os_error or e}",
                            code="connection_failed") from None
    except aiohttp.ClientError as e:
        raise ContractError(f"Anslutningen bröts: {type(e).__name__}", code="connection_failed") from None
    if status != 200:
        try:  # a SOAP fault (HTTP 500) says more than the status does
            unwrap(parse_xml(bytes(data), limit=limit))
        except ContractError as e:
            if e.code in ("soap_fault", "unsupported"):
                raise
        raise ContractError(f"Tjänsteplattformen svarade med HTTP {status}.", code="http_error")
    return bytes(data)
