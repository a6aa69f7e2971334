"""Radiology reports for the demo patients (GetImagingOutcome)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import NamedTuple

from ...contract import format_timestamp
from ...riv import compact
from ...riv.codes import KV_BEFATTNING, KVA, SNOMED_CT_SE
from .stories import story

RADIOLOGY = {"code": "394914008", "codeSystem": SNOMED_CT_SE, "displayName": "Radiologi"}  # examinationSpeciality
RADIOLOGIST = {"code": "201010", "codeSystem": KV_BEFATTNING, "displayName": "Läkare"}
PACS = "https://pacs.example.se/wado"  # a viewer the demo's references point to (reserved domain: no such host)
HOSTILE_REFERENCE = "javascript:alert('pacs')"


class Examination(NamedTuple):
    name: str
    kva: str | None  # where the classification has a code; else the name goes in originalText, as the TKB says
    modality: str  # DICOM modality
    unit: str
    dose: tuple[float, float] | None  # effective dose range in mSv; None without ionising radiation
    images: tuple[int, int]
    minutes: int
    referral: tuple[str, str | None]  # frågeställning, anamnes
    outcomes: list[tuple[str, str]]  # finding, conclusion


EXAMINATIONS = [
    Examination(
        "DT hjärna utan kontrast", None, "CT", "DT-lab", (1.4, 2.3), (28, 64), 10,
        ("Akut insjuknande med yrsel och huvudvärk. Blödning?", "Antikoagulantiabehandling för förmaksflimmer."),
        [("Inga tecken till blödning, infarkt eller expansivitet. Normalvida ventriklar och sulci för åldern. "
          "Inga skallfrakturer.", "Normal DT hjärna."),
         ("Lågattenuerande område i vänster frontallob, förenligt med äldre infarkt. Inga tecken till färsk "
          "blödning. Måttliga småkärlsförändringar i vit substans.",
          "Äldre infarkt vänster frontalt. Ingen akut patologi.")]),
    Examination(
        "Lungröntgen", None, "DX", "Konventionell röntgen", (0.02, 0.05), (2, 2), 5,
        ("Feber och hosta sedan en vecka, nedsatta andningsljud höger basalt. Pneumoni?", None),
        [("Hjärtat normalstort. Inga infiltrat, ingen pleuravätska. Normal lungkärlteckning.",
          "Normala förhållanden."),
         ("Nytillkommen förtätning i höger underlob, förenlig med pneumoni. Liten mängd pleuravätska höger "
          "sida. Hjärtat normalstort.", "Pneumoni höger underlob. Kontroll rekommenderas efter 6–8 veckor.")]),
    Examination(
        "MR knä höger", None, "MR", "MR-lab", None, (160, 320), 35,
        ("Vridvåld mot höger knä vid fotboll för tre veckor sedan, återkommande låsningar. Meniskskada?", None),
        [("Horisontell ruptur i mediala meniskens bakhorn som når den artikulära ytan. Intakta korsband och "
          "kollateralligament. Lätt ökad ledvätska.", "Medial meniskruptur."),
         ("Intakta menisker och ligament. Benmärgsödem i laterala femurkondylen, förenligt med kontusion. "
          "Måttlig ledvätska.", "Benkontusion lateralt. Inga ligament- eller meniskskador.")]),
    Examination(
        "Ultraljud buk", None, "US", "Ultraljud", None, (14, 40), 20,
        ("Återkommande smärtor under höger arcus efter måltid. Gallsten?",
         "Ej fastande vid tidigare undersökning."),
        [("Levern normalstor med homogent eko. Gallblåsan innehåller flera konkrement, det största 14 mm, "
          "väggen ej förtjockad. Gallvägarna ej vidgade. Pankreas, mjälte och njurar utan anmärkning.",
          "Gallstenar utan tecken till kolecystit."),
         ("Levern förstorad med ökad ekogenicitet, förenligt med steatos. Inga fokala förändringar. Gallblåsa "
          "och gallvägar utan anmärkning. Normala njurar.", "Leversteatos.")]),
    Examination(
        "Ultraljud sinus", "AD042", "US", "Öron-näsa-hals", None, (4, 8), 10,
        ("Ansiktsvärk och nästäppa sedan tre veckor. Sinuit?", None),
        [("Ekoreflex från bakre sinusväggen på höger sida, talar för vätska. Vänster sida utan anmärkning.",
          "Sekret i höger käkhåla, förenligt med sinuit.")]),
    Examination(
        "DT thorax med kontrast", None, "CT", "DT-lab", (4.0, 7.0), (250, 420), 15,
        ("Viktnedgång och blodtingerade upphostningar. Tumör?", "Före detta rökare."),
        [("Ingen lungembolism. Inga förstorade lymfkörtlar i mediastinum. Emfysematösa förändringar apikalt "
          "bilateralt. Ingen tumörmisstänkt förändring.", "Emfysem. Ingen malignitetsmisstanke.")]),
]
COMMENTS = [None, None, None, "Jämfört med undersökning för två år sedan: ingen förändring.",
            "Svaret meddelat remittenten per telefon."]


def _uid(*parts: str) -> str:
    """A DICOM UID of the demo's own (2.25: derived from a UUID-sized number)."""
    return f"2.25.{int(hashlib.sha256('|'.join(parts).encode()).hexdigest()[:30], 16)}"


def _images(recording: dict, source: str, hostile: bool) -> None:
    """The examination's DICOM object and a key image, as references into the PACS (a script URL for Linda)."""
    sop = _uid(source, recording["id"]["extension"])
    reference = HOSTILE_REFERENCE if hostile else f"{PACS}?objectUID={sop}"
    recording["dicom"] = [{"sop": sop, "reference": reference}]
    recording["structured"] = [{"created": recording["period"]["start"], "image": {
        "media_type": "image/jpeg", "reference": reference if hostile else f"{reference}&contentType=image/jpeg"}}]


def records(contract, demo) -> list:
    rng = demo.rng
    count = {"rich": rng.randint(1, 3), "variants": 5, "blocked": rng.randint(2, 5),  # each drawn for every profile
             "heavy": rng.randint(60, 120), "not_in_tgp": 2}.get(demo.profile, 0)
    pool = [e for e in EXAMINATIONS if e.name in story(demo).examinations]
    out = []
    for i in range(count):
        key = f"bdi-{i}"
        unit = demo.units[i % len(demo.units)] if demo.profile == "blocked" else None
        when = demo.when(365 * i + 364, 365 * i + 1) if demo.profile == "blocked" else demo.when(min_days_back=1)
        chosen = [rng.choice(pool)]
        if demo.profile == "heavy" and i == 1:  # one answer covering two examinations
            chosen.append(next(e for e in pool if e.modality != chosen[0].modality))
        examinations, doses, findings, start = [], [], [], when
        for n, exam in enumerate(chosen, 1):
            end = start + dt.timedelta(minutes=exam.minutes)
            activity = {"code": exam.kva, "codeSystem": KVA, "displayName": exam.name} if exam.kva else \
                {"originalText": exam.name}
            examinations.append({"id": {"root": demo.logical_address, "extension": f"{key}-{n}"}, "activity": activity,
                                 "period": {"start": format_timestamp(start), "end": format_timestamp(end)},
                                 "status": "Avklarad", "unit": exam.unit, "images": rng.randint(*exam.images),
                                 "modality": {"type": exam.modality}})
            if exam.dose:
                doses.append({"value": float(f"{rng.uniform(*exam.dose):.2f}"), "unit": "mSv"})
            findings.append(rng.choice(exam.outcomes))
            start = end
        reason, anamnesis = chosen[0].referral
        requester = demo.clinician()[1]
        report = "\n\n".join(f"{e.name}.\n{finding}" for e, (finding, _) in zip(chosen, findings))
        report += "\n\nBedömning: " + " ".join(conclusion for _, conclusion in findings)
        answered = max(when + dt.timedelta(hours=2), (when + dt.timedelta(days=rng.randint(0, 2))).replace(
            hour=rng.randint(8, 16), minute=rng.choice((0, 15, 30, 45))))  # read within office hours
        detail = {"result_type": "DEF", "result_time": format_timestamp(answered), "report": report,
                  "comment": rng.choice(COMMENTS), "speciality": RADIOLOGY, "doses": doses,
                  "examinations": examinations,
                  "referral": compact({"id": f"RID{rng.randint(1000000, 9999999)}", "reason": reason,
                                       "anamnesis": anamnesis, "requester": {"author_time": format_timestamp(
                                           when - dt.timedelta(days=rng.randint(1, 20))), "name": requester}})}
        variant = i if demo.profile == "variants" else None
        title = " + ".join(e.name for e in chosen)
        if variant == 0:  # every part a producer may send
            detail["patient"] = {"weight": {"value": 78.0, "unit": "kg"}, "length": {"value": 176.0, "unit": "cm"}}
        if variant == 1:  # every optional part absent; the examination named in free text only
            detail.update(comment=None, speciality=None, doses=None, referral=None)
            detail["examinations"] = [{"id": {"root": demo.logical_address},
                                       "activity": {"originalText": chosen[0].name},
                                       "period": {"start": examinations[0]["period"]["start"]}}]
        elif variant == 2:  # a preliminary report: unsigned, not yet shown to the patient
            detail.update(result_type="PREL",
                          comment="Preliminärt svar, definitivt svar följer efter eftergranskning.")
        hostile = demo.profile == "heavy" and i in (0, 2)
        if hostile:  # producer text is data, however it looks
            detail["report"] = (report + "\n\n<b>OBS!</b> Kontrastmedel <script>alert('x')</script> & "
                                "eGFR < 30 ska bedömas före nästa undersökning.") * (1 + i * 10)
            detail["result_type"] = "TILL" if i == 2 else "DEF"
        if demo.profile == "rich" or variant == 0 or hostile:
            for recording in detail["examinations"]:
                _images(recording, demo.logical_address, hostile)
        record = demo.record(contract=contract.id, information_type=contract.categorization, key=key, title=title,
                             time=when, detail=compact(detail), unit=unit, without_owner=variant == 4,
                             signed=variant != 2, approved=variant != 2)
        header = record.detail["header"]
        header.update(author_time=detail["result_time"], author_role=RADIOLOGIST)  # who reads and signs
        if header["signature"]:
            header["signature"]["time"] = detail["result_time"]
        if variant == 1:
            header["document_title"] = None
        if variant == 3:  # a report nullified at the source, with the reason
            header["nullified_reason"] = "Undersökningen registrerad på fel patient."
            record = dataclasses.replace(record, nullified=True)
        out.append(record)
    return out
