"""Demo producers for the benchmarks: N source systems, one small aiohttp server each, on 127.0.0.1.

Each server wraps the demo platform's own producer code (`npo_core.demo.platform.DemoProducers`,
the plugins' `demo_records` and `render_response`). The demo platform knows five logical addresses;
a sixth to tenth source system is a copy of one of the five under its own logical address
(`<demo address>-2`, ...): the request is answered as the demo address would answer it, and that
address is replaced by the copy's in the answer, so every record has its own id and source system.

* `--latency S`: every answer is ready S seconds after its request arrived (generation included);
* `--scale PID=F`: the patient's records in every answer are multiplied by F (F < 1 keeps a share);
* answers are generated once and kept, so after a warm-up a producer costs little CPU and the
  measured time is npo's, not the demo generators'.
* `--hostile PID`: one more source system, an attacker's producer (`Hostile`): for PID, every
  contract's answer is as large as npo accepts (`--hostile-bytes`, default just under the 15 MiB
  body limit), filled with as many records as fit, each with its own id, owned by the care provider
  the source is registered for; GetCareDocumentation 3 always says hasMore, with new ids on every
  page, so deduplication cannot shrink it. Other patients get empty answers from it.

Prints `READY {"sources": [...], "control": URL}`; GET /times?cid=ID on the control server gives
each producer's handling time for one correlation id (x-skltp-correlation-id), GET /bodies the
cached answers' sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web  # noqa: E402

from npo_core import soap  # noqa: E402
from npo_core.contract import Query  # noqa: E402
from npo_core.demo import PATIENTS, PROVIDERS  # noqa: E402
from npo_core.demo.platform import DemoProducers  # noqa: E402
from npo_core.errors import ContractError, NpoError  # noqa: E402
from npo_core.plugins import collect, make_plugin_manager  # noqa: E402

TODAY = dt.date(2026, 11, 1)  # the tests' demo day: content is deterministic


def sources(n: int) -> list[dict]:
    out = []
    for i in range(n):
        hsa, name, _kind, units, (address, system) = PROVIDERS[i % len(PROVIDERS)]
        copy = i // len(PROVIDERS)
        out.append({"address": address if copy == 0 else f"{address}-{copy + 1}", "demo_address": address,
                    "care_provider_id": hsa, "name": system if copy == 0 else f"{system} {copy + 1}"})
    return out


class Producer:
    def __init__(self, contracts, scale: dict[str, float]):
        self.demo = DemoProducers(contracts, TODAY)
        self.by_action = {c.soap_action: c for c in contracts.values()}
        self.scale = scale
        self.cache: dict[tuple, bytes] = {}
        self.times: dict[str, list] = defaultdict(list)

    def render(self, contract, body: bytes, source: dict) -> bytes:
        address, demo_address = source["address"], source["demo_address"]
        if address != demo_address:
            body = body.replace(f">{address}<".encode(), f">{demo_address}<".encode())
        payload, la = soap.unwrap(soap.parse_xml(body))
        if payload.tag != contract.q(contract.name):
            raise ContractError(f"Expected {contract.name}, got {payload.tag}.", code="wrong_request")
        query = contract.parse_request(payload)
        records = list(self.demo.records(contract.id, la, query.patient.id))
        factor = self.scale.get(query.patient.id)
        if factor is not None:
            records = scaled(records, factor)
        xml = soap.envelope(contract.render_response(records, query))
        if address != demo_address:
            xml = xml.replace(demo_address.encode(), address.encode())
        return xml


def scaled(records: list, factor: float) -> list:
    if factor < 1:
        return records[: max(0, round(len(records) * factor))]
    out = list(records)
    whole, part = int(factor), factor - int(factor)
    for k in range(1, whole):
        out += [dataclasses.replace(r, id=f"{r.id}-x{k}") for r in records]
    out += [dataclasses.replace(r, id=f"{r.id}-x{whole}") for r in records[: round(len(records) * part)]]
    return out


HOSTILE_OF = 1  # the hostile source is registered for this demo provider (Västra Götalandsregionen)
PAGED = "GetCareDocumentation:3"  # the contract with partial answers (hasMore)


def hostile_source() -> dict:
    hsa, _name, _kind, _units, (address, system) = PROVIDERS[HOSTILE_OF]
    return {"address": f"{address}-HOSTILE", "demo_address": address, "care_provider_id": hsa,
            "name": f"{system} (fientlig)", "hostile": True}


class Hostile:
    """An attacker's producer for one patient: every answer as large as npo's body limit allows.

    Built once at start-up: per contract, the demo records of every demo patient at every demo
    source, re-owned to the hostile source's care provider and unit, repeated under ids of their own
    until the envelope is as close to `size` bytes as it gets (never over). The paged contract's
    answer says hasMore; each follow-up is the same answer with the page number in every id and in
    the next reference (same length, so every page has the same size). Answers are bytes.replace of
    the template: after start-up the producer costs npo's CPU almost nothing.
    """

    def __init__(self, contracts, demo: DemoProducers, source: dict, patient_id: str, size: int):
        from npo_core.identity import parse_patient_id

        hsa, name, _kind, units, _ = PROVIDERS[HOSTILE_OF]
        self.source, self.patient_id = source, patient_id
        query = Query(patient=parse_patient_id(patient_id))
        self.templates: dict[str, bytes] = {}
        self.records: dict[str, int] = {}
        for n, contract in enumerate(sorted(contracts.values(), key=lambda c: c.id)):
            pool = [r for pid in PATIENTS for p in PROVIDERS for r in demo.records(contract.id, p[4][0], pid)]
            if not pool:
                continue
            pool = [dataclasses.replace(r, care_provider_id=hsa, care_provider_name=name, care_unit_id=units[0][0],
                                        care_unit_name=units[0][1], source_system=source["address"]) for r in pool]

            def make(k: int, _pool=pool, _n=n) -> list:
                return [dataclasses.replace(_pool[i % len(_pool)], id=f"hostile-{_n:02d}-pg000-{i:07d}")
                        for i in range(k)]

            paged = contract.id == PAGED
            self.templates[contract.id], self.records[contract.id] = self._fill(contract, query, make, size, paged)

    def _render(self, contract, query, make, k: int, paged: bool) -> bytes:
        if not paged:
            return soap.envelope(contract.render_response(make(k), query))
        from npo_core.riv.jol import PagedQuery

        resp = contract.render_response(make(k + 1), PagedQuery(patient=query.patient, page_size=k))  # k shown, "more"
        reference = resp.find(f"{contract.q('hasMore')}/{contract.q('reference')}")
        reference.text = "hostile-page-001"
        return soap.envelope(resp)

    def _fill(self, contract, query, make, size: int, paged: bool) -> tuple[bytes, int]:
        empty = len(self._render(contract, query, make, 0 if not paged else 1, paged))
        probe = 40
        per = max(1.0, (len(self._render(contract, query, make, probe, paged)) - empty) / probe)
        k = max(1, int((size - empty) / per))
        while True:
            xml = self._render(contract, query, make, k, paged)
            if len(xml) <= size or k == 1:
                return xml, k
            k = max(1, int(k * (size - empty) / (len(xml) - empty) * 0.995))

    def answer(self, contract, body: bytes) -> bytes:
        import re

        template = self.templates.get(contract.id)
        if template is None or self.patient_id.encode() not in body:
            query = contract.parse_request(soap.unwrap(soap.parse_xml(body))[0])
            return soap.envelope(contract.render_response([], query))
        if contract.id != PAGED:
            return template
        m = re.search(rb"hasMoreReference>hostile-page-(\d{3})<", body)
        page = int(m.group(1)) if m else 0
        if page == 0:
            return template
        return (template.replace(b"-pg000-", b"-pg%03d-" % page)
                .replace(b"hostile-page-001", b"hostile-page-%03d" % (page + 1)))


def estimate_mb(producer: Producer, contracts, srcs: list[dict], pid: str) -> float:
    """The patient's answers at full scale, in MB: the first records rendered, the rest extrapolated."""
    from npo_core.contract import Query
    from npo_core.identity import parse_patient_id

    query = Query(patient=parse_patient_id(pid))
    total = 0
    for contract in contracts.values():
        for source in srcs:
            records = list(producer.demo.records(contract.id, source["demo_address"], pid))
            k = min(len(records), 40)
            empty = len(soap.envelope(contract.render_response([], query)))
            some = len(soap.envelope(contract.render_response(records[:k], query))) if k else empty
            total += empty + ((some - empty) * len(records) / k if k else 0)
    return total / 1e6


def make_app(producer: Producer, source: dict, latency: float, hostile: Hostile | None = None) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        body = await request.read()
        contract = producer.by_action.get(request.headers.get("SOAPAction", "").strip('"'))
        if contract is None:
            return web.Response(status=500, body=soap.fault_envelope("Unknown SOAPAction"), content_type="text/xml")
        key = (source["address"], contract.id, body)
        xml = producer.cache.get(key) if hostile is None else hostile.answer(contract, body)
        if xml is None:
            try:
                xml = await asyncio.get_running_loop().run_in_executor(None, producer.render, contract, body, source)
            except (ContractError, NpoError) as e:
                return web.Response(status=500, body=soap.fault_envelope(e.message), content_type="text/xml")
            producer.cache[key] = xml
        wait = latency - (time.perf_counter() - started)
        if wait > 0:
            await asyncio.sleep(wait)
        cid = request.headers.get(soap.CORRELATION_HEADER, "")
        producer.times[cid].append([source["address"], contract.id, time.perf_counter() - started, len(xml)])
        if len(producer.times) > 20000:
            producer.times.pop(next(iter(producer.times)))
        return web.Response(body=xml, content_type="text/xml", charset="utf-8")

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/{tail:.*}", handle)
    return app


def control_app(producer: Producer) -> web.Application:
    async def times(request):
        cid = request.query.get("cid")
        if cid:
            return web.json_response(producer.times.get(cid, []))
        return web.json_response(dict(producer.times))

    async def clear(request):
        producer.times.clear()
        return web.json_response({"cleared": True})

    async def bodies(request):
        return web.json_response([{"address": a, "contract": c, "bytes": len(x)}
                                  for (a, c, _), x in producer.cache.items()])

    app = web.Application()
    app.router.add_get("/times", times)
    app.router.add_get("/clear", clear)
    app.router.add_get("/bodies", bodies)
    return app


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sources", type=int, default=5)
    p.add_argument("--latency", type=float, default=0.1)
    p.add_argument("--scale", action="append", default=[], help="PID=FACTOR")
    p.add_argument("--target-mb", action="append", default=[], help="PID=MB: scale the patient to about MB in all")
    p.add_argument("--hostile", metavar="PID", help="add an attacker's source system, answering PID maximally")
    p.add_argument("--hostile-bytes", type=int, default=soap.MAX_BODY_BYTES - 4096,
                   help="the size of each of its answers (default: just under npo's body limit)")
    p.add_argument("--hostile-latency", type=float, default=None, help="its latency (default: --latency)")
    args = p.parse_args()
    scale = {k: float(v) for k, v in (s.split("=", 1) for s in args.scale)}
    contracts = collect(make_plugin_manager()).contracts
    producer = Producer(contracts, scale)
    full_mb = {}
    for pid, mb in (s.split("=", 1) for s in args.target_mb):
        full_mb[pid] = estimate_mb(producer, contracts, sources(args.sources), pid)
        scale[pid] = float(mb) / full_mb[pid]
    out = []
    runners = []
    all_sources = sources(args.sources)
    hostile = None
    if args.hostile:
        all_sources.append(hostile_source())
        t0 = time.perf_counter()
        hostile = Hostile(contracts, producer.demo, all_sources[-1], args.hostile, args.hostile_bytes)
        print(f"hostile answers built in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    for source in all_sources:
        is_hostile = bool(source.get("hostile"))
        latency = args.hostile_latency if is_hostile and args.hostile_latency is not None else args.latency
        runner = web.AppRunner(make_app(producer, source, latency, hostile if is_hostile else None), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = runner.addresses[0][1]
        out.append({**source, "endpoint": f"http://127.0.0.1:{port}/vp"})
        runners.append(runner)
    control = web.AppRunner(control_app(producer), access_log=None)
    await control.setup()
    await web.TCPSite(control, "127.0.0.1", 0).start()
    extra = {"hostile": {"address": hostile.source["address"], "patient": hostile.patient_id,
                         "answer_bytes": {c: len(x) for c, x in hostile.templates.items()},
                         "answer_records": hostile.records}} if hostile else {}
    print("READY " + json.dumps({"sources": out, "control": f"http://127.0.0.1:{control.addresses[0][1]}",
                                 "scale": scale, "full_mb": full_mb, **extra}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
