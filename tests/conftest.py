"""Shared fixtures: a real registry file, real demo producers on 127.0.0.1, a real web app."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from npo_core.app import Core
from npo_core.demo import seed_blocks, seed_registry
from npo_core.demo.platform import make_platform
from npo_core.plugins import make_plugin_manager
from npo_core.registry import Registry
from npo_core.web import CORE_KEY, make_app

REPO = Path(__file__).resolve().parent.parent
DEMO_TODAY = dt.date(2026, 11, 1)  # demo content is dated relative to this day in tests


def pytest_report_header(config):
    import lxml.etree
    import sqlite3

    import sqlite_utils
    import xmlschema

    return (f"sqlite {sqlite3.sqlite_version}, sqlite-utils {sqlite_utils.__version__ if hasattr(sqlite_utils, '__version__') else '?'}, "
            f"lxml {lxml.etree.__version__}, libxml2 {'.'.join(map(str, lxml.etree.LIBXML_VERSION))}, "
            f"xmlschema {xmlschema.__version__}")


def find_bundle() -> Path | None:
    for candidate in (os.environ.get("NPO_RIVTA_SCHEMAS"), REPO.parent / "shared" / "rivta"):
        if candidate and (Path(candidate) / "MANIFEST.xml").is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def bundle() -> Path:
    """The official RIV-TA bundle. Skipped where absent, but never silently under CI."""
    path = find_bundle()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no RIV-TA schema bundle: set NPO_RIVTA_SCHEMAS or provide ../shared/rivta")
        pytest.skip("no RIV-TA schema bundle (set NPO_RIVTA_SCHEMAS or provide ../shared/rivta)")
    return path


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.delenv("NPO_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("NPO_TRACE_PLUGINS", raising=False)
    monkeypatch.setenv("NPO_REGISTRY", str(tmp_path / "registry.db"))


@pytest.fixture
def pm():
    return make_plugin_manager()


@pytest.fixture
def registry(tmp_path, pm):
    from npo_core.plugins import collect

    reg = Registry(tmp_path / "registry.db")
    reg.sync_contracts(collect(pm).contracts.values())
    yield reg
    reg.close()


@pytest.fixture
async def platform(aiohttp_server, pm):
    """The demo service platform with its producers, on a real port."""
    from npo_core.plugins import collect

    return await aiohttp_server(make_platform(collect(pm).contracts, today=DEMO_TODAY))


@pytest.fixture
async def demo(aiohttp_client, platform, registry, pm):
    """A client of the web app in the demo environment, wired to the real demo platform."""
    seed_registry(registry, [row["id"] for row in registry.contract_rows("demo")])
    registry.set_environment("demo", base_url=str(platform.make_url("/vp")))
    core = Core(registry, "demo", pm)
    seed_blocks(core.guards)
    client = await aiohttp_client(make_app(core))
    client.core = core
    yield client
    core.guards.close()


PATIENT_SCOPED = ("/api/relation", "/api/consent", "/api/emergency", "/api/blocked/", "/api/records", "/api/sets")


def named(path: str, patient: str | None) -> str:
    """A patient-scoped GET names its patient, as a page of that patient would."""
    if patient is None or not path.startswith(PATIENT_SCOPED) or "patient_id=" in path:
        return path
    return f"{path}{'&' if '?' in path else '?'}patient_id={patient}"


class Clinician:
    """Drives the JSON API like one tab of a clinician's browser: it names the patient it opened last."""

    def __init__(self, client, csrf: str):
        self.client, self.csrf = client, csrf
        self.patient: str | None = None

    async def post(self, path: str, data: dict | None = None, expect: int | None = 200):
        data = dict(data or {})
        if self.patient and path.startswith(PATIENT_SCOPED):
            data.setdefault("patient_id", self.patient)
        resp = await self.client.post(path, json=data, headers={"X-CSRF-Token": self.csrf})
        body = await resp.json()
        if expect is not None:
            assert resp.status == expect, body
        if path == "/api/patient" and resp.status == 200:
            self.patient = body["patient"]
        return body

    async def get(self, path: str, expect: int | None = 200):
        resp = await self.client.get(named(path, self.patient))
        body = await resp.json()
        if expect is not None:
            assert resp.status == expect, body
        return body

    async def records(self, set_slug: str | None = None, *, detail: bool = True) -> dict:
        """GET /api/records, with each record's contract fields (`detail=1`, which most tests read)."""
        query = "&".join(([f"set={set_slug}"] if set_slug else []) + (["detail=1"] if detail else []))
        return await self.get("/api/records" + (f"?{query}" if query else ""))


async def login(client, hsa_id="SE2321000016-1001", assignment="SE2321000016-1001-U1", patient=None,
                relation: bool = False) -> Clinician:
    """Logged in, the assignment chosen, the patient opened; `relation`: a care relation attested, which
    every read beyond the clinician's own care unit needs."""
    resp = await client.post("/api/login/demo", json={"clinician": hsa_id})
    assert resp.status == 200
    clinician = Clinician(client, (await resp.json())["csrf_token"])
    if assignment:
        await clinician.post("/api/assignment", {"assignment_id": assignment})
    if patient:
        await clinician.post("/api/patient", {"patient_id": patient})
        if relation:
            await clinician.post("/api/relation")
    return clinician


async def endless_notes(aiohttp_server, aiohttp_client, registry, pm, *, elsewhere: bool = False):
    """Linda's notes at TakeCare from a producer whose GetCareDocumentation 3 always says there is more
    (`elsewhere`: more at another logical address). Returns (client, the requests the producer got)."""
    from aiohttp import web

    from npo_core import soap
    from npo_core.identity import parse_patient_id
    from npo_core.riv.jol import PagedQuery

    from npo_core.demo import demo_source
    from npo_core.plugins import collect

    linda, takecare = "189908029805", "SE2321000016-TKC1"
    contract = collect(pm).contracts["GetCareDocumentation:3"]
    page = contract.render_response(contract.demo_records(demo_source(linda, takecare, contract.id, DEMO_TODAY)),
                                    PagedQuery(parse_patient_id(linda)))
    if elsewhere:
        for address in page.iter(contract.q("logicalAddress")):
            address.text = "SE0000000000-ELSEWHERE"
    first_page = soap.envelope(page)
    assert b"hasMore" in first_page
    calls = []

    async def handle(request):
        calls.append(await request.read())
        return web.Response(body=first_page, content_type="text/xml")  # the same page, forever

    app = web.Application()
    app.router.add_post("/gcd3", handle)
    producer = await aiohttp_server(app)
    seed_registry(registry, ["GetCareDocumentation:3"])
    registry.set_environment("demo", engagement_index=None)
    for row in registry.source_systems("demo"):
        registry.remove_source_system("demo", row.logical_address)
    registry.add_source_system("demo", takecare, "SE2321000016-F0VB", "TakeCare", ["GetCareDocumentation:3"],
                               endpoint=str(producer.make_url("/gcd3")))
    client = await aiohttp_client(make_app(Core(registry, "demo", pm)))
    client.core = client.app[CORE_KEY]
    return client, calls
