"""Prototypes of proposed changes, applied from the outside to the benchmark's own server process.

None of this is npo code and none of it runs unless a benchmark is started with
`--experiment NAME[,NAME...]`; it exists so that a proposed change can be measured with the same
benchmark, in the same conditions, before anyone edits npo. Each one approximates the change it
stands for (see BENCHMARKS.md for the proposals themselves):

* `env-once`: `Core.env` and `Core._names()` are read from the registry once per second instead of
  on every call and every answer (stands for: read them once per overview and pass them down;
  npo does that itself since commit 9dc5dc6, where this experiment does nothing);
* `fast-normalise`: `parse_timestamp` by slicing instead of `strptime`; `patientsummary.parse_header`
  and `get_medication_history.read` from one map of an element's children instead of one
  `find()` per possible field (stands for: a one-pass child map in the core for every plugin);
* `one-decode-thread`: the default executor (where `Core.decode` sends answers > 256 KB) gets one
  thread instead of min(32, cores + 4);
* `offload-all`: `soap.OFFLOAD_BYTES = 0`: every answer is decoded in the executor, none on the
  event loop (today answers up to 256 KB, i.e. all of a typical patient's, are decoded on the loop);
* `switch-1ms`: `sys.setswitchinterval(0.001)`: a thread holding the GIL hands it over after 1 ms
  instead of 5 ms, so the event loop waits less each time it wants the GIL back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import sys
import time

KNOWN = ("env-once", "fast-normalise", "one-decode-thread", "switch-1ms", "offload-all")


def apply(core, names: list[str]) -> None:
    unknown = set(names) - set(KNOWN)
    if unknown:
        raise SystemExit(f"unknown experiments {sorted(unknown)}; known: {', '.join(KNOWN)}")
    for name in names:
        globals()["_" + name.replace("-", "_")](core)


def on_loop(names: list[str]) -> None:
    if "one-decode-thread" in names:
        asyncio.get_running_loop().set_default_executor(
            concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode"))


def _env_once(core) -> None:
    import inspect

    base = type(core)
    if "env" in inspect.signature(base.decode).parameters:  # npo 9dc5dc6 and later do this themselves
        print("experiment env-once: npo already reads env and names once per read; nothing to do", file=sys.stderr)
        return
    original_env = base.env.fget
    original_names = base._names

    class CachedCore(base):
        @property
        def env(self):
            now = time.monotonic()
            cached = self.__dict__.get("_bench_env")
            if cached is None or now - cached[0] > 1.0:
                cached = self.__dict__["_bench_env"] = (now, original_env(self))
            return cached[1]

        def _names(self):
            now = time.monotonic()
            cached = self.__dict__.get("_bench_names")
            if cached is None or now - cached[0] > 1.0:
                cached = self.__dict__["_bench_names"] = (now, original_names(self))
            return cached[1]

    core.__class__ = CachedCore


def _one_decode_thread(core) -> None:
    pass  # applied on the running loop: on_loop()


def _offload_all(core) -> None:
    from npo_core import soap

    soap.OFFLOAD_BYTES = 0


def _switch_1ms(core) -> None:
    sys.setswitchinterval(0.001)


def _fast_normalise(core) -> None:
    from npo_core import contract as C
    from npo_core.contract import Record, SWEDEN

    original_pt = C.parse_timestamp

    def parse_timestamp(text):
        if not text:
            return None
        t = text.strip()
        if len(t) not in (8, 12, 14) or not t.isdigit():
            return original_pt(text)
        return dt.datetime(int(t[0:4]), int(t[4:6]), int(t[6:8]), int(t[8:10] or 0), int(t[10:12] or 0),
                           int(t[12:14] or 0), tzinfo=SWEDEN)

    for module in list(sys.modules.values()):
        if getattr(module, "parse_timestamp", None) is original_pt:
            module.parse_timestamp = parse_timestamp

    try:
        import npo_plugins.contracts.patientsummary as ps
    except ImportError:
        ps = None
    if ps is not None:
        def kids(el):
            out = {}
            if el is not None:
                for child in el:
                    out.setdefault(child.tag, child)
            return out

        def tx(d, tag):
            el = d.get(tag)
            return None if el is None or el.text is None else el.text.strip()

        def parse_header(h, core_ns, *, contract, information_type, title=None):
            c = lambda local: f"{{{core_ns}}}{local}"  # noqa: E731
            H = kids(h)
            prof = H.get(c("accountableHealthcareProfessional"))
            P = kids(prof)
            org = P.get(c("healthcareProfessionalOrgUnit"))
            O = kids(org)
            role = P.get(c("healthcareProfessionalRoleCode"))
            R = kids(role)
            legal = H.get(c("legalAuthenticator"))
            L = kids(legal)
            unit_id, org_id = tx(P, c("healthcareProfessionalCareUnitHSAId")), tx(O, c("orgUnitHSAId"))
            header = {
                "document_time": tx(H, c("documentTime")), "author_time": tx(P, c("authorTime")),
                "author_hsa_id": tx(P, c("healthcareProfessionalHSAId")),
                "author_name": tx(P, c("healthcareProfessionalName")),
                "author_role": {k: tx(R, c(k)) for k in ("code", "codeSystem", "displayName")}
                if role is not None else None,
                "org_unit": {k: tx(O, c(k)) for k in ("orgUnitHSAId", "orgUnitName", "orgUnitTelecom", "orgUnitEmail",
                                                      "orgUnitAddress", "orgUnitLocation")} if org is not None else None,
                "signature": {"time": tx(L, c("signatureTime")), "hsa_id": tx(L, c("legalAuthenticatorHSAId")),
                              "name": tx(L, c("legalAuthenticatorName"))} if legal is not None else None,
                "care_contact_id": tx(H, c("careContactId")), "nullified_reason": tx(H, c("nullifiedReason")),
                "document_title": tx(H, c("documentTitle")),
            }
            when = parse_timestamp(header["document_time"] or header["author_time"])
            return Record(
                id=tx(H, c("documentId")) or "", contract=contract, information_type=information_type, time=when,
                care_provider_id=tx(P, c("healthcareProfessionalCareGiverHSAId")), care_unit_id=unit_id,
                care_unit_name=tx(O, c("orgUnitName")) if org_id and org_id == unit_id else None,
                source_system=tx(H, c("sourceSystemHSAId")), title=title or header["document_title"] or "",
                author=header["author_name"], block_time=when,
                approved_for_patient=bool(ps.boolean(tx(H, c("approvedForPatient")))),
                nullified=bool(ps.boolean(tx(H, c("nullified")))),
                patient_id=tx(kids(H.get(c("patientId"))), c("id")), detail={"header": header})

        ps.parse_header = parse_header
    try:
        import npo_plugins.contracts.get_medication_history as mh
    except ImportError:
        mh = None
    if mh is not None and hasattr(mh, "FIELDS") and hasattr(mh, "read"):
        def read(el, kind):
            if kind == "s":
                return (el.text or "").strip()
            if kind == "b":
                return ps.boolean(el.text)
            groups: dict = {}
            for child in el:
                groups.setdefault(child.tag, []).append(child)
            out = {}
            if groups:
                for name, tag, sub, many in mh.FIELDS[kind]:
                    found = groups.get(tag)
                    if found:
                        out[name] = [read(e, sub) for e in found] if many else read(found[0], sub)
            return out

        mh.read = read
