"""Producers that misbehave: the overview still answers in time, shows every healthy source and
reports each failed one with a reason; nothing is logged as read that was not shown."""

from __future__ import annotations

import time

import pytest

from npo_core.app import Core
from npo_core.demo import seed_blocks, seed_registry
from npo_core.demo.platform import FAULTS, make_platform
from npo_core.plugins import collect
from npo_core.web import make_app

from .conftest import DEMO_TODAY, login

FIONA = "199701062383"
BAD = "SE2321000131-MLM1"  # Västra Götalandsregionen's source system misbehaves

EXPECTED = {"slow": "timeout", "reset": "error", "http500": "error", "soap_fault": "error", "malformed": "error",
            "wrong_namespace": "error", "schema_invalid": "invalid", "oversize": "error", "entities": "error"}


@pytest.mark.parametrize("fault", FAULTS)
async def test_one_faulty_producer_does_not_sink_the_overview(fault, aiohttp_server, aiohttp_client, registry, pm,
                                                              bundle):
    platform = await aiohttp_server(make_platform(collect(pm).contracts, DEMO_TODAY, faults={BAD: fault}))
    seed_registry(registry, [r["id"] for r in registry.contract_rows("demo")])
    registry.set_setting("schema_bundle", str(bundle))
    registry.set_environment("demo", base_url=str(platform.make_url("/vp")), read_timeout=0.5, total_deadline=1.5,
                             validate_responses=int(fault == "schema_invalid"))
    core = Core(registry, "demo", pm)
    seed_blocks(core.guards)
    client = await aiohttp_client(make_app(core))
    anna = await login(client, patient=FIONA)
    await anna.post("/api/relation")
    await anna.post("/api/consent", {"days": 1}, expect=201)

    started = time.perf_counter()
    result = await anna.records("diagnoser")  # one contract: each fault is judged on its own
    elapsed = time.perf_counter() - started
    assert elapsed < 1.5 + 1.0, "the total deadline holds"

    bad = [s for s in result["sources"] if s["logical_address"] == BAD]
    good = [s for s in result["sources"] if s["logical_address"] != BAD]
    assert bad and all(s["status"] == EXPECTED[fault] and s["message"] and s["records"] == 0 for s in bad), bad
    assert good and all(s["status"] in ("ok", "info") for s in good), good
    providers = {r["care_provider_id"] for r in result["records"]}
    assert "SE2321000131-E000000000001" not in providers and len(providers) == 4
    logged = core.guards.log_rows("request_id = ?", [result["request_id"]])
    assert "SE2321000131-E000000000001" not in {r["resource_care_provider_id"] for r in logged}
    assert sum(r["record_count"] for r in logged) == len(result["records"])
    core.guards.close()
