"""Issue #15: a heavy patient's walk in a real browser, page by page, timed.

Anna Lindqvist opens Linda Johansson, the heaviest demo patient, and walks the overview, a set page
(Journalanteckningar, the heaviest set), a record, the timeline and its next page, and the calendar and one month
back. Each step's time, from the start of the navigation to the page's load event, is printed with the
target next to it ("met"/"missed") and written to test-artifacts/heavy-walk-times.txt. The times are
recorded, never asserted: what is asserted is what each page must show, and that every page after the
overview shows the answers fetched for the overview (the same "Hämtad ..." line).
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pytest

from .test_browser import (ARTIFACTS, browser, browser_page, consent,  # noqa: F401 (fixture)
                           demo_server, log_in, open_patient)

LINDA, LINDA_NAME = "189908029805", "Linda Johansson"
TIMEOUT = 60_000  # ms per navigation and per check: the overview may take several seconds on a slow machine
OVERVIEW_TARGET, PAGE_TARGET = 1000, 300  # ms
WARM_UPS = 3  # looks at Linda before the walk, until one is complete
FETCHED = re.compile(r"Hämtad \d{4}-\d{2}-\d{2} kl\. \d{2}:\d{2}")

# Navigation Timing of the document now shown, in ms from the navigation's start (redirects included).
TIMING = """() => { const n = performance.getEntriesByType('navigation')[0];
  return n ? {request: n.requestStart, first_byte: n.responseStart, response_end: n.responseEnd,
              load_end: n.loadEventEnd, redirects: n.redirectCount} : null; }"""


@pytest.fixture(scope="module")
def heavy_server(tmp_path_factory):
    with demo_server(tmp_path_factory.mktemp("browser-heavy")) as (url, _):
        yield url


class Walk:
    """Times each navigation and keeps a row per step: wall time and the browser's Navigation Timing."""

    def __init__(self, page):
        self.page, self.rows = page, []

    def step(self, name, target, action):
        """Run `action` (which starts one navigation), wait for the new page's load event, time it,
        take a 1280x900 screenshot."""
        start = time.perf_counter()
        with self.page.expect_navigation(wait_until="load", timeout=TIMEOUT):
            action()
        wall = (time.perf_counter() - start) * 1000
        nav = self.page.evaluate(TIMING) or {}
        self.rows.append((name, wall, nav, target, urlsplit(self.page.url)._replace(scheme="", netloc="").geturl()))
        self.page.screenshot(path=str(ARTIFACTS / f"heavy-walk-{name}.png"))

    def table(self) -> str:
        def ms(value):
            return f"{value:8.0f}" if isinstance(value, (int, float)) and value > 0 else f"{'–':>8}"

        lines = [f"{'step':<22} {'wall ms':>8} {'load ms':>8} {'server':>8} {'resp.end':>8} {'target':>7}  "
                 f"met?    page",
                 f"{'':<22} {'':>8} {'':>8} {'ttfb ms':>8} {'ms':>8}"]
        for name, wall, nav, target, path in self.rows:
            # server: request sent to first byte of the final response (the server's answer time, as seen
            # by the browser); a form's POST and its redirect are both inside the navigation's timings.
            ttfb = nav.get("first_byte", 0) - nav.get("request", 0) if nav.get("first_byte") else None
            verdict = "–" if target is None else ("met" if wall <= target else "missed")
            lines.append(f"{name:<22} {wall:8.0f} {ms(nav.get('load_end'))} {ms(ttfb)} {ms(nav.get('response_end'))} "
                         f"{(f'≤{target}' if target else '–'):>7}  {verdict:<6}  {path}")
        lines.append("wall: from the click to the load event, measured by the test; load/resp.end: the browser's "
                     "Navigation Timing from the navigation's start; targets apply to the wall time.")
        return "\n".join(lines)


def patient_header(page):
    header = page.locator("section.patient")
    header.wait_for(timeout=TIMEOUT)
    assert header.locator("h1").inner_text().startswith(LINDA_NAME), header.locator("h1").inner_text()
    return header


def fetched(page) -> str:
    """The header's "Hämtad YYYY-MM-DD kl. HH:MM" and its "Hämta igen" button."""
    header = patient_header(page)
    line = header.locator(".fetched small")
    assert line.count() == 1, "the patient header says when the information was fetched"
    assert header.get_by_role("button", name="Hämta igen").is_visible()
    m = FETCHED.search(line.inner_text())
    assert m, line.inner_text()
    return m.group(0)


def nav_link(page, name):
    return page.locator("nav.sets-nav").get_by_role("link", name=name, exact=True)


def test_linda_heavy_walk(browser, heavy_server):
    with browser_page(browser, heavy_server, "heavy-walk-end") as page:
        page.set_default_timeout(TIMEOUT)
        page.set_default_navigation_timeout(TIMEOUT)
        walk = Walk(page)
        try:
            log_in(page)
            # The demo's engagement index builds all of a patient's records the first time it is asked for her,
            # and for Linda that can take longer than the demo's 5 s read timeout: that first look then misses
            # every set. Warm the demo producers first (timed, no target), then walk a new look.
            for attempt in range(1, WARM_UPS + 1):
                walk.step(f"warm-up-{attempt}", None, lambda: open_patient(page, LINDA))
                complete = page.locator("section.incomplete").count() == 0
                page.goto("/")
                if complete:
                    break
            # Opening her again is a new look, and its overview the look's one fetch: every producer is asked.
            walk.step("overview-open", OVERVIEW_TARGET, lambda: open_patient(page, LINDA))
            assert page.url.endswith(f"/patient/{LINDA}")
            patient_header(page)
            incomplete = page.locator("section.incomplete")
            assert incomplete.count() == 0, f"the walk's overview is incomplete: {incomplete.all_inner_texts()}"
            overview_fetched = fetched(page)  # every later page must show these same answers
            # The consent form's "Jag har en aktuell patientrelation" attests the relation as well (the same
            # attestation as attest_relation's button, which removes that box from the form): one step for both.
            assert page.locator("form.relation").count() == 1, "her other care units need an attested relation"
            walk.step("overview-consent", OVERVIEW_TARGET, lambda: consent(page))
            assert page.locator("form.relation").count() == 0, "the relation is attested"
            assert page.url.endswith(f"/patient/{LINDA}"), "back to the overview the form was on"
            assert page.get_by_text("Kräver patientens samtycke").count() == 0
            assert fetched(page) == overview_fetched

            walk.step("overview", OVERVIEW_TARGET, lambda: nav_link(page, "Översikt").click())
            assert page.url.endswith(f"/patient/{LINDA}")
            assert fetched(page) == overview_fetched
            assert page.locator("section.set").count() > 0, "the overview shows its information sets"

            notes = page.locator("nav.sets-nav a[href$='/anteckningar']")  # "Journalanteckningar"
            walk.step("set-anteckningar", PAGE_TARGET, lambda: notes.click())
            assert page.url.endswith("/anteckningar")
            assert page.get_by_role("heading", level=2, name="Journalanteckningar").is_visible()
            records = page.locator("table.records tbody tr[data-record]")
            assert records.count() > 0, "the set page lists records"
            assert fetched(page) == overview_fetched

            title = records.first.get_by_role("link").text_content().strip().removeprefix("Visa").strip()
            walk.step("record", PAGE_TARGET, lambda: records.first.get_by_role("link").click())
            record = page.locator("article.record")
            assert record.count() == 1 and record.locator("h2").inner_text().strip(), "the record page shows a record"
            assert record.locator("h2").inner_text().startswith(title[:40]), (title, record.locator("h2").inner_text())
            assert fetched(page) == overview_fetched

            walk.step("timeline", PAGE_TARGET, lambda: nav_link(page, "Tidslinje").click())
            assert page.get_by_role("heading", level=2, name="Tidslinje").is_visible()
            entries = page.locator("ol.timeline li:not(.year)")
            assert entries.count() > 0 and page.locator("ol.timeline a").count() > 0, "the timeline shows entries"
            assert fetched(page) == overview_fetched
            first_url = page.url

            # Its next page: "Nästa" where there are several pages, else another year of the years' navigation.
            nxt = page.locator("nav.pages[aria-label=Sidor] a[rel=next]")
            if nxt.count() == 0:
                nxt = page.locator("nav.years a:not([aria-current])")
            assert nxt.count() > 0, "the timeline offers a next page or another year"
            walk.step("timeline-next", PAGE_TARGET, lambda: nxt.first.click())
            assert page.url != first_url
            assert page.locator("ol.timeline a").count() > 0, "the timeline's next page shows entries"
            assert fetched(page) == overview_fetched

            walk.step("calendar", PAGE_TARGET, lambda: nav_link(page, "Kalender").click())
            month = page.locator("main h2", has_text="Kalender:")
            assert re.fullmatch(r"Kalender: \S.*", month.inner_text()), "the calendar shows a month title"
            this_month = month.inner_text()
            assert fetched(page) == overview_fetched

            walk.step("calendar-prev-month", PAGE_TARGET,
                      lambda: page.get_by_role("link", name="Föregående månad").click())
            assert page.locator("main h2", has_text="Kalender:").inner_text() not in ("", this_month)
            assert fetched(page) == overview_fetched
            calendar_url = page.url

            again = patient_header(page).get_by_role("button", name="Hämta igen")
            walk.step("fetch-again", None, lambda: again.click())
            assert page.url == calendar_url, "Hämta igen comes back to the calendar page it was on"
            assert page.locator("main h2", has_text="Kalender:").inner_text().startswith("Kalender: ")
            fetched(page)  # the header is still there; the minute may be the same as before
        finally:
            table = walk.table()
            print("\nHeavy walk, Linda Johansson (" + LINDA + "):\n" + table, flush=True)
            (ARTIFACTS / "heavy-walk-times.txt").write_text(table + "\n")
