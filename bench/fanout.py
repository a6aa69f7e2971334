"""1. Fan-out overhead: (overview time − slowest producer's time), p50 and p99.

Ten source systems (the demo's five and five copies under their own logical addresses, see
`_producers.py`), every contract enabled, every producer answering in 100 ms. One clinician
opens a typical patient's overview (`GET /api/records`) again and again, one at a time.

* overview time: the clinician's wall time of `GET /api/records`, as the browser sees it;
* slowest producer's time: the longest handling time any producer reported for that overview's
  correlation id (request arrival to answer ready, including the 100 ms);
* raw fan-out, measured in the same run between overviews: the same requests sent by the
  benchmark itself straight to the producers with aiohttp (no npo): what fan-out costs in Python
  on this machine at all.

Target: overhead ≤ 25 ms p50.

Also, in the benchmark process: what one read of the guards costs (`GuardStore.snapshot`: the guard
epoch, the patient's consents at the clinician's care provider, blocks and revokes, in one SQLite read
transaction), which a read does before fetching and again before deciding.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as b  # noqa: E402


async def producer_max(control: str, cid: str) -> tuple[float, int]:
    times = await b.bench_get(control, f"/times?cid={cid}")
    return (max(t[2] for t in times) if times else float("nan")), len(times)


async def one_run(args, producers: b.Child, server: b.Child, contracts, report_runs: dict, profile: str | None):
    control = producers.info["control"]
    http = b.Http(server.info["url"])
    await http.login()
    await http.consent(args.patient)
    raw = b.raw_session()
    try:
        for _ in range(args.warmup):
            await http.records()
            await b.fetch_answers(raw, producers.info["sources"], contracts, args.patient)
        if profile:
            await b.bench_get(server.info["url"], "/-/bench/profile/start")
        over, raw_over, server_s, sizes, calls, slowest, floor = [], [], [], [], [], [], []
        for _ in range(args.samples):
            srv, wall, body, _n = await http.records()
            cid = body["request_id"]
            pmax, n = await producer_max(control, cid)
            over.append(wall - pmax)
            slowest.append(pmax)
            server_s.append(srv)
            calls.append(n)
            sizes.append(len(body["records"]))
            # the same fan-out without npo
            rid = str(uuid.uuid4())
            t0 = time.perf_counter()
            answers = await b.fetch_answers(raw, producers.info["sources"], contracts, args.patient,
                                            correlation_id=rid)
            rwall = time.perf_counter() - t0
            rmax, _ = await producer_max(control, rid)
            raw_over.append(rwall - rmax)
            parse_s, _, _ = b.floor_seconds(answers, None)  # lxml parse of the same bytes, in this process
            floor.append(parse_s)
        if profile:
            await b.bench_get(server.info["url"], f"/-/bench/profile/stop?path={profile}")
        st = await b.bench_get(server.info["url"], "/-/bench/stats")
        reads = [r for r in st["reads"] if r["path"] == "/api/records"][-args.samples:]
        b.assert_ok(reads)
        decode_s = [r["decode_s"] for r in reads]
        log_s = [r["log_s"] for r in reads]
        fetched = [r["bytes"] for r in reads]
    finally:
        await raw.close()
        await http.close()
    for key, values in (("p50", b.pct(over, 50)), ("p99", b.pct(over, 99)), ("raw_p50", b.pct(raw_over, 50)),
                        ("raw_p99", b.pct(raw_over, 99)), ("slowest", b.median(slowest)),
                        ("server", b.median(server_s)), ("client_minus_server", b.median(
                            [o + s - srv for o, s, srv in zip(over, slowest, server_s)])),
                        ("decode_sum", b.median(decode_s)), ("log", b.median(log_s)),
                        ("calls", b.median(calls)), ("records", b.median(sizes)), ("bytes", b.median(fetched)),
                        ("floor", b.median(floor)), ("over_floor", b.pct(over, 50) / b.median(floor))):
        report_runs.setdefault(key, []).append(values)


def guard_read_us(patient: str, repeat: int = 2000, rounds: int = 7) -> float | None:
    """µs per `GuardStore.snapshot` for `patient` with one consent, the demo blocks seeded; None without it."""
    import contextlib
    import datetime as dt
    import io

    from npo_core.demo import seed_blocks
    from npo_core.guards import GuardStore, now
    from npo_core.registry import Registry

    if not hasattr(GuardStore, "snapshot"):
        return None
    provider, unit = "SE2321000016-F0VB", "SE2321000016-9RKT"  # Anna's assignment: Gubbängens vårdcentral
    with tempfile.TemporaryDirectory(prefix="npo-bench-") as wd, contextlib.redirect_stderr(io.StringIO()):
        guards = GuardStore(Registry(Path(wd) / "registry.db").path)
        try:
            seed_blocks(guards)
            start = now()
            _, sql = guards.consent_insert_sql(assertion_type="Consent", patient_id=patient, care_provider_id=provider,
                                               care_unit_id=unit, employee_id=None, start=start,
                                               end=start + dt.timedelta(days=365), registered_by=b.ANNA[0],
                                               assignment_id=b.ANNA[1])
            guards.admin_change(b.ANNA[0], "register_consent", patient, [sql])
            for _ in range(200):
                guards.snapshot(patient, provider)
            samples = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                for _ in range(repeat):
                    guards.snapshot(patient, provider)
                samples.append((time.perf_counter() - t0) / repeat * 1e6)
        finally:
            guards.close()
    return b.median(samples)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.common_args(p, runs=3)
    b.profile_arg(p)
    p.add_argument("--sources", type=int, default=10)
    p.add_argument("--latency", type=float, default=0.1, help="every producer answers in this many seconds")
    p.add_argument("--samples", type=int, default=60, help="overviews per run")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--patient", default=b.TYPICAL[0], help="a typical patient (default Fiona Andersdotter)")
    args = p.parse_args()
    if args.smoke:
        args.runs, args.samples, args.warmup, args.latency = 1, 4, 1, 0.02
    report = b.Report(f"Fan-out overhead: {args.sources} producers answering in {args.latency * 1000:.0f} ms", args)
    print(report.title, flush=True)
    contracts = b.plugin_contracts()
    runs: dict = {}
    with b.start_producers(sources=args.sources, latency=args.latency) as producers:
        for i in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="npo-bench-") as wd, \
                    b.start_server(producers, Path(wd)) as server:
                b.run(one_run(args, producers, server, contracts, runs, None))
            print(f"run {i + 1}: overhead p50 {b.ms(runs['p50'][-1]):.1f} ms, p99 {b.ms(runs['p99'][-1]):.1f} ms; "
                  f"raw fan-out p50 {b.ms(runs['raw_p50'][-1]):.1f} ms", flush=True)
        if args.profile:
            with tempfile.TemporaryDirectory(prefix="npo-bench-") as wd, \
                    b.start_server(producers, Path(wd), inline=True) as server:
                b.run(one_run(args, producers, server, contracts, {}, args.profile))
            b.print_profile(args.profile)
    msr = lambda k: [round(b.ms(v), 2) for v in runs[k]]  # noqa: E731
    p50 = b.median(msr("p50"))
    report.add("overview − slowest producer, p50", p50, "ms", target="≤ 25 ms", met=p50 <= 25, runs=msr("p50"))
    report.add("overview − slowest producer, p99", b.median(msr("p99")), "ms", runs=msr("p99"))
    report.add("raw aiohttp fan-out − slowest producer, p50 (no npo)", b.median(msr("raw_p50")), "ms",
               runs=msr("raw_p50"))
    report.add("raw aiohttp fan-out − slowest producer, p99 (no npo)", b.median(msr("raw_p99")), "ms",
               runs=msr("raw_p99"))
    ratios = [a / r for a, r in zip(runs["p50"], runs["raw_p50"]) if r > 0]
    report.add("npo overhead ÷ raw fan-out overhead (p50, same run)", b.median(ratios), "×",
               runs=[round(x, 1) for x in ratios])
    report.add("lxml parse of the same bytes (floor, bench process)", b.median(msr("floor")), "ms", runs=msr("floor"))
    report.add("npo overhead p50 ÷ that parse (same run)", b.median(runs["over_floor"]), "×",
               runs=[round(x, 1) for x in runs["over_floor"]])
    report.add("slowest producer (median)", b.median(msr("slowest")), "ms")
    report.add("producer calls per overview", b.median(runs["calls"]), "")
    report.add("records shown per overview", b.median(runs["records"]), "")
    report.add("bytes fetched per overview", b.median(runs["bytes"]) / 1e6, "MB")
    report.add("server time of GET /api/records (median)", b.median(msr("server")), "ms", runs=msr("server"))
    report.add("  of which: sum of decode awaits over all answers (overlapping)", b.median(msr("decode_sum")), "ms")
    report.add("  of which: durable access-log append", b.median(msr("log")), "ms")
    report.add("client wall − server time (HTTP to npo and back)", b.median(msr("client_minus_server")), "ms")
    guard_us = guard_read_us(args.patient, *((200, 3) if args.smoke else ()))
    if guard_us is not None:
        report.add("one read of the guards (GuardStore.snapshot; a read does two), bench process", guard_us, "µs")
    report.note(f"{args.sources} source systems over {len(contracts)} contracts; patient {args.patient}; "
                f"{args.samples} sequential overviews per run, {args.runs} runs, each with a fresh npo server; "
                f"producers cache their answers after the warm-up, so their CPU is not npo's")
    report.write()


if __name__ == "__main__":
    main()
