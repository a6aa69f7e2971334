"""Demo vårdplaner for the demo patients: what each kind of care provider writes.

Deterministic: every choice comes from `demo.rng`, which npo seeds from the patient, the source
system and the contract name, so every run (and every test) sees the same plans. A record's detail
is what the declaration reads from an answer: the body's fields by the spec's keys (the plan's text
base64, as on the wire) and the header `demo.record` writes.
"""

from __future__ import annotations

import base64

from npo_core import HSA_ID_OID

HOME_CARE = "SE2120003005-HSV1"  # Hemsjukvården, Uppsala kommun: the municipality in many plans

# (typeOfCarePlanEnum, title, the plan's text)
SIP = ("SIP", "Samordnad individuell plan (SIP)", """\
Bakgrund: Patienten bor ensam i lägenhet, har hjärtsvikt och nedsatt rörlighet efter ett fall i hemmet.
Behöver insatser från både regionens hälso- och sjukvård och kommunens hemsjukvård och hemtjänst.

Mål: Att kunna bo kvar hemma med trygghet. Inga oplanerade inläggningar det närmaste halvåret.

Insatser och ansvar:
- Vårdcentralen: läkarbesök var tredje månad och läkemedelsgenomgång.
- Hemsjukvården: sjuksköterskebesök en gång i veckan med vikt- och blodtryckskontroll.
- Hemtjänsten: hjälp med inköp, städning och dusch.

Uppföljning: Nytt SIP-möte om tre månader. Fast vårdkontakt: distriktssköterskan på vårdcentralen.
Patienten har deltagit i mötet och samtycker till planen.""")

REHAB_HIP = ("RP", "Rehabiliteringsplan efter höftfraktur", """\
Opererad med hemiprotes efter höftfraktur. Full belastning tillåten.

Mål: Gå självständigt med rollator inomhus inom fyra veckor och klara trappor inom åtta veckor.

Insatser:
- Fysioterapeut: gångträning och styrketräning två gånger i veckan, hemövningsprogram.
- Arbetsterapeut: bedömning av hjälpmedel i hemmet (toalettförhöjning, duschpall).

Uppföljning: Återbesök hos fysioterapeut efter fyra veckor. Läkarbesök vid behov.""")

REHAB_STROKE = ("RP", "Rehabiliteringsplan efter stroke", """\
Ischemisk stroke med lätt högersidig svaghet och talsvårigheter (afasi).

Mål: Återgå till självständigt boende med stöd. Kunna föra ett samtal i vardagen.

Insatser:
- Logoped: afasiträning en gång i veckan under tre månader.
- Fysioterapeut: balans- och gångträning.
- Arbetsterapeut: träning i personlig vård och matlagning.

Uppföljning: Teambedömning efter sex veckor. Kontroll av blodtryck och blodfetter på vårdcentralen.""")

DISCHARGE = ("SPU", "Samordnad plan vid utskrivning", """\
Utskrivning från medicinkliniken efter vård för lunginflammation.

Inför hemgång: Hemsjukvården övertar läkemedelshantering (dosdispenserade läkemedel). Hemtjänst
utökas med tillsyn morgon och kväll under två veckor.

Ansvar: Fast vårdkontakt på vårdcentralen kallar till uppföljande hembesök inom sju dagar.
Patienten och anhörig är informerade om planen.""")

HEART_FAILURE = ("VP", "Vårdplan vid hjärtsvikt", """\
Kronisk hjärtsvikt, stabil på nuvarande behandling.

Egenvård: Väga sig varje morgon. Kontakta sjuksköterskemottagningen vid viktökning över två kilo
på tre dagar, ökad andfåddhet eller svullna ben. Vätskeintag högst 1,5 liter per dygn.

Uppföljning: Sjuksköterskeledd hjärtsviktsmottagning var tredje månad. Blodprov (kreatinin,
kalium, NT-proBNP) inför varje besök.""")

PRESSURE_ULCER = ("SVP", "Standardiserad vårdplan: förebyggande av trycksår", """\
Riskbedömning enligt Norton: 13 poäng, ökad risk för trycksår.

Åtgärder: Tryckavlastande madrass. Lägesändring var tredje timme nattetid. Daglig inspektion av
hälar och korsben. Näringsdryck två gånger dagligen.

Utvärdering: Ny riskbedömning varje vecka och vid försämring.""")

HABILITATION = ("HP", "Habiliteringsplan", """\
Mål som patienten själv formulerat: Klara resor med kollektivtrafik till arbetet på egen hand.

Insatser: Arbetsterapeut tränar resvägen tillsammans med patienten. Kurator ger stöd vid oro.
Hjälpmedel: planeringsstöd i mobiltelefonen.

Uppföljning: Habiliteringsteamet följer upp målen om sex månader.""")

HOME_CARE_PLAN = ("GP", "Genomförandeplan för hemsjukvård", """\
Hemsjukvårdens insatser enligt beslut och samordnad individuell plan.

Sjuksköterska: såromläggning på underben måndag, onsdag och fredag. Insulin enligt ordination
morgon och kväll. Undersköterska: tillsyn och hjälp med kompressionsstrumpor dagligen.

Patientens önskemål: Besök helst före klockan tio på förmiddagen.""")

# What each kind of care provider writes.
BY_KIND = {
    "region": [SIP, REHAB_HIP, REHAB_STROKE, DISCHARGE, HEART_FAILURE, PRESSURE_ULCER, HABILITATION],
    "kommun": [HOME_CARE_PLAN, SIP, PRESSURE_ULCER],
    "privat": [REHAB_HIP, DISCHARGE, PRESSURE_ULCER],
}
COUNT = {"rich": (2, 3), "variants": (3, 3), "blocked": (2, 2), "heavy": (25, 25), "not_in_tgp": (1, 1)}


def kind_of(care_provider_id: str) -> str:
    """A region (organisation number 2321..), a municipality (2120..) or a private care provider."""
    return {"2321": "region", "2120": "kommun"}.get(care_provider_id[2:6], "privat")


def records(contract, demo) -> list:
    """A few plans per demo patient and source system. Egon's: one as a PDF, one untitled, one ownerless."""
    low, high = COUNT.get(demo.profile, (0, 0))
    pool = BY_KIND[kind_of(demo.care_provider_id)]
    variant = demo.profile == "variants"
    out = []
    for i in range(demo.rng.randint(low, high)):
        plan_type, title, text = pool[i] if variant else pool[demo.rng.randrange(len(pool))]
        unit = demo.rng.choice(demo.units)
        participants = [unit[0]]
        if plan_type in ("SIP", "SPU") and unit[0] != HOME_CARE:
            participants.append(HOME_CARE)  # the municipality takes part in coordinated plans
        content = {"mediaType": "text/plain", "value": base64.b64encode(text.encode()).decode()}
        if variant and i == 0:  # the plan is a scanned document kept elsewhere
            content = {"id": f"bilaga-{i}", "mediaType": "application/pdf",
                       "reference": f"https://dokument.example.se/vardplaner/{demo.logical_address}-{i}.pdf"}
        record = demo.record(
            contract=contract.id, information_type=contract.categorization, key=f"cp-{i}",
            title=title, time=demo.when(max_days_back=2 * 365), unit=unit,
            detail={"content": [content], "type": plan_type,
                    "participants": [{"root": HSA_ID_OID, "extension": hsa_id} for hsa_id in participants]},
            without_owner=variant and i == 2,  # Egon: a plan without care provider or care unit
        )
        if variant and i == 1:  # neither title nor type: the plan is "Vårdplan"
            del record.detail["type"]
            record.detail["header"]["document_title"] = None
            record = record.changed(title=contract.untitled)
        out.append(record)
    return out
