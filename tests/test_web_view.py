"""The clinician web view over HTTP: every page, filters, pagination, feedback, escaping."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.parse

from .conftest import login

FIONA = "199701062383"


async def page(client, path, status=200):
    resp = await client.get(path)
    text = await resp.text()
    assert resp.status == status, text[:500]
    return text


async def test_timeline_and_calendar_link_to_each_record(demo):
    anna = await login(demo, patient=FIONA)
    shown = (await anna.records())["records"]
    timeline = await page(demo, "/patient/tidslinje?sort=time_desc")
    links = re.findall(r'href="(/patient/[^/"]+/[^"]+)"', timeline)
    assert links and len(links) == min(len(shown), 50)
    record_page = await page(demo, links[0])
    assert 'class="record"' in record_page
    newest = max((r for r in shown if r["time"]), key=lambda r: r["time"])
    month = newest["time"][:7]
    cal = await page(demo, f"/patient/kalender?month={month}")
    assert urllib.parse.quote(newest["id"], safe="") in cal or newest["id"] in cal
    assert "Föregående månad" in cal and "Nästa månad" in cal
    await page(demo, "/patient/kalender?month=2026-13", status=400)


async def test_a_record_outside_what_you_may_see_is_not_found(demo):
    await login(demo, patient=FIONA)
    text = await page(demo, "/patient/diagnoser/SE2321000131-MLM1-dia-0", status=404)  # another provider: no consent
    assert "Posten finns inte" in text
    await page(demo, "/patient/diagnoser/..%2F..%2Fetc%2Fpasswd", status=404)
    await page(demo, "/patient/okand", status=404)


async def test_filters_and_sorting_narrow_the_set(demo):
    anna = await login(demo, patient=FIONA)
    await anna.post("/api/relation")
    await anna.post("/api/consent", {"days": 1}, expect=201)
    records = (await anna.records("diagnoser"))["records"]
    unit = records[0]["care_unit_id"]
    text = await page(demo, f"/patient/diagnoser?unit={unit}&sort=title")
    rows = re.findall(r'<tr id="record-\d+" data-record="([^"]+)"', text)
    assert set(rows) == {r["id"] for r in records if r["care_unit_id"] == unit}
    titles = [r["title"] for r in sorted((r for r in records if r["care_unit_id"] == unit),
                                         key=lambda r: r["title"].lower())]
    assert [next(r["title"] for r in records if r["id"] == i) for i in rows] == titles
    dated = sorted(r["time"][:10] for r in records if r["time"])
    text = await page(demo, f"/patient/diagnoser?from={dated[-1]}&to={dated[-1]}")
    assert len(re.findall(r'<tr id="record-', text)) == sum(1 for r in records if (r["time"] or "")[:10] == dated[-1])
    await page(demo, "/patient/diagnoser?from=igår", status=400)


async def test_status_help_and_feedback(demo, tmp_path):
    anna = await login(demo, patient=FIONA)
    await anna.records()
    status = await page(demo, "/status")
    assert "SE2321000016-TKC1" in status and "GetDiagnosis:2" in status
    assert "Diagnoser" in await page(demo, "/hjalp")
    form = {"csrf_token": anna.csrf, "did": "Öppnade tidslinjen", "expected": "Alla vårdkontakter",
            "happened": "Saknade en"}
    resp = await demo.post("/synpunkter", data=form, allow_redirects=False)
    assert resp.status == 303
    resp = await demo.post("/synpunkter", data={**form, "happened": "Gällde 19970106-2383"})
    assert resp.status == 400, "no patient data in feedback"
    [row] = demo.core.registry.feedback()
    assert row["user_id"] == "SE2321000016-1001" and row["did"] == "Öppnade tidslinjen"
    assert "19970106" not in str(row)
    done = subprocess.run([sys.executable, "-m", "npo_core", "--registry", str(demo.core.registry.path),
                           "feedback", "list", "--json"], capture_output=True, text=True)
    assert "Saknade en" in done.stdout


async def test_the_start_page_validates_as_you_type_without_inline_script(demo):
    await login(demo)
    text = await page(demo, "/")
    assert '<script src="/static/npo.js" defer></script>' in text and "<script>" not in text
    assert 'pattern="[0-9]{6,8}[-+]?[0-9]{4}"' in text
    js = await page(demo, "/static/npo.js")
    assert "luhnOk" in js
    await page(demo, "/static/../registry.db", status=404)


async def test_large_sets_are_paginated(demo):
    await login(demo, patient="189908029805")  # Linda Johansson: hundreds of diagnoses at her own provider
    first = await page(demo, "/patient/diagnoser")
    total = int(re.search(r"(\d+) poster, sida 1 av (\d+)", first).group(1))
    assert total > 50 and len(re.findall(r'<tr id="record-', first)) == 50
    assert 'rel="next" href="?page=2"' in first
    second = await page(demo, "/patient/diagnoser?page=2")
    ids = lambda text: set(re.findall(r'data-record="([^"]+)"', text))  # noqa: E731
    assert ids(first).isdisjoint(ids(second))
    last = await page(demo, "/patient/diagnoser?page=999")  # clamps to the last page
    assert 'rel="next"' not in last and 'rel="prev"' in last
