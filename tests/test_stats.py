"""Usage statistics (`npo stats`, /statistik): counts per environment and day from the real access log,
for an assignment with the purpose Administration only, never a patient; the environment is part of each
entry's hash, and entries written before it hash as they always did."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys

from npo_core.guards import GuardStore

from .conftest import login
from .test_browser import ARTIFACTS, browser, browser_page, expect, log_in, open_patient, server  # noqa: F401

FIONA, EGON = "199701062383", "193601286499"
JOHAN = "SE2321000255-4004"  # Medicinsk sekreterare with an Administration assignment only
PERSONNUMMER = re.compile(r"(19|20)\d{10}")


def npo(registry, *args):
    done = subprocess.run([sys.executable, "-m", "npo_core", "--registry", str(registry), *args],
                          capture_output=True, text=True, env={**os.environ, "NPO_REGISTRY": ""})
    assert done.returncode == 0, done.stderr
    return done.stdout


async def use(demo):
    """Two clinicians' day: Anna reads Fiona with a consent and Egon in an emergency, Erik reads Fiona."""
    anna = await login(demo, patient=FIONA, relation=True)
    await anna.post("/api/consent", {"whole_unit": True, "days": 7}, expect=201)
    await anna.records()
    await anna.records()
    await anna.post("/api/patient", {"patient_id": EGON})
    await anna.post("/api/emergency", {"patient_id": EGON, "reason": "Medvetslös på akuten"}, expect=201)
    await anna.records()
    await anna.post("/api/logout")
    erik = await login(demo, hsa_id="SE2321000131-2002", assignment="SE2321000131-2002-U1", patient=FIONA)
    await erik.records()
    await erik.post("/api/logout")


def expected(registry_path) -> dict:
    """The same figures counted straight from the log's rows, in Python."""
    with sqlite3.connect(registry_path) as db:
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute("select * from access_log where environment is not null")]
    return {"reads": len({r["request_id"] for r in rows if r["action"] == "read"}),
            "searches": sum(r["action"] == "search" for r in rows),
            "clinicians": len({r["user_id"] for r in rows}),
            "care_units": len({r["user_care_unit_id"] for r in rows}),
            "consents": sum(r["action"] == "register_consent" for r in rows),
            "emergency_accesses": len({r["request_id"] for r in rows
                                       if r["activity"] == "Nödöppning" and r["action"] != "read"})}


async def test_stats_count_the_log_per_environment_and_day(demo, registry):
    await use(demo)
    want = expected(registry.path)
    assert want["reads"] >= 4 and want["searches"] == 3 and want["clinicians"] == 2
    assert want["consents"] == 1 and want["emergency_accesses"] == 1
    rows = json.loads(npo(registry.path, "stats", "--json"))
    assert len(rows) == 1 and rows[0]["environment"] == "demo"
    assert {k: rows[0][k] for k in want} == want
    assert not PERSONNUMMER.search(json.dumps(rows))
    # one environment only, and a period without any use
    assert json.loads(npo(registry.path, "stats", "--env", "qa", "--json")) == []
    assert json.loads(npo(registry.path, "stats", "--to", "2000-01-01", "--json")) == []
    table = npo(registry.path, "stats")
    assert table.splitlines()[0].split()[:3] == ["environment", "day", "reads"]


async def test_the_page_is_for_administration_only(demo, registry):
    await use(demo)
    want = expected(registry.path)
    anna = await login(demo)
    page = await demo.get("/statistik")
    assert page.status == 403 and "Administration" in await page.text()
    await anna.post("/api/logout")
    johan = await login(demo, hsa_id=JOHAN, assignment=None)
    assert "/statistik" in await (await demo.get("/")).text()  # offered where Johan lands
    page = await demo.get("/statistik")
    html = await page.text()
    assert page.status == 200 and "Miljö: demo" in html
    total = re.search(r'<tr data-day="total">(.*?)</tr>', html, re.S).group(1)
    assert [int(n) for n in re.findall(r"<td>(\d+)</td>", total)] == list(want.values())
    assert not PERSONNUMMER.search(html) and "Anna" not in html.split("<main", 1)[1]
    bad = await demo.get("/statistik?from=2026-13-01")
    assert bad.status == 400 and "ÅÅÅÅ-MM-DD" in await bad.text()
    assert (await demo.get("/statistik?from=2026-12-03&to=2026-12-01")).status == 400
    assert johan.csrf


async def test_the_environment_is_chained_and_old_entries_still_verify(demo, registry):
    await use(demo)
    guards = GuardStore(registry.path)
    guards.admin_change("operator", "note", None, [])  # local administration: no environment
    guards.close()
    assert "Access log intact" in npo(registry.path, "log", "verify")
    with sqlite3.connect(registry.path) as db:
        seq = db.execute("select max(seq) from access_log where environment = 'demo'").fetchone()[0]
        db.execute("update access_log set environment = 'prod' where seq = ?", [seq])
    done = subprocess.run([sys.executable, "-m", "npo_core", "--registry", str(registry.path), "log", "verify"],
                          capture_output=True, text=True, env={**os.environ, "NPO_REGISTRY": ""})
    assert done.returncode == 1 and f"entry {seq}" in done.stderr


def test_the_statistics_page_in_chromium(browser, server):
    """Anna opens Fiona; Johan, who administers, reads the day's figures; at the three widths."""
    with browser_page(browser, server, "stats-anna") as page:
        log_in(page)
        open_patient(page, FIONA)
        page.get_by_role("button", name="Logga ut").click()
    with browser_page(browser, server, "stats-johan") as page:
        log_in(page, clinician="Johan Berg", assignment=None)
        page.get_by_role("link", name="användningsstatistiken").click()
        expect(page.get_by_role("heading", name="Användningsstatistik")).to_be_visible()
        total = page.locator('tr[data-day="total"] td')
        assert int(total.nth(0).inner_text()) >= 1 and int(total.nth(1).inner_text()) >= 1  # reads, searches
        for width in (1280, 1024, 768):
            page.set_viewport_size({"width": width, "height": 900})
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            page.screenshot(path=str(ARTIFACTS / f"stats-{width}.png"), full_page=True)
