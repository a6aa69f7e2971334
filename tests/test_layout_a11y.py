"""Layout and accessibility of every page state a clinician meets, in Chromium (issue #20, points 7 and 10).

At 1280, 1024 and 768 px (laptop, small laptop, tablet) and at 320 CSS px (WCAG 1.4.10, reflow): no page
scrolls sideways, the header's controls keep to their lines, no card title runs into another, and
axe-core (WCAG 2.1 A/AA and best practice) finds nothing. Screenshots: test-artifacts/layout-*.png.
The focus indicator is measured, not trusted: its computed colour against what it is drawn on (WCAG 1.4.11).
"""

from __future__ import annotations

import re

import pytest

from . import axe
from .test_browser import (ARTIFACTS, browser, consent, demo_server, expect, log_in, open_patient,  # noqa: F401
                           page)

WIDTHS = (1280, 1024, 768, 320)
SHOTS = (1280, 1024, 768)


@pytest.fixture
def server(tmp_path):
    """A demo of each test's own (test_browser's `page` runs on it): a consent or emergency access one test
    registers does not change what the next one is shown."""
    with demo_server(tmp_path) as (url, _):
        yield url


@pytest.fixture
def needs_axe():
    """The layout tests are about accessibility too: without axe-core they skip (locally) or fail (CI=true)."""
    axe.require()


GEOMETRY = """() => {
  const box = e => { const r = e.getBoundingClientRect ? e.getBoundingClientRect() : e;  // an element or a rect
    return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };
  const lines = e => { const r = document.createRange(); r.selectNodeContents(e);
    return new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top))).size; };
  const header = document.querySelector('header.top');
  const q = s => [...header.querySelectorAll(s)];
  return {
    scrollWidth: document.documentElement.scrollWidth, innerWidth: innerWidth,
    wide: [...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > innerWidth + 1)
            .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')),
    row: ['.brand', '.env', 'button'].map(s => header.querySelector(s)).filter(Boolean).map(box),
    tools: q('nav.tools a').map(box),
    controls: q('nav.tools a, button').map(e => [e.textContent.trim(), lines(e)]),
    labels: [...document.querySelectorAll('.filters label[for], .pages label[for]')]
              .map(l => [l.textContent.trim(), box(l), box(document.getElementById(l.htmlFor))]),
    cards: [...document.querySelectorAll('.sets > .set')].map(s => ({card: box(s), title: box(s.querySelector('h2')),
      parts: [...s.querySelectorAll('h2 a, h2 .count')].map(e => [...e.getClientRects()].map(box)), name: s.querySelector('h2').textContent.trim()})),
  };
}"""


def overlap(a, b) -> bool:
    return a["left"] < b["right"] - 1 and b["left"] < a["right"] - 1 and a["top"] < b["bottom"] - 1 and b["top"] < a["bottom"] - 1


def check_state(page, name: str):
    """The page as it is now, at every width: layout asserted, axe run, screenshots at the three wide widths."""
    page.wait_for_load_state("load")
    try:
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            g = page.evaluate(GEOMETRY)
            where = f"{name} at {width} px ({page.url})"
            assert g["scrollWidth"] <= g["innerWidth"], f"{where} scrolls sideways: {g['scrollWidth']} px, {g['wide']}"
            if width >= 768:
                tops = {round(b["top"]) for b in g["tools"]}
                assert len(tops) <= 1, f"{where}: the header's tools wrap onto {len(tops)} lines"
                middles = [(b["top"] + b["bottom"]) / 2 for b in g["row"]]
                assert max(middles) - min(middles) < 4, f"{where}: brand, environment and Logga ut are not on one row"
                wrapped = [text for text, n in g["controls"] if n > 1]
                assert not wrapped, f"{where}: header controls wrap inside themselves: {wrapped}"
            for text, label, control in g["labels"]:  # the filters' and the calendar's: on their control's line
                middle = (label["top"] + label["bottom"]) / 2
                assert control["top"] <= middle <= control["bottom"], f"{where}: {text!r} is not on its control's line"
            for i, c in enumerate(g["cards"]):
                assert c["title"]["right"] <= c["card"]["right"] + 0.5, f"{where}: {c['name']!r} runs out of its card"
                for part in (f for fragments in c["parts"] for f in fragments):  # each line of title and count
                    assert part["right"] <= c["card"]["right"] - 1, f"{where}: {c['name']!r} runs out of its card"
                if len(c["parts"]) == 2:
                    assert not any(overlap(a, b) for a in c["parts"][0] for b in c["parts"][1]), \
                        f"{where}: {c['name']!r}: the count covers the title"
                for other in g["cards"][i + 1:]:
                    assert not overlap(c["title"], other["title"]), f"{where}: {c['name']!r} overlaps {other['name']!r}"
            axe.check(page, where)
            if width in SHOTS:
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / f"layout-{name}-{width}.png"), full_page=True)
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})


@pytest.mark.usefixtures("needs_axe")
def test_layout_of_the_pages_around_a_patient(page):
    """Logged out, choosing an assignment, searching, the tools, an error and a patient not open."""
    page.goto("/")
    check_state(page, "login")
    log_in(page, assignment=None)
    check_state(page, "assignment")
    page.get_by_label(re.compile("Läkare, Gubbängens vårdcentral")).check()
    page.get_by_role("button", name="Fortsätt").click()
    check_state(page, "start")
    for path, name in [("/status", "status"), ("/hjalp", "help"), ("/synpunkter", "feedback")]:
        page.goto(path)
        assert page.locator(f'nav.tools a[href="{path}"]').get_attribute("aria-current") == "page"
        assert page.locator("nav.tools a[aria-current]").count() == 1
        check_state(page, name)
    page.goto("/patient/194602226559/diagnoser")
    assert page.get_by_role("heading", name="Patienten är inte öppen").is_visible()
    check_state(page, "not-open")
    page.goto("/patient/19970106+2383")
    assert page.locator("header.top").get_by_role("button", name="Logga ut").is_visible(), "an error keeps the layout"
    check_state(page, "error")
    page.goto("/")
    open_patient(page, "199008199391")
    assert page.get_by_text("inte tillgänglig för din vårdenhet enligt Tillgänglig patient").is_visible()
    check_state(page, "refused-tgp")


@pytest.mark.usefixtures("needs_axe")
def test_layout_of_fionas_pages(page):
    """Fiona's overview before consent (with the emergency form open) and after, every set, a record, the
    timeline and the calendar; the patient navigation marks the page shown."""
    log_in(page)
    open_patient(page, "199701062383")
    check_state(page, "overview-before-consent")
    page.get_by_text("Visa information från andra vårdgivare").click()
    expect(page.get_by_label("Skäl (obligatoriskt)")).to_be_visible()
    check_state(page, "emergency-form")
    page.get_by_text("Visa information från andra vårdgivare").click()  # closed again: consent() opens it
    consent(page)
    check_state(page, "overview")
    current = page.locator(".sets-nav a[aria-current=page]")
    assert current.count() == 1 and current.inner_text() == "Översikt"
    sets = page.locator(".sets-nav a").evaluate_all("links => links.map(a => [a.getAttribute('href'), a.textContent])")
    assert len(sets) >= 13
    for href, title in sets[3:]:
        page.goto(href)
        assert page.locator(".sets-nav a[aria-current=page]").inner_text() == title
        check_state(page, "set-" + href.rsplit("/", 1)[1])
    page.goto("/patient/199701062383/diagnoser")
    page.locator("table.records a").first.click()
    expect(page.locator("article.record")).to_be_visible()
    check_state(page, "record")
    for link, name in [("Tidslinje", "timeline"), ("Kalender", "calendar")]:
        page.locator(".sets-nav").get_by_role("link", name=link).click()
        assert page.locator(".sets-nav a[aria-current=page]").inner_text() == link
        check_state(page, name)


@pytest.mark.usefixtures("needs_axe")
def test_layout_of_harrys_blocked_information(page):
    """The blocked banners: step 1 (where), then step 2 (open) with its table of places."""
    log_in(page)
    open_patient(page, "194602226559")
    consent(page)
    page.get_by_text("Spärrad information finns", exact=True).click()
    check_state(page, "blocked-step-1")
    page.get_by_label("Patienten samtycker").check()
    page.get_by_role("button", name="Visa var").click()
    expect(page.locator("details.dialog tr", has_text="Västra Götalandsregionen").first).to_be_visible()
    check_state(page, "blocked-step-2")


@pytest.mark.usefixtures("needs_axe")
def test_layout_under_emergency_access(page):
    log_in(page)
    open_patient(page, "199701062383")
    page.get_by_text("Visa information från andra vårdgivare").click()
    page.get_by_label("Skäl (obligatoriskt)").fill("Medvetslös patient på akuten")
    page.get_by_role("button", name="Nödöppna").click()
    expect(page.get_by_text("Du läser information med stöd av nödöppning")).to_be_visible()
    check_state(page, "emergency")


# The focus indicator: what every focusable element shows when reached by keyboard, against what it is on.

FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const s = getComputedStyle(e);
  const opaque = n => { for (; n; n = n.parentElement) { const c = getComputedStyle(n).backgroundColor;
    if (!/rgba\\(.*, 0\\)$/.test(c) && c !== 'transparent') return c; } return getComputedStyle(document.documentElement).backgroundColor; };
  let under = e.parentElement;
  if (['absolute', 'fixed'].includes(s.position)) {   // drawn over something else than its parent: what is there
    const r = e.getBoundingClientRect(), edge = parseFloat(s.outlineOffset) + parseFloat(s.outlineWidth) + 1;
    under = document.elementsFromPoint(Math.max(0, r.left - edge), r.top + r.height / 2).find(n => n !== e && !e.contains(n));
  }
  const name = e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + ' "' + (e.textContent || e.value || '').trim().slice(0, 40) + '"';
  return {name, key: e.outerHTML.slice(0, 200) + e.getBoundingClientRect().top, style: s.outlineStyle,
          width: parseFloat(s.outlineWidth), color: s.outlineColor, background: opaque(under), visible: e.matches(':focus-visible'),
          inMain: !!e.closest('main')};
}"""


# Every background a focused element could be drawn on in main, whether or not one is there today (the emergency
# banner has no control of its own): each block box's own, controls and inline badges apart.
BACKGROUNDS = """() => [...new Set([...document.querySelectorAll('main *')]
  .filter(e => !e.matches('a, button, input, select, textarea, summary, .badge, .count, .visually-hidden, .visually-hidden *')
               && !getComputedStyle(e).display.startsWith('inline') && e.getClientRects().length)
  .map(e => getComputedStyle(e).backgroundColor).filter(c => !/rgba\\(.*, 0\\)$/.test(c)))]"""


def luminance(css: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"[\d.]+", css)[:3])
    return sum(k * (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4) for k, c in zip((0.2126, 0.7152, 0.0722), (r, g, b)))


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_contrast_formula_matches_wcag():
    assert round(contrast("rgb(0, 0, 0)", "rgb(255, 255, 255)"), 1) == 21.0
    assert round(contrast("rgb(255, 191, 71)", "rgb(255, 255, 255)"), 2) == 1.64  # the old #ffbf47 on white


def test_the_focus_check_catches_the_old_yellow_outline(page):
    """The old #ffbf47 outline, put back through the CSS object model (the page's CSP forbids inline style)."""
    log_in(page)
    page.evaluate("document.styleSheets[0].insertRule(':focus-visible { outline-color: #ffbf47 !important }')")
    with pytest.raises(AssertionError, match=r"rgb\(255, 191, 71\) on rgb\(255, 255, 255\) = 1\.64:1"):
        assert_focus_contrast(page, "start with the old outline")


def focus_walk(page) -> list[dict]:
    """Tab round the whole page once, as a keyboard user does: each element reached and its focus style. Tab
    starts where the last click was and passes the browser's own controls (no element) at the end."""
    seen, found, outside = set(), [], 0
    for _ in range(1000):
        page.keyboard.press("Tab")
        f = page.evaluate(FOCUSED)
        if f is None:
            outside += 1
            if outside > 1:
                break
        elif f["key"] in seen:
            break
        else:
            seen.add(f["key"])
            found.append(f)
    return found


def assert_focus_contrast(page, name: str) -> dict[str, float]:
    """Every element reached shows an outline of 2 px or more at 3:1 or more; the lowest ratio per background."""
    found = focus_walk(page)
    assert found, f"{name}: nothing could be reached with Tab"
    bad = [f"{f['name']}: {f['style']} {f['width']}px {f['color']} on {f['background']}"
           f" = {contrast(f['color'], f['background']):.2f}:1" for f in found
           if not f["visible"] or f["style"] in ("none", "hidden") or f["width"] < 2
           or contrast(f["color"], f["background"]) < 3]
    assert not bad, f"{name}: focus indicators under 3:1 (WCAG 1.4.11):\n" + "\n".join(bad)
    outline = {f["color"] for f in found if f["inMain"]}
    assert len(outline) == 1, f"{name}: one focus colour in main, not {outline}"
    (outline,) = outline
    backgrounds = page.evaluate(BACKGROUNDS)
    bad = [f"{b}: {contrast(outline, b):.2f}:1" for b in backgrounds if contrast(outline, b) < 3]
    assert not bad, f"{name}: the focus outline {outline} under 3:1 on backgrounds of the page: {bad}"
    lowest = {}
    for f in found:
        ratio = round(contrast(f["color"], f["background"]), 2)
        lowest[f["background"]] = min(ratio, lowest.get(f["background"], ratio))
    for b in backgrounds:
        lowest.setdefault(b, round(contrast(outline, b), 2))
    return {"elements": len(found), **lowest}


def test_focus_indicator_contrast_on_every_background(page):
    """Header, white page, alert, consent, emergency and blocked banners, set and record pages, calendar."""
    counts = {}
    page.goto("/")
    counts["login"] = assert_focus_contrast(page, "login")
    log_in(page)
    counts["start"] = assert_focus_contrast(page, "start")
    open_patient(page, "194602226559")  # Harry: the withheld banner with its consent and emergency forms
    page.get_by_text("Visa information från andra vårdgivare").click()
    counts["withheld"] = assert_focus_contrast(page, "withheld banner")
    page.get_by_text("Visa information från andra vårdgivare").click()  # closed again: consent() opens it
    consent(page)
    page.get_by_text("Spärrad information finns", exact=True).click()
    page.get_by_label("Patienten samtycker").check()
    page.get_by_role("button", name="Visa var").click()
    counts["blocked"] = assert_focus_contrast(page, "blocked step 2")
    page.get_by_role("link", name="Diagnoser").first.click()
    counts["set"] = assert_focus_contrast(page, "set page")
    page.locator("table.records a").first.click()
    counts["record"] = assert_focus_contrast(page, "record")
    page.locator(".sets-nav").get_by_role("link", name="Kalender").click()
    counts["calendar"] = assert_focus_contrast(page, "calendar")
    page.goto("/")
    open_patient(page, "199701062383")
    page.get_by_text("Visa information från andra vårdgivare").click()
    page.get_by_label("Skäl (obligatoriskt)").fill("Medvetslös patient på akuten")
    page.get_by_role("button", name="Nödöppna").click()
    expect(page.get_by_text("Du läser information med stöd av nödöppning")).to_be_visible()
    counts["emergency"] = assert_focus_contrast(page, "emergency banner")
    page.goto("/status")
    counts["status"] = assert_focus_contrast(page, "status")
    print("focus indicators per page (elements reached; lowest contrast per background):", counts)
    met = {background for page_counts in counts.values() for background in page_counts}
    for what, background in [("the page", "rgb(255, 255, 255)"), ("the header", "rgb(0, 82, 138)"),
                             ("an alert", "rgb(255, 244, 229)"), ("the emergency banner", "rgb(253, 232, 232)")]:
        assert background in met, f"no focusable element was met on {what} ({background}): {sorted(met)}"


