"""The same records and PDL decisions for every demo patient, before and after a refactor of the contract
plugins: a recording made on the code before it, compared with what the code shows now.

For each situation (who reads, with which relation, consent or emergency) and each demo patient it keeps
a digest of every record shown, the records per source and contract family, what is withheld and why, the
incomplete and hidden sources, and the access-log entries the steps wrote. Contracts are compared by
family, not major. Record with NPO_RECORD_DECISIONS=1 (on the code before the change), else compare.
Run in another worktree, PYTHONPATH is not enough: the editable install maps `npo_plugins` (the entry
points' package) to the tree it was installed from. So the test first checks where its plugins came from.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path

import pytest

import npo_core
from npo_core.demo import PATIENTS

from .conftest import REPO, login

RECORDED = Path(__file__).parent / "fixtures" / "demo_decisions.json"
ANNA, ANNA_SJF, ANNA_VG = "SE2321000016-1001", "SE2321000016-1001-U1", "SE2321000016-1001-U2"
ERIK, ERIK_SJF = "SE2321000131-2002", "SE2321000131-2002-U1"

# (clinician, assignment, relation attested, consent for the whole unit, emergency access)
SITUATIONS = {
    "consent": (ANNA, ANNA_SJF, True, True, False),  # Gubbängens vårdcentral, SJF: everything allowed
    "no_consent": (ANNA, ANNA_SJF, True, False, False),  # other care providers withheld: no_consent
    "emergency": (ANNA, ANNA_SJF, False, False, True),  # nödöppning, no relation attested
    "other_provider": (ERIK, ERIK_SJF, True, True, False),  # Sahlgrenska (Västra Götalandsregionen), SJF
    "scope_vg": (ANNA, ANNA_VG, True, False, False),  # Medicinkliniken Södersjukhuset, scope VG only
}
LOGGED = ("patient_id", "user_id", "user_care_provider_id", "user_care_unit_id", "activity", "action",
          "resource_care_provider_id", "resource_care_unit_id")
NEWER_THAN_RECORDING = ("GetObservations:1", "GetActivities:1")


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _digest(rows) -> str:
    return hashlib.sha256(_json(rows).encode()).hexdigest()


def _family(contract: str | None) -> str | None:
    return contract.split(":")[0] if contract else contract


async def decisions(client, situation: str) -> dict:
    """What the situation's clinician is shown for each demo patient, and what the log says of it."""
    client.core.registry.set_environment("demo", total_deadline=120, read_timeout=120)  # the whole answer
    for added in NEWER_THAN_RECORDING:  # information sets built after the recording: not part of it
        client.core.registry.set_contract_enabled(added, "demo", False)
    clinician, assignment, relation, consent, emergency = SITUATIONS[situation]
    out = {}
    for pid in PATIENTS:
        who = await login(client, clinician, assignment)
        opened = await who.post("/api/patient", {"patient_id": pid}, expect=None)
        entry = out[pid] = {"opened": opened.get("error", "ok")}  # Mohamed: tgp_refused
        if entry["opened"] == "ok":
            if relation:
                await who.post("/api/relation")
            if consent:
                await who.post("/api/consent", {"whole_unit": True, "days": 1}, expect=201)
            if emergency:
                await who.post("/api/emergency", {"reason": "Medvetslös vid ankomst"}, expect=201)
            body = await who.records()
            records = sorted(([r["source_system"], _family(r["contract"]), r["id"], r["time"], r["title"],
                               r["care_provider_id"], r["care_unit_id"], r["nullified"], r["approved_for_patient"],
                               r["information_type"]] for r in body["records"]), key=_json)
            entry.update({
                "records": len(records), "sha256": _digest(records),
                "per_source": dict(sorted(Counter(f"{r[0]} {r[1]}" for r in records).items())),
                "nullified": sum(1 for r in records if r[7]),
                "withheld": dict(sorted((w["reason"], w["count"]) for w in body["withheld"])),
                "incomplete": sorted([s["logical_address"], _family(s["contract"]), s["status"]]
                                     for s in body["incomplete"]),
                "hidden_sources": body["hidden_sources"],
            })
        # Every entry the steps wrote for the patient (this world is new for each situation): what identifies
        # them, never times, ids or hashes. Details only of searches and reads (others hold consent ids).
        log = sorted(([row[k] for k in LOGGED] + [_family(row["contract"]), row["record_count"],
                       json.loads(row["detail"] or "null") if row["action"] in ("search", "read") else None]
                      for row in client.core.guards.log_rows("patient_id = ?", [pid])), key=_json)
        entry["log_sha256"] = _digest(log)
        entry["log"] = {}  # per action, activity, owner (care provider) and contract: [entries, records]
        for r in log:
            n = entry["log"].setdefault(f"{r[5]} {r[4]} {r[6] or '-'} {r[8] or '-'}", [0, 0])
            n[0], n[1] = n[0] + 1, n[1] + r[9]
    return out


def _changed(before: dict, now: dict) -> dict:
    return {k: (before.get(k), now.get(k)) for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k)}


@pytest.mark.parametrize("situation", SITUATIONS)
async def test_the_same_records_and_decisions_as_recorded(demo, situation):
    # The run must use this tree's code: an editable install elsewhere may otherwise supply npo_plugins.
    modules = [npo_core] + [p for _, p in demo.core.pm.list_name_plugin()]
    elsewhere = [f for m in modules
                 if (f := getattr(m, "__file__", None)) and not Path(f).resolve().is_relative_to(REPO)]
    assert not elsewhere, f"plugins loaded from outside {REPO}: {elsewhere}"
    now = await decisions(demo, situation)
    if os.environ.get("NPO_RECORD_DECISIONS") == "1":  # one situation at a time, into the one file
        recorded = json.loads(RECORDED.read_text()) if RECORDED.exists() else {}
        recorded[situation] = now
        RECORDED.write_text(json.dumps(recorded, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
    before = json.loads(RECORDED.read_text())[situation]
    problems = []
    for pid in PATIENTS:
        b, n, where = before[pid], now[pid], f"{situation}/{pid} ({PATIENTS[pid][0]})"
        for key in ("opened", "records", "nullified", "withheld", "incomplete", "hidden_sources"):
            if b.get(key) != n.get(key):
                problems.append(f"{where}: {key} was {b.get(key)!r}, now {n.get(key)!r}")
        if b.get("per_source") != n.get("per_source"):
            problems.append(f"{where}: records per source and contract (before, now): "
                            f"{_changed(b.get('per_source', {}), n.get('per_source', {}))}")
        elif b.get("sha256") != n.get("sha256"):
            problems.append(f"{where}: as many records per source and contract, but not the same records")
        if b["log"] != n["log"]:
            problems.append(f"{where}: access log (action activity owner contract, before, now): "
                            f"{_changed(b['log'], n['log'])}")
        elif b["log_sha256"] != n["log_sha256"]:
            problems.append(f"{where}: access-log entries differ (owner unit, count or detail)")
    assert not problems, "\n".join(problems)
