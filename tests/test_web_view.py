"""The clinician web view over HTTP: every page, filters, pagination, feedback, escaping.

The page is the patient: every page with patient data has the patient in its URL and every form
carries the patient it was shown for. An incomplete answer is never shown as a complete one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
import subprocess
import sys
import urllib.parse

import pytest

from npo_core.app import Core
from npo_core.demo import seed_blocks, seed_registry
from npo_core.demo.platform import make_platform
from npo_core.plugins import collect
from npo_core.web import make_app

from .conftest import DEMO_TODAY, endless_notes, login

FIONA = "199701062383"
HARRY = "194602226559"
LINDA = "189908029805"
ANNA = "SE2321000016-1001"
TAKECARE = "SE2321000016-TKC1"  # Region Stockholm's source: Anna's own care provider
MILLENNIUM = "SE2321000131-MLM1"  # Västra Götalandsregionen's source: another care provider
VGR = "SE2321000131-E000000000001"


async def page(client, path, status=200):
    resp = await client.get(path)
    text = await resp.text()
    assert resp.status == status, text[:500]
    return text


async def post_form(client, clinician, path, data, status=303):
    resp = await client.post(path, data={"csrf_token": clinician.csrf, **data}, allow_redirects=False)
    text = await resp.text()
    assert resp.status == status, text[:800]
    return resp, text


def links(text: str) -> list[str]:
    """Every link, without the record links' ?kalla=SOURCE (test_read_integrity checks that part)."""
    return [re.sub(r"\?kalla=[^&#]*$", "", html.unescape(h)) for h in re.findall(r'href="([^"]+)"', text)]


def hidden(text: str, name: str) -> set[str]:
    return set(re.findall(rf'name="{name}" value="([^"]*)"', text))


@pytest.fixture
async def faulty(aiohttp_server, aiohttp_client, registry, pm):
    """The demo with one source system misbehaving (address -> fault), as `npo demo --fault` does it."""
    clients = []

    async def make(faults: dict[str, str]):
        platform = await aiohttp_server(make_platform(collect(pm).contracts, DEMO_TODAY, faults=faults))
        seed_registry(registry, [r["id"] for r in registry.contract_rows("demo")])
        registry.set_environment("demo", base_url=str(platform.make_url("/vp")), read_timeout=1.0,
                                 total_deadline=2.0)
        core = Core(registry, "demo", pm)
        seed_blocks(core.guards)
        client = await aiohttp_client(make_app(core))
        client.core = core
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.core.guards.close()


# -- pages, links and filters ---------------------------------------------------------------------

async def test_timeline_and_calendar_link_to_each_record(demo):
    anna = await login(demo, patient=FIONA)
    shown = (await anna.records())["records"]
    timeline = await page(demo, f"/patient/{FIONA}/tidslinje?sort=time_desc&ar=alla")
    record_links = [h for h in links(timeline) if re.fullmatch(rf"/patient/{FIONA}/[^/]+/[^/]+", h)]
    assert record_links and len(record_links) == min(len(shown), 50)
    record_page = await page(demo, record_links[0])
    assert 'class="record"' in record_page
    newest = max((r for r in shown if r["time"]), key=lambda r: r["time"])
    month = newest["time"][:7]
    cal = await page(demo, f"/patient/{FIONA}/kalender?month={month}")
    assert f'/{urllib.parse.quote(newest["id"], safe="")}?kalla=' in cal
    assert "Föregående månad" in cal and "Nästa månad" in cal
    await page(demo, f"/patient/{FIONA}/kalender?month=2026-13", status=400)


async def test_a_record_outside_what_you_may_see_is_not_found(demo):
    await login(demo, patient=FIONA)
    text = await page(demo, f"/patient/{FIONA}/diagnoser/SE2321000131-MLM1-dia-0", status=404)  # no consent
    assert "Posten finns inte" in text
    await page(demo, f"/patient/{FIONA}/diagnoser/..%2F..%2Fetc%2Fpasswd", status=404)
    await page(demo, f"/patient/{FIONA}/okand", status=404)


async def test_filters_and_sorting_narrow_the_set(demo):
    anna = await login(demo, patient=FIONA)
    await anna.post("/api/relation")
    await anna.post("/api/consent", {"days": 1}, expect=201)
    records = (await anna.records("diagnoser"))["records"]
    unit = records[0]["care_unit_id"]
    text = await page(demo, f"/patient/{FIONA}/diagnoser?unit={unit}&sort=title")
    rows = re.findall(r'<tr id="record-\d+" data-record="([^"]+)"', text)
    assert set(rows) == {r["id"] for r in records if r["care_unit_id"] == unit}
    titles = [r["title"] for r in sorted((r for r in records if r["care_unit_id"] == unit),
                                         key=lambda r: r["title"].lower())]
    assert [next(r["title"] for r in records if r["id"] == i) for i in rows] == titles
    dated = sorted(r["time"][:10] for r in records if r["time"])
    text = await page(demo, f"/patient/{FIONA}/diagnoser?from={dated[-1]}&to={dated[-1]}")
    assert len(re.findall(r'<tr id="record-', text)) == sum(1 for r in records if (r["time"] or "")[:10] == dated[-1])
    await page(demo, f"/patient/{FIONA}/diagnoser?from=igår", status=400)


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
    assert "pattern=" not in text, "npo.js checks the number by the server's rules (test_errors_in_place)"
    js = await page(demo, "/static/npo.js")
    assert "luhnOk" in js
    await page(demo, "/static/../registry.db", status=404)


async def test_large_sets_are_paginated(demo):
    await login(demo, patient=LINDA)  # hundreds of diagnoses at her own provider
    first = await page(demo, f"/patient/{LINDA}/diagnoser")
    total = int(re.search(r"(\d+) poster, sida 1 av (\d+)", first).group(1))
    assert total > 50 and len(re.findall(r'<tr id="record-', first)) == 50
    assert 'rel="next" href="?page=2"' in first
    second = await page(demo, f"/patient/{LINDA}/diagnoser?page=2")
    ids = lambda text: set(re.findall(r'data-record="([^"]+)"', text))  # noqa: E731
    assert ids(first).isdisjoint(ids(second))
    last = await page(demo, f"/patient/{LINDA}/diagnoser?page=999")  # clamps to the last page
    assert 'rel="next"' not in last and 'rel="prev"' in last
    await page(demo, f"/patient/{LINDA}/diagnoser?page=²")  # not a number: the first page, never a 500


# -- the page is the patient ---------------------------------------------------------------------

async def test_the_search_redirects_to_the_patients_own_page(demo):
    anna = await login(demo)
    resp, _ = await post_form(demo, anna, "/patient", {"patient_id": "19970106-2383"})
    assert resp.headers["Location"] == f"/patient/{FIONA}"
    resp, _ = await post_form(demo, anna, "/patient", {"patient_id": HARRY})
    assert resp.headers["Location"] == f"/patient/{HARRY}"
    start = await page(demo, "/")
    assert f'href="/patient/{FIONA}"' in start and f'href="/patient/{HARRY}"' in start, "both stay open"
    fiona = await page(demo, f"/patient/{FIONA}")
    assert "Fiona Andersdotter" in fiona and "Harry" not in fiona
    assert all(h.startswith(f"/patient/{FIONA}") for h in links(fiona) if h.startswith("/patient/"))


async def test_a_patient_that_is_not_open_is_offered_never_opened(demo):
    anna = await login(demo, patient=FIONA)
    before = len(demo.core.guards.log_rows("patient_id = ?", [HARRY]))
    for path in (f"/patient/{HARRY}", f"/patient/{HARRY}/diagnoser", f"/patient/{HARRY}/tidslinje",
                 f"/patient/{HARRY}/kalender?month=2026-01", f"/patient/{HARRY}/diagnoser/x"):
        text = await page(demo, path, status=409)
        assert "Patienten är inte öppen" in text and '<header class="top">' in text, "inside the layout"
        assert "Harry" not in text, "nothing about the patient is looked up"
        assert hidden(text, "patient_id") == {HARRY} and 'action="/patient"' in text
    assert len(demo.core.guards.log_rows("patient_id = ?", [HARRY])) == before, "no search, no read"
    assert (await anna.get("/api/session"))["patients"] == [FIONA]
    # The button opens it (a logged search) and goes back to the page the link pointed at.
    text = await page(demo, f"/patient/{HARRY}/diagnoser", status=409)
    [back] = hidden(text, "next")
    resp, _ = await post_form(demo, anna, "/patient", {"patient_id": HARRY, "next": back})
    assert resp.headers["Location"] == f"/patient/{HARRY}/diagnoser"
    assert "Harry Harrisson" in await page(demo, f"/patient/{HARRY}/diagnoser")
    assert [r["action"] for r in demo.core.guards.log_rows("patient_id = ?", [HARRY])][before] == "search"
    # A `next` for another patient or another site is not followed.
    for evil in (f"/patient/{FIONA}", "//evil.example/", "https://evil.example/", f"/patient/{HARRY}/../../api"):
        resp, _ = await post_form(demo, anna, "/patient", {"patient_id": HARRY, "next": evil})
        assert resp.headers["Location"] == f"/patient/{HARRY}", evil
    await page(demo, "/patient/abc", status=400)


async def test_every_form_carries_its_patient_and_acts_on_it_alone(demo):
    """Fiona in one tab, Harry opened after in another: Fiona's forms still act on Fiona."""
    anna = await login(demo, patient=FIONA)
    fiona = await page(demo, f"/patient/{FIONA}")
    await anna.post("/api/patient", {"patient_id": HARRY})  # the other tab
    assert hidden(fiona, "patient_id") == {FIONA}
    for action in ("/relation", "/consent"):
        assert f'action="{action}"' in fiona
    resp, _ = await post_form(demo, anna, "/relation", {"patient_id": FIONA, "next": f"/patient/{FIONA}"})
    assert resp.headers["Location"] == f"/patient/{FIONA}"
    resp, _ = await post_form(demo, anna, "/consent", {"patient_id": FIONA, "kind": "consent", "scope": "unit",
                                                        "days": "30", "next": f"/patient/{FIONA}/diagnoser"})
    assert resp.headers["Location"] == f"/patient/{FIONA}/diagnoser"
    [attested] = demo.core.guards.log_rows("action = 'attest_relation'")
    assert attested["patient_id"] == FIONA
    assert [c["patient_id"] for c in demo.core.guards.consent_rows()] == [FIONA]
    harry = await anna.records()  # Harry's own tab is untouched
    assert harry["consent"] is None and harry["patient"] == HARRY
    # A form without its patient, or for one that is not open, never falls back to another patient.
    _, text = await post_form(demo, anna, "/relation", {}, status=400)
    assert "Ange vilken patient" in text and '<header class="top">' in text
    _, text = await post_form(demo, anna, "/consent", {"patient_id": LINDA, "kind": "consent"}, status=409)
    assert "Patienten är inte öppen" in text
    assert [c["patient_id"] for c in demo.core.guards.consent_rows()] == [FIONA]


async def test_the_relation_form_attests_a_relation_only(demo):
    anna = await login(demo, patient=FIONA)
    before = await anna.records()
    withheld = {w["reason"]: w["count"] for w in before["withheld"]}
    assert withheld.get("no_care_relation"), "Fiona has records at another unit of Region Stockholm"
    text = await page(demo, f"/patient/{FIONA}")
    assert "Intyga patientrelation" in text and 'action="/relation"' in text
    await post_form(demo, anna, "/relation", {"patient_id": FIONA})
    after = await anna.records()
    assert "no_care_relation" not in {w["reason"] for w in after["withheld"]}
    assert len(after["records"]) == len(before["records"]) + withheld["no_care_relation"]
    assert demo.core.guards.consent_rows(FIONA) == [], "no consent was registered"
    text = await page(demo, f"/patient/{FIONA}")
    assert 'action="/relation"' not in text and "Jag har en aktuell patientrelation" not in text


# -- what the clinician chose is visible -----------------------------------------------------------

async def test_a_consent_is_shown_with_scope_and_expiry_and_can_be_ended(demo):
    anna = await login(demo, patient=FIONA)
    await post_form(demo, anna, "/consent", {"patient_id": FIONA, "kind": "consent", "scope": "unit", "days": "30",
                                             "relation": "yes"})
    [row] = demo.core.guards.consent_rows(FIONA)
    end = dt.datetime.fromisoformat(row["end"]).strftime("%Y-%m-%d")
    for path in ("", "/diagnoser", "/tidslinje", "/kalender"):
        text = await page(demo, f"/patient/{FIONA}{path}")
        assert f"Samtycke för hela vårdenheten</strong>, gäller t.o.m. {end}" in text, path
        assert "av dig" in text and "Avsluta samtycket" in text and hidden(text, "consent_id") == {row["id"]}
    await post_form(demo, anna, "/consent/end", {"patient_id": FIONA, "consent_id": row["id"], "how": "cancel"})
    [row] = demo.core.guards.consent_rows(FIONA)
    assert row["cancelled_at"] and row["cancelled_by"] == ANNA
    text = await page(demo, f"/patient/{FIONA}")
    assert "Samtycke för hela vårdenheten" not in text and "Kräver patientens samtycke" in text
    # Emergency access: announced with its end, and not something to end from here.
    await post_form(demo, anna, "/consent", {"patient_id": FIONA, "kind": "emergency", "reason": "Medvetslös"})
    text = await page(demo, f"/patient/{FIONA}")
    assert "Nödöppning</strong>, gäller t.o.m. " in text and "Avsluta samtycket" not in text


@pytest.mark.parametrize("days", ["²", "٣", "３", "3.5", "-1", "0", "366", "1e2", "٣٠", "30 dagar"])
async def test_consent_days_are_ascii_digits_or_a_clear_400(demo, days):
    anna = await login(demo, patient=FIONA)
    _, text = await post_form(demo, anna, "/consent", {"patient_id": FIONA, "kind": "consent", "days": days,
                                                       "relation": "yes"}, status=400)
    assert "siffrorna 0–9" in text and '<header class="top">' in text
    assert demo.core.guards.consent_rows(FIONA) == []
    await post_form(demo, anna, "/consent", {"patient_id": FIONA, "kind": "consent", "days": "30"})  # the control
    assert len(demo.core.guards.consent_rows(FIONA)) == 1


@pytest.mark.parametrize("month, status", [
    ("9999-12", 200), ("0001-01", 200), ("9999-11", 200), ("0001-02", 200), ("0000-01", 400), ("0000-12", 400),
    ("10000-01", 400), ("2026-00", 400), ("2026-13", 400), ("٢٠٢٦-٠١", 400), ("２０２６-０１", 400), ("2026-1", 400),
    ("", 400), ("-2026-01", 400), ("2026-01-01", 400), ("99999999999999999999-01", 400)])
async def test_the_calendar_at_the_ends_of_time_is_a_page_or_a_clear_400(demo, month, status):
    await login(demo, patient=FIONA)
    text = await page(demo, f"/patient/{FIONA}/kalender?month={urllib.parse.quote(month)}", status=status)
    assert '<header class="top">' in text
    if status == 200:
        assert ('rel="next"' in text) == (month != "9999-12") and ('rel="prev"' in text) == (month != "0001-01")
        for other in re.findall(r'\?month=([^"]+)"', text):
            await page(demo, f"/patient/{FIONA}/kalender?month={other}")  # every link is a page
    else:
        assert "ÅÅÅÅ-MM" in text


async def test_opened_blocks_are_marked_and_listed_and_the_duration_is_asked(demo):
    anna = await login(demo, patient=HARRY)
    await post_form(demo, anna, "/consent", {"patient_id": HARRY, "kind": "consent", "days": "5", "relation": "yes"})
    # The demo's revoke for Gubbängens vårdcentral: the home care's records are shown because a block is opened.
    text = await page(demo, f"/patient/{HARRY}")
    assert "Öppnad spärrad information" in text and "Hemsjukvården, Uppsala kommun" in text
    opened = [r for r in (await anna.records())["records"] if r["opened_block"]]
    assert opened and "Öppnad spärr</span>" in text
    record = opened[0]
    view = {"dia": "diagnoser"}.get(record["information_type"])
    if view:
        assert "Öppnad spärr" in await page(demo, f"/patient/{HARRY}/{view}/{urllib.parse.quote(record['id'], safe='')}")
    timeline = await page(demo, f"/patient/{HARRY}/tidslinje")
    opened_ids = {r["id"] for r in opened}
    items = {}  # record id -> whether its timeline entry is marked
    for item in (chunk.split("</li>")[0] for chunk in timeline.split("<li><time>")[1:]):
        found = re.search(rf'href="/patient/{HARRY}/[^/"]+/([^"?]+)(?:\?kalla=[^"]*)?"', item)
        if found:
            items[urllib.parse.unquote(found.group(1))] = "Öppnad spärr</span>" in item
    assert items and {i for i, marked in items.items() if marked} == set(items) & opened_ids
    # Step 1, then step 2 with the duration asked for.
    await post_form(demo, anna, "/blocked/reveal", {"patient_id": HARRY, "basis": "PatientsConsent"})
    text = await page(demo, f"/patient/{HARRY}")
    assert "Steg 2" in text and 'name="days"' in text and '<option value="7">7 dagar</option>' in text
    for bad in ("8", "0", "٣", "²", "1.5"):
        await post_form(demo, anna, "/blocked/open", {"patient_id": HARRY, "care_provider_id": VGR,
                                                      "basis": "PatientsConsent", "days": bad}, status=400)
    await post_form(demo, anna, "/blocked/open", {"patient_id": HARRY, "care_provider_id": VGR,
                                                  "basis": "PatientsConsent", "days": "3"})
    [entry] = demo.core.guards.log_rows("action = 'open_blocked'")
    assert entry["patient_id"] == HARRY and '"days": 3' in entry["detail"]
    text = await page(demo, f"/patient/{HARRY}")
    listed = re.search(r'<section class="alert opened".*?</section>', text, re.S).group(0)
    assert "Hela Västra Götalandsregionen" in listed and "med patientens samtycke" in listed
    until = (dt.datetime.now() + dt.timedelta(days=3)).strftime("%Y-%m-%d")
    assert f"t.o.m. {until}" in listed


# -- never silently incomplete -------------------------------------------------------------------------

async def test_an_incomplete_answer_says_so_on_every_page(faulty):
    demo = await faulty({TAKECARE: "http500"})  # Anna's own provider's source fails
    anna = await login(demo, patient=FIONA)
    result = await anna.records()
    assert not result["complete"] and {s["logical_address"] for s in result["incomplete"]} == {TAKECARE}
    text = await page(demo, f"/patient/{FIONA}")
    total = len(result["sources"]) + (result["hidden_sources"] or {}).get("count", 0)
    failed = len(result["incomplete"]) + (result["hidden_sources"] or {}).get("failed", 0)
    assert f"Informationen kan vara ofullständig: {failed} av {total} källor svarade inte fullständigt" in text
    assert "TakeCare (Region Stockholm)" in text
    # Every card: its count is "minst N", and an empty one never says "Inga poster".
    cards = re.findall(r'<section class="set incomplete".*?</section>', text, re.S)
    assert cards and len(cards) == len(result["sets"]) - sum(1 for s in result["sets"].values() if s["complete"])
    gap = "Information kan saknas: TakeCare (Region Stockholm) svarade med fel."
    assert all(("minst " in card or "okänt antal" in card) and "Inga poster" not in card and gap in card
               for card in cards)
    assert "Inga poster" not in re.sub(r"<section class=\"set\" .*?</section>", "", text, flags=re.S)
    diagnoses = await page(demo, f"/patient/{FIONA}/diagnoser")
    assert "Listan kan vara ofullständig" in diagnoses and re.search(r"minst \d+ poster?", diagnoses)
    assert "Inga poster" not in diagnoses
    assert "Tidslinjen kan sakna händelser" in await page(demo, f"/patient/{FIONA}/tidslinje")
    assert "Kalendern kan sakna händelser" in await page(demo, f"/patient/{FIONA}/kalender")


async def test_a_failing_source_at_another_provider_is_only_counted(faulty):
    demo = await faulty({MILLENNIUM: "http500"})  # Västra Götalandsregionen: no basis to know of it yet
    anna = await login(demo, patient=FIONA)
    result = await anna.records()
    assert result["hidden_sources"]["failed"] >= 1 and not result["complete"]
    text = await page(demo, f"/patient/{FIONA}")
    assert "Informationen kan vara ofullständig" in text
    hidden_count = result["hidden_sources"]["count"]
    assert f"{hidden_count} källor hos andra vårdgivare" in text
    assert MILLENNIUM not in text and "Millennium" not in text and "Västra Götalandsregionen" not in text
    # With a basis, the source is named.
    await post_form(demo, anna, "/consent", {"patient_id": FIONA, "kind": "consent", "days": "1", "relation": "yes"})
    text = await page(demo, f"/patient/{FIONA}")
    assert "Millennium (Västra Götalandsregionen)" in text and "Fel" in text


async def test_an_answer_with_unread_elements_is_a_warning_with_what_was_not_read(faulty):
    demo = await faulty({TAKECARE: "schema_invalid"})  # an element the schema does not allow: not read
    anna = await login(demo, patient=FIONA)
    [bad] = [s for s in (await anna.records("diagnoser"))["sources"] if s["logical_address"] == TAKECARE]
    assert bad["status"] == "warning" and bad["unread"]
    text = await page(demo, f"/patient/{FIONA}/diagnoser")
    assert "Svarade, men delar av svaret kunde inte läsas: " + bad["message"] in text
    assert f"Kunde inte läsas: {bad['unread'][0]['element']}" in text
    assert "Listan kan vara ofullständig" in text and "minst " in text


async def test_a_cut_answer_reads_avkortat_and_its_count_minst(aiohttp_server, aiohttp_client, registry, pm):
    """A producer whose hasMore never ends: npo stops following and the page says the list is cut."""
    client, _ = await endless_notes(aiohttp_server, aiohttp_client, registry, pm)
    core = client.core
    try:
        anna = await login(client, patient=LINDA, relation=True)
        [status] = (await anna.records("anteckningar"))["sources"]
        assert status["status"] == "cut"
        text = await page(client, f"/patient/{LINDA}/anteckningar")
        assert "Avkortat: " + status["message"] in text
        assert "Listan kan vara ofullständig" in text and re.search(r"minst \d+ poster?", text)
        overview = await page(client, f"/patient/{LINDA}")
        card = re.search(r'<section class="set incomplete"[^>]*data-set="anteckningar".*?</section>', overview, re.S)
        assert card and '<span class="count">minst ' in card.group(0)
    finally:
        core.guards.close()


# -- links and error pages --------------------------------------------------------------------------

async def test_a_record_id_is_one_path_segment(demo, monkeypatch):
    """A producer's record id with '/', '..', '?' and '#' is escaped as one segment and finds its record."""
    from npo_plugins.contracts.get_diagnosis import GetDiagnosis

    hostile = ["../../api/x", "a/b?c=d#e", "%2F..%2F", "ä ö"]
    original = GetDiagnosis.demo_records

    def demo_records(self, source):
        out = original(self, source)
        if source.logical_address != TAKECARE:
            return out
        return [dataclasses.replace(r, id=hostile[i]) if i < len(hostile) else r for i, r in enumerate(out)]

    monkeypatch.setattr(GetDiagnosis, "demo_records", demo_records)
    anna = await login(demo, patient=FIONA, relation=True)  # every unit of her own provider
    shown = {r["id"] for r in (await anna.records("diagnoser"))["records"]}
    assert set(hostile) & shown
    text = await page(demo, f"/patient/{FIONA}/diagnoser")
    hrefs = links(text)
    for record_id in set(hostile) & shown:
        href = f"/patient/{FIONA}/diagnoser/{urllib.parse.quote(record_id, safe='')}"
        assert href in hrefs, (record_id, [h for h in hrefs if "diagnoser/" in h])
        record = await page(demo, href)
        assert f'data-record="{html.escape(record_id)}"' in record
    assert not any(h.startswith("/api/") or "/../" in h for h in hrefs)


async def test_error_pages_render_inside_the_layout(demo):
    await login(demo, patient=FIONA)
    for path, status in ((f"/patient/{FIONA}/okand", 404), ("/patient/199701062384", 400),
                         (f"/patient/{FIONA}/diagnoser?from=igår", 400)):
        text = await page(demo, path, status=status)
        assert '<header class="top">' in text and "Logga ut" in text and "Till startsidan" in text, path
