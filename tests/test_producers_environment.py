"""Environment settings that shape every producer call: strict validation, endpoints, mutual TLS."""

from __future__ import annotations

import ssl

import pytest
from aiohttp import web

from npo_core import Query, soap
from npo_core.app import Core
from npo_core.demo import demo_source
from npo_core.identity import parse_patient_id
from npo_core.web import make_app
from npo_plugins.contracts.get_diagnosis import GetDiagnosis

from .certs import TestCA
from .conftest import DEMO_TODAY, login

FIONA = "199701062383"
OWN = "SE2321000016-F0VB"


def invalid_answer() -> bytes:
    """A GetDiagnosis answer at our own care provider whose diagnosis type breaks the schema."""
    contract = GetDiagnosis()
    records = contract.demo_records(demo_source(FIONA, "SE2321000016-TKC1", contract.id, DEMO_TODAY))
    body = soap.envelope(contract.render_response(records, Query(parse_patient_id(FIONA))))
    return body.replace(b">Huvuddiagnos<", b">Kanske<").replace(b">Bidiagnos<", b">Kanske<")


async def own_producer(aiohttp_server, body: bytes, **kw):
    async def handle(request):
        await request.read()
        return web.Response(body=body, content_type="text/xml")

    app = web.Application()
    app.router.add_post("/diagnosis", handle)
    return await aiohttp_server(app, **kw)


async def app_for(aiohttp_client, registry, pm):
    registry.set_environment("demo", engagement_index=None)  # these producers are known to the registry only
    core = Core(registry, "demo", pm)
    client = await aiohttp_client(make_app(core))
    client.core = core
    return client


@pytest.mark.parametrize("strict", [True, False])
async def test_strict_environments_report_schema_errors_per_producer(
        demo, aiohttp_server, aiohttp_client, registry, pm, bundle, strict):
    producer = await own_producer(aiohttp_server, invalid_answer())
    registry.set_setting("schema_bundle", str(bundle))
    registry.set_environment("demo", validate_responses=int(strict))
    registry.add_source_system("demo", "SE2321000016-BAD1", OWN, "Trasigt system", ["GetDiagnosis:2"],
                               endpoint=str(producer.make_url("/diagnosis")))
    client = await app_for(aiohttp_client, registry, pm)
    anna = await login(client, patient=FIONA, relation=True)
    result = await anna.records("diagnoser")
    bad = next(s for s in result["sources"] if s["logical_address"] == "SE2321000016-BAD1")
    good = [s for s in result["sources"] if s["logical_address"] != "SE2321000016-BAD1"]
    assert all(s["status"] == "ok" for s in good)
    if strict:
        assert bad["status"] == "invalid" and bad["records"] == 0
        assert bad["message"] == "Svaret från Trasigt system följde inte kontraktet och visas inte."
        [problem] = [s["last_problem"] for s in client.core.monitor.summary()
                     if s["logical_address"] == bad["logical_address"]]
        assert any("typeOfDiagnosis" in e and "Kanske" not in e for e in problem["schema_errors"])  # path, no value
        assert not any(r["detail"]["type"] == "Kanske" for r in result["records"])
    else:
        assert bad["status"] == "ok" and any(r["detail"]["type"] == "Kanske" for r in result["records"])
    client.core.guards.close()


async def test_mutual_tls_towards_a_producer(tmp_path, aiohttp_server, aiohttp_client, registry, pm):
    ca = TestCA(tmp_path)
    server_cert, client_cert = ca.issue("producer", server=True), ca.issue("npo-qa")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca.ca))
    server_ctx.load_cert_chain(server_cert.cert, server_cert.key)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    contract = GetDiagnosis()
    records = contract.demo_records(demo_source(FIONA, "SE2321000016-TKC1", contract.id, DEMO_TODAY))
    producer = await own_producer(aiohttp_server, soap.envelope(
        contract.render_response(records, Query(parse_patient_id(FIONA)))), ssl=server_ctx)
    registry.add_care_provider(OWN, "Region Stockholm")
    registry.add_source_system("demo", "SE2321000016-TLS1", OWN, "TLS-system", ["GetDiagnosis:2"],
                               endpoint=str(producer.make_url("/diagnosis")))

    # Without a client certificate the producer refuses the handshake: a per-source error, not a crash.
    registry.set_environment("demo", ca_bundle=str(ca.ca))
    client = await app_for(aiohttp_client, registry, pm)
    [status] = (await (await login(client, patient=FIONA, relation=True)).records("diagnoser"))["sources"]
    assert status["status"] == "error"
    client.core.guards.close()

    registry.set_environment("demo", client_cert=str(client_cert.cert), client_key=str(client_cert.key))
    client = await app_for(aiohttp_client, registry, pm)
    result = await (await login(client, patient=FIONA, relation=True)).records("diagnoser")
    assert [s["status"] for s in result["sources"]] == ["ok"]
    assert sorted(r["id"] for r in result["records"]) == sorted(r.id for r in records)
    client.core.guards.close()
