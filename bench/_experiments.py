"""Prototypes of proposed changes, applied from the outside to the benchmark's own server process.

None of this is npo code and none of it runs unless a benchmark is started with
`--experiment NAME[,NAME...]`; it exists so that a proposed change can be measured with the same
benchmark, in the same conditions, before anyone edits npo. Each one approximates the change it
stands for (see BENCHMARKS.md for the proposals themselves):

* `switch-5ms`: `sys.setswitchinterval(0.005)`, Python's default, where npo asks for 1 ms while its
  worker thread runs (to measure what that choice buys).

Earlier prototypes (`env-once`, `fast-normalise`, `one-decode-thread`, `offload-all`, `switch-1ms`)
became npo changes; BENCHMARKS.md records what each measured before it did.
"""

from __future__ import annotations

import sys

KNOWN = ("switch-5ms",)


def apply(core, names: list[str]) -> None:
    unknown = set(names) - set(KNOWN)
    if unknown:
        raise SystemExit(f"unknown experiments {sorted(unknown)}; known: {', '.join(KNOWN)}")
    for name in names:
        globals()["_" + name.replace("-", "_")](core)


def _switch_5ms(core) -> None:
    sys.setswitchinterval(0.005)
