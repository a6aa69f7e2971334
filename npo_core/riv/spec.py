"""The body codec: one spec gives both parse and render, so the two cannot drift.

A spec is a tuple of (element, key, kind) in the schema's element order. kind is "str", "int",
"num", "bool", "ts" (a RIV-TA time stamp, kept as its text), "required" (text the schema requires but
allows empty, as a 4.x IIType's extension or a unitless quantity's unit: read as "str", written empty
where absent) or a nested spec; a list around it ([kind]) makes the element repeat. Elements are
in the namespace passed along unless written "{namespace}name". Standard RIV-TA types are nested
specs below (CV, PQ, IVL_PQ, ...): their keys are the schema's own element names, so whatever a
producer sends of them is kept.
"""

from __future__ import annotations

from lxml import etree


def _words(*names: str) -> tuple:
    return tuple((n, n, "str") for n in names)


CV = _words("code", "codeSystem", "codeSystemName", "codeSystemVersion", "displayName", "originalText")
II = _words("root", "extension")
PQ = (("value", "value", "num"), ("unit", "unit", "str"))
INTERVAL_PQ = (("low", "low", "num"), ("high", "high", "num"), ("unit", "unit", "str"))
PERIOD = _words("start", "end")
ORG_UNIT = _words("orgUnitHSAId", "orgUnitName", "orgUnitTelecom", "orgUnitEmail", "orgUnitAddress",
                  "orgUnitLocation")
PERSON = (("personId", "person_id", II), ("name", "name", "str"))
HEALTHCARE_PROFESSIONAL = (("authorTime", "authorTime", "ts"), *_words("healthcareProfessionalHSAId",
                           "healthcareProfessionalName"), ("healthcareProfessionalRoleCode", "healthcareProfessionalRoleCode", CV),
                           ("healthcareProfessionalOrgUnit", "healthcareProfessionalOrgUnit", ORG_UNIT),
                           *_words("healthcareProfessionalCareUnitHSAId", "healthcareProfessionalCareGiverHSAId"))
MULTIMEDIA = _words("id", "mediaType", "value", "reference")

REQUIRED = "required"
CONVERT = {"str": str, "ts": str, REQUIRED: str, "int": int, "num": float, "bool": lambda s: s.lower() in ("true", "1")}
WRITE = {True: "true", False: "false"}


def tag(ns: str, element: str) -> str:
    return element if element.startswith("{") else f"{{{ns}}}{element}"


def sub(parent: etree._Element, qname: str, text=None) -> etree._Element:
    el = etree.SubElement(parent, qname)
    if text is not None:
        el.text = text if isinstance(text, str) else WRITE.get(text) if isinstance(text, bool) else str(text)
    return el


def render(parent: etree._Element, ns: str, spec: tuple, data) -> None:
    """Write `data` in the spec's (the schema's) order: absent keys write nothing (a "required" one an empty
    element), {} an empty element."""
    for element, key, kind in spec:
        value = data.get(key)
        many = isinstance(kind, list)
        kind = kind[0] if many else kind
        if value is None and kind == REQUIRED:
            sub(parent, tag(ns, element))
            continue
        for item in (value or []) if many else ([] if value is None else [value]):
            if isinstance(kind, tuple):
                render(sub(parent, tag(ns, element)), ns, kind, item)
            else:
                sub(parent, tag(ns, element), item)


def parse(el: etree._Element | None, ns: str, spec: tuple) -> dict:
    """The inverse of render. Absent or unreadable values are left out, never raised."""
    data: dict = {}
    if el is None:
        return data
    wanted = {tag(ns, element): (key, kind) for element, key, kind in spec}
    for child in el:
        found = wanted.get(child.tag)
        if found is None:
            continue
        key, kind = found
        many = isinstance(kind, list)
        value = _value(child, ns, kind[0] if many else kind)
        if value is None:
            continue
        if many:
            data.setdefault(key, []).append(value)
        elif key not in data:  # the first of a repeated single element, as a schema-valid answer has one
            data[key] = value
    return data


def _value(el: etree._Element, ns: str, kind):
    if isinstance(kind, tuple):
        return parse(el, ns, kind)
    text = (el.text or "").strip()
    try:
        return CONVERT[kind](text) if text else None
    except ValueError:
        return None


def element_path(ns: str, spec: tuple, key_path: str) -> str:
    """The element path ("{ns}a/{ns}b") of a key path ("a.b") through a spec; KeyError when it names none."""
    steps = []
    for key in key_path.split("."):
        found = next(((element, kind) for element, name, kind in spec if name == key), None)
        if found is None:
            raise KeyError(f"{key_path!r}: no field {key!r} in the spec")
        element, kind = found
        steps.append(tag(ns, element))
        kind = kind[0] if isinstance(kind, list) else kind
        spec = kind if isinstance(kind, tuple) else ()
    return "/".join(steps)


def elements(ns: str, spec: tuple) -> set[tuple[str, ...]]:
    """Every element path a spec maps, as tuples of qualified names (for the coverage check)."""
    out: set[tuple[str, ...]] = set()
    for element, _key, kind in spec:
        kind = kind[0] if isinstance(kind, list) else kind
        here = (tag(ns, element),)
        out.add(here)
        if isinstance(kind, tuple):
            out |= {here + rest for rest in elements(ns, kind)}
    return out


def compact(data: dict) -> dict:
    """Drop absent values (None, []) so that a generated detail equals its parsed-back self."""
    return {k: v for k, v in data.items() if v is not None and v != []}
