"""Prototypes of proposed changes, applied from the outside to the benchmark's own server process.

None of this is npo code and none of it runs unless a benchmark is started with
`--experiment NAME[,NAME...]`; it exists so that a proposed change can be measured with the same
benchmark, in the same conditions, before anyone edits npo. Each one approximates the change it
stands for (see BENCHMARKS.md for the proposals themselves):

* `switch-1ms`: `sys.setswitchinterval(0.001)`: a thread holding the GIL hands it over after 1 ms
  instead of 5 ms, so the event loop waits less each time it wants the GIL back from the core's
  worker thread.

Earlier prototypes (`env-once`, `fast-normalise`, `one-decode-thread`, `offload-all`) became npo
changes; BENCHMARKS.md records what each measured before it did.
"""

from __future__ import annotations

import sys

KNOWN = ("switch-1ms",)


def apply(core, names: list[str]) -> None:
    unknown = set(names) - set(KNOWN)
    if unknown:
        raise SystemExit(f"unknown experiments {sorted(unknown)}; known: {', '.join(KNOWN)}")
    for name in names:
        globals()["_" + name.replace("-", "_")](core)


def _switch_1ms(core) -> None:
    sys.setswitchinterval(0.001)
