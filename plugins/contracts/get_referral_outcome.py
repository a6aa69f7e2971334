"""GetReferralOutcome 3.1 (clinicalprocess:healthcond:actoutcome): remissvar and consultation answers.

3.1 and 3.2 share the namespace urn:riv:clinicalprocess:healthcond:actoutcome:3; this plugin
validates against the 3.1 release, the one NPÖ producers were first connected with.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import NamedTuple

from lxml import etree

from npo_core import Answer, Contract, InformationView, Query, Record, hookimpl
from npo_core.contract import Children, format_timestamp
from npo_core.demo import FIRST, LAST, PROVIDERS

from . import patientsummary as ps
from .fields import CV, ORG, compact, date_text, parse_fields, profession, render_fields, with_role

CORE = "urn:riv:clinicalprocess:healthcond:actoutcome:3"
EXT = "urn:riv:clinicalprocess:healthcond:actoutcome:3.1"
ICD10SE = "1.2.752.116.1.1.1.1.3"
KVA = "1.2.752.116.1.3.2.1.4"

CODE = (("code", "code", "str"), ("codeSystem", "code_system", "str"))
PROFESSIONAL = (
    ("authorTime", "time", "str"), ("healthcareProfessionalHSAId", "hsa_id", "str"),
    ("healthcareProfessionalName", "name", "str"), ("healthcareProfessionalRoleCode", "role", CV),
    ("healthcareProfessionalOrgUnit", "org_unit", ORG), ("healthcareProfessionalCareUnitHSAId", "care_unit", "str"),
    ("healthcareProfessionalCareGiverHSAId", "care_giver", "str"))
BODY = (
    ("referralOutcomeTypeCode", "type", "str"), ("referralOutcomeTitle", "title", "str"),
    ("referralOutcomeText", "text", "str"),
    ("clinicalInformation", "clinical_information",
     [(("clinicalInformationCode", "code", CODE), ("clinicalInformationText", "text", "str"))]),
    ("act", "acts", [(("actId", "id", "str"), ("actCode", "code", CODE), ("actText", "text", "str"),
                      ("actTime", "time", "str"))]),
    ("referral", "referral", (("referralId", "id", "str"), ("referralReason", "reason", "str"),
                              ("referralTime", "time", "str"), ("referralAuthor", "author", PROFESSIONAL),
                              ("careContactId", "care_contact_id", "str"))),
    (f"{{{EXT}}}attested", "attested", ((f"{{{EXT}}}attestedTime", "time", "str"),
                                         (f"{{{EXT}}}attesterHSAId", "hsa_id", "str"),
                                         (f"{{{EXT}}}attesterName", "name", "str"))))
TYPES = {"SS": "Slutsvar", "SR": "Svar"}


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
            "lätt dilaterat vänster förmak, EF 55 %. Apixaban 5 mg x 2 insatt, metoprolol 50 mg x 1 fortsätter. "
            "Ingen elkonvertering planeras. Fortsatt uppföljning i primärvården med kontroll av Hb och kreatinin "
            "om 3 månader.",
            (("I48.9", "Förmaksflimmer och förmaksfladder, ospecificerat"),), ((None, "Transtorakal ekokardiografi"),)),
    Consult(("kardiologi", "medicinkliniken"), ("vårdcentral",), (60, None), "Läkare", "SR",
            "Remissvar – utredning av hjärtsvikt",
            "Tilltagande ansträngningsdyspné och bensvullnad, NT-proBNP 2 400 ng/L. Frågeställning hjärtsvikt?",
            "Ekokardiografi visar nedsatt systolisk vänsterkammarfunktion, EF 35 %, och måttlig "
            "mitralisinsufficiens. Diagnos hjärtsvikt med nedsatt ejektionsfraktion. Insatt sakubitril/valsartan "
            "och dapagliflozin, furosemid vid behov. Patienten följs på hjärtsviktsmottagningen; "
            "sjuksköterskebesök om 2 veckor med kontroll av kalium och kreatinin.",
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
            "träningsprogram med fokus på bålstabilitet, 6 behandlingstillfällen. Vid avslut smärtfri i vardagen "
            "och åter i arbete på heltid. Fortsätter träna på egen hand.",
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
    Consult(("hemsjukvården",), ("ortopedi", "medicinkliniken"), (65, None), "Arbetsterapeut", "SS",
            "Remissvar arbetsterapi – hjälpmedel i hemmet",
            "Utskriven efter höftfraktur. Önskar bedömning av hjälpmedelsbehov och bostadsanpassning.",
            "Hembesök utfört. Förskrivit rollator, toalettförhöjning och duschpall. Trösklar mellan kök och "
            "badrum tas bort efter beslut om bostadsanpassning. Patienten klarar förflyttningar självständigt "
            "med rollator. Avslutas hos arbetsterapeut, åter vid förändrat behov.",
            (), ((None, "Hembesök"), (None, "Förskrivning av hjälpmedel"))),
]


class GetReferralOutcome(Contract):
    name = "GetReferralOutcome"
    version = "3.1"
    service_domain = "clinicalprocess:healthcond:actoutcome"
    categorization = "und-kon-ure"
    record_element = "referralOutcome"
    title = "Remissvar och konsultationer"
    schema = ("clinicalprocess_healthcond_actoutcome/interactions/GetReferralOutcomeInteraction/"
              "GetReferralOutcomeResponder_3.1.xsd")
    wsdl = ("clinicalprocess_healthcond_actoutcome/interactions/GetReferralOutcomeInteraction/"
            "GetReferralOutcomeInteraction_3.1_RIVTABP21.wsdl")

    def build_request(self, query: Query) -> etree._Element:
        return ps.build_query(self, query, CORE, unit_tag="careUnitHSAid", period_tag="datePeriod")

    def parse_response(self, payload: etree._Element) -> Answer:
        records = []
        for el in payload.iterfind(self.q("referralOutcome")):
            children = Children(el)
            detail = parse_fields(children.first(f"{{{CORE}}}referralOutcomeBody"), CORE, BODY)
            record = ps.parse_header(children.first(f"{{{CORE}}}referralOutcomeHeader"), CORE, contract=self.id,
                                     information_type=self.categorization, title=detail.get("title"),
                                     untitled="Remissvar")
            record.detail.update(detail)
            records.append(record)
        return ps.answer(records, payload, self.responder_namespace, CORE)

    def parse_request(self, payload: etree._Element) -> Query:
        return ps.read_query(payload, self.responder_namespace, CORE, unit_tag="careUnitHSAid",
                             period_tag="datePeriod")

    def render_response(self, records: list[Record], query: Query) -> etree._Element:
        resp = etree.Element(self.q(f"{self.name}Response"),
                             nsmap={None: self.responder_namespace, "core": CORE, "ext": EXT})
        for r in records:
            if ps.matches(r, query):
                el = ps.sub(resp, self.q("referralOutcome"))
                ps.render_header(el, f"{{{CORE}}}referralOutcomeHeader", CORE, r, query.patient)
                render_fields(ps.sub(el, f"{{{CORE}}}referralOutcomeBody"), CORE, BODY, r.detail)
        ps.render_result(resp, self.responder_namespace, CORE)
        return resp

    def demo_records(self, demo) -> list[Record]:
        """Answers only from units that give them, on questions that fit the patient's age."""
        age = demo.today.year - int(demo.patient.id[:4])
        units = [(u, fits) for u in demo.units
                 if (fits := [c for c in CONSULTS if _words(u[1], c.at) and _fits_age(c, age)])]
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
            out.append(self._outcome(demo, i, rng.choice(fits), unit, when, variant))
        return out

    def _outcome(self, demo, i: int, consult: Consult, unit, when: dt.datetime, variant) -> Record:
        rng = demo.rng
        referred = when - dt.timedelta(days=rng.randint(14, 120), hours=rng.randint(0, 4))
        (ref_id, ref_name), ref_provider = _referrer(demo, consult, unit)
        role = profession("Läkare")  # referrals are written by physicians
        author = {"time": format_timestamp(referred), "hsa_id": f"{ref_provider}-{rng.randint(1000, 9999)}",
                  "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                  "role": {"code": role["code"], "code_system": role["codeSystem"], "display_name": "Läkare"},
                  "org_unit": {"id": ref_id, "name": ref_name}, "care_unit": ref_id, "care_giver": ref_provider}
        attester_hsa, attester, _ = demo.clinician()
        text, full = consult.answer, variant == "full"  # full: ids and a care contact besides the usual
        if demo.profile == "heavy" and i % 100 == 7:  # producer text is data, never markup
            text = '<b>Obs!</b> Svar & "tillägg" <script>alert(1)</script> ' + text
        elif demo.profile == "heavy" and i % 100 == 42:  # a long answer, dictated in several rounds
            text = " ".join([text] + [f"Tillägg {n}: {consult.answer}" for n in range(1, 12)])
        body = compact({
            "type": "SR" if variant == "preliminary" else consult.type, "title": consult.title, "text": text,
            "clinical_information": [{"code": {"code": code, "code_system": ICD10SE}, "text": name}
                                     for code, name in consult.diagnoses],
            "acts": [compact({"id": f"{demo.logical_address}-ure-{i}-{n}" if full else None,
                              "code": {"code": code, "code_system": KVA} if code else None, "text": name,
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
                                "author": {"time": format_timestamp(referred)}}
        record = demo.record(contract=self.id, information_type=self.categorization, key=f"ure-{i}",
                             title=consult.title, time=when, unit=unit, detail=body,
                             without_owner=variant == "no_owner", signed=variant != "minimal",
                             approved=variant != "preliminary")
        record = with_role(record, consult.role)
        if variant == "nullified":
            header = {**record.detail["header"],
                      "nullified_reason": "Remissvaret dokumenterades på fel remiss och har ersatts av ett nytt svar."}
            record = dataclasses.replace(record, nullified=True, detail={**record.detail, "header": header})
        return record


def _fits_age(consult: Consult, age: int) -> bool:
    return consult.ages[0] <= age and (consult.ages[1] is None or age <= consult.ages[1])


def _words(name: str, words: tuple[str, ...]) -> bool:
    return any(w in name.lower() for w in words)


def _referrer(demo, consult: Consult, unit) -> tuple[tuple[str, str], str]:
    """The referring unit: one that sends such referrals, at the answering care provider when it has one."""
    candidates = [(u, p[0]) for p in PROVIDERS for u in p[3] if _words(u[1], consult.by)]
    own = [c for c in candidates if c[1] == demo.care_provider_id]
    return demo.rng.choice(own or candidates or [(unit, demo.care_provider_id)])


# -- the web view -----------------------------------------------------------------------------


def _referrer_text(record: Record) -> str:
    author = record.detail.get("referral", {}).get("author", {})
    unit = author.get("org_unit", {}).get("name") or author.get("care_unit")
    return ", ".join(x for x in (author.get("name"), unit) if x) or "–"


def _act(act: dict) -> str:
    text = " ".join(x for x in (act.get("code", {}).get("code"), act.get("text")) if x) or "–"
    return f"{text} ({date_text(act['time'])})" if act.get("time") else text


def _details(record: Record) -> list[tuple[str, str]]:
    d = record.detail
    referral = d.get("referral", {})
    rows = [("Svar", d.get("text") or "–"),
            ("Remissorsak", referral.get("reason") or "–"),
            ("Remiss", f"{referral.get('id') or '–'}, skickad {date_text(referral.get('time'))}"),
            ("Remittent", _referrer_text(record))]
    if d.get("clinical_information"):
        rows.append(("Diagnoser", "; ".join(f"{c.get('code', {}).get('code', '')} {c.get('text', '')}".strip()
                                            for c in d["clinical_information"])))
    if d.get("acts"):
        rows.append(("Åtgärder", "; ".join(map(_act, d["acts"]))))
    attested = d.get("attested")
    by = attested and (attested.get("name") or attested.get("hsa_id") or "–")
    rows.append(("Vidimerad", f"{by}, {date_text(attested.get('time'))}" if attested else "Nej"))
    if record.nullified:
        rows.insert(0, ("Makulerad", d.get("header", {}).get("nullified_reason") or "Ja"))
    return rows + [("Ansvarig", record.author or "–")]


@hookimpl
def register_contracts(register):
    register(GetReferralOutcome())


@hookimpl
def register_views(register):
    register(InformationView(
        slug="remissvar", title="Remissvar och konsultationer", categorizations=("und-kon-ure",), order=60,
        columns=(("Datum", lambda r: r.time.strftime("%Y-%m-%d") if r.time else "–"),
                 ("Remissvar", lambda r: r.title + (" (makulerat)" if r.nullified else "")),
                 ("Typ", lambda r: TYPES.get(r.detail.get("type"), r.detail.get("type") or "–")),
                 ("Remittent", _referrer_text),
                 ("Svarande enhet", lambda r: r.care_unit_name or r.care_unit_id or "Okänd"),
                 ("Vårdgivare", lambda r: r.care_provider_name or r.care_provider_id or "Okänd")),
        details=_details,
        help="Svar på remisser och konsultationer från andra vårdenheter, med den remiss de besvarar.",
    ))
