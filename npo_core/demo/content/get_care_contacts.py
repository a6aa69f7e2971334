"""Care contacts for the demo patients (GetCareContacts 2.0 and 3.0).

One plan describes each contact neutrally (a kind and a state); each major writes it in its own
codes, with the same id: 2.0 in the NPÖ RIV 2.2 enums, 3.0 in CVs, a nullified contact as the
SNOMED CT-SE status "makulerad" rather than in the header.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from ... import format_timestamp
from ...riv import ORG_UNIT, compact
from ...riv.codes import KV_CONTACT_TYPE, KV_KON, SNOMED_CT_SE
from .. import PROVIDERS
from .stories import fits

# neutral kind -> (2.0 enum code and its text, 3.0 CV); KV Kontakttyp codes 1, 2 and 4 as the SLL
# mappings use them; phone and day care go as originalText rather than a guessed code
KINDS = {
    "besok": ("1", "Besök", {"code": "2", "codeSystem": KV_CONTACT_TYPE, "displayName": "Öppenvårdskontakt"}),
    "telefon": ("2", "Telefon", {"originalText": "Telefonkontakt"}),
    "slutenvard": ("3", "Vårdtillfälle", {"code": "1", "codeSystem": KV_CONTACT_TYPE,
                                          "displayName": "Slutenvårdstillfälle"}),
    "dagsjukvard": ("4", "Dagsjukvård", {"originalText": "Dagsjukvård"}),
    "hemsjukvard": ("5", "Annan", {"code": "4", "codeSystem": KV_CONTACT_TYPE, "displayName": "Hemsjukvårdskontakt"}),
}
# neutral state -> (2.0 enum code, SNOMED CT-SE code and term); a nullified contact has no 2.0 status
STATES = {
    "avslutad": ("5", "53671000052101", "avslutad vårdkontakt"),
    "pagaende": ("3", "53651000052107", "pågående vårdkontakt"),
    "tidbokad": ("1", "53631000052103", "tidbokad vårdkontakt"),
    "installd": ("2", "53641000052109", "inställd vårdkontakt"),
    "avbruten": ("4", "53661000052105", "avbruten vårdkontakt"),
    "makulerad": (None, "53691000052102", "makulerad vårdkontakt"),
}

# the reasons patients give, per kind of contact, with the story tag a reason needs (None: anyone's)
REASONS = {
    "besok": [("Hosta och feber sedan en vecka", None), ("Uppföljning av diabetes, HbA1c-kontroll", "diabetes"),
              ("Blodtryckskontroll", "hypertension"), ("Ont i vänster knä efter fall på isen", None),
              ("Sveda vid miktion och täta urinträngningar", None), ("Nedstämdhet och sömnsvårigheter", None),
              ("Astmakontroll hos astmasjuksköterska", "asthma"), ("Hudutslag på armarna", None),
              ("Bröstsmärta vid ansträngning", "elderly"), ("Yrsel och ostadighet", "elderly"),
              ("Halsont och feber", "young"), ("Andfåddhet, KOL-kontroll", "copd")],
    "telefon": [("Provsvar, lipidstatus", "diabetes"), ("Förnyelse av recept", None),
                ("Frågor om biverkningar av ny medicin", None), ("Rådgivning vid feber hos barn", "parent"),
                ("Uppföljning av Waran-dosering", "warfarin")],
    "slutenvard": [("Förmaksflimmer med snabb kammarfrekvens", "af"), ("Samhällsförvärvad pneumoni", None),
                   ("Höftfraktur efter fall i hemmet", "hip_fracture"),
                   ("Hjärtsvikt, ökad andfåddhet och bensvullnad", "heart_failure"),
                   ("Akut buksmärta, misstänkt gallsten", None), ("KOL med akut försämring", "copd")],
    "dagsjukvard": [("Järninfusion", None), ("Blodtransfusion", "elderly"), ("Planerad elkonvertering", "af")],
    "hemsjukvard": [("Omläggning av bensår", "leg_ulcer"), ("Läkemedelsgenomgång i hemmet", "elderly"),
                    ("Insulininjektion morgon", "insulin"), ("Provtagning i hemmet, PK/INR", "warfarin"),
                    ("Intravenös antibiotikabehandling i hemmet", None)],
}


def _kinds(unit_name: str) -> list[str]:
    """The kinds of contact a care unit has, judged by its name."""
    name = unit_name.lower()
    if "hemsjukvård" in name:
        return ["hemsjukvard"]
    if "vårdcentral" in name:
        return ["besok", "besok", "telefon"]
    if "akut" in name:
        return ["besok", "besok", "slutenvard"]
    return ["besok", "telefon", "slutenvard", "dagsjukvard"]


def _coded(major: int, kind: str | None, state: str | None) -> tuple[dict, str]:
    """The contact's type and status in the major's codes, and the title they give it."""
    if major == 2:
        code, text = KINDS[kind][:2] if kind else (None, None)
        return {"type": code, "status": STATES[state][0] if state else None}, text or "Vårdkontakt"
    cv = dict(KINDS[kind][2]) if kind else None
    status = {"code": STATES[state][1], "codeSystem": SNOMED_CT_SE, "displayName": STATES[state][2]} if state else None
    return {"type": cv, "status": status}, (cv.get("displayName") or cv["originalText"]) if cv else "Vårdkontakt"


def records(contract, demo) -> list:
    """The patient's contacts at one source system."""
    plan = {"rich": [None] * demo.rng.randint(4, 8), "variants": list(range(7)), "blocked": [None] * 4,
            "heavy": [None] * (2000 if demo.logical_address == PROVIDERS[0][4][0] else 300),
            "not_in_tgp": [None] * 2}.get(demo.profile, [])
    out = []
    for i, variant in enumerate(plan):
        state = "avslutad"
        if demo.profile == "blocked":  # a year each, cycling through the units
            unit, start = demo.units[i % len(demo.units)], demo.when(365 * (i + 1), 365 * i)
        else:
            unit, start, roll = demo.rng.choice(demo.units), demo.when(), demo.rng.random()
            state = "installd" if roll < 0.05 else "avbruten" if roll < 0.08 else "avslutad"
        if variant == 2:  # ongoing: an inpatient stay (or home care) with no end yet
            unit = next((u for u in demo.units if "slutenvard" in _kinds(u[1])), unit)
            start = dt.datetime.combine(demo.today - dt.timedelta(days=2), start.timetz())
        kind = "slutenvard" if variant == 2 and "slutenvard" in _kinds(unit[1]) else demo.rng.choice(_kinds(unit[1]))
        reason = demo.rng.choice([text for text, tag in REASONS[kind] if fits(demo, tag)])
        # a visit ends when it starts (TKB); a stay or a day-care session has a length
        end = start + {"slutenvard": dt.timedelta(days=demo.rng.randint(1, 9), hours=demo.rng.randint(1, 5)),
                       "dagsjukvard": dt.timedelta(hours=4)}.get(kind, dt.timedelta(0))
        registered, extra = start, {}
        if variant == 1:  # planned, in the future, booked weeks ago
            state = "tidbokad"
            start = dt.datetime.combine(demo.today + dt.timedelta(days=demo.rng.randint(3, 40)), start.timetz())
            registered, end = start - dt.timedelta(days=demo.rng.randint(10, 60)), None
        elif variant == 2:
            state, end = "pagaende", None
        elif variant == 3:
            state = "makulerad"
        elif variant == 4:  # type, status and reason absent; not approved for the patient
            kind, state, reason = None, None, None
        elif variant == 5:  # full unit contact details and patient information outside PU
            extra = {"unit": {"orgUnitTelecom": "010-00 00 00", "orgUnitEmail": "mottagning@example.se",
                              "orgUnitAddress": "Vårdvägen 1, 111 11 Stockholm", "orgUnitLocation": "Stockholm"},
                     "patient": {"birth": {"format": "YYYYMMDD", "value": demo.patient.id[:8]},
                                 "gender": {"code": "1", "codeSystem": KV_KON, "displayName": "Man"}}}
        if demo.profile == "heavy" and i % 250 == 7:  # producer text is data, never markup
            reason = " ".join(['<b>Akut</b> & "brådskande": patienten uppger <script>alert(1)</script> smärta'] * 3)
        record = demo.record(contract=contract.id, information_type=contract.categorization, key=f"vko-{i}",
                             title="Vårdkontakt", time=start, unit=unit, detail={}, signed=False,
                             approved=variant != 4, without_owner=variant == 6)
        header = {**record.detail["header"], "document_time": None, "document_title": None,
                  "author_time": format_timestamp(registered)}
        if variant == 6:  # the producer names the author's unit but not the PDL care unit / care provider
            unit = (f"{demo.logical_address}-MOTT", "Mottagning 3")
            header["org_unit"] = {k: None for _e, k, _t in ORG_UNIT} | {"orgUnitHSAId": unit[0], "orgUnitName": unit[1]}
        if state == "makulerad" and contract.major == 2:  # 3.0 says it by the status alone
            header["nullified_reason"] = "Felregistrerad, avsåg annan patient"
        coded, title = _coded(contract.major, kind, state)
        detail = compact({**coded, "reason": reason,
                          "unit": {"orgUnitHSAId": unit[0], "orgUnitName": unit[1], **extra.get("unit", {})},
                          "period": compact({"start": format_timestamp(start), "end": format_timestamp(end)}),
                          "patient": extra.get("patient") if contract.major >= 3 else None, "header": header})
        out.append(dataclasses.replace(record, detail=detail, block_time=registered, title=title,
                                       nullified=state == "makulerad"))
    return out

