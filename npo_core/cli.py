"""The operator's command line: `npo --help`."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from pathlib import Path

import click

from .errors import NpoError
from .plugins import collect, describe, make_plugin_manager
from .registry import Registry

registry_option = click.option(
    "--registry", "registry_path", envvar="NPO_REGISTRY", type=click.Path(dir_okay=False),
    default="registry.db", show_default=True, help="Registry database (created and migrated on first use).")
env_option = click.option("--env", "env_name", required=True, help="Environment: prod, qa, sit or demo.")
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
    widths = {c: max([len(c)] + [len(str(r.get(c, "") if r.get(c) is not None else "")) for r in rows]) for c in columns}
    click.echo("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for r in rows:
        click.echo("  ".join(str(r.get(c) if r.get(c) is not None else "").ljust(widths[c]) for c in columns).rstrip())


@click.group()
@registry_option
@click.version_option(package_name="npo")
@click.pass_context
def cli(ctx, registry_path):
    """npo: an open National Patient Overview (Nationell patientöversikt)."""
    ctx.obj = Context(registry_path, pm=ctx.obj)


@cli.command()
@pass_ctx
def init(ctx: Context):
    """Create or migrate the registry and record every registered contract."""
    registry = ctx.registry
    click.echo(f"Registry ready at {registry.path} ({len(ctx.reg.contracts)} contracts registered).")


@cli.command()
@json_option
@pass_ctx
def plugins(ctx: Context, as_json):
    """List plugins: name, version, hooks, and what each registered."""
    info = describe(ctx.pm, ctx.reg)
    if as_json:
        click.echo(json.dumps(info, indent=2, ensure_ascii=False))
        return
    for p in info:
        reg = "; ".join(f"{k}: {', '.join(v)}" for k, v in p["registered"].items())
        click.echo(f"{p['name']} {p['version'] or ''}".rstrip())
        click.echo(f"  hooks: {', '.join(p['hooks'])}")
        if reg:
            click.echo(f"  registered: {reg}")


# -- serving -------------------------------------------------------------------------


def _run(apps: list[tuple], banner: str) -> None:
    """Serve (app, host, port[, ssl_context]) tuples in one process until interrupted."""
    from aiohttp import web

    async def main():
        runners = []
        for app, host, port, *tls in apps:
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, host, port, ssl_context=tls[0] if tls else None).start()
            runners.append(runner)
        click.echo(banner)
        try:
            await asyncio.Event().wait()
        finally:
            for runner in reversed(runners):
                await runner.cleanup()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


@cli.command()
@env_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@pass_ctx
def serve(ctx: Context, env_name, host, port):
    """Serve the clinician web view and API for one environment."""
    from .app import Core
    from .web import make_app

    core = Core(ctx.registry, env_name, ctx.pm)
    contexts = [c for c in ctx.pm.hook.server_ssl_context(core=core) if c is not None]
    if len(contexts) > 1:
        raise click.ClickException("More than one plugin wants to set the server's TLS; enable only one.")
    tls = contexts[0] if contexts else None
    scheme = "https" if tls else "http"
    _run([(make_app(core), host, port, tls)], f"npo serving {env_name} on {scheme}://{host}:{port}/")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--platform-port", default=8081, show_default=True, type=int,
              help="Port of the demo service platform and its producers.")
@click.option("--latency", default=0.0, show_default=True, type=float, help="Seconds every demo producer waits.")
@click.option("--fault", "faults", multiple=True, metavar="ADDRESS=KIND",
              help="Make one source system misbehave: slow, reset, http500, soap_fault, malformed, "
                   "wrong_namespace, schema_invalid, oversize or entities (repeatable).")
@pass_ctx
def demo(ctx: Context, host, port, platform_port, latency, faults):
    """Initialise and seed the demo environment, then serve it with its demo producers."""
    from .app import Core
    from .demo import seed_blocks, seed_registry
    from .demo.platform import make_platform
    from .web import make_app

    registry = ctx.registry
    seed_registry(registry, list(ctx.reg.contracts))
    registry.set_environment("demo", base_url=f"http://127.0.0.1:{platform_port}/vp")
    core = Core(registry, "demo", ctx.pm)
    seed_blocks(core.guards)
    try:
        platform = make_platform(ctx.reg.contracts, latency=latency,
                                 faults=dict(f.split("=", 1) for f in faults if "=" in f))
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    _run([(platform, "127.0.0.1", platform_port), (make_app(core), host, port)],
         f"npo demo on http://{host}:{port}/ (demo producers on http://127.0.0.1:{platform_port}/vp)")


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
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
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
        click.echo(json.dumps(e, indent=2, ensure_ascii=False))
    else:
        for k, v in e.items():
            click.echo(f"{k}: {v if v is not None else ''}")


@env.command("set")
@click.argument("name")
@click.argument("key")
@click.argument("value")
@pass_ctx
def env_set(ctx: Context, name, key, value):
    """Set one setting, e.g. `npo env set qa base_url https://.../vp`.

    A dotted key sets a plugin's own setting: `npo env set qa siths.ca_bundle /etc/npo/siths-ca.pem`.
    """
    if "." in key:
        plugin, _, setting = key.partition(".")
        ctx.registry.set_plugin_setting(name, plugin, setting, value or None)
        click.echo(f"{name}: {key} = {value}")
        return
    if key in ("connect_timeout", "read_timeout", "total_deadline"):
        try:
            parsed = float(value)
        except ValueError:
            raise click.UsageError(f"{key} is a number of seconds.") from None
    elif key == "validate_responses":
        parsed = int(value.lower() in ("1", "true", "yes", "on"))
    elif key == "auth_methods":
        parsed = json.dumps([v.strip() for v in value.split(",") if v.strip()])
    else:
        parsed = value or None
    ctx.registry.set_environment(name, **{key: parsed})
    click.echo(f"{name}: {key} = {value}")


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
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
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


def _payload(path: str):
    from . import soap

    data = Path(path).read_bytes()
    return soap.unwrap(soap.parse_xml(data))[0]


@contracts.command("validate")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--schemas", "bundle", type=click.Path(file_okay=False), help="RIV-TA schema bundle to use.")
@pass_ctx
def contracts_validate(ctx: Context, name, file, bundle):
    """Validate a request or response (envelope or bare body) against the official schema."""
    from .schemas import SchemaSet, check_bundle, default_bundle

    contract = ctx.contract(name)
    path = Path(bundle) if bundle else default_bundle(ctx.registry.setting("schema_bundle"))
    if path is None:
        raise click.ClickException("No schema bundle configured: run `npo schemas use DIR` or pass --schemas.")
    issues = SchemaSet(check_bundle(path)).issues(contract, _payload(file))
    if issues:
        for issue in issues:
            click.echo(str(issue), err=True)
        raise click.ClickException(f"{file} is not valid {contract.name} {contract.version} ({len(issues)} errors).")
    click.echo(f"{file} is valid {contract.name} {contract.version}.")


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
            click.echo(f"ok    {check.name}")
        except Exception as e:  # a plugin's own exception is a failed check, not a crash
            failed += 1
            click.echo(f"FAIL  {check.name}: {e if isinstance(e, AssertionError) else f'{type(e).__name__}: {e}'}")
    if failed:
        raise click.ClickException(f"{contract.id}: {failed} conformance check(s) failed.")
    click.echo(f"{contract.id} ({contract.plugin}) conforms to {contract.name} {contract.version}.")


@contracts.command("new")
@click.argument("name")
@click.option("--schema", "schema", required=True, metavar="PATH-IN-BUNDLE",
              help="The responder XSD, as a path inside the bundle.")
@click.option("--bundle", "bundle", type=click.Path(file_okay=False),
              help="RIV-TA schema bundle (default: the one `npo schemas use` set, else NPO_RIVTA_SCHEMAS).")
@click.option("--into", "into", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Directory to write the package folder in.")
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
    package = scaffold(name, schema, check_bundle(path), Path(into))
    click.echo(f"Wrote {package}")
    taken = sorted(f"{c.id} ({c.plugin})" for c in ctx.reg.contracts.values() if c.name == name)
    if taken:
        click.echo(f"Note: npo already has {', '.join(taken)}; two plugins registering one contract id "
                   "stop start-up.", err=True)
    click.echo(f"Next: pip install -e {package} && npo contracts check {name} --schemas {path}\n"
               f"Then work through the TODO list in {package / 'README.md'}.")


@contracts.command("decode")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@pass_ctx
def contracts_decode(ctx: Context, name, file):
    """Print the normalised records of a response file as JSON."""
    contract = ctx.contract(name)
    answer = contract.parse_response(_payload(file))
    click.echo(json.dumps({"result_code": answer.result_code, "message": answer.message,
                           "has_more": answer.has_more, "records": [r.to_json() for r in answer.records]},
                          indent=2, ensure_ascii=False))


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
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        echo_table([{**r, "contracts": ", ".join(r["contracts"])} for r in rows],
                   ["logical_address", "name", "care_provider_name", "endpoint", "contracts"])


@producers.command("add")
@env_option
@click.option("--provider", "provider_id", required=True, help="Care provider (vårdgivare) HSA-id.")
@click.option("--provider-name", help="Care provider name (needed the first time).")
@click.option("--unit", "units", multiple=True, help="Care unit as HSA-ID=Name (repeatable).")
@click.option("--logical-address", required=True, help="Source system logical address (HSA-id).")
@click.option("--system-name", required=True, help="Source system name.")
@click.option("--contract", "contract_names", multiple=True, required=True, help="Contract it produces (repeatable).")
@click.option("--endpoint", help="Call this URL instead of the service platform.")
@pass_ctx
def producers_add(ctx: Context, env_name, provider_id, provider_name, units, logical_address, system_name,
                  contract_names, endpoint):
    """Add or replace a source system and what it produces."""
    from .identity import check_hsa_id

    registry = ctx.registry
    check_hsa_id(logical_address)
    if provider_name:
        registry.add_care_provider(check_hsa_id(provider_id), provider_name)
    for unit in units:
        unit_id, _, unit_name = unit.partition("=")
        registry.add_care_unit(check_hsa_id(unit_id), provider_id, unit_name or unit_id)
    ids = [ctx.contract(n).id for n in contract_names]
    registry.add_source_system(env_name, logical_address, provider_id, system_name, ids, endpoint)
    click.echo(f"{logical_address} ({system_name}) produces {', '.join(ids)} in {env_name}.")


@producers.command("remove")
@env_option
@click.argument("logical_address")
@pass_ctx
def producers_remove(ctx: Context, env_name, logical_address):
    """Remove a source system: it is never called again."""
    ctx.registry.remove_source_system(env_name, logical_address)
    click.echo(f"{logical_address} removed from {env_name}.")


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
        click.echo(json.dumps({p: sorted(v) for p, v in sorted(table.items())}, indent=2, ensure_ascii=False))
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
    click.echo(f"Schema bundle: {path}")


@cli.group()
def feedback():
    """Feedback (synpunkter) clinicians sent from the web view."""


@feedback.command("list")
@json_option
@pass_ctx
def feedback_list(ctx: Context, as_json):
    _print_rows(ctx.registry.feedback(), ["id", "time", "user_id", "care_unit_id", "page", "did", "expected",
                                          "happened"], as_json)


# -- the core's guards: local administration ------------------------------------------------

by_option = click.option("--by", "by", required=True, help="HSA-id of the person doing this (it is logged).")
patient_option = click.option("--patient", "patient_raw", help="Personnummer or samordningsnummer.")


def _guards(ctx: Context):
    from .guards import GuardStore

    ctx.registry  # migrate first
    return GuardStore(ctx.registry.path)


def _patient(raw: str | None):
    from .identity import parse_patient_id

    return parse_patient_id(raw) if raw else None


def _date(value: str | None):
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.UsageError(f"{value!r} is not a date (YYYY-MM-DD).") from None


def _print_rows(rows: list[dict], columns: list[str], as_json: bool, as_csv: bool = False) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    elif as_csv:
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
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
@click.option("--provider", required=True, help="Care provider HSA-id that owns the information.")
@click.option("--unit", help="Care unit HSA-id (inner blocks).")
@click.option("--from", "start", help="Only information registered from this date (YYYY-MM-DD).")
@click.option("--to", "end", help="Only information registered up to this date (YYYY-MM-DD).")
@click.option("--exclude", default="", help="Information types the block does not cover: lak, upp (comma separated).")
@by_option
@pass_ctx
def blocks_add(ctx: Context, patient_raw, block_type, provider, unit, start, end, exclude, by):
    from .identity import check_hsa_id

    patient = _patient(patient_raw)
    if patient is None:
        raise click.UsageError("--patient is required.")
    guards = _guards(ctx)
    bid, sql = guards.block_insert_sql(
        block_type=block_type.capitalize(), patient_id=patient.id, care_provider_id=check_hsa_id(provider),
        care_unit_id=check_hsa_id(unit) if unit else None, info_start=_date(start), info_end=_date(end),
        excluded_types=[x.strip() for x in exclude.split(",") if x.strip()], registered_by=check_hsa_id(by))
    guards.admin_change(by, "register_block", patient.id, [sql], block_id=bid)
    click.echo(f"Block {bid} registered.")


@blocks.command("revoke")
@click.argument("block_id")
@click.option("--unit", required=True, help="Care unit HSA-id the revoke applies to.")
@click.option("--employee", help="Only this employee (HSA-id); default: everyone at the unit.")
@click.option("--reason", type=click.Choice(["PatientsConsent", "Emergency"]), required=True)
@click.option("--text", "reason_text", help="Free text reason.")
@click.option("--days", type=float, default=1, show_default=True, help="At most 7.")
@by_option
@pass_ctx
def blocks_revoke(ctx: Context, block_id, unit, employee, reason, reason_text, days, by):
    """Temporarily lift a block for a care unit (or one employee), at most 7 days."""
    guards = _guards(ctx)
    rows = [r for r in guards.block_rows() if r["id"] == block_id and not r["cancelled_at"]]
    if not rows:
        raise click.ClickException(f"No active block {block_id}.")
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
@click.option("--provider", required=True, help="Care provider HSA-id the consent is given to.")
@click.option("--unit", required=True, help="Care unit HSA-id where it is registered.")
@click.option("--employee", help="Only this employee; default: all authorised staff at the unit.")
@click.option("--days", type=click.IntRange(1, 365), help="Valid for this many days; default: until ended.")
@click.option("--represented-by", help="Given through a representative (identity).")
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
@pass_ctx
def log_verify(ctx: Context):
    """Check the hash chain of the access log."""
    ok, count, bad = _guards(ctx).verify()
    if not ok:
        raise click.ClickException(f"The access log is broken at entry {bad} (after {count} intact entries).")
    click.echo(f"Access log intact: {count} entries.")


REPORT_COLUMNS = ["time", "activity", "action", "user_id", "assignment_name", "user_care_unit_id", "patient_id",
                  "resource_care_provider_id", "resource_care_unit_id", "contract", "record_count"]


@log.command("report")
@patient_option
@click.option("--user", help="Employee HSA-id.")
@click.option("--unit", help="The reading care unit's HSA-id.")
@click.option("--from", "start", help="From this date (YYYY-MM-DD).")
@click.option("--to", "end", help="Up to and including this date (YYYY-MM-DD).")
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
    if start:
        where.append("time >= ?")
        args.append(_date(start).isoformat())
    if end:
        where.append("time < ?")
        args.append((_date(end) + dt.timedelta(days=1)).isoformat())
    rows = _guards(ctx).log_rows(" and ".join(where), args)
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


def main() -> None:
    """Entry point: expected failures print one line and exit non-zero, never a traceback."""
    try:
        pm = make_plugin_manager()
        pm.hook.register_commands(cli=cli)
        cli.main(standalone_mode=False, obj=pm)
    except click.exceptions.Abort:
        sys.exit(1)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except NpoError as e:
        click.echo(f"Error: {e.message}", err=True)
        sys.exit(1)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
