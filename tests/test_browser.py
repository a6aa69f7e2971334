"""The web view in a real browser: Debian's headless Chromium, driven by Playwright.

The server is the real `npo demo` process on 127.0.0.1. Every scenario asserts what is shown
and what is not, and saves a screenshot under test-artifacts/.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from . import axe
from .conftest import REPO

playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect
CHROMIUM = os.environ.get("NPO_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
TAKECARE = "SE2321000016-TKC1"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def demo_server(folder: Path, *faults: str):
    """The real `npo demo` process on 127.0.0.1: (base URL, registry file). `faults`: ADDRESS=KIND."""
    port, platform_port = free_port(), free_port()
    registry = folder / "registry.db"
    output = open(registry.with_suffix(".log"), "w")
    proc = subprocess.Popen([sys.executable, "-m", "npo_core", "--registry", str(registry), "demo",
                             "--port", str(port), "--platform-port", str(platform_port),
                             *[arg for fault in faults for arg in ("--fault", fault)]],
                            stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None:
                    output.close()
                    pytest.fail(f"npo demo did not start: {registry.with_suffix('.log').read_text()}")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", registry
    finally:
        proc.kill()
        proc.wait()
        output.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with demo_server(tmp_path_factory.mktemp("browser")) as (url, _):
        yield url


@pytest.fixture(scope="module")
def faulty_server(tmp_path_factory):
    """TakeCare, the source of Anna's own care provider, answers HTTP 500."""
    with demo_server(tmp_path_factory.mktemp("browser-faulty"), f"{TAKECARE}=http500") as (url, _):
        yield url


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but no Chromium at {CHROMIUM}: .ci/run installs Debian's chromium")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@contextlib.contextmanager
def browser_page(browser, base_url, name):
    """One tab in a fresh context; fails on any script error or dialog or on what axe-core finds in the final
    page state; a screenshot at the end."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900}, locale="sv-SE")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
    try:
        yield page
        axe.check(page, name)
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        context.close()
    assert not errors, errors


@pytest.fixture
def page(browser, server, request):
    with browser_page(browser, server, request.node.name) as page:
        yield page


@pytest.fixture
def faulty_page(browser, faulty_server, request):
    with browser_page(browser, faulty_server, request.node.name) as page:
        yield page


def log_in(page, clinician="Anna Lindqvist", assignment="Läkare, Gubbängens vårdcentral"):
    page.goto("/")
    assert page.url.endswith("/login")
    page.get_by_label(re.compile(clinician)).check()
    page.get_by_role("button", name="Logga in").click()
    if assignment:
        page.get_by_label(re.compile(re.escape(assignment))).check()
        page.get_by_role("button", name="Fortsätt").click()


def open_patient(page, pid):
    page.get_by_label("Personnummer eller samordningsnummer").fill(pid)
    page.get_by_role("button", name="Sök").click()
    page.wait_for_load_state("load")  # the overview streams in parts: all of it, before the test looks


def consent(page):
    page.get_by_text("Visa information från andra vårdgivare").click()
    page.get_by_label("Jag har en aktuell patientrelation").check()
    page.get_by_role("button", name="Registrera samtycke").click()
    page.wait_for_load_state("load")  # back on the streamed overview: its banners come last


def attest_relation(page):
    """Every read beyond the clinician's own care unit needs an attested care relation."""
    page.get_by_role("button", name="Intyga patientrelation").click()
    expect(page.locator("form.relation")).to_have_count(0)


@pytest.mark.parametrize("pid, name", [("199701062383", "Fiona Andersdotter"), ("193601286499", "Egon Johansson"),
                                       ("194602226559", "Harry Harrisson"), ("189908029805", "Linda Johansson")])
def test_open_each_demo_patient(page, pid, name):
    log_in(page)
    open_patient(page, pid)
    page.wait_for_url(f"**/patient/{pid}")
    assert page.get_by_role("heading", level=1).inner_text().startswith(name)
    assert page.get_by_role("heading", name="Källor", exact=True).is_visible()
    assert page.locator(".sources tbody tr").count() >= 5
    assert page.get_by_text("Kräver patientens samtycke eller nödöppning").is_visible()


def test_egon_is_told_about_records_without_hsa_ids(page):
    log_in(page)
    open_patient(page, "193601286499")
    consent(page)
    banner = page.locator("[data-reason=missing_hsa_id]")
    assert banner.is_visible() and "Saknar vårdgivare eller vårdenhet" in banner.inner_text()


def test_consent_shows_another_providers_records(page):
    log_in(page)
    open_patient(page, "199701062383")
    page.goto("/patient/199701062383/diagnoser")
    assert page.locator("table.records td", has_text="Västra Götalandsregionen").count() == 0
    consent(page)
    assert page.url.endswith("/patient/199701062383/diagnoser"), "back to the page the form was on"
    assert page.locator("table.records td", has_text="Västra Götalandsregionen").count() > 0
    assert page.get_by_text("Kräver patientens samtycke").count() == 0
    banner = page.locator("section.consent")
    assert banner.get_by_text(re.compile(r"Samtycke för hela vårdenheten, gäller t\.o\.m\. \d{4}-\d{2}-\d{2}")).is_visible()
    assert banner.get_by_text(re.compile("av dig, Gubbängens vårdcentral")).is_visible()
    banner.get_by_role("button", name="Avsluta samtycket").click()  # the patient withdraws it
    expect(page.locator("section.consent")).to_have_count(0)
    assert page.url.endswith("/patient/199701062383/diagnoser")
    assert page.locator("table.records td", has_text="Västra Götalandsregionen").count() == 0
    assert page.get_by_text("Kräver patientens samtycke").is_visible()


def test_emergency_access_needs_a_reason_and_is_announced(page):
    log_in(page)
    open_patient(page, "199701062383")
    page.get_by_text("Visa information från andra vårdgivare").click()
    page.get_by_role("button", name="Nödöppna").click()  # empty reason: the browser refuses to submit
    assert page.url.endswith("/patient/199701062383") and not page.get_by_text("stöd av nödöppning").is_visible()
    page.get_by_label("Skäl (obligatoriskt)").fill("Medvetslös patient på akuten")
    page.get_by_role("button", name="Nödöppna").click()
    page.wait_for_load_state("load")
    assert page.get_by_text("Du läser information med stöd av nödöppning").is_visible()
    assert page.get_by_text(re.compile(r"Nödöppning, gäller t\.o\.m\. \d{4}-\d{2}-\d{2}")).is_visible()
    assert page.get_by_role("button", name="Avsluta samtycket").count() == 0
    page.goto("/patient/199701062383/diagnoser")
    assert page.locator("table.records td", has_text="Region Skåne").count() > 0


def test_reveal_and_open_blocked_information(page):
    log_in(page)
    open_patient(page, "194602226559")
    consent(page)
    page.get_by_text("Spärrad information finns", exact=True).click()
    assert page.locator("table.records td", has_text="Västra Götalandsregionen").count() == 0
    page.get_by_label("Patienten samtycker").check()
    page.get_by_role("button", name="Visa var").click()
    page.wait_for_load_state("load")
    row = page.locator("details.dialog tr", has_text="Västra Götalandsregionen").first
    assert row.is_visible(), "step 1 shows where"
    row.get_by_label("Samtycke").check()
    row.get_by_label("Öppna i").select_option("2")
    row.get_by_role("button", name="Öppna").click()
    opened = page.locator("section.opened")
    expect(opened.get_by_text(re.compile("Hela Västra Götalandsregionen, öppnad med patientens samtycke"))).to_be_visible()
    page.goto("/patient/194602226559/diagnoser")
    vgr = page.locator("table.records tr", has_text="Västra Götalandsregionen")
    assert vgr.count() > 0 and vgr.first.get_by_text("Öppnad spärr").is_visible()


def test_mohamed_is_refused_by_tgp(page):
    log_in(page)
    open_patient(page, "199008199391")
    assert page.get_by_text("inte tillgänglig för din vårdenhet enligt Tillgänglig patient").is_visible()
    assert "Mohamed" not in page.content()


def test_validation_as_you_type(page):
    log_in(page)
    field = page.get_by_label("Personnummer eller samordningsnummer")
    field.fill("19970106-2384")
    assert page.get_by_text("Kontrollsiffran stämmer inte.").is_visible()
    assert field.get_attribute("aria-invalid") == "true"
    field.fill("19970106-2383")
    assert field.get_attribute("aria-invalid") == "false"


def test_timeline_and_calendar_navigation(page):
    log_in(page)
    open_patient(page, "199701062383")
    page.get_by_role("link", name="Tidslinje").click()
    first = page.locator("ol.timeline a").first
    title = first.inner_text()
    first.click()
    assert page.locator("article.record h2").inner_text() == title
    page.get_by_role("link", name="Kalender").click()
    month = page.locator("main h2", has_text="Kalender").inner_text()
    page.get_by_role("link", name="Föregående månad").click()
    assert page.locator("main h2", has_text="Kalender").inner_text() != month


def test_filters_narrow_the_list(page):
    log_in(page)
    open_patient(page, "189908029805")
    attest_relation(page)  # every unit of her own care provider
    page.goto("/patient/189908029805/diagnoser")
    total = page.locator(".count-line").inner_text()
    options = page.locator("#f-unit option")
    unit_name = options.nth(1).inner_text()
    page.locator("#f-unit").select_option(index=1)
    page.get_by_role("button", name="Visa").click()
    expect(page.locator(".count-line")).not_to_have_text(total)
    cells = page.locator("table.records tbody tr td:nth-child(5)").all_inner_texts()
    assert cells and set(cells) == {unit_name}


def test_status_page_and_feedback(page):
    log_in(page)
    open_patient(page, "199701062383")
    page.get_by_role("link", name="Driftsstatus").click()
    assert page.locator("td", has_text="SE2321000016-TKC1").count() > 0
    page.get_by_role("link", name="Synpunkter").click()
    page.get_by_label("Vad gjorde du?").fill("Filtrerade diagnoser")
    page.get_by_label("Vad hände?").fill("Fungerade bra")
    page.get_by_role("button", name="Skicka").click()
    assert page.get_by_text("Tack! Dina synpunkter är sparade.").is_visible()


def test_ej_behorig_without_a_care_assignment(page):
    log_in(page, clinician="Johan Berg", assignment=None)
    assert page.get_by_role("heading", name="Ej behörig").is_visible()
    assert page.get_by_label("Personnummer eller samordningsnummer").count() == 0


def test_hostile_producer_text_is_shown_as_text_and_never_runs(page):
    """Linda's data carries script tags, event handlers and a javascript: link in a diagnosis."""
    from npo_core.demo.content.get_diagnosis import HOSTILE

    log_in(page)
    open_patient(page, "189908029805")
    attest_relation(page)
    page.goto("/patient/189908029805/diagnoser/SE2321000016-TKC1-dia-0")  # the hostile one, at her own provider
    assert page.locator("article.record h2").inner_text() == HOSTILE
    assert page.locator("article script, article img, article a[href^=javascript]").count() == 0
    # The page fixture fails the test if any dialog opened or any script error occurred.


def test_an_incomplete_overview_says_which_source_is_missing(faulty_page):
    """TakeCare fails: the overview says so at the top, every affected count reads "minst", nothing says
    "Inga poster" for a set that may have records, and the sources table names the failure."""
    page = faulty_page
    log_in(page)
    open_patient(page, "199701062383")
    banner = page.locator("section.incomplete")
    assert banner.get_by_text(re.compile(r"Informationen kan vara ofullständig: \d+ av \d+ källor")).is_visible()
    assert banner.get_by_text("TakeCare (Region Stockholm)").first.is_visible()
    cards = page.locator("section.set.incomplete")
    assert cards.count() > 0
    for i in range(cards.count()):
        card = cards.nth(i)
        assert card.locator(".count").inner_text().startswith(("minst ", "okänt antal"))
        assert "Inga poster" not in card.inner_text()
        assert card.get_by_text("Information kan saknas: TakeCare (Region Stockholm) svarade med fel.").is_visible()
    assert page.locator(f".sources tr[data-source={TAKECARE}]").first.get_by_text(re.compile("^Fel")).is_visible()
    page.get_by_role("link", name="Diagnoser").first.click()
    assert page.get_by_text("Listan kan vara ofullständig").is_visible()
    assert page.locator(".count-line").inner_text().startswith("minst ")
    page.get_by_role("link", name="Översikt").click()  # the screenshot is of the overview


def test_a_stale_link_to_a_patient_that_is_not_open_offers_to_open_it(page):
    log_in(page)
    page.goto("/patient/194602226559/diagnoser")
    assert page.get_by_role("heading", name="Patienten är inte öppen").is_visible()
    assert "Harry" not in page.content()
    page.get_by_role("button", name="Öppna patienten 19460222-6559").click()
    page.wait_for_url("**/patient/194602226559/diagnoser")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Harry Harrisson")
