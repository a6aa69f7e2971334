"""GetAlertInformation 2.0 (clinicalprocess:healthcond:description): uppmärksamhetsinformation.

Alerts: hypersensitivity (e.g. penicillin allergy with its severity), serious disease, serious
treatment, communicable disease, restriction of care and unstructured historic warnings. The
body's own fields are kept in `Record.detail`. Blocks may exclude this information type ("upp").
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt

from lxml import etree

from npo_core import Answer, Contract, InformationView, Query, Record, hookimpl
from npo_core.contract import Children, format_timestamp, parse_timestamp, shown_timestamp

from . import patientsummary as ps

CORE = "urn:riv:clinicalprocess:healthcond:description:2"
KV_INFORMATION_TYPE = "1.2.752.129.2.2.2.1"
KV_SEVERITY = "1.2.752.129.2.2.3.3"  # KV Allvarlighetsgrad
KV_CERTAINTY = "1.2.752.129.2.2.3.11"  # KV Visshetsgrad
ATC = "1.2.752.129.2.2.3.1.1"
ICD10SE = "1.2.752.116.1.1.1.1.3"
KVA = "1.2.752.116.1.3.2.1.4"
SNOMED_SE = "1.2.752.116.2.1.1"
NPL_ID = "1.2.752.129.2.1.5.1"
CV_KEYS = ("code", "codeSystem", "codeSystemName", "codeSystemVersion", "displayName", "originalText")

# KV Informationstyp codes NPÖ requires (TKB regel 2), shown with KV Uppmärksamhetstyp's names
KINDS = {"okh": "Överkänslighet", "uas": "Allvarlig sjukdom", "ube": "Allvarlig behandling",
         "arb": "Smittsam sjukdom", "vbe": "Vårdbegränsning", "est": "Historisk varningsinformation"}
SEVERITY = {"1": "Livshotande", "2": "Skadande", "3": "Besvärande"}
CERTAINTY = {"1": "Misstänkt", "2": "Konstaterad"}


def c(local: str) -> str:
    return f"{{{CORE}}}{local}"


# -- CVType, shared with the other plugins of the 2.x description core ---------------------------


def read_cv(el: etree._Element | None) -> dict | None:
    """A CVType as a dict of the parts present; None when the element is absent."""
    return ps.present(el, CORE, CV_KEYS)


def write_cv(parent: etree._Element, tag: str, value: dict | None) -> None:
    if value is not None:
        el = ps.sub(parent, tag)
        for k in CV_KEYS:
            ps.opt(el, c(k), value.get(k))


def cv_text(value: dict | None, default: str = "–") -> str:
    value = value or {}
    return value.get("displayName") or value.get("originalText") or value.get("code") or default


def code(code_: str, system: str, name: str) -> dict:
    return {"code": code_, "codeSystem": system, "displayName": name}


# -- the body as JSON: every key always present, so generated and parsed bodies compare equal ------


def body(kind: str | None, **fields) -> dict:
    blank = {"type": code(f"upp-{kind}", KV_INFORMATION_TYPE, KINDS[kind]) if kind else None, "ascertained_date": None,
             "verified_time": None, "validity": {"start": None, "end": None}, "comment": None,
             "obsolete_time": None, "obsolete_comment": None, "hypersensitivity": None, "serious_disease": None,
             "treatment": None, "communicable_disease": None, "restriction_of_care": None, "unstructured": None,
             "related": []}
    return {**blank, **fields}


def hypersensitivity(type_=None, severity=None, certainty=None, atc=None, non_atc=None, non_atc_comment=None,
                     products=(), agent=None, agent_code=None, pharmaceutical=None) -> dict:
    pharmaceutical = pharmaceutical if pharmaceutical is not None else bool(atc or non_atc or products)
    return {"type": type_, "severity": severity, "certainty": certainty,
            "pharmaceutical": {"atc": atc, "non_atc": non_atc, "non_atc_comment": non_atc_comment,
                               "products": list(products)} if pharmaceutical else None,
            "other": {"agent": agent, "agent_code": agent_code} if agent or agent_code else None}


def title_of(d: dict) -> str:
    """What the alert is about, in a few words, whichever kind of body it has."""
    if h := d.get("hypersensitivity"):
        ph, other = h.get("pharmaceutical") or {}, h.get("other") or {}
        agent = (cv_text(ph.get("atc"), "") or ph.get("non_atc") or other.get("agent")
                 or cv_text(other.get("agent_code"), "") or cv_text(h.get("type"), ""))
        return f"Överkänslighet: {agent}" if agent else "Överkänslighet"
    if d.get("serious_disease"):
        return cv_text(d["serious_disease"])
    if d.get("treatment"):
        return d["treatment"]["description"]
    if d.get("communicable_disease"):
        return f"Smitta: {cv_text(d['communicable_disease']['code'])}"
    if d.get("restriction_of_care"):
        return "Vårdbegränsning"
    if d.get("unstructured"):
        return d["unstructured"]["heading"]
    return cv_text(d.get("type"), "Uppmärksamhetsinformation")


class GetAlertInformation(Contract):
    name = "GetAlertInformation"
    version = "2.0"
    service_domain = "clinicalprocess:healthcond:description"
    categorization = "upp"
    record_element = "alertInformation"
    title = "Uppmärksamhetsinformation"
    block_information_type = "upp"
    schema = ("clinicalprocess_healthcond_description/interactions/GetAlertInformationInteraction/"
              "GetAlertInformationResponder_2.0.xsd")
    wsdl = ("clinicalprocess_healthcond_description/interactions/GetAlertInformationInteraction/"
            "GetAlertInformationInteraction_2.0_RIVTABP21.wsdl")

    def build_request(self, query: Query) -> etree._Element:
        return ps.build_query(self, query, CORE)

    def parse_request(self, payload: etree._Element) -> Query:
        return ps.read_query(payload, self.responder_namespace, CORE)

    # -- response ------------------------------------------------------------------------------
    def parse_response(self, payload: etree._Element) -> Answer:
        records = []
        for el in payload.iterfind(self.q("alertInformation")):
            children = Children(el)
            detail = _read_body(children.first(c("alertInformationBody")))
            record = ps.parse_header(children.first(c("alertInformationHeader")), CORE, contract=self.id,
                                     information_type=self.categorization, title=title_of(detail))
            record.detail.update(detail)
            records.append(record)
        return ps.answer(records, payload, self.responder_namespace, CORE)

    def render_response(self, records: list[Record], query: Query) -> etree._Element:
        resp = etree.Element(self.q("GetAlertInformationResponse"),
                             nsmap={None: self.responder_namespace, "core": CORE})
        for r in records:
            if _matches(r, query):
                el = ps.sub(resp, self.q("alertInformation"))
                ps.render_header(el, c("alertInformationHeader"), CORE, r, query.patient)
                _write_body(ps.sub(el, c("alertInformationBody")), r.detail)
        ps.render_result(resp, self.responder_namespace, CORE)
        return resp

    def demo_records(self, demo) -> list[Record]:
        return _demo_alerts(self, demo)


def _matches(record: Record, query: Query) -> bool:
    """TKB: the period selects alerts whose validity (until obsolete, else open) overlaps it."""
    if not ps.matches(record, dataclasses.replace(query, period=None)):
        return False
    if not query.period:
        return True
    d = record.detail
    start = parse_timestamp((d.get("validity") or {}).get("start")) or record.time
    end = parse_timestamp(d.get("obsolete_time") or (d.get("validity") or {}).get("end"))
    return (start is None or start.date() <= query.period[1]) and (end is None or end.date() >= query.period[0])


def _read_body(b: etree._Element | None) -> dict:
    if b is None:
        return body(None)
    alert = Children(b)
    validity = alert.under(c("validityTimePeriod"))
    h, treatment = alert.first(c("hypersensitivity")), alert.first(c("treatment"))
    disease, restriction = alert.first(c("communicableDisease")), alert.first(c("restrictionOfCare"))
    unstructured = alert.first(c("unstructuredAlertInformation"))
    sensitivity, treated, infection = Children(h), Children(treatment), Children(disease)
    limits, note = Children(restriction), Children(unstructured)
    ph, other = sensitivity.first(c("pharmaceuticalHypersensitivity")), sensitivity.first(c("otherHypersensitivity"))
    drug, agent = Children(ph), Children(other)
    return {
        "type": read_cv(alert.first(c("typeOfAlertInformation"))),
        "ascertained_date": alert.text(c("ascertainedDate")),
        "verified_time": alert.text(c("verifiedTime")),
        "validity": {"start": validity.text(c("start")), "end": validity.text(c("end"))},
        "comment": alert.text(c("alertInformationComment")),
        "obsolete_time": alert.text(c("obsoleteTime")),
        "obsolete_comment": alert.text(c("obsoleteComment")),
        "hypersensitivity": None if h is None else {
            "type": read_cv(sensitivity.first(c("typeOfHypersensitivity"))),
            "severity": read_cv(sensitivity.first(c("degreeOfSeverity"))),
            "certainty": read_cv(sensitivity.first(c("degreeOfCertainty"))),
            "pharmaceutical": None if ph is None else {
                "atc": read_cv(drug.first(c("atcSubstance"))), "non_atc": drug.text(c("nonATCSubstance")),
                "non_atc_comment": drug.text(c("nonATCSubstanceComment")),
                "products": [read_cv(p) for p in drug.all(c("pharmaceuticalProductId"))]},
            "other": None if other is None else {
                "agent": agent.text(c("hypersensitivityAgent")),
                "agent_code": read_cv(agent.first(c("hypersensitivityAgentCode")))},
        },
        "serious_disease": read_cv(alert.under(c("seriousDisease")).first(c("disease"))),
        "treatment": None if treatment is None else {
            "description": treated.text(c("treatmentDescription")) or "",
            "code": read_cv(treated.first(c("treatmentCode"))),
            "pharmaceuticals": [read_cv(p) for p in treated.all(c("pharmaceuticalTreatment"))]},
        "communicable_disease": None if disease is None else {
            "code": read_cv(infection.first(c("communicableDiseaseCode"))),
            "route": read_cv(infection.first(c("routeOfTransmission")))},
        "restriction_of_care": None if restriction is None else limits.text(c("restrictionOfCareComment")) or "",
        "unstructured": None if unstructured is None else {
            "heading": note.text(c("unstructuredAlertInformationHeading")) or "",
            "content": note.text(c("unstructuredAlertInformationContent")) or ""},
        "related": [{"type": read_cv(rel.first(c("typeOfAlertInformationRelationship"))),
                     "comment": rel.text(c("relationComment")),
                     "document_ids": [e.text.strip() for e in rel.all(c("documentId")) if e.text]}
                    for rel in map(Children, alert.all(c("relatedAlertInformation")))],
    }


def _write_body(b: etree._Element, d: dict) -> None:
    """The inverse of _read_body, in the schema's element order."""
    write_cv(b, c("typeOfAlertInformation"), d.get("type") or {})
    ps.opt(b, c("ascertainedDate"), d.get("ascertained_date"))
    ps.opt(b, c("verifiedTime"), d.get("verified_time"))
    validity = ps.sub(b, c("validityTimePeriod"))
    ps.opt(validity, c("start"), (d.get("validity") or {}).get("start"))
    ps.opt(validity, c("end"), (d.get("validity") or {}).get("end"))
    ps.opt(b, c("alertInformationComment"), d.get("comment"))
    ps.opt(b, c("obsoleteTime"), d.get("obsolete_time"))
    ps.opt(b, c("obsoleteComment"), d.get("obsolete_comment"))
    if h := d.get("hypersensitivity"):
        el = ps.sub(b, c("hypersensitivity"))
        write_cv(el, c("typeOfHypersensitivity"), h.get("type"))
        write_cv(el, c("degreeOfSeverity"), h.get("severity"))
        write_cv(el, c("degreeOfCertainty"), h.get("certainty"))
        if (ph := h.get("pharmaceutical")) is not None:
            p = ps.sub(el, c("pharmaceuticalHypersensitivity"))
            write_cv(p, c("atcSubstance"), ph.get("atc"))
            ps.opt(p, c("nonATCSubstance"), ph.get("non_atc"))
            ps.opt(p, c("nonATCSubstanceComment"), ph.get("non_atc_comment"))
            for product in ph.get("products") or []:
                write_cv(p, c("pharmaceuticalProductId"), product)
        if (other := h.get("other")) is not None:
            o = ps.sub(el, c("otherHypersensitivity"))
            ps.opt(o, c("hypersensitivityAgent"), other.get("agent"))
            write_cv(o, c("hypersensitivityAgentCode"), other.get("agent_code"))
    if d.get("serious_disease") is not None:
        write_cv(ps.sub(b, c("seriousDisease")), c("disease"), d["serious_disease"])
    if (tr := d.get("treatment")) is not None:
        el = ps.sub(b, c("treatment"))
        ps.sub(el, c("treatmentDescription"), tr.get("description") or "")
        write_cv(el, c("treatmentCode"), tr.get("code"))
        for drug in tr.get("pharmaceuticals") or []:
            write_cv(el, c("pharmaceuticalTreatment"), drug)
    if (cd := d.get("communicable_disease")) is not None:
        el = ps.sub(b, c("communicableDisease"))
        write_cv(el, c("communicableDiseaseCode"), cd.get("code") or {})
        write_cv(el, c("routeOfTransmission"), cd.get("route"))
    if d.get("restriction_of_care") is not None:
        ps.sub(ps.sub(b, c("restrictionOfCare")), c("restrictionOfCareComment"), d["restriction_of_care"])
    if (un := d.get("unstructured")) is not None:
        el = ps.sub(b, c("unstructuredAlertInformation"))
        ps.sub(el, c("unstructuredAlertInformationHeading"), un.get("heading") or "")
        ps.sub(el, c("unstructuredAlertInformationContent"), un.get("content") or "")
    for rel in d.get("related") or []:
        el = ps.sub(b, c("relatedAlertInformation"))
        write_cv(el, c("typeOfAlertInformationRelationship"), rel.get("type") or {})
        ps.opt(el, c("relationComment"), rel.get("comment"))
        for doc in rel.get("document_ids") or []:
            ps.sub(el, c("documentId"), doc)


# -- demo content ------------------------------------------------------------------------------


def _sev(key: str) -> dict:
    return code(key, KV_SEVERITY, SEVERITY[key])


def _cert(key: str) -> dict:
    return code(key, KV_CERTAINTY, CERTAINTY[key])


DRUG_ALLERGY = code("416098002", SNOMED_SE, "Läkemedelsallergi")
FOOD_ALLERGY = code("414285001", SNOMED_SE, "Födoämnesallergi")
PENICILLINS = code("J01C", ATC, "Betalaktamantibakteriella medel, penicilliner")
CONTRAST = code("V08AB", ATC, "Vattenlösliga, nefrotropa, lågosmolära röntgenkontrastmedel")

# Realistic Swedish alerts with their real code systems (copied for each record that uses one)
ALERTS = [
    body("okh", comment="Urtikaria och läppsvullnad 30 min efter första dosen Kåvepenin 2015. Behandlad med "
                        "antihistamin och kortison på akuten.",
         hypersensitivity=hypersensitivity(DRUG_ALLERGY, _sev("2"), _cert("2"), atc=PENICILLINS)),
    body("okh", comment="Anafylaktisk reaktion med blodtrycksfall efter intravenöst jodkontrastmedel vid DT buk. "
                        "Premedicinering krävs vid ny undersökning.",
         hypersensitivity=hypersensitivity(DRUG_ALLERGY, _sev("1"), _cert("2"), atc=CONTRAST)),
    body("okh", comment="Kraftig klåda och exantem av sulfapreparat.",
         hypersensitivity=hypersensitivity(DRUG_ALLERGY, _sev("3"), _cert("1"),
                                           atc=code("J01EE01", ATC, "Sulfametoxazol och trimetoprim"))),
    body("okh", comment="Svullnad i svalget av jordnötter sedan barndomen. Har adrenalinpenna.",
         hypersensitivity=hypersensitivity(FOOD_ALLERGY, _sev("1"), _cert("2"), agent="Jordnöt")),
    body("uas", comment="Insulinbehandlad sedan 12 års ålder. Risk för hypoglykemi vid fasta.",
         serious_disease=code("E10.9", ICD10SE, "Diabetes mellitus typ 1 utan komplikationer")),
    body("uas", comment="Kortisonsubstitution. Behöver stressdos vid infektion, operation och trauma.",
         serious_disease=code("E27.1", ICD10SE, "Primär binjurebarksinsufficiens")),
    body("ube", comment="Mål-INR 2,0–3,0. Kontakta AK-mottagningen före ingrepp.",
         treatment={"description": "Antikoagulantiabehandling med warfarin", "code": None,
                    "pharmaceuticals": [code("B01AA03", ATC, "Warfarin")]}),
    body("ube", comment="Hemodialys tre gånger i veckan. Inga blodtryck eller stick i vänster arm (fistel).",
         treatment={"description": "Hemodialys via AV-fistel vänster underarm",
                    "code": code("DR016", KVA, "Hemodialys"), "pharmaceuticals": []}),
    body("arb", comment="Bärarskap påvisat vid screening. Basala hygienrutiner och eget rum vid inläggning.",
         communicable_disease={"code": code("U82.1", ICD10SE, "Resistens mot meticillin"),
                               "route": {"originalText": "Kontaktsmitta"}}),
    body("arb", communicable_disease={"code": code("B18.1", ICD10SE, "Kronisk virushepatit B utan deltaagens"),
                                      "route": {"originalText": "Blodsmitta"}}),
    body("vbe", restriction_of_care="Patienten är Jehovas vittne och avböjer blodtransfusion, även i livshotande "
                                    "situation. Albumin och egen blodåtervinning accepteras efter samtal."),
    body("vbe", restriction_of_care="Ej hjärt-lungräddning (HLR) vid hjärtstopp. Beslut av ansvarig läkare efter "
                                    "samtal med patienten och närstående. Övrig behandling ges fullt ut."),
]
HISTORIC = body("est", unstructured={"heading": "Varning (överförd från tidigare journalsystem)",
                                     "content": "Reagerat på lokalbedövning hos tandläkare 1998, oklart vilket "
                                                "preparat. Ej utrett."})
LATEX = body("okh", hypersensitivity=hypersensitivity(non_atc="Naturgummilatex", non_atc_comment="Saknar ATC-kod"))


def _alert(contract, demo, key: str, template: dict, when, **options) -> Record:
    """A record from a template; validity and ascertained date start at `when` (TKB's default).

    Keyword arguments naming a body field change it; the others go to `demo.record`.
    """
    stamp = format_timestamp(when)
    detail = {**copy.deepcopy(template), "validity": {"start": stamp, "end": None}, "ascertained_date": stamp[:8]}
    detail.update({k: options.pop(k) for k in list(options) if k in detail})
    record = demo.record(contract=contract.id, information_type=contract.categorization, key=key,
                         title=title_of(detail), time=when, detail=detail, **options)
    record.detail["header"].update(document_title=None, document_time=None)  # N/A in this contract (TKB)
    return record


def _demo_alerts(contract, demo) -> list[Record]:
    rng, profile = demo.rng, demo.profile
    if profile == "variants":  # nullified is N/A here (TKB): an obsolete alert is this contract's variant
        when = [demo.when() for _ in range(6)]
        ended = demo.when((demo.today - when[2].date()).days)
        return [
            _alert(contract, demo, "upp-v0", ALERTS[0], when[0], verified_time=format_timestamp(when[0])),
            _alert(contract, demo, "upp-v1", ALERTS[2], when[1], signed=False),
            _alert(contract, demo, "upp-v2", ALERTS[6], when[2], obsolete_time=format_timestamp(ended),
                   obsolete_comment="Warfarin utsatt, byte till apixaban."),
            _alert(contract, demo, "upp-v3", LATEX, when[3], validity={"start": None, "end": None},
                   ascertained_date=None),
            _alert(contract, demo, "upp-v4", HISTORIC, when[4], approved=False),
            _alert(contract, demo, "upp-v5", ALERTS[10], when[5], without_owner=True),
        ]
    if profile == "blocked":
        return [_alert(contract, demo, f"upp-{i}", rng.choice(ALERTS), demo.when(365 * (i + 1) - 1, 365 * i),
                       unit=demo.units[i % len(demo.units)]) for i in range(rng.randint(2, 5))]
    count = {"rich": rng.randint(1, 3), "heavy": 80, "not_in_tgp": 1}.get(profile, 0)
    years = 10 if profile == "heavy" else 3
    out = [_alert(contract, demo, f"upp-{i}", rng.choice(ALERTS), demo.when(years * 365)) for i in range(count)]
    if profile == "heavy":  # special variants: replaced registrations, drug products, a long comment
        for i, record in enumerate(out[:20]):
            if i % 2:
                record.detail.update(obsolete_time=format_timestamp(record.time),
                                     obsolete_comment="Ersatt av ny registrering efter allergiutredning.")
            else:
                record.detail["related"] = [{"type": {"originalText": "Ersätter"}, "document_ids": [out[i + 1].id],
                                             "comment": "Omregistrerad efter allergiutredning"}]
        for record in out:
            if (record.detail["hypersensitivity"] or {}).get("pharmaceutical"):
                record.detail["hypersensitivity"]["pharmaceutical"]["products"] = [
                    code("19750101000012", NPL_ID, "Kåvepenin 1 g tablett"),
                    code("19980507000035", NPL_ID, "Amimox 500 mg kapsel")]
                break
        out[-1].detail["comment"] = " ".join(["Anamnes från flera vårdtillfällen:"] + [
            f"År {2000 + k}: reaktion dokumenterad, utredd och bedömd av allergolog." for k in range(25)])
    return out


# -- the view ----------------------------------------------------------------------------------


def _status(r: Record) -> str:
    if r.detail.get("obsolete_time"):
        return "Inaktuell"
    end = shown_timestamp((r.detail.get("validity") or {}).get("end"))
    return "Ej längre giltig" if end and end.date() < dt.date.today() else "Aktuell"


def _date(stamp: str | None) -> str:
    when = shown_timestamp(stamp)
    return when.strftime("%Y-%m-%d") if when else "–"


def _code_and_name(value: dict) -> str:
    return f"{value.get('code') or ''} {cv_text(value)}".strip()


def _details(r: Record) -> list[tuple[str, str]]:
    d = r.detail
    rows = [("Typ", cv_text(d.get("type"))), ("Kommentar", d.get("comment") or "–")]
    if h := d.get("hypersensitivity"):
        ph, other = h.get("pharmaceutical") or {}, h.get("other") or {}
        rows += [("Typ av överkänslighet", cv_text(h.get("type"))),
                 ("Allvarlighetsgrad", cv_text(h.get("severity"), "Uppgift saknas")),
                 ("Visshetsgrad", cv_text(h.get("certainty"), "Uppgift saknas"))]
        if ph.get("atc"):
            rows.append(("Substans (ATC)", _code_and_name(ph["atc"])))
        if ph.get("non_atc"):
            why = ph.get("non_atc_comment")
            rows.append(("Substans utan ATC-kod", f"{ph['non_atc']} ({why})" if why else ph["non_atc"]))
        if ph.get("products"):
            rows.append(("Läkemedelsprodukter", ", ".join(cv_text(p) for p in ph["products"])))
        if other:
            rows.append(("Agens", other.get("agent") or cv_text(other.get("agent_code"))))
    if d.get("serious_disease"):
        rows.append(("Sjukdom", _code_and_name(d["serious_disease"])))
    if tr := d.get("treatment"):
        rows.append(("Behandling", tr.get("description") or "–"))
        if tr.get("code"):
            rows.append(("Behandlingskod (KVÅ)", _code_and_name(tr["code"])))
        if tr.get("pharmaceuticals"):
            rows.append(("Läkemedel", ", ".join(cv_text(p) for p in tr["pharmaceuticals"])))
    if cd := d.get("communicable_disease"):
        rows += [("Smittsam sjukdom", _code_and_name(cd.get("code") or {})), ("Smittväg", cv_text(cd.get("route")))]
    if d.get("restriction_of_care"):
        rows.append(("Vårdbegränsning", d["restriction_of_care"]))
    if un := d.get("unstructured"):
        rows.append((un.get("heading") or "Varning", un.get("content") or "–"))
    validity = d.get("validity") or {}
    until = _date(validity["end"]) if validity.get("end") else "tills vidare"
    rows += [("Konstaterad", _date(d.get("ascertained_date"))), ("Verifierad", _date(d.get("verified_time"))),
             ("Giltig", f"{_date(validity.get('start'))} – {until}")]
    if d.get("obsolete_time"):
        rows.append(("Inaktuell sedan", f"{_date(d['obsolete_time'])}: {d.get('obsolete_comment') or '–'}"))
    for rel in d.get("related") or []:
        rows.append((f"Samband: {cv_text(rel.get('type'))}",
                     " ".join([", ".join(rel.get("document_ids") or []), rel.get("comment") or ""]).strip()))
    signature = (d.get("header") or {}).get("signature")
    signer = signature and (signature.get("name") or signature.get("hsa_id") or "okänd")
    rows.append(("Signerad", f"{_date(signature['time'])} av {signer}" if signature else "Nej, osignerad"))
    return rows


def _severity(r: Record) -> str:
    return cv_text((r.detail.get("hypersensitivity") or {}).get("severity"), "–")


@hookimpl
def register_contracts(register):
    register(GetAlertInformation())


@hookimpl
def register_views(register):
    register(InformationView(
        slug="uppmarksamhet", title="Uppmärksamhetsinformation", categorizations=("upp",), order=10,
        columns=(("Registrerad", lambda r: r.time.strftime("%Y-%m-%d") if r.time else "–"),
                 ("Typ", lambda r: cv_text(r.detail.get("type"))),
                 ("Uppmärksamhet", lambda r: r.title),
                 ("Allvarlighetsgrad", _severity),
                 ("Status", _status),
                 ("Vårdenhet", lambda r: r.care_unit_name or r.care_unit_id or "Okänd"),
                 ("Vårdgivare", lambda r: r.care_provider_name or r.care_provider_id or "Okänd")),
        details=_details,
        prominent=lambda r: not r.detail.get("obsolete_time") and not r.nullified,  # current alerts head the overview
        help="Överkänslighet, allvarlig sjukdom eller behandling, smitta och vårdbegränsningar som vårdgivare "
             "registrerat som uppmärksamhetsinformation.",
    ))
