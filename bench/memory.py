"""5. Memory: peak RSS of the npo server while it opens the heavy patient.

Every run starts a fresh npo server, warms it with a typical patient (plugins imported, schemas
compiled, connections open), collects garbage and resets the kernel's peak-RSS mark of the server
process (`/proc/self/clear_refs` 5; a 5 ms RSS sampler in the server as a fallback), then opens the
heavy patient once (`GET /api/records`, or `--page html` for `GET /patient`).

* response size: the bytes npo fetched from the producers for that overview;
* peak growth: peak RSS during the overview − RSS just before it.

Target: peak growth ≤ 6× the response size.
"""

from __future__ import annotations

import argparse
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
            _srv, _wall, out_bytes = await http.page("/patient")
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.common_args(p, runs=3)
    p.add_argument("--target-mb", type=float, default=10.0, help="the heavy patient's size in all; 0: as generated")
    p.add_argument("--page", choices=("json", "html"), default="json")
    p.add_argument("--no-validate", action="store_true")
    args = p.parse_args()
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
