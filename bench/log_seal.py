"""The access log's seal: what keyed entries (HMAC-SHA256) and signed checkpoints (Ed25519) cost.

On a fresh registry.db in a temporary folder (WAL, synchronous=FULL, npo's own `GuardStore`):

* CPU per entry, as `GuardStore._commit` builds a row: canonical JSON + plain SHA-256 (before) and
  canonical JSON + HMAC-SHA256 (now); the hash alone, on the same bytes, to isolate the HMAC's cost;
* durable entries/s, `--entries` per transaction (append_sync), A/B in the same run: the real keyed
  store, and the same store with its HMAC key taken away (plain SHA-256, as before the seal);
* `npo log verify` per entry (the full walk: read, JSON, HMAC, chain, checkpoint signatures);
* one checkpoint: Ed25519 sign and verify, and `GuardStore.checkpoint()` after a minute's worth of
  entries (`--minute` entries: the walk since the last checkpoint, the signature, the row, the fsynced line).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as b  # noqa: E402
from access_log import entries  # noqa: E402  (one overview's entries, as the access-log bench writes them)


def per_entry_cpu(key: bytes, n: int) -> dict:
    from npo_core.guards import ENTRY_FIELDS, GENESIS, LOG_FIELDS, chain_hash

    rows = []
    for e in entries(n):  # as GuardStore._commit builds a row
        values = {k: getattr(e, k) for k in ENTRY_FIELDS}
        values["time"] = "2026-11-01T12:00:00+01:00"
        values["detail"] = json.dumps(e.detail, ensure_ascii=False, sort_keys=True)
        rows.append(values)
    out = {}
    for label, k in (("sha256", None), ("hmac", key)):
        prev = GENESIS
        s = time.perf_counter()
        for values in rows:
            prev = chain_hash(prev, values, k)
        out[f"{label}_us"] = (time.perf_counter() - s) / n * 1e6
    messages = [(GENESIS + json.dumps([v[k] for k in LOG_FIELDS], ensure_ascii=False, separators=(",", ":"))).encode()
                for v in rows]
    s = time.perf_counter()
    for m in messages:
        hashlib.sha256(m).hexdigest()
    out["sha256_only_us"] = (time.perf_counter() - s) / n * 1e6
    s = time.perf_counter()
    for m in messages:
        hmac.new(key, m, hashlib.sha256).hexdigest()
    out["hmac_only_us"] = (time.perf_counter() - s) / n * 1e6
    out["bytes"] = sum(map(len, messages)) / n
    return out


def run(args, runs: dict) -> None:
    from npo_core.guards import GuardStore
    from npo_core.registry import Registry

    with tempfile.TemporaryDirectory(prefix="npo-bench-seal-") as wd:
        path = Path(wd) / "registry.db"
        Registry(path).close()
        store = GuardStore(path)
        try:
            for k, v in per_entry_cpu(store.key.hmac_key, args.cpu_entries).items():
                runs.setdefault(k, []).append(v)
            # durable appends: keyed vs the same store without its key, alternating rounds
            store.append_sync(entries(1))
            key = store.key.hmac_key
            spent = {"keyed": [0.0, 0], "plain": [0.0, 0]}
            round_end = time.perf_counter() + args.seconds
            i = 0
            while time.perf_counter() < round_end:
                label = "keyed" if i % 2 == 0 else "plain"
                store.key.hmac_key = key if label == "keyed" else None
                s = time.perf_counter()
                for _ in range(5):
                    store.append_sync(entries(args.entries))
                spent[label][0] += time.perf_counter() - s
                spent[label][1] += 5 * args.entries
                i += 1
            store.key.hmac_key = key
            for label, (seconds, n) in spent.items():
                runs.setdefault(f"{label}_eps", []).append(n / seconds)
            # rows written plain above would fail verify: start the walk on a clean keyed log
        finally:
            store.close()
        path.unlink()
        for suffix in ("-wal", "-shm", ".checkpoints"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        Registry(path).close()
        store = GuardStore(path)
        try:
            while True:  # a log of --verify-entries entries, in overview-sized transactions
                store.append_sync(entries(args.entries))
                if store.log_rows("seq = ?", [args.verify_entries]):
                    break
            cp = store.checkpoint()
            n_cp = 50
            s = time.perf_counter()
            for _ in range(n_cp):
                store.key.sign(cp.signed_bytes())
            runs.setdefault("sign_us", []).append((time.perf_counter() - s) / n_cp * 1e6)
            s = time.perf_counter()
            for _ in range(n_cp):
                assert store.key.signed(cp.signed_bytes(), cp.signature)
            runs.setdefault("sigverify_us", []).append((time.perf_counter() - s) / n_cp * 1e6)
            for _ in range(max(1, args.minute // args.entries)):  # a busy minute's entries
                store.append_sync(entries(args.entries))
            s = time.perf_counter()
            minute = store.checkpoint()
            runs.setdefault("checkpoint_ms", []).append((time.perf_counter() - s) * 1e3)
            runs.setdefault("minute_entries", []).append(minute.seq - cp.seq)
            s = time.perf_counter()
            result = store.verify()
            spent = time.perf_counter() - s
            assert result.ok, result.message
            runs.setdefault("verify_us", []).append(spent / result.count * 1e6)
            runs.setdefault("verify_n", []).append(result.count)
        finally:
            store.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.common_args(p, runs=3)
    p.add_argument("--seconds", type=float, default=6.0, help="length of the durable-append A/B")
    p.add_argument("--entries", type=int, default=30, help="entries one overview logs in one transaction")
    p.add_argument("--cpu-entries", type=int, default=20000)
    p.add_argument("--verify-entries", type=int, default=20000)
    p.add_argument("--minute", type=int, default=6000, help="entries logged between two checkpoints")
    args = p.parse_args()
    if args.smoke:
        args.runs, args.seconds, args.cpu_entries, args.verify_entries, args.minute = 1, 0.5, 2000, 600, 300
    report = b.Report("Access log seal: HMAC-SHA256 entries and Ed25519 checkpoints", args)
    print(report.title, flush=True)
    runs: dict = {}
    for i in range(args.runs):
        run(args, runs)
        print(f"run {i + 1}: JSON+SHA-256 {runs['sha256_us'][-1]:.2f} µs, JSON+HMAC {runs['hmac_us'][-1]:.2f} µs "
              f"per entry", flush=True)
    r = lambda k: [round(v, 2) for v in runs[k]]  # noqa: E731
    m = lambda k: b.median(r(k))  # noqa: E731
    report.add("JSON + SHA-256 chain hash per entry (CPU, before)", m("sha256_us"), "µs", runs=r("sha256_us"))
    report.add("JSON + HMAC-SHA256 chain hash per entry (CPU, now)", m("hmac_us"), "µs", runs=r("hmac_us"))
    report.add(f"  SHA-256 alone, on the same {m('bytes'):.0f} bytes", m("sha256_only_us"), "µs",
               runs=r("sha256_only_us"))
    report.add("  HMAC-SHA256 alone, on the same bytes", m("hmac_only_us"), "µs", runs=r("hmac_only_us"))
    report.add(f"durable entries/s, {args.entries} per transaction, keyed (HMAC)", m("keyed_eps"), "/s",
               runs=r("keyed_eps"))
    report.add(f"durable entries/s, {args.entries} per transaction, plain SHA-256 (A/B, same run)", m("plain_eps"),
               "/s", runs=r("plain_eps"))
    report.add(f"npo log verify per entry (walk of {m('verify_n'):.0f} entries)", m("verify_us"), "µs",
               runs=r("verify_us"))
    report.add("Ed25519 checkpoint signature: sign", m("sign_us"), "µs", runs=r("sign_us"))
    report.add("Ed25519 checkpoint signature: verify", m("sigverify_us"), "µs", runs=r("sigverify_us"))
    report.add(f"checkpoint after {m('minute_entries'):.0f} new entries (walk + sign + row + fsynced line)",
               m("checkpoint_ms"), "ms", runs=r("checkpoint_ms"))
    report.write()


if __name__ == "__main__":
    main()
