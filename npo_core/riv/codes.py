"""Code systems by OID, with the Swedish short names clinicians know them by.

A view names the code system a record carries: the producer's codeSystemName where it sent one,
else this table's name, else the OID itself. Never a name guessed from the contract.
"""

from __future__ import annotations

ICD10SE = "1.2.752.116.1.1.1.1.3"
KSH97P = "1.2.752.116.1.1.1.1.1"
SNOMED_CT_SE = "1.2.752.116.2.1.1"
ICF = "1.2.752.116.1.1.3"
KVA = "1.2.752.116.1.3.2.1.4"
ATC = "1.2.752.129.2.2.3.1.1"
NPU = "1.2.752.108.1"
NPL_ID = "1.2.752.129.2.1.5.1"
KV_BEFATTNING = "1.2.752.129.2.2.1.4"
KV_KON = "1.2.752.129.2.2.1.1"
KV_INFORMATION_TYPE = "1.2.752.129.2.2.2.1"
KV_NOTE_TYPE = "1.2.752.129.2.2.2.11"
KV_CONTACT_TYPE = "1.2.752.129.2.2.2.25"
KV_SEVERITY = "1.2.752.129.2.2.3.3"
KV_CERTAINTY = "1.2.752.129.2.2.3.11"
HSA_ID = "1.2.752.129.2.1.4.1"
LOCAL_ID = "1.2.752.129.2.1.2.1"
HL7_ACT_STATUS = "2.16.840.1.113883.5.14"

NAMES = {
    ICD10SE: "ICD-10-SE", KSH97P: "KSH97-P", SNOMED_CT_SE: "SNOMED CT", ICF: "ICF", KVA: "KVÅ", ATC: "ATC",
    NPU: "NPU", NPL_ID: "NPL-id", KV_BEFATTNING: "KV Befattning", KV_KON: "KV Kön",
    KV_INFORMATION_TYPE: "KV Informationstyp", KV_NOTE_TYPE: "KV Anteckningstyp",
    KV_CONTACT_TYPE: "KV Kontakttyp", KV_SEVERITY: "KV Allvarlighetsgrad", KV_CERTAINTY: "KV Visshetsgrad",
    HL7_ACT_STATUS: "HL7 ActStatus",
}


def system_name(cv: dict | None) -> str | None:
    """The name of a CV's code system: as the producer named it, as npo knows it, or its OID."""
    if not cv:
        return None
    return cv.get("codeSystemName") or NAMES.get(cv.get("codeSystem") or "") or cv.get("codeSystem")


def coded(cv: dict | None) -> str:
    """A CV for a table cell: "J45.9 (ICD-10-SE)", its text where it has no code, "–" where empty."""
    if not cv:
        return "–"
    code = cv.get("code")
    if not code:
        return cv.get("displayName") or cv.get("originalText") or "–"
    system = system_name(cv)
    return f"{code} ({system})" if system else code


def term(cv: dict | None, default: str = "–") -> str:
    """A CV's words: its displayName, else originalText, else the code."""
    if not cv:
        return default
    return cv.get("displayName") or cv.get("originalText") or cv.get("code") or default
