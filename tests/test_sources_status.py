"""The sources table folded into one exact line, and driftsstatus that names things (issue #20 point 6).

The summary line is checked against what the JSON API says each source did, on the real demo with
faulty producers; the monitor's hour and day error rates against a controlled sequence of outcomes
(its clock is a parameter); the layout in Chromium, with screenshots `sources-*` at three widths.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import tracemalloc
from collections import Counter
from types import SimpleNamespace

import pytest

from npo_core.fetch import Monitor, SourceStatus
from npo_plugins.ui.web import _percent, sources_summary

from .conftest import login
from .test_browser import (ARTIFACTS, TAKECARE as TKC, browser, browser_page, consent, expect,  # noqa: F401
                           faulty_server, log_in, open_patient, server)
from .test_web_view import FIONA, MILLENNIUM, TAKECARE, faulty  # noqa: F401 (faulty: a fixture)
from .test_web_view import page as fetch

T = dt.datetime(2026, 12, 3, 16, 0, tzinfo=dt.timezone.utc).timestamp()  # 17:00 in Sweden
MINUTE, HOUR = 60, 3600


def status(state: str, address: str = TAKECARE, contract: str = "GetDiagnosis:2", **names) -> SourceStatus:
    return SourceStatus(address, names.get("source", "TakeCare"), names.get("provider", "Region Stockholm"),
                        contract, state, seconds=0.01, care_provider_id="SE2321000016-F0VB")


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split()).replace(" ,", ",").replace(" .", ".")


def sources_section(page_html: str) -> str:
    return re.search(r'<section class="sources".*?</section>', page_html, re.S).group(0)


def summary_line(page_html: str) -> str:
    return text_of(re.search(r'<span class="sources-line">(.*?)</span>\s*<span class="sources-toggle">',
                             sources_section(page_html), re.S).group(1))


# -- the monitor ---------------------------------------------------------------------------------------

def test_error_rates_over_the_last_hour_and_day_from_a_controlled_sequence():
    now = [T]
    monitor = Monitor(clock=lambda: now[0])
    for when, states in [(T - 25 * HOUR, ["error"] * 10),  # over a day ago: only in the totals
                         (T - 2 * HOUR, ["error", "error", "error", "ok"]),  # the day, not the hour
                         (T - 61 * MINUTE, ["ok"]),
                         (T - 59 * MINUTE, ["error"]),  # the hour
                         (T - 10, ["ok", "ok", "timeout"])]:
        now[0] = when
        for state in states:
            monitor.record(status(state))
    now[0] = T - 5
    monitor.record(status("ok", contract="GetCareContacts:3"))  # another contract: counted on its own
    now[0] = T
    diagnoses, contacts = sorted(monitor.summary(), key=lambda s: s["contract"], reverse=True)
    assert diagnoses["last_hour"] == {"calls": 4, "errors": 2, "error_rate": 0.5}
    assert diagnoses["last_day"] == {"calls": 9, "errors": 5, "error_rate": round(5 / 9, 4)}
    assert (diagnoses["calls"], diagnoses["errors"], diagnoses["error_rate"]) == (19, 15, round(15 / 19, 4))
    assert contacts["last_hour"] == contacts["last_day"] == {"calls": 1, "errors": 0, "error_rate": 0.0}
    assert diagnoses["last_success"] == "2026-12-03T16:59:50+01:00"  # Swedish time, in ISO 8601 for machines
    assert diagnoses["last_problem"]["time"] == "2026-12-03T16:59:50+01:00"
    assert diagnoses["last_problem"]["status"] == "timeout"
    def diagnoses_at(moment):
        return next(s for s in monitor.summary(now=moment) if s["contract"] == "GetDiagnosis:2")

    later = diagnoses_at(T + 2 * HOUR)  # nothing in the last hour: no rate, not "0 %"
    assert later["last_hour"] == {"calls": 0, "errors": 0, "error_rate": None}
    assert later["last_day"]["calls"] == 9
    assert diagnoses_at(T + 26 * HOUR)["last_day"]["calls"] == 0


def test_a_minute_a_day_later_starts_afresh():
    now = [T]
    monitor = Monitor(clock=lambda: now[0])
    monitor.record(status("error"))
    now[0] = T + 24 * HOUR  # the same slot of the day's ring
    monitor.record(status("ok"))
    [row] = monitor.summary()
    assert row["last_day"] == row["last_hour"] == {"calls": 1, "errors": 0, "error_rate": 0.0}
    assert row["calls"] == 2


def test_the_monitor_is_bounded_however_many_calls_it_sees():
    now = [T]
    monitor = Monitor(clock=lambda: now[0])
    answer = status("ok")

    def a_day_of_calls(day: int):
        for i in range(8640):  # one call every 10 seconds
            now[0] = T + day * 24 * HOUR + i * 10
            monitor.record(answer)

    a_day_of_calls(0)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for day in (1, 2):
        a_day_of_calls(day)
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename")
                if s.traceback[0].filename.endswith("fetch.py"))
    tracemalloc.stop()
    [row] = monitor.summary()
    assert row["calls"] == 3 * 8640 and row["last_day"]["calls"] == 8640
    assert grown < 4096, f"the monitor grew by {grown} bytes in two days of calls"


def test_names_come_from_the_answer_and_fall_back_to_ids():
    monitor = Monitor()
    monitor.record(status("ok"))
    monitor.record(status("error", address="SE-UNKNOWN", source="", provider=""))
    named, unnamed = sorted(monitor.summary(), key=lambda s: s["logical_address"] != TAKECARE)
    assert (named["source_name"], named["care_provider_name"]) == ("TakeCare", "Region Stockholm")
    assert (unnamed["source_name"], unnamed["care_provider_name"]) == ("SE-UNKNOWN", "SE2321000016-F0VB")


@pytest.mark.parametrize("rate, shown", [(0.025, "2,5 %"), (1 / 3, "33,3 %"), (0.0, "0 %"), (1.0, "100 %"),
                                         (0.5, "50 %"), (None, "–")])
def test_percentages_in_swedish(rate, shown):
    assert _percent(rate) == shown


# -- the summary line ----------------------------------------------------------------------------------

@pytest.mark.parametrize("states, hidden, line", [
    (["ok"] * 63 + ["timeout", "error"], None, "63 källor svarade, 1 svarade med fel, 1 svarade inte i tid"),
    (["ok"], {"count": 1, "failed": 0}, "1 källa svarade, 1 källa hos en annan vårdgivare svarade"),
    (["error"], {"count": 1, "failed": 1},
     "1 källa svarade med fel, 1 källa hos en annan vårdgivare svarade inte fullständigt"),
    (["info", "cut", "cut", "invalid", "warning"], {"count": 12, "failed": 2},
     "1 källa svarade, 1 svarade med delar som inte kunde läsas, 2 skickade bara en del av svaret, "
     "1 gav ett ogiltigt svar, 12 källor hos andra vårdgivare, varav 2 svarade inte fullständigt"),
    (["timeout", "timeout"], None, "2 källor svarade inte i tid"),
    ([], None, ""),
])
def test_the_summary_counts_exactly_and_says_what_failed(states, hidden, line):
    summary = sources_summary(SimpleNamespace(sources=[status(s) for s in states], hidden_sources=hidden))
    assert ", ".join(text for text, _ in summary["parts"]) == line
    assert summary["failed"] == any(failed for _, failed in summary["parts"])
    assert summary["failed"] == (any(s not in ("ok", "info") for s in states) or bool(hidden and hidden["failed"]))


async def test_the_overview_folds_the_sources_when_all_answered(demo):
    anna = await login(demo, patient=FIONA)
    result = await anna.records()
    assert result["complete"]
    text = await fetch(demo, f"/patient/{FIONA}")
    section = sources_section(text)
    assert '<details class="sources-list">' in section, "folded: nothing failed"
    hidden = result["hidden_sources"]["count"]
    assert summary_line(text) == f"{len(result['sources'])} källor svarade, {hidden} källor hos andra vårdgivare svarade."
    table = re.search(r'<div class="table-scroll"[^>]*>\s*<table>.*?</table>\s*</div>', section, re.S)
    assert table, "the table scrolls in its own box"
    rows = re.findall(r'<tr class="[^"]*" data-source="([^"]+)"', table.group(0))
    assert Counter(rows) == Counter(
        [s["logical_address"] for s in result["sources"]] + ["hidden"]), "every row is still there"
    titles = {c["id"]: c["title"] for c in demo.core.registry.contract_rows("demo")}
    for s in result["sources"]:  # each contract by its Swedish name, its id beside it
        assert f"<td>{html.escape(titles[s['contract']])} <small>{s['contract']}</small></td>" in table.group(0)


async def test_a_failure_is_said_in_the_summary_and_opens_the_table(faulty):
    demo = await faulty({TAKECARE: "http500", MILLENNIUM: "slow"})
    anna = await login(demo, patient=FIONA, relation=True)
    await anna.post("/api/consent", {"days": 1}, expect=201)
    result = await anna.records()
    states = Counter(s["status"] for s in result["sources"])
    assert states["error"] and states["timeout"] and not result["hidden_sources"]
    text = await fetch(demo, f"/patient/{FIONA}")
    section = sources_section(text)
    assert '<details class="sources-list failed" open>' in section, "opened: something failed"
    answered = states["ok"] + states["info"]
    assert summary_line(text) == (f"{answered} källor svarade, {states['error']} svarade med fel, "
                                  f"{states['timeout']} svarade inte i tid.")
    assert re.search(r'<strong class="gap">\d+ svarade med fel</strong>', section), "the failure stands out"
    rows = re.findall(r'<tr class="status-(\w+)" data-source="([^"]+)"', section)
    failed = len(result["sources"]) - answered
    assert {state for state, _ in rows[:failed]} == {"error", "timeout"}, "the failures first"
    assert {address for _, address in rows[:failed]} == {TAKECARE, MILLENNIUM}
    # Before a basis, another provider's failing source is counted, never named, and still opens the table.
    other = await faulty({MILLENNIUM: "http500"})
    await login(other, patient=FIONA)
    text = await fetch(other, f"/patient/{FIONA}")
    assert '<details class="sources-list failed" open>' in text and "Millennium" not in sources_section(text)
    assert re.search(r"källor hos andra vårdgivare, varav \d+ svarade inte fullständigt\.$", summary_line(text))


# -- driftsstatus --------------------------------------------------------------------------------------

async def test_driftsstatus_names_sources_in_swedish_time_with_hour_and_day_rates(faulty):
    demo = await faulty({TAKECARE: "http500"})
    now = [T - 2 * HOUR]
    demo.core.monitor = Monitor(clock=lambda: now[0])  # what the fan-out records into, on a clock of ours
    anna = await login(demo, patient=FIONA)
    await anna.records()  # two hours ago: in the day, not the hour
    now[0] = T - 30
    await anna.get("/api/records?fresh=1")  # asks the producers again
    now[0] = T
    api = await anna.get("/api/status")
    rows = [s for s in api["sources"] if s["logical_address"] == TAKECARE]
    assert rows and all(r["last_hour"] == {"calls": 1, "errors": 1, "error_rate": 1.0}
                        and r["last_day"] == {"calls": 2, "errors": 2, "error_rate": 1.0}
                        and (r["source_name"], r["care_provider_name"]) == ("TakeCare", "Region Stockholm")
                        and r["last_problem"]["time"] == "2026-12-03T16:59:30+01:00" for r in rows)
    text = await fetch(demo, "/status")
    titles = {c["id"]: c["title"] for c in demo.core.registry.contract_rows("demo")}
    for r in rows:
        row = re.search(rf'<tr data-source="{TAKECARE}" data-contract="{re.escape(r["contract"])}">(.*?)</tr>',
                        text, re.S).group(1)
        cells = [text_of(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        assert cells[:3] == [f"TakeCare {TAKECARE}", "Region Stockholm SE2321000016-F0VB",
                             f"{titles[r['contract']]} {r['contract']}"]
        assert cells[3:6] == ["100 % 1 av 1 anrop", "100 % 2 av 2 anrop", "2 100 % fel"]
        assert cells[6] == "Aldrig" and cells[8].startswith("2026-12-03 kl. 16:59: Fel")
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", text), "no raw ISO time stamps"
    for heading in ("Källsystem", "Vårdgivare", "Tjänstekontrakt", "Fel senaste timmen", "Fel senaste dygnet"):
        assert f'<th scope="col">{heading}</th>' in text
    assert '<div class="table-scroll" role="region" aria-labelledby="status-h" tabindex="0">' in text


# -- in Chromium ---------------------------------------------------------------------------------------

WIDTHS = (1280, 1024, 768)


def overflows(page, selector: str) -> bool:
    """Whether the element is wider inside than its box: what makes a page scroll sideways."""
    return page.locator(selector).evaluate("e => e.scrollWidth > e.clientWidth + 1")


def test_the_sources_fold_to_one_line_and_open_on_the_table(browser, server):
    with browser_page(browser, server, "sources-overview") as page:
        log_in(page)
        open_patient(page, FIONA)
        sources = page.locator("section.sources")
        line = sources.locator("summary .sources-line")
        expect(line).to_have_text(re.compile(r"^\d+ källor svarade, \d+ källor hos andra vårdgivare svarade\.$"))
        assert sources.locator("details").get_attribute("open") is None
        assert not sources.locator("tbody tr").first.is_visible(), "folded: the rows are not shown"
        consent(page)  # every provider's sources: the table the issue saw under every page
        page.wait_for_load_state("load")
        expect(line).to_have_text(re.compile(r"^\d{2} källor svarade\.$"))
        folded = {}
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            folded[width] = page.evaluate("document.documentElement.scrollHeight")
            page.screenshot(path=str(ARTIFACTS / f"sources-collapsed-{width}.png"), full_page=True)
        sources.locator("summary").click()
        expect(sources.locator(f"tr[data-source={TKC}]").first).to_be_visible()
        assert sources.locator("tbody tr").count() >= 5
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            opened = page.evaluate("document.documentElement.scrollHeight")
            assert opened > folded[width] + 200, (width, folded[width], opened)
            print(f"overview height at {width}px: folded {folded[width]} px, opened {opened} px")
            sources.screenshot(path=str(ARTIFACTS / f"sources-expanded-{width}.png"))
        page.set_viewport_size({"width": 320, "height": 700})  # WCAG 1.4.10: the table scrolls, not the page
        assert overflows(page, "section.sources .table-scroll") and not overflows(page, "section.sources")
        box = sources.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 320
        page.set_viewport_size({"width": 1280, "height": 900})


def test_a_failing_source_opens_the_table_and_stands_out(browser, faulty_server):
    with browser_page(browser, faulty_server, "sources-failed") as page:
        log_in(page)
        open_patient(page, FIONA)
        sources = page.locator("section.sources")
        assert sources.locator("details").get_attribute("open") == ""
        failure = sources.locator("summary strong.gap", has_text="svarade med fel")
        expect(failure).to_be_visible()
        color = failure.evaluate("e => getComputedStyle(e).color")
        assert color == "rgb(160, 0, 0)", color  # --danger
        first = sources.locator("tbody tr").first
        assert first.get_attribute("data-source") == TKC and "status-error" in first.get_attribute("class")
        expect(first).to_be_visible()
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            sources.screenshot(path=str(ARTIFACTS / f"sources-failed-{width}.png"))
        page.set_viewport_size({"width": 1280, "height": 900})


def test_driftsstatus_in_chromium(browser, server):
    with browser_page(browser, server, "sources-status") as page:
        log_in(page)
        open_patient(page, FIONA)
        page.goto("/status")
        row = page.locator(f"tr[data-source={TKC}]").first
        expect(row.locator("td").nth(0)).to_have_text(f"TakeCare{TKC}")
        expect(row.locator("td").nth(1)).to_have_text("Region StockholmSE2321000016-F0VB")
        expect(row.locator("td.hour")).to_have_text(re.compile(r"^0 %\d+ av \d+ anrop$"))
        expect(row.locator("td").nth(6)).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d kl\. \d\d:\d\d$"))
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            assert not overflows(page, "main"), f"the status table widens the page at {width} px"
            page.screenshot(path=str(ARTIFACTS / f"sources-status-{width}.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})
