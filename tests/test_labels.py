"""Every code a clinician can see has a Swedish name: no raw information type, status or OID reaches a page.

The walk reads every page of every demo patient over HTTP (the overview, each information set, a sample of
each set's records, the timeline with each of its filters and periods, the calendar, driftsstatus, help)
and looks at the visible text only: a code in an attribute (an option's value, a link) is the page's own."""

from __future__ import annotations

import logging
import re
import urllib.parse

import pytest
from lxml import html

from npo_core import InformationView
from npo_core.labels import STATUSES, TYPES, Labels

from .conftest import login

PATIENTS = ["199701062383", "193601286499", "194602226559", "189908029805", "199008199391"]
OID = re.compile(r"(?<![\d.])[0-2](?:\.\d+){4,}(?![\d.])")
RECORDS_PER_SET = 3


def visible_texts(body: str) -> list[str]:
    """Each text node of the page as the clinician sees it: no tags, no attributes, no script or style."""
    doc = html.fromstring(body)
    for hidden in doc.xpath("//script|//style|//template"):
        hidden.drop_tree()
    return [t.strip() for el in doc.iter() for t in (el.text, el.tail) if t and t.strip()]


def raw_codes(body: str, codes: set[str]) -> set[str]:
    """The raw codes shown: a text that is a code by itself (a cell, an option, a badge), a hyphenated
    categorization anywhere (no Swedish word looks like "und-bdi-ure"), a code in brackets after its words
    ("Slutförd (completed, ...)"; also the fallback "Okänd typ (xyz)": every demo code has a name), any OID."""
    found = set()
    for text in visible_texts(body):
        if text in codes:
            found.add(text)
        found.update(c for c in codes if ("-" in c and re.search(rf"(?<![\w-]){re.escape(c)}(?![\w-])", text))
                     or re.search(rf"\({re.escape(c)}[,)]", text))
        found.update(OID.findall(text))
    return found


async def walk(demo) -> dict[str, set[str]]:
    """Every page of every demo patient: {path: the raw codes it shows}."""
    core = demo.core
    codes = set(TYPES) | set(STATUSES) | {c for con in core.reg.contracts.values() for c in con.categorizations}
    codes |= {c for view in core.reg.views.values() for c in view.categorizations}
    shown: dict[str, set[str]] = {}
    seen: set[str] = set()

    async def get(path: str, *, ok=(200,)) -> str:
        if path in seen:
            return ""
        seen.add(path)
        resp = await demo.get(path)
        body = await resp.text()
        assert resp.status in ok, (path, resp.status)
        shown[path] = raw_codes(body, codes)
        return body

    def hrefs(body: str, prefix: str) -> list[str]:
        return [h.replace("&amp;", "&") for h in re.findall(rf'href="({re.escape(prefix)}[^"]*)"', body)]

    for pid in PATIENTS:
        anna = await login(demo)
        await anna.post("/api/patient", {"patient_id": pid}, expect=None)
        if anna.patient != pid:  # refused (Mohamed's TGP): the refusal is a page too
            await get(f"/patient/{pid}", ok=(200, 403, 409))
            continue
        await anna.post("/api/relation")
        await anna.post("/api/consent", {"whole_unit": True, "days": 1}, expect=None)
        base = f"/patient/{pid}"
        await get(base)
        for view in core.reg.views.values():
            body = await get(f"{base}/{view.slug}")
            for link in list(dict.fromkeys(hrefs(body, f"{base}/{view.slug}/")))[:RECORDS_PER_SET]:
                await get(link)
        timeline = await get(f"{base}/tidslinje")
        kinds = set(re.findall(r'<option value="([^"]+)"', timeline.split('id="f-type"')[1].split("</select>")[0])) \
            if 'id="f-type"' in timeline else set()
        for kind in sorted(kinds):
            await get(f"{base}/tidslinje?ar=alla&type={urllib.parse.quote(kind)}")
        for link in hrefs(timeline, "?")[:12]:  # the periods: planned, years, months
            await get(f"{base}/tidslinje{link}")
        calendar = await get(f"{base}/kalender")
        for link in hrefs(calendar, "?month=")[:6]:
            await get(f"{base}/kalender{link}")
    await get("/status")
    await get("/hjalp")
    return shown


async def test_no_raw_code_reaches_a_page(demo):
    shown = await walk(demo)
    assert len(shown) > 100  # every patient's pages were read, not just a few
    leaks = {path: codes for path, codes in shown.items() if codes}
    assert not leaks, leaks


async def test_the_timeline_names_every_information_type_in_swedish(demo):
    """The "Typ" filter is where raw codes used to show: each option is named, in the order of its name."""
    await login(demo, patient="193601286499", relation=True)
    text = await (await demo.get("/patient/193601286499/tidslinje?ar=alla")).text()
    select = text.split('id="f-type"')[1].split("</select>")[0]
    names = re.findall(r'<option value="[^"]+"[^>]*>([^<]+)</option>', select)
    assert "Diagnoser" in names and "Funktionsbedömning" in names and "Åtgärder" in names, names
    assert names == sorted(names) and not any(n.startswith("Okänd") for n in names)


def test_an_unknown_code_says_what_it_is_and_is_logged_once(caplog):
    labels = Labels()
    with caplog.at_level(logging.WARNING, logger="npo.labels"):
        assert labels.label("type", "xyz-abc") == "Okänd typ (xyz-abc)"
        assert labels.label("type", "xyz-abc") == "Okänd typ (xyz-abc)"
        assert labels.label("system", "1.2.3.4.5.6") == "Okänt kodverk (1.2.3.4.5.6)"
    logged = [r.getMessage() for r in caplog.records]
    assert logged.count("No Swedish label for type code 'xyz-abc': shown as unknown") == 1
    assert labels.label("type", "dia") == "Diagnoser" and labels.label("status", "completed") == "Slutförd"
    assert labels.label("system", "1.2.752.116.1.1.1.1.3") == "ICD-10-SE"  # the code systems' table, reused


def view(slug: str, labels: dict) -> InformationView:
    return InformationView(slug=slug, title=slug, categorizations=tuple(labels.get("type", {})), columns=(),
                           labels=labels)


def test_a_plugin_brings_its_own_labels_but_cannot_rename_anothers():
    labels = Labels([view("egen", {"type": {"egn-x": "Egen mängd"}, "status": {"x1": "Väntar"}})])
    assert labels.label("type", "egn-x") == "Egen mängd" and labels.label("status", "x1") == "Väntar"
    assert Labels([view("same", {"type": {"dia": "Diagnoser"}})]).label("type", "dia") == "Diagnoser"
    with pytest.raises(ValueError, match="renames type 'dia'"):
        Labels([view("other", {"type": {"dia": "Sjukdomar"}})])
    with pytest.raises(ValueError, match="unknown kind"):
        Labels([view("odd", {"colour": {"x": "y"}})])
