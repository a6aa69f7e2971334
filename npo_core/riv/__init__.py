"""The RIV-TA codec every contract plugin builds on: field specs, the PatientSummary header, and the
declared contract that derives the wire side and the records from them."""

from . import codes, views
from .declared import Detail, PatientSummaryContract, Peek
from . import grouped
from .grouped import GroupedContract
from . import coverage, header, jol
from .header import answer, matches
from .jol import JolContract
from .spec import REQUIRED
from .header import boolean, header_detail, patient_id, period, read_query, render_header, render_result, text
from .spec import (CV, HEALTHCARE_PROFESSIONAL, II, INTERVAL_PQ, MULTIMEDIA, ORG_UNIT, PERIOD, PERSON, PQ, compact,
                   element_path, elements, parse, render, sub)

__all__ = [
    "PatientSummaryContract", "Detail", "Peek", "codes", "views",
    "GroupedContract", "grouped",
    "JolContract", "jol", "header", "coverage", "matches", "answer", "REQUIRED",
    "CV", "II", "PQ", "INTERVAL_PQ", "PERIOD", "ORG_UNIT", "PERSON", "HEALTHCARE_PROFESSIONAL", "MULTIMEDIA",
    "parse", "render", "sub", "compact", "element_path", "elements",
    "text", "boolean", "header_detail", "render_header", "render_result", "patient_id", "period", "read_query",
]
