"""Context help: every page has one "Hjälp om den här sidan", written in one place per page or per view.

Over HTTP against the real demo: each page kind's block is its own text (a set page's is that set's view's),
carries no patient data and links /hjalp, which renders the same texts. In Chromium the help opens with the
keyboard alone.
"""

from __future__ import annotations

import html
import re

import pytest

from npo_core import InformationView, hookimpl
from npo_core.contract import default_help
from npo_core.plugins import make_plugin_manager

from . import axe
from .conftest import REPO, login
from .test_browser import ARTIFACTS, browser, browser_page, log_in, open_patient, server  # noqa: F401 (fixtures)

FIONA, MOHAMED = "199701062383", "199008199391"
PATIENT_DATA = ("Fiona", "Andersdotter", FIONA, "19970106-2383", "970106")
HELP = REPO / "plugins" / "ui" / "templates" / "help"
BLOCK = re.compile(r'<details class="page-help".*?</details>', re.S)


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def help_of(page: str) -> str:
    """The page's one help block, as text; fails unless there is exactly one."""
    blocks = BLOCK.findall(page)
    assert len(blocks) == 1, f"{len(blocks)} help blocks"
    assert "<summary>Hjälp om den här sidan</summary>" in blocks[0]
    return text_of(blocks[0])


def anchor_of(page: str) -> str:
    """Where the page's help links into /hjalp."""
    return re.search(r'href="/hjalp#([^"]+)">All hjälp i npo</a>', BLOCK.search(page).group(0)).group(1)


async def get(client, path, status=200) -> str:
    resp = await client.get(path)
    text = await resp.text()
    assert resp.status == status, (path, text[:300])
    return text


def views_of(client) -> list[InformationView]:
    return sorted(client.core.reg.views.values(), key=lambda v: (v.order, v.title))


async def test_every_page_kind_has_one_help_of_its_own(demo):
    anchors = []

    def seen(page: str) -> str:
        anchors.append(anchor_of(page))
        return help_of(page)

    anna = await login(demo, assignment=None)
    helps = {"assignment": seen(await get(demo, "/"))}
    await anna.post("/api/assignment", {"assignment_id": "SE2321000016-1001-U1"})
    helps["start"] = seen(await get(demo, "/"))
    helps["not_open"] = seen(await get(demo, f"/patient/{FIONA}", status=409))
    await anna.post("/api/patient", {"patient_id": FIONA})
    base = f"/patient/{FIONA}"
    helps["overview"] = seen(await get(demo, base))
    helps["timeline"] = seen(await get(demo, f"{base}/tidslinje"))
    helps["calendar"] = seen(await get(demo, f"{base}/kalender"))
    helps["alerts"] = seen(await get(demo, f"{base}/att-uppmarksamma"))
    slug, record = re.search(rf'href="{base}/([a-z]+)/([^"/]+)"', await get(demo, f"{base}/tidslinje")).groups()
    helps["record"] = seen(await get(demo, f"{base}/{slug}/{html.unescape(record)}"))
    helps["status"] = seen(await get(demo, "/status"))
    helps["feedback"] = seen(await get(demo, "/synpunkter"))
    helps["help"] = seen(await get(demo, "/hjalp"))
    helps["error"] = seen(await get(demo, f"{base}/okand", status=404))
    for view in views_of(demo):
        helps[view.slug] = seen(await get(demo, f"{base}/{view.slug}"))

    expected = {"assignment": "Vård och behandling", "start": "Tillgänglig patient", "not_open": "Öppna patienten",
                "overview": "samtycke", "timeline": "Planerad", "calendar": "Föregående månad",
                "record": "Uppgift saknas", "alerts": "registreringar", "status": "logg-id",
                "feedback": "personnummer", "help": "Informationsmängder", "error": "referensen"}
    for kind, words in expected.items():
        assert words in helps[kind], (kind, helps[kind])
    for word in ("nödöppning", "Spärrad information", "Hämta igen", "minst", "loggas"):
        assert word in helps["overview"]
    record_view = demo.core.reg.views[slug]
    assert f"{record_view.title}: {record_view.help}" in helps["record"]  # the record's set, in its view's words
    for view in views_of(demo):
        assert view.help in helps[view.slug], view.slug  # a set page's help is its own view's text ...
        assert not view.help.startswith("Informationsmängden "), f"{view.slug} has only the default help"
        others = [v for v in views_of(demo) if v.slug != view.slug and v.help not in view.help]
        assert not [v.slug for v in others if v.help in helps[view.slug]]  # ... and no other set's
    assert len(set(helps.values())) == len(helps), "a page kind shares another's help"
    index = await get(demo, "/hjalp")
    assert f"hjalp-mangd-{views_of(demo)[0].slug}" in anchors
    assert not [a for a in anchors if f'id="{a}"' not in index], "each help links its own part of /hjalp"
    for kind, text in helps.items():
        assert not [d for d in PATIENT_DATA if d in text], kind


async def test_a_refused_search_and_an_error_keep_their_page_and_its_help(demo):
    """A search refused by TGP is the search page again, with the search's help; another error, the error help."""
    anna = await login(demo)
    resp = await demo.post("/patient", data={"csrf_token": anna.csrf, "patient_id": MOHAMED})
    refused = await resp.text()
    assert resp.status == 403 and help_of(refused) == help_of(await get(demo, "/"))
    assert "Tillgänglig patient" in help_of(refused)
    bad = await get(demo, "/patient/199701062384", status=400)
    assert "referensen" in help_of(bad) and "Logga ut" in bad


async def test_the_help_page_is_an_index_of_the_same_texts(demo):
    await login(demo, patient=FIONA)
    page = await get(demo, "/hjalp")
    index = text_of(re.search(r"<h1 id=\"hjalp-help\">Hjälp</h1>.*</main>", page, re.S).group(0))
    for file in HELP.glob("[!_]*.html"):  # every page's help has its section: a new page's help is listed
        assert file.stem == "help" or f'<section id="hjalp-{file.stem}"' in page, file.name
    base = f"/patient/{FIONA}"
    for path in ("/", base, f"{base}/att-uppmarksamma", f"{base}/tidslinje", f"{base}/kalender", f"{base}/diagnoser",
                 "/status", "/synpunkter"):
        own = help_of(await get(demo, path))
        own = own.removeprefix("Hjälp om den här sidan ").removesuffix(" All hjälp i npo")
        for sentence in re.split(r"(?<=\.) ", own):
            assert sentence in index, (path, sentence)
    for view in views_of(demo):
        assert f"{view.title} {view.help}" in index
    assert index.count("Allt du läser och väljer loggas") == 1, "the texts every patient page shares, once"
    assert not [d for d in PATIENT_DATA if d in index]


class Greetings:
    """A third-party plugin's view that brings no help text."""

    @hookimpl
    def register_views(self, register):
        register(InformationView(slug="halsningar", title="Hälsningar", categorizations=("hel", "hel-x"),
                                 columns=(("Rubrik", lambda r: r.title),)))


class TestAPluginViewWithoutHelp:
    @pytest.fixture
    def pm(self):
        return make_plugin_manager(extra=(Greetings(),))

    async def test_gets_the_default_built_from_its_title_and_types(self, demo):
        view = demo.core.reg.views["halsningar"]
        assert view.help == default_help("Hälsningar", ("hel", "hel-x"))
        assert view.help.startswith("Informationsmängden Hälsningar") and "2 typer" in view.help
        assert "hel" not in view.help.replace("Hälsningar", ""), "no raw code on a page"
        await login(demo, patient=FIONA)
        assert view.help in help_of(await get(demo, f"/patient/{FIONA}/halsningar"))
        assert f"Hälsningar {view.help}" in text_of(await get(demo, "/hjalp"))
        assert "den typen om patienten" in default_help("X", ("x",)), "one type: no count"


# Chromium: the help opens from the keyboard alone, and its layout at three widths.
def test_the_help_opens_with_the_keyboard(browser, server):
    with browser_page(browser, server, "help-keyboard") as page:
        log_in(page)
        open_patient(page, FIONA)
        summary = page.locator("details.page-help > summary")
        for _ in range(30):  # from the top of the page, Tab until the help's summary has the focus
            page.keyboard.press("Tab")
            if summary.evaluate("s => s === document.activeElement"):
                break
        else:
            pytest.fail("Tab never reached Hjälp om den här sidan")
        help_text = page.locator("details.page-help .page-help-text")
        assert not help_text.is_visible(), "collapsed by default"
        page.keyboard.press("Enter")
        assert help_text.is_visible() and "samtycke" in help_text.inner_text()
        box, main = summary.bounding_box(), page.locator("main").bounding_box()
        for width in (1280, 1024, 768):
            page.set_viewport_size({"width": width, "height": 900})
            box, main = page.locator("details.page-help").bounding_box(), page.locator("main").bounding_box()
            assert box["x"] + box["width"] <= main["x"] + main["width"] + 1 and box["y"] < 200, (width, box)
            heading = page.locator("main h1").bounding_box()
            assert heading["y"] >= box["y"] + box["height"], "open, the help pushes the page down, never covers it"
            page.screenshot(path=str(ARTIFACTS / f"help-overview-{width}.png"))
        page.set_viewport_size({"width": 1280, "height": 900})
        axe.check(page, "help-overview-open")
        page.keyboard.press("Tab")  # into the help: its link to the whole help
        assert page.evaluate("document.activeElement.textContent") == "All hjälp i npo"
        page.keyboard.press("Enter")
        page.wait_for_url("**/hjalp#hjalp-patient")
        assert page.locator("#hjalp-patient").is_visible()


def test_a_set_page_help_at_three_widths(browser, server):
    with browser_page(browser, server, "help-set") as page:
        log_in(page)
        open_patient(page, FIONA)
        page.goto(f"/patient/{FIONA}/lakemedel")
        page.locator("details.page-help > summary").focus()
        page.keyboard.press("Enter")
        assert "ordinationskedja" in page.locator("details.page-help").inner_text()
        for width in (1280, 1024, 768):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=str(ARTIFACTS / f"help-set-{width}.png"))
