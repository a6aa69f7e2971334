"""Diagnoses for the demo patients (GetDiagnosis)."""

from __future__ import annotations

from ...riv.codes import ICD10SE
from .stories import pick, story

# (code, text, chronic): a varied, realistic pool; each story names the ones its patient has
DIAGNOSES = {code: (code, text, chronic) for code, text, chronic in [
    ("J45.9", "Astma, ospecificerad", True), ("G43.9", "Migrän, ospecificerad", True),
    ("L20.9", "Atopiskt eksem, ospecificerat", True), ("E03.9", "Hypotyreos, ospecificerad", True),
    ("J02.0", "Streptokockfaryngit", False), ("N30.0", "Akut cystit", False),
    ("S83.2", "Färsk meniskskada", False), ("D50.9", "Järnbristanemi, ospecificerad", False),
    ("J06.9", "Akut övre luftvägsinfektion, ospecificerad", False), ("M54.5", "Lumbago", False),
    ("E11.9", "Diabetes mellitus typ 2 utan komplikationer", True), ("I10.9", "Essentiell hypertoni", True),
    ("I48.9", "Förmaksflimmer och förmaksfladder, ospecificerat", True), ("E78.0", "Ren hyperkolesterolemi", True),
    ("K21.9", "Gastroesofageal refluxsjukdom utan esofagit", True), ("I50.9", "Hjärtsvikt, ospecificerad", True),
    ("N18.3", "Kronisk njursjukdom, stadium 3", True), ("F32.1", "Medelsvår depressiv episod", False),
    ("M17.1", "Primär gonartros, ensidig", True), ("J44.9", "Kroniskt obstruktiv lungsjukdom, ospecificerad", True),
    ("J44.1", "Kroniskt obstruktiv lungsjukdom med akut exacerbation, ospecificerad", False),
    ("F00.1", "Demens vid Alzheimers sjukdom med sen debut", True),
    ("S72.00", "Fraktur på lårbenshalsen, sluten", False),
    ("S52.50", "Fraktur på nedre delen av radius, sluten", False),
    ("I83.0", "Varicer i nedre extremiteterna med bensår", True),
]}

HOSTILE = ('Misstänkt <script>alert("npo")</script> infektion <img src=x onerror=alert(1)> '
           '<a href="javascript:alert(2)">länk</a> &amp; "citat"')

COUNT = {"variants": 3, "blocked": 2, "heavy": 400, "not_in_tgp": 2}


def records(contract, demo) -> list:
    rich = demo.rng.randint(2, 4)  # drawn for every profile: the draws that follow depend on it
    count = rich if demo.profile == "rich" else COUNT.get(demo.profile, 0)
    pool = pick(DIAGNOSES, story(demo).diagnoses)
    out = []
    for i in range(count):
        code, text, chronic = demo.rng.choice(pool)
        when = demo.when()
        cv = {"code": code, "codeSystem": ICD10SE, "codeSystemName": "ICD-10-SE", "displayName": text}
        detail = {"type": "Huvuddiagnos" if i % 3 else "Bidiagnos", "chronic": chronic,
                  "time": when.strftime("%Y%m%d%H%M%S"), "code": cv}
        if demo.profile == "variants" and i == 1:  # free text only, no code
            detail["code"] = {"originalText": text}
            del detail["chronic"]
        if demo.profile == "heavy" and i == 0:  # producer text is data, never markup: prove it in the browser
            text = HOSTILE
            cv["displayName"] = text
        out.append(demo.record(contract=contract.id, information_type=contract.categorization, key=f"dia-{i}",
                               title=text, time=when, detail=detail,
                               without_owner=demo.profile == "variants" and i == 2))
    return out
