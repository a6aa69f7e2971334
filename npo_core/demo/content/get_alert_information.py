"""Alerts for the demo patients (GetAlertInformation): realistic Swedish alerts with their real code systems."""

from __future__ import annotations

import copy

from ...contract import format_timestamp
from ...riv import compact
from ...riv.codes import ATC, ICD10SE, KV_CERTAINTY, KV_INFORMATION_TYPE, KV_SEVERITY, NPL_ID, SNOMED_CT_SE
from .stories import story

# KV Informationstyp codes NPÖ requires (TKB regel 2), shown with KV Uppmärksamhetstyp's names
KINDS = {"okh": "Överkänslighet", "uas": "Allvarlig sjukdom", "ube": "Allvarlig behandling",
         "arb": "Smittsam sjukdom", "vbe": "Vårdbegränsning", "est": "Historisk varningsinformation"}
SEVERITY = {"1": "Livshotande", "2": "Skadande", "3": "Besvärande"}
CERTAINTY = {"1": "Misstänkt", "2": "Konstaterad"}


def code(code_: str, system: str, name: str) -> dict:
    return {"code": code_, "codeSystem": system, "displayName": name}


def alert(kind: str, title: str, **fields) -> tuple[str, dict]:
    """A template: the title the contract reads from such a body, and the body."""
    return title, {"type": code(f"upp-{kind}", KV_INFORMATION_TYPE, KINDS[kind]), **fields}


def hypersensitivity(type_=None, severity=None, certainty=None, atc=None, non_atc=None, non_atc_comment=None,
                     agent=None) -> dict:
    pharmaceutical = compact({"atc": atc, "non_atc": non_atc, "non_atc_comment": non_atc_comment})
    return compact({"type": type_, "severity": severity and code(severity, KV_SEVERITY, SEVERITY[severity]),
                    "certainty": certainty and code(certainty, KV_CERTAINTY, CERTAINTY[certainty]),
                    "pharmaceutical": pharmaceutical or None, "other": {"agent": agent} if agent else None})


DRUG_ALLERGY = code("416098002", SNOMED_CT_SE, "Läkemedelsallergi")
FOOD_ALLERGY = code("414285001", SNOMED_CT_SE, "Födoämnesallergi")
PENICILLINS = code("J01C", ATC, "Betalaktamantibakteriella medel, penicilliner")
CONTRAST = code("V08AB", ATC, "Vattenlösliga, nefrotropa, lågosmolära röntgenkontrastmedel")
SULFA = code("J01EE01", ATC, "Sulfametoxazol och trimetoprim")

# alert templates by key; each story names the ones its patient has
TEMPLATES = {
    "penicillin": alert("okh", f"Överkänslighet: {PENICILLINS['displayName']}",
                        comment="Urtikaria och läppsvullnad 30 min efter första dosen Kåvepenin 2015. Behandlad med "
                                "antihistamin och kortison på akuten.",
                        hypersensitivity=hypersensitivity(DRUG_ALLERGY, "2", "2", atc=PENICILLINS)),
    "contrast": alert("okh", f"Överkänslighet: {CONTRAST['displayName']}",
                      comment="Anafylaktisk reaktion med blodtrycksfall efter intravenöst jodkontrastmedel vid DT buk. "
                              "Premedicinering krävs vid ny undersökning.",
                      hypersensitivity=hypersensitivity(DRUG_ALLERGY, "1", "2", atc=CONTRAST)),
    "sulfa": alert("okh", f"Överkänslighet: {SULFA['displayName']}", comment="Kraftig klåda och exantem av "
                                                                              "sulfapreparat.",
                   hypersensitivity=hypersensitivity(DRUG_ALLERGY, "3", "1", atc=SULFA)),
    "peanut": alert("okh", "Överkänslighet: Jordnöt", comment="Svullnad i svalget av jordnötter sedan barndomen. Har "
                                                               "adrenalinpenna.",
                    hypersensitivity=hypersensitivity(FOOD_ALLERGY, "1", "2", agent="Jordnöt")),
    "diabetes": alert("uas", "Diabetes mellitus typ 2 utan komplikationer",
                      comment="Insulinbehandlad sedan 2015. Risk för hypoglykemi vid fasta och vid utebliven måltid.",
                      serious_disease={"disease": code("E11.9", ICD10SE,
                                                       "Diabetes mellitus typ 2 utan komplikationer")}),
    "warfarin": alert("ube", "Antikoagulantiabehandling med warfarin",
                      comment="Mål-INR 2,0–3,0. Kontakta AK-mottagningen före ingrepp.",
                      treatment={"description": "Antikoagulantiabehandling med warfarin",
                                 "pharmaceuticals": [code("B01AA03", ATC, "Warfarin")]}),
    "mrsa": alert("arb", "Smitta: Resistens mot meticillin",
                  comment="Bärarskap påvisat vid screening. Basala hygienrutiner och eget rum vid inläggning.",
                  communicable_disease={"code": code("U82.1", ICD10SE, "Resistens mot meticillin"),
                                        "route": {"originalText": "Kontaktsmitta"}}),
    "no_cpr": alert("vbe", "Vårdbegränsning", restriction_of_care={
        "comment": "Ej hjärt-lungräddning (HLR) vid hjärtstopp. Beslut av ansvarig läkare efter samtal med "
                   "patienten och närstående. Övrig behandling ges fullt ut."}),
}
HISTORIC = alert("est", "Varning (överförd från tidigare journalsystem)", unstructured={
    "heading": "Varning (överförd från tidigare journalsystem)",
    "content": "Reagerat på lokalbedövning hos tandläkare 1998, oklart vilket preparat. Ej utrett."})
LATEX = alert("okh", "Överkänslighet: Naturgummilatex",
              hypersensitivity=hypersensitivity(non_atc="Naturgummilatex", non_atc_comment="Saknar ATC-kod"))
TEMPLATES |= {"historic": HISTORIC, "latex": LATEX}


def _alert(contract, demo, key: str, template: tuple[str, dict], when, **options):
    """A record from a template; validity and ascertained date start at `when` (TKB's default).

    Keyword arguments naming a body field change it (None leaves it out); the others go to `demo.record`.
    """
    title, body = template
    stamp = format_timestamp(when)
    fields = {k for _element, k, _kind in contract.body}
    detail = compact({**copy.deepcopy(body), "validity": {"start": stamp}, "ascertained_date": stamp[:8],
                      **{k: options.pop(k) for k in list(options) if k in fields}})
    record = demo.record(contract=contract.id, information_type=contract.categorization, key=key, title=title,
                         time=when, detail=detail, **options)
    record.detail["header"].update(document_title=None, document_time=None)  # N/A in this contract (TKB)
    return record


def records(contract, demo) -> list:
    rng, profile = demo.rng, demo.profile
    if profile == "variants":  # nullified is N/A here (TKB): an obsolete alert is this contract's variant
        when = [demo.when() for _ in range(6)]
        ended = demo.when((demo.today - when[2].date()).days)
        return [
            _alert(contract, demo, "upp-v0", TEMPLATES["penicillin"], when[0], verified_time=format_timestamp(when[0])),
            _alert(contract, demo, "upp-v1", TEMPLATES["warfarin"], when[1], signed=False),
            _alert(contract, demo, "upp-v2", TEMPLATES["mrsa"], when[2], obsolete_time=format_timestamp(ended),
                   obsolete_comment="Tre negativa odlingar efter avslutad behandling, bärarskapet avskrivet."),
            _alert(contract, demo, "upp-v3", LATEX, when[3], validity={}, ascertained_date=None),
            _alert(contract, demo, "upp-v4", HISTORIC, when[4], approved=False),
            _alert(contract, demo, "upp-v5", TEMPLATES["no_cpr"], when[5], without_owner=True),
        ]
    pool = [TEMPLATES[k] for k in story(demo).alerts]
    if profile == "blocked":
        return [_alert(contract, demo, f"upp-{i}", rng.choice(pool), demo.when(365 * (i + 1) - 1, 365 * i),
                       unit=demo.units[i % len(demo.units)]) for i in range(rng.randint(2, 5))]
    count = {"rich": rng.randint(1, 3), "heavy": 80, "not_in_tgp": 1}.get(profile, 0)  # drawn for every profile
    years = 10 if profile == "heavy" else 3
    out = [_alert(contract, demo, f"upp-{i}", rng.choice(pool), demo.when(years * 365)) for i in range(count)]
    if profile == "heavy":  # special variants: replaced registrations, drug products, a long comment
        for i, record in enumerate(out[:20]):
            if i % 2:
                record.detail.update(obsolete_time=format_timestamp(record.time),
                                     obsolete_comment="Ersatt av ny registrering efter allergiutredning.")
            else:
                record.detail["related"] = [{"type": {"originalText": "Ersätter"}, "document_ids": [out[i + 1].id],
                                             "comment": "Omregistrerad efter allergiutredning"}]
        for record in out:  # the products she reacted to, where a source names them
            if record.detail.get("hypersensitivity", {}).get("pharmaceutical", {}).get("atc") == SULFA:
                record.detail["hypersensitivity"]["pharmaceutical"]["products"] = [
                    code("19740416000037", NPL_ID, "Bactrim 400 mg/80 mg tablett"),
                    code("19810612000044", NPL_ID, "Eusaprim 400 mg/80 mg tablett")]
                break
        out[-1].detail["comment"] = " ".join(["Anamnes från flera vårdtillfällen:"] + [
            f"År {2000 + k}: reaktion dokumenterad, utredd och bedömd av allergolog." for k in range(25)])
    return out
