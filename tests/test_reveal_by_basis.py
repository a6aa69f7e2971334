"""Reveal by basis: before a basis for another care provider, no page and no API answer says which other
provider holds which information for the patient: not in the records, not in the source table, not in
a banner. Only that information exists elsewhere, how much is withheld and why.

For every demo patient a clinician of Region Stockholm may open, on every page and every set of the API.
"""

from __future__ import annotations

import pytest

from npo_core.demo import PROVIDERS

from .conftest import login

OWN_PROVIDER = "SE2321000016-F0VB"
OTHERS = [p for p in PROVIDERS if p[0] != OWN_PROVIDER]
# What would say where: the providers' names and ids, their units, their source systems and addresses.
TELLTALES = sorted({t for p in OTHERS for t in (p[0], p[1], p[4][0], p[4][1], *(u for unit in p[3] for u in unit))})
FIONA, EGON, HARRY, LINDA = "199701062383", "193601286499", "194602226559", "189908029805"


def leaks(text: str, telltales=TELLTALES) -> list[str]:
    return [t for t in telltales if t in text]


async def pages_of(demo, patient: str, sets: list[str], *, every_page: bool) -> dict[str, str]:
    paths = [f"/patient/{patient}"]
    if every_page:
        paths += [f"/patient/{patient}/tidslinje", f"/patient/{patient}/kalender"]
        paths += [f"/patient/{patient}/{slug}" for slug in sets]
    out = {}
    for path in paths:
        resp = await demo.get(path)
        assert resp.status == 200, path
        out[path] = await resp.text()
    return out


@pytest.mark.parametrize("relation", [False, True], ids=["no-relation", "relation-no-consent"])
@pytest.mark.parametrize("patient", [FIONA, EGON, HARRY, LINDA])
async def test_before_a_basis_nothing_says_which_other_provider_holds_what(demo, patient, relation):
    anna = await login(demo, patient=patient, relation=relation)
    sets = [s["slug"] for s in await anna.get("/api/sets") if s["enabled"]]
    heavy = patient == LINDA  # thousands of records: the overview only, not every page
    for query in [""] + ([] if heavy else [f"&set={slug}" for slug in sets]):
        resp = await demo.get(f"/api/records?patient_id={patient}{query}")
        text = await resp.text()
        assert resp.status == 200 and not leaks(text), (query, leaks(text))
        body = await resp.json()
        assert {s["care_provider_id"] for s in body["sources"]} <= {OWN_PROVIDER, None, ""}, query
        if body["withheld"]:  # what is withheld is said, with its reason and count
            assert all(w["count"] > 0 and w["text"] for w in body["withheld"])
    for path, text in (await pages_of(demo, patient, sets, every_page=not heavy)).items():
        assert not leaks(text), (path, leaks(text))


async def test_a_provider_under_an_outer_block_stays_unnamed_until_step_one(demo):
    anna = await login(demo, patient=HARRY, relation=True)
    await anna.post("/api/consent", {"whole_unit": True, "days": 1}, expect=201)
    vgr = next(p for p in PROVIDERS if p[0] == "SE2321000131-E000000000001")
    telltales = [vgr[0], vgr[1], vgr[4][0], vgr[4][1]]
    result = await anna.records()
    assert result["hidden_sources"]["count"] >= 1 and not leaks(str(result), telltales)
    page = await (await demo.get(f"/patient/{HARRY}")).text()
    assert not leaks(page, telltales) and "Capio S:t Görans Sjukhus AB" in page, "with a basis others are named"
    await anna.post("/api/blocked/reveal", {"basis": "PatientsConsent"})
    page = await (await demo.get(f"/patient/{HARRY}")).text()
    assert "Västra Götalandsregionen" in page, "after step 1 the clinician learns where"
