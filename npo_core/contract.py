"""What a contract plugin implements, and the normalised record every plugin produces."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from lxml import etree

from .identity import PatientId

SWEDEN = ZoneInfo("Europe/Stockholm")


def parse_timestamp(text: str | None) -> dt.datetime | None:
    """RIV-TA YYYYMMDD[hhmm[ss]] carries no zone: it is Swedish local time.

    Read by slicing: strptime was a tenth of a heavy patient's normalising time."""
    if not text:
        return None
    text = text.strip()
    if len(text) not in (8, 12, 14) or not text.isascii() or not text.isdigit():
        raise ValueError(f"not a RIV-TA time stamp: {text!r}")
    return dt.datetime(int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[8:10] or 0),
                       int(text[10:12] or 0), int(text[12:14] or 0), tzinfo=SWEDEN)


class Children(dict):
    """An element's children by tag, mapped in one pass.

    Normalisers read a dozen fields per record; one find() per field walks the children each time
    and was most of a heavy patient's decoding time. Missing tags read as absent, never raise."""

    __slots__ = ()

    def __init__(self, el=None):
        super().__init__()
        if el is not None:
            for child in el:
                self.setdefault(child.tag, []).append(child)

    def first(self, tag: str):
        found = self.get(tag)
        return found[0] if found else None

    def all(self, tag: str) -> list:
        return self.get(tag, [])

    def text(self, tag: str) -> str | None:
        """The first child's stripped text; None when absent or empty-tagged."""
        found = self.get(tag)
        if not found or found[0].text is None:
            return None
        return found[0].text.strip()

    def under(self, tag: str) -> "Children":
        """The children of the first child with this tag (empty when it is absent)."""
        return Children(self.first(tag))


def shown_timestamp(text: str | None) -> dt.datetime | None:
    """For views: an unreadable producer time is shown as missing, never raised."""
    try:
        return parse_timestamp(text)
    except (ValueError, TypeError, AttributeError):
        return None


def format_timestamp(value: dt.datetime | None) -> str | None:
    return value.astimezone(SWEDEN).strftime("%Y%m%d%H%M%S") if value else None


def format_date(value: dt.date) -> str:
    return value.strftime("%Y%m%d")


@dataclass(frozen=True)
class Query:
    """One request to one producer: the patient and the filters the contract supports."""

    patient: PatientId
    period: tuple[dt.date, dt.date] | None = None
    care_units: tuple[str, ...] = ()
    care_providers: tuple[str, ...] = ()
    source_system: str | None = None
    has_more_reference: str | None = None


@dataclass(frozen=True)
class Record:
    """The core's view of one journal entry, whatever contract carried it.

    `detail` holds the contract's own fields (JSON-compatible) for its view and for
    regenerating the response in demo producers.
    """

    id: str
    contract: str
    information_type: str
    time: dt.datetime | None
    care_provider_id: str | None
    care_unit_id: str | None
    source_system: str | None
    title: str
    care_provider_name: str | None = None
    care_unit_name: str | None = None
    author: str | None = None
    block_time: dt.datetime | None = None  # the time blocks are compared against
    approved_for_patient: bool = True
    nullified: bool = False
    detail: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    patient_id: str | None = None
    owner_readable: bool = True  # False: a provider or unit id was sent that is not an HSA-id
    source_address: str | None = None  # the logical address npo called: who really sent the record

    def changed(self, **changes) -> "Record":
        """`dataclasses.replace` without re-running __init__: it runs for every record of every answer."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__, **changes)
        return new

    @property
    def has_owner(self) -> bool:
        return bool(self.care_provider_id and self.care_unit_id)

    def to_json(self, detail: bool = True) -> dict[str, Any]:
        """The record for the JSON API; `detail=False` leaves out the contract's fields (not read yet)."""
        return {
            "id": self.id, "contract": self.contract, "information_type": self.information_type,
            "time": self.time.isoformat() if self.time else None,
            "care_provider_id": self.care_provider_id, "care_provider_name": self.care_provider_name,
            "care_unit_id": self.care_unit_id, "care_unit_name": self.care_unit_name,
            "author": self.author, "source_system": self.source_system,
            "block_time": self.block_time.isoformat() if self.block_time else None,
            "approved_for_patient": self.approved_for_patient, "nullified": self.nullified,
            "title": self.title, **({"detail": dict(self.detail)} if detail else {}),
        }


@dataclass
class Answer:
    """A producer's parsed answer: records plus what the producer said about them."""

    records: list[Record]
    result_code: str = "OK"  # OK | INFO | ERROR
    message: str | None = None
    has_more: list[tuple[str, str]] = field(default_factory=list)  # (logical address, reference)
    error_code: str | None = None  # the producer's errorCode, with ERROR and INFO
    log_id: str | None = None  # the producer's logId: what its support asks for
    unread: list[dict] = field(default_factory=list)  # [{"element", "reason", "count"}]: not turned into records


class Contract:
    """Base class for a service contract (tjänstekontrakt) plugin.

    Most contracts are declarations (`npo_core.riv.PatientSummaryContract`); others set the class
    attributes and implement `build_request` and `parse_response`, and for demo producers
    `parse_request` and `render_response`. Elements are lxml elements; nothing here does I/O.
    """

    name: ClassVar[str]  # e.g. "GetDiagnosis"
    version: ClassVar[str]  # e.g. "2.0"
    service_domain: ClassVar[str]  # e.g. "clinicalprocess:healthcond:description"
    categorization: ClassVar[str]  # engagement-index categorization, e.g. "dia"
    title: ClassVar[str]  # Swedish name of the information set
    block_information_type: ClassVar[str | None] = None  # "lak" or "upp" where blocks may exclude it
    # The response's record-level child (local name, responder namespace), e.g. "diagnosis": the core
    # accounts for every other child, so nothing a producer sends disappears without a word.
    record_element: ClassVar[str | None] = None
    envelope_elements: ClassVar[tuple[str, ...]] = ("result", "hasMore")  # children that are not records

    def records_in(self, element) -> int:
        """How many records one record-level element carries: one, or a group's members (at least one,
        so that an empty group is reported as unread, not taken for nothing)."""
        return 1
    plugin: str = "?"  # stamped by the core at registration

    @property
    def categorizations(self) -> tuple[str, ...]:
        """All engagement-index categorizations this contract answers for (most have one)."""
        return (self.categorization,)

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def minor(self) -> int:
        return int(self.version.split(".")[1]) if "." in self.version else 0

    @property
    def id(self) -> str:
        return f"{self.name}:{self.major}"

    @property
    def responder_namespace(self) -> str:
        return f"urn:riv:{self.service_domain}:{self.name}Responder:{self.major}"

    @property
    def soap_action(self) -> str:
        return f"{self.responder_namespace}:{self.name}"

    @property
    def service_path(self) -> str:
        """Path below the service platform's base URL, the way SKLTP VP names services."""
        return f"{self.service_domain.replace(':', '/')}/{self.name}/{self.major}/rivtabp21"

    @property
    def schema(self) -> str:
        """Responder XSD path inside a RIV-TA bundle (Inera's layout); set it where a release differs."""
        return f"{self._interaction_folder}/{self.name}Responder_{self.version}.xsd"

    # Responder XSDs of the other minor versions of this major that producers answer by (same
    # namespaces): an answer valid by any of them is valid. Paths inside the bundle.
    minor_schemas: ClassVar[tuple[str, ...]] = ()

    @property
    def wsdl(self) -> str:
        return f"{self._interaction_folder}/{self.name}Interaction_{self.version}_RIVTABP21.wsdl"

    @property
    def _interaction_folder(self) -> str:
        return f"{self.service_domain.replace(':', '_')}/interactions/{self.name}Interaction"

    def q(self, local: str) -> str:
        """Qualified name in the responder namespace."""
        return f"{{{self.responder_namespace}}}{local}"

    # consumer side ---------------------------------------------------------
    def build_request(self, query: Query) -> etree._Element:
        raise NotImplementedError

    def parse_response(self, payload: etree._Element) -> Answer:
        raise NotImplementedError

    # producer side (demo producers, conformance tests) ---------------------
    def parse_request(self, payload: etree._Element) -> Query:
        raise NotImplementedError

    def render_response(self, records: list[Record], query: Query) -> etree._Element:
        raise NotImplementedError

    # Where the demo finds this contract's records: "package.module:function", called with (contract,
    # DemoSource). Built-in contracts are found by name; a contract without content gets records
    # generated from its declaration. A string, so that a contract module imports nothing of the demo.
    demo_content: ClassVar[str | None] = None

    def demo_records(self, demo) -> list[Record]:
        """Records for one demo patient at one demo source system; `demo` is a DemoSource."""
        from .demo.content import records

        return records(self, demo)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} ({self.version})>"


@dataclass(frozen=True)
class InformationView:
    """How the web view shows one information set; contributed by contract plugins.

    `columns` are (Swedish heading, function of a Record returning text); `details` is a
    function of a Record returning [(label, value)]. Values are always escaped by the view:
    producer text is data, never markup. The one exception is a `markupsafe.Markup` value
    that a plugin built itself from escaped text (e.g. DocBook rendered by a whitelist).
    """

    slug: str
    title: str
    categorizations: tuple[str, ...]
    columns: tuple[tuple[str, Any], ...]
    details: Any = None  # function of a Record returning [(label, text)]
    prominent: Any = None  # function of a Record: True for records the overview shows first (current alerts)
    # The set's own help text (Swedish, a few sentences: what it holds, its usual sources, what may be
    # missing), shown on its page and in /hjalp; without one the view gets `default_help`.
    help: str = ""
    order: int = 100
    # Swedish names of the codes this set brings that the core does not know (`npo_core.labels`), by kind:
    # {"type": {"caa-ga": "Åtgärder"}, "status": {...}, "system": {OID: name}}.
    labels: dict[str, dict[str, str]] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        if not self.help:  # a plugin that wrote no help still gets a text that names its set
            object.__setattr__(self, "help", default_help(self.title, self.categorizations))


def default_help(title: str, categorizations: tuple[str, ...]) -> str:
    """The help of a view that brings none: built from what every view declares, with no code shown."""
    kinds = "den typen" if len(categorizations) == 1 else f"någon av dess {len(categorizations)} typer"
    return (f"Informationsmängden {title} visar det som vårdgivare i sammanhållen journalföring har registrerat, "
            f"hämtat från de källsystem som har information av {kinds} om patienten. Information från källor "
            "som inte svarar eller inte är anslutna saknas. Informationsmängden har ingen egen hjälptext.")
