"""Scaffold an installable contract plugin from an official RIV-TA responder schema.

`scaffold(name, schema, bundle, target)` reads the responder XSD (and the WSDL beside it)
and writes a package that registers the contract and a view, round-trips demo data for the
demo patients, and carries tests running `npo_core.conformance`: it passes them as
generated. What a schema cannot say (the Swedish title, the engagement-index
categorization, meaningful columns, realistic content) is marked TODO in the output.

How it reads a schema:

- the request: each child of the request element becomes a line of `build_request` and
  `parse_request`, chosen by its name and type (patient id, care units, care givers, date
  filter, source system, has-more reference); any other *required* child gets a fixed
  value the developer must review; optional ones are listed but not sent;
- the response: the repeated complex child of the response element is a record. Its
  content is kept as a generic tree (`detail["xml"]`), and the Record's fields (id, time,
  care provider and unit, source system, author, title, ...) are read from paths found by
  well-known RIV-TA element names (`ROLES` below);
- demo data: a sample tree with every required element (and every element a role needs),
  with values accepted by the element's simple type; demo records vary the role values.

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

from .errors import NpoError

TEMPLATES = Path(__file__).parent / "scaffold_templates"
MAX_DEPTH = 12  # element nesting followed into a record; recursive types stop earlier


class ScaffoldError(NpoError):
    """The schema cannot be scaffolded (shown to the developer as one line)."""


# -- reading the schema ------------------------------------------------------------------


@dataclass
class Node:
    """One element declaration in context: a path of local names from the record root."""

    tag: str  # "prefix:local" ("local" in the responder namespace), as the generated code writes it
    local: str
    namespace: str
    path: str
    min: int
    max: int | None
    simple: object = None  # the xmlschema simple type of a leaf (None for complex elements)
    children: list["Node"] = field(default_factory=list)
    choice: int | None = None  # members of one xs:choice share a number
    parent: "Node | None" = None

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
    """Namespace prefixes for the generated code: "" is the responder, then core, core2, ..."""

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


def _particles(group, min_factor: int = 1, choice_counter: list | None = None, choice: int | None = None):
    """(element declaration, effective minOccurs, choice id) in document order, groups flattened."""
    from xmlschema.validators import XsdAnyElement, XsdElement, XsdGroup

    choice_counter = choice_counter if choice_counter is not None else [0]
    for item in group:
        if isinstance(item, XsdAnyElement):
            continue
        if isinstance(item, XsdElement):
            yield item, (item.min_occurs if min_factor else 0), choice
        elif isinstance(item, XsdGroup):
            factor = min_factor if item.min_occurs else 0
            if item.model == "choice":
                choice_counter[0] += 1
                number = choice_counter[0]
                for sub in item:  # each branch of the choice
                    if isinstance(sub, XsdElement):
                        yield sub, (sub.min_occurs if factor else 0), number
                    elif isinstance(sub, XsdGroup):
                        yield from _particles(sub, factor, choice_counter, number)
            else:
                yield from _particles(item, factor, choice_counter, choice)


def _children(xsd_type, parent: Node | None, prefixes: Prefixes, seen: tuple, depth: int) -> list[Node]:
    if xsd_type is None or xsd_type.is_simple() or depth > MAX_DEPTH:
        return []
    content = xsd_type.content
    if content is None or getattr(content, "is_simple", lambda: False)() or not hasattr(content, "model"):
        return []
    out = []
    counter = [0]
    for decl, min_occurs, choice in _particles(content, 1, counter):
        ns, local = _split(decl.name)
        t = decl.type
        path = f"{parent.path}/{local}" if parent is not None and parent.path else local
        node = Node(prefixes.tag(ns, local), local, ns, path, min_occurs, decl.max_occurs, choice=choice, parent=parent)
        if t.is_simple():
            node.simple = t
        elif t.has_simple_content():
            node.simple = t.content
        elif t.name is None or t.name not in seen:  # no endless descent into recursive types
            node.children = _children(t, node, prefixes, seen + ((t.name,) if t.name else ()), depth + 1)
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
    for value in _candidates(node.local):
        if _fits(t, value):
            return value
    raise ScaffoldError(f"Cannot invent a value for {node.path}: no candidate fits its type.")


def _fits(t, value: str) -> bool:
    try:
        return bool(t.is_valid(value))
    except Exception:  # noqa: BLE001 - an odd facet: the value simply does not fit
        return False


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


def _sibling(record: list[Node], path: str, local: str) -> str | None:
    """The path of a sibling leaf (the `root` beside an `extension`)."""
    if "/" not in path:
        return None
    candidate = path.rsplit("/", 1)[0] + "/" + local
    node = record_find(record, candidate)
    return candidate if node is not None and node.is_leaf else None


def sample_tree(nodes: list[Node], needed: set[str]) -> list:
    """Every required element, every element on a needed path, never an empty complex element."""
    out = []
    chosen: dict[int, str] = {}  # choice group -> the branch taken
    for n in nodes:
        if n.choice is not None:
            on_path = [m for m in nodes if m.choice == n.choice and any(p == m.path or p.startswith(m.path + "/")
                                                                       for p in needed)]
            branch = (on_path or [m for m in nodes if m.choice == n.choice])[0].path
            chosen.setdefault(n.choice, branch)
            if chosen[n.choice] != n.path or not (n.min or on_path or _any_required_choice(nodes, n.choice)):
                continue
        elif not (n.min or any(p == n.path or p.startswith(n.path + "/") for p in needed)):
            continue
        out.append([n.tag, _value(n, needed)])
    return out


def _any_required_choice(nodes: list[Node], number: int) -> bool:
    return all(m.min for m in nodes if m.choice == number)


def _value(n: Node, needed: set[str]):
    if n.is_leaf:
        return sample_value(n)
    inner = sample_tree(n.children, needed)
    if not inner:  # nothing required inside: one optional child, simple ones first
        options = [c for c in n.children if c.is_leaf] or n.children
        if not options:
            raise ScaffoldError(f"{n.path} has no content the scaffold can fill.")
        inner = [[options[0].tag, _value(options[0], needed)]]
    return inner


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
    value: object = None  # fixed: the sample value or subtree
    date_format: str | None = None  # period: "date" or "timestamp"
    local: str = ""


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
        f = RequestField(n.tag, "optional", n.repeated, bool(n.min), local=n.local)
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
            f.kind, f.value = "fixed", _value(n, set())
    return [f for f, _ in fields]


# -- the files ------------------------------------------------------------------------------


@dataclass
class Plan:
    """Everything the templates need."""

    name: str
    version: str
    major: int
    service_domain: str
    responder_ns: str
    schema: str
    wsdl: str
    soap_action: str
    standard_soap_action: bool
    ns: dict[str, str]
    request: list[RequestField]
    record_tag: str
    record_element: str  # its local name: the core accounts for every other child of an answer
    response: list  # [tag, None] for the records, [tag, sample] for the rest
    result_code: str | None
    result_message: str | None
    has_more: str | None
    roles: dict[str, str]
    times: list[str]
    fill: dict[str, list[str]]
    without_owner: list[list[str]]  # [how, path]: how is "drop" or "blank"
    sample: list
    title: str
    categorization: str
    slug: str
    dist: str
    module: str
    entry_point: str
    class_name: str
    bundle: str
    optional_request: list[str] = field(default_factory=list)
    old_births: bool = True  # the schema accepts a birth date before 1900


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


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
    # Paths inside a record start at the record's children.
    record = record_node.children
    for top in record:
        top.parent = None
    _rebase(record, "")
    request = classify_request(request_nodes)
    roles, times = find_roles(record)
    if "patient_id" not in roles:
        roles.pop("patient_root", None)

    fill: dict[str, list[str]] = {role: [p] for role, p in roles.items() if role not in ("approved", "nullified")}
    if times:
        fill["time"] = times
    hsa_roots = [r for r in (_sibling(record, roles[k], "root") for k in ("care_unit_id", "care_provider_id",
                                                                          "source_system", "author_id")
                             if k in roles and roles[k].endswith("/extension")) if r]
    if hsa_roots:
        fill["hsa_root"] = hsa_roots
    # Linda Johansson was born in 1899; some DateTypes only accept 19xx and 20xx.
    birth_node = record_find(record, roles["birth_date"]) if "birth_date" in roles else None
    old_births = birth_node is None or _accepts(birth_node, "18990802")
    needed = {p for paths in fill.values() for p in paths}
    sample = sample_tree(record, needed)
    points = []
    for role in ("care_unit_id", "care_provider_id"):
        if role in roles:
            point = drop_point(record, roles[role])
            if point not in points:
                points.append(point)
    if not points:
        raise ScaffoldError("No care unit or care provider element found in a record: npo needs one to apply PDL.")
    # Leaving out an optional element is better than an empty value; one missing owner is enough.
    without_owner = [list(p) for p in points if p[0] == "drop"] or [list(p) for p in points]

    response = []
    result_code = result_message = has_more = None
    for n in response_nodes:
        kids = {c.local for c in n.children}
        if n.local == "hasMore" and {"logicalAddress", "reference"} <= kids:
            has_more = n.tag
        if n is record_node:
            response.append([n.tag, None])
        elif n.min or {"resultCode", "ResultCode"} & kids:  # an optional result is still worth sending
            response.append([n.tag, _value(n, set())])
        if not n.is_leaf and n is not record_node:
            kids = {c.local: c for c in n.children}
            for local in ("resultCode", "ResultCode"):
                if local in kids:
                    result_code = f"{n.local}/{local}"
            for local in ("message", "resultText", "comment"):
                if local in kids and result_message is None:
                    result_message = f"{n.local}/{local}"

    snake = _snake(name)
    return Plan(
        name=name, version=version, major=major, service_domain=service_domain, responder_ns=responder_ns,
        schema=Path(schema).as_posix(), wsdl=wsdl, soap_action=soap_action,
        standard_soap_action=soap_action == standard, ns=prefixes.mapping(), request=request,
        record_tag=record_node.tag, record_element=record_node.local, response=response, result_code=result_code, result_message=result_message,
        has_more=has_more, roles=roles, times=times, fill=fill, without_owner=without_owner, sample=sample,
        title=title or name.removeprefix("Get"),
        categorization=categorization or "x-" + snake.removeprefix("get_").replace("_", "-"),
        slug=slug or snake.removeprefix("get_").replace("_", "-"),
        dist=f"npo-{snake.replace('_', '-')}-{major}", module=f"npo_{snake}_{major}",
        entry_point=f"npo_{snake}_{major}", class_name=name, bundle=str(bundle),
        optional_request=[f.local for f in request if f.kind == "optional"], old_births=old_births,
    )


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
    env.filters["py"] = _py
    env.filters["const"] = lambda local: _snake(local).upper()
    env.filters["path"] = _path_literal
    files = {
        "pyproject.toml": "pyproject.toml.j2",
        "README.md": "README.md.j2",
        f"{p.module}/__init__.py": "plugin.py.j2",
        f"{p.module}/xmltree.py": "xmltree.py.j2",
        "tests/conftest.py": "conftest.py.j2",
        f"tests/test_{_snake(p.name)}.py": "test_plugin.py.j2",
    }
    for relative, template in files.items():
        dest = out / relative
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(env.get_template(template).render(p=p), encoding="utf-8")
    return out


def _path_literal(path: str, attribute: str) -> str:
    """A bundle path as the value of a class attribute, split before the file name when long."""
    if len(path) <= 80 or "/" not in path:
        return _flat(path)
    folder, name = path.rsplit("/", 1)
    hanging = " " * (4 + len(f"{attribute} = ("))
    return f"({_flat(folder + '/')}\n{hanging}{_flat(name)})"


def _py(value, indent: int = 0) -> str:
    """A Python literal for nested lists/dicts of strings, wrapped to stay readable."""
    return _pretty(value, indent)


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


def _pretty(value, indent: int) -> str:
    flat = _flat(value)
    if len(flat) + indent <= 100 or not isinstance(value, (list, tuple, dict)) or not value:
        return flat
    pad = " " * (indent + 4)
    if isinstance(value, dict):
        items = [f"{pad}{_flat(k)}: {_pretty(v, indent + 4)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"
    if (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], list)):  # [tag, children]: keep the tag on the opening line
        return f"[{_flat(value[0])}, {_pretty(value[1], indent)}]"
    items = [f"{pad}{_pretty(v, indent + 4)}," for v in value]
    return "[\n" + "\n".join(items) + "\n" + " " * indent + "]"
