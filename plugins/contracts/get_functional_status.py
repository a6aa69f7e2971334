"""GetFunctionalStatus 2.0 (clinicalprocess:healthcond:description): funktionstillstånd and PADL.

One contract, two engagement-index categorizations: "fun-fun" (a disability assessment, ICF coded)
and "pad-pad" (a PADL assessment). Each record's `information_type` is its own category.
"""

from __future__ import annotations

from lxml import etree
from markupsafe import Markup, escape

from npo_core import Answer, Contract, InformationView, Query, Record, hookimpl
from npo_core.contract import Children

from . import patientsummary as ps
from .get_alert_information import code, cv_text, read_cv, write_cv

CORE = "urn:riv:clinicalprocess:healthcond:description:2"
ICF = "1.2.752.116.1.1.3"
FUN, PAD = "fun-fun", "pad-pad"
CATEGORY_NAMES = {FUN: "Funktionsnedsättning", PAD: "PADL"}

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


class GetFunctionalStatus(Contract):
    name = "GetFunctionalStatus"
    version = "2.0"
    service_domain = "clinicalprocess:healthcond:description"
    categorization = FUN
    record_element = "functionalStatusAssessment"
    title = "Funktionstillstånd och ADL"
    schema = ("clinicalprocess_healthcond_description/interactions/GetFunctionalStatusInteraction/"
              "GetFunctionalStatusResponder_2.0.xsd")
    wsdl = ("clinicalprocess_healthcond_description/interactions/GetFunctionalStatusInteraction/"
            "GetFunctionalStatusInteraction_2.0_RIVTABP21.wsdl")

    @property
    def categorizations(self) -> tuple[str, ...]:
        return (FUN, PAD)

    def build_request(self, query: Query) -> etree._Element:
        return ps.build_query(self, query, CORE, period_tag="datePeriod")

    def parse_request(self, payload: etree._Element) -> Query:
        return ps.read_query(payload, self.responder_namespace, CORE, period_tag="datePeriod")

    def parse_response(self, payload: etree._Element) -> Answer:
        records = []
        for el in payload.iterfind(self.q("functionalStatusAssessment")):
            children = Children(el)
            body = children.under(f"{{{CORE}}}functionalStatusAssessmentBody")
            disability = body.first(f"{{{CORE}}}disability")
            assessed = Children(disability)
            detail = {
                "comment": body.text(f"{{{CORE}}}comment"),
                "padl": [{"type": read_cv(padl.first(f"{{{CORE}}}typeOfAssessment")),
                          "assessment": padl.text(f"{{{CORE}}}assessment") or ""}
                         for padl in map(Children, body.all(f"{{{CORE}}}padl"))],
                "disability": None if disability is None else {
                    "assessment": read_cv(assessed.first(f"{{{CORE}}}disabilityAssessment")),
                    "comment": assessed.text(f"{{{CORE}}}comment")},
            }
            category = PAD if body.text(f"{{{CORE}}}assessmentCategory") == PAD else FUN
            record = ps.parse_header(children.first(f"{{{CORE}}}functionalStatusAssessmentHeader"), CORE,
                                     contract=self.id, information_type=category, title=_title(category, detail))
            record.detail.update(detail)
            records.append(record)
        return ps.answer(records, payload, self.responder_namespace, CORE)

    def render_response(self, records: list[Record], query: Query) -> etree._Element:
        resp = etree.Element(self.q("GetFunctionalStatusResponse"),
                             nsmap={None: self.responder_namespace, "core": CORE})
        for r in records:
            if not ps.matches(r, query):
                continue
            el = ps.sub(resp, self.q("functionalStatusAssessment"))
            ps.render_header(el, f"{{{CORE}}}functionalStatusAssessmentHeader", CORE, r, query.patient)
            b = ps.sub(el, f"{{{CORE}}}functionalStatusAssessmentBody")
            d = r.detail
            ps.sub(b, f"{{{CORE}}}assessmentCategory", r.information_type)
            ps.opt(b, f"{{{CORE}}}comment", d.get("comment"))
            for padl in d.get("padl") or []:
                p = ps.sub(b, f"{{{CORE}}}padl")
                write_cv(p, f"{{{CORE}}}typeOfAssessment", padl.get("type") or {})
                ps.sub(p, f"{{{CORE}}}assessment", padl.get("assessment") or "")
            if (disability := d.get("disability")) is not None:
                el_d = ps.sub(b, f"{{{CORE}}}disability")
                write_cv(el_d, f"{{{CORE}}}disabilityAssessment", disability.get("assessment") or {})
                ps.opt(el_d, f"{{{CORE}}}comment", disability.get("comment"))
        ps.render_result(resp, self.responder_namespace, CORE)
        return resp

    def demo_records(self, demo) -> list[Record]:
        rng, profile = demo.rng, demo.profile
        if profile == "variants":
            rows = [  # (category, detail, options)
                (PAD, _padl(rng, 5, comment=True), {}),
                (PAD, {"comment": None, "padl": [{"type": {"originalText": "toalettbesök"},
                                                   "assessment": "Behöver tillsyn nattetid."}], "disability": None},
                 {"signed": False}),
                (FUN, _disability(rng), {"approved": False}),
                (FUN, {"comment": None, "padl": [], "disability": {
                    "assessment": {"originalText": "Nedsatt balans"}, "comment": None}}, {}),
                (FUN, _disability(rng), {"without_owner": True}),
            ]
            return [self._record(demo, f"fun-v{i}", cat, detail, **opts) for i, (cat, detail, opts) in enumerate(rows)]
        if profile == "blocked":
            return [self._record(demo, f"fun-{i}", *self._random(rng), unit=demo.units[i % len(demo.units)],
                                 when=demo.when(365 * (i + 1) - 1, 365 * i)) for i in range(rng.randint(2, 5))]
        count = {"rich": rng.randint(1, 3), "heavy": 150, "not_in_tgp": 1}.get(profile, 0)
        return [self._record(demo, f"fun-{i}", *self._random(rng)) for i in range(count)]

    @staticmethod
    def _random(rng) -> tuple[str, dict]:
        return (PAD, _padl(rng, rng.randint(2, 5), comment=rng.random() < 0.5)) if rng.random() < 0.5 \
            else (FUN, _disability(rng))

    def _record(self, demo, key: str, category: str, detail: dict, when=None, **options) -> Record:
        record = demo.record(contract=self.id, information_type=category, key=key, title=_title(category, detail),
                             time=when or demo.when(), detail=detail, **options)
        record.detail["header"]["document_title"] = None  # N/A in this contract (TKB)
        return record


def _padl(rng, count: int, comment: bool) -> dict:
    chosen = sorted(rng.sample(range(len(PADL)), count))
    return {"comment": rng.choice(PADL_COMMENTS) if comment else None, "disability": None,
            "padl": [{"type": PADL[i][0], "assessment": rng.choice(PADL[i][1])} for i in chosen]}


def _disability(rng) -> dict:
    assessment, comment = rng.choice(DISABILITIES)
    return {"comment": None, "padl": [], "disability": {"assessment": assessment, "comment": comment}}


def _title(category: str, detail: dict) -> str:
    if category == PAD:
        return "PADL-bedömning"
    return cv_text((detail.get("disability") or {}).get("assessment"), "Funktionsnedsättning")


def _details(r: Record) -> list[tuple[str, object]]:
    d = r.detail
    rows: list[tuple[str, object]] = []
    if d.get("padl"):
        rows.append(("Bedömning", Markup("<br>").join(
            escape(f"{cv_text(p.get('type')).capitalize()}: {p.get('assessment')}") for p in d["padl"])))
    if disability := d.get("disability"):
        assessment = disability.get("assessment") or {}
        rows += [("Nedsatt funktion", f"{assessment.get('code', '')} {cv_text(assessment)}".strip()),
                 ("Beskrivning", disability.get("comment") or "–")]
    if d.get("comment"):
        rows.append(("Kommentar", d["comment"]))
    signature = (d.get("header") or {}).get("signature")
    rows.append(("Signerad", "Ja" if signature else "Nej, osignerad"))
    return rows


@hookimpl
def register_contracts(register):
    register(GetFunctionalStatus())


@hookimpl
def register_views(register):
    register(InformationView(
        slug="funktionstillstand", title="Funktionstillstånd och ADL", categorizations=(FUN, PAD), order=60,
        columns=(("Datum", lambda r: r.time.strftime("%Y-%m-%d") if r.time else "–"),
                 ("Kategori", lambda r: CATEGORY_NAMES.get(r.information_type, r.information_type)),
                 ("Bedömning", lambda r: r.title),
                 ("Vårdenhet", lambda r: r.care_unit_name or r.care_unit_id or "Okänd"),
                 ("Vårdgivare", lambda r: r.care_provider_name or r.care_provider_id or "Okänd")),
        details=_details,
        help="Bedömningar av funktionsnedsättning (ICF) och av personlig ADL (PADL).",
    ))
