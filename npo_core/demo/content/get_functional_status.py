"""Functional status assessments for the demo patients (GetFunctionalStatus): PADL and disability."""

from __future__ import annotations

from ...riv import compact
from ...riv.codes import ICF
from .stories import story

FUN, PAD = "fun-fun", "pad-pad"


def code(code_: str, system: str, name: str) -> dict:
    return {"code": code_, "codeSystem": system, "displayName": name}


# PADL: the five personal activities TKB regel 2 allows, ICF coded, with an assessment for each level of
# dependence (0 independent, 1 with aids, 2 helped by one person, 3 dependent); a story says how far its
# patient goes
PADL = [
    (code("d510", ICF, "personlig hygien"), ["Klarar personlig hygien självständigt.",
                                             "Duschar själv med duschpall och stödhandtag.",
                                             "Behöver hjälp av en person vid dusch två gånger i veckan.",
                                             "Tvättar ansikte och händer själv, behöver hjälp med nedre hygien."]),
    (code("d540", ICF, "på/avklädning"), ["Klarar på- och avklädning själv.",
                                          "Klär sig själv med strumppådragare och griptång.",
                                          "Behöver hjälp med strumpor, skor och knappar.",
                                          "Helt beroende av hjälp, två personer vid påklädning."]),
    (code("d420", ICF, "förflyttning"), ["Förflyttar sig självständigt utan hjälpmedel.",
                                         "Förflyttar sig självständigt med rollator inomhus.",
                                         "Behöver stöd av en person vid förflyttning säng–rullstol.",
                                         "Förflyttas med taklyft av två personer."]),
    (code("d530", ICF, "toalettbesök"), ["Klarar toalettbesök självständigt.",
                                         "Klarar toalettbesök själv med toalettförhöjning, toalettstol vid sängen "
                                         "nattetid.",
                                         "Behöver påminnelse och tillsyn vid toalettbesök.",
                                         "Inkontinent för urin, använder inkontinensskydd som byts av personal."]),
    (code("d550", ICF, "födointag"), ["Äter själv.", "Äter själv.",
                                      "Äter själv efter att maten skurits och dukats fram.",
                                      "Behöver matas, konsistensanpassad kost."]),
]
# (comment, the least and most dependent level it fits)
PADL_COMMENTS = [("Bedömd under en period med nedsatt rörlighet, väntas bli helt återställd.", 0, 0),
                 ("Bedömning gjord vid hembesök tillsammans med arbetsterapeut.", 1, 3),
                 ("Försämrad sedan fallolycka i våras, ny bedömning om tre månader.", 2, 3),
                 ("Oförändrat jämfört med föregående bedömning. Hemtjänst fyra gånger per dag.", 3, 3)]
# Disability: ICF body functions, with the textual grading TKB asks for in the comment; by key
DISABILITIES = {key: (code(icf, ICF, name), comment) for key, icf, name, comment in [
    ("b144", "b144", "Minnesfunktioner", "Nedsatt korttidsminne, glömmer tider och instruktioner. "
                                         "Behöver skriftliga påminnelser och dosett som delas av hemsjukvården."),
    ("b210", "b210", "Synfunktioner", "Grav synnedsättning vänster öga efter näthinneavlossning, "
                                      "läser med förstoringsglas."),
    ("b230", "b230", "Hörselfunktioner", "Hörapparat bilateralt, uppfattar tal i lugn miljö. "
                                         "Tala tydligt och vänd mot patienten."),
    ("b280-back", "b280", "Smärtförnimmelse", "Långvarig smärta i ländryggen, påverkar gångsträcka och sömn."),
    ("b280-knee", "b280", "Smärtförnimmelse", "Belastningssmärta i knät, går kortare sträckor och undviker trappor."),
    ("b440", "b440", "Andningsfunktioner", "Ansträngningsutlöst andfåddhet vid astma, god effekt av inhalationer. "
                                           "Klarar motion med förebyggande inhalation."),
    ("b440-copd", "b440", "Andningsfunktioner", "Andfådd vid ansträngning, går 200 meter i lugn takt innan han "
                                                "behöver vila."),
]}


def records(contract, demo) -> list:
    rng, profile = demo.rng, demo.profile
    if profile == "variants":
        rows = [  # (category, detail, options)
            (PAD, _padl(demo, 5, comment=True), {}),
            (PAD, {"padl": [{"type": {"originalText": "toalettbesök"}, "assessment": "Behöver tillsyn nattetid."}]},
             {"signed": False}),
            (FUN, _disability(demo), {"approved": False}),
            (FUN, {"disability": {"assessment": {"originalText": "Nedsatt balans"}}}, {}),
            (FUN, _disability(demo), {"without_owner": True}),
        ]
        return [_record(contract, demo, f"fun-v{i}", cat, detail, **opts) for i, (cat, detail, opts) in enumerate(rows)]
    if profile == "blocked":
        return [_record(contract, demo, f"fun-{i}", *_random(demo), unit=demo.units[i % len(demo.units)],
                        when=demo.when(365 * (i + 1) - 1, 365 * i)) for i in range(rng.randint(2, 5))]
    count = {"rich": rng.randint(1, 3), "heavy": 150, "not_in_tgp": 1}.get(profile, 0)
    return [_record(contract, demo, f"fun-{i}", *_random(demo)) for i in range(count)]


def _random(demo) -> tuple[str, dict]:
    rng = demo.rng
    return (PAD, _padl(demo, rng.randint(2, 5), comment=rng.random() < 0.5)) if rng.random() < 0.5 \
        else (FUN, _disability(demo))


def _record(contract, demo, key: str, category: str, detail: dict, when=None, **options):
    title = "PADL-bedömning" if category == PAD else detail["disability"]["assessment"].get("displayName") or \
        detail["disability"]["assessment"].get("originalText")
    record = demo.record(contract=contract.id, information_type=category, key=key, title=title,
                         time=when or demo.when(), detail={"category": category, **detail}, **options)
    record.detail["header"]["document_title"] = None  # N/A in this contract (TKB)
    return record


def _padl(demo, count: int, comment: bool) -> dict:
    """A PADL assessment at one level of dependence the patient's story allows."""
    rng, worst = demo.rng, story(demo).padl_worst
    level = rng.randint(0, worst)
    chosen = sorted(rng.sample(range(len(PADL)), count))
    comments = [text for text, lo, hi in PADL_COMMENTS if lo <= level <= hi]
    return compact({"comment": rng.choice(comments) if comment and comments else None,
                    "padl": [{"type": PADL[i][0], "assessment": PADL[i][1][rng.randint(0, level)]} for i in chosen]})


def _disability(demo) -> dict:
    assessment, comment = DISABILITIES[demo.rng.choice(story(demo).disabilities)]
    return {"disability": {"assessment": assessment, "comment": comment}}
