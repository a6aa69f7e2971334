"""Care provider and unit names: the registry's directory first, then the org-unit names the answer carries,
and only then the bare id. A producer does not rename a unit the operator named; a unit the registry does
not know still reads by the name its producer gave. Through the real demo producers and the JSON API."""

from __future__ import annotations

from npo_core.demo import PROVIDERS

from .conftest import login

FIONA = "199701062383"


async def test_names_come_from_the_directory_then_the_answer_then_the_id(demo, registry):
    anna = await login(demo, patient=FIONA, relation=True)
    await anna.post("/api/consent", {"whole_unit": True, "days": 1}, expect=201)
    sent = [r for r in (await anna.records("diagnoser"))["records"] if r["care_unit_id"]]
    first, other = sent[0], next(r for r in sent if r["care_unit_id"] != sent[0]["care_unit_id"])
    assert first["care_unit_name"]  # the demo's producers send the names the registry holds
    provider_ids = {p[0] for p in PROVIDERS}
    assert first["care_provider_id"] in provider_ids
    # The operator renames one unit, and forgets another (as for a producer found only in the index).
    registry.add_care_unit(first["care_unit_id"], first["care_provider_id"], "Namn i katalogen")
    registry.db.execute("delete from care_units where hsa_id = ?", [other["care_unit_id"]])
    await anna.post("/api/patient", {"patient_id": FIONA})  # searched again: a new look, asked anew
    await anna.post("/api/relation")
    now = {r["care_unit_id"]: r["care_unit_name"] for r in (await anna.records("diagnoser"))["records"]}
    assert now[first["care_unit_id"]] == "Namn i katalogen"  # the directory wins over the answer
    assert now[other["care_unit_id"]] == other["care_unit_name"]  # unknown there: the answer's own name
