"""The overview's alerts ("Att uppmärksamma") grouped so a heavy patient's hundreds fit a screen: by kind, the
most severe first, one line for the same alert from several sources, and a fixed budget of lines.

Pure: records in, groups out. The kind is the alert's own type (typeOfAlertInformation, a KV Informationstyp
code such as "upp-okh"), else the part of the body it has; the severity is the hypersensitivity's degree of
severity (KV Allvarlighetsgrad), the only severity GetAlertInformation carries.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from npo_core import riv

LINES = 10  # group lines the overview shows at most, however many alerts there are


@dataclass(frozen=True)
class Kind:
    code: str  # the KV Informationstyp code without its "upp-"
    label: str
    part: str | None = None  # the body part that says the kind when the type code is not one npo knows


# In the order the overview shows them: what changes the next act of care first.
KINDS = (Kind("okh", "Överkänslighet", "hypersensitivity"), Kind("vbe", "Vårdbegränsning", "restriction_of_care"),
         Kind("uas", "Allvarlig sjukdom", "serious_disease"), Kind("ube", "Behandling", "treatment"),
         Kind("arb", "Smitta", "communicable_disease"), Kind("est", "Historisk varningsinformation", "unstructured"))
BY_CODE = {k.code: k for k in KINDS}
OTHER = "Övrig uppmärksamhetsinformation"
SEVERITY = {"1": "Livshotande", "2": "Skadande", "3": "Besvärande"}  # KV Allvarlighetsgrad, most severe first
# Where a body names what the alert is about by code: two sources coding the same thing are one line.
CODED = (("hypersensitivity", "pharmaceutical", "atc"), ("hypersensitivity", "other", "agent_code"),
         ("serious_disease", "disease"), ("treatment", "code"), ("communicable_disease", "code"))
SPACE = re.compile(r"\s+")


@dataclass
class Line:
    """One alert as the clinician reads it, with every registration of it (newest first) and where each is from."""
    text: str
    records: list = field(default_factory=list)
    severity: str | None = None  # code in KV Allvarlighetsgrad: "1" is the most severe
    opened: bool = False  # one of its records is shown through an opened block

    @property
    def severity_text(self) -> str | None:
        return SEVERITY.get(self.severity or "")

    @property
    def latest(self):
        return self.records[0]

    @property
    def sources(self) -> list[str]:
        """Care units (else care providers) that registered it, the most registrations first."""
        named = Counter(r.care_unit_name or r.care_provider_name or "okänd vårdenhet" for r in self.records)
        return [name for name, _ in sorted(named.items(), key=lambda kv: (-kv[1], kv[0]))]


@dataclass
class Group:
    code: str
    label: str
    lines: list[Line]
    shown: int = 0  # how many of its lines the overview shows

    @property
    def count(self) -> int:
        return sum(len(line.records) for line in self.lines)

    @property
    def anchor(self) -> str:
        return "slag-" + (re.sub(r"[^a-z0-9]+", "-", self.code.lower()).strip("-") or "okant")


def _get(detail: Mapping, path: tuple) -> object:
    """detail[a][b]...: a record's detail is a Mapping read on first use, not a dict."""
    for key in path:
        detail = detail.get(key) if isinstance(detail, Mapping) else None
    return detail


def _clean(text) -> str:
    return SPACE.sub(" ", str(text or "")).strip()


def kind_of(record) -> tuple[str, str]:
    """(code, label) of the alert's kind: its type code where npo knows it, else the body part it has, else
    the type as the producer named it."""
    detail = record.detail
    cv = detail.get("type") or {}
    code = _clean(cv.get("code")).lower()
    known = BY_CODE.get(code.removeprefix("upp-"))
    if known is None:
        known = next((k for k in KINDS if detail.get(k.part)), None)
    if known is not None:
        return known.code, known.label
    return code or "?", _clean(cv.get("displayName") or cv.get("originalText")) or OTHER


def _text(record, code: str, label: str) -> str:
    """What the alert is about, without repeating its kind: "Jordnöt" under Överkänslighet."""
    detail = record.detail
    if code == "vbe":
        text = _clean(_get(detail, ("restriction_of_care", "comment")))
    elif code == "est":
        text = ": ".join(t for t in (_clean(_get(detail, ("unstructured", "heading"))),
                                     _clean(_get(detail, ("unstructured", "content")))) if t)
    else:
        text = _clean(record.title)
        if text.casefold().startswith(label.casefold() + ":"):
            text = text[len(label) + 1:].strip()
    if not text or text.casefold() == label.casefold():
        text = _clean(detail.get("comment")) or "Ingen närmare uppgift"
    return text


def _identity(record, text: str) -> tuple:
    """Same kind and the same code (or, uncoded, the same words): the same alert, whoever registered it."""
    for path in CODED:
        cv = _get(record.detail, path)
        if isinstance(cv, Mapping) and cv.get("code"):
            return ("code", _clean(cv.get("codeSystem")), _clean(cv["code"]).casefold())
    return ("text", text.casefold())


def _severity(record) -> str | None:
    cv = _get(record.detail, ("hypersensitivity", "severity"))
    if isinstance(cv, Mapping) and cv.get("code") in SEVERITY \
            and cv.get("codeSystem") in (None, riv.codes.KV_SEVERITY):
        return cv["code"]
    return None


def _newest_first(record):
    return record.time.timestamp() if record.time else float("-inf")


def grouped(records, opened=lambda record: False, budget: int = LINES) -> list[Group]:
    """The alerts by kind (npo's order of kinds, then unknown kinds by name), each kind's lines the most severe
    and most registered first; `shown` spreads `budget` lines over the kinds, one each before a second."""
    groups: dict[str, Group] = {}
    lines: dict[tuple, Line] = {}
    for record in sorted(records, key=_newest_first, reverse=True):
        code, label = kind_of(record)
        group = groups.setdefault(code, Group(code, label, []))
        text = _text(record, code, label)
        key = (code, _identity(record, text))
        line = lines.get(key)
        if line is None:
            line = lines[key] = Line(text)
            group.lines.append(line)
        line.records.append(record)
        severity = _severity(record)
        if severity and (line.severity is None or severity < line.severity):
            line.severity = severity
        line.opened = line.opened or bool(opened(record))
    order = {k.code: n for n, k in enumerate(KINDS)}
    result = sorted(groups.values(), key=lambda g: (order.get(g.code, len(order)), g.label.casefold(), g.code))
    for group in result:
        group.lines.sort(key=lambda line: (line.severity or "9", -len(line.records), line.text.casefold()))
    left = budget
    while left > 0 and any(g.shown < len(g.lines) for g in result):
        for group in result:
            if left > 0 and group.shown < len(group.lines):
                group.shown += 1
                left -= 1
    return result


def current(reads) -> tuple[list, list]:
    """The prominent views' current alerts and what left each incomplete, from [(view, its read, message)] (the
    read None where the set could not be read, and `message` why). A record two such views show is one alert.
    Gaps are (view, its SetStatus or None, message)."""
    alerts, gaps, seen = [], [], set()
    for view, result, message in reads:
        if result is None:
            gaps.append((view, None, message))
            continue
        status = result.set_status(view)
        if not status.complete:
            gaps.append((view, status, None))
        for record in result.records:
            if record.information_type in view.categorizations and id(record) not in seen and view.prominent(record):
                seen.add(id(record))
                alerts.append(record)
    return alerts, gaps
