"""Vaccinations for the demo patients (GetVaccinationHistory): a life's vaccinations where the patient grew up
and lives, the seasonal ones in the autumn, and the variants a Swedish producer sends."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import NamedTuple

from ...contract import SWEDEN, Record, format_date
from ...riv import compact
from ...riv.codes import ATC, ICD10SE, KV_BEFATTNING, KV_KON
from .. import PROVIDERS, ROLES, provider_of
from .get_maternity_medical_history import LMP_DAYS_BACK, childbearing  # the same pregnancy in both sets


class Vaccine(NamedTuple):
    atc: str
    atc_text: str
    products: tuple[tuple[str, str], ...]  # (name, manufacturer)
    ml: float
    route: str
    site: str
    targets: tuple[tuple[str, str], ...]  # ICD-10-SE
    doses: int | None  # a series' prescribed doses; None for seasonal and booster doses
    program: str | None


CHILDHOOD = "Nationellt vaccinationsprogram för barn"
DTP = (("A36.9", "Difteri"), ("A35", "Stelkramp"), ("A37.9", "Kikhosta"), ("A80.9", "Polio"),
       ("G00.0", "Haemophilus influenzae typ b"))
VACCINES = {
    "dtp_ipv_hib": Vaccine("J07CA06", "Difteri-Haemophilus influenzae B-pertussis-polio-tetanus",
                           (("Infanrix-Polio+Hib", "GlaxoSmithKline Biologicals"),), 0.5, "Intramuskulär",
                           "lår (vastus lateralis)", DTP, 3, CHILDHOOD),
    "hexa": Vaccine("J07CA09", "Difteri-Haemophilus influenzae B-pertussis-polio-tetanus-hepatit B",
                    (("Infanrix hexa", "GlaxoSmithKline Biologicals"), ("Hexyon", "Sanofi Pasteur")), 0.5,
                    "Intramuskulär", "lår (vastus lateralis)", DTP + (("B16.9", "Hepatit B"),), 3, CHILDHOOD),
    "mpr": Vaccine("J07BD52", "Mässling, kombinationer med påssjuka och röda hund, levande försvagat",
                   (("M-M-RVAXPRO", "MSD"), ("Priorix", "GlaxoSmithKline Biologicals")), 0.5, "Subkutan",
                   "överarm", (("B05.9", "Mässling"), ("B26.9", "Påssjuka"), ("B06.9", "Röda hund")), 2, CHILDHOOD),
    "hpv": Vaccine("J07BM01", "Papillomvirus (humant typ 6, 11, 16, 18)", (("Gardasil", "Sanofi Pasteur MSD"),),
                   0.5, "Intramuskulär", "överarm (deltoideus)", (("B97.7", "Humant papillomvirus"),), 3,
                   "Kompletterande HPV-vaccination för flickor födda 1993–1998"),
    "covid": Vaccine("J07BN01", "Covid-19, RNA-baserat vaccin", (("Comirnaty", "BioNTech Manufacturing GmbH"),),
                     0.3, "Intramuskulär", "överarm (deltoideus)", (("U07.1", "Covid-19"),), None,
                     "Vaccination mot covid-19"),
    "influensa": Vaccine("J07BB02", "Influensa, inaktiverat, split virus eller ytantigen",
                         (("Vaxigrip Tetra", "Sanofi Pasteur"), ("Influvac Tetra", "Viatris")), 0.5,
                         "Intramuskulär", "överarm (deltoideus)", (("J11.1", "Influensa"),), None,
                         "Särskilt vaccinationsprogram mot säsongsinfluensa"),
    "pneumokock": Vaccine("J07AL01", "Pneumokocker, renat polysackaridantigen", (("Pneumovax", "MSD"),), 0.5,
                          "Intramuskulär", "överarm (deltoideus)", (("J13", "Pneumokockinfektion"),), None, None),
    "tbe": Vaccine("J07BA01", "Fästingburen encefalit, inaktiverat helvirus",
                   (("TicoVac", "Pfizer"), ("Encepur", "Bavarian Nordic")), 0.5, "Intramuskulär",
                   "överarm (deltoideus)", (("A84.1", "Fästingburen encefalit (TBE)"),), 3, None),
    "hepab": Vaccine("J07BC20", "Hepatitvacciner, kombinationer", (("Twinrix Vuxen", "GlaxoSmithKline Biologicals"),),
                     1.0, "Intramuskulär", "överarm (deltoideus)", (("B15.9", "Hepatit A"), ("B16.9", "Hepatit B")),
                     3, None),
    "tetanus": Vaccine("J07AM51", "Tetanustoxoid, kombinationer med difteritoxoid", (("diTeBooster", "AJ Vaccines"),),
                       0.5, "Intramuskulär", "överarm (deltoideus)", (("A35", "Stelkramp"), ("A36.9", "Difteri")),
                       None, None),
}
SEASONAL = ("influensa", "covid")
COVID_SEASONS = dt.date(2021, 12, 1)  # the autumn booster doses: from the 2021 season on


def records(contract, demo) -> list[Record]:
    """Visits planned per profile, then dose numbers counted per vaccine in the order they were given."""
    birth = _birth(demo.patient.id)
    plan = _rich(demo, birth) if demo.profile == "rich" else _plan(demo, demo.today.year - birth.year)
    plan.sort(key=lambda visit: visit[1])
    given: dict[str, int] = {}
    out = []
    for i, (keys, when, unit, variant) in enumerate(plan):
        doses = []
        for key in keys:  # series and covid-19 count their doses; boosters and seasonal ones do not
            counted = variant not in ("declined", "free_text") and (VACCINES[key].doses or key == "covid")
            given[key] = given.get(key, 0) + bool(counted)
            doses.append(given[key] if counted else None)
        out.append(_record(contract, demo, i, keys, doses, when, unit, variant, birth))
    return out


def _record(contract, demo, i: int, keys, doses, when: dt.datetime, unit, variant, birth: dt.date) -> Record:
    rng = demo.rng
    system = provider_of(demo.logical_address)[4][1]
    owner = variant != "card"
    elderly = demo.today.year - birth.year >= 65 and any(k in SEASONAL + ("pneumokock",) for k in keys)
    risk = "Graviditet" if variant == "pregnant" else "65 år eller äldre" if elderly else None
    registration = compact({
        "care_giver_org": {"orgUnitHSAId": demo.care_provider_id, "orgUnitName": demo.care_provider_name}
        if owner else {},
        "source_system_name": system, "source_system_contact": {"name": f"Systemförvaltningen för {system}"},
        "date": format_date(when), "risk_categories": [{"displayName": risk}] if risk else None,
    })
    administrations = []
    for key, number in zip(keys, doses):
        v = VACCINES[key]
        product, manufacturer = rng.choice(v.products)
        administrations.append(compact({
            "program": {"displayName": v.program} if v.program else None,
            "performer_org": {"orgUnitHSAId": unit[0], "orgUnitName": unit[1]} if owner else None,
            "site": {"displayName": f"{rng.choice(['Vänster', 'Höger'])} {v.site}"},
            "route": {"displayName": v.route},
            "dose": {"quantity": {"value": v.ml, "unit": "ml"}, "display_name": f"{v.ml:g} ml".replace(".", ",")},
            "dose_complete": True, "dose_number": number,
            "doses_prescribed": v.doses if number and v.doses and number <= v.doses else None,
            "source": {"bvc": "Registrerad i efterhand från BVC-journalen",
                       "school": "Uppgift från elevhälsans journal",
                       "card": "Uppgift från patientens vaccinationskort"}.get(variant),
            "vaccine_type": {"code": v.atc, "codeSystem": ATC, "displayName": v.atc_text},
            "vaccine_name": {"displayName": product},
            "batch": f"{rng.choice('ABCDEFGHKLMNPRST')}{rng.choice('ABCDEFGHKLMNPRST')}{rng.randint(1000, 9999)}",
            "manufacturer": manufacturer,
            "target_diseases": [{"code": code, "codeSystem": ICD10SE, "displayName": name}
                                for code, name in v.targets],
        }))
    body = compact({"registration": registration, "administrations": administrations})
    if (variant == "full" or demo.profile == "rich") and birth.year >= 1900:  # the schema's dates start in 1900
        female = int(demo.patient.id[10]) % 2 == 0
        body["patient"] = {"birth_date": format_date(birth), "gender": {
            "code": "2" if female else "1", "codeSystem": KV_KON, "displayName": "Kvinna" if female else "Man"}}
    _vary(body, variant, unit, demo)
    record = demo.record(contract=contract.id, information_type=contract.categorization, key=f"vac-{i}",
                         title=_title(body), time=when, unit=unit if owner else None, detail=body,
                         without_owner=not owner, signed=variant != "unsigned",
                         approved=variant not in ("nullified", "wrong_patient"))
    record = with_role(record, "Distriktssköterska" if "vårdcentral" in unit[1].lower() else "Sjuksköterska")
    hd = record.detail["header"]
    for adm in record.detail.get("administrations", []):
        if "performer_org" in adm:  # the nurse who documents is the one who vaccinated
            adm["performer"] = {"hsa_id": hd["author_hsa_id"], "name": hd["author_name"]}
    if variant in ("nullified", "wrong_patient"):
        reason = ("Registrerad på fel patient; vaccinationen gavs till en annan patient med samma namn och är "
                  "flyttad till rätt journal."
                  if variant == "wrong_patient" else "Dubbelregistrering, vaccinationen finns redan registrerad.")
        record = dataclasses.replace(record, nullified=True,
                                     detail={**record.detail, "header": {**hd, "nullified_reason": reason}})
    return record


def _title(body: dict) -> str:
    """The vaccines given, by name (or type), as the contract reads them; a registration may record that none was."""
    words = lambda cv: cv and (cv.get("displayName") or cv.get("originalText") or cv.get("code"))  # noqa: E731
    names = [words(a.get("vaccine_name")) or words(a.get("vaccine_type")) for a in body.get("administrations", [])]
    return (" + ".join(filter(None, names)) or "Vaccination") if names else "Vaccination ej given"


def with_role(record: Record, name: str) -> Record:
    """The demo picks a random profession; the clinical content decides who writes it."""
    role = {"code": next(c for c, n in ROLES if n == name), "codeSystem": KV_BEFATTNING, "displayName": name}
    return dataclasses.replace(record, detail={**record.detail,
                                               "header": {**record.detail["header"], "author_role": role}})


def _vary(body: dict, variant, unit, demo) -> None:
    """The variant patient's special cases, applied to an otherwise ordinary visit."""
    registration, administrations = body["registration"], body.get("administrations", [])
    if variant == "full":  # the optional parts a Swedish producer fills in
        prescriber_hsa, prescriber, _ = demo.clinician()
        registration.update(care_giver_contact={"name": "Medicinskt ansvarig sjuksköterska"},
                            product_name=registration["source_system_name"], product_version="2024.2",
                            postal_code="124 68", note="Informerad om vanliga biverkningar. Observerad 15 minuter.",
                            risk_categories=[*registration.get("risk_categories", []),
                                             {"displayName": "Kronisk hjärtsjukdom"}])
        for adm in administrations:
            adm.update(prescriber_org={"orgUnitHSAId": unit[0], "orgUnitName": unit[1]},
                       prescriber={"hsa_id": prescriber_hsa, "name": prescriber},
                       comment_prescription="Årlig vaccination enligt riskgruppsprogrammet.",
                       comment="Inga omedelbara reaktioner.")
    elif variant == "free_text":  # no codes: what the patient remembered
        body["administrations"] = [{"vaccine_name": {"originalText": "Pneumokockvaccin, preparat okänt"},
                                    "source": "Uppgift från patienten, vaccinerad på annan ort"}]
    elif variant == "declined":  # a registration without any administration
        body.pop("administrations", None)
        registration["note"] = "Erbjuden vaccination mot covid-19. Patienten avböjer i år."
    elif variant == "unsigned":  # an incomplete dose with a reaction, not yet signed
        administrations[0].update(dose_complete=False, adverse_effects=[
            {"displayName": "Yrsel och blekhet under injektionen"}],
            comment="Injektionen avbröts, uppskattningsvis halva dosen given. Ny dos om 4 veckor.")
    elif variant == "markup":  # producer text is data, never markup
        registration["note"] = '<b>Obs!</b> "Allergi" & <script>alert(1)</script> mot ägg uppgiven, ej verifierad.'



# -- demo plans: (vaccine keys, time, unit, variant) -------------------------------------------


def _birth(pid: str) -> dt.date:
    return dt.date(int(pid[:4]), int(pid[4:6]), int(pid[6:8]) % 60)


def _at(demo, day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, demo.rng.randint(8, 16), demo.rng.choice([0, 15, 30, 45]),
                       tzinfo=SWEDEN)


def _offers(unit, age: int) -> tuple[str, ...]:
    """What a unit vaccinates adults against: the vårdcentral most things, wards and home care the elderly's
    seasonal vaccinations, emergency and orthopaedic units tetanus boosters for wounds."""
    name = unit[1].lower()
    elderly = ("influensa", "covid", "pneumokock") if age >= 65 else ()
    travel = ("tbe", "hepab") if age < 90 else ()  # not for the very old
    if "vårdcentral" in name:
        return ("covid",) + travel + ("tetanus",) + elderly
    if "akut" in name or "ortopedi" in name:
        return ("tetanus",)
    return elderly


def _plan(demo, age: int) -> list[tuple]:
    rng = demo.rng
    units = [(u, offers) for u in demo.units if (offers := _offers(u, age))]
    if demo.profile == "variants":
        return _variants(demo, units)
    if not units:
        return []
    count = {"blocked": rng.randint(2, 5), "heavy": 300 if demo.logical_address == PROVIDERS[0][4][0] else 2,
             "not_in_tgp": rng.randint(1, 2)}.get(demo.profile, 0)
    if demo.profile != "heavy":  # a unit that only gives tetanus boosters does not give five of them
        count = min(count, 2 * len({k for _, offers in units for k in offers}))
    bvc = next((u for u, _ in units if "vårdcentral" in u[1].lower()), None)
    plan = []
    for i in range(count):
        if demo.profile == "blocked":  # a year each, cycling through the units
            unit, offers = units[i % len(units)]
            when, latest = demo.when(365 * (i + 1), 365 * i + 1), demo.today - dt.timedelta(days=365 * i + 1)
        else:
            unit, offers = rng.choice(units)
            when = demo.when(20 * 365 if demo.profile == "heavy" else 3 * 365)
            latest = when.date()
        keys = [rng.choice([k for k in offers if k != "covid" or latest >= COVID_SEASONS])]
        variant = None
        if demo.profile == "heavy" and i % 100 == 7:
            variant = "markup"
        elif demo.profile == "heavy" and i % 100 == 42 and bvc:  # another patient's vaccination, booked on her
            keys, variant, unit = ["influensa"], "wrong_patient", bvc
        elif demo.profile == "heavy" and i % 100 == 77 and "pneumokock" in offers:  # two vaccines, one visit
            keys = ["influensa", "pneumokock"]
        plan.append((keys, _autumn(demo, latest) if keys[0] in SEASONAL else when, unit, variant))
    return plan


def _autumn(demo, latest: dt.date) -> dt.datetime:
    """Seasonal vaccinations are given in October and November: the last such day on or before `latest`."""
    day = dt.date(latest.year, demo.rng.choice([10, 11]), demo.rng.randint(1, 28))
    return _at(demo, day if day <= latest else day.replace(year=day.year - 1))


def _variants(demo, units) -> list[tuple]:
    """Egon's special cases at every source where a unit gives the vaccine; the vaccination card anywhere."""
    plan = []
    for keys, variant in ((["influensa"], "full"), (["pneumokock"], "free_text"), (["covid"], "declined"),
                          (["influensa"], "nullified"), (["covid"], "unsigned"),
                          (["influensa", "pneumokock"], None), (["tetanus"], "card")):
        unit = next((u for u, offers in units if set(keys) <= set(offers)), None)
        if unit or variant == "card":
            when = demo.when()
            plan.append((keys, _autumn(demo, when.date()) if keys[0] in SEASONAL else when,
                         unit or demo.units[0], variant))
    return plan


def _rich(demo, birth: dt.date) -> list[tuple]:
    """A life's vaccinations: the childhood programme where she grew up, adult ones where she lives now."""
    rng = demo.rng
    unit = next((u for u in demo.units if "vårdcentral" in u[1].lower()), None)
    if unit is None:
        return []

    def day(base: dt.date, days: int) -> dt.datetime:
        return _at(demo, base + dt.timedelta(days=days + rng.randint(0, 6)))

    plan = []
    if demo.logical_address == PROVIDERS[0][4][0]:
        child = "hexa" if birth.year >= 2016 else "dtp_ipv_hib"
        plan += [([child], day(birth, d), unit, "bvc") for d in (91, 152, 365)]
        plan += [(["mpr"], day(birth, 548), unit, "bvc"), (["mpr"], day(birth, 12 * 365), unit, "school")]
        if int(demo.patient.id[10]) % 2 == 0 and 1993 <= birth.year <= 1998:
            plan += [(["hpv"], day(dt.date(2012, 10, 8), d), unit, "rich") for d in (0, 63, 210)]
        plan += [(["hepab"], day(dt.date(2019, 2, 4), d), unit, "rich") for d in (0, 30, 180)]
        plan += [(["covid"], day(dt.date(2021, 6, 7), d), unit, "rich") for d in (0, 42, 210)]
    elif demo.logical_address == PROVIDERS[1][4][0] and childbearing(demo.patient.id, demo.today):
        lmp = demo.today - dt.timedelta(days=LMP_DAYS_BACK)  # the pregnancy in the maternity records
        plan.append((["influensa"], day(lmp, 36 * 7), unit, "pregnant"))
        plan += [(["tbe"], day(demo.today, -d), unit, "rich") for d in (210, 180, 30)]
    return plan


