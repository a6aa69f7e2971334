"""The RIV-TA transport against a real HTTP server: envelopes, headers, and every way a producer fails."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from lxml import etree

from npo_core import soap
from npo_core.errors import ContractError

PAYLOAD = b'<r:Ok xmlns:r="urn:test"><r:v>1</r:v></r:Ok>'


def wrap(body: bytes) -> bytes:
    return (b'<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
            b"<s:Body>" + body + b"</s:Body></s:Envelope>")


HOSTILE = {
    "billion_laughs": b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;'
                      b'&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><l>&c;</l>',
    "external_entity": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    "external_dtd": b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://127.0.0.1:9/evil.dtd"><x/>',
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_documents_with_a_dtd_are_refused(name):
    with pytest.raises(ContractError) as e:
        soap.parse_xml(HOSTILE[name])
    assert e.value.code == "dtd_refused"
    assert b"root:" not in etree.tostring(soap.parse_xml(b"<x/>"))


def test_malformed_and_oversized_documents_are_refused():
    with pytest.raises(ContractError) as e:
        soap.parse_xml(b"<a><b></a>")
    assert e.value.code == "malformed_xml"
    with pytest.raises(ContractError) as e:
        soap.parse_xml(b"<a>" + b"x" * 2000 + b"</a>", limit=1000)
    assert e.value.code == "too_large"


def test_the_request_envelope_carries_the_logical_address():
    root = etree.fromstring(soap.envelope(etree.fromstring(PAYLOAD), "SE2321000016-TKC1"))
    assert root.findtext(f"{{{soap.SOAP_ENV}}}Header/{soap.LOGICAL_ADDRESS}") == "SE2321000016-TKC1"
    payload, address = soap.unwrap(root)
    assert payload.tag == "{urn:test}Ok" and address == "SE2321000016-TKC1"


class Producer:
    """A misbehaving producer whose behaviour each test chooses."""

    def __init__(self):
        self.seen: list[web.Request] = []
        self.behaviour = "ok"

    async def handle(self, request):
        self.seen.append(request)
        await request.read()
        b = self.behaviour
        if b == "ok":
            return web.Response(body=wrap(PAYLOAD), content_type="text/xml")
        if b == "fault":
            return web.Response(status=500, body=soap.fault_envelope("Invalid Id"), content_type="text/xml")
        if b == "http500":
            return web.Response(status=500, text="<html>Internal error</html>", content_type="text/html")
        if b == "slow":
            await asyncio.sleep(2)
            return web.Response(body=wrap(PAYLOAD), content_type="text/xml")
        if b == "huge":
            return web.Response(body=wrap(b"<r:Ok xmlns:r='urn:test'>" + b"x" * 3_000_000 + b"</r:Ok>"),
                                content_type="text/xml")
        if b == "huge_chunked":
            resp = web.StreamResponse()
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for _ in range(300):
                await resp.write(b"x" * 10_000)
            return resp
        if b == "reset":
            resp = web.StreamResponse(headers={"Content-Length": "100000"})
            await resp.prepare(request)
            await resp.write(b"<s:Envelope")
            request.transport.close()
            return resp
        if b == "malformed":
            return web.Response(body=b"<s:Envelope><unclosed>", content_type="text/xml")
        if b == "entity":
            return web.Response(body=HOSTILE["billion_laughs"], content_type="text/xml")
        raise AssertionError(b)


@pytest.fixture
async def producer(aiohttp_server):
    p = Producer()
    app = web.Application()
    app.router.add_post("/vp/x", p.handle)
    p.server = await aiohttp_server(app)
    async with soap.make_session(pool_size=10) as session:
        p.session = session
        yield p


async def call(p, limit=soap.MAX_BODY_BYTES, read=1.0):
    return await soap.call(p.session, str(p.server.make_url("/vp/x")), soap_action="urn:test:Ok",
                           logical_address="SE2321000016-TKC1", payload=etree.fromstring(PAYLOAD),
                           consumer_hsa_id="SE5565594230-BDV", timeouts=soap.Timeouts(1.0, read),
                           correlation_id="c-1", limit=limit)


async def test_a_call_sends_the_rivta_headers_and_returns_the_body(producer):
    body = await call(producer)
    assert soap.unwrap(soap.parse_xml(body))[0].tag == "{urn:test}Ok"
    request = producer.seen[0]
    assert request.headers["SOAPAction"] == '"urn:test:Ok"'
    assert request.headers["x-vp-sender-id"] == "SE5565594230-BDV"
    assert request.headers["x-rivta-original-serviceconsumer-hsaid"] == "SE5565594230-BDV"
    assert request.headers["x-skltp-correlation-id"] == "c-1"
    assert request.headers["Content-Type"].startswith("text/xml")


@pytest.mark.parametrize("behaviour, code", [
    ("fault", "soap_fault"), ("http500", "http_error"), ("slow", "timeout"), ("reset", "connection_failed"),
])
async def test_each_failure_becomes_a_contract_error_with_a_reason(producer, behaviour, code):
    producer.behaviour = behaviour
    with pytest.raises(ContractError) as e:
        await call(producer, read=0.3)
    assert e.value.code == code, e.value.message


@pytest.mark.parametrize("behaviour", ["huge", "huge_chunked"])
async def test_bodies_over_the_limit_are_cut_off(producer, behaviour):
    producer.behaviour = behaviour
    with pytest.raises(ContractError) as e:
        await call(producer, limit=1_000_000)
    assert e.value.code == "too_large"


@pytest.mark.parametrize("behaviour, code", [("malformed", "malformed_xml"), ("entity", "dtd_refused")])
async def test_unusable_bodies_are_refused_when_parsed(producer, behaviour, code):
    producer.behaviour = behaviour
    with pytest.raises(ContractError) as e:
        soap.parse_xml(await call(producer))
    assert e.value.code == code


async def test_a_refused_connection_is_reported():
    async with soap.make_session(pool_size=1) as session:
        with pytest.raises(ContractError) as e:
            await soap.call(session, "http://127.0.0.1:9/vp/x", soap_action="a", logical_address="b",
                            payload=etree.fromstring(PAYLOAD), consumer_hsa_id=None, timeouts=soap.Timeouts(1, 1))
    assert e.value.code == "connection_failed"
