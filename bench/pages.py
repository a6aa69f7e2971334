"""6. A heavy patient's pages: Linda's first look and every later page of it, at the demo's deadline.

npo keeps the producers' answers for one look at a patient (a session and an open patient; a new
`POST /api/patient` is a new look) for `keep_answers` seconds, so the pages after the first read
those answers, decided and logged anew. This measures what a clinician waits for, Linda Johansson
(189908029805) as the demo's contract plugins generate her (`--target-mb` scales her as in
heavy.py), every contract enabled, five source systems in a process of their own, npo validating
the answers when a RIV-TA bundle is found (as heavy.py), and npo's timeouts those of the demo
environment (`npo demo`: connect 1 s, read 5 s, total deadline 8 s, from `npo_core.registry`):

1. the first look, `--samples` times per run, each after a new `POST /api/patient`: `GET /api/records`
   (fresh, the producers asked) and, in another new look, the HTML overview `GET /patient/{pid}`
   (streamed set by set). Server time (the npo process's own, from the request in to the answer ready
   to send, or for a page streamed in parts its last part sent, taken by the benchmark server's
   middleware) and wall time, p50 and p99, and the sources that timed out;
2. the later pages of that HTML look: the set pages of notes (anteckningar, the heaviest) and
   diagnoses, a record page (a note from the JSON answer), the timeline's first page and page 3,
   the calendar for the month of Linda's latest record, and `GET /api/records` again. Each must have
   read the answers kept for the look (the server says so per read; the JSON says `"kept": true`),
   or the script stops without figures;
3. with `--load` (the default): `--clinicians` clinicians (100) with `--think` s (5 s) between openings
   of typical patients, as clinicians.py drives them, for `--seconds` (60 s), while Linda is opened
   again and again, a new look each time (`POST /api/patient`, `GET /api/records`), a second apart:
   event-loop lag (the server's ticker), errors, Linda's opening time.

Targets: Linda's first look ≤ 1 s p50 server time (JSON and HTML each), every later page ≤ 300 ms p50,
no source timed out at the demo deadline on an idle machine; under load lag p99 ≤ 50 ms, 0 errors.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as b  # noqa: E402
import clinicians as crowd  # noqa: E402

LATER = (  # (key, what) of the later pages of one look, in the order a clinician might click
    ("set_notes", "set page: anteckningar (notes)"),
    ("set_diagnoses", "set page: diagnoser"),
    ("record", "record page (a note)"),
    ("timeline", "timeline, first page"),
    ("timeline_3", "timeline, page 3"),
    ("calendar", "calendar, month of the latest record"),
    ("records_kept", "GET /api/records (kept)"),
)
FIRST_TARGET_MS, LATER_TARGET_MS, LAG_TARGET_MS = 1000, 300, 50


def not_ok_but_timeouts(sources: list[dict]) -> list:
    return [[s.get("logical_address"), s.get("contract"), s.get("status"), s.get("message")] for s in sources
            if s.get("status") not in ("ok", "info", "timeout")]


def view_of(information_type: str, sets: list[dict]) -> str | None:
    """The record's view: the first information set (in page order) that shows its type, as the UI links it."""
    return next((s["slug"] for s in sets if information_type in s["categorizations"]), None)


def later_paths(pid: str, body: dict, sets: list[dict]) -> dict:
    """The later pages' paths, the record and the month taken from a JSON answer of the same patient."""
    records = body["records"]
    notes = [r for r in records if view_of(r["information_type"], sets) == "anteckningar"]
    if not notes:
        raise b.BenchError("Linda's JSON answer has no note to open a record page of")
    rec = notes[0]
    source = rec.get("source_address") or rec.get("source_system")
    record = f"/patient/{pid}/anteckningar/{quote(rec['id'], safe='')}" + (
        f"?kalla={quote(source, safe='')}" if source else "")
    times = [r["time"] for r in records if r.get("time")]
    if not times:
        raise b.BenchError("Linda's records have no time: no month for the calendar")
    month = max(times)[:7]  # ISO times: the latest sorts last
    return {"set_notes": f"/patient/{pid}/anteckningar", "set_diagnoses": f"/patient/{pid}/diagnoser",
            "record": record, "timeline": f"/patient/{pid}/tidslinje", "timeline_3": f"/patient/{pid}/tidslinje?page=3",
            "calendar": f"/patient/{pid}/kalender?month={month}"}


def keep(runs: dict, idx: int, nruns: int, key: str, value) -> None:
    runs.setdefault(key, [[] for _ in range(nruns)])[idx].append(value)


async def looks(args, server, runs: dict, idx: int) -> None:
    """Part 1 and 2: first looks and the later pages of a look, on an otherwise idle server."""
    url, pid, nruns = server.info["url"], b.HEAVY, max(args.runs, idx + 1)
    http = b.Http(url)
    await http.login()
    await http.consent(pid)
    try:
        sets = await http.get("/api/sets")
        missing = {"anteckningar", "diagnoser"} - {s["slug"] for s in sets if s.get("enabled")}
        if missing:
            raise b.BenchError(f"information sets not enabled: {sorted(missing)}")
        for attempt in range(args.warmup + 2):  # templates, schemas; the producers' answers generated once
            await http.open(pid)
            _srv, _wall, body, _ = await http.records()
            await http.open(pid)
            await http.timed(f"/patient/{pid}")
            timed_out = [s for s in body["sources"] if s.get("status") == "timeout"]
            if attempt + 1 >= args.warmup and not timed_out:
                break
        await b.bench_get(url, "/-/bench/reset")
        for _ in range(args.samples):
            # First look, JSON: a new look, then the overview as the API gives it (the producers asked).
            await http.open(pid)
            srv, wall, body, json_bytes = await http.records()
            st = await b.bench_get(url, "/-/bench/stats")
            ph = next(r for r in reversed(st["reads"]) if r.get("path") == "/api/records")
            if args.kept and body.get("kept") is not False:
                raise b.BenchError(f"the first look's GET /api/records said kept={body.get('kept')!r}: not fetched")
            bad = not_ok_but_timeouts(body["sources"])
            if bad:
                raise b.BenchError(f"{len(bad)} producer answers were not ok, e.g. {bad[:3]}: the figures would be "
                                   "meaningless")
            if not body["records"]:
                raise b.BenchError("Linda's first look showed no record: nothing was decoded")
            json_timeouts = sum(1 for s in body["sources"] if s.get("status") == "timeout")
            paths = later_paths(pid, body, sets)
            # First look, HTML: another new look, the overview page (streamed set by set).
            await http.open(pid)
            html = await http.timed(f"/patient/{pid}")
            if args.kept and (not html["kept"] or any(html["kept"])):
                raise b.BenchError(f"the first look's HTML overview read kept answers ({html['kept']}): not fetched")
            if html["not_ok"]:
                raise b.BenchError(f"{len(html['not_ok'])} producer answers of the HTML overview were not ok, "
                                   f"e.g. {html['not_ok'][:3]}")
            first_part = html["server_s"] if html["first_part_s"] is None else html["first_part_s"]  # not streamed
            for key, value in (("json_server", srv), ("json_wall", wall), ("html_server", html["server_s"]),
                               ("html_wall", html["wall_s"]), ("html_first_part", first_part),
                               ("json_timeouts", json_timeouts), ("html_timeouts", len(html["timeouts"])),
                               ("timeouts", max(json_timeouts, len(html["timeouts"]))),
                               ("mb", ph["bytes"] / 1e6), ("records", len(body["records"])),
                               ("json_mb", json_bytes / 1e6), ("html_mb", html["size"] / 1e6),
                               ("html_reads", len(html["kept"]))):
                keep(runs, idx, nruns, key, value)
            for _addr, _contract, message in html["timeouts"]:
                runs.setdefault("timeout_messages", set()).add(message or "")
            # The later pages of the HTML look.
            for key, _what in LATER:
                if key == "records_kept":
                    srv, wall, later, _ = await http.records(fresh=False)
                    if args.kept and later.get("kept") is not True:
                        raise b.BenchError(f"GET /api/records after the overview said kept={later.get('kept')!r}")
                    keep(runs, idx, nruns, f"{key}_server", srv)
                    keep(runs, idx, nruns, f"{key}_wall", wall)
                    continue
                page = await http.timed(paths[key])
                if args.kept and (not page["kept"] or not all(page["kept"])):
                    raise b.BenchError(f"{paths[key]} did not read the answers kept for the look: kept per read "
                                       f"{page['kept']}, {page['bytes']} bytes fetched")
                keep(runs, idx, nruns, f"{key}_server", page["server_s"])
                keep(runs, idx, nruns, f"{key}_wall", page["wall_s"])
            await b.bench_get(url, "/-/bench/reset")
        await http.post("/api/logout")  # its kept answers go with the session
    finally:
        await http.close()


async def load(args, server, runs: dict, seed: int) -> None:
    """Part 3: clinicians.py's clinicians and Linda opened a second apart, on the same server."""
    url = server.info["url"]
    await crowd.register_consents(url)
    await b.bench_get(url, "/-/bench/reset")
    res, elapsed = await crowd.drive(url, clinicians=args.clinicians, seconds=args.seconds, think=args.think,
                                     heavy_pause=args.heavy_pause, seed=seed)
    st = await b.bench_get(url, "/-/bench/stats")
    for where, n in (st.get("stalls") or {}).get("where", []):
        runs.setdefault("stall_where", {}).setdefault(where, 0)
        runs["stall_where"][where] += n
    reads = st["reads"]
    bad = [x for r in reads for x in r.get("not_ok", []) if x[2] != "timeout"]
    if reads and len([r for r in reads if any(x[2] != "timeout" for x in r.get("not_ok", []))]) > len(reads) / 2:
        raise b.BenchError(f"most overviews under load had producer answers that were not ok (timeouts aside), "
                           f"e.g. {bad[:3]}")
    linda = [r for r in reads if r.get("heavy") and r.get("path") == "/api/records"]
    figures = crowd.load_figures(st, res, elapsed, args.tick)
    figures["not_ok"] = len({tuple(x[:3]) for x in bad})
    figures["linda_timed_out"] = sum(1 for r in linda if r.get("timeouts"))
    figures["linda_reads"] = len(linda)
    figures["timed_out_share"] = sum(1 for r in reads if any(x[2] == "timeout" for x in r.get("not_ok", []))) \
        / max(1, len(reads))
    for k, v in figures.items():
        runs.setdefault(f"load_{k}", []).append(v)
    runs.setdefault("error_examples", []).extend(sorted(set(res.errors))[:5])
    runs["error_examples"].extend(sorted({f"producer answer {x[2]}: {x[0]} {x[1]}: {x[3]}" for x in bad})[:3])


def main() -> None:
    timeouts = b.demo_timeouts()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.common_args(p, runs=3)
    p.add_argument("--target-mb", type=float, default=0.0, help="Linda's size in all; 0 (default): as generated")
    p.add_argument("--latency", type=float, default=0.0,
                   help="producers' answer time (default 0, as `npo demo`'s producers)")
    p.add_argument("--samples", type=int, default=5, help="first looks (each followed by its later pages) per run")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--no-validate", action="store_true", help="npo does not validate the answers")
    p.add_argument("--deadline", type=float, default=timeouts["total_deadline"],
                   help="npo's total deadline (default: the demo environment's)")
    p.add_argument("--read-timeout", type=float, default=timeouts["read_timeout"],
                   help="npo's read timeout (default: the demo environment's)")
    p.add_argument("--connect-timeout", type=float, default=timeouts["connect_timeout"],
                   help="npo's connect timeout (default: the demo environment's)")
    p.add_argument("--kept", action=argparse.BooleanOptionalAction, default=True,
                   help="check that later pages read the kept answers (--no-kept: against a commit from before "
                        "npo kept them, for the before figures)")
    p.add_argument("--load", action=argparse.BooleanOptionalAction, default=True,
                   help="part 3: clinicians and Linda opened every second (--no-load: the pages only)")
    crowd.crowd_args(p)
    args = p.parse_args()
    scale = {}
    if args.smoke:
        args.runs, args.samples, args.warmup = 1, 1, 1
        args.clinicians, args.seconds, args.think = 10, 2.0, 0.5
        scale = {b.HEAVY: 0.02}  # a fixed share: no size estimate at start-up
    bundle = b.find_bundle(args.bundle)
    validate = bool(bundle) and not args.no_validate
    size = (f"records scaled by {scale[b.HEAVY]}" if scale else
            f"scaled to ≈{args.target_mb:g} MB" if args.target_mb else "as generated")
    report = b.Report(f"Heavy patient's pages: Linda Johansson {size}, demo deadline {args.deadline:g} s"
                      + (f"; {args.clinicians} clinicians for {args.seconds:g} s" if args.load else ""), args)
    print(report.title, flush=True)
    runs: dict = {}
    producers = b.Child([str(b.HERE / "_producers.py"), "--sources", "5", "--latency", str(args.latency)]
                        + [a for pid, f in scale.items() for a in ("--scale", f"{pid}={f}")]
                        + (["--target-mb", f"{b.HEAVY}={args.target_mb}"] if args.target_mb and not scale else []),
                        "producers", timeout=300)
    with producers:
        for i in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="npo-bench-") as wd, \
                    b.start_server(producers, Path(wd), validate=validate, bundle=bundle, deadline=args.deadline,
                                   read_timeout=args.read_timeout, connect_timeout=args.connect_timeout,
                                   tick=args.tick, stall_sampler=args.stall) as server:
                b.run(looks(args, server, runs, i))
                if args.load:
                    b.run(load(args, server, runs, seed=i))
            r = {k: b.median(v[i]) for k, v in runs.items() if isinstance(v, list) and v and isinstance(v[0], list)}
            later = max(r[f"{k}_server"] for k, _ in LATER)
            line = (f"run {i + 1}: {r['mb']:.1f} MB, {r['records']:.0f} records; first look "
                    f"{b.ms(r['json_server']):.0f} ms (JSON), {b.ms(r['html_server']):.0f} ms (HTML); slowest later "
                    f"page {b.ms(later):.0f} ms; sources timed out {max(runs['timeouts'][i]):.0f}")
            if args.load:
                line += (f"; under load: lag p99 {b.ms(runs['load_lag_p99'][-1]):.0f} ms, errors "
                         f"{runs['load_errors'][-1]}, Linda p50 {b.ms(runs['load_heavy_p50'][-1]):.0f} ms")
            print(line, flush=True)
    add_figures(report, args, runs, producers, validate, bundle, scale)
    report.write()


def add_figures(report, args, runs: dict, producers, validate: bool, bundle, scale: dict) -> None:
    def per_run(key, q=50, f=lambda x: x):  # the q-th percentile of each run's samples
        return [round(f(b.pct(v, q)), 3) for v in runs[key]]

    def med(key, q=50, f=lambda x: x):
        return b.median(per_run(key, q, f))

    report.add("fetched from producers per first look", med("mb"), "MB", runs=per_run("mb"))
    report.add("records shown (after dedupe and PDL)", med("records"), "", runs=per_run("records"))
    for key, what in (("json", "GET /api/records (fresh)"), ("html", "GET /patient/{pid} (HTML overview)")):
        v = med(f"{key}_server", 50, b.ms)
        report.add(f"Linda's first look, {what}, server time p50", v, "ms", target=f"≤ {FIRST_TARGET_MS} ms",
                   met=v <= FIRST_TARGET_MS, runs=per_run(f"{key}_server", 50, b.ms))
        report.add(f"Linda's first look, {what}, server time p99", med(f"{key}_server", 99, b.ms), "ms",
                   runs=per_run(f"{key}_server", 99, b.ms))
        if key == "html":
            report.add(f"Linda's first look, {what}, first part sent, p50", med("html_first_part", 50, b.ms), "ms",
                       runs=per_run("html_first_part", 50, b.ms))
        report.add(f"Linda's first look, {what}, wall time p50", med(f"{key}_wall", 50, b.ms), "ms",
                   runs=per_run(f"{key}_wall", 50, b.ms))
        report.add(f"Linda's first look, {what}, wall time p99", med(f"{key}_wall", 99, b.ms), "ms",
                   runs=per_run(f"{key}_wall", 99, b.ms))
    worst = [max(v) for v in runs["timeouts"]]
    timed_out = max(worst)
    report.add(f"sources timed out at the demo deadline ({args.deadline:g} s), idle machine", timed_out, "",
               target="0", met=timed_out == 0, runs=worst)
    report.add("  of which in GET /api/records (max over samples)", max(max(v) for v in runs["json_timeouts"]), "")
    report.add("  of which in the HTML overview (max over samples)", max(max(v) for v in runs["html_timeouts"]), "")
    slowest = []
    for key, what in LATER:
        v = med(f"{key}_server", 50, b.ms)
        slowest.append(v)
        report.add(f"later page, {what}, server time p50", v, "ms", target=f"≤ {LATER_TARGET_MS} ms",
                   met=v <= LATER_TARGET_MS, runs=per_run(f"{key}_server", 50, b.ms))
        report.add(f"later page, {what}, server time p99", med(f"{key}_server", 99, b.ms), "ms",
                   runs=per_run(f"{key}_server", 99, b.ms))
    report.add("slowest later page, server time p50", max(slowest), "ms", target=f"≤ {LATER_TARGET_MS} ms",
               met=max(slowest) <= LATER_TARGET_MS)
    report.add("JSON answer size", med("json_mb"), "MB")
    report.add("HTML overview size", med("html_mb"), "MB")
    if args.load:
        r = lambda k, f=lambda x: x: [round(f(v), 2) for v in runs[f"load_{k}"]]  # noqa: E731
        m = lambda k, f=lambda x: x: b.median(r(k, f))  # noqa: E731
        lag = m("lag_p99", b.ms)
        report.add("under load: event-loop lag, whole run, p99", lag, "ms", target=f"≤ {LAG_TARGET_MS} ms",
                   met=lag <= LAG_TARGET_MS, runs=r("lag_p99", b.ms))
        heavy_lag = m("heavy_lag_p99", b.ms)
        report.add("under load: event-loop lag while Linda is read, p99", heavy_lag, "ms",
                   target=f"≤ {LAG_TARGET_MS} ms", met=heavy_lag <= LAG_TARGET_MS, runs=r("heavy_lag_p99", b.ms))
        report.add("under load: event-loop lag, whole run, max", m("lag_max", b.ms), "ms", runs=r("lag_max", b.ms))
        errors = sum(runs["load_errors"])
        report.add("under load: errors (all runs)", errors, "", target="0", met=errors == 0, runs=r("errors"))
        nok = sum(runs["load_not_ok"])
        report.add("under load: producer answers not ok, timeouts aside (all runs)", nok, "", target="0",
                   met=nok == 0, runs=r("not_ok"))
        report.add("under load: Linda's opening (patient + relation + records), p50", m("heavy_p50", b.ms), "ms",
                   runs=r("heavy_p50", b.ms))
        report.add("under load: Linda's openings completed", m("heavy_opens"), "", runs=r("heavy_opens"))
        report.add("under load: Linda's openings with a source timed out", m("linda_timed_out"), "",
                   runs=r("linda_timed_out"))
        report.add("under load: share of overviews with a source timed out", m("timed_out_share", lambda x: 100 * x),
                   "%", runs=r("timed_out_share", lambda x: 100 * x))
        report.add("under load: typical overviews completed per second", m("throughput"), "/s", runs=r("throughput"))
        report.add("under load: typical opening, p50", m("open_p50", b.ms), "ms", runs=r("open_p50", b.ms))
        report.add("under load: typical opening, p99", m("open_p99", b.ms), "ms", runs=r("open_p99", b.ms))
        stall_total = sum(runs.get("stall_where", {}).values())
        for where, n in sorted(runs.get("stall_where", {}).items(), key=lambda kv: -kv[1])[:5]:
            report.note(f"under load, the loop stalled > {args.stall * 1000:g} ms in: `{where}` "
                        f"({100 * n / stall_total:.0f} % of {stall_total} stack samples)")
        for e in runs.get("error_examples", [])[:5]:
            report.note(f"under load: {e}")
    for message in sorted(runs.get("timeout_messages", ()))[:3]:
        report.note(f"a timed-out source said: {message}")
    report.note(f"npo's timeouts: connect {args.connect_timeout:g} s, read {args.read_timeout:g} s, total deadline "
                f"{args.deadline:g} s; npo validates answers: {'yes' if validate else 'no'} "
                f"(bundle: {bundle or 'none found'}); producers answer in {args.latency * 1000:.0f} ms, "
                "in a process of their own")
    if producers.info.get("full_mb"):
        report.note(f"Linda as generated: ≈{producers.info['full_mb'][b.HEAVY]:.0f} MB; her records were scaled by "
                    f"{producers.info['scale'][b.HEAVY]:.3f} to reach ≈{args.target_mb:g} MB")
    elif scale:
        report.note(f"smoke: Linda's records scaled by {scale[b.HEAVY]} to keep the run short")
    report.note(f"{args.samples} first looks per run (a new POST /api/patient before each; the HTML overview in a "
                "look of its own), each followed by its later pages; server time is the npo process's, from the "
                "request in to the answer ready to send (a page streamed in parts: its last part sent); "
                f"{args.runs} runs, each with a fresh npo server"
                + (f"; then {args.clinicians} clinicians thinking {args.think:g} s for {args.seconds:g} s with Linda "
                   f"opened {args.heavy_pause:g} s apart (a new look each), as clinicians.py" if args.load else ""))


if __name__ == "__main__":
    main()
