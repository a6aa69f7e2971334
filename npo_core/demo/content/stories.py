"""Who each demo patient is: the one story every information set draws from (see ../STORIES.md).

Each set's module keeps its own pool of realistic entries (diagnoses, drugs, alerts, orders, notes ...);
a story names the entries that fit the patient, so a 29-year-old is not on dialysis and a patient on
warfarin has INR values near the target. Tags name the conditions and treatments that entries which
only fit some patients (a contact about warfarin dosing, a home-care insulin injection) ask for.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Story:
    tags: frozenset[str]
    diagnoses: tuple[str, ...]  # ICD-10-SE codes in get_diagnosis.DIAGNOSES
    drugs: tuple[str, ...]  # names in get_medication_history.BY_NAME
    alerts: tuple[str, ...]  # keys of get_alert_information.TEMPLATES
    orders: tuple[str, ...]  # keys of get_laboratory_order_outcome.ORDERS
    notes: tuple[str, ...]  # keys of get_care_documentation.PLAIN and DOCBOOK_NOTES
    examinations: tuple[str, ...]  # names in get_imaging_outcome.EXAMINATIONS
    disabilities: tuple[str, ...]  # ICF codes in get_functional_status.DISABILITIES
    padl_worst: int  # the most dependent PADL level that fits (0 independent .. 2 dependent)
    consults: tuple[str, ...]  # keys of get_referral_outcome.KEYS


STORIES = {
    # Fiona Andersdotter, 29: asthma and eczema since childhood, peanut allergy, hypothyroidism; a miscarriage
    # in Stockholm, then a first child in Gothenburg; iron deficiency after the delivery; a knee injury and
    # low back pain.
    "rich": Story(
        tags=frozenset({"asthma", "parent", "young"}),
        diagnoses=("J45.9", "L20.9", "E03.9", "J02.0", "N30.0", "S83.2", "D50.9", "G43.9", "M54.5"),
        drugs=("salbutamol", "budesonid och formoterol", "levotyroxinnatrium", "fenoximetylpenicillin",
               "fosfomycin", "järn(II)sulfat", "sumatriptan"),
        alerts=("peanut", "sulfa", "latex"),
        orders=("anaemia", "fever", "thyroid", "iron"),
        notes=("asthma", "sore_throat", "knee_injury", "cystitis_phone", "thyroid", "back_pain",
               "asthma_assessment", "arthroscopy"),
        examinations=("Lungröntgen", "MR knä höger", "Ultraljud sinus", "Ultraljud buk"),
        disabilities=("b280-knee", "b440"), padl_worst=0,
        consults=("palpitations", "knee_injury", "anaemia", "back_pain", "allergic_reaction")),
    # Egon Johansson, 90: atrial fibrillation on warfarin (and digoxin), hypertension, heart failure, type 2
    # diabetes, chronic kidney disease, knee arthrosis; lives at home with home help.
    "variants": Story(
        tags=frozenset({"af", "warfarin", "hypertension", "heart_failure", "diabetes", "elderly"}),
        diagnoses=("I48.9", "I10.9", "I50.9", "E11.9", "N18.3", "M17.1", "K21.9"),
        drugs=("metformin", "warfarin", "enalapril", "metoprolol", "furosemid"),
        alerts=(),  # his alerts are the contract's variants, one each
        orders=("inr", "diabetes", "heart_failure", "ace"),
        notes=("hypertension", "knee_arthrosis", "diabetes", "dizzy_phone", "fall_phone", "ward_day"),
        examinations=("DT hjärna utan kontrast", "Lungröntgen", "Ultraljud buk", "DT thorax med kontrast"),
        disabilities=("b230", "b280-knee"), padl_worst=1,
        consults=("af", "heart_failure", "chest_pain", "arthrosis", "home_aids")),
    # Harry Harrisson, 80: COPD (former smoker), hypertension, type 2 diabetes on insulin, high cholesterol,
    # knee arthrosis; MRSA carrier since a hospital stay. Cared for in every region: hence his blocks.
    "blocked": Story(
        tags=frozenset({"copd", "hypertension", "diabetes", "insulin", "elderly"}),
        diagnoses=("J44.9", "I10.9", "E11.9", "E78.0", "M17.1", "J06.9", "K21.9", "M54.5"),
        drugs=("metformin", "insulin glargin", "enalapril", "simvastatin", "salbutamol vid KOL", "prednisolon",
               "omeprazol"),
        alerts=("sulfa", "mrsa", "no_cpr", "diabetes"),
        orders=("diabetes", "ace", "fever", "liver"),
        notes=("hypertension", "knee_arthrosis", "diabetes", "dizzy_phone", "ward_day", "physio_end",
               "pneumonia", "care_plan"),
        examinations=("Lungröntgen", "DT thorax med kontrast", "Ultraljud buk"),
        disabilities=("b230", "b280-knee", "b440-copd"), padl_worst=1,
        consults=("palpitations", "chest_pain", "arthrosis", "back_pain", "home_aids")),
    # Linda Johansson, 127: a long life. Heart failure, atrial fibrillation on warfarin for years, Alzheimer's
    # disease, a hip fracture, leg ulcers, type 2 diabetes; peanut allergy since childhood, registered at every
    # source; no resuscitation. Home care in Uppsala.
    "heavy": Story(
        tags=frozenset({"af", "warfarin", "hypertension", "heart_failure", "diabetes", "insulin", "dementia",
                        "hip_fracture", "leg_ulcer", "elderly", "copd"}),
        diagnoses=("I48.9", "I50.9", "I10.9", "N18.3", "M17.1", "F00.1", "S72.00", "E03.9", "E11.9",
                   "N30.0", "I83.0", "F32.1", "K21.9", "J44.1", "S52.50"),
        drugs=("warfarin", "furosemid", "metoprolol", "levotyroxinnatrium", "sertralin", "omeprazol", "morfin",
               "zopiklon", "insulin glargin", "metformin", "fenoximetylpenicillin", "fosfomycin", "prednisolon",
               "enalapril", "salbutamol vid KOL", "donepezil", "järn(II)sulfat"),
        alerts=("peanut", "peanut", "contrast", "sulfa", "warfarin", "mrsa", "no_cpr", "latex", "historic"),
        orders=("inr", "heart_failure", "anaemia", "diabetes", "thyroid", "fever"),
        notes=("hypertension", "knee_arthrosis", "diabetes", "dizzy_phone", "fall_phone", "ward_day",
               "physio_end", "leg_ulcer", "pneumonia", "discharge_af", "admission_hip", "care_plan", "memory"),
        examinations=("DT hjärna utan kontrast", "Lungröntgen", "Ultraljud buk", "Ultraljud sinus"),
        disabilities=("b144", "b210", "b230", "b280-back"), padl_worst=3,
        consults=("af", "heart_failure", "memory", "anaemia", "chest_pain", "wrist_fracture",
                  "home_aids")),
    # Mohamed Al Samed, 36: healthy apart from reflux and low back pain; a sore throat now and then.
    "not_in_tgp": Story(
        tags=frozenset({"young"}),
        diagnoses=("M54.5", "K21.9", "J06.9", "J02.0"),
        drugs=("omeprazol", "fenoximetylpenicillin"),
        alerts=("sulfa",),
        orders=("fever", "liver", "gallstones"),
        notes=("pneumonia", "sore_throat", "back_pain"),
        examinations=("Lungröntgen", "MR knä höger", "Ultraljud buk", "Ultraljud sinus"),
        disabilities=("b280-back",), padl_worst=0,
        consults=("knee_injury", "back_pain", "chest_pain", "palpitations")),
}


def story(demo) -> Story:
    return STORIES[demo.profile]


def fits(demo, tag: str | None) -> bool:
    """Whether an entry that asks for `tag` (None: any patient) fits the demo patient."""
    return tag is None or tag in story(demo).tags


def pick(pool: dict, keys) -> list:
    """The pool's entries the story names, in the story's order (a name twice: drawn twice as often)."""
    return [pool[k] for k in keys]
