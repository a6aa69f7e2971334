"""registry.db: environments, contracts per environment, producers, and the core's guards.

One small interface over SQLite (sqlite-utils), so a server database can take over later.
Every SQLite failure surfaces as RegistryError with a sentence an operator can act on.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from sqlite_utils import Database

from .errors import NotFound, RegistryError
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
                 auth_methods='["demo"]'),
}


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
        "engagement_index",
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
        self.environment(name)
        unknown = set(values) - set(self.EDITABLE_ENV_FIELDS)
        if unknown:
            raise RegistryError(f"Unknown environment setting(s): {', '.join(sorted(unknown))}")
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
        with sqlite_errors("Cannot add care provider"):
            self.db["care_providers"].upsert({"hsa_id": hsa_id, "name": name, "kind": kind}, pk="hsa_id")

    def add_care_unit(self, hsa_id: str, care_provider_id: str, name: str) -> None:
        with sqlite_errors("Cannot add care unit"):
            self.db["care_units"].upsert(
                {"hsa_id": hsa_id, "care_provider_id": care_provider_id, "name": name}, pk="hsa_id")

    def add_source_system(self, env: str, logical_address: str, care_provider_id: str, name: str,
                          contracts: Iterable[str], endpoint: str | None = None) -> None:
        self.environment(env)
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
        self.set_setting(f"{env}:{plugin}.{key}", value)
