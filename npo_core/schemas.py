"""Validation against an official RIV-TA schema bundle, when an operator points npo at one.

The repository never contains the official files. Contracts name their XSD by its path
inside a bundle laid out like Inera's (domain/interactions/<Contract>Interaction/...).
Validation uses libxml2 through lxml: 60-110x cheaper than xmlschema on the hot path.
"""

from __future__ import annotations

import copy
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from .errors import ContractError, NotFound


@dataclass(frozen=True)
class SchemaIssue:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path} (line {self.line}): {self.message}"


def default_bundle(setting: str | None = None) -> Path | None:
    """The operator's configured bundle, else NPO_RIVTA_SCHEMAS. None when there is none."""
    for candidate in (setting, os.environ.get("NPO_RIVTA_SCHEMAS")):
        if candidate:
            return Path(candidate)
    return None


def check_bundle(path: Path) -> Path:
    path = Path(path).resolve()
    if not path.is_dir() or not any(path.glob("*/interactions")):
        raise NotFound(f"{path} does not look like a RIV-TA schema bundle (no */interactions folders).")
    return path


class SchemaSet:
    """Compiled schemas of one bundle, built once per XSD and thread.

    A libxml2 validator keeps per-call state, so one compiled schema must not validate in two
    threads at once. One copy per thread (1-2 ms to build) instead of a lock lets libxml2 validate
    without the GIL while the event loop and other threads go on."""

    def __init__(self, bundle: Path | None):
        self.bundle = Path(bundle) if bundle else None
        self._local = threading.local()

    def schema(self, relative: str) -> etree.XMLSchema:
        if self.bundle is None:
            raise NotFound("No RIV-TA schema bundle is configured (npo schemas use DIR).")
        cache = self._local.__dict__.setdefault("schemas", {})
        if relative not in cache:
            path = self.bundle / relative
            if not path.is_file():
                raise NotFound(f"The schema bundle has no {relative}.")
            parser = etree.XMLParser(no_network=True, resolve_entities=False)
            cache[relative] = etree.XMLSchema(etree.parse(str(path), parser))
        return cache[relative]

    def _check(self, contract, element: etree._Element):
        if not contract.schema:
            raise NotFound(f"{contract.id} names no official schema.")
        schema = self.schema(contract.schema)
        if schema.validate(element):
            return True, []
        log = list(schema.error_log)
        # a producer may answer by another minor of the same major (same namespaces): valid by one is valid
        if any(self.schema(other).validate(element) for other in getattr(contract, "minor_schemas", ())):
            return True, []
        return False, log

    def issues(self, contract, element: etree._Element) -> list[SchemaIssue]:
        """Every schema error, each with a readable path from the payload's root."""
        if element.getparent() is not None:  # validate the payload as a document of its own
            element = copy.deepcopy(element)  # keeps source line numbers
        ok, log = self._check(contract, element)
        return [] if ok else [SchemaIssue(_readable(element, e.path), e.line, e.message) for e in log]

    def validate(self, contract, element: etree._Element) -> None:
        """The hot path: one libxml2 pass; errors are worked out only when there are some."""
        ok, _ = self._check(contract, element)
        if not ok:
            # Kept for driftsstatus and the log: without the values (an operator's `contracts validate` keeps them).
            problems = [SchemaIssue(i.path, i.line, _without_values(i.message)) for i in self.issues(contract, element)]
            raise SchemaInvalid("Svaret följer inte kontraktets schema: " + "; ".join(map(str, problems[:3])),
                                problems)


class SchemaInvalid(ContractError):
    """An answer the official schema refuses, with each problem's path (for driftsstatus and the log)."""

    def __init__(self, message: str, issues: list[SchemaIssue]):
        super().__init__(message, code="schema_invalid")
        self.issues = issues


# libxml2 quotes the offending value ("'19970106' is not a valid value ..."): a value can be patient data,
# and the path and the rule are what support needs, so values leave the message before it is kept anywhere.
_VALUE = re.compile(r"(?:[Tt]he value )?'[^'{}]*'(?= is not| \[| does not)")


def _without_values(message: str) -> str:
    return _VALUE.sub("the value", message)


def _readable(root: etree._Element, path: str | None) -> str:
    """libxml2 writes default-namespace steps as '*'; name every step by its local name."""
    if not path:
        return ""
    try:
        found = root.getroottree().xpath(path, namespaces={k: v for k, v in root.nsmap.items() if k})
    except etree.XPathError:
        return path
    if not found or not isinstance(found[0], etree._Element):
        return path
    steps = []
    el = found[0]
    while el is not None:
        name = etree.QName(el).localname
        parent = el.getparent()
        same = [s for s in parent if s.tag == el.tag] if parent is not None else [el]
        steps.append(f"{name}[{same.index(el) + 1}]" if len(same) > 1 else name)
        el = parent
    return "/" + "/".join(reversed(steps))
