"""3. Many clinicians: throughput, latency and errors, and event-loop lag while a heavy patient opens.

`--clinicians` simulated clinicians (default 100), each with its own session (demo login, its own
cookie jar) and its own keep-alive connection, open typical patients (Fiona, Egon, Harry) for
`--seconds` (default 60): `POST /api/patient`, `POST /api/relation`, `GET /api/records`, then think
for `--think` seconds (uniformly 0.5–1.5× that; 0 for a closed loop at full speed). The clinicians
are the demo's three care clinicians at three care providers; the patients' consents are
registered once before the run, so other providers' records are shown.

Meanwhile one more clinician opens the heavy patient (Linda, scaled to `--heavy-mb`) again and
again, one second apart. A ticker task inside the npo server process sleeps `--tick` seconds at a
time and records how late it wakes up: the event-loop lag, split by whether a read of the heavy
patient was in flight.

Targets: 0 errors; event-loop lag p99 ≤ 50 ms while the heavy patient is opened.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as b  # noqa: E402


class Results:
    def __init__(self):
        self.opens: list[tuple[float, float, float]] = []  # (start offset, whole open, GET /api/records)
        self.errors: list[str] = []
        self.heavy: list[float] = []


async def clinician(i: int, url: str, start: float, deadline: float, think: float, res: Results, rng: random.Random):
    hsa, assignment = b.CLINICIAN_MIX[i % len(b.CLINICIAN_MIX)]
    http = b.Http(url, limit=1)
    try:
        await asyncio.sleep(rng.uniform(0, think or 0.5))  # clinicians do not all start in the same millisecond
        await http.login(hsa, assignment)
        while time.monotonic() < deadline:
            patient = rng.choice(b.TYPICAL)
            t0 = time.perf_counter()
            try:
                await http.open(patient)
                t1 = time.perf_counter()
                await http.get("/api/records", raw=True)
                t2 = time.perf_counter()
                if time.monotonic() <= deadline + 30:
                    res.opens.append((t0 - start, t2 - t0, t2 - t1))
            except Exception as e:  # every failure counts, whatever it is
                res.errors.append(f"{type(e).__name__}: {str(e)[:200]}")
            if think:
                await asyncio.sleep(rng.uniform(0.5, 1.5) * think)
    finally:
        await http.close()


async def heavy_opener(url: str, deadline: float, pause: float, res: Results):
    http = b.Http(url)
    try:
        await http.login()
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            try:
                await http.open(b.HEAVY)
                await http.get("/api/records", raw=True)
                res.heavy.append(time.perf_counter() - t0)
            except Exception as e:
                res.errors.append(f"heavy: {type(e).__name__}: {str(e)[:200]}")
            await asyncio.sleep(pause)
    finally:
        await http.close()


async def register_consents(url: str) -> None:
    """Consents once, as a unit would have them: each care clinician's provider for every patient of the
    run; the first clinician also reads each patient once (the producers generate and keep their answers)."""
    for n, (hsa, assignment) in enumerate(b.CLINICIAN_MIX):
        http = b.Http(url)
        await http.login(hsa, assignment)
        for pid in (*b.TYPICAL, b.HEAVY):
            await http.consent(pid)
            if n == 0:
                await http.get("/api/records", raw=True)  # warm: producers generate and cache their answers
        await http.close()


async def drive(url: str, *, clinicians: int, seconds: float, think: float, heavy_pause: float,
                seed: int) -> tuple[Results, float]:
    """`clinicians` clinicians opening typical patients for `seconds`, thinking `think` s between openings,
    and (heavy_pause ≥ 0) one more opening the heavy patient again and again: (results, elapsed seconds)."""
    res = Results()
    start = time.perf_counter()
    deadline = time.monotonic() + seconds
    rng = random.Random(seed)
    tasks = [asyncio.create_task(clinician(i, url, start, deadline, think, res, random.Random(rng.random())))
             for i in range(clinicians)]
    if heavy_pause >= 0:
        tasks.append(asyncio.create_task(heavy_opener(url, deadline, heavy_pause, res)))
    await asyncio.gather(*tasks)
    return res, time.perf_counter() - start


def load_figures(st: dict, res: Results, elapsed: float, tick: float) -> dict:
    """The run's figures from the server's stats (its ticker's lags) and the clinicians' results."""
    lags, heavy_lags = st["lags"], st["heavy_lags"]
    calm = lags  # every tick of the run
    covered = sum(tick + x for x in lags)  # each tick stands for its interval plus its lateness
    opens = [o for _, o, _ in res.opens]
    reads = [r for _, _, r in res.opens]
    return {
        "throughput": len(res.opens) / elapsed, "opens": len(res.opens), "errors": len(res.errors),
        "open_p50": b.pct(opens, 50), "open_p99": b.pct(opens, 99), "read_p50": b.pct(reads, 50),
        "read_p99": b.pct(reads, 99), "lag_p50": b.pct(calm, 50), "lag_p99": b.pct(calm, 99),
        "lag_max": max(calm) if calm else float("nan"), "heavy_lag_p50": b.pct(heavy_lags, 50),
        "heavy_lag_p99": b.pct(heavy_lags, 99), "heavy_lag_max": max(heavy_lags) if heavy_lags else float("nan"),
        "heavy_opens": len(res.heavy), "heavy_p50": b.pct(res.heavy, 50), "lag_samples": len(lags),
        "heavy_share": sum(tick + x for x in heavy_lags) / covered if covered else 0.0,
    }


async def one_run(args, server, runs: dict, profile: str | None, seed: int):
    url = server.info["url"]
    await register_consents(url)
    await b.bench_get(url, "/-/bench/reset")
    if profile:
        await b.bench_get(url, "/-/bench/profile/start")
    res, elapsed = await drive(url, clinicians=args.clinicians, seconds=args.seconds, think=args.think,
                               heavy_pause=args.heavy_pause, seed=seed)
    if profile:
        await b.bench_get(url, f"/-/bench/profile/stop?path={profile}")
    st = await b.bench_get(url, "/-/bench/stats")
    if st.get("stalls"):
        runs.setdefault("stall_samples", []).append(st["stalls"]["samples"])
        for where, n in st["stalls"]["where"]:
            runs.setdefault("stall_where", {}).setdefault(where, 0)
            runs["stall_where"][where] += n
    bad = b.not_ok(st["reads"])
    if st["reads"] and len([r for r in st["reads"] if r.get("not_ok")]) > len(st["reads"]) / 2:
        raise b.BenchError(f"most overviews had producer answers that were not ok, e.g. {bad[:3]}")
    runs.setdefault("not_ok", []).append(len([r for r in st["reads"] if r.get("not_ok")]))
    runs.setdefault("error_examples", []).extend(sorted({f"producer answer {x[2]}: {x[0]} {x[1]}: {x[3]}"
                                                         for x in bad})[:3])
    for k, v in load_figures(st, res, elapsed, args.tick).items():
        runs.setdefault(k, []).append(v)
    if res.errors:
        runs.setdefault("error_examples", []).extend(sorted(set(res.errors))[:5])


def crowd_args(p: argparse.ArgumentParser) -> None:
    """The crowd's options, shared with pages.py."""
    p.add_argument("--clinicians", type=int, default=100)
    p.add_argument("--seconds", type=float, default=60.0, help="the crowd's length")
    p.add_argument("--think", type=float, default=5.0, help="mean think time between two openings (0: none)")
    p.add_argument("--heavy-pause", type=float, default=1.0, help="pause between heavy openings; -1: no heavy patient")
    p.add_argument("--tick", type=float, default=0.005, help="the lag ticker's interval in the server")
    p.add_argument("--stall", type=float, default=0.05,
                   help="sample the server loop's stack whenever it is this late (0: off)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.common_args(p, runs=3)
    b.profile_arg(p)
    crowd_args(p)
    p.add_argument("--latency", type=float, default=0.1, help="producers' answer time")
    p.add_argument("--sources", type=int, default=5)
    p.add_argument("--heavy-mb", type=float, default=10.0, help="the heavy patient's size (0: as generated)")
    args = p.parse_args()
    scale_args = ["--target-mb", f"{b.HEAVY}={args.heavy_mb}"] if args.heavy_mb else []
    if args.smoke:
        args.runs, args.clinicians, args.seconds, args.think, args.latency = 1, 10, 2.0, 0.5, 0.02
        scale_args = ["--scale", f"{b.HEAVY}=0.02"]
    heavy_title = f"heavy patient every {args.heavy_pause:g} s" if args.heavy_pause >= 0 else "no heavy patient"
    report = b.Report(f"Many clinicians: {args.clinicians} for {args.seconds:g} s, think {args.think:g} s, "
                      f"{heavy_title}", args)
    print(report.title, flush=True)
    runs: dict = {}
    producers = b.Child([str(b.HERE / "_producers.py"), "--sources", str(args.sources), "--latency",
                         str(args.latency), *scale_args], "producers", timeout=300)
    with producers:
        for i in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="npo-bench-") as wd, \
                    b.start_server(producers, Path(wd), tick=args.tick, stall_sampler=args.stall) as server:
                b.run(one_run(args, server, runs, None, seed=i))
            print(f"run {i + 1}: {runs['throughput'][-1]:.1f} overviews/s, open p50 "
                  f"{b.ms(runs['open_p50'][-1]):.0f} ms p99 {b.ms(runs['open_p99'][-1]):.0f} ms, errors "
                  f"{runs['errors'][-1]}, lag p99 {b.ms(runs['lag_p99'][-1]):.0f} ms, during heavy p99 "
                  f"{b.ms(runs['heavy_lag_p99'][-1]):.0f} ms", flush=True)
        if args.profile:
            with tempfile.TemporaryDirectory(prefix="npo-bench-") as wd, \
                    b.start_server(producers, Path(wd), tick=args.tick, inline=True) as server:
                b.run(one_run(args, server, {}, args.profile, seed=99))
            b.print_profile(args.profile)
    r = lambda k, f=lambda x: x: [round(f(v), 2) for v in runs[k]]  # noqa: E731
    m = lambda k, f=lambda x: x: b.median(r(k, f))  # noqa: E731
    report.add("throughput (typical overviews completed)", m("throughput"), "/s", runs=r("throughput"))
    report.add("overviews completed", m("opens"), "", runs=r("opens"))
    errors = sum(runs["errors"])
    report.add("errors (all runs)", errors, "", target="0", met=errors == 0, runs=r("errors"))
    nok = sum(runs["not_ok"])
    report.add("overviews with a producer answer not ok (all runs)", nok, "", target="0", met=nok == 0,
               runs=r("not_ok"))
    report.add("open a patient (patient + relation + records), p50", m("open_p50", b.ms), "ms", runs=r("open_p50", b.ms))
    report.add("open a patient, p99", m("open_p99", b.ms), "ms", runs=r("open_p99", b.ms))
    report.add("GET /api/records, p50", m("read_p50", b.ms), "ms", runs=r("read_p50", b.ms))
    report.add("GET /api/records, p99", m("read_p99", b.ms), "ms", runs=r("read_p99", b.ms))
    hl = m("heavy_lag_p99", b.ms)
    if args.heavy_pause >= 0:
        report.add("event-loop lag while the heavy patient is read, p99", hl, "ms", target="≤ 50 ms",
                   met=hl <= 50, runs=r("heavy_lag_p99", b.ms))
        report.add("event-loop lag while the heavy patient is read, p50", m("heavy_lag_p50", b.ms), "ms")
        report.add("event-loop lag while the heavy patient is read, max", m("heavy_lag_max", b.ms), "ms",
                   runs=r("heavy_lag_max", b.ms))
        report.add("heavy openings completed", m("heavy_opens"), "", runs=r("heavy_opens"))
        report.add("heavy opening (patient + relation + records), p50", m("heavy_p50", b.ms), "ms",
                   runs=r("heavy_p50", b.ms))
        report.add("share of the run's time with a heavy read in flight", m("heavy_share") * 100, "%")
    report.add("event-loop lag, whole run, p50", m("lag_p50", b.ms), "ms")
    report.add("event-loop lag, whole run, p99", m("lag_p99", b.ms), "ms", runs=r("lag_p99", b.ms))
    report.add("event-loop lag, whole run, max", m("lag_max", b.ms), "ms")
    stall_total = sum(runs.get("stall_where", {}).values())
    for where, n in sorted(runs.get("stall_where", {}).items(), key=lambda kv: -kv[1])[:6]:
        report.note(f"loop stalled > {args.stall * 1000:g} ms in: `{where}` ({100 * n / stall_total:.0f} % of "
                    f"{stall_total} stack samples)")
    for e in runs.get("error_examples", [])[:5]:
        report.note(f"error: {e}")
    heavy = (f"Linda scaled to ≈{args.heavy_mb:g} MB (factor {producers.info['scale'].get(b.HEAVY, 1):.3f})"
             if args.heavy_mb and not args.smoke else "Linda, records scaled by 0.02 (smoke)" if args.smoke
             else "Linda as generated")
    report.note(f"{args.sources} source systems answering in {args.latency * 1000:.0f} ms; heavy patient: {heavy}; "
                f"ticker every {args.tick * 1000:g} ms; the clinicians, the npo server and the producers share "
                f"this machine's cores")
    report.write()


if __name__ == "__main__":
    main()
