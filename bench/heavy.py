"""2. A heavy patient: server-side time to fetch, decide, log and render, against a floor.

The heavy patient is Linda Johansson (189908029805) as the demo's contract plugins generate her,
every contract enabled, five source systems. `--target-mb` scales her records in every answer
(the producers keep a share, or repeat records under new ids) so that all answers together are
about that size; `--target-mb 0` takes her as generated.

* server time: the npo server's own time for `GET /api/records` (JSON) and `GET /patient` (the
  HTML overview), from the request reaching the app to the answer ready to send, taken by a
  middleware in the server process (`X-Bench-Server-Seconds`);
* floor, measured in the same run between overviews, in the benchmark process: lxml parse
  (npo's hardened parser) + libxml2 validation against the official RIV-TA bundle of exactly
  the bytes npo fetched (fetched again from the same producers, whose answers are cached);
* npo validates too (`validate_responses` on) when a bundle is found, so both sides do the same
  XML work; `--no-validate` to compare with validation off.

Targets: server time ≤ 2× the floor and ≤ 40 ms per MB fetched.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as b  # noqa: E402


async def one_run(args, producers, server, contracts, schemas, runs: dict, idx: int, profile: str | None):
    url = server.info["url"]
    http = b.Http(url)
    await http.login()
    await http.consent(b.HEAVY)
    raw = b.raw_session()
    try:
        answers = []
        for _ in range(args.warmup):
            await http.records()
            answers = await b.fetch_answers(raw, producers.info["sources"], contracts, b.HEAVY)
            b.floor_seconds(answers, schemas)  # compiles the schemas, warms the parser
            b.normalise_seconds(answers)
        if profile:
            await b.bench_get(url, "/-/bench/profile/start")
        for _ in range(args.samples):
            srv, wall, body, json_bytes = await http.records()
            st = await b.bench_get(url, "/-/bench/stats")
            ph = st["reads"][-1]
            b.assert_ok([ph])
            await http.open(b.HEAVY)  # a new look at her: the page fetches, as the JSON overview did
            html_srv, _html_wall, html_bytes = await http.page()
            parse_s, valid_s, size = b.floor_seconds(answers, schemas)
            norm_s = b.normalise_seconds(answers)
            floor = parse_s + valid_s
            mb = ph["bytes"] / 1e6
            lags = st["heavy_lags"]
            for where, n in (st.get("stalls") or {}).get("where", []):
                runs.setdefault("stall_where", {}).setdefault(where, 0)
                runs["stall_where"][where] += n
            for key, value in (("server", srv), ("html", html_srv), ("floor", floor), ("parse", parse_s),
                               ("validate", valid_s), ("normalise", norm_s), ("ratio", srv / floor),
                               ("html_ratio", html_srv / floor), ("ms_per_mb", b.ms(srv) / mb),
                               ("html_ms_per_mb", b.ms(html_srv) / mb), ("mb", mb), ("floor_mb", size / 1e6),
                               ("records", ph["records_shown"]), ("withheld", ph["withheld"]),
                               ("decode_max", ph["decode_max_s"]), ("log", ph["log_s"]),
                               ("json_mb", json_bytes / 1e6), ("html_mb", html_bytes / 1e6),
                               ("lag_max", max(lags) if lags else 0.0), ("wall", wall),
                               ("fan_out", ph["fan_out_s"]),
                               ("decide", ph["read_s"] - ph["fan_out_s"] - ph["log_s"]),
                               ("render", ph["server_s"] - ph["read_s"]),
                               ("statuses", ",".join(ph["statuses"]))):
                runs.setdefault(key, [[] for _ in range(max(args.runs, idx + 1))])[idx].append(value)
            await b.bench_get(url, "/-/bench/reset")
        if profile:
            await b.bench_get(url, f"/-/bench/profile/stop?path={profile}")
    finally:
        await raw.close()
        await http.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.common_args(p, runs=3)
    b.profile_arg(p)
    p.add_argument("--target-mb", type=float, default=10.0, help="the heavy patient's size in all; 0: as generated")
    p.add_argument("--latency", type=float, default=0.0, help="producers' answer time (0: as fast as they can)")
    p.add_argument("--samples", type=int, default=3, help="overviews per run")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--no-validate", action="store_true", help="npo does not validate (the floor still does)")
    args = p.parse_args()
    scale = {}
    if args.smoke:
        args.runs, args.samples, args.warmup = 1, 1, 1
        scale = {b.HEAVY: 0.02}  # a fixed share: no size estimate at start-up
    bundle = b.find_bundle(args.bundle)
    validate = bool(bundle) and not args.no_validate
    from npo_core.schemas import SchemaSet

    schemas = SchemaSet(bundle) if bundle else None
    size = (f"records scaled by {scale[b.HEAVY]}" if scale else
            f"scaled to ≈{args.target_mb:g} MB" if args.target_mb else "as generated")
    report = b.Report(f"Heavy patient: Linda Johansson, {size}", args)
    print(report.title, flush=True)
    contracts = b.plugin_contracts()
    runs: dict = {}
    argv_scale = {} if scale else ({b.HEAVY: None} if args.target_mb else {})
    producers = b.Child([str(b.HERE / "_producers.py"), "--sources", "5", "--latency", str(args.latency)]
                        + [a for pid, f in scale.items() for a in ("--scale", f"{pid}={f}")]
                        + [a for pid in argv_scale for a in ("--target-mb", f"{pid}={args.target_mb}")],
                        "producers", timeout=300)
    with producers:
        for i in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="npo-bench-") as wd, \
                    b.start_server(producers, Path(wd), validate=validate, bundle=bundle, deadline=600,
                                   stall_sampler=0.05) as server:
                b.run(one_run(args, producers, server, contracts, schemas, runs, i, None))
            r = {k: b.median(v[i]) for k, v in runs.items() if k not in ("statuses", "stall_where")}
            print(f"run {i + 1}: {r['mb']:.1f} MB, {r['records']:.0f} records shown; server {b.ms(r['server']):.0f} ms "
                  f"(JSON), {b.ms(r['html']):.0f} ms (HTML); floor {b.ms(r['floor']):.0f} ms; "
                  f"ratio {r['ratio']:.2f}; {r['ms_per_mb']:.0f} ms/MB", flush=True)
        if args.profile:
            with tempfile.TemporaryDirectory(prefix="npo-bench-") as wd, b.start_server(
                    producers, Path(wd), validate=validate, bundle=bundle, deadline=600, inline=True) as server:
                b.run(one_run(args, producers, server, contracts, schemas, {}, 0, args.profile))
            b.print_profile(args.profile)
    per_run = lambda k, f=lambda x: x: [round(f(b.median(v)), 3) for v in runs[k]]  # noqa: E731
    med = lambda k, f=lambda x: x: b.median(per_run(k, f))  # noqa: E731
    report.add("fetched from producers", med("mb"), "MB", runs=per_run("mb"))
    report.add("records shown (after dedupe and PDL)", med("records"), "", runs=per_run("records"))
    report.add("records withheld", med("withheld"), "")
    ratio = med("ratio")
    report.add("server time ÷ floor, GET /api/records", ratio, "×", target="≤ 2×", met=ratio <= 2,
               runs=per_run("ratio"))
    mpm = med("ms_per_mb")
    report.add("server time per MB, GET /api/records", mpm, "ms/MB", target="≤ 40 ms/MB", met=mpm <= 40,
               runs=per_run("ms_per_mb"))
    html_ratio, html_mpm = med("html_ratio"), med("html_ms_per_mb")
    report.add("server time ÷ floor, GET /patient (HTML)", html_ratio, "×", target="≤ 2×", met=html_ratio <= 2,
               runs=per_run("html_ratio"))
    report.add("server time per MB, GET /patient (HTML)", html_mpm, "ms/MB", target="≤ 40 ms/MB",
               met=html_mpm <= 40, runs=per_run("html_ms_per_mb"))
    report.add("server time, GET /api/records", med("server", b.ms), "ms", runs=per_run("server", b.ms))
    report.add("  fan-out (fetch + decode every answer)", med("fan_out", b.ms), "ms", runs=per_run("fan_out", b.ms))
    report.add("  dedupe + PDL decisions + sort (core worker)", med("decide", b.ms), "ms",
               runs=per_run("decide", b.ms))
    report.add("  durable access-log append", med("log", b.ms), "ms")
    report.add("  serialising the answer to JSON (core worker)", med("render", b.ms), "ms",
               runs=per_run("render", b.ms))
    report.add("  slowest single decode (await)", med("decode_max", b.ms), "ms")
    report.add("server time, GET /patient (HTML)", med("html", b.ms), "ms", runs=per_run("html", b.ms))
    report.add("floor: lxml parse + libxml2 validate, same bytes" if schemas is not None else
               "floor: lxml parse only (no schema bundle found), same bytes", med("floor", b.ms), "ms",
               runs=per_run("floor", b.ms))
    report.add("  of which parse", med("parse", b.ms), "ms")
    report.add("  of which validate", med("validate", b.ms), "ms")
    report.add("plugins' parse_response alone, same trees (bench process)", med("normalise", b.ms), "ms",
               runs=per_run("normalise", b.ms))
    report.add("plugins' parse_response ÷ floor", b.median([n / f for n, f in zip(per_run("normalise"),
                                                                                     per_run("floor"))]), "×")
    report.add("JSON answer size", med("json_mb"), "MB")
    report.add("HTML answer size", med("html_mb"), "MB")
    report.add("max event-loop lag during the overview (idle server otherwise)", med("lag_max", b.ms), "ms",
               runs=per_run("lag_max", b.ms))
    stall_total = sum(runs.get("stall_where", {}).values())
    for where, n in sorted(runs.get("stall_where", {}).items(), key=lambda kv: -kv[1])[:5]:
        report.note(f"loop stalled > 50 ms in: `{where}` ({100 * n / stall_total:.0f} % of {stall_total} "
                    "stack samples)")
    statuses = sorted({s for v in runs["statuses"] for x in v for s in x.split(",")})
    report.note(f"npo validates answers: {'yes' if validate else 'no'} (bundle: {bundle or 'none found'}); "
                f"producer statuses seen: {', '.join(statuses)}; producers answer in {args.latency * 1000:.0f} ms")
    if producers.info.get("full_mb"):
        report.note(f"Linda as generated today: ≈{producers.info['full_mb'][b.HEAVY]:.0f} MB over every contract "
                    f"and the five sources; her records were scaled by {producers.info['scale'][b.HEAVY]:.3f} "
                    f"to reach ≈{args.target_mb:g} MB (the producers keep the first share of each answer)")
    elif scale:
        report.note(f"smoke: Linda's records scaled by {scale[b.HEAVY]} to keep the run short")
    report.note(f"{args.samples} overviews per run, {args.runs} runs, each with a fresh npo server; "
                "the floor is measured between overviews in the benchmark process while the server is idle")
    report.write()


if __name__ == "__main__":
    main()
