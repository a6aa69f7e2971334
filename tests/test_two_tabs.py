"""Two tabs in one browser session, two patients: every action lands on the patient of its own tab.

Debian's Chromium driven by Playwright against the real `npo demo` process. Fiona is opened in tab 1,
Harry in tab 2; then each tab acts through its own (older) page while the session's most recently
opened patient is the other one. The access log, the consents and the revokes (read through the
core's own GuardStore on the server's database) and the JSON API prove where each action landed;
every page is checked to show only its own patient. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import contextlib
import json
import re

import pytest

from npo_core.guards import GuardStore

from .test_browser import ARTIFACTS, browser, demo_server, expect, log_in, open_patient  # noqa: F401

FIONA, FIONA_NAME = "199701062383", "Fiona Andersdotter"
HARRY, HARRY_NAME = "194602226559", "Harry Harrisson"
NAMES = {FIONA: FIONA_NAME, HARRY: HARRY_NAME}
ANNA = "SE2321000016-1001"
VGR = "SE2321000131-E000000000001"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo server and the core's guard store on its database (read-only use: log, consents, revokes)."""
    with demo_server(tmp_path_factory.mktemp("two-tabs")) as (url, registry):
        guards = GuardStore(registry)
        try:
            yield url, guards
        finally:
            guards.close()


@contextlib.contextmanager
def one_session(browser, url):
    """One browser context: one cookie jar, so every tab is the same npo session."""
    context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 900}, locale="sv-SE")
    errors: list[str] = []

    def tab():
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
        return page

    try:
        yield context, tab
    finally:
        context.close()
    assert not errors, errors


def api(context, path: str) -> dict:
    resp = context.request.get(path)
    assert resp.ok, resp.text()
    return json.loads(resp.text())


def shows_only(page, pid: str) -> None:
    """The page is this patient's: the heading, the patient section, every patient link and every form's
    patient name this patient, and the other patient's name is nowhere."""
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(f"^{NAMES[pid]}, "))
    assert page.locator("section.patient").get_attribute("data-patient") == pid
    fields = page.locator("input[name=patient_id]").evaluate_all("els => els.map(e => e.value)")
    assert set(fields) <= {pid}, fields
    hrefs = page.locator('a[href^="/patient/"]').evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert hrefs and all(h == f"/patient/{pid}" or h.startswith(f"/patient/{pid}/") for h in hrefs), hrefs
    other = next(name for p, name in NAMES.items() if p != pid)
    assert other not in page.content()


def rows_are_the_patients(context, page, pid: str, slug: str = "diagnoser") -> int:
    """Each row of a set page is one of this patient's records (ids repeat across demo patients: the title
    must be the same as the patient's record of that id)."""
    titles = {r["id"]: r["title"] for r in api(context, f"/api/records?patient_id={pid}&set={slug}")["records"]}
    rows = page.locator("table.records tbody tr[data-record]")
    for i in range(rows.count()):
        row = rows.nth(i)
        record_id = row.get_attribute("data-record")
        assert record_id in titles, (pid, record_id)
        assert row.locator("td").nth(1).inner_text() == titles[record_id], (pid, record_id)
    return rows.count()


def actions(guards, action: str) -> list[str]:
    return [r["patient_id"] for r in guards.log_rows("action = ? and user_id = ?", [action, ANNA])]


def test_two_tabs_two_patients_every_action_lands_on_its_own_tab(browser, demo):  # noqa: F811
    url, guards = demo
    ARTIFACTS.mkdir(exist_ok=True)
    with one_session(browser, url) as (context, tab):
        tab1 = tab()
        log_in(tab1)
        open_patient(tab1, FIONA)
        tab1.wait_for_url(f"**/patient/{FIONA}")
        tab2 = tab()
        tab2.goto("/")
        open_patient(tab2, HARRY)
        tab2.wait_for_url(f"**/patient/{HARRY}")
        shows_only(tab2, HARRY)
        shows_only(tab1, FIONA)  # loaded before Harry was opened: the session's latest patient is Harry
        assert api(context, "/api/session")["patients"] == [FIONA, HARRY]

        # Tab 1, Fiona, while Harry is the latest: relation, consent, ending it, emergency.
        tab1.get_by_role("button", name="Intyga patientrelation").click()
        expect(tab1.locator("form.relation")).to_have_count(0)
        shows_only(tab1, FIONA)
        tab1.get_by_text("Visa information från andra vårdgivare").click()
        assert tab1.get_by_label("Jag har en aktuell patientrelation").count() == 0, "already attested"
        tab1.get_by_label("Giltighet (dagar)").fill("30")
        tab1.get_by_role("button", name="Registrera samtycke").click()
        banner = tab1.locator("section.consent")
        expect(banner).to_contain_text(re.compile(r"Samtycke för hela vårdenheten, gäller t\.o\.m\. \d{4}-\d{2}-\d{2}"))
        expect(banner).to_contain_text("av dig, Gubbängens vårdcentral")
        shows_only(tab1, FIONA)
        tab1.screenshot(path=str(ARTIFACTS / "two_tabs_consent_banner.png"), full_page=True)
        assert actions(guards, "attest_relation") == [FIONA] and actions(guards, "register_consent") == [FIONA]
        assert guards.consent_rows(HARRY) == []
        banner.get_by_role("button", name="Avsluta samtycket").click()
        expect(tab1.locator("section.consent")).to_have_count(0)
        tab1.get_by_text("Visa information från andra vårdgivare").click()
        tab1.get_by_label("Skäl (obligatoriskt)", exact=True).fill("Medvetslös patient på akuten")
        tab1.get_by_role("button", name="Nödöppna").click()
        expect(tab1.locator("section.consent")).to_contain_text(re.compile(r"Nödöppning, gäller t\.o\.m\. "))
        shows_only(tab1, FIONA)
        assert actions(guards, "cancel_consent") == [FIONA] and actions(guards, "emergency") == [FIONA]

        # Fiona becomes the latest (searched again in tab 1); tab 2 acts through its old page of Harry.
        tab1.goto("/")
        open_patient(tab1, FIONA)
        tab1.wait_for_url(f"**/patient/{FIONA}")
        assert api(context, "/api/session")["patients"] == [HARRY, FIONA]
        tab2.get_by_text("Visa information från andra vårdgivare").click()
        tab2.get_by_label("Jag har en aktuell patientrelation").check()
        tab2.get_by_role("button", name="Registrera samtycke").click()
        expect(tab2.locator("section.consent")).to_contain_text("Samtycke för hela vårdenheten")
        shows_only(tab2, HARRY)
        tab2.get_by_text("Spärrad information finns", exact=True).click()
        tab2.get_by_label("Patienten samtycker").check()
        tab2.get_by_role("button", name="Visa var").click()
        row = tab2.locator("details.dialog tr", has_text="Västra Götalandsregionen").first
        expect(row).to_be_visible()
        shows_only(tab2, HARRY)
        row.get_by_label("Samtycke").check()
        row.get_by_label("Öppna i").select_option("3")
        row.get_by_role("button", name="Öppna").click()
        expect(tab2.locator(f"section.opened li[data-provider='{VGR}']")).to_contain_text(
            "Hela Västra Götalandsregionen, öppnad med patientens samtycke, gäller t.o.m.")
        shows_only(tab2, HARRY)
        tab2.get_by_role("link", name="Diagnoser").first.click()
        tab2.wait_for_url(f"**/patient/{HARRY}/diagnoser")
        opened = tab2.locator("table.records tr.opened-block")
        expect(opened.first).to_be_visible()
        assert opened.filter(has_text="Västra Götalandsregionen").count() > 0
        assert opened.first.get_by_text("Öppnad spärr").is_visible()
        assert rows_are_the_patients(context, tab2, HARRY) > 0
        shows_only(tab2, HARRY)
        tab2.screenshot(path=str(ARTIFACTS / "two_tabs_opened_blocks.png"), full_page=True)
        assert actions(guards, "attest_relation") == [FIONA, HARRY]
        assert actions(guards, "register_consent") == [FIONA, HARRY]
        assert actions(guards, "reveal_blocked") == [HARRY] and actions(guards, "open_blocked") == [HARRY]
        [entry] = guards.log_rows("action = 'open_blocked'")
        assert json.loads(entry["detail"])["days"] == 3

        # Stale links: tab 1's page of Fiona (loaded long ago) still leads to Fiona, never to Harry.
        tab1.get_by_role("link", name="Diagnoser").first.click()
        tab1.wait_for_url(f"**/patient/{FIONA}/diagnoser")
        shows_only(tab1, FIONA)
        assert rows_are_the_patients(context, tab1, FIONA) > 0
        record_link = tab1.locator("table.records tbody tr[data-record] a").first
        record_href = record_link.get_attribute("href")
        record_link.click()
        tab1.wait_for_url(f"**{record_href}")
        shows_only(tab1, FIONA)
        fionas = {r["id"]: r["title"] for r in api(context, f"/api/records?patient_id={FIONA}")["records"]}
        record_id = tab1.locator("article.record").get_attribute("data-record")
        assert tab1.locator("article.record h2").inner_text().startswith(fionas[record_id])
        tab1.go_back()  # the diagnoses page again, with its links to Fiona's records

        # A new login in tab 2 starts a new session: tab 1's link leads to an offer to open Fiona, nothing else.
        tab2.goto("/login")
        tab2.get_by_label(re.compile("Anna Lindqvist")).check()
        tab2.get_by_role("button", name="Logga in").click()
        tab2.get_by_label(re.compile("Läkare, Gubbängens vårdcentral")).check()
        tab2.get_by_role("button", name="Fortsätt").click()
        open_patient(tab2, HARRY)
        tab2.wait_for_url(f"**/patient/{HARRY}")
        shows_only(tab2, HARRY)
        tab1.locator(f'a[href="{record_href}"]').first.click()
        expect(tab1.get_by_role("heading", name="Patienten är inte öppen")).to_be_visible()
        assert FIONA_NAME not in tab1.content() and HARRY_NAME not in tab1.content()
        assert tab1.locator("table.records, article.record").count() == 0
        assert api(context, "/api/session")["patients"] == [HARRY], "a link never opens a patient"
        tab1.get_by_role("button", name="Öppna patienten 19970106-2383").click()
        tab1.wait_for_url(f"**{record_href}")
        shows_only(tab1, FIONA)
        assert api(context, "/api/session")["patients"] == [HARRY, FIONA]

        # The API agrees, patient by patient.
        fiona = api(context, f"/api/records?patient_id={FIONA}")
        harry = api(context, f"/api/records?patient_id={HARRY}")
        assert fiona["patient"] == FIONA and fiona["patient_name"] == FIONA_NAME
        assert harry["patient"] == HARRY and harry["patient_name"] == HARRY_NAME
        assert fiona["consent"]["kind"] == "Emergency" and harry["consent"]["kind"] == "Consent"
        # The new session has not attested a relation for Harry: no basis yet, so where his blocked
        # information was opened is not listed (reveal by basis) until it does.
        assert VGR not in {o["care_provider_id"] for o in harry["opened"]}
        csrf = api(context, "/api/session")["csrf_token"]
        assert context.request.post("/api/relation", data=json.dumps({"patient_id": HARRY}),
                                    headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"}).ok
        harry = api(context, f"/api/records?patient_id={HARRY}")
        assert VGR in {o["care_provider_id"] for o in harry["opened"]}
        assert fiona["opened"] == [] and not any(r["opened_block"] for r in fiona["records"])
        tab1.screenshot(path=str(ARTIFACTS / "two_tabs_tab1.png"), full_page=True)
        tab2.screenshot(path=str(ARTIFACTS / "two_tabs_tab2.png"), full_page=True)

    # Every consent and revoke belongs to the patient whose tab registered it.
    consents = {(c["patient_id"], c["assertion_type"], bool(c["cancelled_at"])) for c in guards.consent_rows()}
    assert consents == {(FIONA, "Consent", True), (FIONA, "Emergency", False), (HARRY, "Consent", False)}
    mine = [r for r in guards.revoke_rows(HARRY) if r["employee_id"] == ANNA]
    assert [r["block_care_provider_id"] for r in mine] == [VGR]
    assert guards.revoke_rows(FIONA) == []
    assert actions(guards, "search") == [FIONA, HARRY, FIONA, HARRY, FIONA]
