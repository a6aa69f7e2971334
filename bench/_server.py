"""The npo server under test, in its own process, built exactly as `npo demo` builds it.

What this process adds from the outside (npo's code is not changed):

* its own registry: the demo environment with the engagement index switched off
  (`engagement_index=None`, the registry's local index) and one source system per benchmark
  producer, each with its own `endpoint`; contracts enabled as `--contracts` says;
* a timing middleware (outermost): `X-Bench-Server-Seconds` on every answer, the handler's time;
* wrappers around the producer calls and decoding (`fetch.FanOut._call`, `_decode`; `Core.call`, `Core.decode`
  in an npo before `npo_core/fetch.py`), `GuardStore.append`, `AccessService.read` that add up,
  per overview, bytes fetched, decode time, log time and more (`X-Bench-Phases` header, JSON);
* a ticker task: every `--tick` seconds it sleeps and records how late it woke up (event-loop lag),
  tagged with whether a read of the heavy patient was in flight; it also samples RSS;
* `GET /-/bench/stats`, `/-/bench/reset`, `/-/bench/profile/start|stop`, `/-/bench/nolog/on|off`
  (the last only for the access-log A/B: it replaces the durable append by an immediate return
  in this process, never in npo);
* for a request that carries `X-Bench-Id: ID`, `GET /-/bench/timing?id=ID` gives its server time even
  when the answer was streamed (a page sent in parts has its headers out before that time is known),
  when its first part was sent, and what its reads said: whether each read the answers kept for the
  look, the sources that timed out, the other answers not ok.

`--deadline` is npo's total deadline (and, unless `--read-timeout` says otherwise, its read timeout);
`--connect-timeout` defaults to 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextvars
import cProfile
import gc
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web  # noqa: E402

from npo_core.app import Core  # noqa: E402
from npo_core.demo import PROVIDERS, seed_blocks  # noqa: E402
from npo_core.plugins import collect, make_plugin_manager  # noqa: E402
from npo_core.registry import Registry  # noqa: E402
from npo_core.web import make_app  # noqa: E402

HEAVY = "189908029805"
PHASES: contextvars.ContextVar[dict | None] = contextvars.ContextVar("bench_phases", default=None)
READS: contextvars.ContextVar[dict | None] = contextvars.ContextVar("bench_reads", default=None)  # per request
MAX_TIMINGS = 20_000
MAX_PHASES_HEADER = 4000  # a client reads header fields of at most 8190 bytes (aiohttp's default)


def rss_kb(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak() -> bool:
    """Reset VmHWM (the kernel's peak RSS) of this process: Linux clear_refs, value 5."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class Stats:
    def __init__(self):
        self.reset()

    def reset(self):
        self.lags: list[tuple[float, float, bool]] = []  # (time, lag seconds, heavy read in flight)
        self.heavy_inflight = 0
        self.rss_peak_sampled = rss_kb()
        self.reads: list[dict] = []
        self.appends: list[tuple[float, int]] = []  # (seconds, entries)
        self.last_tick = time.monotonic()
        self.timings: dict[str, dict] = {}  # X-Bench-Id -> what the request took and what its reads said
        self.sampler = getattr(self, "sampler", None)
        if self.sampler is not None:
            self.sampler.samples.clear()
            self.sampler.total = 0


class StallSampler:
    """A poor man's py-spy for the event loop: while the loop is stalled, sample where it is.

    A thread wakes every `every` seconds; when the ticker has not ticked for `threshold` seconds,
    it records the main thread's stack (innermost npo/plugin frame and innermost frame).
    """

    def __init__(self, stats: "Stats", threshold: float, every: float = 0.005):
        import threading

        self.stats, self.threshold, self.every = stats, threshold, every
        self.main = threading.main_thread().ident
        self.samples: dict[str, int] = {}
        self.total = 0
        threading.Thread(target=self._run, name="bench-stall-sampler", daemon=True).start()

    def _run(self):
        while True:
            time.sleep(self.every)
            if time.monotonic() - self.stats.last_tick < self.threshold:
                continue
            frame = sys._current_frames().get(self.main)
            if frame is None:
                continue
            self.total += 1
            self.samples[signature(frame)] = self.samples.get(signature(frame), 0) + 1


def signature(frame) -> str:
    """innermost frame < innermost frames of npo itself (up to three)."""
    inner = f"{Path(frame.f_code.co_filename).name}:{frame.f_code.co_name}"
    ours = []
    f = frame
    while f is not None and len(ours) < 3:
        name = f.f_code.co_filename
        if ("npo_core" in name or "plugins" in name) and "/bench/" not in name:
            ours.append(f"{Path(name).parent.name}/{Path(name).name}:{f.f_code.co_name}:{f.f_lineno}")
        f = f.f_back
    return " < ".join([inner] + ours)


def build(args) -> tuple[Core, web.Application, Stats]:
    pm = make_plugin_manager()
    contracts = collect(pm).contracts
    registry = Registry(args.registry)
    registry.sync_contracts(contracts.values())
    wanted = set(contracts) if args.contracts == "all" else set(args.contracts.split(","))
    unknown = wanted - set(contracts)
    if unknown:
        raise SystemExit(f"unknown contracts {sorted(unknown)}; known: {sorted(contracts)}")
    for cid in contracts:
        registry.set_contract_enabled(cid, "demo", cid in wanted)
    for hsa_id, name, kind, units, _ in PROVIDERS:
        registry.add_care_provider(hsa_id, name, kind)
        for unit_id, unit_name in units:
            registry.add_care_unit(unit_id, hsa_id, unit_name)
    for s in json.loads(args.sources):
        registry.add_source_system("demo", s["address"], s["care_provider_id"], s["name"], list(contracts),
                                   endpoint=s["endpoint"])
    registry.set_environment("demo", engagement_index=None, base_url=None, validate_responses=int(args.validate),
                             connect_timeout=5.0 if args.connect_timeout is None else args.connect_timeout,
                             read_timeout=args.deadline if args.read_timeout is None else args.read_timeout,
                             total_deadline=args.deadline)
    core = Core(registry, "demo", pm, schema_bundle=Path(args.bundle) if args.bundle else None)
    seed_blocks(core.guards)
    stats = Stats()
    instrument(core, stats)
    app = make_app(core)
    app.middlewares.insert(0, timing(stats))
    app.on_response_prepare.append(first_part)
    add_routes(app, core, stats)
    return core, app, stats


class InlineExecutor(concurrent.futures.Executor):
    """For cProfile, which sees one thread: the core's worker jobs run on the event loop itself."""

    def submit(self, fn, /, *args, **kwargs):
        future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as e:
            future.set_exception(e)
        return future


def instrument(core: Core, stats: Stats) -> None:
    try:
        from npo_core.fetch import FanOut  # the calls and decoding of a read, since npo_core/fetch.py
    except ImportError:  # an older npo (e.g. a base worktree): the core's own methods
        FanOut = None
        call, decode = core.call, core.decode
    else:
        call, decode = FanOut._call, FanOut._decode
    append, read = core.guards.append, core.access.read
    fan_out = core.access._fan_out
    nolog = {"on": False}
    core._bench_nolog = nolog

    async def timed_call(*a, **kw):
        t0 = time.perf_counter()
        data = await call(*a, **kw)
        ph = PHASES.get()
        if ph is not None:
            ph["calls"] += 1
            ph["bytes"] += len(data)
            ph["call_s"] += time.perf_counter() - t0
        return data

    async def timed_decode(*a, **kw):  # whatever npo's signature is this week
        t0 = time.perf_counter()
        try:
            return await decode(*a, **kw)
        finally:
            ph = PHASES.get()
            if ph is not None:
                ph["decode_s"] += time.perf_counter() - t0
                ph["decode_max_s"] = max(ph["decode_max_s"], time.perf_counter() - t0)

    async def timed_append(entries, *a, **kw):
        extra_sql = a[0] if a else kw.get("extra_sql", ())
        t0 = time.perf_counter()
        if nolog["on"] and not extra_sql:
            result = [0] * len(entries)
        else:
            result = await append(entries, *a, **kw)
        spent = time.perf_counter() - t0
        stats.appends.append((spent, len(entries)))
        ph = PHASES.get()
        if ph is not None:
            ph["log_s"] += spent
            ph["log_entries"] += len(entries)
        return result

    async def timed_read(session, *a, **kw):
        heavy = bool(a) and a[0] == HEAVY  # read(session, patient_id, ...)
        ph = PHASES.get()
        if heavy and ph is not None and not ph.get("heavy"):  # until the answer is rendered: see timing()
            ph["heavy"] = True
            stats.heavy_inflight += 1
        t0 = time.perf_counter()
        result = await read(session, *a, **kw)
        if ph is not None:
            ph["read_s"] = time.perf_counter() - t0
            ph["records_shown"] = len(result.records)
            ph["withheld"] = sum(result.withheld.values())
            ph["request_id"] = result.request_id
            ph["statuses"] = sorted({s.status for s in result.sources})
            ph["not_ok"] = [[s.logical_address, s.contract, s.status, s.message] for s in result.sources
                            if s.status not in ("ok", "info")]
        said = READS.get()
        if said is not None:  # every read of the request (an overview streamed set by set reads each set)
            said["kept"].append(bool(getattr(result, "kept", False)))
            for s in result.sources:
                if s.status == "timeout":
                    said["timeouts"][(s.logical_address, s.contract)] = s.message
                elif s.status not in ("ok", "info"):
                    said["not_ok"][(s.logical_address, s.contract)] = [s.logical_address, s.contract, s.status,
                                                                       s.message]
        return result

    async def timed_fan_out(*a, **kw):
        t0 = time.perf_counter()
        try:
            return await fan_out(*a, **kw)
        finally:
            ph = PHASES.get()
            if ph is not None:
                ph["fan_out_s"] = time.perf_counter() - t0

    if FanOut is None:
        core.call, core.decode = timed_call, timed_decode
    else:  # this process's own class: npo's code is not changed
        FanOut._call, FanOut._decode = timed_call, timed_decode
    core.guards.append, core.access.read = timed_append, timed_read
    core.access._fan_out = timed_fan_out


def timing(stats: Stats):
    @web.middleware
    async def middleware(request, handler):
        phases = {"calls": 0, "bytes": 0, "call_s": 0.0, "decode_s": 0.0, "decode_max_s": 0.0, "log_s": 0.0,
                  "log_entries": 0}
        said = {"kept": [], "timeouts": {}, "not_ok": {}}
        token, said_token = PHASES.set(phases), READS.set(said)
        t0 = time.perf_counter()
        request["bench_t0"] = t0
        try:
            response = await handler(request)
        finally:
            PHASES.reset(token)
            READS.reset(said_token)
            if phases.get("heavy"):
                stats.heavy_inflight -= 1
        spent = time.perf_counter() - t0
        response.headers["X-Bench-Server-Seconds"] = f"{spent:.6f}"  # too late for a streamed answer: see timing
        if said["kept"]:
            phases["reads"], phases["kept"] = len(said["kept"]), all(said["kept"])
            phases["timeouts"] = len(said["timeouts"])
        bench_id = request.headers.get("X-Bench-Id")
        if bench_id:
            stats.timings[bench_id] = {
                "path": request.path, "status": response.status, "server_s": spent,
                "first_part_s": request.get("bench_prepared_s"), "kept": said["kept"],
                "timeouts": [[a, c, m] for (a, c), m in said["timeouts"].items()],
                "not_ok": list(said["not_ok"].values()), "bytes": phases["bytes"],
                "records_shown": phases.get("records_shown"), "streamed": response.prepared}
            while len(stats.timings) > MAX_TIMINGS:
                stats.timings.pop(next(iter(stats.timings)))
        if "read_s" in phases:
            phases["server_s"] = spent
            phases["path"] = request.path
            body = getattr(response, "body", None)
            phases["response_bytes"] = len(body) if isinstance(body, (bytes, bytearray)) else None
            header = json.dumps(phases)
            if len(header) > MAX_PHASES_HEADER:  # many answers not ok (a deadline passed): their list stays in stats
                header = json.dumps({**{k: v for k, v in phases.items() if k != "not_ok"},
                                     "not_ok_count": len(phases.get("not_ok") or ())})
            response.headers["X-Bench-Phases"] = header
            stats.reads.append(phases)
        return response

    return middleware


async def first_part(request, response) -> None:
    """When the answer's headers go out: for a page streamed in parts, when its first part is ready."""
    t0 = request.get("bench_t0")
    if t0 is not None and "bench_prepared_s" not in request:
        request["bench_prepared_s"] = time.perf_counter() - t0


def add_routes(app: web.Application, core: Core, stats: Stats) -> None:
    profiler = {"p": None}

    async def get_stats(request):
        lags = [lag for _, lag, _ in stats.lags]
        heavy = [lag for _, lag, h in stats.lags if h]
        return web.json_response({
            "lags": lags, "heavy_lags": heavy, "rss_kb": rss_kb(), "hwm_kb": rss_kb("VmHWM"),
            "rss_peak_sampled_kb": stats.rss_peak_sampled, "reads": stats.reads[-5000:],
            "appends": stats.appends[-20000:], "heavy_inflight": stats.heavy_inflight,
            "log_rows": core.guards._read.conn.execute("select count(*) from access_log").fetchone()[0],
            "stalls": ({"threshold": stats.sampler.threshold, "every": stats.sampler.every,
                        "samples": stats.sampler.total, "where": sorted(stats.sampler.samples.items(),
                                                                        key=lambda kv: -kv[1])[:15]}
                       if stats.sampler else None),
        })

    async def reset(request):
        gc.collect()
        stats.reset()
        return web.json_response({"peak_reset": reset_peak(), "rss_kb": rss_kb(), "hwm_kb": rss_kb("VmHWM")})

    async def profile(request):
        if request.match_info["what"] == "start":
            profiler["p"] = cProfile.Profile()
            profiler["p"].enable()
            return web.json_response({"profiling": True})
        p = profiler["p"]
        if p is None:
            return web.json_response({"profiling": False})
        p.disable()
        p.dump_stats(request.query["path"])
        profiler["p"] = None
        return web.json_response({"written": request.query["path"]})

    async def timing_of(request):
        """What the timing middleware recorded for one X-Bench-Id (it waits a moment for a streamed answer,
        whose last part may reach the client before the handler has returned)."""
        bench_id = request.query["id"]
        for _ in range(400):
            if bench_id in stats.timings:
                return web.json_response(stats.timings.pop(bench_id))
            await asyncio.sleep(0.005)
        return web.json_response({"error": f"no request with X-Bench-Id {bench_id}"}, status=404)

    async def nolog(request):
        core._bench_nolog["on"] = request.match_info["what"] == "on"
        return web.json_response({"nolog": core._bench_nolog["on"]})

    app.router.add_get("/-/bench/stats", get_stats)
    app.router.add_get("/-/bench/reset", reset)
    app.router.add_get("/-/bench/profile/{what}", profile)
    app.router.add_get("/-/bench/nolog/{what}", nolog)
    app.router.add_get("/-/bench/timing", timing_of)


async def ticker(stats: Stats, tick: float) -> None:
    loop = asyncio.get_running_loop()
    n = 0
    while True:
        t0 = loop.time()
        await asyncio.sleep(tick)
        lag = loop.time() - t0 - tick
        stats.lags.append((t0, max(0.0, lag), stats.heavy_inflight > 0))
        stats.last_tick = time.monotonic()
        n += 1
        if n % 4 == 0:
            stats.rss_peak_sampled = max(stats.rss_peak_sampled, rss_kb())
        if len(stats.lags) > 400_000:
            del stats.lags[:100_000]


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--registry", required=True)
    p.add_argument("--sources", required=True, help="JSON list of the producers' source systems")
    p.add_argument("--contracts", default="all", help="'all' or comma-separated contract ids to enable")
    p.add_argument("--validate", action="store_true")
    p.add_argument("--bundle")
    p.add_argument("--deadline", type=float, default=60.0, help="npo's total deadline")
    p.add_argument("--read-timeout", type=float, default=None, help="npo's read timeout (default: --deadline)")
    p.add_argument("--connect-timeout", type=float, default=None, help="npo's connect timeout (default: 5 s)")
    p.add_argument("--tick", type=float, default=0.005)
    p.add_argument("--experiment", default="", help="comma-separated prototypes from _experiments.py")
    p.add_argument("--stall-sampler", type=float, default=0.0,
                   help="sample the loop thread's stack whenever the ticker is this many seconds late")
    p.add_argument("--slow-callbacks", type=float, default=0.0,
                   help="asyncio debug mode: log every loop step longer than this many seconds to stderr")
    p.add_argument("--inline-decode", action="store_true",
                   help="run the core worker's jobs on the event loop (for cProfile, which sees one thread)")
    args = p.parse_args()
    core, app, stats = build(args)
    if args.stall_sampler:
        stats.sampler = StallSampler(stats, args.stall_sampler)
    if args.slow_callbacks:
        import logging

        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = args.slow_callbacks
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    if args.inline_decode:
        core.worker = InlineExecutor()
    experiments = [x for x in args.experiment.split(",") if x]  # after start-up, which may set what they change
    if experiments:
        import _experiments

        _experiments.apply(core, experiments)
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    task = asyncio.create_task(ticker(stats, args.tick))
    enabled = sorted(core.registry.enabled_contracts("demo"))
    print("READY " + json.dumps({"url": f"http://127.0.0.1:{runner.addresses[0][1]}", "pid": os.getpid(),
                                 "contracts": enabled, "validate": core.env.validate_responses,
                                 "experiments": experiments}), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        task.cancel()
        await runner.cleanup()
        core.guards.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
