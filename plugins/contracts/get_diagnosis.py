"""GetDiagnosis 2.0 (clinicalprocess:healthcond:description): diagnoses, ICD-10-SE coded."""

from __future__ import annotations

from lxml import etree

from npo_core import Answer, Contract, InformationView, Query, Record, hookimpl
from npo_core.contract import Children

from . import patientsummary as ps

CORE = "urn:riv:clinicalprocess:healthcond:description:2"
ICD10SE = "1.2.752.116.1.1.1.1.3"

# (code, text, chronic) — a varied, realistic pool for demo producers
DIAGNOSES = [
    ("J45.9", "Astma, ospecificerad", True), ("G43.9", "Migrän, ospecificerad", True),
    ("F41.1", "Generaliserat ångestsyndrom", False), ("N39.0", "Urinvägsinfektion, utan angiven lokalisation", False),
    ("S52.50", "Fraktur på nedre delen av radius, sluten", False), ("J06.9", "Akut övre luftvägsinfektion, ospecificerad", False),
    ("E11.9", "Diabetes mellitus typ 2 utan komplikationer", True), ("I10.9", "Essentiell hypertoni", True),
    ("I48.9", "Förmaksflimmer och förmaksfladder, ospecificerat", True), ("M54.5", "Lumbago", False),
    ("K21.9", "Gastroesofageal refluxsjukdom utan esofagit", True), ("L20.9", "Atopiskt eksem, ospecificerat", True),
    ("H66.9", "Öroninflammation, ospecificerad", False), ("R07.4", "Bröstsmärtor, ospecificerade", False),
    ("I50.9", "Hjärtsvikt, ospecificerad", True), ("N18.3", "Kronisk njursjukdom, stadium 3", True),
    ("F32.1", "Medelsvår depressiv episod", False), ("M17.1", "Primär gonartros, ensidig", True),
]


HOSTILE = ('Misstänkt <script>alert("npo")</script> infektion <img src=x onerror=alert(1)> '
           '<a href="javascript:alert(2)">länk</a> &amp; "citat"')


class GetDiagnosis(Contract):
    name = "GetDiagnosis"
    version = "2.0"
    service_domain = "clinicalprocess:healthcond:description"
    categorization = "dia"
    record_element = "diagnosis"
    title = "Diagnoser"

    def build_request(self, query: Query) -> etree._Element:
        return ps.build_query(self, query, CORE)

    def parse_response(self, payload: etree._Element) -> Answer:
        records = []
        for el in payload.iterfind(self.q("diagnosis")):
            children = Children(el)
            body = children.under(f"{{{CORE}}}diagnosisBody")
            code = body.under(f"{{{CORE}}}diagnosisCode")
            detail = {
                "type": body.text(f"{{{CORE}}}typeOfDiagnosis"),
                "chronic": ps.boolean(body.text(f"{{{CORE}}}chronicDiagnosis")),
                "diagnosis_time": body.text(f"{{{CORE}}}diagnosisTime"),
                "code": code.text(f"{{{CORE}}}code"),
                "code_system": code.text(f"{{{CORE}}}codeSystem"),
                "display_name": code.text(f"{{{CORE}}}displayName"),
                "related": [related.text(f"{{{CORE}}}documentId")
                            for related in map(Children, body.all(f"{{{CORE}}}relatedDiagnosis"))],
            }
            title = detail["display_name"] or detail["code"] or "Diagnos"
            record = ps.parse_header(children.first(f"{{{CORE}}}diagnosisHeader"), CORE, contract=self.id,
                                     information_type=self.categorization, title=title)
            record.detail.update(detail)
            records.append(record)
        return ps.answer(records, payload, self.responder_namespace, CORE)

    def parse_request(self, payload: etree._Element) -> Query:
        return ps.read_query(payload, self.responder_namespace, CORE)

    def render_response(self, records: list[Record], query: Query) -> etree._Element:
        resp = etree.Element(self.q("GetDiagnosisResponse"), nsmap={None: self.responder_namespace, "core": CORE})
        for r in records:
            if not ps.matches(r, query):
                continue
            el = ps.sub(resp, self.q("diagnosis"))
            ps.render_header(el, f"{{{CORE}}}diagnosisHeader", CORE, r, query.patient)
            body = ps.sub(el, f"{{{CORE}}}diagnosisBody")
            d = r.detail
            ps.sub(body, f"{{{CORE}}}typeOfDiagnosis", d.get("type") or "Huvuddiagnos")
            if d.get("chronic") is not None:
                ps.sub(body, f"{{{CORE}}}chronicDiagnosis", d["chronic"])
            ps.opt(body, f"{{{CORE}}}diagnosisTime", d.get("diagnosis_time"))
            if d.get("code") or d.get("display_name"):
                code = ps.sub(body, f"{{{CORE}}}diagnosisCode")
                ps.opt(code, f"{{{CORE}}}code", d.get("code"))
                ps.opt(code, f"{{{CORE}}}codeSystem", d.get("code_system"))
                ps.opt(code, f"{{{CORE}}}displayName", d.get("display_name"))
            for related in d.get("related") or []:
                ps.sub(ps.sub(body, f"{{{CORE}}}relatedDiagnosis"), f"{{{CORE}}}documentId", related)
        ps.render_result(resp, self.responder_namespace, CORE)
        return resp

    def demo_records(self, demo) -> list[Record]:
        count = {"rich": demo.rng.randint(2, 4), "variants": 3, "blocked": 2, "heavy": 400,
                 "not_in_tgp": 2}.get(demo.profile, 0)
        out = []
        for i in range(count):
            code, text, chronic = demo.rng.choice(DIAGNOSES)
            when = demo.when()
            detail = {"type": "Huvuddiagnos" if i % 3 else "Bidiagnos", "chronic": chronic,
                      "diagnosis_time": when.strftime("%Y%m%d%H%M%S"), "code": code, "code_system": ICD10SE,
                      "display_name": text, "related": []}
            if demo.profile == "variants" and i == 1:
                detail.update(code=None, code_system=None, chronic=None)  # free text only, no code
            if demo.profile == "heavy" and i == 0:  # producer text is data, never markup: prove it in the browser
                text = HOSTILE
                detail.update(display_name=text)
            out.append(demo.record(contract=self.id, information_type=self.categorization, key=f"dia-{i}",
                                   title=text, time=when, detail=detail,
                                   without_owner=demo.profile == "variants" and i == 2))
        return out


def _code(record: Record) -> str:
    return record.detail.get("code") or "–"


@hookimpl
def register_contracts(register):
    register(GetDiagnosis())


@hookimpl
def register_views(register):
    register(InformationView(
        slug="diagnoser", title="Diagnoser", categorizations=("dia",), order=30,
        columns=(("Datum", lambda r: r.time.strftime("%Y-%m-%d") if r.time else "–"),
                 ("Diagnos", lambda r: r.title),
                 ("Kod (ICD-10-SE)", _code),
                 ("Typ", lambda r: r.detail.get("type") or "–"),
                 ("Vårdenhet", lambda r: r.care_unit_name or r.care_unit_id or "Okänd"),
                 ("Vårdgivare", lambda r: r.care_provider_name or r.care_provider_id or "Okänd")),
        details=lambda r: [("Kronisk", {True: "Ja", False: "Nej"}.get(r.detail.get("chronic"), "Uppgift saknas")),
                           ("Ansvarig", r.author or "–")],
        help="Diagnoser som registrerats av vårdgivare i sammanhållen journalföring, kodade enligt ICD-10-SE.",
    ))
