"""registry.db: environments, contracts per environment, producers, and the core's guards.

One small interface over SQLite (sqlite-utils), so a server database can take over later.
Every SQLite failure surfaces as RegistryError with a sentence an operator can act on.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sqlite3
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from sqlite_utils import Database

from .errors import BadRequest, NotFound, RegistryError
from .identity import check_consumer_id, check_hsa_id, check_logical_address
from .tgp import check_mode
from .migrations import migrations

DEFAULT_PATH = "registry.db"
NATIONAL_EI = "SE165565594230-1000"  # the national engagement index's logical address

ENVIRONMENTS = {
    "prod": dict(description="Produktion", npo_hsa_id="SE5565594230-BDV", connect_timeout=2.0,
                 read_timeout=27.0, total_deadline=28.0, validate_responses=0, auth_methods='["siths"]'),
    "qa": dict(description="QA (acceptanstest)", npo_hsa_id="T_SERVICES_SE165565594230-10KD",
               connect_timeout=2.0, read_timeout=27.0, total_deadline=28.0, validate_responses=1,
               auth_methods='["siths"]'),
    "sit": dict(description="SIT (systemintegrationstest)", npo_hsa_id="SE2321000016-A2NF",
                connect_timeout=2.0, read_timeout=27.0, total_deadline=28.0, validate_responses=1,
                auth_methods='["siths"]'),
    "demo": dict(description="Demo med testpatienter", npo_hsa_id=None, base_url="http://127.0.0.1:8081/vp",
                 connect_timeout=1.0, read_timeout=5.0, total_deadline=8.0, validate_responses=0,
                 auth_methods='["demo"]', tgp="plugin"),
}


# -- validating settings ----------------------------------------------------------------
# What an operator (or code) may store. Text from `npo env set` is parsed by parse_environment_value and
# split_plugin_key; every write is checked again (set_environment, set_plugin_setting, add_source_system),
# so nothing that would break a read or a login later (a `javascript:` service platform, an infinite
# timeout, a boolean that silently became "off") reaches the registry, whoever writes it.

TIMEOUT_FIELDS = ("connect_timeout", "read_timeout", "total_deadline")
MAX_SECONDS = 3600.0
FILE_FIELDS = ("client_cert", "client_key", "ca_bundle")
# The platform's identifiers among an environment's settings: npo's consumer id, the index's logical address.
ID_FIELDS = {"npo_hsa_id": check_consumer_id, "engagement_index": check_logical_address}
MAX_TEXT = 4096
TRUE_WORDS = ("yes", "true", "on", "1", "ja")
FALSE_WORDS = ("no", "false", "off", "0", "nej")
_SECONDS = re.compile(r"(?:[0-9]{1,9}(?:\.[0-9]{0,9})?|\.[0-9]{1,9})", re.ASCII)  # ASCII digits, no sign, no exponent
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}", re.ASCII)
_AUTH_METHOD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", re.ASCII)
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}\.?", re.ASCII)
_BIDI = set("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def unsafe_character(text: str) -> str | None:
    """The first character a setting, an id or a name must not hold: control characters (ESC, CR, BEL, ...),
    lone surrogates (bytes that were not UTF-8), non-characters and bidirectional overrides."""
    for ch in text:
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs") or ch in _BIDI or (category == "Cn" and (ord(ch) & 0xFFFE) == 0xFFFE) \
                or 0xFDD0 <= ord(ch) <= 0xFDEF:
            return ch
    return None


def check_text(value: str, what: str, *, limit: int = MAX_TEXT, empty: bool = False) -> str:
    """Printable text of at most `limit` characters (empty only where `empty`)."""
    if not isinstance(value, str):
        raise BadRequest(f"{what} must be text, not {type(value).__name__}.")
    if not value and not empty:
        raise BadRequest(f"{what} is empty.")
    bad = unsafe_character(value)
    if bad is not None:
        raise BadRequest(f"{what} contains the control character U+{ord(bad):04X}; it takes printable text only.")
    if len(value) > limit:
        raise BadRequest(f"{what} is {len(value)} characters long; at most {limit} are accepted.")
    return value


def is_url_key(key: str) -> bool:
    """Settings whose value is a URL: base_url, a plugin's url or *_url."""
    return key == "url" or key.endswith("_url")


def is_file_key(key: str) -> bool:
    """Settings whose value is a file npo reads: the environment's certificates, a plugin's file/cert or *_file,
    *_cert, *_key, *_bundle, *_metadata."""
    return key in FILE_FIELDS or key in ("file", "cert") or key.endswith(
        ("_file", "_cert", "_key", "_bundle", "_metadata"))


def check_url(value: str, what: str, *, base: bool = False) -> str:
    """An http(s) URL with a host: never javascript:, file:, data: or a URL without a host. A `base` URL,
    which npo appends paths to, carries no query either. No user name or password in the URL."""
    from urllib.parse import urlsplit

    check_text(value, what, limit=2048)
    if any(ch.isspace() for ch in value) or "\\" in value:
        raise BadRequest(f"{what} must be an http or https URL without spaces or backslashes: {value!r}")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not value.lower().startswith(parts.scheme.lower() + "://"):
        raise BadRequest(f"{what} must be an http:// or https:// URL, not {value!r}.")
    try:
        host, _port = parts.hostname, parts.port
    except ValueError as e:
        raise BadRequest(f"{what} has an invalid host or port ({e}): {value!r}") from None
    bracketed = parts.netloc.rpartition("@")[2].startswith("[")
    if not host or not (bracketed or _HOST.fullmatch(host)):
        raise BadRequest(f"{what} must name a host (letters, digits, '-' and '.'; IDN in its xn-- form): {value!r}")
    if parts.username is not None or parts.password is not None:
        raise BadRequest(f"{what} must not carry a user name or password.")
    if parts.fragment or "#" in value:
        raise BadRequest(f"{what} must not have a #fragment: {value!r}")
    if base and parts.query:
        raise BadRequest(f"{what} is a base URL npo appends paths to; it takes no ?query: {value!r}")
    return value


def parse_seconds(text: str, what: str) -> float:
    """Seconds written in ASCII digits: more than 0, at most MAX_SECONDS (no inf, nan, -1, '٣', 1e9)."""
    message = f"{what} is a number of seconds, more than 0 and at most {MAX_SECONDS:g}, not {text!r}."
    if not isinstance(text, str) or not _SECONDS.fullmatch(text.strip()):
        raise BadRequest(message)
    value = float(text.strip())
    if not 0 < value <= MAX_SECONDS:
        raise BadRequest(message)
    return value


def parse_boolean(text: str, what: str) -> int:
    word = text.strip().lower() if isinstance(text, str) else text
    if word in TRUE_WORDS:
        return 1
    if word in FALSE_WORDS:
        return 0
    raise BadRequest(f"{what} is yes or no (also {', '.join(TRUE_WORDS[1:])} / {', '.join(FALSE_WORDS[1:])}), "
                     f"not {text!r}.")


def parse_environment_value(key: str, text: str):
    """The value `npo env set ENV KEY TEXT` stores. An empty TEXT clears an optional setting."""
    if key not in Registry.EDITABLE_ENV_FIELDS:
        raise BadRequest(f"Unknown environment setting {key!r}; known: {', '.join(Registry.EDITABLE_ENV_FIELDS)}. "
                         "A plugin's own setting is PLUGIN.KEY.")
    if key in TIMEOUT_FIELDS:
        return parse_seconds(text, key)
    if key == "keep_answers":
        return 0.0 if isinstance(text, str) and text.strip() == "0" else parse_seconds(text, key)
    if key == "validate_responses":
        return parse_boolean(text, key)
    if key == "auth_methods":
        check_text(text, key, empty=True)
        return json.dumps([v.strip() for v in text.split(",") if v.strip()])
    return text or None


def check_environment_values(values: dict) -> None:
    """Every value an environment may hold, whoever writes it."""
    for key, value in values.items():
        if key in TIMEOUT_FIELDS:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not 0 < value <= MAX_SECONDS:
                raise BadRequest(f"{key} is a number of seconds, more than 0 and at most {MAX_SECONDS:g}, "
                                 f"not {value!r}.")
        elif key == "keep_answers":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not 0 <= value <= MAX_SECONDS:
                raise BadRequest(f"keep_answers is a number of seconds, 0 (keep nothing) to {MAX_SECONDS:g}, "
                                 f"not {value!r}.")
        elif key == "validate_responses":
            if value not in (0, 1):  # True and False too
                raise BadRequest(f"validate_responses is 1 or 0, not {value!r}.")
        elif key == "auth_methods":
            try:
                methods = json.loads(check_text(value, key))
            except (BadRequest, ValueError, TypeError):
                raise BadRequest(f"auth_methods is a JSON list of method names, not {value!r}.") from None
            if not isinstance(methods, list) or not all(isinstance(m, str) and _AUTH_METHOD.fullmatch(m)
                                                        for m in methods):
                raise BadRequest(f"auth_methods names login methods (letters, digits, '-', '_', '.'), "
                                 f"not {value!r}.")
        elif value is None:
            continue
        elif key == "base_url":
            check_url(value, key, base=True)
        elif key in ID_FIELDS:
            ID_FIELDS[key](value, key)
        elif key == "description":
            check_text(value, key, limit=200)
        elif key == "tgp":
            check_mode(check_text(value, key, limit=2048), key)
        else:
            check_text(value, key)


def check_plugin_key(plugin: str, key: str) -> None:
    """A plugin's setting is PLUGIN.KEY: two identifiers (siths.ca_bundle), never `.x`, `x.` or `a.b.c`."""
    if not all(isinstance(part, str) and _IDENTIFIER.fullmatch(part) for part in (plugin, key)):
        raise BadRequest(f"A plugin setting is PLUGIN.KEY, both parts names of ASCII letters, digits and '_' "
                         f"(e.g. siths.ca_bundle), not {f'{plugin}.{key}'!r}.")


def split_plugin_key(dotted: str) -> tuple[str, str]:
    plugin, _, key = dotted.partition(".")
    check_plugin_key(plugin, key)
    return plugin, key


def check_plugin_value(plugin: str, key: str, value: str | None) -> None:
    if value is None:
        return
    what = f"{plugin}.{key}"
    if is_url_key(key):
        check_url(value, what, base=key == "base_url")
    else:
        check_text(value, what)


def resolve_path(path: str | os.PathLike | None = None) -> Path:
    return Path(path or os.environ.get("NPO_REGISTRY") or DEFAULT_PATH)


@contextlib.contextmanager
def sqlite_errors(what: str) -> Iterator[None]:
    """Turn SQLite failures into one clear sentence."""
    try:
        yield
    except sqlite3.OperationalError as e:
        if "locked" in str(e) or "busy" in str(e):
            raise RegistryError(f"{what}: the registry database is locked by another process; try again.") from e
        raise RegistryError(f"{what}: {e}") from e
    except sqlite3.DatabaseError as e:
        raise RegistryError(f"{what}: the registry database is damaged or not a database ({e}).") from e


def connect(path: Path) -> Database:
    """Open with WAL and synchronous=FULL: a commit is durable when it returns."""
    with sqlite_errors(f"Cannot open {path}"):
        conn = sqlite3.connect(str(path), timeout=5.0, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        return Database(conn)


@dataclass(frozen=True)
class Environment:
    name: str
    description: str | None = None
    npo_hsa_id: str | None = None
    base_url: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    ca_bundle: str | None = None
    connect_timeout: float = 2.0
    read_timeout: float = 27.0
    total_deadline: float = 28.0
    validate_responses: bool = False
    auth_methods: tuple[str, ...] = field(default_factory=tuple)
    engagement_index: str | None = None  # logical address of FindContent; None: the registry's own index
    keep_answers: float = 300.0  # seconds a look at a patient reads the answers it fetched (0: every page asks)
    tgp: str | None = None  # Tillgänglig patient: all, plugin or list:PATH (npo_core.tgp); None: npo does not start

    @classmethod
    def from_row(cls, row: dict) -> "Environment":
        row = dict(row)
        row["validate_responses"] = bool(row["validate_responses"])
        row["auth_methods"] = tuple(json.loads(row.get("auth_methods") or "[]"))
        return cls(**row)


SOURCE_COLUMNS = "s.logical_address, s.care_provider_id, p.name as care_provider_name, s.name, s.endpoint"
SOURCE_TABLES = "source_systems s join care_providers p on p.hsa_id = s.care_provider_id"


@dataclass(frozen=True)
class SourceSystem:
    """A producer's source system: the logical address we call, and who owns its data."""

    logical_address: str
    care_provider_id: str
    care_provider_name: str
    name: str
    endpoint: str | None = None
    # Care providers the engagement index names as data controller for this source (besides the registry's).
    data_controllers: tuple[str, ...] = ()

    @property
    def owners(self) -> frozenset[str]:
        """The care providers whose records this source may carry: a record claiming another is not believed."""
        return frozenset((self.care_provider_id, *self.data_controllers))


class Registry:
    """The operator's registry. Cheap reads on every request, so changes apply without restart."""

    EDITABLE_ENV_FIELDS = (
        "description", "npo_hsa_id", "base_url", "client_cert", "client_key", "ca_bundle",
        "connect_timeout", "read_timeout", "total_deadline", "validate_responses", "auth_methods",
        "engagement_index", "keep_answers", "tgp",
    )

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = resolve_path(path)
        self.db = connect(self.path)
        with sqlite_errors(f"Cannot migrate {self.path}"):
            migrations.apply(self.db)
            for name, values in ENVIRONMENTS.items():
                if not self.db["environments"].count_where("name = ?", [name]):
                    self.db["environments"].insert({"name": name, **values, "engagement_index": NATIONAL_EI})

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """A write transaction that takes the write lock first (BEGIN IMMEDIATE), so it waits for the
        server's log commits instead of failing when one lands between its reads and its writes."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # environments -----------------------------------------------------------
    def environments(self) -> list[Environment]:
        with sqlite_errors("Cannot read environments"):
            return [Environment.from_row(r) for r in self.db["environments"].rows_where(order_by="name")]

    def environment(self, name: str) -> Environment:
        with sqlite_errors("Cannot read environments"):
            rows = list(self.db["environments"].rows_where("name = ?", [name]))
        if not rows:
            known = ", ".join(e.name for e in self.environments())
            raise NotFound(f"No environment named {name!r} (known: {known}).")
        return Environment.from_row(rows[0])

    def set_environment(self, name: str, **values) -> Environment:
        current = self.environment(name)
        unknown = set(values) - set(self.EDITABLE_ENV_FIELDS)
        if unknown:
            raise RegistryError(f"Unknown environment setting(s): {', '.join(sorted(unknown))}")
        check_environment_values(values)
        after = {**current.__dict__, **values}
        if after["total_deadline"] < max(after["read_timeout"], after["connect_timeout"]):
            raise BadRequest(f"total_deadline ({after['total_deadline']:g} s) must be at least read_timeout "
                             f"({after['read_timeout']:g} s) and connect_timeout ({after['connect_timeout']:g} s) "
                             f"in {name}, or no producer could ever use its timeout; change the other one first.")
        with sqlite_errors("Cannot update environment"):
            self.db["environments"].update(name, values)
        return self.environment(name)

    # contracts -------------------------------------------------------------
    def sync_contracts(self, contracts: Iterable) -> None:
        """Record every contract a plugin registered; new ones start enabled in demo only."""
        contracts = list(contracts)
        with sqlite_errors("Cannot read contracts"):
            known = {(r["id"], r["version"], r["plugin"]) for r in self.db["contracts"].rows}
            settled = self.db["contract_settings"].count
        envs_count = len(ENVIRONMENTS)
        if {(c.id, c.version, c.plugin) for c in contracts} <= known and settled >= len(known) * envs_count:
            return  # nothing new: no write, no lock
        with sqlite_errors("Cannot record contracts"), self.writing():
            envs = [e.name for e in self.environments()]
            for c in contracts:
                self.db["contracts"].upsert(
                    {"id": c.id, "name": c.name, "version": c.version, "major": c.major, "minor": c.minor,
                     "namespace": c.responder_namespace, "service_domain": c.service_domain,
                     "categorization": c.categorization, "title": c.title, "plugin": c.plugin},
                    pk="id",
                )
                for env in envs:
                    self.db["contract_settings"].insert(
                        {"contract_id": c.id, "env": env, "enabled": int(env == "demo")},
                        pk=("contract_id", "env"), ignore=True,
                    )

    def contract_rows(self, env: str) -> list[dict]:
        self.environment(env)
        with sqlite_errors("Cannot read contracts"):
            return list(self.db.query(
                "select c.*, coalesce(s.enabled, 0) as enabled from contracts c "
                "left join contract_settings s on s.contract_id = c.id and s.env = ? order by c.id",
                [env],
            ))

    def enabled_contracts(self, env: str) -> set[str]:
        with sqlite_errors("Cannot read contracts"):
            return {r["contract_id"] for r in self.db.query(
                "select contract_id from contract_settings where env = ? and enabled = 1", [env])}

    def set_contract_enabled(self, contract_id: str, env: str, enabled: bool) -> None:
        self.environment(env)
        with sqlite_errors("Cannot update contract"):
            if not self.db["contracts"].count_where("id = ?", [contract_id]):
                raise NotFound(f"No contract {contract_id!r} is registered.")
            self.db["contract_settings"].upsert(
                {"contract_id": contract_id, "env": env, "enabled": int(enabled)}, pk=("contract_id", "env"))

    # producers -------------------------------------------------------------
    def add_care_provider(self, hsa_id: str, name: str, kind: str | None = None) -> None:
        check_hsa_id(hsa_id, "care provider HSA-id")
        with sqlite_errors("Cannot add care provider"):
            self.db["care_providers"].upsert({"hsa_id": hsa_id, "name": name, "kind": kind}, pk="hsa_id")

    def add_care_unit(self, hsa_id: str, care_provider_id: str, name: str) -> None:
        check_hsa_id(hsa_id, "care unit HSA-id")
        with sqlite_errors("Cannot add care unit"):
            if not self.db["care_providers"].count_where("hsa_id = ?", [care_provider_id]):
                raise NotFound(f"No care provider {care_provider_id!r}; add it (with its name) first.")
            self.db["care_units"].upsert(
                {"hsa_id": hsa_id, "care_provider_id": care_provider_id, "name": name}, pk="hsa_id")

    def add_source_system(self, env: str, logical_address: str, care_provider_id: str, name: str,
                          contracts: Iterable[str], endpoint: str | None = None) -> None:
        self.environment(env)
        check_logical_address(logical_address)
        if endpoint is not None:
            check_url(endpoint, "The endpoint")
        with sqlite_errors("Cannot add source system"), self.writing():
            if not self.db["care_providers"].count_where("hsa_id = ?", [care_provider_id]):
                raise NotFound(f"No care provider {care_provider_id!r}; add it first.")
            self.db["source_systems"].upsert(
                {"env": env, "logical_address": logical_address, "care_provider_id": care_provider_id,
                 "name": name, "endpoint": endpoint}, pk=("env", "logical_address"))
            self.db["source_contracts"].delete_where("env = ? and logical_address = ?", [env, logical_address])
            self.db["source_contracts"].insert_all(
                [{"env": env, "logical_address": logical_address, "contract_id": c} for c in contracts],
                pk=("env", "logical_address", "contract_id"))

    def remove_source_system(self, env: str, logical_address: str) -> None:
        with sqlite_errors("Cannot remove source system"), self.writing():
            if not self.db["source_systems"].count_where(
                    "env = ? and logical_address = ?", [env, logical_address]):
                raise NotFound(f"No source system {logical_address!r} in {env}.")
            self.db["source_contracts"].delete_where("env = ? and logical_address = ?", [env, logical_address])
            self.db["source_systems"].delete_where("env = ? and logical_address = ?", [env, logical_address])

    def source_systems(self, env: str) -> list[SourceSystem]:
        with sqlite_errors("Cannot read producers"):
            return [SourceSystem(**r) for r in self.db.query(
                f"select {SOURCE_COLUMNS} from {SOURCE_TABLES} where s.env = ? order by s.logical_address", [env])]

    def sources_by_contract(self, env: str) -> dict[str, list[SourceSystem]]:
        """Every contract's producers in one query: an overview asks once, not once per contract."""
        found: dict[str, list[SourceSystem]] = {}
        with sqlite_errors("Cannot read producers"):
            for r in self.db.query(
                    f"select c.contract_id, {SOURCE_COLUMNS} from {SOURCE_TABLES} join source_contracts c "
                    "on c.env = s.env and c.logical_address = s.logical_address "
                    "where s.env = ? order by s.logical_address", [env]):
                found.setdefault(r.pop("contract_id"), []).append(SourceSystem(**r))
        return found

    def produced_contracts(self, env: str) -> list[dict]:
        with sqlite_errors("Cannot read producers"):
            return list(self.db.query(
                "select c.logical_address, c.contract_id, s.care_provider_id from source_contracts c "
                "join source_systems s on s.env = c.env and s.logical_address = c.logical_address "
                "where c.env = ?", [env]))

    def care_provider_names(self) -> dict[str, str]:
        with sqlite_errors("Cannot read care providers"):
            return {r["hsa_id"]: r["name"] for r in self.db["care_providers"].rows}

    def care_unit_names(self) -> dict[str, str]:
        with sqlite_errors("Cannot read care units"):
            return {r["hsa_id"]: r["name"] for r in self.db["care_units"].rows}

    def care_units(self, care_provider_id: str | None = None) -> list[dict]:
        with sqlite_errors("Cannot read care units"):
            where = "care_provider_id = ?" if care_provider_id else None
            return list(self.db["care_units"].rows_where(where, [care_provider_id] if where else [],
                                                          order_by="hsa_id"))

    # feedback --------------------------------------------------------------
    def add_feedback(self, **values) -> int:
        with sqlite_errors("Cannot store feedback"):
            return self.db["feedback"].insert(values).last_pk

    def feedback(self) -> list[dict]:
        with sqlite_errors("Cannot read feedback"):
            return list(self.db["feedback"].rows_where(order_by="id desc"))

    # settings --------------------------------------------------------------
    def setting(self, key: str) -> str | None:
        with sqlite_errors("Cannot read settings"):
            rows = list(self.db["settings"].rows_where("key = ?", [key]))
        return rows[0]["value"] if rows else None

    def set_setting(self, key: str, value: str | None) -> None:
        with sqlite_errors("Cannot write settings"):
            self.db["settings"].upsert({"key": key, "value": value}, pk="key")

    def plugin_settings(self, env: str, plugin: str | None = None) -> dict[str, str]:
        """Plugins' own settings for one environment (`npo env set ENV plugin.key value`).

        With `plugin`, that plugin's keys; without, every "plugin.key".
        """
        prefix = f"{env}:{plugin}." if plugin else f"{env}:"
        with sqlite_errors("Cannot read settings"):
            return {r["key"][len(prefix):]: r["value"] for r in self.db["settings"].rows
                    if r["key"].startswith(prefix)}

    def set_plugin_setting(self, env: str, plugin: str, key: str, value: str | None) -> None:
        self.environment(env)
        check_plugin_key(plugin, key)
        check_plugin_value(plugin, key, value)
        self.set_setting(f"{env}:{plugin}.{key}", value)
