"""Diagnoses for the demo patients (GetDiagnosis)."""

from __future__ import annotations

from ...riv.codes import ICD10SE

# (code, text, chronic): a varied, realistic pool
DIAGNOSES = [
    ("J45.9", "Astma, ospecificerad", True), ("G43.9", "Migrän, ospecificerad", True),
    ("F41.1", "Generaliserat ångestsyndrom", False), ("N39.0", "Urinvägsinfektion, utan angiven lokalisation", False),
    ("S52.50", "Fraktur på nedre delen av radius, sluten", False), ("J06.9", "Akut övre luftvägsinfektion, ospecificerad", False),
    ("E11.9", "Diabetes mellitus typ 2 utan komplikationer", True), ("I10.9", "Essentiell hypertoni", True),
    ("I48.9", "Förmaksflimmer och förmaksfladder, ospecificerat", True), ("M54.5", "Lumbago", False),
    ("K21.9", "Gastroesofageal refluxsjukdom utan esofagit", True), ("L20.9", "Atopiskt eksem, ospecificerat", True),
    ("H66.9", "Öroninflammation, ospecificerad", False), ("R07.4", "Bröstsmärtor, ospecificerade", False),
    ("I50.9", "Hjärtsvikt, ospecificerad", True), ("N18.3", "Kronisk njursjukdom, stadium 3", True),
    ("F32.1", "Medelsvår depressiv episod", False), ("M17.1", "Primär gonartros, ensidig", True),
]

HOSTILE = ('Misstänkt <script>alert("npo")</script> infektion <img src=x onerror=alert(1)> '
           '<a href="javascript:alert(2)">länk</a> &amp; "citat"')

COUNT = {"variants": 3, "blocked": 2, "heavy": 400, "not_in_tgp": 2}


def records(contract, demo) -> list:
    rich = demo.rng.randint(2, 4)  # drawn for every profile: the draws that follow depend on it
    count = rich if demo.profile == "rich" else COUNT.get(demo.profile, 0)
    out = []
    for i in range(count):
        code, text, chronic = demo.rng.choice(DIAGNOSES)
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
