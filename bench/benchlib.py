"""Shared machinery of the benchmarks: processes, clinicians, statistics and the report.

Every benchmark runs three kinds of process on 127.0.0.1:

* producers (`_producers.py`): N small aiohttp servers, one per source system, each wrapping the
  demo platform's own producer code (`DemoProducers`), answering in a configurable latency;
* the npo server (`_server.py`): the real `Core` and `make_app`, with a ticker task that measures
  event-loop lag, a timing middleware and a few `/-/bench/...` routes that exist only in this process;
* the benchmark itself, which drives the server over HTTP like clinicians' browsers.

Nothing here changes npo: the server process builds the app exactly as `npo demo` does, in its
own temporary registry, and adds its measuring hooks from the outside.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = sys.executable
DEFAULT_OUTPUT = REPO / "BENCHMARKS.md"

HEAVY = "189908029805"  # Linda Johansson
TYPICAL = ("199701062383", "193601286499", "194602226559")  # Fiona, Egon, Harry
ANNA = ("SE2321000016-1001", "SE2321000016-1001-U1")  # SJF at Gubbängens vårdcentral
CLINICIAN_MIX = (  # (hsa-id, assignment) of demo clinicians whose purpose is care
    ("SE2321000016-1001", "SE2321000016-1001-U1"),
    ("SE2321000131-2002", "SE2321000131-2002-U1"),
    ("SE2120003005-3003", "SE2120003005-3003-U1"),
)


# -- statistics ------------------------------------------------------------------------------------
def pct(values, p: float) -> float:
    """Percentile by linear interpolation (p in 0..100); nan for no values."""
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def median(values) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> float:
    return seconds * 1000.0


# -- the machine -------------------------------------------------------------------------------------
def _git(*args: str) -> str:
    try:  # read-only git commands only
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> dict:
    import aiohttp
    import lxml.etree

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "?"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        from importlib.metadata import version
        su = version("sqlite-utils")
    except Exception:
        su = "?"
    commit = _git("rev-parse", "--short", "HEAD") or "?"
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    return {
        "cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable,
        "python": platform.python_version(), "lxml": lxml.etree.__version__,
        "libxml2": ".".join(map(str, lxml.etree.LIBXML_VERSION)), "aiohttp": aiohttp.__version__,
        "sqlite": sqlite3.sqlite_version, "sqlite_utils": su,
        "commit": commit + (" + uncommitted changes" if dirty else ""),
        "os": f"{platform.system()} {platform.release()}",
    }


def machine_line(m: dict | None = None) -> str:
    m = m or machine()
    return (f"{m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), {m['os']}; Python {m['python']}, "
            f"lxml {m['lxml']} / libxml2 {m['libxml2']}, aiohttp {m['aiohttp']}, SQLite {m['sqlite']} "
            f"(sqlite-utils {m['sqlite_utils']}); git {m['commit']}")


# -- the report --------------------------------------------------------------------------------------
@dataclass
class Figure:
    name: str
    value: float | str
    unit: str = ""
    target: str = ""
    met: bool | None = None
    runs: list = field(default_factory=list)  # the per-run values the median came from


class Report:
    """Figures printed as they come, then appended as one section to BENCHMARKS.md."""

    def __init__(self, title: str, args):
        EXPERIMENT["value"] = getattr(args, "experiment", "") or ""
        if EXPERIMENT["value"]:
            title += f" [experiment: {EXPERIMENT['value']}]"
        self.title, self.args = title, args
        self.figures: list[Figure] = []
        self.notes: list[str] = []
        self.started = dt.datetime.now(dt.timezone.utc)
        self.load = _loadavg()

    def add(self, name: str, value, unit: str = "", *, target: str = "", met: bool | None = None,
            runs: list | None = None) -> Figure:
        f = Figure(name, value, unit, target, met, list(runs or []))
        self.figures.append(f)
        print(f"  {name}: {_fmt(value)} {unit}".rstrip() + (f"   [target {target}: {_verdict(met)}]" if target else "")
              + (f"   runs: {', '.join(_fmt(v) for v in f.runs)}" if len(f.runs) > 1 else ""), flush=True)
        return f

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def markdown(self) -> str:
        m = machine()
        cmd = " ".join(shlex.quote(a) for a in [Path(PYTHON).name, *sys.argv])
        lines = [f"## {self.title} ({self.started:%Y-%m-%d %H:%M} UTC{', smoke' if getattr(self.args, 'smoke', False) else ''})",
                 "", f"Command: `{cmd}`  ", f"Machine: {machine_line(m)}  ",
                 f"Load average (1/5/15 min) at start: {self.load}, at end: {_loadavg()}", "",
                 "| figure | median | unit | target | met | per run |", "|---|---|---|---|---|---|"]
        for f in self.figures:
            lines.append(f"| {f.name} | {_fmt(f.value)} | {f.unit} | {f.target} | {_verdict(f.met) if f.target else ''} "
                         f"| {', '.join(_fmt(v) for v in f.runs) if len(f.runs) > 1 else ''} |")
        if self.notes:
            lines.append("")
            lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n\n"

    def write(self) -> None:
        out = Path(self.args.output)
        if not out.exists():
            out.write_text("# npo benchmarks\n\nAppended by the scripts in `bench/` (see `bench/README.md`). "
                           "Each section is one run: its command line, the machine, and the figures "
                           "(medians of several runs; ratios measured within one run).\n\n")
        with out.open("a") as fh:
            fh.write(self.markdown())
        print(f"appended to {out}", flush=True)


def _loadavg() -> str:
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _fmt(v) -> str:
    if isinstance(v, float):
        if v != v:
            return "n/a"
        return f"{v:.3g}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v)


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "?"}[met]


EXPERIMENT = {"value": ""}  # set from --experiment by every script: passed to every server it starts


def common_args(parser, *, runs: int = 3) -> None:
    parser.add_argument("--smoke", action="store_true", help="a run of a few seconds that exercises everything")
    parser.add_argument("--runs", type=int, default=runs, help="independent runs; figures are their medians")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help="the BENCHMARKS file to append to")
    parser.add_argument("--experiment", default="", metavar="NAME[,NAME]",
                        help="run the npo server with prototypes of proposed changes (bench/_experiments.py); "
                             "npo itself is not changed")
    parser.add_argument("--bundle", default=None, help="RIV-TA schema bundle (default: NPO_RIVTA_SCHEMAS or "
                                                       "../shared/rivta)")


def profile_arg(parser) -> None:
    parser.add_argument("--profile", default=None, metavar="FILE",
                        help="after the measured runs, one more run (not in the figures) with the npo server under "
                             "cProfile and the core worker's jobs run on the event loop (so one thread sees all "
                             "the work); pstats to FILE")


def print_profile(path: str, top: int = 25) -> None:
    import pstats

    st = pstats.Stats(path)
    st.sort_stats("tottime").print_stats(top)
    st.sort_stats("cumulative").print_stats(top)


def find_bundle(explicit: str | None = None) -> Path | None:
    for candidate in (explicit, os.environ.get("NPO_RIVTA_SCHEMAS"), REPO.parent / "shared" / "rivta"):
        if candidate and (Path(candidate) / "MANIFEST.xml").is_file():
            return Path(candidate)
    return None


# -- processes -----------------------------------------------------------------------------------
class Child:
    """A child process that prints `READY {json}` once it serves; killed by its own pid only."""

    def __init__(self, argv: list[str], name: str, timeout: float = 60.0):
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix=f"npo-bench-{name}-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([PYTHON, *argv], stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        self.info = None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("READY "):
                self.info = json.loads(line[6:])
                break
        if self.info is None:
            self.stop()
            raise RuntimeError(f"{name} did not start; see {self.log.name}:\n{Path(self.log.name).read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if os.environ.get("NPO_BENCH_KEEP_LOGS"):
            print(f"{self.name} log kept: {self.log.name}", flush=True)
            return
        try:
            Path(self.log.name).unlink()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start_producers(*, sources: int = 5, latency: float = 0.1, scale: dict | None = None) -> Child:
    argv = [str(HERE / "_producers.py"), "--sources", str(sources), "--latency", str(latency)]
    for pid, factor in (scale or {}).items():
        argv += ["--scale", f"{pid}={factor}"]
    return Child(argv, "producers")


def start_server(producers: Child, workdir: Path, *, contracts: str = "all", validate: bool = False,
                 bundle: Path | None = None, deadline: float = 60.0, tick: float = 0.005,
                 inline: bool = False, slow_callbacks: float = 0.0, stall_sampler: float = 0.0,
                 experiment: str = "", read_timeout: float | None = None,
                 connect_timeout: float | None = None) -> Child:
    """npo's total deadline is `deadline`; its read timeout `read_timeout` (default: the deadline) and its
    connect timeout `connect_timeout` (default: 5 s)."""
    argv = [str(HERE / "_server.py"), "--registry", str(workdir / "registry.db"),
            "--sources", json.dumps(producers.info["sources"]), "--contracts", contracts,
            "--deadline", str(deadline), "--tick", str(tick)]
    if validate:
        argv.append("--validate")
    if inline:
        argv.append("--inline-decode")
    if slow_callbacks:
        argv += ["--slow-callbacks", str(slow_callbacks)]
    if stall_sampler:
        argv += ["--stall-sampler", str(stall_sampler)]
    experiment = experiment or EXPERIMENT["value"]
    if experiment:
        argv += ["--experiment", experiment]
    if bundle:
        argv += ["--bundle", str(bundle)]
    if read_timeout is not None:
        argv += ["--read-timeout", str(read_timeout)]
    if connect_timeout is not None:
        argv += ["--connect-timeout", str(connect_timeout)]
    return Child(argv, "server", timeout=120)


def demo_timeouts() -> dict:
    """The demo environment's connect timeout, read timeout and total deadline, as `npo demo` has them."""
    from npo_core.registry import ENVIRONMENTS

    demo = ENVIRONMENTS["demo"]
    return {k: float(demo[k]) for k in ("connect_timeout", "read_timeout", "total_deadline")}


class BenchError(RuntimeError):
    """The measurement is not valid (e.g. producers' answers were not decoded): no figures."""


def not_ok(reads: list[dict]) -> list:
    """Producer answers of these overviews that were not ok, as [address, contract, status, message]."""
    return [x for r in reads for x in r.get("not_ok", [])]


def assert_ok(reads: list[dict]) -> None:
    bad = not_ok(reads)
    if not reads:
        raise BenchError("the server recorded no overview")
    if bad:
        raise BenchError(f"{len(bad)} producer answers were not ok, e.g. {bad[:3]}: the figures would be meaningless")


# -- HTTP --------------------------------------------------------------------------------------------
class Http:
    """One browser: its own cookie jar and keep-alive connection(s)."""

    def __init__(self, base: str, *, limit: int = 4):
        import aiohttp

        self.base = base.rstrip("/")
        self.session = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            connector=aiohttp.TCPConnector(limit=limit, keepalive_timeout=120),
            timeout=aiohttp.ClientTimeout(total=600))
        self.csrf = ""
        self.patient: str | None = None  # named on every patient-scoped call, as a page of it would

    async def close(self):
        await self.session.close()

    async def request(self, method: str, path: str, data: dict | None = None, *, expect: int | None = 200,
                      raw: bool = False):
        headers = {"X-CSRF-Token": self.csrf} if method == "POST" else {}
        if self.patient and path.startswith(PATIENT_SCOPED):
            if method == "POST":
                data = {"patient_id": self.patient, **(data or {})}
            elif "patient_id=" not in path:
                path += f"{'&' if '?' in path else '?'}patient_id={self.patient}"
        async with self.session.request(method, self.base + path, json=data if method == "POST" else None,
                                        headers=headers) as resp:
            body = await resp.read()
            if expect is not None and resp.status != expect:
                raise RuntimeError(f"{method} {path}: HTTP {resp.status}: {body[:300]!r}")
            if raw:
                return resp, body
            return json.loads(body) if body else None

    async def get(self, path: str, **kw):
        return await self.request("GET", path, **kw)

    async def post(self, path: str, data: dict | None = None, **kw):
        return await self.request("POST", path, data or {}, **kw)

    async def login(self, hsa_id: str = ANNA[0], assignment: str = ANNA[1]) -> None:
        body = await self.post("/api/login/demo", {"clinician": hsa_id})
        self.csrf = body["csrf_token"]
        if (body.get("assignment") or {}).get("id") != assignment:
            await self.post("/api/assignment", {"assignment_id": assignment})

    async def open(self, patient: str, *, relation: bool = True) -> None:
        await self.post("/api/patient", {"patient_id": patient})
        self.patient = patient
        if relation:
            await self.post("/api/relation")

    async def consent(self, patient: str) -> None:
        """Consent for the whole unit: other care providers' records become visible here."""
        await self.open(patient)
        await self.post("/api/consent", {"whole_unit": True, "days": 365}, expect=None)

    async def records(self, query: str = "", *, fresh: bool = True):
        """(server seconds, client seconds, JSON, body bytes) of one overview; `fresh`: fetched from the
        producers, not read from the answers kept for this look at the patient."""
        if fresh:
            query = f"{query}{'&' if query else '?'}fresh=1"
        t0 = time.perf_counter()
        resp, body = await self.get("/api/records" + query, raw=True)
        wall = time.perf_counter() - t0
        return float(resp.headers.get("X-Bench-Server-Seconds", "nan")), wall, json.loads(body), len(body)

    async def page(self, path: str | None = None):
        """(server seconds, client seconds, body bytes) of one page, streamed or not."""
        timed = await self.timed(path or f"/patient/{self.patient}")
        return timed["server_s"], timed["wall_s"], timed["size"]


    async def timed(self, path: str, *, expect: int = 200) -> dict:
        """One GET, timed by the npo server whatever the answer's form (a page streamed in parts has its
        headers sent before its server time is known): the server's record of it (`/-/bench/timing`:
        server_s, first_part_s, kept per read, timeouts, not_ok, bytes fetched) with wall_s, body and size."""
        import uuid

        if self.patient and path.startswith(PATIENT_SCOPED) and "patient_id=" not in path:
            path += f"{'&' if '?' in path else '?'}patient_id={self.patient}"
        bench_id = uuid.uuid4().hex
        t0 = time.perf_counter()
        async with self.session.get(self.base + path, headers={"X-Bench-Id": bench_id}) as resp:
            body = await resp.read()
            status = resp.status
        wall = time.perf_counter() - t0
        if status != expect:
            raise RuntimeError(f"GET {path}: HTTP {status}: {body[:300]!r}")
        timing = await bench_get(self.base, f"/-/bench/timing?id={bench_id}")
        if "server_s" not in timing:
            raise RuntimeError(f"GET {path}: the server kept no timing: {timing}")
        return {**timing, "wall_s": wall, "body": body, "size": len(body)}


PATIENT_SCOPED = ("/api/relation", "/api/consent", "/api/emergency", "/api/blocked/", "/api/records", "/api/sets")


async def bench_get(base: str, path: str) -> dict:
    import aiohttp

    async with aiohttp.ClientSession() as s:
        async with s.get(base.rstrip("/") + path) as resp:
            return await resp.json()


def run(coro):
    return asyncio.run(coro)


# -- talking to the producers directly (the floor, the raw fan-out) -------------------------------
def plugin_contracts() -> dict:
    from npo_core.plugins import collect, make_plugin_manager

    return collect(make_plugin_manager()).contracts


async def fetch_answers(session, sources: list[dict], contracts, patient_id: str, *, correlation_id: str | None = None,
                        ids: set[str] | None = None) -> list[tuple]:
    """Every answer npo would fetch for one patient, fetched the way npo does (hasMore followed).

    [(contract, address, bytes)], concurrently, one request per contract and source system.
    """
    from npo_core import soap
    from npo_core.contract import Query
    from npo_core.identity import parse_patient_id

    patient = parse_patient_id(patient_id)

    async def one(contract, source):
        out = []
        query, address = Query(patient=patient), source["address"]
        for _ in range(11):
            data = await soap.call(session, source["endpoint"], soap_action=contract.soap_action,
                                   logical_address=address, payload=contract.build_request(query),
                                   consumer_hsa_id=None, timeouts=soap.Timeouts(5, 120),
                                   correlation_id=correlation_id)
            out.append((contract, source["address"], data))
            if b"hasMore" not in data:
                break
            answer = contract.parse_response(soap.unwrap(soap.parse_xml(data))[0])
            if not answer.has_more:
                break
            address, ref = answer.has_more[0]
            query = Query(patient=patient, has_more_reference=ref)
        return out

    jobs = [one(c, s) for c in contracts.values() if ids is None or c.id in ids for s in sources]
    return [x for part in await asyncio.gather(*jobs) for x in part]


def raw_session(limit: int = 0):
    import aiohttp

    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit, limit_per_host=0, keepalive_timeout=30))


def floor_seconds(answers: list[tuple], schemas) -> tuple[float, float, int]:
    """lxml parse + libxml2 validation of the same bytes: (parse s, validate s, bytes)."""
    from npo_core import soap

    parse_s = valid_s = 0.0
    size = 0
    for contract, _address, data in answers:
        size += len(data)
        t0 = time.perf_counter()
        payload, _ = soap.unwrap(soap.parse_xml(data))
        t1 = time.perf_counter()
        if schemas is not None:
            schemas.validate(contract, payload)
        parse_s += t1 - t0
        valid_s += time.perf_counter() - t1
    return parse_s, valid_s, size


def normalise_seconds(answers: list[tuple]) -> float:
    """The plugins' `parse_response` alone, on trees parsed beforehand (not timed)."""
    from npo_core import soap

    trees = [(c, soap.unwrap(soap.parse_xml(d))[0]) for c, _a, d in answers]
    t0 = time.perf_counter()
    for contract, payload in trees:
        contract.parse_response(payload)
    return time.perf_counter() - t0
