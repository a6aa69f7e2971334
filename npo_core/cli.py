"""The operator's command line: `npo --help`."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import functools
import ipaddress
import json
import os
import re
import signal
import stat
import sys
from pathlib import Path

import click

from .errors import BadRequest, InvalidPatientId, NotFound, NpoError
from .identity import check_hsa_id, check_logical_address
from .plugins import collect, describe, make_plugin_manager
from .registry import Registry, unsafe_character

# -- hostile input: what every argument is checked for, and how output reaches the terminal ----------

MAX_ARGUMENT = 4096  # characters in one argument (PATH_MAX); longer is never a real value
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
                     "\ufdd0-\ufdef\ufffe\uffff]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text) -> str:
    """Text for the operator's terminal: control characters and escape-sequence introducers (ESC, CSI, BEL,
    backspace, CR, newline), bidirectional overrides and undecodable bytes are shown escaped (\\x1b,
    \\u202e), never interpreted. Producer, clinician and file content is data, never terminal commands."""
    text = "" if text is None else str(text)
    return _UNSAFE.sub(_escape, text)


def _json_escape(match: re.Match) -> str:
    char = match.group()  # a raw newline is indentation (json.dumps escapes those in text)
    return char if char == "\n" else f"\\u{ord(char):04x}"


def dump_json(data) -> str:
    """JSON for the terminal: what json.dumps leaves raw (DEL, C1 controls, bidi overrides, lone surrogates)
    is written as a \\u escape too, so the document means the same and the terminal interprets nothing."""
    return _UNSAFE.sub(_json_escape, json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _check_arguments(ctx: click.Context, args: list[str]) -> None:
    """No argument carries control characters, undecodable bytes or an absurd length, whatever command."""
    positional_only = False
    for i, token in enumerate(args):
        if not isinstance(token, str):
            continue
        option, value = None, token
        if token == "--":
            positional_only = True
        elif positional_only:
            pass
        elif token.startswith("--") and "=" in token:
            option, value = token.split("=", 1)
        elif i and args[i - 1].startswith("-") and args[i - 1] != "--" and not token.startswith("-"):
            option = args[i - 1].split("=", 1)[0]
        where = f"The value of {option}" if option else f"The argument {_quoted(token)}"
        bad = unsafe_character(value)
        if bad is not None:
            what = ("bytes that are not UTF-8 text" if 0xD800 <= ord(bad) <= 0xDFFF
                    else f"the control character U+{ord(bad):04X}")
            raise click.UsageError(f"{where} contains {what}; npo takes printable text only.", ctx=ctx)
        if len(token) > MAX_ARGUMENT:
            raise click.UsageError(f"{where} is {len(token)} characters long; npo takes at most {MAX_ARGUMENT}.",
                                   ctx=ctx)


def _quoted(value: str, limit: int = 60) -> str:
    """A value as an error message may quote it: escaped, cut when long."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def _os_error(e: OSError) -> str:
    name = e.filename if isinstance(e.filename, str) else None
    reason = e.strerror or type(e).__name__
    return f"{_quoted(name, 200)}: {reason}." if name else f"{reason}: {e}"


class NpoCommand(click.Command):
    def parse_args(self, ctx, args):
        _check_arguments(ctx, args)
        return super().parse_args(ctx, args)


class NpoGroup(click.Group):
    """Every npo command: hostile arguments are refused before parsing, and an expected failure (NpoError,
    a file or network problem) ends as one escaped `Error:` line and a non-zero exit, never a traceback."""

    command_class = NpoCommand
    group_class = type  # sub-groups are NpoGroups too

    def parse_args(self, ctx, args):
        _check_arguments(ctx, args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.ClickException as e:
            e.message = safe_text(e.message)
            raise
        except NpoError as e:
            raise click.ClickException(safe_text(e.message)) from None
        except BrokenPipeError:
            raise
        except OSError as e:
            raise click.ClickException(safe_text(_os_error(e))) from None


class Number(click.ParamType):
    """A number in ASCII digits within bounds: 'inf', 'nan', '1e9', '٣', '²' and '-1' (unless allowed) are
    refused; Python's int() and float() would take several of them."""

    name = "number"

    def __init__(self, *, integer: bool = False, minimum: float | None = None, maximum: float | None = None,
                 above: float | None = None):
        self.integer, self.minimum, self.maximum, self.above = integer, minimum, maximum, above
        sign = "-?" if (minimum is None and above is None) or (minimum is not None and minimum < 0) else ""
        digits = r"[0-9]{1,9}" if integer else r"(?:[0-9]{1,9}(?:\.[0-9]{0,9})?|\.[0-9]{1,9})"
        self._pattern = re.compile(sign + digits, re.ASCII)

    def _bounds(self) -> str:
        low = f"more than {self.above:g}" if self.above is not None else (
            f"at least {self.minimum:g}" if self.minimum is not None else "")
        high = f"at most {self.maximum:g}" if self.maximum is not None else ""
        kind = "a whole number" if self.integer else "a number"
        return f"{kind} (ASCII digits){', ' if low or high else ''}{' and '.join(x for x in (low, high) if x)}"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and self._pattern.fullmatch(value.strip()):
            number = int(value.strip()) if self.integer else float(value.strip())
        else:
            self.fail(f"{_quoted(str(value))} is not {self._bounds()}.", param, ctx)
        too_low = (self.minimum is not None and number < self.minimum) or (
            self.above is not None and number <= self.above)
        if too_low or (self.maximum is not None and number > self.maximum) or number != number:
            self.fail(f"{_quoted(str(value))} is not {self._bounds()}.", param, ctx)
        return number


class IsoDate(click.ParamType):
    """A calendar date YYYY-MM-DD in ASCII digits, year 1 to 9999 ('0000-01-01' and '2026-02-30' are not)."""

    name = "date"

    def convert(self, value, param, ctx):
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value, re.ASCII):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        self.fail(f"{_quoted(str(value))} is not a date (YYYY-MM-DD, a real day of year 0001-9999).", param, ctx)


class Text(click.ParamType):
    """A name or free text: not empty, at most `limit` characters (control characters never get here)."""

    name = "text"

    def __init__(self, limit: int = 200):
        self.limit = limit

    def convert(self, value, param, ctx):
        if not isinstance(value, str) or not value.strip():
            self.fail("is empty; leave the option out instead." if param and param.required is False
                      else "is empty.", param, ctx)
        if len(value) > self.limit:
            self.fail(f"is {len(value)} characters long; at most {self.limit} are accepted.", param, ctx)
        return value


class Host(click.ParamType):
    """An address to listen on: an IP address or a host name in ASCII (not empty: say 0.0.0.0 for all)."""

    name = "host"

    def convert(self, value, param, ctx):
        try:
            ipaddress.ip_address(value)
            return value
        except ValueError:
            pass
        if isinstance(value, str) and len(value) <= 253 and re.fullmatch(
                r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
                value, re.ASCII):
            return value
        self.fail(f"{_quoted(str(value))} is not an IP address or host name to listen on.", param, ctx)


PORT = Number(integer=True, minimum=1, maximum=65535)


def _identifier(check):
    """An option callback for one of the platform's identifiers (npo_core.identity's validators), or nothing."""
    def callback(ctx, param, value):
        if value is None:
            return None
        try:
            return check(value)
        except BadRequest as e:
            raise click.BadParameter(e.message, ctx, param) from None
    return callback


_hsa_id = _identifier(check_hsa_id)
_logical_address = _identifier(check_logical_address)


def _patient_id(ctx, param, value):
    """Option callback: a personnummer or samordningsnummer, checked here; the command parses it again."""
    from .identity import parse_patient_id

    if value is None:
        return None
    try:
        parse_patient_id(value)
    except InvalidPatientId as e:
        raise click.BadParameter(f"{_quoted(value)}: {e.message}", ctx, param) from None
    return value


def _known_env(ctx, param, value):
    """Option callback: an environment the registry knows; 'nosuch' is an error naming them, not an empty table."""
    context = ctx.find_object(Context)
    if value is None or context is None:
        return value
    try:
        context.registry.environment(value)
    except NotFound as e:
        raise click.BadParameter(e.message, ctx, param) from None
    return value


def _registry_path(ctx, param, value):
    if value is not None and not str(value).strip():
        raise click.BadParameter("is empty; name the registry file (default registry.db).", ctx, param)
    return value


registry_option = click.option(
    "--registry", "registry_path", envvar="NPO_REGISTRY", type=click.Path(dir_okay=False),
    default="registry.db", show_default=True, callback=_registry_path,
    help="Registry database (created and migrated on first use).")
env_option = click.option("--env", "env_name", required=True, callback=_known_env,
                          help="Environment: prod, qa, sit or demo.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


class Context:
    """Plugins and registry, loaded once per command and only when needed."""

    def __init__(self, registry_path: str, pm=None):
        self.registry_path = registry_path
        self._registry = None
        self._pm = pm
        self._reg = None

    @property
    def pm(self):
        if self._pm is None:
            self._pm = make_plugin_manager()
        return self._pm

    @property
    def reg(self):
        if self._reg is None:
            self._reg = collect(self.pm)
        return self._reg

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = Registry(self.registry_path)
            self._registry.sync_contracts(self.reg.contracts.values())
        return self._registry

    def contract(self, name: str):
        """A contract by id (GetDiagnosis:2) or by name when only one major version is registered."""
        contracts = self.reg.contracts
        if name in contracts:
            return contracts[name]
        matches = [c for c in contracts.values() if c.name == name or f"{c.name}:{c.version}" == name]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise click.UsageError(f"{name} has several versions; say which: {', '.join(c.id for c in matches)}")
        raise click.UsageError(f"No contract {name!r} is registered. Try: npo contracts list --env demo")


pass_ctx = click.make_pass_decorator(Context)


def echo_table(rows: list[dict], columns: list[str]) -> None:
    """A plain table; every cell escaped (safe_text), so stored text cannot drive the terminal."""
    cells = [{c: safe_text(r.get(c) if r.get(c) is not None else "") for c in columns} for r in rows]
    widths = {c: max([len(c)] + [len(r[c]) for r in cells]) for c in columns}
    click.echo("  ".join(safe_text(c).ljust(widths[c]) for c in columns).rstrip())
    for r in cells:
        click.echo("  ".join(r[c].ljust(widths[c]) for c in columns).rstrip())


@click.group(cls=NpoGroup)
@registry_option
@click.option("--log-key", "log_key", envvar="NPO_LOG_KEY_FILE", type=click.Path(dir_okay=False),
              help="The access log's key, kept outside the database [default: <registry>.logkey, made on first use].")
@click.option("--log-checkpoints", "log_checkpoints", envvar="NPO_LOG_CHECKPOINTS", type=click.Path(dir_okay=False),
              help="File the access log's signed checkpoints are appended to, to ship elsewhere "
                   "[default: <registry>.checkpoints].")
@click.version_option(package_name="npo")
@click.pass_context
def cli(ctx, registry_path, log_key, log_checkpoints):
    """npo: an open National Patient Overview (Nationell patientöversikt)."""
    for name, value in (("NPO_LOG_KEY_FILE", log_key), ("NPO_LOG_CHECKPOINTS", log_checkpoints)):
        if value:  # every GuardStore of this process reads them, the server's too
            os.environ[name] = os.path.abspath(value)
    ctx.obj = Context(registry_path, pm=ctx.obj)


@cli.command()
@pass_ctx
def init(ctx: Context):
    """Create or migrate the registry and record every registered contract."""
    registry = ctx.registry
    click.echo(safe_text(f"Registry ready at {registry.path} ({len(ctx.reg.contracts)} contracts registered)."))


@cli.command()
@json_option
@pass_ctx
def plugins(ctx: Context, as_json):
    """List plugins: name, version, hooks, and what each registered."""
    info = describe(ctx.pm, ctx.reg)
    if as_json:
        click.echo(dump_json(info))
        return
    for p in info:
        reg = "; ".join(f"{k}: {', '.join(v)}" for k, v in p["registered"].items())
        click.echo(safe_text(f"{p['name']} {p['version'] or ''}".rstrip()))
        click.echo(safe_text(f"  hooks: {', '.join(p['hooks'])}"))
        if reg:
            click.echo(safe_text(f"  registered: {reg}"))


# -- serving -------------------------------------------------------------------------


@functools.cache
def _companions():
    """The app key of what an app needs running alongside it (the demo's platform process, the platform's
    watch on its parent): factories of async context managers, entered in order before the apps start and
    left after they stop. Each yields a task; serving ends when one finishes, with its error if it raised."""
    from aiohttp import web

    return web.AppKey("npo_companions", list)


def _run(apps: list[tuple], banner: str) -> None:
    """Serve (app, host, port[, ssl_context]) tuples in one process until interrupted (or a companion ends)."""
    from aiohttp import web

    from .web import Site

    async def main():
        stop = asyncio.Event()
        try:  # a service manager's stop (SIGTERM) is a clean shutdown, as Ctrl-C is, even while starting
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
        async with contextlib.AsyncExitStack() as companions:
            ends = [asyncio.ensure_future(stop.wait())]
            companions.callback(ends[0].cancel)
            for app, *_ in apps:
                for companion in app.get(_companions(), ()):
                    ends.append(await companions.enter_async_context(companion()))
            runners = []
            try:
                for app, host, port, *tls in apps:
                    runner = web.AppRunner(app, access_log=None)
                    await runner.setup()
                    await Site(runner, host, port, ssl_context=tls[0] if tls else None).start()
                    runners.append(runner)
                click.echo(banner)
                done, _ = await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # a companion's error is the command's
            finally:
                for runner in reversed(runners):
                    await runner.cleanup()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except OSError as e:  # the port is taken, the address is not this machine's, the name does not resolve
        where = ", ".join(f"{host}:{port}" for _, host, port, *_ in apps)
        raise click.ClickException(f"Cannot listen on {where}: {e.strerror or e}.") from None


@cli.command()
@env_option
@click.option("--host", default="127.0.0.1", show_default=True, type=Host())
@click.option("--port", default=8080, show_default=True, type=PORT)
@pass_ctx
def serve(ctx: Context, env_name, host, port):
    """Serve the clinician web view and API for one environment."""
    from .app import Core
    from .web import make_app

    core = Core(ctx.registry, env_name, ctx.pm)
    problem = core.startup_problem()
    if problem:
        raise click.ClickException(problem)
    if core.env.tgp == "all":
        click.echo(f"npo: warning: {env_name} serves every patient to every care unit (tgp all): no Tillgänglig "
                   "patient check.", err=True)
    contexts = [c for c in ctx.pm.hook.server_ssl_context(core=core) if c is not None]
    if len(contexts) > 1:
        raise click.ClickException("More than one plugin wants to set the server's TLS; enable only one.")
    tls = contexts[0] if contexts else None
    scheme = "https" if tls else "http"
    _run([(make_app(core), host, port, tls)], f"npo serving {env_name} on {scheme}://{host}:{port}/")


def _faults(ctx, param, values):
    """--fault ADDRESS=KIND: a source system's logical address and a misbehaviour the demo knows."""
    from .demo import PROVIDERS
    from .demo.platform import FAULTS

    faults = {}
    for value in values:
        address, sep, kind = value.partition("=")
        try:
            check_logical_address(address)
        except BadRequest:
            sep = ""
        if not sep or kind not in FAULTS:
            demo = ", ".join(system[0] for *_, system in PROVIDERS)
            raise click.BadParameter(f"{_quoted(value)} is not ADDRESS=KIND: a source system's logical address "
                                     f"(the demo's: {demo}) and one of {', '.join(FAULTS)}.", ctx, param)
        faults[address] = kind
    return faults


FAULT_HELP = ("Make one source system misbehave: slow, reset, http500, soap_fault, malformed, wrong_namespace, "
              "schema_invalid, oversize or entities (repeatable).")
LATENCY_HELP = "Seconds every demo producer waits (at most 600)."
PLATFORM_READY = "npo demo platform on "  # the start of the line `npo demo-platform` prints once it listens
PLATFORM_START_SECONDS = 30
PARENT_CHECK_SECONDS = 0.5


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, type=Host())
@click.option("--port", default=8080, show_default=True, type=PORT)
@click.option("--platform-port", default=8081, show_default=True, type=PORT,
              help="Port of the demo service platform and its producers.")
@click.option("--latency", default=0.0, show_default=True, type=Number(minimum=0, maximum=600), help=LATENCY_HELP)
@click.option("--fault", "faults", multiple=True, metavar="ADDRESS=KIND", callback=_faults, help=FAULT_HELP)
@pass_ctx
def demo(ctx: Context, host, port, platform_port, latency, faults):
    """Initialise and seed the demo environment, then serve it with its demo producers (in a process of
    their own: `npo demo-platform`, stopped with npo)."""
    from .app import Core
    from .demo import seed_blocks, seed_registry
    from .demo.platform import FAULTS
    from .web import make_app

    if port == platform_port:
        raise click.UsageError(f"--port and --platform-port are both {port}; they need a port each.")
    unknown = set(faults.values()) - set(FAULTS)
    if unknown:
        raise click.UsageError(f"unknown fault(s) {sorted(unknown)}; known: {', '.join(FAULTS)}")
    registry = ctx.registry
    seed_registry(registry, list(ctx.reg.contracts))
    registry.set_environment("demo", base_url=f"http://127.0.0.1:{platform_port}/vp")
    core = Core(registry, "demo", ctx.pm)
    seed_blocks(core.guards)
    app = make_app(core)
    app[_companions()] = [functools.partial(_platform_process, platform_port, latency, faults)]
    _run([(app, host, port)],
         f"npo demo on http://{host}:{port}/ (demo producers on http://127.0.0.1:{platform_port}/vp)")


def _exit_text(code: int) -> str:
    """How a child process ended, as asyncio reports it (a negative code is the signal that killed it)."""
    return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


@contextlib.asynccontextmanager
async def _platform_process(port: int, latency: float, faults: dict[str, str]):
    """`npo demo-platform` as npo demo's child: started and ready before npo serves, stopped after it.

    It runs in a session of its own, so a terminal's Ctrl-C reaches npo demo only, which stops it; if npo demo
    is killed outright, the child sees its parent gone and stops by itself (--parent-pid). Yields a task that
    raises if the platform exits while npo demo still runs."""
    command = [sys.executable, "-m", "npo_core", "demo-platform", "--host", "127.0.0.1", "--port", str(port),
               "--latency", f"{latency:.9f}", "--parent-pid", str(os.getpid())]
    for address, kind in faults.items():
        command += ["--fault", f"{address}={kind}"]
    try:
        proc = await asyncio.create_subprocess_exec(*command, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                    start_new_session=True)
    except OSError as e:
        raise click.ClickException(f"Cannot start the demo platform: {_os_error(e)}") from None
    tail = collections.deque(maxlen=5)  # its last stderr lines, for the error if it does not start
    ready = asyncio.Event()

    async def lines(stream):
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line over the reader's limit: dropped, the rest still read
                continue
            if not line:
                return
            yield line.decode("utf-8", "replace").rstrip("\n")

    async def relay(stream, out):
        """Its output: kept until it is ready (the error shows it), passed on after; always drained."""
        async for text in lines(stream):
            tail.append(text)
            if ready.is_set():
                click.echo(safe_text(text), err=out is sys.stderr)

    async def wait_ready():
        async for text in lines(proc.stdout):
            if text.startswith(PLATFORM_READY):
                return True
        return False

    errors = asyncio.ensure_future(relay(proc.stderr, sys.stderr))
    output = None
    watch = None
    try:
        try:
            started = await asyncio.wait_for(wait_ready(), PLATFORM_START_SECONDS)
        except asyncio.TimeoutError:
            started = None
        if not started:
            if started is None:
                why = f"did not say it was ready within {PLATFORM_START_SECONDS} s"
            else:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(proc.wait(), 5)
                    await asyncio.wait_for(asyncio.shield(errors), 2)
                why = f"exited ({_exit_text(proc.returncode)})" if proc.returncode is not None else "closed its output"
            said = " | ".join(line for line in tail if line.strip())
            raise click.ClickException(f"The demo platform on 127.0.0.1:{port} did not start: it {why}"
                                       + (f": {said}" if said else "."))
        ready.set()
        output = asyncio.ensure_future(relay(proc.stdout, sys.stdout))

        async def exited():
            code = await proc.wait()
            raise click.ClickException(f"The demo platform (pid {proc.pid}) stopped unexpectedly "
                                       f"({_exit_text(code)}); npo demo stops too.")

        watch = asyncio.ensure_future(exited())
        yield watch
    finally:
        if watch is not None:
            watch.cancel()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        for task in (errors, output):
            if task is not None:
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(task, 2)  # the rest of what it said, then end of file


@contextlib.asynccontextmanager
async def _while_parent(pid: int):
    """Yields a task that ends when `pid` is no longer this process's parent (npo demo was killed)."""
    async def watch():
        while os.getppid() == pid:
            await asyncio.sleep(PARENT_CHECK_SECONDS)
        with contextlib.suppress(OSError):  # its stderr may have gone with it
            click.echo(f"npo demo platform: the parent process {pid} is gone; stopping.", err=True)

    task = asyncio.ensure_future(watch())
    try:
        yield task
    finally:
        task.cancel()


@cli.command("demo-platform")
@click.option("--host", default="127.0.0.1", show_default=True, type=Host())
@click.option("--port", default=8081, show_default=True, type=PORT)
@click.option("--latency", default=0.0, show_default=True, type=Number(minimum=0, maximum=600), help=LATENCY_HELP)
@click.option("--fault", "faults", multiple=True, metavar="ADDRESS=KIND", callback=_faults, help=FAULT_HELP)
@click.option("--today", type=IsoDate(), help="The demo day (YYYY-MM-DD) demo records are dated from "
                                              "[default: today].")
@click.option("--parent-pid", type=Number(integer=True, minimum=1), hidden=True,
              help="Stop when this process (npo demo) is no longer the parent.")
@pass_ctx
def demo_platform(ctx: Context, host, port, latency, faults, today, parent_pid):
    """Serve the demo service platform and its producers alone, as `npo demo` runs them: a process apart,
    so the demo measures npo and not the producers' work."""
    from .demo.platform import make_platform

    try:
        platform = make_platform(ctx.reg.contracts, today, latency=latency, faults=faults, warm=True)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    if parent_pid is not None:
        platform[_companions()] = [functools.partial(_while_parent, parent_pid)]
    _run([(platform, host, port)], f"{PLATFORM_READY}http://{host}:{port}/vp")


# -- environments ----------------------------------------------------------------------


@cli.group()
def env():
    """Environments: prod, qa, sit and demo."""


@env.command("list")
@json_option
@pass_ctx
def env_list(ctx: Context, as_json):
    rows = [e.__dict__ for e in ctx.registry.environments()]
    if as_json:
        click.echo(dump_json(rows))
    else:
        echo_table(rows, ["name", "description", "npo_hsa_id", "base_url", "validate_responses"])


@env.command("show")
@click.argument("name")
@json_option
@pass_ctx
def env_show(ctx: Context, name, as_json):
    e = dict(ctx.registry.environment(name).__dict__)
    e.update(ctx.registry.plugin_settings(name))
    if as_json:
        click.echo(dump_json(e))
    else:
        for k, v in e.items():
            click.echo(safe_text(f"{k}: {v if v is not None else ''}"))


@env.command("set")
@click.argument("name")
@click.argument("key")
@click.argument("value")
@pass_ctx
def env_set(ctx: Context, name, key, value):
    """Set one setting, e.g. `npo env set qa base_url https://.../vp`.

    A dotted key sets a plugin's own setting: `npo env set qa siths.ca_bundle /etc/npo/siths-ca.pem`.

    Refused rather than stored: an unknown key; a URL (base_url, *_url) that is not http(s) with a host;
    a timeout that is not more than 0 and at most 3600 seconds; a total_deadline below read_timeout;
    a boolean other than yes/no, true/false, on/off, 1/0, ja/nej; an auth method no plugin provides;
    a certificate, key or other file (client_cert, *_file, *_cert, *_key, *_bundle, *_metadata) that is
    not an existing file. An empty VALUE clears an optional setting.
    """
    from .registry import (FILE_FIELDS, is_file_key, parse_environment_value, split_plugin_key)

    registry = ctx.registry
    registry.environment(name)
    if "." in key:
        plugin, setting = split_plugin_key(key)
        parsed = value or None
        if parsed is not None and is_file_key(setting):
            parsed = _existing_file(parsed, key)
        registry.set_plugin_setting(name, plugin, setting, parsed)
    else:
        parsed = parse_environment_value(key, value)
        if key == "auth_methods":
            methods, known = json.loads(parsed), sorted(ctx.reg.auth_methods)
            unknown = [m for m in methods if m not in known]
            if not methods or unknown:
                raise click.UsageError(f"auth_methods names one or more of {', '.join(known)} (comma separated)"
                                       + (f"; no plugin provides {', '.join(map(repr, unknown))}." if unknown else "."))
        if key in FILE_FIELDS and parsed is not None:
            parsed = _existing_file(parsed, key)
        registry.set_environment(name, **{key: parsed})
    shown = {1: "yes", 0: "no"}.get(parsed) if key == "validate_responses" else parsed
    click.echo(safe_text(f"{name}: {key} = {shown if shown is not None else '(not set)'}"))


def _existing_file(value: str, what: str) -> str:
    """A file npo reads later (certificate, key, CA bundle, CRL, directory): it must exist now and be a file.
    Stored as an absolute path (symbolic links kept, so a renewed certificate behind a link is still found)."""
    path = Path(value).expanduser()
    if not path.is_file():
        state = "is a directory" if path.is_dir() else "does not exist or is not a regular file"
        raise click.UsageError(f"{what}: {_quoted(value, 200)} {state}; give the path of the file.")
    return os.path.abspath(path)


# -- contracts -------------------------------------------------------------------------


@cli.group()
def contracts():
    """Service contracts (tjänstekontrakt) and their state per environment."""


@contracts.command("list")
@env_option
@json_option
@pass_ctx
def contracts_list(ctx: Context, env_name, as_json):
    rows = ctx.registry.contract_rows(env_name)
    for r in rows:
        r["enabled"] = bool(r["enabled"])
    if as_json:
        click.echo(dump_json(rows))
    else:
        echo_table([{**r, "enabled": "yes" if r["enabled"] else "no"} for r in rows],
                   ["id", "version", "categorization", "title", "enabled", "plugin"])


def _toggle(ctx: Context, name: str, env_name: str, enabled: bool) -> None:
    contract = ctx.contract(name)
    ctx.registry.set_contract_enabled(contract.id, env_name, enabled)
    click.echo(f"{contract.id} {'enabled' if enabled else 'disabled'} in {env_name}.")


@contracts.command("enable")
@click.argument("name")
@env_option
@pass_ctx
def contracts_enable(ctx: Context, name, env_name):
    """Enable a contract in an environment (takes effect without restart)."""
    _toggle(ctx, name, env_name, True)


@contracts.command("disable")
@click.argument("name")
@env_option
@pass_ctx
def contracts_disable(ctx: Context, name, env_name):
    """Disable a contract: it is never called and never shown there."""
    _toggle(ctx, name, env_name, False)


# -- reading a message file: one line naming what is wrong and where -------------------------

PLACEHOLDER = re.compile(r"\$\{[^}]{0,200}\}")  # SoapUI property expansion: ${patientId}, ${#TestCase#x}


def _path_of(element, top) -> str:
    """local[2]/local/... from `top` down to `element`, as a reader finds it in the file."""
    from lxml import etree

    steps = []
    el = element
    while el is not None and isinstance(el.tag, str):
        parent = el.getparent()
        local = etree.QName(el).localname
        same = [s for s in parent if s.tag == el.tag] if parent is not None else [el]
        steps.append(f"{local}[{same.index(el) + 1}]" if len(same) > 1 else local)
        if el is top:
            break
        el = parent
    return "/".join(reversed(steps))


def _at(file: str, element=None, top=None) -> str:
    """FILE, line N, element path: the place an error line names."""
    place = safe_text(file)
    if element is not None:
        if element.sourceline:
            place += f", line {element.sourceline}"
        place += f", <{safe_text(_path_of(element, top))}>"
    return place


def _read_message(file: str):
    """The XML document in FILE. A file npo cannot read ends here with one line saying what and where:
    a directory, device or pipe, too large, empty, binary, not well-formed XML, a DTD, a SOAP fault, an
    empty SOAP body, an unexpanded SoapUI placeholder."""
    from lxml import etree

    from . import soap
    from .errors import ContractError

    shown = safe_text(file)
    info = os.stat(file)
    if stat.S_ISDIR(info.st_mode):
        raise click.ClickException(f"{shown}: is a directory, not a message file.")
    if not stat.S_ISREG(info.st_mode):
        raise click.ClickException(f"{shown}: is not a regular file (a device, pipe or socket); give an XML file.")
    if info.st_size > soap.MAX_BODY_BYTES:
        raise click.ClickException(f"{shown}: {info.st_size} bytes; npo reads messages of at most "
                                   f"{soap.MAX_BODY_BYTES} bytes, as the service platform does.")
    with open(file, "rb") as f:
        data = f.read(soap.MAX_BODY_BYTES + 1)
    if not data.strip():
        raise click.ClickException(f"{shown}: the file is empty.")
    if b"\x00" in data and not data.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00<", b"<\x00")):
        raise click.ClickException(f"{shown}: is a binary file (it holds NUL bytes), not XML.")
    try:
        root = soap.parse_xml(data)
    except ContractError as e:
        syntax = e.__context__
        if isinstance(syntax, etree.XMLSyntaxError) and e.code == "malformed_xml":
            line, column = syntax.position
            problem = re.sub(r",? line \d+, column \d+$", "", syntax.msg or "").strip() or "syntax error"
            raise click.ClickException(f"{shown}, line {line}, column {column}: not well-formed XML "
                                       f"({safe_text(problem)}).") from None
        if e.code == "dtd_refused":
            raise click.ClickException(f"{shown}: holds a DTD (<!DOCTYPE ...>), which npo refuses "
                                       "(entity expansion and external entities).") from None
        raise click.ClickException(f"{shown}: {safe_text(e.message)}") from None
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        for value in (element.text, *element.attrib.values()):
            found = PLACEHOLDER.search(value or "")
            if found:
                raise click.ClickException(
                    f"{_at(file, element, root)}: holds the SoapUI placeholder {_quoted(found.group())}; this is "
                    "a template, not a message (expand its properties, or save the message SoapUI sent or got).")
    try:
        return soap.unwrap(root)[0]
    except ContractError as e:
        what = {"empty_body": "the SOAP envelope's Body is empty", "soap_fault": "is a SOAP fault, not an answer"}
        raise click.ClickException(f"{shown}: {what.get(e.code, 'cannot be unwrapped')} "
                                   f"({safe_text(e.message)}).") from None


def _locate(element, error: Exception, top) -> str:
    """Where inside `element` the plugin's error points: the element holding the value its message quotes."""
    message = str(getattr(error, "message", None) or error)
    for value in re.findall(r"'([^']*)'", message):
        for el in element.iter():
            if isinstance(el.tag, str) and (el.text or "").strip() == value:
                return f"line {el.sourceline}, <{safe_text(_path_of(el, top))}>: {safe_text(message)}"
    return f"line {element.sourceline}, <{safe_text(_path_of(element, top))}>: {safe_text(message)}"


def _first_unread(contract, payload, unread: list[dict]) -> str:
    """The first child of the answer npo could not read, with its line and what the plugin said."""
    import copy

    from lxml import etree

    from .decoding import PLUGIN_ERRORS

    record_tag = contract.q(contract.record_element) if contract.record_element else None
    shell = copy.copy(payload)
    for child in list(shell):
        if child.tag == record_tag:
            shell.remove(child)
    reasons = {u["element"]: u["reason"] for u in unread}
    for child in payload:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child)
        if child.tag == record_tag:
            single = copy.copy(shell)
            single.insert(0, copy.deepcopy(child))
            try:
                contract.parse_response(single)
            except PLUGIN_ERRORS as e:
                return _locate(child, e, payload)
        elif not (name.namespace == contract.responder_namespace and name.localname in contract.envelope_elements) \
                and name.localname in reasons:
            place = safe_text(_path_of(child, payload))
            return f"line {child.sourceline}, <{place}>: {safe_text(reasons[name.localname])}"
    first = unread[0]
    return f"<{safe_text(first['element'])}>: {safe_text(first['reason'])}"


@contracts.command("validate")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--schemas", "bundle", type=click.Path(file_okay=False), help="RIV-TA schema bundle to use.")
@pass_ctx
def contracts_validate(ctx: Context, name, file, bundle):
    """Validate a request or response (envelope or bare body) against the official schema."""
    from .schemas import SchemaSet, check_bundle, default_bundle

    contract = ctx.contract(name)
    payload = _read_message(file)  # a file npo cannot read is reported as such, bundle or not
    path = Path(bundle) if bundle else default_bundle(ctx.registry.setting("schema_bundle"))
    if path is None:
        raise click.ClickException("No schema bundle configured: run `npo schemas use DIR` or pass --schemas.")
    issues = SchemaSet(check_bundle(path)).issues(contract, payload)
    if issues:
        for issue in issues:
            click.echo(safe_text(issue), err=True)
        raise click.ClickException(f"{safe_text(file)} is not valid {contract.name} {contract.version} "
                                   f"({len(issues)} errors).")
    click.echo(f"{safe_text(file)} is valid {contract.name} {contract.version}.")


@contracts.command("check")
@click.argument("name")
@click.option("--schemas", "bundle", type=click.Path(file_okay=False), help="RIV-TA schema bundle to use.")
@pass_ctx
def contracts_check(ctx: Context, name, bundle):
    """Run the conformance checks for one contract plugin (usable in a plugin's own CI)."""
    from . import conformance
    from .schemas import check_bundle, default_bundle

    contract = ctx.contract(name)
    path = Path(bundle) if bundle else default_bundle(ctx.registry.setting("schema_bundle"))
    if path is None:
        raise click.ClickException("No schema bundle configured: run `npo schemas use DIR` or pass --schemas.")
    failed = 0
    for check in conformance.checks(contract, check_bundle(path), ctx.reg.views):
        try:
            check.run()
            click.echo(f"ok    {safe_text(check.name)}")
        except Exception as e:  # a plugin's own exception is a failed check, not a crash
            failed += 1
            detail = e if isinstance(e, AssertionError) else f"{type(e).__name__}: {e}"
            click.echo(safe_text(f"FAIL  {check.name}: {detail}"))
    if failed:
        raise click.ClickException(f"{contract.id}: {failed} conformance check(s) failed.")
    click.echo(f"{contract.id} ({contract.plugin}) conforms to {contract.name} {contract.version}.")


@contracts.command("new")
@click.argument("name")
@click.option("--schema", "schema", required=True, metavar="PATH-IN-BUNDLE",
              help="The responder XSD, as a path inside the bundle.")
@click.option("--bundle", "bundle", type=click.Path(file_okay=False),
              help="RIV-TA schema bundle (default: the one `npo schemas use` set, else NPO_RIVTA_SCHEMAS).")
@click.option("--into", "into", type=click.Path(exists=True, file_okay=False), default=".", show_default=True,
              help="Directory (it must exist) to write the package folder in.")
@pass_ctx
def contracts_new(ctx: Context, name, schema, bundle, into):
    """Write an installable plugin package for contract NAME from its official responder schema.

    \b
    Example:
      npo contracts new GetObservations --schema clinicalprocess_healthcond_basic/interactions/\
GetObservationsInteraction/GetObservationsResponder_1.1.xsd
    """
    from .scaffold import scaffold
    from .schemas import check_bundle, default_bundle

    path = Path(bundle) if bundle else default_bundle(ctx.registry.setting("schema_bundle"))
    if path is None:
        raise click.ClickException("No schema bundle configured: run `npo schemas use DIR` or pass --bundle.")
    if not schema.strip() or Path(schema).is_absolute() or ".." in Path(schema).parts:
        raise click.BadParameter(f"{_quoted(schema)} is not a path inside the bundle "
                                 "(domain/interactions/.../XResponder_1.0.xsd).", param_hint="'--schema'")
    package = scaffold(name, schema, check_bundle(path), Path(into))
    click.echo(safe_text(f"Wrote {package}"))
    taken = sorted(f"{c.id} ({c.plugin})" for c in ctx.reg.contracts.values() if c.name == name)
    if taken:
        click.echo(f"Note: npo already has {', '.join(taken)}; two plugins registering one contract id "
                   "stop start-up.", err=True)
    click.echo(safe_text(f"Next: pip install -e {package} && npo contracts check {name} --schemas {path}") + "\n"
               + safe_text(f"Then work through the TODO list in {package / 'README.md'}."))


@contracts.command("coverage")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="As JSON: {path: count}.")
@pass_ctx
def contracts_coverage(ctx: Context, name, file, as_json):
    """List every element of an answer file that the contract's declaration does not map.

    Each is something a producer sent that npo would neither show nor keep. Exit 1 when there
    is any; a contract that is not a declaration cannot be checked (exit 1, one line)."""
    from .riv.coverage import unmapped

    contract = ctx.contract(name)
    if not hasattr(contract, "mapped_elements"):
        raise click.ClickException(f"{contract.id} is not a declaration (npo_core.riv): its coverage is unknown.")
    found = unmapped(contract, _read_message(file))
    if as_json:
        click.echo(dump_json(dict(sorted(found.items()))))
    else:
        for path, count in sorted(found.items()):
            click.echo(f"{count:6}  {safe_text(path)}")
    if found:
        raise click.ClickException(f"{safe_text(file)}: {sum(found.values())} element(s) in {len(found)} "
                                   f"place(s) that {contract.id} does not map.")
    if not as_json:
        click.echo(f"{safe_text(file)}: every element is mapped by {contract.id}.")


@contracts.command("decode")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@pass_ctx
def contracts_decode(ctx: Context, name, file):
    """Print the normalised records of a response file as JSON, with what could not be read.

    Decoded as the server decodes an answer: one record the plugin cannot read costs that record,
    listed under "unread" (element, reason, count) with the others shown. Anything unread, or a
    file that is no answer at all, also ends in one error line naming the place, and exit 1.
    """
    from lxml import etree

    from .decoding import decode_payload  # accounts for every child of the answer (records + unread)
    from .errors import ContractError

    contract = ctx.contract(name)
    payload = _read_message(file)
    expected = contract.q(f"{contract.name}Response")
    if payload.tag != expected:
        found = etree.QName(payload)
        raise click.ClickException(
            f"{_at(file, payload, payload)}: is {safe_text(found.localname)} in "
            f"{safe_text(found.namespace or 'no namespace')}, not a {contract.name}Response of version "
            f"{contract.major} ({contract.responder_namespace}).")
    try:
        answer = decode_payload(contract, payload)
    except ContractError as e:
        cause = e.__cause__ or e
        raise click.ClickException(f"{safe_text(file)}: {contract.id} cannot read this answer; "
                                   f"{_locate(payload, cause, payload)}") from None
    click.echo(dump_json({"result_code": answer.result_code, "message": answer.message,
                          "error_code": answer.error_code, "log_id": answer.log_id,
                          "has_more": answer.has_more, "records": [r.to_json() for r in answer.records],
                          "unread": answer.unread}))
    if answer.unread:
        count = sum(u["count"] for u in answer.unread)
        raise click.ClickException(f"{safe_text(file)}: {count} element(s) could not be read, first at "
                                   f"{_first_unread(contract, payload, answer.unread)} (see \"unread\").")


# -- producers -------------------------------------------------------------------------


@cli.group()
def producers():
    """Producers: care providers, their care units and source systems."""


@producers.command("list")
@env_option
@json_option
@pass_ctx
def producers_list(ctx: Context, env_name, as_json):
    produced: dict[str, list[str]] = {}
    for row in ctx.registry.produced_contracts(env_name):
        produced.setdefault(row["logical_address"], []).append(row["contract_id"])
    rows = [{**s.__dict__, "contracts": sorted(produced.get(s.logical_address, []))}
            for s in ctx.registry.source_systems(env_name)]
    if as_json:
        click.echo(dump_json(rows))
    else:
        echo_table([{**r, "contracts": ", ".join(r["contracts"])} for r in rows],
                   ["logical_address", "name", "care_provider_name", "endpoint", "contracts"])


def _units(ctx, param, values):
    """--unit HSA-ID=Name (the name may be left out): checked, all of them, before anything is written."""
    units = []
    for value in values:
        unit_id, sep, unit_name = value.partition("=")
        try:
            check_hsa_id(unit_id)
        except BadRequest as e:
            raise click.BadParameter(f"{_quoted(value)} is not HSA-ID=Name: {e.message}", ctx, param) from None
        if sep and not unit_name.strip() or len(unit_name) > 200:
            raise click.BadParameter(f"{_quoted(value)}: the unit's name is empty or longer than 200 characters.",
                                     ctx, param)
        units.append((unit_id, unit_name or unit_id))
    return units


def _http_url(ctx, param, value):
    """Option callback: an http(s) URL with a host (never javascript:, file:, or no URL at all)."""
    from .registry import check_url

    if value is None:
        return None
    try:
        return check_url(value, "The URL")
    except BadRequest as e:
        raise click.BadParameter(e.message, ctx, param) from None


@producers.command("add")
@env_option
@click.option("--provider", "provider_id", required=True, callback=_hsa_id, help="Care provider (vårdgivare) HSA-id.")
@click.option("--provider-name", type=Text(), help="Care provider name (needed the first time).")
@click.option("--unit", "units", multiple=True, callback=_units, help="Care unit as HSA-ID=Name (repeatable).")
@click.option("--logical-address", required=True, callback=_logical_address,
              help="Source system logical address (an HSA-id, a bare organisation number or another TAK code).")
@click.option("--system-name", required=True, type=Text(), help="Source system name.")
@click.option("--contract", "contract_names", multiple=True, required=True, help="Contract it produces (repeatable).")
@click.option("--endpoint", callback=_http_url, help="Call this URL (http or https) instead of the service platform.")
@pass_ctx
def producers_add(ctx: Context, env_name, provider_id, provider_name, units, logical_address, system_name,
                  contract_names, endpoint):
    """Add or replace a source system and what it produces."""
    registry = ctx.registry
    ids = [ctx.contract(n).id for n in contract_names]  # everything is checked before anything is written
    if provider_name is None and provider_id not in registry.care_provider_names():
        raise click.UsageError(f"Care provider {provider_id} is new to the registry: give its --provider-name.")
    if provider_name:
        registry.add_care_provider(provider_id, provider_name)
    for unit_id, unit_name in units:
        registry.add_care_unit(unit_id, provider_id, unit_name)
    registry.add_source_system(env_name, logical_address, provider_id, system_name, ids, endpoint)
    click.echo(safe_text(f"{logical_address} ({system_name}) produces {', '.join(ids)} in {env_name}."))


@producers.command("remove")
@env_option
@click.argument("logical_address", callback=_logical_address)
@pass_ctx
def producers_remove(ctx: Context, env_name, logical_address):
    """Remove a source system: it is never called again."""
    ctx.registry.remove_source_system(env_name, logical_address)
    click.echo(safe_text(f"{logical_address} removed from {env_name}."))


@cli.command()
@env_option
@json_option
@pass_ctx
def available(ctx: Context, env_name, as_json):
    """Tillgänglig information: care providers × information sets available in ENV."""
    registry = ctx.registry
    enabled = registry.enabled_contracts(env_name)
    names = registry.care_provider_names()
    titles = {c.id: c.title for c in ctx.reg.contracts.values()}
    table: dict[str, set[str]] = {}
    for row in registry.produced_contracts(env_name):
        if row["contract_id"] in enabled and row["contract_id"] in titles:
            table.setdefault(names.get(row["care_provider_id"], row["care_provider_id"]), set()).add(
                titles[row["contract_id"]])
    sets = sorted({t for v in table.values() for t in v})
    if as_json:
        click.echo(dump_json({p: sorted(v) for p, v in sorted(table.items())}))
        return
    echo_table([{"Vårdgivare": p, **{s: "x" if s in v else "" for s in sets}} for p, v in sorted(table.items())],
               ["Vårdgivare"] + sets)


@cli.group()
def schemas():
    """The official RIV-TA schema bundle npo validates against."""


@schemas.command("use")
@click.argument("directory", type=click.Path(file_okay=False))
@pass_ctx
def schemas_use(ctx: Context, directory):
    """Point npo at a bundle laid out like Inera's (domain/interactions/...)."""
    from .schemas import check_bundle

    path = check_bundle(Path(directory))
    ctx.registry.set_setting("schema_bundle", str(path))
    click.echo(safe_text(f"Schema bundle: {path}"))


@cli.group()
def feedback():
    """Feedback (synpunkter) clinicians sent from the web view."""


@feedback.command("list")
@json_option
@pass_ctx
def feedback_list(ctx: Context, as_json):
    """Clinicians' text is shown escaped: control characters and escape sequences never reach the terminal."""
    _print_rows(ctx.registry.feedback(), ["id", "time", "user_id", "care_unit_id", "page", "did", "expected",
                                          "happened"], as_json)


# -- the core's guards: local administration ------------------------------------------------

by_option = click.option("--by", "by", required=True, callback=_hsa_id,
                         help="HSA-id of the person doing this (it is logged).")
patient_option = click.option("--patient", "patient_raw", callback=_patient_id,
                              help="Personnummer or samordningsnummer.")


def _guards(ctx: Context):
    from .guards import GuardStore

    ctx.registry  # migrate first
    return GuardStore(ctx.registry.path)


def _patient(raw: str | None):
    from .identity import parse_patient_id

    return parse_patient_id(raw) if raw else None


def _exclude(ctx, param, value):
    """--exclude lak,upp: only the information types a block may leave out."""
    types = [x.strip() for x in (value or "").split(",") if x.strip()]
    if set(types) - {"lak", "upp"}:
        raise click.BadParameter(f"{_quoted(value)}: only lak and upp can be excluded (comma separated).", ctx, param)
    return types


def _print_rows(rows: list[dict], columns: list[str], as_json: bool, as_csv: bool = False) -> None:
    """Rows as a table, JSON or CSV, every text escaped for the terminal (see safe_text)."""
    if as_json:
        click.echo(dump_json(rows))
    elif as_csv:
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows([{c: safe_text(r.get(c)) if isinstance(r.get(c), str) else r.get(c) for c in columns}
                          for r in rows])
    else:
        echo_table(rows, columns)


@cli.group()
def blocks():
    """Blocks (spärr) registered locally."""


@blocks.command("list")
@patient_option
@json_option
@pass_ctx
def blocks_list(ctx: Context, patient_raw, as_json):
    patient = _patient(patient_raw)
    rows = _guards(ctx).block_rows(patient.id if patient else None)
    _print_rows(rows, ["id", "block_type", "patient_id", "care_provider_id", "care_unit_id", "info_start", "info_end",
                       "excluded_types", "revokes", "cancelled_at"], as_json)


@blocks.command("add")
@patient_option
@click.option("--type", "block_type", type=click.Choice(["inner", "outer"]), required=True,
              help="inner: on a care unit; outer: on a whole care provider.")
@click.option("--provider", required=True, callback=_hsa_id, help="Care provider HSA-id that owns the information.")
@click.option("--unit", callback=_hsa_id, help="Care unit HSA-id (inner blocks).")
@click.option("--from", "start", type=IsoDate(), help="Only information registered from this date (YYYY-MM-DD).")
@click.option("--to", "end", type=IsoDate(), help="Only information registered up to this date (YYYY-MM-DD).")
@click.option("--exclude", default="", callback=_exclude,
              help="Information types the block does not cover: lak, upp (comma separated).")
@by_option
@pass_ctx
def blocks_add(ctx: Context, patient_raw, block_type, provider, unit, start, end, exclude, by):
    patient = _patient(patient_raw)
    if patient is None:
        raise click.UsageError("--patient is required.")
    guards = _guards(ctx)
    bid, sql = guards.block_insert_sql(
        block_type=block_type.capitalize(), patient_id=patient.id, care_provider_id=provider,
        care_unit_id=unit, info_start=start, info_end=end, excluded_types=exclude, registered_by=by)
    guards.admin_change(by, "register_block", patient.id, [sql], block_id=bid)
    click.echo(f"Block {bid} registered.")


@blocks.command("revoke")
@click.argument("block_id")
@click.option("--unit", required=True, callback=_hsa_id, help="Care unit HSA-id the revoke applies to.")
@click.option("--employee", callback=_hsa_id, help="Only this employee (HSA-id); default: everyone at the unit.")
@click.option("--reason", type=click.Choice(["PatientsConsent", "Emergency"]), required=True)
@click.option("--text", "reason_text", type=Text(1000), help="Free text reason.")
@click.option("--days", type=Number(above=0, maximum=7), default=1, show_default=True,
              help="More than 0, at most 7.")
@by_option
@pass_ctx
def blocks_revoke(ctx: Context, block_id, unit, employee, reason, reason_text, days, by):
    """Temporarily lift a block for a care unit (or one employee), at most 7 days."""
    guards = _guards(ctx)
    rows = [r for r in guards.block_rows() if r["id"] == block_id and not r["cancelled_at"]]
    if not rows:
        raise click.ClickException(f"No active block {_quoted(block_id)}.")
    rid, sql = guards.revoke_insert_sql(block_id=block_id, care_unit_id=unit, employee_id=employee, reason=reason,
                                        reason_text=reason_text, days=days, registered_by=by)
    guards.admin_change(by, "revoke_block", rows[0]["patient_id"], [sql], block_id=block_id, revoke_id=rid)
    click.echo(f"Block {block_id} temporarily revoked for {employee or unit} ({days:g} days).")


@blocks.command("cancel")
@click.argument("block_id")
@by_option
@pass_ctx
def blocks_cancel(ctx: Context, block_id, by):
    """Lift a block for good (the patient may always have it lifted)."""
    guards = _guards(ctx)
    sql = guards.block_cancel_sql(block_id)
    patient_id = next(r["patient_id"] for r in guards.block_rows() if r["id"] == block_id)
    guards.admin_change(by, "cancel_block", patient_id, [sql], block_id=block_id)
    click.echo(f"Block {block_id} cancelled.")


@cli.group()
def consents():
    """Consents (samtycke) and emergency assertions."""


@consents.command("list")
@patient_option
@json_option
@pass_ctx
def consents_list(ctx: Context, patient_raw, as_json):
    patient = _patient(patient_raw)
    _print_rows(_guards(ctx).consent_rows(patient.id if patient else None),
                ["id", "assertion_type", "patient_id", "care_provider_id", "care_unit_id", "employee_id", "start",
                 "end", "cancelled_at", "annulled_at"], as_json)


@consents.command("add")
@patient_option
@click.option("--provider", required=True, callback=_hsa_id, help="Care provider HSA-id the consent is given to.")
@click.option("--unit", required=True, callback=_hsa_id, help="Care unit HSA-id where it is registered.")
@click.option("--employee", callback=_hsa_id,
              help="Only this employee (HSA-id); default: all authorised staff at the unit.")
@click.option("--days", type=Number(integer=True, minimum=1, maximum=365),
              help="Valid for this many days (1-365); default: until ended.")
@click.option("--represented-by", type=Text(), help="Given through a representative (identity).")
@by_option
@pass_ctx
def consents_add(ctx: Context, patient_raw, provider, unit, employee, days, represented_by, by):
    from .guards import now

    patient = _patient(patient_raw)
    if patient is None:
        raise click.UsageError("--patient is required.")
    guards = _guards(ctx)
    start = now()
    cid, sql = guards.consent_insert_sql(
        assertion_type="Consent", patient_id=patient.id, care_provider_id=provider, care_unit_id=unit,
        employee_id=employee, start=start, end=start + dt.timedelta(days=days) if days else None,
        registered_by=by, assignment_id="cli", represented_by=represented_by)
    guards.admin_change(by, "register_consent", patient.id, [sql], consent_id=cid)
    click.echo(f"Consent {cid} registered.")


def _end_consent(ctx: Context, consent_id: str, by: str, how: str) -> None:
    guards = _guards(ctx)
    sql = guards.consent_end_sql(consent_id, how, by)
    patient_id = next(r["patient_id"] for r in guards.consent_rows() if r["id"] == consent_id)
    guards.admin_change(by, f"{how}_consent", patient_id, [sql], consent_id=consent_id)
    click.echo(f"Consent {consent_id} {'cancelled' if how == 'cancel' else 'annulled'}.")


@consents.command("cancel")
@click.argument("consent_id")
@by_option
@pass_ctx
def consents_cancel(ctx: Context, consent_id, by):
    """End a consent early (kept for history)."""
    _end_consent(ctx, consent_id, by, "cancel")


@consents.command("annul")
@click.argument("consent_id")
@by_option
@pass_ctx
def consents_annul(ctx: Context, consent_id, by):
    """Annul a consent registered by mistake."""
    _end_consent(ctx, consent_id, by, "annul")


@cli.group()
def log():
    """The access log (PDL)."""


@log.command("verify")
@click.option("--checkpoints", "checkpoints", type=click.Path(exists=True, dir_okay=False),
              help="Verify against this copy of the checkpoint file (one shipped elsewhere), with the database's.")
@pass_ctx
def log_verify(ctx: Context, checkpoints):
    """Check the access log: each entry's HMAC, its chain, gap-free seq, and every signed checkpoint.

    Fails (exit 1) with one line saying what was found: truncated, entries deleted, re-chained,
    checkpoint forged or checkpoints missing."""
    result = _guards(ctx).verify(checkpoints)
    if not result.ok:
        raise click.ClickException(result.message)
    click.echo(result.message)


@log.command("checkpoint")
@pass_ctx
def log_checkpoint(ctx: Context):
    """Sign a checkpoint of the access log now (a running server signs one every minute in which entries
    were logged, and one when it stops)."""
    guards = _guards(ctx)
    cp = guards.checkpoint()
    click.echo(f"Checkpoint signed: entry {cp.seq} ({cp.entries} entries), head {cp.head[:16]}..., {cp.time}, "
               f"key {cp.key_id}; in the database and appended to {guards.checkpoint_file}.")


@log.command("public-key")
@pass_ctx
def log_public_key(ctx: Context):
    """Print the public key (PEM) that verifies the access log's checkpoints."""
    click.echo(_guards(ctx).key.public_pem(), nl=False)


REPORT_COLUMNS = ["time", "activity", "action", "user_id", "assignment_name", "user_care_unit_id", "patient_id",
                  "resource_care_provider_id", "resource_care_unit_id", "contract", "record_count"]


def _period(start: dt.date | None, end: dt.date | None) -> tuple[dt.date | None, dt.date | None]:
    """--from/--to as bounds: refused the wrong way round; up to and including 9999-12-31 is no bound."""
    if start and end and end < start:
        raise click.UsageError(f"--to {end} is before --from {start}.")
    return start, end if end and end < dt.date.max else None


@log.command("report")
@patient_option
@click.option("--user", callback=_hsa_id, help="Employee HSA-id.")
@click.option("--unit", callback=_hsa_id, help="The reading care unit's HSA-id.")
@click.option("--from", "start", type=IsoDate(), help="From this date (YYYY-MM-DD).")
@click.option("--to", "end", type=IsoDate(), help="Up to and including this date (YYYY-MM-DD).")
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@pass_ctx
def log_report(ctx: Context, patient_raw, user, unit, start, end, as_json, as_csv):
    """Entries for log review (logguppföljning), emergency accesses first."""
    patient = _patient(patient_raw)
    if not (patient or user or unit):
        raise click.UsageError("Say whose log: --patient, --user or --unit.")
    where, args = ["1=1"], []
    for column, value in (("patient_id", patient.id if patient else None), ("user_id", user),
                          ("user_care_unit_id", unit)):
        if value:
            where.append(f"{column} = ?")
            args.append(value)
    from .guards import time_bounds

    bounds, bound_args = time_bounds(*_period(start, end))
    rows = _guards(ctx).log_rows(" and ".join(where + bounds), args + bound_args)
    rows.sort(key=lambda r: (r["activity"] != "Nödöppning", r["time"], r["seq"]))
    _print_rows(rows, REPORT_COLUMNS, as_json, as_csv)


@log.command("extract")
@patient_option
@json_option
@pass_ctx
def log_extract(ctx: Context, patient_raw, as_json):
    """The patient's own extract: which care units read what, and when."""
    patient = _patient(patient_raw)
    if patient is None:
        raise click.UsageError("--patient is required.")
    providers, units = ctx.registry.care_provider_names(), ctx.registry.care_unit_names()
    titles = {c.id: c.title for c in ctx.reg.contracts.values()}
    rows = [{"time": r["time"], "care_unit": units.get(r["user_care_unit_id"], r["user_care_unit_id"]),
             "care_provider": providers.get(r["user_care_provider_id"], r["user_care_provider_id"]),
             "activity": r["activity"],
             "information": titles.get(r["contract"], r["contract"] or ""),
             "information_owner": units.get(r["resource_care_unit_id"] or "", r["resource_care_unit_id"] or "")}
            for r in _guards(ctx).log_rows("patient_id = ? and action in ('read', 'open_blocked')", [patient.id])]
    _print_rows(rows, ["time", "care_unit", "care_provider", "activity", "information", "information_owner"], as_json)


UNEXPECTED_EXIT = 70  # EX_SOFTWARE: a bug in npo or a plugin, not a wrong input


STATS_COLUMNS = ["environment", "day", "reads", "searches", "clinicians", "care_units", "consents",
                 "emergency_accesses"]


@cli.command()
@click.option("--from", "start", type=IsoDate(), help="From this date (YYYY-MM-DD).")
@click.option("--to", "end", type=IsoDate(), help="Up to and including this date (YYYY-MM-DD).")
@click.option("--env", "env_name", callback=_known_env, help="Only this environment.")
@json_option
@pass_ctx
def stats(ctx: Context, start, end, env_name, as_json):
    """Usage statistics (användningsstatistik) from the access log, per environment and day: reads, patients
    searched, distinct clinicians and care units, consents and emergency accesses. Counts only, no patient data."""
    rows = [r for r in _guards(ctx).usage(*_period(start, end)) if env_name is None or r["environment"] == env_name]
    _print_rows(rows, STATS_COLUMNS, as_json)


def main() -> None:
    """Entry point: expected failures print one line and exit non-zero, never a traceback.

    Anything else is a bug; it too ends in one line (exit 70) unless NPO_DEBUG=1 asks for the traceback."""
    try:
        pm = make_plugin_manager()
        pm.hook.register_commands(cli=cli)
        cli.main(standalone_mode=False, obj=pm)
    except click.exceptions.Abort:
        sys.exit(1)
    except click.ClickException as e:
        e.message = safe_text(e.message)
        e.show()
        sys.exit(e.exit_code)
    except NpoError as e:
        click.echo(f"Error: {safe_text(e.message)}", err=True)
        sys.exit(1)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except BrokenPipeError:  # `npo log report ... | head`: the reader left; say nothing more
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, never a traceback
        if os.environ.get("NPO_DEBUG") == "1":
            raise
        click.echo(f"Error: unexpected {type(e).__name__}: {safe_text(str(e))[:500]} (a bug in npo or a plugin; "
                   "run again with NPO_DEBUG=1 for the traceback and report it).", err=True)
        sys.exit(UNEXPECTED_EXIT)
