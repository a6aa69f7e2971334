"""The timeline and the calendar at volume: a year at a time with each year's count, the calendar on the
latest month with events; both read the answers kept for the look at the patient."""

from __future__ import annotations

import datetime as dt
import re

from .conftest import login

LINDA = "189908029805"


async def page(client, path: str) -> str:
    resp = await client.get(path)
    assert resp.status == 200, path
    return await resp.text()


def years_nav(text: str) -> dict[str, int]:
    nav = text[text.index('<nav class="years"'):]
    nav = nav[:nav.index("</nav>")]
    return {label: int(n) for label, n in re.findall(r'>(\d{4}|Utan datum) <small>\((\d+)\)</small>', nav)}


def shown_years(text: str) -> set[str]:
    timeline = text[text.index('<ol class="timeline">'):]
    return set(re.findall(r"<time>(\d{4})-\d\d-\d\d</time>", timeline[:timeline.index("</ol>")]))


async def test_the_timeline_shows_a_year_at_a_time_with_every_years_count(demo):
    anna = await login(demo, patient=LINDA, relation=True)
    await anna.post("/api/consent", {"whole_unit": True, "days": 1}, expect=None)
    dated = [r for r in (await anna.records())["records"] if r["time"]]
    text = await page(demo, f"/patient/{LINDA}/tidslinje")
    counts = years_nav(text)
    assert len(counts) > 5 and sum(counts.values()) == len(dated)  # every shown event counted once
    latest = max(counts)
    assert shown_years(text) == {latest} and 'aria-current="page">' + latest in text
    assert f"{counts[latest]} poster år {latest}" in text
    older = min(year for year, n in counts.items() if n > 50 and year != latest)  # more than one page
    text = await page(demo, f"/patient/{LINDA}/tidslinje?ar={older}&page=2")
    assert shown_years(text) == {older} and f"{counts[older]} poster år {older}, sida 2 av" in text
    every = await page(demo, f"/patient/{LINDA}/tidslinje?ar=alla")
    assert f"{len(dated)} poster" in every and len(shown_years(every)) >= 1
    assert shown_years(await page(demo, f"/patient/{LINDA}/tidslinje?ar=1066")) == {latest}  # no such year


async def test_the_calendar_opens_on_the_latest_month_with_events(demo):
    anna = await login(demo, patient=LINDA, relation=True)
    now = dt.datetime.now(dt.timezone.utc)  # planned (booked) events do not count: they have not happened
    latest = max(r["time"] for r in (await anna.records())["records"]
                 if r["time"] and dt.datetime.fromisoformat(r["time"]) <= now)[:7]
    text = await page(demo, f"/patient/{LINDA}/kalender")
    assert f'href="?month={latest}" aria-current="page"' in text  # it is this month, marked in the month strip
    month = int(latest[5:7])
    names = ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
             "november", "december"]
    assert f"{names[month - 1]} {latest[:4]}" in text
    assert 'class="event' in text
