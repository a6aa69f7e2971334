"""The demo's producers in a process of their own: `npo demo-platform`, and `npo demo` as its parent.

Real processes on real ports, real HTTP: the platform alone answers RIV-TA requests (the same bytes again
from its cache), `npo demo` serves the web app while a child process serves the platform, and however
npo demo ends (SIGTERM, SIGKILL, a port taken at start) no platform process is left running.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from npo_core import engagement, soap
from npo_core.contract import Query
from npo_core.demo.platform import DemoProducers
from npo_core.identity import parse_patient_id
from npo_core.plugins import collect, make_plugin_manager
from npo_core.registry import NATIONAL_EI

from .api_clinician import ApiClinician
from .conftest import DEMO_TODAY

HOST = "127.0.0.1"
FIONA = "199701062383"
START_SECONDS = 30  # a cold start loads every plugin, twice for npo demo
STOP_SECONDS = 15
CONTRACTS = collect(make_plugin_manager()).contracts

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads processes from /proc")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def two_ports() -> tuple[int, int]:
    port, other = free_port(), free_port()
    while other == port:
        other = free_port()
    return port, other


def environment(tmp_path: Path) -> dict:
    """This test's own registry and access-log files; every plugin loaded, as an operator's npo would."""
    env = {k: v for k, v in os.environ.items() if k not in (
        "NPO_LOAD_PLUGINS", "NPO_TRACE_PLUGINS", "NPO_LOG_KEY_FILE", "NPO_LOG_CHECKPOINTS")}
    return {**env, "NPO_REGISTRY": str(tmp_path / "registry.db")}


class Npo:
    """One npo command in a process: stdout read line by line with a deadline, stderr kept in a file."""

    def __init__(self, tmp_path: Path, *args: str):
        self.errors = tmp_path / f"stderr-{len(list(tmp_path.glob('stderr-*')))}.txt"
        with open(self.errors, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "npo_core", *args], cwd=tmp_path,
                                         env=environment(tmp_path), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=err)
        self.pid = self.proc.pid
        self._out = b""

    def stderr(self) -> str:
        return self.errors.read_text(errors="replace")

    def line(self, prefix: str, timeout: float = START_SECONDS) -> str:
        """The first stdout line starting with `prefix`; fails if the process ends or the deadline passes."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            *lines, self._out = self._out.split(b"\n")
            for i, line in enumerate(lines):
                if line.decode(errors="replace").startswith(prefix):
                    self._out = b"\n".join(lines[i + 1:] + [self._out])
                    return line.decode()
            left = deadline - time.monotonic()
            assert left > 0, f"no line {prefix!r} within {timeout} s; stderr: {self.stderr()}"
            if select.select([fd], [], [], min(left, 0.2))[0]:
                chunk = os.read(fd, 65536)
                assert chunk, f"exited ({self.proc.wait(STOP_SECONDS)}) before {prefix!r}: {self.stderr()}"
                self._out += chunk

    def wait(self, timeout: float = STOP_SECONDS) -> int:
        return self.proc.wait(timeout)

    def close(self) -> None:
        """Killed if still running (a failed test leaves nothing behind), the pipe closed."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(STOP_SECONDS)
        self.proc.stdout.close()


@pytest.fixture
def processes():
    started: list[Npo] = []
    yield started
    for npo in started:
        npo.close()
    for npo in started:  # an orphaned platform of a failed test: killed too
        for pid in platforms_of(npo.pid):
            os.kill(pid, signal.SIGKILL)


# -- processes and sockets, from /proc -------------------------------------------------------------------


def children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found |= {int(p) for p in task.read_text().split()}
        except OSError:  # the thread ended
            pass
    return found


def running(pid: int) -> bool:
    """Running, not gone and not a zombie waiting for whoever reaps orphans."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def platforms_of(parent: int) -> list[int]:
    """Running `npo demo-platform` processes started by `parent` (they name it with --parent-pid)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and running(int(entry.name)):
            args = cmdline(int(entry.name))
            if "demo-platform" in args and any(a == "--parent-pid" and b == str(parent)
                                               for a, b in zip(args, args[1:])):
                found.append(int(entry.name))
    return found


def listening_ports(pid: int) -> set[int]:
    """The TCP ports `pid` itself listens on: its socket descriptors matched against /proc/net/tcp."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def refuses(port: int) -> bool:
    try:
        socket.create_connection((HOST, port), timeout=2).close()
    except OSError:
        return True
    return False


def until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


# -- RIV-TA over the wire ---------------------------------------------------------------------------------


def post(url: str, body: bytes, action: str) -> bytes:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "text/xml; charset=UTF-8", "SOAPAction": f'"{action}"'})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200
        return answer.read()


# -- the tests --------------------------------------------------------------------------------------------


def test_the_platform_alone_answers_find_content_and_get_diagnosis(tmp_path, processes):
    port = free_port()
    platform = Npo(tmp_path, "demo-platform", "--port", str(port), "--today", DEMO_TODAY.isoformat())
    processes.append(platform)
    base = f"http://{HOST}:{port}/vp"
    assert platform.line("npo demo platform on ") == f"npo demo platform on {base}"
    contract = CONTRACTS["GetDiagnosis:2"]
    fiona = parse_patient_id(FIONA)

    find = soap.envelope(engagement.find_content_request(fiona, engagement.domain_uri(contract), "dia"), NATIONAL_EI)
    found = engagement.parse_find_content_response(soap.unwrap(soap.parse_xml(
        post(f"{base}/{engagement.SERVICE_PATH}", find, engagement.SOAP_ACTION)))[0])
    assert found and {e.categorization for e in found} == {"dia"}

    address = found[0].logical_address
    request = soap.envelope(contract.build_request(Query(fiona)), address)
    url, action = f"{base}/{contract.service_path}", f"{contract.responder_namespace}:{contract.name}"
    first = post(url, request, action)
    answer = contract.parse_response(soap.unwrap(soap.parse_xml(first))[0])
    assert answer.result_code == "OK" and answer.records
    assert post(url, request, action) == first  # the cached answer, byte for byte
    # --today fixes the demo day: the answer is the one the in-process producers give for that day.
    assert first == DemoProducers(CONTRACTS, DEMO_TODAY).answer(contract, request)

    platform.proc.send_signal(signal.SIGTERM)
    assert platform.wait() == 0, platform.stderr()
    assert refuses(port)


async def test_npo_demo_serves_the_platform_from_a_child_process_and_sigterm_stops_both(tmp_path, processes):
    port, platform_port = two_ports()
    npo = Npo(tmp_path, "demo", "--port", str(port), "--platform-port", str(platform_port))
    processes.append(npo)
    assert npo.line("npo demo on ") == (f"npo demo on http://{HOST}:{port}/ "
                                        f"(demo producers on http://{HOST}:{platform_port}/vp)")
    [child] = children(npo.pid)
    assert child != npo.pid and "demo-platform" in cmdline(child)
    assert platform_port in listening_ports(child) and port not in listening_ports(child)
    assert port in listening_ports(npo.pid) and platform_port not in listening_ports(npo.pid)

    client = ApiClinician(f"http://{HOST}:{port}", timeout=30)
    try:
        await client.login("SE2321000016-1001", "SE2321000016-1001-U1")
        status, body = await client.post("/api/patient", {"patient_id": FIONA})
        assert status == 200, body
        status, body = await client.post("/api/relation")
        assert status == 200, body
        status, body = await client.get("/api/records")
        assert status == 200, body
        assert body["records"] and body["sources"], body
        assert {s["status"] for s in body["sources"]} == {"ok"}, body["sources"]
    finally:
        await client.close()

    npo.proc.send_signal(signal.SIGTERM)
    assert npo.wait() == 0, npo.stderr()
    assert not running(child), "npo demo waited for its platform"
    assert refuses(platform_port) and refuses(port)
    assert "Traceback" not in npo.stderr()


def serving_demo(tmp_path, processes) -> tuple["Npo", int, int, int]:
    """`npo demo` serving, with its platform child: (npo, the child's pid, npo's port, the platform's port)."""
    port, platform_port = two_ports()
    npo = Npo(tmp_path, "demo", "--port", str(port), "--platform-port", str(platform_port))
    processes.append(npo)
    npo.line("npo demo on ")
    [child] = children(npo.pid)
    return npo, child, port, platform_port


def test_a_killed_npo_demo_leaves_no_platform_behind(tmp_path, processes):
    npo, child, _, platform_port = serving_demo(tmp_path, processes)
    npo.proc.kill()  # SIGKILL: npo demo has no say; the platform sees its parent gone
    npo.wait()
    until(lambda: not running(child), 5, f"the platform {child} stops after its parent was killed")
    assert refuses(platform_port)


def test_npo_demo_stops_when_its_platform_dies(tmp_path, processes):
    npo, child, port, _ = serving_demo(tmp_path, processes)
    os.kill(child, signal.SIGKILL)
    assert npo.wait() == 1
    error = npo.stderr()
    assert f"Error: The demo platform (pid {child}) stopped unexpectedly (killed by signal 9)" in error, error
    assert "Traceback" not in error and refuses(port)


@pytest.mark.parametrize("taken", ["platform", "npo"])
def test_a_taken_port_is_a_clear_error_and_leaves_nothing_running(tmp_path, processes, taken):
    port, platform_port = two_ports()
    holder = socket.socket()
    holder.bind((HOST, platform_port if taken == "platform" else port))
    holder.listen()
    try:
        npo = Npo(tmp_path, "demo", "--port", str(port), "--platform-port", str(platform_port))
        processes.append(npo)
        code = npo.wait(START_SECONDS + STOP_SECONDS)
        error = npo.stderr()
    finally:
        holder.close()
    assert code == 1 and "Traceback" not in error, error
    if taken == "platform":
        assert f"Error: The demo platform on {HOST}:{platform_port} did not start: it exited (exit code 1): " \
               f"Error: Cannot listen on {HOST}:{platform_port}" in error, error
    else:
        assert f"Error: Cannot listen on {HOST}:{port}" in error, error
    assert "in use" in error  # what a caller retrying on fresh ports looks for (tests/test_crash.py)
    assert platforms_of(npo.pid) == [] and not children(npo.pid)
    assert refuses(port) and refuses(platform_port)
