"""Tillgänglig patient (TGP): may this care unit open this patient at all? Configured per environment.

The national NPÖ asks a TGP service before a patient is opened. npo has three modes, set with
`npo env set ENV tgp MODE`:

- `all`: every patient is available to every care unit. Honest for a region whose policy is that, and for
  tests; said as a warning when npo starts and on driftsstatus, never silently.
- `list:PATH`: a file the operator maintains, one `care unit HSA-id,personnummer` per line (`#` starts a
  comment). Read again whenever it changes; a file that cannot be read refuses every patient (fail closed).
- `plugin`: a plugin answers the `patient_available` hook (a local TGP service; the demo's plugin in the
  demo). No plugin answering is a refusal.

An environment with no mode does not start (`npo serve` says so in one line), so a missing configuration is
found by the operator at start-up, not by every clinician at run time.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import os
from pathlib import Path

from .errors import BadRequest
from .identity import check_hsa_id, parse_patient_id

log = logging.getLogger("npo.tgp")

ALL, PLUGIN, LIST = "all", "plugin", "list:"
HOW_TO = ("set one: `npo env set {env} tgp all` (every patient, with a warning), `npo env set {env} tgp "
          "list:/etc/npo/tgp.csv` (a patient list per care unit) or `npo env set {env} tgp plugin` (a TGP plugin)")


def check_mode(value: str, what: str = "tgp") -> str:
    """`all`, `plugin` or `list:PATH` with a list that can be read now."""
    if value in (ALL, PLUGIN):
        return value
    if isinstance(value, str) and value.startswith(LIST):
        PatientList.read(Path(value[len(LIST):]))  # refused now, with its line, rather than at run time
        return value
    raise BadRequest(f"{what} is all, plugin or list:PATH, not {value!r}.")


@dataclasses.dataclass(frozen=True)
class PatientList:
    """The operator's list: which patients each care unit may open."""

    path: Path
    stamp: tuple[int, int]  # (mtime_ns, size): read again when either changes
    patients: frozenset[tuple[str, str]]  # (care unit HSA-id, 12-digit patient id)

    @classmethod
    def read(cls, path: Path) -> "PatientList":
        try:
            stat = path.stat()
            with path.open(newline="", encoding="utf-8") as f:
                rows = list(enumerate(csv.reader(f), 1))
        except (OSError, UnicodeDecodeError, csv.Error) as e:
            raise BadRequest(f"The TGP patient list {path} cannot be read: {e}.") from None
        pairs = set()
        for line, row in rows:
            if not row or row[0].lstrip().startswith("#"):
                continue
            if len(row) != 2:
                raise BadRequest(f"The TGP patient list {path}, line {line}: give care unit HSA-id,personnummer.")
            unit, patient = (cell.strip() for cell in row)
            try:
                pairs.add((check_hsa_id(unit), parse_patient_id(patient).id))
            except BadRequest as e:  # an invalid personnummer too
                raise BadRequest(f"The TGP patient list {path}, line {line}: {e.message}") from None
        return cls(path, (stat.st_mtime_ns, stat.st_size), frozenset(pairs))


class Tgp:
    """The environment's TGP, asked once per opening; the list is cached until its file changes."""

    def __init__(self):
        self._list: PatientList | None = None

    def patient_list(self, path: Path) -> PatientList:
        st = os.stat(path)  # raises OSError: the caller refuses
        cached = self._list
        if cached is None or cached.path != path or cached.stamp != (st.st_mtime_ns, st.st_size):
            cached = self._list = PatientList.read(path)
        return cached

    def listed(self, mode: str, care_unit_id: str, patient_id: str) -> bool:
        try:
            return (care_unit_id, patient_id) in self.patient_list(Path(mode[len(LIST):])).patients
        except (OSError, BadRequest) as e:
            log.error("TGP refuses every patient: %s", getattr(e, "message", e))
            return False


def startup_problem(env, has_plugin: bool) -> str | None:
    """Why this environment must not start, in one line; None when its TGP is configured."""
    mode = env.tgp
    if mode is None:
        return f"Environment {env.name} has no Tillgänglig patient (TGP) configured: {HOW_TO.format(env=env.name)}."
    if mode == PLUGIN and not has_plugin:
        return f"Environment {env.name} asks a TGP plugin (tgp plugin), but no plugin answers patient_available."
    if mode.startswith(LIST):
        try:
            PatientList.read(Path(mode[len(LIST):]))
        except BadRequest as e:
            return e.message
    return None


def describe(mode: str | None) -> str:
    """The mode as driftsstatus and the start-up line say it, in Swedish."""
    if mode == ALL:
        return "Alla patienter är tillgängliga för alla vårdenheter (tgp all)"
    if mode == PLUGIN:
        return "Ett TGP-tillägg avgör (tgp plugin)"
    if mode and mode.startswith(LIST):
        return f"Patientlista per vårdenhet: {mode[len(LIST):]}"
    return "Inte konfigurerad: alla patienter nekas"
