"""The timeline and the calendar for real volumes: jump by year and by month with each period's count, planned
(booked, not yet happened) events apart and marked "Planerad", the calendar on the latest month that has
happened, with the months that have events marked and each event named by its information set."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

import pytest

from npo_core import SWEDEN
from npo_core.demo.platform import make_platform
from npo_core.plugins import collect

from .conftest import login
from .test_browser import (ARTIFACTS, browser, browser_page, consent, expect, log_in,  # noqa: F401 (fixtures)
                           open_patient, server)

EGON, LINDA = "193601286499", "189908029805"  # Egon has every variant: booked contacts too
MONTHS = ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
          "november", "december"]


@pytest.fixture
async def platform(aiohttp_server, pm):
    """The demo dated from today, as `npo demo` is: its booked contacts lie ahead of the clock the view reads."""
    return await aiohttp_server(make_platform(collect(pm).contracts, today=dt.date.today()))


async def page(client, path: str) -> str:
    resp = await client.get(path)
    assert resp.status == 200, path
    return await resp.text()


def nav(text: str, label: str) -> str:
    start = text.index(f'aria-label="{label}"')
    return text[start:text.index("</nav>", start)]


def counts(html_part: str) -> dict[str, int]:
    """A period navigation as {link text: count}."""
    return {name: int(n) for name, n in re.findall(r'>([^<>]+?) <small>\((\d+)\)</small>', html_part)}


def timeline_items(text: str) -> list[str]:
    part = text[text.index('<ol class="timeline">'):]
    return part[:part.index("</ol>")].split("<li")[1:]


async def records_of(demo, pid: str) -> list[dict]:
    anna = await login(demo, patient=pid, relation=True)
    await anna.post("/api/consent", {"whole_unit": True, "days": 1}, expect=None)
    return [r for r in (await anna.records(detail=False))["records"] if r["time"]]


def local(r: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(r["time"]).astimezone(SWEDEN)


async def test_lindas_thousands_of_events_are_a_few_clicks_away_by_year_and_month(demo):
    now = dt.datetime.now(dt.timezone.utc)
    past = [r for r in await records_of(demo, LINDA) if dt.datetime.fromisoformat(r["time"]) <= now]
    text = await page(demo, f"/patient/{LINDA}/tidslinje")
    year = max(str(local(r).year) for r in past)
    assert counts(nav(text, "År"))[year] == sum(str(local(r).year) == year for r in past)
    months = counts(nav(text, f"Månader {year}"))
    expected = Counter(MONTHS[local(r).month - 1] for r in past if str(local(r).year) == year)
    assert months == dict(expected)  # only months with events, each with its count
    assert 'aria-current="page">Hela ' + year in text  # the whole year until a month is chosen
    name, n = max(expected.items(), key=lambda kv: kv[1])
    number = f"{MONTHS.index(name) + 1:02d}"
    link = re.search(rf'href="(\?[^"]*man={number}[^"]*)"', nav(text, f"Månader {year}")).group(1)
    link = link.replace("&amp;", "&")
    month_page = await page(demo, f"/patient/{LINDA}/tidslinje{link}")
    assert f"{n} poster i {name} {year}" in month_page
    assert f'aria-current="page">{name} <small>' in month_page
    shown = re.findall(r"<time>(\d{4}-\d\d)-\d\d</time>", "".join(timeline_items(month_page)))
    assert shown and set(shown) == {f"{year}-{number}"}
    pages, year_pages, all_pages = (max(-(-c // 50) for c in expected.values()), -(-sum(expected.values()) // 50),
                                    -(-len(past) // 50))
    print(f"Linda: {len(past)} events that have happened ({all_pages} pages of 50); {year}: {year_pages} pages, "
          f"its busiest month {pages}")
    assert pages < year_pages < all_pages  # a month is a few pages where the year and the whole are many


async def test_planned_events_are_marked_and_listed_apart_soonest_first(demo):
    now = dt.datetime.now(dt.timezone.utc)
    records = await records_of(demo, EGON)
    planned = sorted((r for r in records if dt.datetime.fromisoformat(r["time"]) > now), key=lambda r: r["time"])
    assert planned, "the demo books contacts ahead of today"
    text = await page(demo, f"/patient/{EGON}/tidslinje")
    assert counts(nav(text, "År"))["Planerade"] == len(planned)
    start = text.index('<section class="planned"')
    section = text[start:text.index("</section>", start)]
    assert f"Planerade <small>({len(planned)})</small>" in section
    assert section.count('<span class="badge planned">Planerad</span>') == min(5, len(planned))
    assert re.findall(r"<time>([\d-]+)</time>", section) == [local(r).strftime("%Y-%m-%d") for r in planned][:5]
    # The year below holds only what has happened: a booked visit is never taken for the latest event.
    assert all("Planerad</span>" not in item for item in timeline_items(text))
    only = await page(demo, f"/patient/{EGON}/tidslinje?ar=planerade")
    assert f"{len(planned)} poster planerade" in only and '<section class="planned"' not in only
    items = timeline_items(only)
    assert sum("Planerad</span>" in i for i in items) == len(planned)
    every = timeline_items(await page(demo, f"/patient/{EGON}/tidslinje?ar=alla"))
    assert "<h3>Planerade</h3>" in every[0] and all("Planerad</span>" in i for i in every[1:len(planned) + 1])
    assert "Planerad</span>" not in every[len(planned) + 1] or len(every) == len(planned) + 1


async def test_the_calendar_opens_on_the_latest_month_that_has_happened_and_marks_the_months(demo):
    now = dt.datetime.now(dt.timezone.utc)
    records = await records_of(demo, EGON)
    latest = max(local(r) for r in records if dt.datetime.fromisoformat(r["time"]) <= now)
    text = await page(demo, f"/patient/{EGON}/kalender")
    assert f"Kalender: {MONTHS[latest.month - 1]} {latest.year}" in text
    strip = nav(text, f"Månader {latest.year}")
    per_month = Counter(local(r).month for r in records if local(r).year == latest.year)
    for number, name in enumerate(MONTHS, 1):
        value = f"{latest.year}-{number:02d}"
        if per_month[number]:
            assert f'href="?month={value}"' in strip and f"{name} <small>({per_month[number]})</small>" in strip
        else:
            assert f'?month={value}"' not in strip and f'<span class="empty">{name}</span>' in strip
    assert f'href="?month={latest:%Y-%m}" aria-current="page"' in strip
    years = counts(nav(text, "År med händelser"))
    assert years == {str(y): n for y, n in Counter(local(r).year for r in records).items()}
    # Each event names its information set; the booked ones are marked.
    assert re.search(r'<li class="event"><span class="kind">[^<]+</span>', text)
    planned = [r for r in records if dt.datetime.fromisoformat(r["time"]) > now]
    ahead = await page(demo, f"/patient/{EGON}/kalender?month={local(planned[0]):%Y-%m}")
    assert '<li class="event planned"><span class="kind">Vårdkontakter</span> <span class="badge planned">Planerad' \
        in ahead
    main = text[text.index("<main"):text.index("</main>")]
    for href in re.findall(r'href="([^"]+)"', main):  # the page is the patient
        assert href == f"/patient/{EGON}" or href.startswith(("?", f"/patient/{EGON}/", "#", "/hjalp")), href


async def test_an_unknown_period_falls_back_to_the_latest_year(demo):
    await records_of(demo, EGON)
    text = await page(demo, f"/patient/{EGON}/tidslinje?ar=2999&man=13")
    assert 'aria-current="page">Hela ' in text and '<section class="planned"' in text


# -- in Chromium ------------------------------------------------------------------------------------------------

WIDTHS = (1280, 1024, 768)


def shots(page, what: str) -> None:
    """The page at each width, for the layout's evidence; the period navigation never wider than the window."""
    ARTIFACTS.mkdir(exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for box in (page.locator(sel).bounding_box() for sel in ("nav.years >> nth=0", "nav.months")):
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (what, width, box)
        page.screenshot(path=str(ARTIFACTS / f"timeline-{what}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_timeline_and_calendar_in_chromium(browser, server):
    with browser_page(browser, server, "timeline-egon") as page:
        log_in(page)
        open_patient(page, EGON)
        consent(page)
        page.get_by_role("link", name="Tidslinje").click()
        planned = page.locator("section.planned")
        expect(planned.get_by_role("heading", name=re.compile(r"^Planerade \(\d+\)$"))).to_be_visible()
        assert planned.locator(".badge.planned").first.inner_text() == "Planerad"
        years = page.get_by_role("navigation", name="År")
        expect(years.get_by_role("link", name=re.compile(r"^Planerade \(\d+\)$"))).to_be_visible()
        current = years.locator("[aria-current=page]")
        assert re.fullmatch(r"\d{4} \(\d+\)", current.inner_text())
        year = current.inner_text()[:4]
        assert page.locator("ol.timeline:not(.planned) .badge.planned").count() == 0  # the year: what has happened
        shots(page, "egon")
        months = page.get_by_role("navigation", name=f"Månader {year}")
        first = months.get_by_role("link").first
        name = first.inner_text().split(" (")[0]
        first.focus()
        page.keyboard.press("Enter")  # by keyboard
        expect(months.locator("[aria-current=page]")).to_have_text(re.compile(rf"^{name} \(\d+\)$"))
        expect(page.locator(".count-line")).to_contain_text(f"i {name} {year}")
        page.get_by_role("link", name="Kalender").click()
        strip = page.locator("nav.months")
        expect(strip.locator("[aria-current=page]")).to_be_visible()
        assert page.locator("table.calendar li.event .kind").count() > 0  # each event names its set
        shots(page, "calendar")
        ahead = page.get_by_role("navigation", name="År med händelser").get_by_role("link").first
        ahead.click()  # the latest year: where the booked contacts are
        booked = page.locator("table.calendar li.event.planned")
        if booked.count() == 0:  # the booked month may be later in that year: the strip's last month with events
            strip.get_by_role("link").last.click()
        expect(page.locator("table.calendar li.event.planned .badge.planned").first).to_have_text("Planerad")
        shots(page, "calendar-planned")


def test_lindas_timeline_by_month_in_chromium(browser, server):
    with browser_page(browser, server, "timeline-linda") as page:
        log_in(page)
        open_patient(page, LINDA)  # her own care unit's events are thousands already
        page.get_by_role("link", name="Tidslinje").click()
        year = page.get_by_role("navigation", name="År").locator("[aria-current=page]").inner_text()[:4]
        months = page.get_by_role("navigation", name=f"Månader {year}")
        link = months.get_by_role("link").nth(0)
        label = link.inner_text()
        link.click()
        name, count = re.fullmatch(r"(\w+) \((\d+)\)", label).groups()
        expect(page.locator(".count-line")).to_contain_text(f"{count} poster i {name} {year}")
        dates = page.locator("ol.timeline time").all_inner_texts()
        assert dates and all(d.startswith(f"{year}-{MONTHS.index(name) + 1:02d}") for d in dates)
        shots(page, "linda")
