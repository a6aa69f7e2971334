"""Care documentation notes for the demo patients (GetCareDocumentation 2.1 and 3.0).

One generator serves both majors (same record ids, same draws): 3.0 gets the same notes as far as it
carries them, with its JoL header, the note code as a CV and no nullified notes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from lxml import etree
from lxml.builder import ElementMaker

from ... import HSA_ID_OID, Record, format_timestamp
from ...riv import compact
from ...riv.codes import KV_NOTE_TYPE
from .. import PROVIDERS, patient_name
from .stories import story

NOTE_CODES = {"utr": "Utredning", "atb": "Åtgärd/Behandling", "sam": "Sammanfattning", "sao": "Samordning",
              "ins": "Inskrivning", "slu": "Slutanteckning", "auf": "Anteckning utan fysiskt möte",
              "sva": "Slutenvårdsanteckning", "bes": "Besöksanteckning"}  # KV Anteckningstyp

DOCBOOK = "http://docbook.org/ns/docbook"
E = ElementMaker(namespace=DOCBOOK, nsmap={None: DOCBOOK})


def _article(title: str, *parts) -> str:
    return etree.tostring(E.article(E.info(E.title(title)), *parts, version="5.0"), encoding="unicode")


def _section(title: str, *content) -> etree._Element:
    return E.section(E.title(title), *(E.para(p) if isinstance(p, str) else p for p in content))


def _items(*items: str, ordered: bool = False) -> etree._Element:
    return (E.orderedlist if ordered else E.itemizedlist)(*(E.listitem(E.para(i)) for i in items))


def _bold(text: str) -> etree._Element:
    return E.emphasis(text, role="bold")


def _values(rng) -> dict:
    decimal = lambda lo, hi: f"{rng.uniform(lo, hi):.1f}".replace(".", ",")  # noqa: E731
    return {"temp": decimal(37.8, 39.6), "sat": rng.randint(92, 98), "crp": rng.choice([34, 56, 88, 112, 145]),
            "bt": f"{rng.randint(124, 158)}/{rng.randint(72, 94)}", "puls": rng.randint(58, 92),
            "vikt": rng.randint(58, 104), "krea": rng.randint(62, 118), "k": decimal(3.6, 4.8),
            "hba1c": rng.randint(44, 78), "nrs": rng.randint(1, 7), "dag": rng.randint(2, 9),
            "mmse": rng.randint(19, 28), "hb": rng.randint(98, 141), "flimmer": rng.randint(118, 164)}


# (note code, document type, title, template): plain text notes, by key; each story names its own
PLAIN = {
    "pneumonia": ("bes", "ova", "Besöksanteckning",
     "Kontaktorsak: Hosta och feber sedan fem dagar.\n"
     "Anamnes: Tilltagande hosta med missfärgade upphostningar, feber upp till {temp} grader. "
     "Ingen andnöd i vila.\n"
     "Status: Allmäntillstånd lätt påverkat. Cor: regelbunden rytm, inga blåsljud. Pulm: krepitationer basalt "
     "höger. Saturation {sat} % på rumsluft. CRP {crp} mg/L.\n"
     "Bedömning: Samhällsförvärvad pneumoni utan behov av sjukhusvård (CRB-65 0).\n"
     "Åtgärd: Fenoximetylpenicillin 1 g x 3 i 7 dagar. Återkontakt vid försämring eller om febern kvarstår "
     "efter tre dygn."),
    "hypertension": ("bes", "ova", "Besöksanteckning",
     "Kontaktorsak: Årskontroll hypertoni.\n"
     "Aktuellt: Mår bra, inga biverkningar. Tar sina läkemedel regelbundet och promenerar dagligen.\n"
     "Status: Blodtryck {bt} mmHg sittande, puls {puls}/min regelbunden. Vikt {vikt} kg.\n"
     "Lab: Kreatinin {krea} µmol/L, kalium {k} mmol/L.\n"
     "Bedömning: Välbehandlad essentiell hypertoni.\n"
     "Planering: Oförändrad behandling. Nytt besök om ett år med provtagning en vecka innan."),
    "knee_arthrosis": ("bes", "ova", "Besöksanteckning",
     "Kontaktorsak: Smärta i höger knä sedan ett halvår, värst i trappor.\n"
     "Status: Lätt svullnad, ingen rodnad eller värmeökning. Krepitationer vid flexion. Stabila ledband. "
     "Går utan hjälpmedel.\n"
     "Bedömning: Klinisk bild av primär gonartros.\n"
     "Åtgärd: Remiss till fysioterapeut för artrosskola. Paracetamol vid behov. Åter vid behov."),
    "diabetes": ("bes", "ova", "Diabetesbesök",
     "Kontaktorsak: Diabeteskontroll hos diabetessjuksköterska.\n"
     "Aktuellt: Inga känningar av låga värden. Följer kostråden.\n"
     "Mätvärden: HbA1c {hba1c} mmol/mol, blodtryck {bt} mmHg, vikt {vikt} kg.\n"
     "Fotundersökning: Inga sår, monofilament känns bilateralt.\n"
     "Planering: Fortsatt metformin. Ögonbottenfotografering bokad. Nytt besök om sex månader."),
    "dizzy_phone": ("auf", "ovr", "Telefonanteckning",
     "Patienten ringer om yrsel på morgonen sedan blodtrycksmedicinen höjdes.\n"
     "Råd: Ta tabletten till kvällen i stället och resa sig långsamt. Ringa igen om besvären kvarstår efter "
     "en vecka. Blodtryckskontroll hos distriktssköterska bokad."),
    "fall_phone": ("auf", "ovr", "Telefonanteckning",
     "Dottern ringer: patienten har fallit i hemmet i natt. Ingen medvetandeförlust, kan stödja på benen.\n"
     "Bedömning: Ingen akut skada enligt beskrivningen.\n"
     "Åtgärd: Hembesök av distriktssköterska i morgon. Söka akut vid höftsmärta eller ny förvirring."),
    "ward_day": ("sva", "dag", "Daganteckning",
     "Vårddag {dag}. Sovit gott. Smärtskattning NRS {nrs} i vila.\n"
     "Afebril. Mobiliseras med rollator till toaletten med stöd av en person.\n"
     "Äter halva portioner, näringsdryck två gånger dagligen. Hb {hb} g/L.\n"
     "Planering: Fortsatt mobilisering med fysioterapeut, blodstatus i morgon."),
    "physio_end": ("slu", "ovs", "Slutanteckning fysioterapi",
     "Behandlingsperioden avslutas efter {dag} besök.\n"
     "Mål: Gå utan hjälpmedel inomhus och klara trappor. Målet är uppnått.\n"
     "Patienten har ett hemträningsprogram för balans och benstyrka och fortsätter två gånger i veckan. "
     "Ny remiss vid behov."),
    "leg_ulcer": ("atb", "ova", "Omläggning",
     "Omläggning av venöst bensår vänster underben. Sårytan cirka {dag} cm², rena sårkanter, lätt fibrinbelagd "
     "sårbädd, ingen rodnad runt såret.\n"
     "Rengjort med ljummet kranvatten, skumförband och kompressionslindning.\n"
     "Nästa omläggning om tre dagar i hemmet av distriktssköterska."),
    "asthma": ("bes", "ova", "Besöksanteckning",
               "Kontaktorsak: Astmakontroll.\n"
               "Aktuellt: Astma sedan barndomen. Pip i bröstet och nattlig hosta sedan en förkylning för tre veckor "
               "sedan, tar salbutamol flera gånger dagligen.\n"
               "Status: Opåverkad. Pulm: enstaka ronki bilateralt, inga rassel. Saturation {sat} % på rumsluft. "
               "PEF 380 l/min, personligt bästa 450 l/min.\n"
               "Bedömning: Astma, otillräckligt kontrollerad.\n"
               "Åtgärd: Budesonid/formoterol 160/4,5 µg 2 inhalationer 2 gånger dagligen, inhalationstekniken "
               "genomgången. Salbutamol vid behov. Återbesök hos astmasjuksköterska om sex veckor."),
    "sore_throat": ("bes", "ova", "Besöksanteckning",
                    "Kontaktorsak: Halsont och feber sedan två dagar.\n"
                    "Status: Temp {temp} grader. Beläggningar på båda tonsillerna, ömmande käkvinkelkörtlar, ingen "
                    "hosta. Centorkriterier 4 av 4, snabbtest för streptokocker grupp A positivt.\n"
                    "Bedömning: Streptokockfaryngit.\n"
                    "Åtgärd: Fenoximetylpenicillin 1 g x 3 i 10 dagar. Åter vid försämring eller om besvären "
                    "kvarstår efter avslutad behandling."),
    "knee_injury": ("bes", "ova", "Besöksanteckning",
                    "Kontaktorsak: Vridvåld mot höger knä vid fotboll för en vecka sedan.\n"
                    "Status: Lätt svullnad, ömhet över mediala ledspringan, positivt McMurrays test. Stabila korsband "
                    "och kollateralligament. Går utan hjälpmedel.\n"
                    "Bedömning: Misstänkt medial meniskskada höger knä.\n"
                    "Åtgärd: Remiss till ortopedmottagningen för MR höger knä. Fysioterapeut för träningsprogram. "
                    "Paracetamol vid behov."),
    "cystitis_phone": ("auf", "ovr", "Telefonanteckning",
                       "Patienten ringer om sveda vid miktion och täta urinträngningar sedan i går. Ingen feber, "
                       "ingen flanksmärta, inte gravid.\n"
                       "Bedömning: Okomplicerad nedre urinvägsinfektion.\n"
                       "Åtgärd: Fosfomycin 3 g som engångsdos. Ringa igen om besvären kvarstår efter tre dygn eller "
                       "vid feber."),
    "thyroid": ("bes", "ova", "Besöksanteckning",
                "Kontaktorsak: Uppföljning av hypotyreos.\n"
                "Aktuellt: Mår bra, ingen trötthet. Tar levotyroxin 100 µg på morgonen.\n"
                "Lab: TSH och fritt T4 inom referensintervallen.\n"
                "Bedömning: Välbehandlad hypotyreos.\n"
                "Planering: Oförändrad dos. Ny provtagning om ett år, tidigare vid graviditet."),
    "back_pain": ("bes", "ova", "Besöksanteckning",
                  "Kontaktorsak: Ländryggssmärta sedan två veckor efter ett tungt lyft på arbetet.\n"
                  "Status: Nedsatt rörlighet i ländryggen, inga neurologiska bortfall, negativ Lasègue bilateralt. "
                  "Inga röda flaggor.\n"
                  "Bedömning: Lumbago.\n"
                  "Åtgärd: Råd om fortsatt aktivitet, paracetamol vid behov. Remiss till fysioterapeut. Åter om "
                  "besvären inte minskat inom sex veckor."),
}


def _epikris(v: dict) -> str:
    return _article(
        "Epikris",
        _section("Orsak till inläggning", "Hjärtklappning och andfåddhet sedan två dygn. EKG på akutmottagningen "
                 f"visade förmaksflimmer med kammarfrekvens {v['flimmer']} slag/min."),
        _section("Förlopp", "Frekvensreglerad med betablockad. Ekokardiografi visade normal vänsterkammarfunktion. "
                 "CHA₂DS₂-VASc 3. Sedan tidigare behandlad med warfarin, PK(INR) 2,4 vid ankomst. Spontan "
                 f"konvertering till sinusrytm vårddag {v['dag']}."),
        _section("Läkemedel vid utskrivning", _items("Metoprolol depottablett 50 mg, 1 x 1 (ny)",
                                                     "Warfarin 2,5 mg enligt doseringsschema från AK-mottagningen "
                                                     "(oförändrad)",
                                                     "Furosemid 40 mg, 1 x 1 (oförändrad)")),
        _section("Uppföljning", E.para(_bold("Återbesök på hjärtmottagningen om tre månader."),
                                       " PK(INR) kontrolleras av AK-mottagningen inom en vecka.")))


def _inskrivning(v: dict) -> str:
    return _article(
        "Inskrivningsanteckning",
        _section("Kontaktorsak", "Inkommer med ambulans efter fall i hemmet, kan inte belasta vänster ben."),
        _section("Anamnes", "Bor ensam i lägenhet med hemtjänst två gånger dagligen. Tidigare förmaksflimmer och "
                 "hypertoni."),
        _section("Status", f"Vaken och orienterad. Blodtryck {v['bt']} mmHg, puls {v['puls']}/min oregelbunden. "
                 "Vänster ben förkortat och utåtroterat. Röntgen visar lårbenshalsfraktur."),
        _section("Bedömning", "Collumfraktur vänster höft."),
        _section("Planering", _items("Operation i morgon, fasta från midnatt", "Smärtlindring enligt ordination",
                                     "Trycksårsprevention och tidig mobilisering efter operation", ordered=True)))


def _samordning(v: dict) -> str:
    return _article(
        "Samordnad individuell plan",
        E.para("SIP-möte i hemmet med patienten, dottern, distriktssköterska, biståndshandläggare och "
               "rehabpersonal. Patienten vill bo kvar hemma."),
        _section("Överenskommelser", _items("Hemsjukvården ansvarar för läkemedel via dosdispenserade påsar",
                                            "Hemtjänst utökas till fyra besök per dag",
                                            "Arbetsterapeut provar ut duschstol och toalettförhöjning",
                                            "Vårdcentralen ansvarar för medicinsk uppföljning")),
        _section("Nästa möte", E.para("Uppföljning om sex veckor, ",
                                      _bold("fast vårdkontakt: distriktssköterskan"), ".")))


def _utredning(v: dict) -> str:
    return _article(
        "Minnesutredning",
        _section("Bakgrund", "Anhöriga har märkt tilltagande glömska det senaste året. Klarar inte längre sin "
                 "ekonomi."),
        _section("Undersökning", E.para("MMSE-SR ", _bold(f"{v['mmse']}/30"), ", klocktest med felplacerade "
                                        "visare. DT hjärna visar måttlig central och kortikal atrofi.")),
        _section("Bedömning", E.para("Sannolik ", E.emphasis("Alzheimers sjukdom"), ", mild till måttlig grad. "
                                     "Diagnosen meddelad patienten och dottern.")),
        E.bibliography(E.bibliomixed("Socialstyrelsen. Nationella riktlinjer för vård och omsorg vid "
                                     "demenssjukdom. Stöd för styrning och ledning. Stockholm; 2017.")))


def _astma(v: dict) -> str:
    return _article(
        "Astmautredning",
        _section("Bakgrund", "Astma sedan barndomen, atopiskt eksem och jordnötsallergi. Flera försämringar det "
                 "senaste året, oftast efter luftvägsinfektion."),
        _section("Undersökning", E.para("Spirometri: FEV1 ", _bold("82 %"), " av förväntat värde, reversibilitet "
                                        "14 % efter salbutamol. Saturation ", f"{v['sat']} %.")),
        _section("Bedömning", E.para("Allergisk ", E.emphasis("astma"), ", delvis kontrollerad.")),
        _section("Planering", _items("Underhållsbehandling med budesonid/formoterol", "Skriftlig behandlingsplan "
                                     "vid försämring", "Ny spirometri om ett år", ordered=True)))


def _artroskopi(v: dict) -> str:
    return _article(
        "Epikris dagkirurgi",
        _section("Diagnos", "Medial meniskskada höger knä."),
        _section("Åtgärd", E.para("Artroskopi höger knä med ", _bold("partiell resektion av mediala menisken"),
                                  ". Korsband och ledbrosk utan anmärkning.")),
        _section("Efter operationen", _items("Belastning efter förmåga, kryckor de första dagarna",
                                             "Paracetamol vid smärta", "Träning enligt program från "
                                             "fysioterapeut", "Suturtagning på vårdcentralen om 10–14 dagar")))


# (note code, document type, title, builder): DocBook notes, by key
DOCBOOK_NOTES = {"discharge_af": ("sam", "epi", "Epikris", _epikris),
                 "admission_hip": ("ins", "int", "Inskrivningsanteckning", _inskrivning),
                 "care_plan": ("sao", "ovr", "Samordnad individuell plan", _samordning),
                 "memory": ("utr", "ova", "Minnesutredning", _utredning),
                 "asthma_assessment": ("utr", "ova", "Astmautredning", _astma),
                 "arthroscopy": ("sam", "epi", "Epikris dagkirurgi", _artroskopi)}


def _note(contract, demo, key: str, kind: tuple, when, *, title: str | None = "", text: str | None = "",
          **options) -> Record:
    """One note in 2.1's shape; `title`/`text` default to the kind's own, None leaves the part out."""
    note_code, document_type, own_title, make = kind
    if text == "":
        text = make(_values(demo.rng)) if callable(make) else make.format(**_values(demo.rng))
    title = own_title if title == "" else title
    note = compact({"note_code": note_code, "document_type": document_type, "title": title, "text": text,
                    "multimedia": options.pop("multimedia", None), "dissenting": options.pop("dissenting", [])})
    record = demo.record(contract=contract.id, information_type=contract.categorization, key=key,
                         title=title or NOTE_CODES.get(note_code or "") or "Journalanteckning", time=when,
                         detail={"note": note}, **options)
    record.detail["header"]["document_title"] = title
    return record


def _kinds(demo) -> tuple:
    """A note of the patient's story; structured (DocBook) ones as often as the story has kinds of them."""
    notes = story(demo).notes
    docbook = [DOCBOOK_NOTES[k] for k in notes if k in DOCBOOK_NOTES]
    plain = [PLAIN[k] for k in notes if k in PLAIN]
    structured = demo.rng.random() < (0.2 + 0.04 * len(docbook) if docbook else 0)
    return demo.rng.choice(docbook) if structured else demo.rng.choice(plain)


def records(contract, demo) -> list[Record]:
    notes = _notes(contract, demo)
    return notes if contract.major == 2 else [_major3(r, demo) for r in notes if not r.nullified]


def _notes(contract, demo) -> list[Record]:
    rng, profile = demo.rng, demo.profile
    if profile == "variants":
        return _variants(contract, demo)
    if profile == "blocked":
        return [_note(contract, demo, f"voo-{i}", _kinds(demo), demo.when(365 * (i + 1) - 1, 365 * i),
                      unit=demo.units[i % len(demo.units)]) for i in range(rng.randint(2, 5))]
    if profile == "heavy":
        count = 3000 if demo.logical_address == PROVIDERS[0][4][0] else rng.randint(200, 400)
        notes = [_note(contract, demo, f"voo-{i}", _kinds(demo), demo.when(15 * 365)) for i in range(count)]
        return notes + _special(contract, demo)
    count = {"rich": rng.randint(6, 10), "not_in_tgp": 2}.get(profile, 0)
    return [_note(contract, demo, f"voo-{i}", _kinds(demo), demo.when()) for i in range(count)]


def _variants(contract, demo) -> list[Record]:
    """Egon: every variant of the contract, once."""
    rng = demo.rng
    when = [demo.when() for _ in range(8)]
    nullified = _note(contract, demo, "voo-v1", PLAIN["dizzy_phone"], when[1])
    nullified.detail["header"]["nullified_reason"] = "Anteckningen skrevs på fel patient."
    opinion = {"id": {"root": "2c8b1f3e-5d47-4a8e-9b0a-6f1d2e3c4b5a"},
               "time": format_timestamp(when[4] + dt.timedelta(days=12)),  # written after reading the note
               "opinion": "Jag har aldrig haft förmaksflimmer tidigare, det var hjärtklappning av stress. Jag vill "
                          "att det framgår att jag inte samtyckte till blodförtunnande behandling.",
               "person_id": {"id": demo.patient.id, "type": demo.patient.root},
               "person_name": patient_name(demo.patient.id) or "Patienten"}
    return [
        _note(contract, demo, "voo-v0", PLAIN["hypertension"], when[0]),
        dataclasses.replace(nullified, nullified=True),
        _note(contract, demo, "voo-v2", PLAIN["ward_day"], when[2], signed=False),  # preliminary, unsigned
        _note(contract, demo, "voo-v3", ("auf", None, None, PLAIN["fall_phone"][3]), when[3],
              title=None),  # no titles, no type
        _note(contract, demo, "voo-v4", DOCBOOK_NOTES["discharge_af"], when[4], dissenting=[opinion]),
        _note(contract, demo, "voo-v5", ("utr", "ovr", "Remissvar ögonkliniken (inskannat)", None), when[5],
              text=None, multimedia={"mediaType": "application/pdf",
                                     "reference": f"https://bilagor.demo.invalid/{demo.logical_address}/"
                                                  f"remissvar-{rng.randint(10000, 99999)}.pdf"}),
        _note(contract, demo, "voo-v6", PLAIN["diabetes"], when[6], approved=False),  # not (yet) for the patient
        _note(contract, demo, "voo-v7", PLAIN["knee_arthrosis"], when[7], without_owner=True),
    ]


def _special(contract, demo) -> list[Record]:
    """Linda: a very long note, DocBook that is not well-formed, and DocBook with elements outside the rules."""
    long_note = _article("Epikris", *(_section(f"Vårdtillfälle {k}", "Inlagd för hjärtsvikt i försämring. "
                                               "Diuretika intravenöst med god effekt, viktnedgång 3 kg. "
                                               "Utskriven till hemmet med hemsjukvård.") for k in range(1, 41)))
    broken = ('<article xmlns="http://docbook.org/ns/docbook" version="5.0"><para>Remissvar från ögonkliniken: '
              'katarakt bilateralt, operation planeras.<para></article>')
    foreign = ('<article xmlns="http://docbook.org/ns/docbook" xmlns:xl="http://www.w3.org/1999/xlink" '
               'version="5.0"><para>Provsvar enligt tabell, se även <link xl:href="javascript:alert(1)">'
               'riktlinjen</link>.</para><informaltable><tr><td>Hb 128 g/L</td></tr></informaltable>'
               '<para onmouseover="alert(1)">Kontroll om en månad.</para></article>')
    kinds = [("sam", "epi", "Epikris (lång)", long_note), ("bes", "ova", "Remissvar", broken),
             ("bes", "ova", "Provsvarsanteckning", foreign)]
    return [_note(contract, demo, f"voo-s{i}", kind[:3] + (None,), demo.when(), text=kind[3])
            for i, kind in enumerate(kinds)]


def _hsa(value: str | None) -> dict | None:
    return {"root": HSA_ID_OID, "extension": value} if value else None


def _major3(r: Record, demo) -> Record:
    """A 2.1 note as 3.0 carries it: the note code as a CV, no document type, the JoL header."""
    note, hd = r.detail["note"], r.detail["header"]
    body = {k: v for k, v in note.items() if k not in ("note_code", "document_type", "dissenting")}
    body["note_code"] = {"code": note["note_code"], "codeSystem": KV_NOTE_TYPE,
                         "displayName": NOTE_CODES[note["note_code"]]}
    if note.get("dissenting"):  # the person's id is an IIType in 3.0
        body["dissenting"] = [{**o, "person_id": {"root": o["person_id"]["type"], "extension": o["person_id"]["id"]}}
                              for o in note["dissenting"]]
    signed = hd["signature"]
    header = compact({
        "access": compact({"care_provider": _hsa(r.care_provider_id), "care_unit": _hsa(r.care_unit_id),
                           "patient_id": {"root": demo.patient.root, "extension": demo.patient.id},
                           "block_time": format_timestamp(r.block_time),
                           "approved_for_patient": r.approved_for_patient}),
        "source_system": _hsa(r.source_system),
        "record": {"id": {"root": r.id}, "time": hd["document_time"]},  # root only, like documentId in 2.x
        "author": compact({"id": _hsa(hd["author_hsa_id"]), "name": hd["author_name"], "time": hd["author_time"],
                           "role": hd["author_role"], "org_unit": hd["org_unit"] and compact(hd["org_unit"])}),
        "signature": signed and compact({"id": _hsa(signed["hsa_id"]), "name": signed["name"], "time": signed["time"]}),
    })
    return dataclasses.replace(r, detail={**body, "header": header})
