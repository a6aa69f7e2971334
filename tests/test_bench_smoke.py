"""The benchmark scripts in bench/ keep working: each runs with --smoke and prints its figures.

The scripts start their own demo producers and npo server on 127.0.0.1 and append to a
temporary BENCHMARKS file (never the repository's). They run side by side to stay short;
their figures mean nothing here, only that every part of every script still runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = {
    "fanout.py": "overview − slowest producer, p50",
    "heavy.py": "server time ÷ floor, GET /api/records",
    "clinicians.py": "event-loop lag while the heavy patient is read, p99",
    "access_log.py": "latency the log adds to an overview",
    "memory.py": "peak RSS growth ÷ response size",
    "memory.py --hostile": "answers received whole",  # an attacker's producer; the read stays within npo's caps
    "pages.py": "Linda's first look, GET /patient/{pid} (HTML overview), server time p50",
}


@pytest.fixture(scope="module")
def smoke_runs(request, tmp_path_factory):
    """Start every selected script at once (all of them unless -k or a node id chose some); each test waits
    for its own."""
    selected = {item.callspec.params["script"] for item in request.session.items
                if getattr(item, "module", None) is request.module and hasattr(item, "callspec")
                and "script" in item.callspec.params}
    out = tmp_path_factory.mktemp("bench")
    procs = {}
    for key in [k for k in SCRIPTS if k in selected] or SCRIPTS:
        script, *args = key.split()
        output = out / f"{key.replace(' ', '_')}.md"
        procs[key] = (subprocess.Popen([sys.executable, str(REPO / "bench" / script), *args, "--smoke", "--output",
                                        str(output)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True), output)
    yield procs
    for proc, _ in procs.values():
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # reaps the process and closes its pipes


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_smoke(smoke_runs, script):
    proc, output = smoke_runs[script]
    try:
        stdout, stderr = proc.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        pytest.fail(f"{script} --smoke did not finish in time:\n{stdout[-2000:]}\n{stderr[-2000:]}")
    assert proc.returncode == 0, f"{script} exited {proc.returncode}:\n{stdout[-2000:]}\n{stderr[-3000:]}"
    figure = SCRIPTS[script]
    assert figure in stdout, stdout[-2000:]
    assert "n/a" not in next(line for line in stdout.splitlines() if figure in line)
    text = output.read_text()
    assert "| figure | median |" in text and figure in text and "Machine: " in text and "--smoke" in text
    assert not (REPO / "BENCHMARKS.md").exists() or str(output) not in (REPO / "BENCHMARKS.md").read_text()
