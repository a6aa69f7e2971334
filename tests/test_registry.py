"""registry.db: schema under migrations, environments, contracts and producers, clear failures."""

from __future__ import annotations

import sqlite3

import pytest
from sqlite_utils import Database

from npo_core.errors import NotFound, RegistryError
from npo_core.migrations import migrations
from npo_core.registry import Registry, connect


def schema_of(path) -> set[tuple]:
    conn = sqlite3.connect(path)
    rows = {(t, n, s) for t, n, s in conn.execute("select type, name, sql from sqlite_master where name not like 'sqlite_%'")}
    conn.close()
    return rows


def test_fresh_and_upgraded_databases_have_the_same_schema(tmp_path):
    fresh = tmp_path / "fresh.db"
    Registry(fresh).close()
    old = tmp_path / "old.db"
    db = connect(old)
    migrations.apply(db, stop_before="m002_pdl")  # a registry from the first release
    assert "access_log" not in db.table_names()
    db.close()
    Registry(old).close()  # opening it upgrades it
    assert schema_of(fresh) == schema_of(old)
    applied = [m.name for m in migrations.applied(Database(fresh))]
    assert applied == [m.name for m in migrations._migrations]


def test_environments_are_seeded_with_their_npo_hsa_ids(registry):
    envs = {e.name: e for e in registry.environments()}
    assert envs["prod"].npo_hsa_id == "SE5565594230-BDV"
    assert envs["qa"].npo_hsa_id == "T_SERVICES_SE165565594230-10KD"
    assert envs["sit"].npo_hsa_id == "SE2321000016-A2NF"
    assert envs["demo"].npo_hsa_id is None and envs["demo"].auth_methods == ("demo",)
    assert envs["prod"].total_deadline <= 28 and envs["prod"].read_timeout <= 27


def test_environment_settings_are_kept_and_unknown_ones_refused(registry):
    registry.set_environment("qa", base_url="https://vp.example/vp", validate_responses=1, client_cert="/etc/npo/qa.pem")
    qa = registry.environment("qa")
    assert qa.base_url == "https://vp.example/vp" and qa.validate_responses and qa.client_cert == "/etc/npo/qa.pem"
    with pytest.raises(RegistryError, match="Unknown environment setting"):
        registry.set_environment("qa", password="x")
    with pytest.raises(NotFound, match="No environment named 'staging'"):
        registry.environment("staging")


def test_contracts_start_enabled_in_demo_only_and_toggle_per_environment(registry):
    assert "GetDiagnosis:2" in registry.enabled_contracts("demo")
    assert registry.enabled_contracts("prod") == set()
    registry.set_contract_enabled("GetDiagnosis:2", "prod", True)
    registry.set_contract_enabled("GetDiagnosis:2", "demo", False)
    assert registry.enabled_contracts("prod") == {"GetDiagnosis:2"}
    assert "GetDiagnosis:2" not in registry.enabled_contracts("demo")
    with pytest.raises(NotFound):
        registry.set_contract_enabled("GetNothing:1", "prod", True)


def test_producers_are_added_listed_and_removed(registry):
    registry.add_care_provider("SE2321000016-F0VB", "Region Stockholm", "region")
    registry.add_care_unit("SE2321000016-9RKT", "SE2321000016-F0VB", "Gubbängens vårdcentral")
    registry.add_source_system("qa", "SE2321000016-TKC1", "SE2321000016-F0VB", "TakeCare", ["GetDiagnosis:2"],
                               endpoint="https://producer.example/diag")
    [source] = registry.sources_by_contract("qa")["GetDiagnosis:2"]
    assert registry.source_systems("qa") == [source]
    assert source.care_provider_name == "Region Stockholm" and source.endpoint == "https://producer.example/diag"
    assert registry.source_systems("demo") == []
    registry.remove_source_system("qa", "SE2321000016-TKC1")
    assert registry.source_systems("qa") == [] and registry.produced_contracts("qa") == []
    assert registry.sources_by_contract("qa") == {}
    with pytest.raises(NotFound):
        registry.add_source_system("qa", "SE1-X", "SE999", "Okänd", [])


def test_a_locked_database_gives_a_clear_error(registry):
    blocker = sqlite3.connect(registry.path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    registry.db.conn.execute("PRAGMA busy_timeout=100")
    try:
        with pytest.raises(RegistryError, match="locked by another process"):
            registry.set_environment("qa", base_url="https://x")
    finally:
        blocker.rollback()
        blocker.close()


def test_a_corrupt_database_gives_a_clear_error(tmp_path):
    path = tmp_path / "registry.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(RegistryError, match="damaged or not a database"):
        Registry(path)
