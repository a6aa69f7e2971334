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
from npo_core.demo import PROVIDERS  # noqa: E402
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


def make_app(producer: Producer, source: dict, latency: float) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        body = await request.read()
        contract = producer.by_action.get(request.headers.get("SOAPAction", "").strip('"'))
        if contract is None:
            return web.Response(status=500, body=soap.fault_envelope("Unknown SOAPAction"), content_type="text/xml")
        key = (source["address"], contract.id, body)
        xml = producer.cache.get(key)
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
    for source in sources(args.sources):
        runner = web.AppRunner(make_app(producer, source, args.latency), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = runner.addresses[0][1]
        out.append({**source, "endpoint": f"http://127.0.0.1:{port}/vp"})
        runners.append(runner)
    control = web.AppRunner(control_app(producer), access_log=None)
    await control.setup()
    await web.TCPSite(control, "127.0.0.1", 0).start()
    print("READY " + json.dumps({"sources": out, "control": f"http://127.0.0.1:{control.addresses[0][1]}",
                                 "scale": scale, "full_mb": full_mb}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
