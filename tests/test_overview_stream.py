"""The overview streamed set by set: the first screen comes first, each part only after its log entry, a part
that cannot be read is said in its place, and the page is whole at the end (no script needed)."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from npo_core import soap
from npo_core.errors import GuardUnavailable
from npo_core.identity import parse_patient_id
from npo_core.contract import Query

from .conftest import login

FIONA = "199701062383"
SLOW = "SE2321000016-SLOW1"


async def slow_vaccinations(aiohttp_server, core, seconds: float):
    """One more source system for GetVaccinationHistory, answering (with nothing) after `seconds`."""
    contract = core.contracts["GetVaccinationHistory:2"]

    async def handle(request):
        await request.read()
        await asyncio.sleep(seconds)
        return web.Response(body=soap.envelope(contract.render_response([], Query(parse_patient_id(FIONA)))),
                            content_type="text/xml")

    app = web.Application()
    app.router.add_post("/slow", handle)
    producer = await aiohttp_server(app)
    core.registry.set_environment("demo", engagement_index=None)  # the registry's own index: it is asked
    core.registry.add_source_system("demo", SLOW, "SE2321000016-F0VB", "Långsam", ["GetVaccinationHistory:2"],
                                    endpoint=str(producer.make_url("/slow")))


async def test_the_first_screen_comes_first_and_each_part_after_its_log_entry(demo, aiohttp_server):
    await slow_vaccinations(aiohttp_server, demo.core, 3.0)
    await login(demo, patient=FIONA, relation=True)
    started = time.perf_counter()
    resp = await demo.get(f"/patient/{FIONA}")
    assert resp.status == 200 and "Content-Security-Policy" in resp.headers
    arrived, logged, page = {}, {}, b""
    async for chunk in resp.content.iter_any():
        page += chunk
        for part in ("uppmarksamhet", "anteckningar", "vaccinationer", "sammanfattning"):
            if part not in arrived and (f'data-set="{part}"'.encode() in page or f'id="{part}"'.encode() in page):
                arrived.setdefault(part, time.perf_counter() - started)
                logged.setdefault(part, {row["contract"] for row in demo.core.guards.log_rows(
                    "patient_id = ? and action = 'read'", [FIONA])})
    text = page.decode()
    assert text.rstrip().endswith("</html>")  # whole at the end: no script needed to read it
    assert arrived["uppmarksamhet"] < 2.0 <= arrived["vaccinationer"], arrived
    assert arrived["anteckningar"] < 2.0 and arrived["sammanfattning"] >= arrived["vaccinationer"]
    # Each set was logged before it was sent; the slow one had not been logged when the first arrived.
    assert "GetAlertInformation:2" in logged["uppmarksamhet"]
    assert "GetVaccinationHistory:2" not in logged["uppmarksamhet"]
    assert "GetVaccinationHistory:2" in logged["vaccinationer"]
    assert text.index('data-set="uppmarksamhet"') < text.index('data-set="anteckningar"') \
        < text.index('data-set="vaccinationer"') < text.index('id="sammanfattning"')


async def test_a_set_whose_log_cannot_be_written_is_said_in_its_place_and_nothing_of_it_shown(demo, monkeypatch):
    anna = await login(demo, patient=FIONA, relation=True)
    alert_titles = {r["title"] for r in (await anna.records("uppmarksamhet"))["records"]}
    diagnoses = {r["title"] for r in (await anna.records("diagnoser"))["records"]}
    guards = demo.core.guards
    real_append = guards.append

    async def append(entries, *args, **kwargs):
        if any(e.contract == "GetDiagnosis:2" for e in entries):
            raise GuardUnavailable("Åtkomstloggen kan inte skrivas just nu.", code="log_unavailable")
        return await real_append(entries, *args, **kwargs)

    monkeypatch.setattr(guards, "append", append)
    text = await (await demo.get(f"/patient/{FIONA}")).text()
    card = text[text.index('data-set="diagnoser"'):]
    card = card[:card.index("</section>")]
    assert "Informationen kunde inte visas: Åtkomstloggen kan inte skrivas just nu." in card
    assert not any(title in text for title in diagnoses - alert_titles)
    assert "1 informationsmängd kunde inte visas: Diagnoser." in text
    assert any(title in text for title in alert_titles)  # the other sets are shown
    assert text.rstrip().endswith("</html>")


async def test_a_refusal_before_anything_is_sent_is_the_normal_error_page(demo, monkeypatch):
    await login(demo, patient=FIONA, relation=True)

    def unreadable(*args, **kwargs):
        raise GuardUnavailable("Spärrtjänsten svarar inte.", code="block_unavailable")

    monkeypatch.setattr(demo.core.guards, "snapshot", unreadable)
    resp = await demo.get(f"/patient/{FIONA}")
    text = await resp.text()
    assert resp.status == 503 and "Spärrtjänsten svarar inte." in text
    assert 'data-set="' not in text and "Logga ut" in text  # inside the normal layout, nothing of the patient's


async def test_an_overview_without_any_information_set_is_a_whole_page(aiohttp_client, registry, monkeypatch):
    """npo with no contract plugin loaded: the overview says who the patient is and that nothing was read."""
    from npo_core.app import Core
    from npo_core.demo import seed_registry
    from npo_core.plugins import make_plugin_manager
    from npo_core.web import make_app

    monkeypatch.setenv("NPO_LOAD_PLUGINS", "demo_auth,assignment_directory,web_view")
    pm = make_plugin_manager()
    seed_registry(registry, [])
    client = await aiohttp_client(make_app(Core(registry, "demo", pm)))
    await login(client, patient=FIONA)
    resp = await client.get(f"/patient/{FIONA}")
    text = await resp.text()
    assert resp.status == 200 and "Fiona Andersdotter" in text and 'id="sammanfattning"' in text
    assert 'data-set="' not in text and text.count("<div") == text.count("</div>")
    assert text.rstrip().endswith("</html>")
