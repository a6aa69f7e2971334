"""Property-based fuzzing (hypothesis) of what crosses npo's borders: identities and producers' answers.

Identities: personnummer, samordningsnummer and HSA-ids typed by clinicians, sent by producers or given
to the CLI. Whatever the text, parsing raises npo's own error (InvalidPatientId / BadRequest) or returns
a valid id; every valid id (Luhn digit computed here) round-trips in each of its written forms.

Producers' answers: every registered contract's demo answer, MUTATED the way a broken producer would
(elements dropped, duplicated, reordered, renamed, emptied or stripped; text replaced by junk, nothing,
a huge string or a wrong date). `fetch.FanOut._one` turns any exception of a plugin into a
per-source error, so the property the core needs is: parse_response returns an Answer whose records the
rest of a read can use (string ids, zone-aware times, JSON), or raises something `_one` turns into a
source status. That one must hold for every contract. Two stricter properties name plugin bugs that the
core survives but a plugin should fix (marked xfail(strict=False) where found):
- a plugin refuses an unusable answer with ContractError or ValueError, not AttributeError & co.;
- the records a plugin accepted render in its view (a column that raises turns the whole set page into
  a 500; a detail that raises, the record page).

Shrinking is switched off for the contract properties to keep the file fast on two cores; a failure
still prints its example, and the example database replays it on the next run.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import functools
import json
import re
import types

import pytest
from hypothesis import HealthCheck, Phase, example, given, note, settings
from hypothesis import strategies as st
from lxml import etree

from npo_core import pdl, soap
from npo_core import access
from npo_core.access import _dedupe
from npo_core.app import Core
from npo_core.contract import Answer, Query, Record
from npo_core.demo import CLINICIANS, PATIENTS, PROVIDERS, demo_source
from npo_core.errors import BadRequest, ContractError, Forbidden, GuardUnavailable, InvalidPatientId
from npo_core.fetch import FanOut, Limits, Monitor, SourceStatus
from npo_core.identity import (
    PERSONNUMMER_OID, SAMORDNINGSNUMMER_OID, PatientId, check_hsa_id, luhn_ok, parse_patient_id,
)
from npo_core.plugins import collect, make_plugin_manager
from npo_core.registry import SourceSystem

TODAY = dt.date(2026, 11, 1)  # parsing is judged against a fixed day: the century rule depends on it
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CONTRACT_SETTINGS = settings(max_examples=45, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
                             suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                    HealthCheck.data_too_large])

# Text lxml can carry (XML 1.0 characters): what a producer could really put in an element.
XML_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff")
XML_TEXT = st.text(XML_CHARS, max_size=40)


# -- identities --------------------------------------------------------------------------------------

def luhn_digit(nine: str) -> str:
    """The check digit of YYMMDDNNN, computed independently of npo's own luhn_ok."""
    total = 0
    for i, ch in enumerate(nine):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n // 10 + n % 10
    return str((10 - total % 10) % 10)


def number_for(born: dt.date, serial: int, coordination: bool = False) -> str:
    """The 12-digit personnummer (or samordningsnummer: day + 60) for a birth date and serial number."""
    day = born.day + (60 if coordination else 0)
    body = f"{born.year:04d}{born.month:02d}{day:02d}{serial:03d}"
    return body + luhn_digit(body[2:])


BIRTH_DATES = st.dates(min_value=dt.date(TODAY.year - 199, 1, 1), max_value=TODAY)
SERIALS = st.integers(0, 999)
ID_TEXT = st.one_of(
    st.text(max_size=30),
    st.text(st.sampled_from("0123456789-+ \t\n"), max_size=16),
    st.from_regex(r"\A\s*\d{0,3}\d{6}[-+ ]?\d{4}\s*\Z"),  # \d: any Unicode digit, as Python's re reads it
    st.builds(lambda pid, cut: pid[:cut] + pid[cut + 1:], st.builds(number_for, BIRTH_DATES, SERIALS),
              st.integers(0, 11)),
)


@FAST
@given(ID_TEXT)
@example("")
@example("19970106-2383\x00")
@example("٢٣٨٣")
def test_patient_id_parsing_never_raises_anything_but_invalid_patient_id(text):
    try:
        parse_patient_id(text, today=TODAY)
    except InvalidPatientId as e:
        assert e.message and e.status == 400
    for junk in (None, 199701062383, b"199701062383", ["199701062383"]):
        with pytest.raises(InvalidPatientId):
            parse_patient_id(junk, today=TODAY)


@FAST
@given(ID_TEXT)
@example("١٩٩٧٠١٠٦٢٣٨٣")  # 199701062383 in Arabic-Indic digits
@example("１９９７０１０６-２３８３")  # ... and in full-width digits
def test_an_accepted_patient_id_is_twelve_ascii_digits(text):
    """Whatever was typed, the id that goes into the access log, consents, blocks and requests is canonical.

    The consent and block tables and the access log compare ids as strings: an id written with other
    digits than 0-9 would be another patient to them (no blocks apply, the patient's log extract misses it).
    """
    try:
        patient = parse_patient_id(text, today=TODAY)
    except InvalidPatientId:
        return
    note(f"accepted {text!r} as {patient!r}")
    assert re.fullmatch(r"[0-9]{12}", patient.id, re.ASCII), f"{text!r} accepted as {patient.id!r}"
    assert patient.root in (PERSONNUMMER_OID, SAMORDNINGSNUMMER_OID)
    assert patient.birth_date <= TODAY


@FAST
@given(BIRTH_DATES, SERIALS, st.booleans(), st.sampled_from(["12", "12-", "10", " 12 "]))
def test_valid_numbers_round_trip_in_every_written_form(born, serial, coordination, form):
    pid = number_for(born, serial, coordination)
    assert luhn_ok(pid[2:])
    # The short form's separator follows the Tax Agency: '+' from the year the person turns 100.
    sep = "+" if TODAY.year - born.year >= 100 else "-"
    written = {"12": pid, "12-": f"{pid[:8]}-{pid[8:]}", "10": f"{pid[2:8]}{sep}{pid[8:]}",
               " 12 ": f" {pid[:4]} {pid[4:8]} {pid[8:]} "}[form]
    patient = parse_patient_id(written, today=TODAY)
    assert patient == PatientId(pid, SAMORDNINGSNUMMER_OID if coordination else PERSONNUMMER_OID)
    assert patient.birth_date == born
    assert patient.display == f"{pid[:8]}-{pid[8:]}"
    assert patient.kind == ("samordningsnummer" if coordination else "personnummer")


@FAST
@given(BIRTH_DATES, SERIALS, st.booleans(), st.integers(1, 9))
def test_a_wrong_check_digit_is_refused_with_a_clear_reason(born, serial, coordination, delta):
    pid = number_for(born, serial, coordination)
    wrong = pid[:-1] + str((int(pid[-1]) + delta) % 10)
    with pytest.raises(InvalidPatientId, match="Kontrollsiffran"):
        parse_patient_id(wrong, today=TODAY)


@FAST
@given(st.dates(min_value=TODAY + dt.timedelta(days=1), max_value=dt.date(2099, 12, 31)), SERIALS)
def test_a_birth_date_in_the_future_is_refused(born, serial):
    with pytest.raises(InvalidPatientId, match="framtiden"):
        parse_patient_id(number_for(born, serial), today=TODAY)


HSA_TEXT = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"\ASE\d{10,12}-[A-Za-z0-9]{1,20}\s?\Z"),  # \d and \s: Unicode, as Python's re reads them
    st.builds(lambda a, b: f"SE{a}-{b}", st.text(max_size=14), st.text(max_size=22)),
)
VALID_HSA = st.from_regex(r"\ASE[0-9]{10,12}-[A-Za-z0-9]{1,20}\Z", fullmatch=True).filter(
    lambda s: s.isascii() and len(s) <= 31)


@FAST
@given(HSA_TEXT)
def test_hsa_id_checking_never_raises_anything_but_bad_request(text):
    try:
        assert check_hsa_id(text) == text
    except BadRequest as e:
        assert e.status == 400 and e.message
    for junk in (None, 2321000016, b"SE2321000016-1001"):
        with pytest.raises(BadRequest):
            check_hsa_id(junk)


@FAST
@given(HSA_TEXT)
@example("SE2321000016-1001\n")  # '$' matches before a final newline
@example("SE٢٣٢١٠٠٠٠١٦-1001")  # Arabic-Indic digits in the organisation number
def test_an_accepted_hsa_id_is_exactly_the_documented_form(text):
    """check_hsa_id's own docstring: 'SE' or 'TSTNMT', organisation number (digits), '-', letters and digits."""
    try:
        value = check_hsa_id(text)
    except BadRequest:
        return
    assert re.fullmatch(r"(SE|TSTNMT)[0-9]{10,12}-[A-Za-z0-9]{1,20}", value, re.ASCII) and len(value) <= 31, \
        f"accepted {value!r}"


@FAST
@given(VALID_HSA)
def test_valid_hsa_ids_are_accepted_unchanged(value):
    assert check_hsa_id(value) == value


# -- producers' answers ------------------------------------------------------------------------------

REGISTRY = collect(make_plugin_manager())
CONTRACT_IDS = sorted(REGISTRY.contracts)
ADDRESSES = [p[4][0] for p in PROVIDERS]
LIGHT_PATIENTS = [pid for pid, (_, kind) in PATIENTS.items() if kind != "heavy"]
ANNA, ANNA_ASSIGNMENTS = CLINICIANS[0]
HUGE = "x" * 300_000  # a large text node: it must survive the trip through the worker thread
WRONG_DATES = ["20261301", "20260230", "20260101246000", "2026-01-01", "2026-01-01T10:00:00", "2026", "0",
               "00000000", "99991231235959", "202601011", "1e10", "-20260101", "٢٠٢٦٠١٠١", " ", ""]


@functools.lru_cache(maxsize=None)
def demo_answers(contract_id: str) -> tuple[tuple[str, bytes], ...]:
    """Up to three small, valid demo answers (with records) of a contract, as envelopes on the wire."""
    contract = REGISTRY.contracts[contract_id]
    found = []
    for pid in LIGHT_PATIENTS:
        for address in ADDRESSES:
            records = contract.demo_records(demo_source(pid, address, contract.id, TODAY))
            if records and len(found) < 3:
                response = contract.render_response(records, Query(parse_patient_id(pid, today=TODAY)))
                found.append((pid, soap.envelope(response)))
    assert found, f"{contract_id} has no demo records to mutate"
    return tuple(found)


JUNK = st.one_of(XML_TEXT, st.sampled_from(["", " ", HUGE, "true", "-1", "NaN", "1e999", "<&>]]>", "٣"] + WRONG_DATES))
OPS = st.lists(st.tuples(
    st.sampled_from(["drop", "duplicate", "reorder", "rename", "junk_text", "no_text", "strip_children",
                     "wrong_date", "unknown_child", "text_beside_children"]),
    st.integers(0, 10_000), st.integers(0, 10_000), JUNK), min_size=1, max_size=4)


def _by_depth(payload: etree._Element) -> list[list[etree._Element]]:
    levels: list[list[etree._Element]] = []

    def walk(el, depth):
        for child in el:
            if isinstance(child.tag, str):
                while len(levels) <= depth:
                    levels.append([])
                levels[depth].append(child)
                walk(child, depth + 1)

    walk(payload, 0)
    return levels


def mutate(payload: etree._Element, ops) -> list[str]:
    """Apply each operation to one element below the response element; say what was done.

    The element is chosen by depth first, then among that depth: the few structural elements (a record,
    its header, its body) are hit as often as the many leaves.
    """
    done = []
    for op, depth, index, junk in ops:
        if op == "wrong_date":
            levels = [[e for e in payload.iter() if isinstance(e.tag, str) and e.text
                       and re.fullmatch(r"\s*\d{8,14}\s*", e.text)]]
        else:
            levels = _by_depth(payload)
        elements = levels[depth % len(levels)] if levels and levels[0] else []
        if not elements:
            continue
        el = elements[index % len(elements)]
        parent, name = el.getparent(), etree.QName(el)
        if op == "drop":
            parent.remove(el)
        elif op == "duplicate":
            el.addnext(copy.deepcopy(el))
        elif op == "reorder":
            siblings = list(parent)
            shift = 1 + index % max(1, len(siblings))
            for child in siblings[shift:] + siblings[:shift]:
                parent.append(child)
        elif op == "rename":
            el.tag = etree.QName(name.namespace, name.localname + "X") if name.namespace else name.localname + "X"
        elif op == "junk_text":
            el.text = junk
        elif op == "wrong_date":
            el.text = junk = WRONG_DATES[depth % len(WRONG_DATES)]
        elif op == "no_text":
            el.text = None
        elif op == "strip_children":
            for child in list(el):
                el.remove(child)
        elif op == "unknown_child":
            tag = etree.QName(name.namespace, "unexpected") if name.namespace else "unexpected"
            etree.SubElement(el, tag).text = junk
        elif op == "text_beside_children":
            parent.text = junk
        shown = op in ("junk_text", "wrong_date", "unknown_child", "text_beside_children")
        done.append(f"{op} <{name.localname}>" + (f" = {junk[:40]!r}" if shown else ""))
    return done


def mutated(contract_id: str, base: int, ops) -> tuple[str, bytes]:
    pid, wire = demo_answers(contract_id)[base % len(demo_answers(contract_id))]
    root = soap.parse_xml(wire)
    payload, _ = soap.unwrap(root)
    note(f"patient {pid}; mutations: {mutate(payload, ops)}")
    return pid, etree.tostring(root, xml_declaration=True, encoding="UTF-8")


WORKER = Core.make_worker()


@pytest.fixture(scope="module")
def loop():
    """One event loop for the whole module: a fresh one per example costs more than the parsing."""
    with asyncio.Runner() as runner:
        yield runner


def fetch_one(loop, contract, data: bytes, patient) -> tuple[SourceStatus, list[Record]]:
    """One contract at one source through the fetch's real decode path, every call answered with `data`."""
    class Canned(FanOut):
        async def _call(self, *args, **kwargs):
            return data

    source = SourceSystem("SE2321000131-MLM1", "SE2321000131-E000000000001", "Västra Götalandsregionen",
                          "Millennium")
    limits = Limits(access.MAX_FOLLOW_UPS, access.MAX_CONTRACT_BYTES, access.MAX_CONTRACT_RECORDS,
                    access.MAX_SOURCE_BYTES, access.MAX_SOURCE_RECORDS, access.MAX_READ_BYTES, access.MAX_READ_RECORDS)
    fan_out = Canned(types.SimpleNamespace(validate_responses=False), {}, patient, [contract], "fuzz", http=None,
                     off_loop=functools.partial(Core.off_loop, types.SimpleNamespace(worker=WORKER)), schemas=None,
                     monitor=Monitor(), limits=limits)
    return loop.run(fan_out._one(contract, source, ()))


def parse(contract, data: bytes):
    """What the core does with the bytes before a plugin sees them, then the plugin's parse_response."""
    element, _ = soap.unwrap(soap.parse_xml(data))
    return contract.parse_response(element)


def rest_of_a_read(records: list[Record], patient) -> None:
    """What `AccessService.read` does with fetched records after the fetch: dedupe, decide, sort, JSON."""
    moment = dt.datetime(2026, 11, 1, 12, tzinfo=dt.timezone.utc)
    assignment = ANNA_ASSIGNMENTS[0]
    consent = pdl.Consent("c", "Consent", patient.id, assignment.care_provider_id, assignment.care_unit_id, None,
                          moment - dt.timedelta(days=1), None)
    blocks = [pdl.Block("b1", "Outer", patient.id, "SE2321000131-E000000000001", None, dt.date(2020, 1, 1),
                        dt.date(2024, 12, 31)),
              pdl.Block("b2", "Inner", patient.id, "SE2321000016-F0VB", "SE2321000016-15CQ", None, None,
                        frozenset({"lak"}))]
    shown = []
    for record in _dedupe(records):
        decision = pdl.decide(record, assignment=assignment, employee_id=ANNA.hsa_id, consent=consent,
                              relation_attested=True, blocks=blocks, now=moment, block_type_of_record="lak",
                              patient_id=patient.id, source_owners=frozenset({record.care_provider_id}))
        if decision.shown:
            shown.append(record)
    shown.sort(key=lambda r: (r.time is None, r.time), reverse=True)
    json.dumps([r.to_json() for r in shown])


def assert_usable(answer, contract) -> None:
    assert isinstance(answer, Answer), answer
    # OK, INFO or ERROR by the schema; the fetch reads anything but ERROR and INFO as OK.
    assert isinstance(answer.result_code, str), answer.result_code
    assert all(isinstance(a, str) and isinstance(r, str) for a, r in answer.has_more), answer.has_more
    for r in answer.records:
        assert isinstance(r, Record), r
        assert isinstance(r.id, str), f"record id {r.id!r} is not a string"
        assert r.contract == contract.id and isinstance(r.information_type, str) and isinstance(r.title, str), r
        for moment in (r.time, r.block_time):
            assert moment is None or (isinstance(moment, dt.datetime) and moment.tzinfo is not None), moment
        for value in (r.care_provider_id, r.care_unit_id, r.source_system, r.patient_id, r.author):
            assert value is None or isinstance(value, str), value


@pytest.mark.parametrize("contract_id", CONTRACT_IDS)
@CONTRACT_SETTINGS
@given(base=st.integers(0, 2), ops=OPS)
def test_a_mutated_answer_never_sinks_the_overview(loop, contract_id, base, ops):
    """parse_response returns usable records, or raises what the fetch turns into this source's status."""
    contract = REGISTRY.contracts[contract_id]
    pid, data = mutated(contract_id, base, ops)
    patient = parse_patient_id(pid, today=TODAY)
    try:
        answer = parse(contract, data)
    except (GuardUnavailable, Forbidden) as e:  # the fetch re-raises these: a plugin must never raise them
        raise AssertionError(f"a plugin raised the core's own {type(e).__name__}") from e
    except Exception as e:
        # The core then reads record by record: what it can read is shown, the rest reported as unread.
        status, records = fetch_one(loop, contract, data, patient)
        note(f"parse_response raised {type(e).__name__}: {e}"[:300])
        assert status.status in ("error", "invalid", "warning") and status.message, status
        if status.status == "warning":
            assert status.unread and all(u["reason"] for u in status.unread), status
            assert_usable(Answer(records=records), contract)
            assert len(records) + sum(u["count"] for u in status.unread) == record_level(contract, data)
        else:
            assert records == [], status
        rest_of_a_read(records, patient)
        return
    assert_usable(answer, contract)
    status, records = fetch_one(loop, contract, data, patient)
    assert status.status in ("ok", "info", "error", "warning", "cut"), status
    if answer.result_code not in ("OK", "INFO"):  # ERROR, or a code no contract has: nothing is shown
        assert status.status == "error" and records == [], status
    elif not answer.has_more:  # (with hasMore, the stub answers the follow-ups with the same records)
        expected = "info" if answer.result_code == "INFO" else "ok"
        assert status.status == ("warning" if status.unread else expected), status
        # Every record-level element is a record or an unread entry: nothing vanishes.
        assert len(records) + sum(u["count"] for u in status.unread) == record_level(contract, data), status
    rest_of_a_read(records, patient)


def record_level(contract, data: bytes) -> int:
    element, _ = soap.unwrap(soap.parse_xml(data))
    return sum(contract.records_in(c) for c in element if isinstance(c.tag, str)
               and etree.QName(c).localname not in contract.envelope_elements)


@pytest.mark.parametrize("contract_id", CONTRACT_IDS)
@CONTRACT_SETTINGS
@given(base=st.integers(0, 2), ops=OPS)
def test_a_plugin_refuses_an_unusable_answer_with_a_reason(contract_id, base, ops):
    """Stricter than the core needs: only ContractError or ValueError, never AttributeError, KeyError, ..."""
    contract = REGISTRY.contracts[contract_id]
    _, data = mutated(contract_id, base, ops)
    try:
        parse(contract, data)
    except (ContractError, ValueError):
        pass


@pytest.mark.parametrize("contract_id", CONTRACT_IDS)
@CONTRACT_SETTINGS
@given(base=st.integers(0, 2), ops=OPS)
def test_records_a_plugin_accepted_render_in_its_view(contract_id, base, ops):
    contract = REGISTRY.contracts[contract_id]
    _, data = mutated(contract_id, base, ops)
    try:
        answer = parse(contract, data)
    except Exception:  # refusing is the other properties' business
        return
    views = [v for v in REGISTRY.views.values() if set(v.categorizations) & set(contract.categorizations)]
    for record in answer.records:
        for view in views:
            for heading, cell in view.columns:
                assert isinstance(cell(record), str), f"column {heading!r} of {view.slug}"
            for label, value in (view.details(record) if view.details else []):
                assert isinstance(value, str), f"detail {label!r} of {view.slug}"
