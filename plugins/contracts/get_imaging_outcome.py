"""GetImagingOutcome 1.0 (clinicalprocess:healthcond:actoutcome): radiology reports.

The PatientSummary header of the actoutcome:3 core, a report text (producer text: data,
never markup), the examinations with their times, modality and dose, and the referral.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import NamedTuple

from lxml import etree

from npo_core import Answer, Contract, InformationView, Query, Record, hookimpl
from npo_core.contract import Children, format_timestamp

from . import patientsummary as ps

CORE = "urn:riv:clinicalprocess:healthcond:actoutcome:3"
KVA = "1.2.752.116.1.3.2.1.4"
INTERACTION = "clinicalprocess_healthcond_actoutcome/interactions/GetImagingOutcomeInteraction/"
SNOMED = "1.2.752.116.2.1.1"
RADIOLOGY = ("394914008", "Radiologi")  # SNOMED CT specialty, for examinationSpeciality
RADIOLOGIST = {"code": "201010", "codeSystem": "1.2.752.129.2.2.1.4", "displayName": "Läkare"}  # KV Befattning
RESULT_TYPES = {"DEF": "Definitivt svar", "PREL": "Preliminärt svar", "TILL": "Tilläggssvar"}
EXAMINATION_KEYS = ("id", "code", "code_system", "name", "start", "end", "status", "unit", "images", "modality")



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
        ("Akut insjuknande med yrsel och huvudvärk. Blödning?", "Behandlas med apixaban för förmaksflimmer."),
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
        ("Viktnedgång och hemoptys. Tumör?", "Rökare, 40 paketår."),
        [("Ingen lungembolism. Inga förstorade lymfkörtlar i mediastinum. Emfysematösa förändringar apikalt "
          "bilateralt. Ingen tumörmisstänkt förändring.", "Emfysem. Ingen malignitetsmisstanke.")]),
]
COMMENTS = [None, None, None, "Jämfört med undersökning för två år sedan: ingen förändring.",
            "Svaret meddelat remittenten per telefon."]


def _c(local: str) -> str:
    return f"{{{CORE}}}{local}"


def _cv(parent: etree._Element, tag: str, code: str | None, system: str | None, name: str | None) -> None:
    """A CVType: code, system and display name, or the name alone as originalText."""
    el = ps.sub(parent, tag)
    if code:
        ps.sub(el, _c("code"), code)
        ps.sub(el, _c("codeSystem"), system)
        ps.opt(el, _c("displayName"), name)
    else:
        ps.opt(el, _c("originalText"), name)


def _read_cv(el: etree._Element | None) -> tuple[str | None, str | None, str | None]:
    cv = Children(el)
    return cv.text(_c("code")), cv.text(_c("codeSystem")), cv.text(_c("displayName")) or cv.text(_c("originalText"))


def _render_examination(parent: etree._Element, e: dict, source: str) -> None:
    el = ps.sub(parent, _c("imageRecording"))
    recording = ps.sub(el, _c("recordingId"))  # mandatory in the 3.1 core NPÖ producers were connected with
    ps.sub(recording, _c("root"), source)
    ps.opt(recording, _c("extension"), e["id"])
    _cv(el, _c("examinationActivity"), e["code"], e["code_system"], e["name"])
    period = ps.sub(el, _c("examinationTimePeriod"))
    ps.opt(period, _c("start"), e["start"])
    ps.opt(period, _c("end"), e["end"])
    ps.opt(el, _c("examinationStatus"), e["status"])
    ps.opt(el, _c("examinationUnit"), e["unit"])
    ps.opt(el, _c("numberOfImages"), e["images"])
    if e["modality"]:
        ps.sub(ps.sub(el, _c("modalityData")), _c("typeOfModality"), e["modality"])


def _read_examination(el: etree._Element) -> dict:
    recording = Children(el)
    code, system, name = _read_cv(recording.first(_c("examinationActivity")))
    images = recording.text(_c("numberOfImages"))
    period = recording.under(_c("examinationTimePeriod"))
    return {"id": recording.under(_c("recordingId")).text(_c("extension")), "code": code, "code_system": system,
            "name": name, "start": period.text(_c("start")), "end": period.text(_c("end")),
            "status": recording.text(_c("examinationStatus")), "unit": recording.text(_c("examinationUnit")),
            "images": int(images) if images and images.isdigit() else None,
            "modality": recording.under(_c("modalityData")).text(_c("typeOfModality"))}


def _title(examinations: list[dict]) -> str | None:
    return " + ".join(e["name"] for e in examinations if e["name"]) or None


class GetImagingOutcome(Contract):
    name = "GetImagingOutcome"
    version = "1.0"
    service_domain = "clinicalprocess:healthcond:actoutcome"
    categorization = "und-bdi-ure"
    record_element = "imagingOutcome"
    title = "Bilddiagnostik"
    schema = INTERACTION + "GetImagingOutcomeResponder_1.0.xsd"
    wsdl = INTERACTION + "GetImagingOutcomeInteraction_1.0_RIVTABP21.wsdl"

    def build_request(self, query: Query) -> etree._Element:
        return ps.build_query(self, query, CORE, period_tag="datePeriod")

    def parse_request(self, payload: etree._Element) -> Query:
        return ps.read_query(payload, self.responder_namespace, CORE, period_tag="datePeriod")

    def parse_response(self, payload: etree._Element) -> Answer:
        records = []
        for el in payload.iterfind(self.q("imagingOutcome")):
            children = Children(el)
            body = Children(ps.required(children, _c("imagingOutcomeBody")))
            referral = body.first(_c("referral"))
            asked = Children(referral)
            requester = asked.under(_c("accountableHealthcareProfessional"))
            examinations = [_read_examination(e) for e in body.all(_c("imageRecording"))]
            detail = {
                "result_type": body.text(_c("typeOfResult")),
                "result_time": body.text(_c("resultTime")),
                "report": body.text(_c("resultReport")),
                "comment": body.text(_c("resultComment")),
                "speciality": _read_cv(body.first(_c("examinationSpeciality")))[2],
                "doses": [{"value": dose.text(_c("value")), "unit": dose.text(_c("unit"))}
                          for dose in map(Children, body.all(_c("radiationDose")))],
                "examinations": examinations,
                "referral": {"id": asked.text(_c("referralId")),
                             "reason": asked.text(_c("referralReason")),
                             "anamnesis": asked.text(_c("anamnesis")),
                             "requester": requester.text(_c("healthcareProfessionalName")),
                             "time": requester.text(_c("authorTime"))} if referral is not None else None,
            }
            record = ps.parse_header(children.first(_c("imagingOutcomeHeader")), CORE, contract=self.id,
                                     information_type=self.categorization, title=_title(examinations),
                                     untitled="Bilddiagnostik")
            record.detail.update(detail)
            records.append(record)
        return ps.answer(records, payload, self.responder_namespace, CORE)

    def render_response(self, records: list[Record], query: Query) -> etree._Element:
        resp = etree.Element(self.q(f"{self.name}Response"), nsmap={None: self.responder_namespace, "core": CORE})
        for r in records:
            if not ps.matches(r, query):
                continue
            d = r.detail
            el = ps.sub(resp, self.q("imagingOutcome"))
            ps.render_header(el, _c("imagingOutcomeHeader"), CORE, r, query.patient)
            body = ps.sub(el, _c("imagingOutcomeBody"))
            if d["speciality"]:
                code = RADIOLOGY[0] if d["speciality"] == RADIOLOGY[1] else None
                _cv(body, _c("examinationSpeciality"), code, SNOMED, d["speciality"])
            ps.sub(body, _c("typeOfResult"), d["result_type"])
            ps.sub(body, _c("resultTime"), d["result_time"])
            ps.sub(body, _c("resultReport"), d["report"] or "")
            ps.opt(body, _c("resultComment"), d["comment"])
            for dose in d["doses"]:
                pq = ps.sub(body, _c("radiationDose"))
                ps.sub(pq, _c("value"), dose["value"])
                ps.sub(pq, _c("unit"), dose["unit"])
            for e in d["examinations"]:
                _render_examination(body, e, r.source_system)
            if d["referral"]:
                ref = d["referral"]
                referral = ps.sub(body, _c("referral"))
                ps.sub(referral, _c("referralId"), ref["id"] or "")
                ps.opt(referral, _c("referralReason"), ref["reason"])
                ps.opt(referral, _c("anamnesis"), ref["anamnesis"])
                requester = ps.sub(referral, _c("accountableHealthcareProfessional"))
                ps.sub(requester, _c("authorTime"), ref["time"] or d["result_time"])
                ps.opt(requester, _c("healthcareProfessionalName"), ref["requester"])
        ps.render_result(resp, self.responder_namespace, CORE)
        return resp

    def demo_records(self, demo) -> list[Record]:
        rng = demo.rng
        count = {"rich": rng.randint(1, 3), "variants": 5, "blocked": rng.randint(2, 5),
                 "heavy": rng.randint(60, 120), "not_in_tgp": 2}.get(demo.profile, 0)
        out = []
        for i in range(count):
            key = f"bdi-{i}"
            unit = demo.units[i % len(demo.units)] if demo.profile == "blocked" else None
            when = demo.when(365 * i + 364, 365 * i + 1) if demo.profile == "blocked" else demo.when(min_days_back=1)
            chosen = [rng.choice(EXAMINATIONS)]
            if demo.profile == "heavy" and i == 1:  # one answer covering two examinations
                chosen.append(next(e for e in EXAMINATIONS if e.modality != chosen[0].modality))
            examinations, doses, findings, start = [], [], [], when
            for n, exam in enumerate(chosen, 1):
                end = start + dt.timedelta(minutes=exam.minutes)
                examinations.append({"id": f"{key}-{n}", "code": exam.kva, "code_system": KVA if exam.kva else None,
                                     "name": exam.name, "start": format_timestamp(start),
                                     "end": format_timestamp(end), "status": "Avklarad", "unit": exam.unit,
                                     "images": rng.randint(*exam.images), "modality": exam.modality})
                if exam.dose:
                    doses.append({"value": f"{rng.uniform(*exam.dose):.2f}", "unit": "mSv"})
                findings.append(rng.choice(exam.outcomes))
                start = end
            reason, anamnesis = chosen[0].referral
            requester = demo.clinician()[1]
            report = "\n\n".join(f"{e['name']}.\n{finding}" for e, (finding, _) in zip(examinations, findings))
            report += "\n\nBedömning: " + " ".join(conclusion for _, conclusion in findings)
            answered = max(when + dt.timedelta(hours=2), (when + dt.timedelta(days=rng.randint(0, 2))).replace(
                hour=rng.randint(8, 16), minute=rng.choice((0, 15, 30, 45))))  # read within office hours
            detail = {"result_type": "DEF", "result_time": format_timestamp(answered), "report": report,
                      "comment": rng.choice(COMMENTS), "speciality": RADIOLOGY[1], "doses": doses,
                      "examinations": examinations,
                      "referral": {"id": f"RID{rng.randint(1000000, 9999999)}", "reason": reason,
                                   "anamnesis": anamnesis, "requester": requester,
                                   "time": format_timestamp(when - dt.timedelta(days=rng.randint(1, 20)))}}
            variant = i if demo.profile == "variants" else None
            title, signed, approved = _title(examinations), variant != 2, variant != 2
            if variant == 1:  # every optional part absent; the examination named in free text only
                detail.update(comment=None, speciality=None, doses=[], referral=None, examinations=[
                    {**dict.fromkeys(EXAMINATION_KEYS), "name": examinations[0]["name"],
                     "start": examinations[0]["start"]}])
            elif variant == 2:  # a preliminary report: unsigned, not yet shown to the patient
                detail.update(result_type="PREL", comment="Preliminärt svar, definitivt svar följer efter "
                                                          "eftergranskning.")
            elif demo.profile == "heavy" and i in (0, 2):  # producer text is data, however it looks
                detail["report"] = (report + "\n\n<b>OBS!</b> Kontrastmedel <script>alert('x')</script> & "
                                    "eGFR < 30 ska bedömas före nästa undersökning.") * (1 + i * 10)
                detail["result_type"] = "TILL" if i == 2 else "DEF"
            record = demo.record(contract=self.id, information_type=self.categorization, key=key, title=title,
                                 time=when, detail=detail, unit=unit, without_owner=variant == 4, signed=signed,
                                 approved=approved)
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


def _when(r: Record) -> str:
    return r.time.strftime("%Y-%m-%d") if r.time else "–"


def _answer(r: Record) -> str:
    kind = r.detail.get("result_type")
    return "Makulerat" if r.nullified else RESULT_TYPES.get(kind, kind or "–")


def _excerpt(text: str | None, length: int = 90) -> str:
    """The conclusion if the report states one, else the report's beginning."""
    if not text:
        return "–"
    text = text.rsplit("Bedömning:", 1)[-1].strip() if "Bedömning:" in text else " ".join(text.split())
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def _details(r: Record) -> list[tuple[str, str]]:
    d, header = r.detail, r.detail.get("header") or {}
    referral = d.get("referral") or {}
    rows = [("Utlåtande", d.get("report")), ("Kommentar", d.get("comment")),
            ("Makuleringsorsak", header.get("nullified_reason") if r.nullified else None),
            ("Frågeställning", referral.get("reason")), ("Anamnes", referral.get("anamnesis")),
            ("Remittent", referral.get("requester"))]
    for e in d.get("examinations") or []:
        facts = [e.get("modality"), e.get("unit"), e.get("images") and f"{e['images']} bilder", e.get("status")]
        rows.append((e.get("name") or "Undersökning", ", ".join(f for f in facts if f) or "–"))
    doses = [f"{dose['value'].replace('.', ',')} {dose['unit']}" for dose in d.get("doses") or [] if dose.get("value")]
    rows += [("Stråldos", ", ".join(doses)), ("Specialitet", d.get("speciality")),
             ("Signerat av", (header.get("signature") or {}).get("name"))]
    return [(label, value) for label, value in rows if value]


@hookimpl
def register_contracts(register):
    register(GetImagingOutcome())


@hookimpl
def register_views(register):
    register(InformationView(
        slug="bilddiagnostik", title="Bilddiagnostik", categorizations=("und-bdi-ure",), order=50,
        columns=(("Datum", _when),
                 ("Undersökning", lambda r: r.title),
                 ("Svar", _answer),
                 ("Bedömning", lambda r: _excerpt(r.detail.get("report"))),
                 ("Vårdenhet", lambda r: r.care_unit_name or r.care_unit_id or "Okänd"),
                 ("Vårdgivare", lambda r: r.care_provider_name or r.care_provider_id or "Okänd")),
        details=_details,
        help="Röntgen-, DT-, MR- och ultraljudssvar med radiologens utlåtande.",
    ))
