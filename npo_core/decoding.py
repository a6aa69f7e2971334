"""Turning a producer's answer into records, with every child of the answer accounted for.

A plugin's `parse_response` reads the records it knows. The core then checks the answer's
children against the contract's `record_element` and `envelope_elements`: whatever is neither
(a record element in another namespace, an element no schema version names, a record the plugin
could not read) is reported as unread, with a reason and a count, never silently dropped.
"""

from __future__ import annotations

import copy
from collections import Counter

from lxml import etree

from .contract import Answer, Contract
from .errors import ContractError

# What a plugin may raise on odd data; anything else is a bug and propagates.
PLUGIN_ERRORS = (ContractError, AttributeError, KeyError, TypeError, ValueError, IndexError)


def _local(tag: str) -> tuple[str | None, str]:
    q = etree.QName(tag)
    return q.namespace, q.localname


def _reason(e: Exception) -> str:
    return e.message if isinstance(e, ContractError) else f"Kunde inte läsas ({type(e).__name__}: {e})"[:300]


def decode_payload(contract: Contract, payload: etree._Element) -> Answer:
    """The plugin's answer, its result's errorCode and logId, and the unread list.

    When the plugin cannot read the answer as a whole, each record is read on its own, so one
    broken record costs that record (reported), not the source's whole answer."""
    try:
        answer = contract.parse_response(payload)
        failed: list[tuple[str, str]] = []
    except PLUGIN_ERRORS as whole:
        answer, failed = _record_by_record(contract, payload, whole)
    _result_details(contract, payload, answer)
    answer.unread = _counted(failed) + account_answer(contract, payload, answer, explained=len(failed))
    return answer


def _record_by_record(contract: Contract, payload: etree._Element, whole: Exception):
    if not contract.record_element:
        raise _as_contract_error(whole)
    record_tag = contract.q(contract.record_element)
    shell = copy.copy(payload)  # the answer without its records: result, hasMore
    for child in list(shell):
        if child.tag == record_tag:
            shell.remove(child)
    try:
        answer = contract.parse_response(shell)
    except PLUGIN_ERRORS:
        raise _as_contract_error(whole) from whole  # not a record's fault: the answer is unusable
    failed = []
    for child in payload.iterchildren(record_tag):
        single = copy.copy(shell)
        single.insert(0, copy.deepcopy(child))
        try:
            answer.records.extend(contract.parse_response(single).records)
        except PLUGIN_ERRORS as e:
            failed.append((contract.record_element, _reason(e)))
    return answer, failed


def _as_contract_error(e: Exception) -> ContractError:
    if isinstance(e, ContractError):
        return e
    failure = ContractError(f"Svaret kunde inte tolkas ({type(e).__name__}).", code="unparseable")
    failure.__cause__ = e
    return failure


def account_answer(contract: Contract, payload: etree._Element, answer: Answer, explained: int = 0) -> list[dict]:
    """Every child of the answer that is neither a record npo read nor part of the envelope:
    [{"element", "reason", "count"}]. `len(records) + sum(counts)` covers every record-level child;
    `explained` records are already reported with their own reason."""
    ns = contract.responder_namespace
    record_local = contract.record_element
    unread: list[tuple[str, str]] = []
    known = 0
    for child in payload:
        if not isinstance(child.tag, str):
            continue  # comments and processing instructions carry no records
        namespace, local = _local(child.tag)
        if local in contract.envelope_elements:  # some versions put the result in an extension namespace
            continue
        if namespace == ns and local == record_local:
            known += contract.records_in(child)
        elif local == record_local:
            unread.append((local, f"Posten har fel namnrymd ({namespace or 'ingen'}) och kan inte läsas"))
        else:
            unread.append((local, f"Okänt element ({namespace or 'ingen namnrymd'})"))
    missing = known - len(answer.records) - explained
    unread.extend([(record_local, "Posten kunde inte läsas")] * max(0, missing))
    return _counted(unread)


def _counted(items: list[tuple[str, str]]) -> list[dict]:
    return [{"element": e, "reason": r, "count": n} for (e, r), n in Counter(items).items()]


def _result_details(contract: Contract, payload: etree._Element, answer: Answer) -> None:
    """errorCode and logId from the result, whichever core namespace the contract's result uses."""
    result = next((c for c in payload if isinstance(c.tag, str) and _local(c.tag)[1] == "result"), None)
    if result is None:
        return
    values = {_local(c.tag)[1]: (c.text or "").strip() for c in result if isinstance(c.tag, str)}
    answer.error_code = answer.error_code or values.get("errorCode") or None
    answer.log_id = answer.log_id or values.get("logId") or None
    answer.message = answer.message or values.get("message") or values.get("resultText") or None
