"""Schema of registry.db. A released migration is never edited: add a new one."""

from sqlite_utils import Database, Migrations

migrations = Migrations("npo_core")


@migrations()
def m001_registry(db: Database):
    db.table("environments").create(
        {
            "name": str,
            "description": str,
            "npo_hsa_id": str,  # the consumer HSA-id npo calls with; none in demo
            "base_url": str,  # service platform (tjänsteplattform) base URL
            "client_cert": str,
            "client_key": str,
            "ca_bundle": str,
            "connect_timeout": float,
            "read_timeout": float,
            "total_deadline": float,
            "validate_responses": int,
            "auth_methods": str,  # JSON list of auth plugin names enabled here
        },
        pk="name",
        not_null={"name", "connect_timeout", "read_timeout", "total_deadline", "validate_responses"},
    )
    db.table("contracts").create(
        {
            "id": str,  # Name:major, e.g. GetDiagnosis:2
            "name": str,
            "version": str,
            "major": int,
            "minor": int,
            "namespace": str,
            "service_domain": str,
            "categorization": str,
            "title": str,
            "plugin": str,
        },
        pk="id",
    )
    db.table("contract_settings").create(
        {"contract_id": str, "env": str, "enabled": int},
        pk=("contract_id", "env"),
        foreign_keys=[("contract_id", "contracts", "id"), ("env", "environments", "name")],
    )
    db.table("care_providers").create({"hsa_id": str, "name": str, "kind": str}, pk="hsa_id")
    db.table("care_units").create(
        {"hsa_id": str, "care_provider_id": str, "name": str},
        pk="hsa_id",
        foreign_keys=[("care_provider_id", "care_providers", "hsa_id")],
    )
    db.table("source_systems").create(
        {"env": str, "logical_address": str, "care_provider_id": str, "name": str, "endpoint": str},
        pk=("env", "logical_address"),
        foreign_keys=[("care_provider_id", "care_providers", "hsa_id"), ("env", "environments", "name")],
    )
    db.table("source_contracts").create(
        {"env": str, "logical_address": str, "contract_id": str},
        pk=("env", "logical_address", "contract_id"),
    )
    db.table("settings").create({"key": str, "value": str}, pk="key")


@migrations()
def m002_pdl(db: Database):
    """Consent, blocks and the access log: the core's guards."""
    db.table("consents").create(
        {
            "id": str,  # assertion id (UUID)
            "assertion_type": str,  # Consent | Emergency
            "patient_id": str,
            "care_provider_id": str,
            "care_unit_id": str,
            "employee_id": str,  # null: the whole care unit
            "start": str,
            "end": str,
            "represented_by": str,
            "reason": str,
            "registered_by": str,
            "assignment_id": str,
            "registered_at": str,
            "cancelled_at": str,
            "cancelled_by": str,
            "annulled_at": str,
            "annulled_by": str,
        },
        pk="id",
        not_null={"assertion_type", "patient_id", "care_provider_id", "care_unit_id", "start"},
    )
    db.table("consents").create_index(["patient_id", "care_provider_id"])
    db.table("blocks").create(
        {
            "id": str,
            "block_type": str,  # Inner (care unit) | Outer (care provider)
            "patient_id": str,
            "care_provider_id": str,
            "care_unit_id": str,
            "info_start": str,
            "info_end": str,
            "excluded_types": str,  # JSON list, subset of ["lak", "upp"]
            "registered_at": str,
            "registered_by": str,
            "cancelled_at": str,
        },
        pk="id",
        not_null={"block_type", "patient_id", "care_provider_id"},
    )
    db.table("blocks").create_index(["patient_id"])
    db.table("temporary_revokes").create(
        {
            "id": str,
            "block_id": str,
            "care_unit_id": str,
            "employee_id": str,
            "reason": str,  # PatientsConsent | Emergency
            "reason_text": str,
            "end": str,
            "registered_at": str,
            "registered_by": str,
        },
        pk="id",
        foreign_keys=[("block_id", "blocks", "id")],
    )
    db.table("access_log").create(
        {
            "seq": int,
            "request_id": str,
            "time": str,
            "user_id": str,
            "assignment_id": str,
            "assignment_name": str,
            "user_care_unit_id": str,
            "user_care_provider_id": str,
            "patient_id": str,
            "activity": str,  # StoreLog ActivityType: Läsa, Skriva, Nödöppning, ...
            "action": str,  # what the clinician did: read, search, register_consent, ...
            "purpose": str,
            "resource_care_provider_id": str,
            "resource_care_unit_id": str,
            "contract": str,
            "record_count": int,
            "detail": str,
            "prev_hash": str,
            "hash": str,
        },
        pk="seq",
        not_null={"request_id", "time", "user_id", "activity", "purpose", "hash"},
    )
    db.table("access_log").create_index(["patient_id", "time"])
    db.table("access_log").create_index(["user_id", "time"])


@migrations()
def m003_engagement_index(db: Database):
    """Where an environment finds producers: an engagement index on the platform, or the registry."""
    db.table("environments").add_column("engagement_index", str)
    db.execute("update environments set engagement_index = 'SE165565594230-1000' "
               "where name in ('prod', 'qa', 'sit', 'demo')")


@migrations()
def m004_feedback(db: Database):
    """Feedback from clinicians (synpunkter): never patient data."""
    db.table("feedback").create(
        {"id": int, "time": str, "user_id": str, "care_unit_id": str, "page": str, "did": str, "expected": str,
         "happened": str},
        pk="id",
    )


@migrations()
def m005_guard_epoch(db: Database):
    """A per-patient counter that every change of a consent, block or temporary revoke bumps.

    Triggers, so that every writer (clinicians, the CLI in another process, the demo seed) counts.
    A read remembers the counter with the guards it decided on; its log transaction checks it again,
    so a consent ended or a block added while producers answered is never missed."""
    db.execute("create table guard_epoch (patient_id text primary key, n integer not null)")
    bump = ("insert into guard_epoch (patient_id, n) values ({pid}, 1) "
            "on conflict(patient_id) do update set n = n + 1;")
    for table, pid in (("consents", "{row}.patient_id"), ("blocks", "{row}.patient_id"),
                       ("temporary_revokes", "(select patient_id from blocks where id = {row}.block_id)")):
        for event, row in (("insert", "new"), ("update", "new"), ("delete", "old")):
            db.execute(f"create trigger {table}_{event}_epoch after {event} on {table} begin "
                       f"{bump.format(pid=pid.format(row=row))} end")


@migrations()
def m006_log_seal(db: Database):
    """The access log's seal: where keyed entries begin, and the signed checkpoints.

    Entries up to `log_legacy_until` (the last entry when this migration ran) were chained with plain
    SHA-256, before the log had a key; every later entry carries an HMAC-SHA256 under the operator's
    key, which is kept outside this database. A checkpoint is (last seq, entry count, chain head, time)
    signed with Ed25519; the same line is appended to a checkpoint file outside the database."""
    db.table("log_checkpoints").create(
        {"id": int, "seq": int, "entries": int, "head": str, "time": str, "legacy_until": int, "key_id": str,
         "signature": str},
        pk="id",
        not_null={"seq", "entries", "head", "time", "legacy_until", "key_id", "signature"},
    )
    last = db.execute("select coalesce(max(seq), 0) from access_log").fetchone()[0]
    db["settings"].upsert({"key": "log_legacy_until", "value": str(last)}, pk="key")


@migrations()
def m007_keep_answers(db: Database):
    """How long (seconds) the producers' answers are kept in memory for one look at a patient; 0 keeps none."""
    db["environments"].add_column("keep_answers", float, not_null_default=300.0)


@migrations()
def m008_log_environment(db: Database):
    """The environment each access-log entry was served in, for usage statistics per environment (`npo stats`).
    Part of the entry's hash where set; entries written before it have none and hash as before."""
    db["access_log"].add_column("environment", str)
    db["access_log"].create_index(["time"])


@migrations()
def m009_tgp(db: Database):
    """How Tillgänglig patient is answered per environment (npo_core.tgp): the demo's plugin in the demo; the
    other environments have none until the operator chooses, and do not start without one."""
    db["environments"].add_column("tgp", str)
    db.execute("update environments set tgp = 'plugin' where name = 'demo'")
