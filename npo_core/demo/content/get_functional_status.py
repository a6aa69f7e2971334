"""Functional status assessments for the demo patients (GetFunctionalStatus): PADL and disability."""

from __future__ import annotations

from ...riv import compact
from ...riv.codes import ICF

FUN, PAD = "fun-fun", "pad-pad"


def code(code_: str, system: str, name: str) -> dict:
    return {"code": code_, "codeSystem": system, "displayName": name}


# PADL: the five personal activities TKB regel 2 allows, ICF coded, with realistic assessments
PADL = [
    (code("d510", ICF, "personlig hygien"), ["Klarar personlig hygien självständigt.",
                                             "Behöver hjälp av en person vid dusch två gånger i veckan.",
                                             "Tvättar ansikte och händer själv, behöver hjälp med nedre hygien."]),
    (code("d540", ICF, "på/avklädning"), ["Klarar på- och avklädning själv.",
                                          "Behöver hjälp med strumpor, skor och knappar.",
                                          "Helt beroende av hjälp, två personer vid påklädning."]),
    (code("d420", ICF, "förflyttning"), ["Förflyttar sig självständigt med rollator inomhus.",
                                         "Behöver stöd av en person vid förflyttning säng–rullstol.",
                                         "Förflyttas med taklyft av två personer."]),
    (code("d530", ICF, "toalettbesök"), ["Klarar toalettbesök själv, toalettstol vid sängen nattetid.",
                                         "Behöver påminnelse och tillsyn vid toalettbesök.",
                                         "Inkontinent för urin, använder inkontinensskydd som byts av personal."]),
    (code("d550", ICF, "födointag"), ["Äter själv.", "Äter själv efter att maten skurits och dukats fram.",
                                      "Behöver matas, konsistensanpassad kost."]),
]
PADL_COMMENTS = ["Bedömning gjord vid hembesök tillsammans med arbetsterapeut.",
                 "Försämrad sedan fallolycka i våras, ny bedömning om tre månader.",
                 "Oförändrat jämfört med föregående bedömning. Hemtjänst fyra gånger per dag."]
# Disability: ICF body functions, with the textual grading TKB asks for in the comment
DISABILITIES = [
    (code("b144", ICF, "Minnesfunktioner"), "Nedsatt korttidsminne, glömmer tider och instruktioner. "
                                            "Behöver skriftliga påminnelser och dosett som delas av hemsjukvården."),
    (code("b210", ICF, "Synfunktioner"), "Grav synnedsättning vänster öga efter näthinneavlossning, "
                                         "läser med förstoringsglas."),
    (code("b230", ICF, "Hörselfunktioner"), "Hörapparat bilateralt, uppfattar tal i lugn miljö. "
                                            "Tala tydligt och vänd mot patienten."),
    (code("b3101", ICF, "Röstkvalitet"), "Hes och svag röst efter stroke, tillfälligt bortfall av röststyrka."),
    (code("b167", ICF, "Kognitiva språkfunktioner"), "Expressiv afasi efter stroke. Förstår enkla meningar, "
                                                     "svarar med ja/nej och gester."),
    (code("b280", ICF, "Smärtförnimmelse"), "Långvarig smärta i ländryggen, påverkar gångsträcka och sömn."),
    (code("b730", ICF, "Muskelkraftsfunktioner"), "Nedsatt kraft i höger arm och ben (hemipares) efter infarkt."),
]


def records(contract, demo) -> list:
    rng, profile = demo.rng, demo.profile
    if profile == "variants":
        rows = [  # (category, detail, options)
            (PAD, _padl(rng, 5, comment=True), {}),
            (PAD, {"padl": [{"type": {"originalText": "toalettbesök"}, "assessment": "Behöver tillsyn nattetid."}]},
             {"signed": False}),
            (FUN, _disability(rng), {"approved": False}),
            (FUN, {"disability": {"assessment": {"originalText": "Nedsatt balans"}}}, {}),
            (FUN, _disability(rng), {"without_owner": True}),
        ]
        return [_record(contract, demo, f"fun-v{i}", cat, detail, **opts) for i, (cat, detail, opts) in enumerate(rows)]
    if profile == "blocked":
        return [_record(contract, demo, f"fun-{i}", *_random(rng), unit=demo.units[i % len(demo.units)],
                        when=demo.when(365 * (i + 1) - 1, 365 * i)) for i in range(rng.randint(2, 5))]
    count = {"rich": rng.randint(1, 3), "heavy": 150, "not_in_tgp": 1}.get(profile, 0)
    return [_record(contract, demo, f"fun-{i}", *_random(rng)) for i in range(count)]


def _random(rng) -> tuple[str, dict]:
    return (PAD, _padl(rng, rng.randint(2, 5), comment=rng.random() < 0.5)) if rng.random() < 0.5 \
        else (FUN, _disability(rng))


def _record(contract, demo, key: str, category: str, detail: dict, when=None, **options):
    title = "PADL-bedömning" if category == PAD else detail["disability"]["assessment"].get("displayName") or \
        detail["disability"]["assessment"].get("originalText")
    record = demo.record(contract=contract.id, information_type=category, key=key, title=title,
                         time=when or demo.when(), detail={"category": category, **detail}, **options)
    record.detail["header"]["document_title"] = None  # N/A in this contract (TKB)
    return record


def _padl(rng, count: int, comment: bool) -> dict:
    chosen = sorted(rng.sample(range(len(PADL)), count))
    return compact({"comment": rng.choice(PADL_COMMENTS) if comment else None,
                    "padl": [{"type": PADL[i][0], "assessment": rng.choice(PADL[i][1])} for i in chosen]})


def _disability(rng) -> dict:
    assessment, comment = rng.choice(DISABILITIES)
    return {"disability": {"assessment": assessment, "comment": comment}}
