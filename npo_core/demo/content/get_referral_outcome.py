"""Referral outcomes for the demo patients (GetReferralOutcome): answers only from units that give
them, on questions that fit the patient's age, to referrals from units that send them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import NamedTuple

from ... import format_timestamp
from ...riv import compact
from ...riv.codes import ICD10SE, KV_BEFATTNING, KVA
from .. import FIRST, LAST, PROVIDERS, ROLES
from .stories import story


class Consult(NamedTuple):
    """A consultation the demo knows how to answer, and by whom."""

    at: tuple[str, ...]  # the answering unit: words of its name
    by: tuple[str, ...]  # the referring unit: words of its name
    ages: tuple[int, int | None]  # from, to (None: no upper limit)
    role: str  # the answering profession
    type: str  # SS slutsvar | SR svar (more answers follow)
    title: str
    reason: str
    answer: str
    diagnoses: tuple[tuple[str, str], ...] = ()  # ICD-10-SE
    acts: tuple[tuple[str | None, str], ...] = ()  # (KVÅ code or None, text)


CONSULTS = [
    Consult(("kardiologi", "medicinkliniken"), ("vårdcentral",), (18, None), "Läkare", "SS",
            "Remissvar kardiologi – hjärtklappning",
            "Hjärtklappning i anfall sedan ett halvår, normalt vilo-EKG. Önskar bedömning och långtidsregistrering.",
            "Patienten undersökt på mottagningen. Långtids-EKG under 48 timmar visar enstaka supraventrikulära "
            "extraslag, inga arytmier av betydelse. Ekokardiografi: normalstora hjärtrum, normal systolisk funktion "
            "(EF 60 %), inga klaffel. Bedömning: benigna extraslag. Ingen behandling eller uppföljning inom "
            "kardiologin behövs. Åter till remittenten.",
            (("R00.2", "Hjärtklappning"),), ((None, "Långtids-EKG 48 timmar"), (None, "Transtorakal ekokardiografi"))),
    Consult(("kardiologi",), ("vårdcentral",), (50, None), "Läkare", "SS",
            "Remissvar kardiologi – nyupptäckt förmaksflimmer",
            "Förmaksflimmer upptäckt vid hälsokontroll, CHA2DS2-VASc 3. Önskar ställningstagande till "
            "antikoagulation och eventuell elkonvertering.",
            "Besök på kardiologmottagningen. Permanent förmaksflimmer med kammarfrekvens 80–90/min. Ekokardiografi: "
            "lätt dilaterat vänster förmak, EF 55 %. Warfarin insatt med mål-INR 2,0–3,0, dosering via "
            "AK-mottagningen; metoprolol 50 mg x 1 fortsätter. "
            "Ingen elkonvertering planeras. Fortsatt uppföljning i primärvården med kontroll av Hb och kreatinin "
            "om 3 månader.",
            (("I48.9", "Förmaksflimmer och förmaksfladder, ospecificerat"),), ((None, "Transtorakal ekokardiografi"),)),
    Consult(("kardiologi", "medicinkliniken"), ("vårdcentral",), (60, None), "Läkare", "SR",
            "Remissvar – utredning av hjärtsvikt",
            "Tilltagande ansträngningsdyspné och bensvullnad, NT-proBNP 2 400 ng/L. Frågeställning hjärtsvikt?",
            "Ekokardiografi visar nedsatt systolisk vänsterkammarfunktion, EF 35 %, och måttlig "
            "mitralisinsufficiens. Diagnos hjärtsvikt med nedsatt ejektionsfraktion. Furosemid 40 mg dagligen "
            "insatt, metoprolol fortsätter; ytterligare hjärtsviktsbehandling övervägs vid återbesök. Patienten "
            "följs på hjärtsviktsmottagningen; sjuksköterskebesök om 2 veckor med kontroll av kalium och "
            "kreatinin.",
            (("I50.9", "Hjärtsvikt, ospecificerad"), ("I34.0", "Icke reumatisk mitralisinsufficiens")),
            ((None, "Transtorakal ekokardiografi"),)),
    Consult(("ortopedi",), ("vårdcentral", "akut"), (16, 49), "Läkare", "SS",
            "Remissvar ortopedi – knäskada",
            "Vridvåld mot höger knä vid fotboll för 6 veckor sedan, kvarstående svullnad och upphakningar. "
            "Önskar bedömning, ev. MR.",
            "MR höger knä visar korgränsruptur i mediala menisken, intakta korsband. Artroskopi utförd i "
            "dagkirurgi med partiell menisekresektion. Fri rörlighet efter ingreppet. Belastning efter förmåga, "
            "träning enligt program från fysioterapeut. Ingen planerad återkontroll på ortopeden.",
            (("S83.2", "Färsk meniskskada"),),
            ((None, "MR höger knä"), ("NGD11", "Artroskopisk partiell menisekresektion i knäled"))),
    Consult(("ortopedi",), ("vårdcentral",), (55, None), "Läkare", "SR",
            "Remissvar ortopedi – gonartros",
            "Tilltagande smärta i vänster knä trots fysioterapi (artrosskola) och paracetamol. Röntgen visar "
            "uttalad medial artros. Önskar bedömning för protes.",
            "Uttalad medial gonartros i vänster knä med belastningssmärta och vilovärk. Patienten uppfyller "
            "kriterierna för operation och önskar detta. Uppsatt på väntelista för total knäprotes vänster sida, "
            "beräknad väntetid 4–6 månader. Preoperativ bedömning på mottagningen 4 veckor före operation.",
            (("M17.1", "Primär gonartros, ensidig"),), ((None, "Slätröntgen vänster knä, stående"),)),
    Consult(("ortopedi",), ("akut",), (16, None), "Läkare", "SS",
            "Remissvar ortopedi – handledsfraktur",
            "Distal radiusfraktur höger, sluten reposition och gips på akuten. Önskar ställningstagande till "
            "operation.",
            "Kontrollröntgen efter 10 dagar visar bibehållet läge. Ingen operation behövs. Gipsbehandling totalt "
            "5 veckor, därefter rörelseträning via fysioterapeut på vårdcentralen. Åter vid besvär.",
            (("S52.50", "Fraktur på nedre delen av radius, sluten"),), ((None, "Kontrollröntgen höger handled"),)),
    Consult(("medicinkliniken",), ("vårdcentral",), (60, None), "Läkare", "SS",
            "Remissvar minnesmottagningen – utvidgad demensutredning",
            "Tilltagande minnesstörning sedan ett år enligt anhöriga. MMSE-SR 23/30 vid basal demensutredning, "
            "DT hjärna utan hållpunkt för stroke. Önskar utvidgad utredning.",
            "Utredning på minnesmottagningen med neuropsykologisk testning, lumbalpunktion och MR hjärna. Fynd "
            "förenliga med Alzheimers sjukdom med sen debut, lindrig grad. Donepezil 5 mg insatt, höjs till "
            "10 mg efter 4 veckor. Information given till patient och anhörig. Fortsatt uppföljning i "
            "primärvården; kontakt med kommunens biståndshandläggare vid behov.",
            (("F00.1", "Demens vid Alzheimers sjukdom med sen debut"), ("G30.1", "Alzheimers sjukdom med sen debut")),
            ((None, "Neuropsykologisk testning"), (None, "Lumbalpunktion"), (None, "MR hjärna"))),
    Consult(("medicinkliniken",), ("vårdcentral",), (18, None), "Läkare", "SS",
            "Remissvar medicin – järnbristanemi",
            "Hb 98 g/L och lågt ferritin, ingen synlig blödning. Önskar gastroskopi och koloskopi.",
            "Gastroskopi: lätt gastrit, biopsier tagna, i övrigt normalt. Koloskopi till cekum utan polyper "
            "eller tumör. Biopsisvaren visar varken celiaki eller Helicobacter pylori. Bedömning: järnbristanemi "
            "utan påvisad blödningskälla i magtarmkanalen. Rekommenderar peroral järnbehandling och kontroll av "
            "Hb och ferritin om 3 månader i primärvården.",
            (("D50.9", "Järnbristanemi, ospecificerad"), ("K29.7", "Gastrit, ospecificerad")),
            (("UJD02", "Esofagogastroduodenoskopi"), ("UJF32", "Koloskopi"))),
    Consult(("vårdcentral",), ("vårdcentral",), (18, 90), "Fysioterapeut", "SS",
            "Remissvar fysioterapi – ländryggssmärta",
            "Ländryggssmärta sedan 8 veckor efter lyft, inga röda flaggor. Önskar bedömning och träning.",
            "Bedömning av fysioterapeut: mekanisk ländryggssmärta utan neurologiska bortfall. Individuellt "
            "träningsprogram med fokus på bålstabilitet, 6 behandlingstillfällen. Vid avslut smärtfri i vardagen. "
            "Fortsätter träna på egen hand.",
            (("M54.5", "Lumbago"),), ((None, "Fysioterapeutisk bedömning"), (None, "Individuellt anpassad träning"))),
    Consult(("akut",), ("vårdcentral",), (18, None), "Läkare", "SS",
            "Svar på akutremiss – misstänkt djup ventrombos",
            "Svullet och ömt vänster underben sedan 3 dagar, Wells score 2. Akutremiss för ställningstagande "
            "till djup ventrombos.",
            "D-dimer förhöjd. Ultraljud av vänster ben visar trombos i vena poplitea. Behandling med apixaban "
            "10 mg x 2 i 7 dagar, därefter 5 mg x 2 i minst 3 månader. Kompressionsstrumpa. Uppföljning på "
            "vårdcentralen om 3 månader för ställningstagande till behandlingstidens längd.",
            (("I80.2", "Flebit och tromboflebit i andra djupa kärl i nedre extremiteterna"),),
            ((None, "Ultraljud av vener i vänster ben"),)),
    Consult(("akut",), ("vårdcentral",), (30, None), "Läkare", "SS",
            "Svar på akutremiss – bröstsmärta",
            "Tryckande bröstsmärta sedan i morse, EKG på vårdcentralen utan säkra ischemitecken. Akutremiss för "
            "uteslutande av akut koronart syndrom.",
            "Troponin T under referensgränsen vid två tillfällen med tre timmars mellanrum, EKG utan ischemi. "
            "Palpationsömhet över bröstbenet. Bedömning: muskuloskeletal bröstsmärta. Hemgång. Åter till "
            "vårdcentralen för ställningstagande till arbetsprov vid kvarstående besvär.",
            (("R07.4", "Bröstsmärtor, ospecificerade"),), ((None, "EKG"), (None, "Troponin T, upprepad provtagning"))),
    Consult(("akut",), ("vårdcentral",), (18, None), "Läkare", "SS",
            "Svar på akutremiss – allergisk reaktion",
            "Svullnad i läppar och svalg efter en kaka som innehöll jordnötter, har tagit sin adrenalinpenna. "
            "Akutremiss för observation.",
            "Vid ankomst lätt svullnad av läpparna, inga andningsbesvär, stabila vitalparametrar. Antihistamin och "
            "betametason givet. Observerad 6 timmar utan nya symtom. Hemgång med ny adrenalinpenna och skriftliga "
            "råd. Remiss till allergimottagningen för uppföljning.",
            (("T78.1", "Andra ogynnsamma reaktioner på födoämnen som ej klassificeras annorstädes"),),
            ((None, "Observation 6 timmar"),)),
    Consult(("hemsjukvården",), ("ortopedi", "medicinkliniken"), (65, None), "Arbetsterapeut", "SS",
            "Remissvar arbetsterapi – hjälpmedel i hemmet",
            "Försämrad gångförmåga och fall i hemmet. Önskar bedömning av hjälpmedelsbehov och bostadsanpassning.",
            "Hembesök utfört. Förskrivit rollator, toalettförhöjning och duschpall. Trösklar mellan kök och "
            "badrum tas bort efter beslut om bostadsanpassning. Patienten klarar förflyttningar självständigt "
            "med rollator. Avslutas hos arbetsterapeut, åter vid förändrat behov.",
            (), ((None, "Hembesök"), (None, "Förskrivning av hjälpmedel"))),
]

# the stories' names for the consultations
KEYS = {"palpitations": "Remissvar kardiologi – hjärtklappning", "af": "Remissvar kardiologi – nyupptäckt förmaksflimmer",
        "heart_failure": "Remissvar – utredning av hjärtsvikt", "knee_injury": "Remissvar ortopedi – knäskada",
        "arthrosis": "Remissvar ortopedi – gonartros", "wrist_fracture": "Remissvar ortopedi – handledsfraktur",
        "memory": "Remissvar minnesmottagningen – utvidgad demensutredning",
        "anaemia": "Remissvar medicin – järnbristanemi", "back_pain": "Remissvar fysioterapi – ländryggssmärta",
        "dvt": "Svar på akutremiss – misstänkt djup ventrombos", "chest_pain": "Svar på akutremiss – bröstsmärta",
        "allergic_reaction": "Svar på akutremiss – allergisk reaktion",
        "home_aids": "Remissvar arbetsterapi – hjälpmedel i hemmet"}


def records(contract, demo) -> list:
    age = demo.today.year - int(demo.patient.id[:4])
    titles = {KEYS[k] for k in story(demo).consults}
    units = [(u, fits) for u in demo.units
             if (fits := [c for c in CONSULTS if c.title in titles and _words(u[1], c.at) and _fits_age(c, age)])]
    rng = demo.rng
    plan = {"rich": [None] * rng.randint(1, 3), "blocked": [None] * rng.randint(2, 5),
            "variants": ["full", "minimal", "no_owner", "nullified", "preliminary"],
            "heavy": [None] * (300 if demo.logical_address == PROVIDERS[0][4][0] else 2),
            "not_in_tgp": [None] * rng.randint(1, 2)}.get(demo.profile, []) if units else []
    out = []
    for i, variant in enumerate(plan):
        if demo.profile == "blocked":  # a year each, cycling through the units
            unit, fits = units[i % len(units)]
            when = demo.when(365 * (i + 1), 365 * i + 1)
        else:
            unit, fits = rng.choice(units)
            when = demo.when(10 * 365 if demo.profile == "heavy" else 3 * 365)
        out.append(_outcome(contract, demo, i, rng.choice(fits), unit, when, variant))
    return out


def _outcome(contract, demo, i: int, consult: Consult, unit, when: dt.datetime, variant):
    rng = demo.rng
    referred = when - dt.timedelta(days=rng.randint(14, 120), hours=rng.randint(0, 4))
    (ref_id, ref_name), ref_provider = _referrer(demo, consult, unit)
    author = {"authorTime": format_timestamp(referred),
              "healthcareProfessionalHSAId": f"{ref_provider}-{rng.randint(1000, 9999)}",
              "healthcareProfessionalName": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
              "healthcareProfessionalRoleCode": _profession("Läkare"),  # referrals are written by physicians
              "healthcareProfessionalOrgUnit": {"orgUnitHSAId": ref_id, "orgUnitName": ref_name},
              "healthcareProfessionalCareUnitHSAId": ref_id, "healthcareProfessionalCareGiverHSAId": ref_provider}
    attester_hsa, attester, _ = demo.clinician()
    text, full = consult.answer, variant == "full"  # full: ids and a care contact besides the usual
    if demo.profile == "heavy" and i % 100 == 7:  # producer text is data, never markup
        text = '<b>Obs!</b> Svar & "tillägg" <script>alert(1)</script> ' + text
    elif demo.profile == "heavy" and i % 100 == 42:  # a long answer, dictated in several rounds
        text = " ".join([text] + [f"Tillägg {n}: {consult.answer}" for n in range(1, 12)])
    body = compact({
        "type": "SR" if variant == "preliminary" else consult.type, "title": consult.title, "text": text,
        "clinical_information": [{"code": {"code": code, "codeSystem": ICD10SE}, "text": name}
                                 for code, name in consult.diagnoses],
        "acts": [compact({"id": f"{demo.logical_address}-ure-{i}-{n}" if full else None,
                          "code": {"code": code, "codeSystem": KVA} if code else None, "text": name,
                          "time": format_timestamp(when - dt.timedelta(days=rng.randint(0, 10)))})
                 for n, (code, name) in enumerate(consult.acts)],
        "referral": compact({"id": f"REM{referred:%y}-{rng.randint(10000, 99999)}", "reason": consult.reason,
                             "time": format_timestamp(referred), "author": author,
                             "care_contact_id": f"VK-{rng.randint(100000, 999999)}" if full else None}),
        "attested": {"time": format_timestamp(when + dt.timedelta(minutes=rng.randint(5, 90))),
                     "hsa_id": attester_hsa, "name": attester},
    })
    if variant == "minimal":  # only what the schema demands; not yet signed
        body = {k: body[k] for k in ("type", "title", "text")}
        body["referral"] = {"id": f"REM{referred:%y}-{rng.randint(10000, 99999)}", "reason": consult.reason,
                            "author": {"authorTime": format_timestamp(referred)}}
    record = demo.record(contract=contract.id, information_type=contract.categorization, key=f"ure-{i}",
                         title=consult.title, time=when, unit=unit, detail=body,
                         without_owner=variant == "no_owner", signed=variant != "minimal",
                         approved=variant != "preliminary")
    header = {**record.detail["header"], "author_role": _profession(consult.role)}  # the content decides who
    if variant == "nullified":
        header["nullified_reason"] = "Remissvaret dokumenterades på fel remiss och har ersatts av ett nytt svar."
    return dataclasses.replace(record, nullified=variant == "nullified", detail={**record.detail, "header": header})


def _profession(name: str) -> dict:
    """A role: KV befattning where the demo knows the profession's code, else the name alone."""
    code = next((c for c, n in ROLES if n == name), None)
    return {"code": code, "codeSystem": KV_BEFATTNING, "displayName": name} if code else {"displayName": name}


def _fits_age(consult: Consult, age: int) -> bool:
    return consult.ages[0] <= age and (consult.ages[1] is None or age <= consult.ages[1])


def _words(name: str, words: tuple[str, ...]) -> bool:
    return any(w in name.lower() for w in words)


def _referrer(demo, consult: Consult, unit) -> tuple[tuple[str, str], str]:
    """The referring unit: one that sends such referrals, at the answering care provider when it has one."""
    candidates = [(u, p[0]) for p in PROVIDERS for u in p[3] if _words(u[1], consult.by)]
    own = [c for c in candidates if c[1] == demo.care_provider_id]
    return demo.rng.choice(own or candidates or [(unit, demo.care_provider_id)])
