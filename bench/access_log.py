"""4. The access log: durable entries per second, and the latency it adds to an overview.

Part A, npo's `GuardStore` alone (WAL, synchronous=FULL, one writer thread, hash chain), on a
fresh registry.db in a temporary folder on this machine's disk:

* one entry per transaction, sequential (`append_sync`);
* one overview's entries per transaction (`--entries`, the number of (provider, unit, contract)
  groups an overview logs), sequential;
* the same through `await append(...)` from `--concurrency` coroutines at once: the single writer
  thread serialises them, one transaction each, so waits queue up.

Part B, in a running npo server (producers answering in `--latency`):

* the time `read` awaits the durable append, per overview (a wrapper in the server process),
  sequentially and with `--concurrency` overviews at once;
* A/B in the same run: overviews alternate between the real append and a bench-only stand-in that
  returns at once (`/-/bench/nolog/on`, in the benchmark's server process only); the difference of
  the medians is what logging adds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as b  # noqa: E402


def entries(n: int, request_id: str | None = None):
    from npo_core.guards import LogEntry

    rid = request_id or str(uuid.uuid4())
    return [LogEntry(request_id=rid, user_id="SE2321000016-1001", assignment_id="SE2321000016-1001-U1",
                     assignment_name="Läkare, Gubbängens vårdcentral", user_care_unit_id="SE2321000016-9RKT",
                     user_care_provider_id="SE2321000016-F0VB", patient_id="199701062383", activity="Läsa",
                     action="read", resource_care_provider_id="SE2321000131-E000000000001",
                     resource_care_unit_id=f"SE2321000131-E0000000{i:03d}", contract="GetDiagnosis:2",
                     record_count=i + 1) for i in range(n)]


def part_a(args, runs: dict) -> None:
    from npo_core.guards import ENTRY_FIELDS, GuardStore, chain_hash
    from npo_core.registry import Registry

    with tempfile.TemporaryDirectory(prefix="npo-bench-log-") as wd:
        Registry(Path(wd) / "registry.db").close()
        store = GuardStore(Path(wd) / "registry.db")
        try:
            store.append_sync(entries(1))  # the writer connection exists
            for label, per_tx in (("one", 1), ("overview", args.entries)):
                lat = []
                t_end = time.perf_counter() + args.seconds
                t0 = time.perf_counter()
                while time.perf_counter() < t_end:
                    batch = entries(per_tx)
                    s = time.perf_counter()
                    store.append_sync(batch)
                    lat.append(time.perf_counter() - s)
                spent = time.perf_counter() - t0
                runs.setdefault(f"{label}_eps", []).append(len(lat) * per_tx / spent)
                runs.setdefault(f"{label}_tps", []).append(len(lat) / spent)
                runs.setdefault(f"{label}_p50", []).append(b.pct(lat, 50))
                runs.setdefault(f"{label}_p99", []).append(b.pct(lat, 99))

            async def concurrent():
                lat = []
                t_end = time.perf_counter() + args.seconds

                async def worker():
                    while time.perf_counter() < t_end:
                        batch = entries(args.entries)
                        s = time.perf_counter()
                        await store.append(batch)
                        lat.append(time.perf_counter() - s)

                t0 = time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(args.concurrency)))
                return lat, time.perf_counter() - t0

            lat, spent = asyncio.run(concurrent())
            runs.setdefault("conc_eps", []).append(len(lat) * args.entries / spent)
            runs.setdefault("conc_tps", []).append(len(lat) / spent)
            runs.setdefault("conc_p50", []).append(b.pct(lat, 50))
            runs.setdefault("conc_p99", []).append(b.pct(lat, 99))
            # the CPU part of one entry: its JSON and its keyed hash (bench/log_seal.py compares it with SHA-256)
            batch = entries(1000)
            import json

            s = time.perf_counter()
            prev = "0" * 64
            for e in batch:  # as GuardStore._commit builds a row
                values = {k: getattr(e, k) for k in ENTRY_FIELDS}
                values["time"] = "2026-11-01T12:00:00+01:00"
                values["detail"] = json.dumps(e.detail, ensure_ascii=False, sort_keys=True)
                prev = chain_hash(prev, values, store.key.hmac_key)
            runs.setdefault("hash_us", []).append((time.perf_counter() - s) / len(batch) * 1e6)
            ok, count, _ = store.verify()
            runs.setdefault("chain_ok", []).append(ok)
        finally:
            store.close()


async def part_b(args, server, runs: dict) -> None:
    url = server.info["url"]
    clients = [b.Http(url) for _ in range(args.concurrency)]
    try:
        for c in clients:
            await c.login()
        await clients[0].consent(b.TYPICAL[0])
        for c in clients[1:]:
            await c.open(b.TYPICAL[0])
        for _ in range(args.warmup):
            await clients[0].records()
        with_log, without_log = [], []
        for i in range(args.samples * 2):
            nolog = i % 2 == 1
            await b.bench_get(url, f"/-/bench/nolog/{'on' if nolog else 'off'}")
            srv, _wall, body, _n = await clients[0].records()
            (without_log if nolog else with_log).append(srv)
        await b.bench_get(url, "/-/bench/nolog/off")
        st = await b.bench_get(url, "/-/bench/stats")
        sequential = st["reads"][-args.samples * 2:]
        b.assert_ok(sequential)
        log_wait = [r["log_s"] for r in sequential[0::2]]  # the even ones had the real log
        seq_entries = [r["log_entries"] for r in sequential[0::2]]
        await b.bench_get(url, "/-/bench/reset")
        for _ in range(max(1, args.samples // 4)):  # everyone at once
            await asyncio.gather(*(c.records() for c in clients))
        st = await b.bench_get(url, "/-/bench/stats")
        b.assert_ok(st["reads"])
        conc_wait = [r["log_s"] for r in st["reads"]]
        conc_server = [r["server_s"] for r in st["reads"]]
    finally:
        for c in clients:
            await c.close()
    real = log_wait
    runs.setdefault("b_with", []).append(statistics.median(with_log))
    runs.setdefault("b_without", []).append(statistics.median(without_log))
    runs.setdefault("b_diff", []).append(statistics.median(with_log) - statistics.median(without_log))
    runs.setdefault("b_wait_p50", []).append(b.pct(real, 50))
    runs.setdefault("b_wait_p99", []).append(b.pct(real, 99))
    runs.setdefault("b_entries", []).append(statistics.median(seq_entries))
    runs.setdefault("b_conc_wait_p50", []).append(b.pct(conc_wait, 50))
    runs.setdefault("b_conc_wait_p99", []).append(b.pct(conc_wait, 99))
    runs.setdefault("b_conc_share", []).append(statistics.median(w / s for w, s in zip(conc_wait, conc_server)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.common_args(p, runs=3)
    p.add_argument("--seconds", type=float, default=5.0, help="length of each part-A measurement")
    p.add_argument("--entries", type=int, default=30, help="entries one overview logs in one transaction")
    p.add_argument("--concurrency", type=int, default=20)
    p.add_argument("--samples", type=int, default=30, help="overviews per A/B side in part B")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--latency", type=float, default=0.1)
    args = p.parse_args()
    if args.smoke:
        args.runs, args.seconds, args.samples, args.concurrency, args.warmup, args.latency = 1, 0.5, 3, 4, 1, 0.02
    report = b.Report("Access log: durable entries per second and the latency it adds", args)
    print(report.title, flush=True)
    runs: dict = {}
    for i in range(args.runs):
        part_a(args, runs)
        print(f"run {i + 1} (A): {runs['one_eps'][-1]:,.0f} entries/s one per transaction, "
              f"{runs['overview_eps'][-1]:,.0f} entries/s {args.entries} per transaction", flush=True)
    with b.start_producers(sources=5, latency=args.latency) as producers:
        for i in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="npo-bench-") as wd, b.start_server(producers, Path(wd)) as server:
                b.run(part_b(args, server, runs))
            print(f"run {i + 1} (B): log adds {b.ms(runs['b_diff'][-1]):.1f} ms to an overview; await p50 "
                  f"{b.ms(runs['b_wait_p50'][-1]):.1f} ms", flush=True)
    r = lambda k, f=lambda x: x: [round(f(v), 2) for v in runs[k]]  # noqa: E731
    m = lambda k, f=lambda x: x: b.median(r(k, f))  # noqa: E731
    report.add("durable entries/s, 1 entry per transaction (append_sync)", m("one_eps"), "/s", runs=r("one_eps"))
    report.add("  commit latency p50", m("one_p50", b.ms), "ms")
    report.add("  commit latency p99", m("one_p99", b.ms), "ms")
    report.add(f"durable entries/s, {args.entries} per transaction (append_sync)", m("overview_eps"), "/s",
               runs=r("overview_eps"))
    report.add("  transactions/s", m("overview_tps"), "/s")
    report.add("  commit latency p50", m("overview_p50", b.ms), "ms")
    report.add("  commit latency p99", m("overview_p99", b.ms), "ms")
    report.add(f"durable entries/s, {args.concurrency} concurrent `await append` of {args.entries}", m("conc_eps"),
               "/s", runs=r("conc_eps"))
    report.add("  transactions/s", m("conc_tps"), "/s")
    report.add("  await latency p50", m("conc_p50", b.ms), "ms")
    report.add("  await latency p99", m("conc_p99", b.ms), "ms")
    report.add("JSON + HMAC-SHA256 chain hash per entry (CPU)", m("hash_us"), "µs")
    report.add("hash chain intact after the runs (npo log verify)", str(all(runs["chain_ok"])), "")
    report.add("overview server time with the durable log (median)", m("b_with", b.ms), "ms", runs=r("b_with", b.ms))
    report.add("overview server time with the log stubbed out (median)", m("b_without", b.ms), "ms",
               runs=r("b_without", b.ms))
    report.add("latency the log adds to an overview (A/B difference of medians)", m("b_diff", b.ms), "ms",
               runs=r("b_diff", b.ms))
    report.add("read's await of the append, sequential, p50", m("b_wait_p50", b.ms), "ms", runs=r("b_wait_p50", b.ms))
    report.add("read's await of the append, sequential, p99", m("b_wait_p99", b.ms), "ms")
    report.add("entries per overview (typical patient)", m("b_entries"), "")
    report.add(f"read's await of the append, {args.concurrency} overviews at once, p50", m("b_conc_wait_p50", b.ms),
               "ms", runs=r("b_conc_wait_p50", b.ms))
    report.add(f"read's await of the append, {args.concurrency} overviews at once, p99", m("b_conc_wait_p99", b.ms),
               "ms", runs=r("b_conc_wait_p99", b.ms))
    report.add("  as a share of those overviews' server time (median)", m("b_conc_share") * 100, "%")
    report.note(f"registry.db in {tempfile.gettempdir()} (same disk as the repository); WAL, synchronous=FULL, "
                f"as npo opens it; part B: 5 producers answering in {args.latency * 1000:.0f} ms, patient "
                f"{b.TYPICAL[0]}")
    report.write()


if __name__ == "__main__":
    main()
