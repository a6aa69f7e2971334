"""Assignments (medarbetaruppdrag) from a directory file the operator maintains.

SITHS proves only who the clinician is (the employee HSA-id on the card). This plugin answers
the core's `assignments_for` hook from a JSON or CSV file named by the plugin setting
`directory.file` (`npo env set qa directory.file /etc/npo/qa-uppdrag.csv`). The file is read
again whenever it changes, so an operator's edit applies at the next login without a restart.

Both formats hold the same rows, one per commission (uppdrag):

    employee_hsa_id, commission_hsa_id, commission_name, purpose,
    care_unit_hsa_id, care_unit_name, care_provider_hsa_id, care_provider_name, scope

CSV has these as its header line; JSON is a list of objects with these keys. `purpose` is the
commission's purpose as HSA writes it ("Vård och behandling"); `scope` is the reach of its read
right: VE (own care unit), VG (own care provider) or SJF (shared records). Every field is
required: a file with a missing or unknown value is refused as a whole, never half-read.
"""

from __future__ import annotations

import csv
import io
import json
import os
import threading
from pathlib import Path

from npo_core import SCOPES, Assignment, NpoError, StartupError, hookimpl

FIELDS = ("employee_hsa_id", "commission_hsa_id", "commission_name", "purpose", "care_unit_hsa_id",
          "care_unit_name", "care_provider_hsa_id", "care_provider_name", "scope")


class DirectoryError(NpoError):
    """The directory file cannot be used; no assignments are guessed."""

    status = 503
    code = "directory_unavailable"


def _assignment(row: dict, where: str) -> tuple[str, Assignment]:
    missing = [f for f in FIELDS if not str(row.get(f) or "").strip()]
    if missing:
        raise DirectoryError(f"{where}: saknar {', '.join(missing)}.")
    value = {f: str(row[f]).strip() for f in FIELDS}
    scope = value["scope"].upper()
    if scope not in SCOPES:
        raise DirectoryError(f"{where}: okänd behörighetsomfattning {value['scope']!r} (VE, VG eller SJF).")
    return value["employee_hsa_id"], Assignment(
        id=value["commission_hsa_id"], name=value["commission_name"], purpose=value["purpose"],
        care_unit_id=value["care_unit_hsa_id"], care_unit_name=value["care_unit_name"],
        care_provider_id=value["care_provider_hsa_id"], care_provider_name=value["care_provider_name"],
        scope=scope)


def parse(data: bytes, name: str) -> dict[str, tuple[Assignment, ...]]:
    """Employee HSA-id → that employee's commissions. Raises DirectoryError on any bad row."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DirectoryError(f"{name}: filen är inte UTF-8.") from None
    if name.lower().endswith(".json"):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as e:
            raise DirectoryError(f"{name}: inte giltig JSON ({e.msg}, rad {e.lineno}).") from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise DirectoryError(f"{name}: ska vara en JSON-lista med ett objekt per uppdrag.")
        numbered = [(f"{name} post {i}", r) for i, r in enumerate(rows, 1)]
    else:
        reader = csv.DictReader(io.StringIO(text))
        absent = [f for f in FIELDS if f not in (reader.fieldnames or [])]
        if absent:
            raise DirectoryError(f"{name}: rubrikraden saknar {', '.join(absent)}.")
        numbered = [(f"{name} rad {reader.line_num}", r) for r in reader]
    found: dict[str, list[Assignment]] = {}
    for where, row in numbered:
        employee, assignment = _assignment(row, where)
        mine = found.setdefault(employee, [])
        if any(a.id == assignment.id for a in mine):
            raise DirectoryError(f"{where}: uppdraget {assignment.id} står två gånger för {employee}.")
        mine.append(assignment)
    return {k: tuple(v) for k, v in found.items()}


class Directory:
    """The parsed file, read again only when its size or modification time changes."""

    def __init__(self):
        self._lock = threading.Lock()
        self._key = None
        self._entries: dict[str, tuple[Assignment, ...]] = {}

    def entries(self, path: str) -> dict[str, tuple[Assignment, ...]]:
        try:
            st = os.stat(path)
        except OSError as e:
            raise DirectoryError(f"Katalogfilen {path} kan inte läsas: {e.strerror}.") from None
        key = (path, st.st_mtime_ns, st.st_size)
        with self._lock:
            if key != self._key:
                self._entries = parse(Path(path).read_bytes(), path)
                self._key = key
            return self._entries


DIRECTORY = Directory()


def _path(core) -> str | None:
    return core.plugin_settings("directory").get("file") or None


@hookimpl
def assignments_for(core, clinician):
    path = _path(core)
    if path is None:
        return None
    return list(DIRECTORY.entries(path).get(clinician.hsa_id, ()))


@hookimpl
def startup(core):
    """A configured directory that cannot be read stops start-up instead of the first login."""
    path = _path(core)
    if path is not None:
        try:
            DIRECTORY.entries(path)
        except DirectoryError as e:
            raise StartupError(e.message) from None
