"""Swedish names for the codes a clinician can see: one table in the core, which plugins extend.

Three kinds of code reach a page: an information type (the engagement index's categorization of a
record, e.g. "dia"), a status a contract carries (e.g. HL7 ActStatus "completed") and a code system
(an OID). The core knows the national ones; a plugin's view declares its own in `InformationView.labels`,
so a new information set brings its labels without a change here. A code nobody named is shown as what
it is ("Okänd typ (xyz)"), never as a bare code and never as nothing, and is logged once.
"""

from __future__ import annotations

import logging

from .riv import codes

log = logging.getLogger("npo.labels")

TYPE, STATUS, SYSTEM = "type", "status", "system"

# The engagement index's categorizations for the patient summary (rivta.md), and NPÖ's own.
TYPES = {
    "voo": "Journalanteckningar", "dia": "Diagnoser", "upp": "Uppmärksamhetsinformation",
    "fun-fun": "Funktionsbedömning", "pad-pad": "ADL-bedömning",
    "und-kkm-ure": "Klinisk kemi och laboratorium", "und-kon-ure": "Remissvar och konsultationer",
    "und-bdi-ure": "Bilddiagnostik", "und-ekg-ure": "Fysiologi (EKG)", "utr-mtr": "Mödrahälsovård",
    "caa-gmh": "Läkemedel", "caa-gvh": "Vaccinationer", "vko": "Vårdkontakter",
}

# HL7 ActStatus (2.16.840.1.113883.5.14), the status most RIV-TA contracts carry as a code.
STATUSES = {
    "normal": "Normal", "active": "Pågående", "completed": "Slutförd", "aborted": "Avbruten",
    "cancelled": "Inställd", "held": "Vilande", "new": "Ny", "suspended": "Tillfälligt stoppad",
    "nullified": "Makulerad", "obsolete": "Ersatt",
}

FALLBACK = {TYPE: "Okänd typ ({})", STATUS: "Okänd status ({})", SYSTEM: "Okänt kodverk ({})"}
CORE = {TYPE: TYPES, STATUS: STATUSES, SYSTEM: codes.NAMES}


class Labels:
    """The table the pages read: the core's names, then each view's own (a view may not rename a code)."""

    def __init__(self, views=()):
        self.table = {kind: dict(names) for kind, names in CORE.items()}
        for view in views:
            for kind, names in (view.labels or {}).items():
                if kind not in FALLBACK:
                    raise ValueError(f"view {view.slug!r} labels an unknown kind of code: {kind!r}")
                known = self.table[kind]
                for code, text in names.items():
                    if known.setdefault(code, text) != text:
                        raise ValueError(f"view {view.slug!r} renames {kind} {code!r}: "
                                         f"{known[code]!r} is already its name")
        self._unknown: set[tuple[str, str]] = set()

    def label(self, kind: str, code) -> str:
        """The Swedish name of a code; an unknown one named as what it is, and logged the first time."""
        if code is None or code == "":
            return "–"
        text = self.table.get(kind, {}).get(code)
        if text is not None:
            return text
        if (kind, code) not in self._unknown:
            self._unknown.add((kind, code))
            log.warning("No Swedish label for %s code %r: shown as unknown", kind, code)
        return FALLBACK.get(kind, "Okänd kod ({})").format(code)


_CORE = Labels()  # the core's table alone: for views that format a status themselves


def status_words(cv: dict | None) -> str:
    """A coded status (a CV) in words: the producer's own, else the Swedish name of its code, never the bare code."""
    if not cv:
        return "–"
    return cv.get("displayName") or cv.get("originalText") or _CORE.label(STATUS, cv.get("code"))
