"""5. Memory: peak RSS of the npo server while it opens the heavy patient.

Every run starts a fresh npo server, warms it with a typical patient (plugins imported, schemas
compiled, connections open), collects garbage and resets the kernel's peak-RSS mark of the server
process (`/proc/self/clear_refs` 5; a 5 ms RSS sampler in the server as a fallback), then opens the
heavy patient once (`GET /api/records`, or `--page html` for `GET /patient`).

* response size: the bytes npo fetched from the producers for that overview;
* peak growth: peak RSS during the overview − RSS just before it.

Target: peak growth ≤ 6× the response size.

`--hostile`: a typical patient (Fiona Andersdotter) whose overview includes, besides the five demo
source systems, an attacker's producer (`_producers.py --hostile`): every contract answered with as
many records as fit in npo's 15 MiB body limit, GetCareDocumentation 3 always saying hasMore with new
ids on every page. Measured as above (peak RSS of the server during that one read), with the JSON
body's size, the records shown and every source's status; the read must stay within npo's per-source
and per-read caps (`npo_core.access.MAX_READ_BYTES`, `MAX_READ_RECORDS`) where npo has them.
`--hostile-bytes N` sizes the hostile answers (an attacker does best just under a cap);
`--honest-latency S` lets the demo sources answer S seconds after the hostile one.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as b  # noqa: E402


async def one_run(args, server, runs: dict) -> None:
    url = server.info["url"]
    http = b.Http(url)
    try:
        await http.login()
        await http.consent(b.TYPICAL[0])
        for _ in range(2):
            await http.records()
        await http.consent(b.HEAVY)
        before = await b.bench_get(url, "/-/bench/reset")
        if args.page == "html":
            _srv, _wall, out_bytes = await http.page()
        else:
            _srv, _wall, _body, out_bytes = await http.records()
        st = await b.bench_get(url, "/-/bench/stats")
    finally:
        await http.close()
    read = st["reads"][-1]
    b.assert_ok([read])
    peak = max(st["hwm_kb"] if before["peak_reset"] else 0, st["rss_peak_sampled_kb"])
    growth = (peak - before["rss_kb"]) * 1024
    for k, v in (("response_mb", read["bytes"] / 1e6), ("baseline_mb", before["rss_kb"] / 1024),
                 ("peak_mb", peak / 1024), ("growth_mb", growth / 1e6), ("ratio", growth / read["bytes"]),
                 ("abs_ratio", peak * 1024 / read["bytes"]), ("out_mb", out_bytes / 1e6),
                 ("after_mb", st["rss_kb"] / 1024), ("records", read["records_shown"]),
                 ("hwm_used", 1.0 if before["peak_reset"] else 0.0)):
        runs.setdefault(k, []).append(v)


async def one_hostile_run(args, server, producers, runs: dict) -> None:
    """Warm up on a patient the hostile source has nothing for, then read the one it floods."""
    url = server.info["url"]
    hostile = producers.info["hostile"]["address"]
    http = b.Http(url)
    try:
        await http.login()
        await http.consent(b.TYPICAL[1])
        for _ in range(2):
            await http.records()
        await http.consent(b.TYPICAL[0])
        before = await b.bench_get(url, "/-/bench/reset")
        srv, _wall, body, out_bytes = await http.records()
        st = await b.bench_get(url, "/-/bench/stats")
    finally:
        await http.close()
    read = st["reads"][-1]
    peak = max(st["hwm_kb"] if before["peak_reset"] else 0, st["rss_peak_sampled_kb"])
    statuses = collections.Counter()
    honest_bad = []
    for s in body["sources"]:
        if s["logical_address"] == hostile:
            statuses[s["status"]] += 1
        elif s["status"] not in ("ok", "info"):
            honest_bad.append(f"{s['logical_address']} {s['contract']}: {s['status']}")
    from_hostile = sum(s.get("records", 0) for s in body["sources"] if s["logical_address"] == hostile)
    for k, v in (("fetched_mb", read["bytes"] / 1e6), ("calls", read["calls"]),
                 ("baseline_mb", before["rss_kb"] * 1024 / 1e6),
                 ("peak_mb", peak * 1024 / 1e6), ("growth_mb", (peak - before["rss_kb"]) * 1024 / 1e6),
                 ("out_mb", out_bytes / 1e6), ("after_mb", st["rss_kb"] * 1024 / 1e6),
                 ("records", len(body["records"])), ("from_hostile", from_hostile), ("server_s", srv),
                 ("honest_bad", len(honest_bad)),
                 ("hwm_used", 1.0 if before["peak_reset"] else 0.0)):
        runs.setdefault(k, []).append(v)
    runs.setdefault("statuses", []).append(statuses)
    runs.setdefault("honest_bad_list", []).append(honest_bad)
    runs.setdefault("messages", []).append(sorted({s["message"] for s in body["sources"]
                                                   if s["logical_address"] == hostile and s.get("message")}))


def hostile_main(args, bundle, validate) -> None:
    from npo_core import access, soap

    # npo's caps (an older npo, e.g. a base worktree, has none): per contract at a source, per source, per read
    caps = {k: getattr(access, f"MAX_{k}", None) for k in ("CONTRACT_BYTES", "CONTRACT_RECORDS", "SOURCE_BYTES",
                                                          "SOURCE_RECORDS", "READ_BYTES", "READ_RECORDS")}
    MAX_READ_BYTES, MAX_READ_RECORDS = caps["READ_BYTES"], caps["READ_RECORDS"]

    size = args.hostile_bytes or (300_000 if args.smoke else soap.MAX_BODY_BYTES - 4096)
    report = b.Report(f"Memory: a hostile source in a typical overview (every answer {size / 2**20:.1f} MiB, "
                      "endless hasMore" + (f"; the other sources answer in {args.honest_latency * 1000:.0f} ms"
                                           if args.honest_latency else "") + ")", args)
    print(report.title, flush=True)
    argv = [str(b.HERE / "_producers.py"), "--sources", "5", "--latency", str(args.honest_latency),
            "--hostile", b.TYPICAL[0], "--hostile-bytes", str(size), "--hostile-latency", "0"]
    runs: dict = {}
    with b.Child(argv, "producers", timeout=600) as producers:
        info = producers.info["hostile"]
        for i in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="npo-bench-") as wd, \
                    b.start_server(producers, Path(wd), validate=validate, bundle=bundle, deadline=600) as server:
                b.run(one_hostile_run(args, server, producers, runs))
            print(f"run {i + 1}: fetched {runs['fetched_mb'][-1]:.1f} MB in {runs['calls'][-1]} calls, RSS "
                  f"{runs['baseline_mb'][-1]:.0f} → peak {runs['peak_mb'][-1]:.0f} MB, "
                  f"JSON {runs['out_mb'][-1]:.1f} MB, "
                  f"{runs['records'][-1]} records shown, hostile source: {dict(runs['statuses'][-1])}", flush=True)
    r = lambda k: [round(v, 2) for v in runs[k]]  # noqa: E731
    m = lambda k: b.median(r(k))  # noqa: E731
    fetched = m("fetched_mb")
    cap_mb = MAX_READ_BYTES / 1e6 if MAX_READ_BYTES else None
    report.add("answers received whole (bytes npo read from producers)", fetched, "MB", runs=r("fetched_mb"),
               **({"target": f"≤ {cap_mb:.0f} MB ({MAX_READ_BYTES // 2**20} MiB, MAX_READ_BYTES)",
                   "met": max(r("fetched_mb")) <= cap_mb} if cap_mb else {}))
    report.add("producer calls", m("calls"), "", runs=r("calls"))
    records = m("records")
    report.add("records shown", records, "", runs=r("records"),
               **({"target": f"≤ {MAX_READ_RECORDS:,}", "met": max(r("records")) <= MAX_READ_RECORDS}
                  if MAX_READ_RECORDS else {}))
    report.add("  of which from the hostile source", m("from_hostile"), "", runs=r("from_hostile"))
    report.add("answer size (JSON)", m("out_mb"), "MB", runs=r("out_mb"))
    report.add("peak RSS", m("peak_mb"), "MB", runs=r("peak_mb"))
    report.add("peak RSS growth", m("growth_mb"), "MB", runs=r("growth_mb"))
    report.add("RSS before (warm server)", m("baseline_mb"), "MB")
    report.add("RSS after the overview", m("after_mb"), "MB")
    report.add("server time of GET /api/records", m("server_s") * 1000, "ms",
               runs=[round(v * 1000) for v in runs["server_s"]])
    report.add("honest sources' answers not complete", m("honest_bad"), "", runs=r("honest_bad"))
    status_runs = "; ".join(", ".join(f"{k} {v}" for k, v in sorted(st.items())) or "none visible"
                            for st in runs["statuses"])
    report.note(f"hostile source {info['address']} ({len(info['answer_bytes'])} contracts), its statuses per run: "
                f"{status_runs}")
    for msg in sorted({text for texts in runs["messages"] for text in texts}):
        report.note(f"its message: {msg}")
    if runs["honest_bad_list"][-1]:
        report.note("honest sources not complete in the last run: " + "; ".join(runs["honest_bad_list"][-1][:8]))
    sizes = sorted(info["answer_bytes"].values())
    report.note(f"every hostile answer {sizes[0] / 1e6:.2f}–{sizes[-1] / 1e6:.2f} MB, "
                f"{min(info['answer_records'].values()):,}–{max(info['answer_records'].values()):,} records "
                f"({sum(info['answer_records'].values()):,} on the first pages); npo's caps: "
                + (", ".join(f"per {what} {caps[k + '_BYTES'] // 2**20} MiB / {caps[k + '_RECORDS']:,} records"
                             for k, what in (("CONTRACT", "contract at a source"), ("SOURCE", "source"),
                                             ("READ", "read")) if caps[k + "_BYTES"])
                   or "none (before the caps)"))
    how = "kernel VmHWM after clear_refs" if all(runs["hwm_used"]) else "5 ms RSS sampling (clear_refs unavailable)"
    report.note(f"peak from {how}; npo validates: {'yes' if validate else 'no'}; one fresh server per run; "
                f"patient {b.TYPICAL[0]}, 5 demo source systems + the hostile one, "
                + (f"the demo ones answering in {args.honest_latency * 1000:.0f} ms, the hostile one at once"
                   if args.honest_latency else "answering at once"))
    report.write()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.common_args(p, runs=3)
    p.add_argument("--target-mb", type=float, default=10.0, help="the heavy patient's size in all; 0: as generated")
    p.add_argument("--page", choices=("json", "html"), default="json")
    p.add_argument("--no-validate", action="store_true")
    p.add_argument("--hostile", action="store_true", help="a typical patient with an attacker's source (see above)")
    p.add_argument("--hostile-bytes", type=int, default=0, help="size of each hostile answer (default: the body limit)")
    p.add_argument("--honest-latency", type=float, default=0.0,
                   help="with --hostile: the demo source systems answer after this many seconds, the hostile one "
                         "at once")
    args = p.parse_args()
    if args.hostile:
        if args.smoke:
            args.runs = 1
        bundle = b.find_bundle(args.bundle)
        return hostile_main(args, bundle, bool(bundle) and not args.no_validate)
    scale_args = ["--target-mb", f"{b.HEAVY}={args.target_mb}"] if args.target_mb else []
    if args.smoke:
        args.runs = 1
        scale_args = ["--scale", f"{b.HEAVY}=0.02"]
    bundle = b.find_bundle(args.bundle)
    validate = bool(bundle) and not args.no_validate
    size = ("records scaled by 0.02 (smoke)" if args.smoke else f"scaled to ≈{args.target_mb:g} MB"
            if args.target_mb else "as generated")
    report = b.Report(f"Memory: peak RSS while opening Linda Johansson, {size}", args)
    print(report.title, flush=True)
    runs: dict = {}
    producers = b.Child([str(b.HERE / "_producers.py"), "--sources", "5", "--latency", "0", *scale_args],
                        "producers", timeout=300)
    with producers:
        for i in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="npo-bench-") as wd, \
                    b.start_server(producers, Path(wd), validate=validate, bundle=bundle, deadline=600) as server:
                b.run(one_run(args, server, runs))
            print(f"run {i + 1}: response {runs['response_mb'][-1]:.1f} MB, RSS {runs['baseline_mb'][-1]:.0f} → peak "
                  f"{runs['peak_mb'][-1]:.0f} MB, growth {runs['ratio'][-1]:.1f}× the response", flush=True)
    r = lambda k: [round(v, 2) for v in runs[k]]  # noqa: E731
    m = lambda k: b.median(r(k))  # noqa: E731
    ratio = m("ratio")
    report.add("response size (bytes fetched from producers)", m("response_mb"), "MB", runs=r("response_mb"))
    report.add("records shown", m("records"), "")
    report.add("peak RSS growth ÷ response size", ratio, "×", target="≤ 6×", met=ratio <= 6, runs=r("ratio"))
    report.add("peak RSS growth", m("growth_mb"), "MB", runs=r("growth_mb"))
    report.add("RSS before (warm server)", m("baseline_mb"), "MB")
    report.add("peak RSS", m("peak_mb"), "MB", runs=r("peak_mb"))
    report.add("peak RSS ÷ response size (whole process)", m("abs_ratio"), "×")
    report.add("RSS after the overview", m("after_mb"), "MB")
    report.add(f"answer size ({'HTML' if args.page == 'html' else 'JSON'})", m("out_mb"), "MB")
    how = "kernel VmHWM after clear_refs" if all(runs["hwm_used"]) else "5 ms RSS sampling (clear_refs unavailable)"
    report.note(f"peak from {how}; npo validates: {'yes' if validate else 'no'}; one fresh server per run")
    if producers.info.get("full_mb") and not args.smoke:
        report.note(f"Linda as generated today: ≈{producers.info['full_mb'][b.HEAVY]:.0f} MB; scaled by "
                    f"{producers.info['scale'][b.HEAVY]:.3f}")
    report.write()


if __name__ == "__main__":
    main()
