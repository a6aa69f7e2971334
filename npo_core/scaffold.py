"""Scaffold an installable contract plugin from an official RIV-TA responder schema.

`scaffold(name, schema, bundle, target)` reads the responder XSD (and the WSDL beside it) and writes
a package whose contract module is a *declaration* on npo's RIV-TA codec (`npo_core.riv`): a
`PatientSummaryContract` subclass with the names, namespaces and elements of the contract, and the
body's field spec derived from the schema, element by element (`riv.CV`, `riv.II`, ... where a type
is the standard one). Beside it: a view, the two hooks, and tests running `npo_core.conformance`.
It passes them as generated. What a schema cannot say (the Swedish title, the engagement-index
categorization, the title and time a record shows, meaningful columns, realistic content) is TODO.

How it reads a schema:

- the request: where it is the PatientSummary request (HSA-id strings, `patientId{id, type}`, a date
  period), the declaration names its tags; otherwise (IIType ids, time stamps, a required element a
  Query says nothing about) the package gets a request spec and the two methods that use it;
- the answer: the repeated complex child of the response element is a record. Where it is
  `{header: PatientSummaryHeaderType, body}`, the core reads it; where the domain's header differs in
  a way the core's does not say (element order, elements it lacks or requires), the smallest fix is
  written and marked TODO. Any other record (no PatientSummary header) is declared as one spec of
  the whole record, and the Record's own fields (id, owner, time, ...) as key paths into it, found by
  well-known RIV-TA element names (`ROLES` below); the package then says so in a TODO;
- demo data: the core's generic records (`npo_core.demo.content.generated`) from the body spec. Where
  the schema constrains a value they cannot guess (an enumeration, a pattern), or the record is not
  PatientSummary-shaped, a small demo module corrects them, and the contract's `demo_content` names it.

Needs only what npo already depends on (xmlschema, lxml, Jinja2).
"""

from __future__ import annotations

import base64
import json
import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from . import riv
from .errors import NpoError

TEMPLATES = Path(__file__).parent / "scaffold_templates"
MAX_DEPTH = 12  # element nesting followed into a record; recursive types stop earlier
XS = "{http://www.w3.org/2001/XMLSchema}"


class ScaffoldError(NpoError):
    """The schema cannot be scaffolded (shown to the developer as one line)."""


# -- reading the schema ------------------------------------------------------------------


@dataclass
class Node:
    """One element declaration in context: a path of local names from the record root."""

    tag: str  # "prefix:local" ("local" in the responder namespace)
    local: str
    namespace: str
    path: str
    min: int
    max: int | None
    simple: object = None  # the xmlschema simple type of a leaf (None for complex elements)
    children: list["Node"] = field(default_factory=list)
    choice: int | None = None  # members of one xs:choice share a number ...
    branch: int = 0  # ... and those of one alternative a branch
    parent: "Node | None" = None
    type_name: str | None = None  # the complex type's name, where it has one
    recursive: bool = False  # a complex element not followed (its type contains itself)

    @property
    def is_leaf(self) -> bool:
        return self.simple is not None

    @property
    def repeated(self) -> bool:
        return self.max is None or self.max > 1

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


class Prefixes:
    """Namespace prefixes: "" is the responder, then core, core2, ..."""

    def __init__(self, responder: str):
        self.by_ns = {responder: ""}

    def prefix(self, ns: str) -> str:
        if ns not in self.by_ns:
            n = sum(1 for p in self.by_ns.values() if p)
            self.by_ns[ns] = "core" if n == 0 else f"core{n + 1}"
        return self.by_ns[ns]

    def tag(self, ns: str, local: str) -> str:
        p = self.prefix(ns)
        return f"{p}:{local}" if p else local

    def mapping(self) -> dict[str, str]:
        return {p: ns for ns, p in self.by_ns.items()}


def _split(clark: str) -> tuple[str, str]:
    if clark.startswith("{"):
        ns, local = clark[1:].split("}", 1)
        return ns, local
    return "", clark


def _particles(group, min_factor: int = 1, counter: list | None = None, choice: int | None = None, branch: int = 0):
    """(element declaration, effective minOccurs, choice id, branch) in document order, groups flattened."""
    from xmlschema.validators import XsdAnyElement, XsdElement, XsdGroup

    counter = counter if counter is not None else [0]
    for item in group:
        if isinstance(item, XsdAnyElement):
            continue
        if isinstance(item, XsdElement):
            yield item, (item.min_occurs if min_factor else 0), choice, branch
        elif isinstance(item, XsdGroup):
            factor = min_factor if item.min_occurs else 0
            if item.model == "choice":
                counter[0] += 1
                number = counter[0]
                for i, sub in enumerate(item):  # each alternative of the choice
                    if isinstance(sub, XsdElement):
                        yield sub, (sub.min_occurs if factor else 0), number, i
                    elif isinstance(sub, XsdGroup):
                        yield from _particles(sub, factor, counter, number, i)
            else:
                yield from _particles(item, factor, counter, choice, branch)


def _children(xsd_type, parent: Node | None, prefixes: Prefixes, seen: tuple, depth: int) -> list[Node]:
    if xsd_type is None or xsd_type.is_simple() or depth > MAX_DEPTH:
        return []
    content = xsd_type.content
    if content is None or getattr(content, "is_simple", lambda: False)() or not hasattr(content, "model"):
        return []
    out = []
    for decl, min_occurs, choice, branch in _particles(content, 1, [0]):
        ns, local = _split(decl.name)
        t = decl.type
        path = f"{parent.path}/{local}" if parent is not None and parent.path else local
        node = Node(prefixes.tag(ns, local), local, ns, path, min_occurs, decl.max_occurs, choice=choice,
                    branch=branch, parent=parent, type_name=None if t.is_simple() else t.name)
        if t.is_simple():
            node.simple = t
        elif t.has_simple_content():
            node.simple = t.content
        elif t.name is None or t.name not in seen:  # no endless descent into recursive types
            node.children = _children(t, node, prefixes, seen + ((t.name,) if t.name else ()), depth + 1)
        else:
            node.recursive = True
        out.append(node)
    return out


def _element_children(schema, element_name: str, prefixes: Prefixes) -> list[Node]:
    el = schema.elements.get(element_name)
    if el is None:
        raise ScaffoldError(f"The schema declares no element {element_name!r}.")
    root = Node(element_name, element_name, "", "", 1, 1)
    root.children = _children(el.type, root, prefixes, (el.type.name,), 0)
    for child in root.children:
        child.parent = None
    return root.children


# -- values a simple type accepts ---------------------------------------------------------

UUID = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b"
STAMP = "20240115103000"
DAY = "20240115"
TEXT = "Exempel"


def _candidates(local: str) -> list[str]:
    low = local.lower()
    first: list[str] = []
    if low.endswith("time") or "timestamp" in low:
        first += [STAMP]
    if "date" in low:
        first += [DAY]
    if low in ("logid", "id") or low.endswith("uuid") or "agreement" in low:
        first += [UUID]
    if low == "codesystem" or low == "root":
        first += ["1.2.752.129.2.2.1.1"]
    if low == "code":
        first += ["EX01"]
    return first + [TEXT, "1", STAMP, DAY, "2024", UUID, base64.b64encode(TEXT.encode()).decode(),
                    "https://example.org/", "1.0"]


def sample_value(node: Node) -> str:
    """A value the leaf's type accepts: an enumeration's first value, else the first fitting candidate."""
    t = node.simple
    enum = getattr(t, "enumeration", None)
    if enum:
        values = [str(v) for v in enum]
        if node.local == "format":  # partial time stamps: say the format of the value we write
            for wanted in ("YYYYMMDDhhmmss", "YYYYMMDD"):
                if wanted in values:
                    return wanted
        return values[0]
    if _fits(t, "true") and _fits(t, "false") and not _fits(t, "1.5"):  # xs:boolean
        return "true" if "approved" in node.local.lower() else "false"
    bases = _bases(t)
    if "base64Binary" in bases:
        return base64.b64encode(TEXT.encode()).decode()
    if "anyURI" in bases:
        return "https://example.org/"
    for value in _candidates(node.local):
        if _fits(t, value):
            return value
    raise ScaffoldError(f"Cannot invent a value for {node.path}: no candidate fits its type.")


def _fits(t, value: str) -> bool:
    try:
        return bool(t.is_valid(value))
    except Exception:  # noqa: BLE001 - an odd facet: the value simply does not fit
        return False


def _bases(t) -> set[str]:
    names = set()
    while t is not None:
        if getattr(t, "name", None):
            names.add(t.name.removeprefix(XS))
        t = getattr(t, "base_type", None)
    return names


INTEGERS = {"integer", "int", "long", "short", "byte", "nonNegativeInteger", "positiveInteger",
            "unsignedInt", "unsignedLong", "unsignedShort", "nonPositiveInteger", "negativeInteger"}


def leaf_kind(node: Node) -> str:
    """The spec kind of a leaf: bool, int, num, ts (a RIV-TA time stamp) or str."""
    t, bases = node.simple, _bases(node.simple)
    if getattr(t, "enumeration", None):
        return "str"
    if "boolean" in bases:
        return "bool"
    if bases & INTEGERS:
        return "int"
    if bases & {"decimal", "double", "float"}:
        return "num"
    if _fits(t, STAMP) and not _fits(t, DAY) and not _fits(t, TEXT):
        return "ts"
    return "str"


# -- roles: which Record field comes from which path ------------------------------------------------

PEOPLE = {"patient", "patientId", "performerRole", "person", "legalAuthenticator", "additionalParticipant",
          "relation", "referredInformation", "device", "location", "organisation", "informationOwner",
          "careUnit", "careGiver", "sourceSystem", "sourceSystemId", "careUnitId", "careGiverId",
          "participatingCareUnitHSAId", "accountableHealthcareProfessional", "author", "healthcareProfessional",
          "orgUnit", "healthcareProfessionalOrgUnit", "performer", "requester", "careContact", "signature"}
ELSEWHERE = {"relation", "additionalParticipant", "referredInformation", "informationOwner",
             "participatingCareUnitHSAId", "legalAuthenticator", "requester", "referral", "careContactOrgUnit",
             "signature", "dissentingOpinion", "originalPatientId"}

# role: (suffix patterns in order of preference, segments a path must not pass through)
ROLES: dict[str, tuple[list[str], set[str]]] = {
    "id": (["documentId", "record/id/extension", "id/extension"], PEOPLE),
    "source_system": (["sourceSystemHSAId", "sourceSystemHSAid", "sourceSystem/id/extension",
                       "sourceSystemId/extension", "sourceSystemId"], ELSEWHERE),
    "patient_id": (["patientId/id", "patientId/extension", "patient/id/extension"], ELSEWHERE),
    "patient_root": (["patientId/type", "patientId/root", "patient/id/root"], ELSEWHERE),
    "birth_date": (["patient/dateOfBirth"], ELSEWHERE),
    "care_unit_id": (["healthcareProfessionalCareUnitHSAId", "careUnitHSAId", "careUnitHSAid",
                      "accountableCareUnit/extension", "careUnit/id/extension", "careUnitId/extension",
                      "careUnit/extension"], ELSEWHERE),
    "care_provider_id": (["healthcareProfessionalCareGiverHSAId", "careGiverHSAId", "careGiverHSAid",
                          "accountableCareGiver/extension", "accountableHealthcareProvider/extension",
                          "careGiver/id/extension", "careGiverId/extension", "healthcareProvider/extension"],
                         ELSEWHERE),
    "author": (["healthcareProfessionalName", "performerRole/person/name", "author/name"], ELSEWHERE),
    "author_id": (["healthcareProfessionalHSAId", "performerRole/person/id/extension", "author/id/extension"],
                  ELSEWHERE),
    "title": (["documentTitle"], ELSEWHERE),
    "approved": (["approvedForPatient"], ELSEWHERE),
    "nullified": (["nullified"], ELSEWHERE),
}
TIME_NAMES = ("documentTime", "authorTime", "registrationTime", "timestamp", "blockComparisonTime")
ROLE_VALUES = {"patient_id": "191212121212", "patient_root": "1.2.752.129.2.1.3.1", "birth_date": "19121212",
               "care_unit_id": "SE2321000016-9RKT", "care_provider_id": "SE2321000016-F0VB",
               "source_system": "SE2321000016-TKC1", "id": "dok-1", "author": "Karin Berg",
               "author_id": "SE2321000016-1234", "title": TEXT, "approved": "true", "nullified": "false"}


def _matches(path: str, pattern: str) -> bool:
    segs, pat = path.split("/"), pattern.split("/")
    return segs[-len(pat):] == pat


def find_roles(record: list[Node]) -> tuple[dict[str, str], list[str]]:
    """({role: path}, [time paths]) for the record's content."""
    leaves = [n for top in record for n in top.walk() if n.is_leaf]
    roles: dict[str, str] = {}
    for role, (patterns, avoid) in ROLES.items():
        for pattern in patterns:
            tail = set(pattern.split("/"))
            hit = next((n for n in leaves if _matches(n.path, pattern)
                        and not (set(n.path.split("/")) - tail) & avoid
                        and _accepts(n, ROLE_VALUES.get(role))), None)
            if hit is not None:
                roles[role] = hit.path
                break
    # Times where the record's own identity lives (its header), never deep inside its body.
    home = roles["id"].split("/")[0] if "/" in roles.get("id", "") else None
    times = [n.path for n in leaves if n.local in TIME_NAMES and not set(n.path.split("/")) & ELSEWHERE
             and (home is None or n.path.split("/")[0] == home) and _accepts(n, STAMP)]
    return roles, times


def _accepts(node: Node, value: str | None) -> bool:
    if value is None or getattr(node.simple, "enumeration", None):
        return value is None
    try:
        return bool(node.simple.is_valid(value))
    except Exception:  # noqa: BLE001
        return False


def record_find(record: list[Node], path: str) -> Node | None:
    return next((n for top in record for n in top.walk() if n.path == path), None)


def drop_point(record: list[Node], path: str) -> tuple[str, str]:
    """How to take a value away: ("drop", nearest optional ancestor-or-self) or ("blank", path)."""
    node = record_find(record, path)
    while node is not None:
        if node.min == 0:
            return "drop", node.path
        node = node.parent
    return "blank", path


# -- the request ---------------------------------------------------------------------------


@dataclass
class RequestField:
    tag: str
    kind: str  # patient_person patient_ii units units_ii providers providers_ii period source source_ii
    #             has_more fixed optional
    repeated: bool
    required: bool
    sub: dict = field(default_factory=dict)  # child tags (id/type, root/extension, start/end)
    value: object = None  # fixed: the sample value
    date_format: str | None = None  # period: "date" or "timestamp"
    local: str = ""
    key: str = ""  # its key in the request spec


UNIT_NAMES = {"careunithsaid", "careunitid", "careunit"}
PROVIDER_NAMES = {"caregiverhsaid", "caregiverid", "caregiver", "healthcareprovider"}
SOURCE_NAMES = {"sourcesystemhsaid", "sourcesystemid"}
PERIOD_NAMES = {"timeperiod", "dateperiod", "time", "period"}


def _child_tags(node: Node) -> dict[str, str]:
    return {c.local: c.tag for c in node.children}


def _ordered(node: Node, *locals_: str) -> dict[str, str]:
    """The named children's tags, in the order the schema wants them."""
    return {c.local: c.tag for c in node.children if c.local in locals_}


def classify_request(nodes: list[Node]) -> list[RequestField]:
    fields = []
    for n in nodes:
        low = n.local.lower()
        kids = _child_tags(n)
        f = RequestField(n.tag, "optional", n.repeated, bool(n.min), local=n.local, key=_snake(n.local))
        if low == "patientid" and {"id", "type"} <= kids.keys():
            f.kind, f.sub = "patient_person", _ordered(n, "id", "type")
        elif low == "patientid" and {"root", "extension"} <= kids.keys():
            f.kind, f.sub = "patient_ii", _ordered(n, "root", "extension")
        elif low in UNIT_NAMES | PROVIDER_NAMES | SOURCE_NAMES and (n.is_leaf or {"root", "extension"} <= kids.keys()):
            base = "units" if low in UNIT_NAMES else "providers" if low in PROVIDER_NAMES else "source"
            f.kind = base if n.is_leaf else base + "_ii"
            if not n.is_leaf:
                f.sub = _ordered(n, "root", "extension")
        elif low in PERIOD_NAMES and {"start", "end"} <= kids.keys():
            start = next(c for c in n.children if c.local == "start")
            if start.is_leaf and _accepts(start, DAY):
                f.date_format = "date"
            elif start.is_leaf and _accepts(start, STAMP):
                f.date_format = "timestamp"
            if f.date_format:
                f.kind, f.sub = "period", _ordered(n, "start", "end")
        elif low == "hasmorereference" and n.is_leaf:
            f.kind = "has_more"
        fields.append((f, n))
    if not any(f.kind.startswith("patient") for f, _ in fields):
        raise ScaffoldError("The request has no patientId ({id, type} or {root, extension}): "
                            "the scaffold only knows patient-centred information contracts.")
    for f, n in fields:
        if f.kind == "optional" and n.min:  # required, and nothing in a Query says what it is
            f.kind, f.value = "fixed", sample_value(n) if n.is_leaf else None
            if f.value is None:
                raise ScaffoldError(f"The request requires {n.local}, which the scaffold cannot fill.")
    return [f for f, _ in fields]


# -- field specs -------------------------------------------------------------------------------

STANDARD = {"CV": riv.CV, "II": riv.II, "PQ": riv.PQ, "INTERVAL_PQ": riv.INTERVAL_PQ, "PERIOD": riv.PERIOD,
            "ORG_UNIT": riv.ORG_UNIT, "PERSON": riv.PERSON}


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


@dataclass
class Spec:
    """A field spec as the package writes it: entries of (element, key, kind, repeated, node)."""

    entries: list
    type_name: str | None = None
    name: str = ""  # its constant in the package ("riv.CV" for a standard one; "" inline)

    def runtime(self) -> tuple:
        return tuple((e, k, [kind.runtime() if isinstance(kind, Spec) else kind] if many
                      else kind.runtime() if isinstance(kind, Spec) else kind) for e, k, kind, many, _n in self.entries)


class SpecWriter:
    """The specs of one package: named types become module constants, standard ones riv's."""

    def __init__(self, core_ns: str, responder_ns: str = ""):
        self.core_ns, self.responder_ns = core_ns, responder_ns
        self.constants: dict[str, Spec] = {}  # name -> spec, in the order they are first needed
        self.by_content: dict[str, str] = {}
        self.keypaths: dict[str, str] = {}  # node path ("a/b") -> key path ("a.b")
        self.skipped: list[str] = []  # recursive elements not mapped
        self.namespaces: dict[str, str] = {}  # other namespaces than the core's -> their constants

    def spec(self, nodes: list[Node], keyprefix: str = "", element_keys: bool = False,
             paths: dict | None = None) -> Spec:
        paths = self.keypaths if paths is None else paths
        entries, used = [], set()
        for n in nodes:
            if n.recursive or (not n.is_leaf and not n.children):
                self.skipped.append(n.path)
                continue
            element = n.local if n.namespace == self.core_ns else f"{{{n.namespace}}}{n.local}"
            if n.namespace not in (self.core_ns, self.responder_ns):
                self.namespace(n.namespace)
            key = n.local if element_keys else _snake(n.local)
            if not keyprefix and key in ("header", "unreadable"):  # a detail's own keys (riv.Detail)
                key = f"{key}_"
            while key in used:
                key += "_"
            used.add(key)
            path = f"{keyprefix}.{key}" if keyprefix else key
            paths[n.path] = path
            if n.is_leaf:
                kind = leaf_kind(n)
            else:
                names = {c.local for c in n.children}
                standard_like = any(names <= {e for e, _k, _t in s} for s in STANDARD.values())
                kind = self._named(self.spec(n.children, path, standard_like, paths), n)
            entries.append((element, key, kind, n.repeated, n))
        return Spec(entries)

    def _named(self, spec: Spec, node: Node) -> Spec:
        content = spec.runtime()
        key = repr(content)
        for name, standard in STANDARD.items():
            if content == standard:
                spec.name = f"riv.{name}"
                return spec
        if node.type_name:
            if key in self.by_content:
                spec.name = self.by_content[key]
                return spec
            base = _snake(_split(node.type_name)[1].removesuffix("Type")).upper() or "TYPE"
            name, n = base, 1
            while name in self.constants or name in ("CORE", "TITLE", "SLUG", "CATEGORIZATION", "REQUEST", "RIV"):
                n += 1
                name = f"{base}_{n}"
            spec.name, spec.type_name = name, node.type_name
            self.constants[name] = spec
            self.by_content[key] = name
        return spec

    # -- as Python source ----------------------------------------------------------------------
    def kind_source(self, kind, many: bool, indent: int) -> str:
        text = f'"{kind}"' if isinstance(kind, str) else kind.name or self.source(kind, indent)
        return f"[{text}]" if many else text

    def entry_source(self, entry, indent: int) -> str:
        element, key, kind, many, _n = entry
        if element.startswith("{"):  # another namespace than the core's (an extension schema's)
            ns, local = _split(element)
            element = 'f"{{{' + self.namespace(ns) + '}}}' + local + '"'
        else:
            element = _flat(element)
        return f"({element}, {_flat(key)}, {self.kind_source(kind, many, indent)})"

    def namespace(self, ns: str) -> str:
        """The module constant of another namespace the specs use: EXT, EXT2, ..."""
        if ns not in self.namespaces:
            self.namespaces[ns] = "EXT" if not self.namespaces else f"EXT{len(self.namespaces) + 1}"
        return self.namespaces[ns]

    def source(self, spec: Spec, indent: int = 0) -> str:
        items = [self.entry_source(e, indent + 4) for e in spec.entries]
        flat = "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        if len(flat) + indent <= 96 and "\n" not in flat:
            return flat
        pad = " " * (indent + 4)
        return "(\n" + "".join(f"{pad}{self.entry_source(e, indent + 4)},\n" for e in spec.entries) + " " * indent + ")"

    def constants_source(self) -> str:
        """Every named type, each after the types it uses."""
        done: list[str] = []

        def visit(spec: Spec):
            for _e, _k, kind, _m, _n in spec.entries:
                if isinstance(kind, Spec):
                    visit(kind)
            if spec.name in self.constants and spec.name not in done:
                done.append(spec.name)

        for spec in list(self.constants.values()):
            visit(spec)
        lines = []
        for name in done:
            spec, comment = self.constants[name], f"  # {_split(self.constants[name].type_name)[1]}"
            text = f"{name} = {self.source(spec)}"
            if "\n" not in text and len(text) > 110:  # wrapped: the first line is longer than the source thinks
                pad = " " * 4
                text = f"{name} = (\n" + "".join(f"{pad}{self.entry_source(e, 4)},\n" for e in spec.entries) + ")"
            lines.append(text + comment if len(text.splitlines()[-1] + comment) <= 110 else text)
        return "\n".join(lines)


# -- what the core's generic demo records need -----------------------------------------------------

GENERATED_COUNTS = (1, 40)  # the core's generated records are numbered 1..40 (npo_core.demo.content)


def demo_fixes(spec: Spec) -> tuple[dict, list[str]]:
    """({key path: value}, [key paths to leave out]): where the core's placeholder values are not what the
    schema accepts (an enumeration, a pattern, a range), a value it accepts; the other alternatives of a
    choice, left out."""
    values: dict = {}
    leave_out: list[str] = []

    def walk(s: Spec, prefix: str):
        chosen: dict[int, int] = {}
        for _e, key, kind, _many, n in s.entries:
            path = f"{prefix}.{key}" if prefix else key
            if n.choice is not None:
                if chosen.setdefault(n.choice, n.branch) != n.branch:
                    leave_out.append(path)
                    continue
            if isinstance(kind, Spec):
                walk(kind, path)
                continue
            placeholders = {"str": [f"Exempel {key} {i}" for i in GENERATED_COUNTS], "ts": [STAMP],
                            "int": [str(i) for i in GENERATED_COUNTS], "num": [f"{float(i)}" for i in GENERATED_COUNTS],
                            "bool": ["true", "false"]}[kind]
            if not all(_fits(n.simple, v) for v in placeholders):
                sample = sample_value(n)
                values[path] = {"int": int, "num": float, "bool": lambda v: v == "true"}.get(kind, str)(sample)

    walk(spec, "")
    return values, leave_out


# -- the PatientSummary header, as the core writes it --------------------------------------------

# What npo_core.riv.header.render_header writes, in its order (the source tag as the contract names it).
CORE_HEADER = ["documentId", "sourceSystemHSAId", "documentTitle", "documentTime", "patientId",
               "accountableHealthcareProfessional", "legalAuthenticator", "approvedForPatient", "careContactId",
               "nullified", "nullifiedReason"]
PROFESSIONAL = ["authorTime", "healthcareProfessionalHSAId", "healthcareProfessionalName",
                "healthcareProfessionalRoleCode", "healthcareProfessionalOrgUnit", "healthcareProfessionalCareUnitHSAId",
                "healthcareProfessionalCareGiverHSAId"]
SIGNED = {"signatureTime": "time", "legalAuthenticatorHSAId": "hsa_id", "legalAuthenticatorName": "name"}
DEMO_HEADER = {"documentTitle": "document_title", "documentTime": "document_time",
               "legalAuthenticator": "signature", "careContactId": "care_contact_id"}


@dataclass
class HeaderFit:
    """How a domain's PatientSummaryHeaderType differs from what the core writes."""

    source_tag: str = "sourceSystemHSAId"
    nullifies: bool = True
    contact_last: bool = False  # careContactId after nullified and nullifiedReason
    lacks: list[str] = field(default_factory=list)  # detail["header"] keys the schema has no element for
    lacks_signed: list[str] = field(default_factory=list)  # signature keys the schema has no element for
    org_unit_required: bool = False
    required_owner: list[str] = field(default_factory=list)  # owner elements the schema requires
    unread: list[str] = field(default_factory=list)  # header elements the core does not read


def header_fit(header: Node) -> HeaderFit | None:
    """None where the record's header is not a PatientSummaryHeaderType the core reads."""
    kids = {c.local: c for c in header.children}
    if not {"documentId", "patientId", "accountableHealthcareProfessional", "approvedForPatient"} <= kids.keys():
        return None
    if {c.local for c in kids["patientId"].children} != {"id", "type"}:
        return None
    fit = HeaderFit()
    fit.source_tag = next((k for k in kids if k.lower() == "sourcesystemhsaid"), "sourceSystemHSAId")
    known = set(CORE_HEADER) | {fit.source_tag}
    fit.unread = [f"{header.local}/{k}" for k in kids if k not in known]
    fit.nullifies = "nullified" in kids
    order = [k for k in kids]
    if "careContactId" in kids and "nullified" in kids and order.index("careContactId") > order.index("nullified"):
        fit.contact_last = True
    fit.lacks = [key for local, key in DEMO_HEADER.items() if local not in kids]
    prof = {c.local: c for c in kids["accountableHealthcareProfessional"].children}
    fit.unread += [f"{header.local}/accountableHealthcareProfessional/{k}" for k in prof if k not in PROFESSIONAL]
    if "healthcareProfessionalOrgUnit" in prof and prof["healthcareProfessionalOrgUnit"].min:
        fit.org_unit_required = True
    fit.required_owner = [k for k in ("healthcareProfessionalCareUnitHSAId", "healthcareProfessionalCareGiverHSAId")
                          if k in prof and prof[k].min]
    if "legalAuthenticator" in kids:
        signed = {c.local for c in kids["legalAuthenticator"].children}
        fit.lacks_signed = [key for local, key in SIGNED.items() if local not in signed]
        fit.unread += [f"{header.local}/legalAuthenticator/{k}" for k in signed if k not in SIGNED]
    return fit


# -- the plan --------------------------------------------------------------------------------------


@dataclass
class Plan:
    """Everything the templates need."""

    name: str
    version: str
    major: int
    service_domain: str
    responder_ns: str
    core_ns: str
    schema: str
    wsdl: str
    soap_action: str
    standard_soap_action: bool
    request: list[RequestField]
    record_tag: str
    record_element: str
    roles: dict[str, str]
    times: list[str]
    title: str
    categorization: str
    slug: str
    dist: str
    module: str
    entry_point: str
    class_name: str
    bundle: str
    writer: SpecWriter
    body: Spec  # the body (PatientSummary shape) or the whole record (any other)
    header: HeaderFit | None  # None: the record is not PatientSummary-shaped
    header_element: str | None
    body_element: str | None
    request_declared: bool  # the core's PatientSummary request fits
    tags: dict[str, str]  # the declaration's request tags, where not the core's defaults
    has_result: bool
    schema_path_default: bool
    core_ns_default: bool
    request_spec: Spec | None = None
    request_keys: dict[str, str] = field(default_factory=dict)  # request element -> its key
    fields: dict[str, str] = field(default_factory=dict)  # Record field -> key path (no PatientSummary header)
    owner_drops: dict[str, str] = field(default_factory=dict)  # owner field -> key path left out for Egon
    keep_owner: list[str] = field(default_factory=list)  # owner fields the schema requires
    time_from: list[str] = field(default_factory=list)
    envelope: list = field(default_factory=list)  # [(element, key, Spec, sample)] of the answer's other children
    has_more: bool = False
    values: dict = field(default_factory=dict)  # demo: {key path: value}
    leave_out: list[str] = field(default_factory=list)
    todos: list[str] = field(default_factory=list)
    optional_request: list[str] = field(default_factory=list)

    @property
    def patient_summary(self) -> bool:
        return self.header is not None

    @property
    def demo_module(self) -> bool:
        h = self.header
        return bool(not self.patient_summary or self.values or self.leave_out or h.lacks or h.lacks_signed
                    or h.org_unit_required or h.required_owner)

    @property
    def imports(self) -> str:
        """What the contract module takes from npo_core."""
        names = {"InformationView", "hookimpl", "riv"}
        if not self.patient_summary:
            names |= {"Answer", "Query", "Record", "parse_timestamp"}
        elif self.header.contact_last or self.header.required_owner:
            names |= {"Query", "Record"}
        if not self.request_declared:
            names |= {"HSA_ID_OID", "PatientId", "Query", "parse_timestamp"}
        return ", ".join(sorted(names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n)))

    @property
    def coded(self) -> list[str]:
        """Top-level CV fields of the body: the view's code columns."""
        return [key for _e, key, kind, many, _n in self.body.entries
                if isinstance(kind, Spec) and not many and {e for e, *_ in kind.entries} >= {"code", "codeSystem"}]


def plan(name: str, schema: str, bundle: Path, *, title: str | None = None, categorization: str | None = None,
         slug: str | None = None) -> Plan:
    """Read the responder schema and WSDL; everything scaffold() writes follows from the plan."""
    import xmlschema

    bundle = Path(bundle).resolve()
    path = bundle / schema
    if not path.is_file():
        raise ScaffoldError(f"{schema} is not in the bundle {bundle}.")
    if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", name) or keyword.iskeyword(name):
        raise ScaffoldError(f"{name!r} is not a contract name like GetCarePlans.")
    m = re.search(rf"{re.escape(name)}Responder_(\d+(?:\.\d+)*)\.xsd$", path.name)
    if not m:
        raise ScaffoldError(f"{path.name} is not {name}'s responder schema ({name}Responder_<version>.xsd).")
    version = m.group(1)
    if "." not in version:
        version += ".0"
    try:
        xsd = xmlschema.XMLSchema(str(path), allow="local")
    except Exception:  # noqa: BLE001 - some official files break an XSD rule xmlschema checks (ISO_dt.xsd)
        try:
            xsd = xmlschema.XMLSchema(str(path), allow="local", validation="lax")
        except Exception as e:  # noqa: BLE001 - a broken or incomplete bundle
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise ScaffoldError(f"Cannot load {schema}: {type(e).__name__}: {first}") from None
    responder_ns = xsd.target_namespace
    dm = re.fullmatch(rf"urn:riv:(.+):{re.escape(name)}Responder:(\d+)", responder_ns or "")
    if not dm:
        raise ScaffoldError(f"{schema} has the namespace {responder_ns!r}, "
                            f"not urn:riv:<domain>:{name}Responder:<major>.")
    service_domain, major = dm.group(1), int(dm.group(2))
    wsdl_path = _wsdl(path, name, version)
    wsdl = wsdl_path.relative_to(bundle).as_posix()
    actions = etree.parse(str(wsdl_path)).xpath("//*[local-name()='operation']/@soapAction")
    standard = f"{responder_ns}:{name}"
    soap_action = standard if standard in actions or not actions else actions[0]

    prefixes = Prefixes(responder_ns)
    request_nodes = _element_children(xsd, name, prefixes)
    response_nodes = _element_children(xsd, f"{name}Response", prefixes)
    record_node = next((n for n in response_nodes if not n.is_leaf and n.repeated and n.children), None)
    if record_node is None:
        raise ScaffoldError(f"{name}Response has no repeated complex element to read records from: the scaffold "
                            "knows information contracts, which answer with a list of records.")
    record = record_node.children
    core_ns = next((n.namespace for n in record), responder_ns)
    for top in record:
        top.parent = None
    _rebase(record, "")
    request = classify_request(request_nodes)
    roles, times = find_roles(record)
    if "patient_id" not in roles:
        roles.pop("patient_root", None)

    snake = _snake(name)
    title = title or name.removeprefix("Get")
    writer = SpecWriter(core_ns, responder_ns)
    todos: list[str] = []

    # The record: a PatientSummary header and a body, or anything else.
    header_node = next((n for n in record if n.local.endswith("Header") and not n.is_leaf), None)
    body_node = next((n for n in record if n.local.endswith("Body") and not n.is_leaf), None)
    fit = header_fit(header_node) if header_node is not None and body_node is not None else None
    if fit is not None and {n.local for n in record} - {header_node.local, body_node.local}:
        fit = None  # a record with more than a header and a body
    result = next((n for n in response_nodes if n.local == "result"), None)
    foreign_result = result is not None and result.namespace != responder_ns
    if foreign_result and fit is not None:
        if result.min:
            fit = None  # the core writes a result in the responder's namespace only
        else:
            todos.append(f"The answer's result is in {result.namespace}, which the core's render_result does not "
                         "write: the demo answers leave the (optional) result out.")
    fields: dict[str, str] = {}
    owner_drops: dict[str, str] = {}
    keep_owner: list[str] = []
    time_from: list[str] = []
    if fit is not None:
        _rebase(body_node.children, "")
        body = writer.spec(body_node.children)
        if fit.unread:
            todos.append(f"npo_core.riv's header does not read {', '.join(fit.unread)}: tell npo, or read it here.")
        if fit.contact_last:
            todos.append("This domain's header puts careContactId after nullified and nullifiedReason: "
                         "render_response moves it (npo_core.riv's header writes it before).")
        if fit.required_owner:
            todos.append(f"The header requires {', '.join(fit.required_owner)}: render_response writes them empty "
                         "for a record without an owner (npo_core.riv's header leaves them out).")
    else:
        body = writer.spec(record)
        shape = ", ".join(n.local for n in record)
        todos.append(f"The answer is not PatientSummary-shaped (each {record_node.local} is {{{shape}}}, no "
                     "PatientSummaryHeaderType): the record is declared as one spec, the Record's fields as key "
                     "paths into it (`fields`), and parse_response/render_response below read and write it. "
                     "Check the paths.")
        fields = {role: writer.keypaths[p] for role, p in roles.items()
                  if role in ("id", "source_system", "patient_id", "patient_root", "care_unit_id", "care_provider_id",
                              "author", "approved", "nullified", "title") and p in writer.keypaths}
        for role in ("care_unit_id", "care_provider_id"):
            if role in roles:
                how, where = drop_point(record, roles[role])
                if how == "drop":
                    owner_drops[role] = writer.keypaths[where]
                else:  # required: Egon's record without an owner lacks only the other one
                    keep_owner.append(role)
        if not owner_drops:
            raise ScaffoldError("No optional care unit or care provider element found in a record: npo needs one to "
                                "apply PDL, and the demo a record without it.")
        time_from = [writer.keypaths[p] for p in times[:1] if p in writer.keypaths]
        if not time_from:
            raise ScaffoldError("No time stamp found in a record (documentTime, registrationTime, timestamp, ...): "
                                "npo needs one to date a record and compare it with blocks.")
    if writer.skipped:
        todos.append(f"Recursive elements not mapped: {', '.join(writer.skipped)}.")

    # The request: the core's PatientSummary request, or a spec of its own.
    kinds = {f.kind for f in request}
    request_declared = fit is not None and kinds <= {"patient_person", "units", "providers", "period", "source",
                                                     "optional"} and all(
        f.date_format == "date" for f in request if f.kind == "period")
    tags: dict[str, str] = {}
    if request_declared:
        defaults = {"units": ("unit_tag", "careUnitHSAId"), "providers": ("giver_tag", None),
                    "period": ("period_tag", "timePeriod"), "source": ("source_tag", "sourceSystemHSAId")}
        for f in request:
            if f.kind in defaults and f.local != defaults[f.kind][1]:
                tags[defaults[f.kind][0]] = f.local
        if fit.source_tag != "sourceSystemHSAId":
            tags["header_source_tag"] = fit.source_tag
    else:
        todos.append("The request is not the PatientSummary one (" + ", ".join(
            f"{f.local}: {f.kind}" for f in request if f.kind not in ("optional",)) +
            "): build_request and parse_request below write and read it with REQUEST.")
    request_keys: dict[str, str] = {}
    request_spec = None
    if not request_declared:
        request_spec = writer.spec(request_nodes, paths=request_keys)
        for f in request:
            f.key = request_keys.get(f.local, f.key)
        # the request's own elements are in the responder namespace: the template qualifies them
        request_spec.entries = [(n.local, k, kind, many, n) for _e, k, kind, many, n in request_spec.entries]
    optional = [f.local for f in request if f.kind == "optional"]

    # The rest of the answer: its result (and hasMore), written as the schema has them.
    envelope, has_result, has_more = [], False, False
    for n in response_nodes:
        if n is record_node:
            continue
        if n.local == "hasMore":
            has_more = True
        if n.local == "result":
            has_result = not (foreign_result and fit is not None)
        if fit is None and (n.min or n.local == "result"):  # an optional result is still worth sending
            keys: dict[str, str] = {}
            spec = writer._named(writer.spec(n.children, paths=keys), n)
            envelope.append((n.local, spec, {keys[c.path]: sample_value(c) for c in n.children if c.is_leaf and c.min}))

    values, leave_out = demo_fixes(body)
    p = Plan(
        name=name, version=version, major=major, service_domain=service_domain, responder_ns=responder_ns,
        core_ns=core_ns, schema=Path(schema).as_posix(), wsdl=wsdl, soap_action=soap_action,
        standard_soap_action=soap_action == standard, request=request, record_tag=record_node.tag,
        record_element=record_node.local, roles=roles, times=times, title=title,
        categorization=categorization or "x-" + snake.removeprefix("get_").replace("_", "-"),
        slug=slug or snake.removeprefix("get_").replace("_", "-"),
        dist=f"npo-{snake.replace('_', '-')}-{major}", module=f"npo_{snake}_{major}",
        entry_point=f"npo_{snake}_{major}", class_name=name, bundle=str(bundle), writer=writer, body=body,
        header=fit, header_element=header_node.local if fit else None, body_element=body_node.local if fit else None,
        request_declared=request_declared, tags=tags, has_result=has_result,
        schema_path_default=Path(schema).as_posix() == _default_schema(service_domain, name, version),
        core_ns_default=core_ns == f"urn:riv:{service_domain}:{major}", fields=fields, owner_drops=owner_drops, keep_owner=keep_owner,
        request_spec=request_spec, request_keys=request_keys, time_from=time_from, envelope=envelope, has_more=has_more, values=values, leave_out=leave_out, todos=todos,
        optional_request=optional,
    )
    return p


def _default_schema(service_domain: str, name: str, version: str) -> str:
    return f"{service_domain.replace(':', '_')}/interactions/{name}Interaction/{name}Responder_{version}.xsd"


def _rebase(nodes: list[Node], prefix: str) -> None:
    for n in nodes:
        n.path = f"{prefix}/{n.local}" if prefix else n.local
        _rebase(n.children, n.path)


def _wsdl(xsd: Path, name: str, version: str) -> Path:
    exact = xsd.parent / f"{name}Interaction_{version}_RIVTABP21.wsdl"
    if exact.is_file():
        return exact
    found = sorted(xsd.parent.glob(f"*_{version}_RIVTABP21.wsdl")) or sorted(xsd.parent.glob("*.wsdl"))
    if not found:
        raise ScaffoldError(f"No WSDL beside {xsd.name} ({exact.name} expected).")
    return found[0]


# -- the files ------------------------------------------------------------------------------


def scaffold(name: str, schema: str, bundle: Path, target: Path, *, title: str | None = None,
             categorization: str | None = None, slug: str | None = None) -> Path:
    """Write an installable plugin package for contract NAME into TARGET; return its directory.

    `schema` is the responder XSD's path inside the RIV-TA `bundle`, e.g.
    "clinicalprocess_healthcond_basic/interactions/GetObservationsInteraction/GetObservationsResponder_1.1.xsd".
    The package directory is `TARGET/npo-<name>-<major>`; an existing non-empty one is refused.
    """
    import jinja2

    p = plan(name, schema, bundle, title=title, categorization=categorization, slug=slug)
    out = Path(target) / p.dist
    if out.exists() and any(out.iterdir()):
        raise ScaffoldError(f"{out} exists and is not empty.")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["py"] = _pretty
    env.filters["const"] = lambda local: _snake(local).upper()
    env.filters["path"] = _path_literal
    env.filters["spec"] = lambda spec, indent=0: spec.name or p.writer.source(spec, indent)
    env.filters["wrap"] = _wrap
    env.filters["tuple"] = tuple
    files = {
        "pyproject.toml": "pyproject.toml.j2",
        "README.md": "README.md.j2",
        f"{p.module}/__init__.py": "plugin.py.j2",
        "tests/conftest.py": "conftest.py.j2",
        f"tests/test_{_snake(p.name)}.py": "test_plugin.py.j2",
    }
    if p.demo_module:
        files[f"{p.module}/demo.py"] = "demo.py.j2"
    for relative, template in files.items():
        dest = out / relative
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(env.get_template(template).render(p=p), encoding="utf-8")
    return out


def _wrap(text: str, indent: int = 0, width: int = 100) -> str:
    """A comment's text in lines of at most `width`, each after `indent` spaces and "# "."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width - indent - 2:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return ("\n" + " " * indent).join(f"# {x}" for x in lines)


def _path_literal(path: str, attribute: str) -> str:
    """A bundle path as the value of a class attribute, split before the file name when long."""
    if len(path) <= 80 or "/" not in path:
        return _flat(path)
    folder, name = path.rsplit("/", 1)
    hanging = " " * (4 + len(f"{attribute} = ("))
    return f"({_flat(folder + '/')}\n{hanging}{_flat(name)})"


def _flat(value) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # double quotes, like the rest of the code
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flat(k)}: {_flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flat(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(_flat(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def _pretty(value, indent: int = 0) -> str:
    """A Python literal for nested lists/dicts of strings, wrapped to stay readable."""
    flat = _flat(value)
    if len(flat) + indent <= 100 or not isinstance(value, (list, tuple, dict)) or not value:
        return flat
    pad = " " * (indent + 4)
    if isinstance(value, dict):
        items = [f"{pad}{_flat(k)}: {_pretty(v, indent + 4)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"
    items = [f"{pad}{_pretty(v, indent + 4)}," for v in value]
    return "[\n" + "\n".join(items) + "\n" + " " * indent + "]"
