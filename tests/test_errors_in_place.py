"""Errors in place (issue #20, point 4): every refusal and error inside the normal layout, in Swedish, with what
to do next and a reference for support (time and request id, never patient data); the browser's check of a
typed number agrees with the server's; a patient no source knows is said to be so, not shown as zeros.

HTTP tests run the real app against the real demo platform; the browser tests run the real `npo demo` process
in Chromium and save screenshots (test-artifacts/errors-*.png at 1280, 1024 and 768 px).
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re

import pytest

from npo_core import NpoError, parse_patient_id
from npo_core.identity import luhn_ok
from npo_core.web import MAX_REQUEST_BYTES

from .conftest import login
from .test_browser import ARTIFACTS, browser, browser_page, demo_server, log_in, open_patient  # noqa: F401 (fixture)
from .test_web_view import faulty  # noqa: F401  (a fixture: the demo with one source misbehaving)

FIONA, MOHAMED = "199701062383", "199008199391"
TAKECARE = "SE2321000016-TKC1"
REFERENCE = re.compile(r'<p class="reference">Referens till supporten: <span class="ref-time">'
                       r'(\d{4}-\d{2}-\d{2} kl\. \d{2}:\d{2}:\d{2})</span>,\s*id <code class="ref-id">([0-9a-f-]{36})</code>')
WIDTHS = (1280, 1024, 768)


def pnr(date: str, serial: str = "238") -> str:
    """A 12-digit number for the date (YYYYMMDD, day + 60 for a samordningsnummer) with its right check digit."""
    return next(f"{date}{serial}{c}" for c in "0123456789" if luhn_ok(f"{date[2:]}{serial}{c}"))


UNKNOWN = pnr("19800101", "230")  # valid, and none of the demo's patients
THIRTIETH_FEBRUARY = pnr("19970230")
FUTURE = pnr(f"{dt.date.today().year + 1}0101")


def in_layout(text: str, resp, *, pid: str | None = None) -> tuple[str, str]:
    """The page is npo's layout with the clinician's logout, and carries a reference whose id is the request's
    (X-Request-Id) and which holds no personnummer. Returns (time, request id)."""
    assert '<header class="top">' in text and 'action="/logout"' in text and "Logga ut" in text
    assert 'class="error-page" role="alert"' in text and "<strong>Gör så här:</strong>" in text
    m = REFERENCE.search(text)
    assert m, text[:3000]
    assert m.group(2) == resp.headers["X-Request-Id"]
    if pid:
        assert pid not in m.group(0) and pid[2:8] not in m.group(0), "the reference holds no patient data"
    return m.groups()


async def test_a_refused_search_is_the_search_page_again_with_the_error_and_the_number(demo):
    anna = await login(demo)
    cases = [("19970106+2383", 400, "Plustecken används bara med tio siffror."),
             (THIRTIETH_FEBRUARY, 400, "Numret innehåller inget giltigt datum."),
             (FUTURE, 400, "Födelsedatumet ligger i framtiden."),
             ("19970106-2384", 400, "Kontrollsiffran stämmer inte."),
             (MOHAMED, 403, "Patienten är inte tillgänglig för din vårdenhet enligt Tillgänglig patient (TGP).")]
    ids = set()
    for typed, status, message in cases:
        resp = await demo.post("/patient", data={"patient_id": typed, "csrf_token": anna.csrf}, allow_redirects=False)
        text = await resp.text()
        assert resp.status == status, (typed, text[:500])
        ids.add(in_layout(text, resp, pid=typed)[1])
        assert "<h1>Sök patient</h1>" in text and message in html.unescape(text)
        assert f'value="{typed}"' in text, "the number stays in the field, to correct it"
        assert "Det gick inte" not in text
    assert len(ids) == len(cases), "every request its own id"
    assert "Mohamed" not in text and "Kontrollera numret och att du har valt rätt medarbetaruppdrag" in text


async def test_an_emergency_without_a_reason_is_refused_under_the_patient_with_the_way_back(demo):
    anna = await login(demo, patient=FIONA)
    back = f"/patient/{FIONA}/diagnoser"
    before = demo.core.guards.consent_rows(FIONA)
    resp = await demo.post("/consent", data={"kind": "emergency", "reason": "   ", "patient_id": FIONA,
                                             "next": back, "csrf_token": anna.csrf}, allow_redirects=False)
    text = await resp.text()
    assert resp.status == 400
    in_layout(text, resp, pid=FIONA)
    assert f'data-patient="{FIONA}"' in text and "Fiona Andersdotter, 19970106-2383" in text, "the patient's header"
    assert 'aria-label="Informationsmängder"' in text and f'href="/patient/{FIONA}/tidslinje"' in text
    assert "Ange skäl för nödöppning." in text and "Skriv skälet till nödöppningen" in text
    assert f'<a href="{back}">Tillbaka till sidan du var på</a>' in text
    assert demo.core.guards.consent_rows(FIONA) == before, "nothing was registered"


async def test_errors_on_a_patients_pages_keep_the_patient(demo):
    await login(demo, patient=FIONA)
    for path, status, message in [(f"/patient/{FIONA}/kalender?month=2026-13", 400, "Ange månad som ÅÅÅÅ-MM"),
                                  (f"/patient/{FIONA}/diagnoser/no-such-record", 404, "Posten finns inte"),
                                  (f"/patient/{FIONA}/ingen-sadan-mangd", 404, "Det finns ingen sådan")]:
        resp = await demo.get(path)
        text = await resp.text()
        assert resp.status == status, (path, text[:300])
        in_layout(text, resp, pid=FIONA)
        assert message in text and f'data-patient="{FIONA}"' in text
        assert f'<a href="/patient/{FIONA}">Till patientens översikt</a>' in text


async def test_a_patient_not_open_gets_no_header_and_an_unknown_page_is_swedish(demo):
    anna = await login(demo)
    resp = await demo.post("/consent", data={"kind": "emergency", "reason": "x", "patient_id": "19970106-2384",
                                             "csrf_token": anna.csrf}, allow_redirects=False)
    text = await resp.text()
    assert resp.status == 400 and "Kontrollsiffran" in text and 'class="patient"' not in text
    in_layout(text, resp, pid="199701062384")
    resp = await demo.get("/ingen/sadan/sida")
    text = await resp.text()
    assert resp.status == 404 and "Sidan finns inte." in text and "Not Found" not in text
    in_layout(text, resp)


async def test_json_errors_carry_the_same_reference_and_the_log_has_it(demo, caplog):
    anna = await login(demo)
    caplog.set_level(logging.WARNING, logger="npo.web")
    resp = await demo.post("/api/patient", json={"patient_id": "19970106+2383"}, headers={"X-CSRF-Token": anna.csrf})
    body = await resp.json()
    assert resp.status == 400 and body["error"] == "invalid_patient_id"
    assert body["reference"]["request_id"] == resp.headers["X-Request-Id"]
    moment = dt.datetime.fromisoformat(body["reference"]["time"])
    assert moment.utcoffset() in (dt.timedelta(hours=1), dt.timedelta(hours=2)), "Swedish time"
    assert abs(dt.datetime.now(dt.timezone.utc) - moment) < dt.timedelta(minutes=1)
    assert "199701" not in str(body["reference"]) and "970106" not in str(body["reference"])
    [line] = [r.getMessage() for r in caplog.records if body["reference"]["request_id"] in r.getMessage()]
    assert "POST /api/patient answered 400" in line and "970106" not in line
    resp = await demo.post("/patient", data={"patient_id": MOHAMED, "csrf_token": anna.csrf})
    rid = resp.headers["X-Request-Id"]
    assert any(rid in r.getMessage() and "403" in r.getMessage() and "9008" not in r.getMessage()
               for r in caplog.records), "support finds the refusal's log line from the page's reference"


async def test_a_body_over_the_limit_gets_the_swedish_page_or_json(demo):
    anna = await login(demo, patient=FIONA)
    pad = "x" * (MAX_REQUEST_BYTES + 1024)
    for path in ("/synpunkter", "/consent"):
        resp = await demo.post(path, data={"did": pad, "patient_id": FIONA, "csrf_token": anna.csrf},
                               allow_redirects=False)
        text = await resp.text()
        assert resp.status == 413, (path, text[:300])
        in_layout(text, resp, pid=FIONA)
        assert "För mycket för att tas emot" in text and "högst 64 kB" in text and "bakåtknapp" in text
        assert "Request Entity Too Large" not in text and "Maximum request body size" not in text
    resp = await demo.post("/api/consent", json={"whole_unit": True, "pad": pad}, headers={"X-CSRF-Token": anna.csrf})
    body = await resp.json()
    assert resp.status == 413 and body["error"] == "request_too_large" and "64 kB" in body["message"]
    assert body["reference"]["request_id"] == resp.headers["X-Request-Id"]


async def test_an_unknown_personnummer_says_no_source_had_anything(demo):
    anna = await login(demo, patient=UNKNOWN)
    assert anna.patient == UNKNOWN
    text = await (await demo.get(f"/patient/{UNKNOWN}")).text()
    summary = text[text.index('id="sammanfattning"'):]
    assert "Ingen källa har information om patienten" in summary, summary[:2000]
    assert "Engagemangsindex, som visar vilka källor som har information om en patient, svarade att ingen källa" \
           in summary and 'class="alert nothing-found all-answered"' in text
    demo.core.registry.set_environment("demo", engagement_index=None)  # every registered source is asked
    await anna.post("/api/patient", {"patient_id": UNKNOWN})  # a new look: the producers are asked again
    text = await (await demo.get(f"/patient/{UNKNOWN}")).text()
    m = re.search(r"Alla (\d+) tillfrågade källor svarade, utan några poster om patienten", text)
    hidden = re.search(r"(\d+) källor hos andra vårdgivare", text)
    assert m and hidden and 'class="alert nothing-found all-answered"' in text, text[-3000:]
    assert int(m.group(1)) == len(re.findall(r'<tr class="status-ok" data-source=', text)) + int(hidden.group(1)) > 5
    fiona = await login(demo, patient=FIONA)
    text = await (await demo.get(f"/patient/{FIONA}")).text()
    assert fiona.patient == FIONA and "nothing-found" not in text


async def test_an_unknown_personnummer_with_a_source_down_does_not_claim_nothing(faulty):  # noqa: F811
    demo = await faulty({TAKECARE: "http500"})
    demo.core.registry.set_environment("demo", engagement_index=None)
    await login(demo, patient=UNKNOWN)
    text = await (await demo.get(f"/patient/{UNKNOWN}")).text()
    m = re.search(r"(\d+) av (\d+) tillfrågade källor svarade, utan några poster om patienten; (\d+) svarade inte",
                  text)
    assert "Ingen information om patienten kom fram" in text and m, text[-4000:]
    assert int(m.group(1)) + int(m.group(3)) == int(m.group(2)) and int(m.group(3)) >= 1
    assert "all-answered" not in text and "Ingen källa har information" not in text


# -- in Chromium ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with demo_server(tmp_path_factory.mktemp("errors")) as (url, _):
        yield url


def shots(page, name):
    """The page at the three widths, with nothing scrolling sideways."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
        page.screenshot(path=str(ARTIFACTS / f"errors-{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_errors_in_place_in_chromium(browser, server):  # noqa: F811
    with browser_page(browser, server, "errors-final") as page:
        log_in(page)
        open_patient(page, FIONA)
        page.goto(f"/patient/{FIONA}/diagnoser")
        page.get_by_text("Visa information från andra vårdgivare").click()
        page.get_by_label("Skäl (obligatoriskt)").fill("   ")  # passes `required`; the server refuses it
        page.get_by_role("button", name="Nödöppna").click()
        alert = page.get_by_role("alert").filter(has_text="Ange skäl för nödöppning.")
        assert alert.is_visible() and alert.get_by_text("Gör så här:").is_visible()
        assert page.get_by_role("heading", level=1).inner_text().startswith("Fiona Andersdotter")
        assert page.get_by_role("button", name="Logga ut").is_visible()
        assert re.search(r"\d{4}-\d{2}-\d{2} kl\. \d{2}:\d{2}:\d{2}", alert.locator(".reference").inner_text())
        shots(page, "emergency-reason")
        page.get_by_role("link", name="Tillbaka till sidan du var på").click()
        assert page.url.endswith(f"/patient/{FIONA}/diagnoser"), "back where the clinician was"

        page.goto("/")
        open_patient(page, MOHAMED)
        alert = page.get_by_role("alert")
        assert "inte tillgänglig för din vårdenhet enligt Tillgänglig patient" in alert.inner_text()
        assert page.get_by_label("Personnummer eller samordningsnummer").input_value() == MOHAMED
        assert "Mohamed" not in page.content()
        shots(page, "tgp")

        page.goto("/synpunkter")
        page.evaluate("s => { document.getElementById('did').value = s; }", "x" * (MAX_REQUEST_BYTES + 1024))
        page.get_by_role("button", name=re.compile("Skicka")).click()
        assert page.get_by_role("heading", name="För mycket för att tas emot").is_visible()
        assert page.get_by_role("button", name="Logga ut").is_visible()
        shots(page, "too-large")

        page.goto("/")
        open_patient(page, UNKNOWN)
        status = page.locator(".nothing-found")
        assert status.get_by_role("heading", name="Ingen källa har information om patienten").is_visible()
        box, head = status.bounding_box(), page.locator("section.patient").bounding_box()
        assert box["y"] < head["y"] + head["height"] + 200, "said at the top, under the patient's name"
        assert not page.locator(".sets").is_visible(), "no page of zeros"
        shots(page, "unknown-patient")


def inputs(today: dt.date) -> list[str]:
    """Numbers a clinician might type: every rule of parse_patient_id accepting and refusing."""
    tomorrow = today + dt.timedelta(days=1)
    return [
        FIONA, "19970106-2383", "970106-2383", "9701062383", " 19970106-2383 ", "1997 0106 2383", "\u00a019970106-2383",
        "193601286499", "360128-6499", "189908029805", "990802+9805", "990802-9805", "19990802-9805",
        pnr("19800161", "230"), pnr("19800161", "230")[:8] + "-" + pnr("19800161", "230")[8:],  # samordningsnummer
        pnr("20000229"), pnr("20240229"), pnr("19000229"), pnr("20230229"), THIRTIETH_FEBRUARY, pnr("19970431"),
        pnr("19970100"), pnr("19971301"), pnr("19970192"), pnr("19970160"), pnr("00010101"), pnr("00000101"),
        FUTURE, pnr(tomorrow.strftime("%Y%m%d")), pnr(today.strftime("%Y%m%d")), pnr(tomorrow.strftime("%Y%m%d"))[2:],
        "19970106+2383", "1997010623", "19970106-238", "199701062383x", "19970106--2383", "19970106–2383",
        "١٩٩٧٠١٠٦٢٣٨٣", "19970106\t2383", "+199701062383", "", "   ", "abc", "<script>", "19970106-2384",
        "0000000000", "000000000000",
    ]


def test_the_browser_checks_the_number_as_the_server_does(browser, server):  # noqa: F811
    with browser_page(browser, server, "errors-validation") as page:
        console = []
        page.on("console", lambda m: console.append(m.text))
        log_in(page)
        field = page.get_by_label("Personnummer eller samordningsnummer")
        assert field.get_attribute("pattern") is None
        assert page.locator("#pid-help").get_attribute("aria-live") == "polite"
        today = dt.date.fromisoformat(page.evaluate(
            "(() => { const d = new Date(); return new Date(d - d.getTimezoneOffset() * 60000).toISOString()"
            ".slice(0, 10); })()"))
        assert today == dt.date.today(), "browser and server on the same day"
        cases = inputs(today)
        assert len(cases) >= 40
        differ, refused = [], 0
        for raw in cases:
            try:
                parse_patient_id(raw, today=today)
                server_says = None
            except NpoError as e:
                server_says = e.message
            field.fill(raw)
            valid, custom, message = field.evaluate("e => [e.validity.valid, e.validity.customError, "
                                                    "e.validationMessage]")
            browser_says = None if valid else (message if custom else "(required)")
            refused += server_says is not None
            if (server_says is None) != (browser_says is None) or (custom and browser_says != server_says):
                differ.append((raw, server_says, browser_says))
        assert not differ, differ
        assert 10 < refused < len(cases) - 10, "both kinds in the list"
        field.fill(THIRTIETH_FEBRUARY)
        assert page.locator("#pid-help").inner_text() == "Numret innehåller inget giltigt datum."
        assert not [m for m in console if "pattern" in m.lower()], console
