"""The tenant registry: every bad input is skipped loudly (file, tenant, field, fix) while the
valid tenants stay; file-level problems refuse the file; the PostgreSQL table is the same."""

from datetime import UTC, datetime
from pathlib import Path
from textwrap import dedent

import dagster as dg
import pytest
from platform_core.errors import ConfigurationError
from platform_core.tenancy.definitions import alert_for_failed_run
from platform_core.tenancy.registry import (
    REGISTRY_TABLE_DDL,
    REGISTRY_URL_VAR,
    load_registry,
    load_registry_file,
)
from platform_core.tenancy.scheduling import due_tenants, partition_changes, run_tags

ENV = {
    "TENANT_ACME_DB_URL": "postgresql://acme@localhost/acme",
    "TENANT_GLOBEX_DB_URL": "postgresql://g@h/g",
    "TENANT_INITECH_DB_URL": "postgresql://i@h/i",
    "SNOWFLAKE_PASSWORD": "not-a-secret-snowflake",
}
GOOD = """
  - id: acme
    name: Acme
    source_env: TENANT_ACME_DB_URL
    cron: "0 3 * * *"
    timezone: Europe/Berlin
    owners: [team:platform, ops@acme.example.com]
    sla: {max_runtime: 20m, freshness: 26h}
"""


def registry(tmp_path: Path, entries: str, environ=None):
    path = tmp_path / "tenants.yaml"
    path.write_text("tenants:" + dedent(GOOD) + dedent(entries))
    return path, load_registry_file(path, ENV if environ is None else environ)


BAD_ENTRIES = {
    "bad id": (
        "- {id: Globex-1, name: G, source_env: TENANT_GLOBEX_DB_URL, owners: [team:platform]}",
        "Globex-1",
        "id",
        "only lower-case letters",
    ),
    "sql in id": (
        "- {id: 'g; drop schema x', name: G, source_env: TENANT_GLOBEX_DB_URL, owners: [team:platform]}",
        "g; drop schema x",
        "id",
        "ids reach SQL",
    ),
    "unknown field": (
        "- {id: globex, name: G, source_env: TENANT_GLOBEX_DB_URL, owners: [team:platform], pasword: x}",
        "globex",
        "pasword",
        "check its spelling",
    ),
    "bad cron": (
        "- {id: globex, name: G, source_env: TENANT_GLOBEX_DB_URL, owners: [team:platform], cron: '61 * * * *'}",
        "globex",
        "cron",
        "5-field cron",
    ),
    "bad time zone": (
        "- {id: globex, name: G, source_env: TENANT_GLOBEX_DB_URL, owners: [team:platform], timezone: Mars/Base}",
        "globex",
        "timezone",
        "IANA time zone",
    ),
    "missing variable": (
        "- {id: hooli, name: H, source_env: TENANT_HOOLI_DB_URL, owners: [team:platform]}",
        "hooli",
        "source_env",
        "TENANT_HOOLI_DB_URL is not set",
    ),
    "url instead of a variable name": (
        "- {id: globex, name: G, source_env: 'postgresql://u:secret@h/db', owners: [team:platform]}",
        "globex",
        "source_env",
        "never the URL or a password",
    ),
    "missing owners": (
        "- {id: globex, name: G, source_env: TENANT_GLOBEX_DB_URL}",
        "globex",
        "owners",
        "add the field",
    ),
    "bad max run time": (
        "- {id: globex, name: G, source_env: TENANT_GLOBEX_DB_URL, owners: [team:platform], sla: {max_runtime: soon}}",
        "globex",
        "sla.max_runtime",
        "not a duration",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_ENTRIES))
def test_a_bad_entry_is_skipped_with_file_tenant_field_and_fix(tmp_path, case):
    entry, tenant, field, words = BAD_ENTRIES[case]
    path, loaded = registry(tmp_path, "  " + entry + "\n")
    assert [t.id for t in loaded.tenants] == ["acme"]  # the valid tenant is not taken down
    assert len(loaded.problems) >= 1
    problem = loaded.problems[0]
    text = str(problem)
    assert str(path) in text and f"tenant '{tenant}'" in text and f"field '{field}'" in text
    assert words in text and "Fix:" in text


def test_duplicate_ids_skip_every_entry_with_that_id(tmp_path):
    dup = "  - {id: acme, name: Acme again, source_env: TENANT_GLOBEX_DB_URL, owners: [team:platform]}\n"
    _, loaded = registry(tmp_path, dup)
    assert loaded.tenants == ()
    (problem,) = loaded.problems
    assert problem.tenant == "acme" and "appears 2 times" in problem.problem
    assert "exactly one entry" in problem.fix


def test_an_invalid_first_entry_does_not_let_a_duplicate_through(tmp_path):
    # The first 'globex' is invalid (bad cron); the second would copy acme's database into
    # globex's schema if duplicates were counted only among valid entries.
    entries = (
        "  - {id: globex, name: G, source_env: TENANT_GLOBEX_DB_URL, owners: [team:platform], "
        "cron: never}\n"
        "  - {id: globex, name: G2, source_env: TENANT_ACME_DB_URL, owners: [team:platform]}\n"
    )
    _, loaded = registry(tmp_path, entries)
    assert [t.id for t in loaded.tenants] == []  # acme shares its variable: skipped too
    assert {(p.tenant, p.field) for p in loaded.problems} == {
        ("globex", "id"),
        ("acme", "source_env"),
        ("globex", "source_env"),
    }
    assert all("Fix:" in str(p) for p in loaded.problems)


@pytest.mark.parametrize(
    "entry",
    [
        '  - {id: "globex\\n", name: G, source_env: TENANT_GLOBEX_DB_URL, owners: [team:platform]}\n',
        '  - {id: globex, name: G, source_env: "TENANT_GLOBEX_DB_URL\\n", owners: [team:platform]}\n',
        '  - {id: globex, name: G, source_env: TENANT_GLOBEX_DB_URL, owners: ["team:platform\\n"]}\n',
    ],
)
def test_a_trailing_newline_is_not_a_valid_name(tmp_path, entry):
    _, loaded = registry(tmp_path, entry)
    assert [t.id for t in loaded.tenants] == ["acme"]
    (problem,) = loaded.problems
    assert "Fix:" in str(problem)


def test_source_env_names_only_the_tenants_own_variable(tmp_path):
    # Naming any other variable (here a Snowflake password) is refused before it is read.
    entry = "  - {id: globex, name: G, source_env: SNOWFLAKE_PASSWORD, owners: [team:platform]}\n"
    _, loaded = registry(tmp_path, entry)
    assert [t.id for t in loaded.tenants] == ["acme"]
    (problem,) = loaded.problems
    assert problem.field == "source_env" and "TENANT_GLOBEX_DB_URL" in problem.problem
    assert "not-a-secret" not in str(problem)


def test_safe_identifier_matches_the_whole_name():
    from platform_core.errors import UnsafeIdentifierError
    from platform_core.identifiers import safe_identifier

    assert safe_identifier("tenant_acme") == "tenant_acme"
    for bad in ("tenant_acme\n", "tenant_acme;", "Tenant", "a" * 64):
        with pytest.raises(UnsafeIdentifierError):
            safe_identifier(bad)


def test_a_disabled_tenant_needs_no_variable_and_is_not_active(tmp_path):
    entry = "  - {id: globex, name: G, source_env: TENANT_GLOBEX_DB_URL, owners: [team:platform], enabled: false}\n"
    _, loaded = registry(tmp_path, entry)
    assert [t.id for t in loaded.tenants] == ["acme", "globex"]
    assert [t.id for t in loaded.active] == ["acme"] and not loaded.problems


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("tenants: [unclosed", "is not valid YAML"),
        ("- just a list", "must be a mapping"),
        ("tenants: []\nextra: 1", "unknown top-level keys ['extra']"),
    ],
)
def test_an_unreadable_file_is_refused_whole(tmp_path, content, words):
    path = tmp_path / "tenants.yaml"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match="Fix:") as error:
        load_registry_file(path, ENV)
    assert str(path) in str(error.value) and words in str(error.value)


def test_the_fields_become_schema_and_run_tags(tmp_path):
    _, loaded = registry(tmp_path, "")
    acme = loaded.get("acme")
    assert acme.schema == "tenant_acme"
    assert run_tags(acme) == {
        "mesh/tenant": "acme",
        "dagster/max_runtime": "1200",
        "dagster/max_retries": "1",
        "dagster/retry_strategy": "ALL_STEPS",
        "dagster/retry_on_asset_or_op_failure": "true",
    }
    with pytest.raises(ConfigurationError, match="'nobody' is not in the registry"):
        loaded.get("nobody")


def test_each_tenant_runs_on_its_own_cron_in_its_own_time_zone(tmp_path):
    entry = "  - {id: globex, name: G, source_env: TENANT_GLOBEX_DB_URL, owners: [team:platform], cron: '0 3 * * *', timezone: America/New_York}\n"
    _, loaded = registry(tmp_path, entry)
    # First sight records the last tick without running (no burst on deploy).
    due, cursor = due_tenants(loaded, datetime(2026, 3, 2, 1, 0, tzinfo=UTC), {})
    assert due == [] and set(cursor) == {"acme", "globex"}
    # 02:05 UTC is 03:05 in Berlin (acme due) and 21:05 in New York (globex not yet).
    due, cursor = due_tenants(loaded, datetime(2026, 3, 2, 2, 5, tzinfo=UTC), cursor)
    assert [(t.id, tick.hour) for t, tick in due] == [("acme", 3)]
    # 08:05 UTC is 03:05 in New York.
    due, cursor = due_tenants(loaded, datetime(2026, 3, 2, 8, 5, tzinfo=UTC), cursor)
    assert [t.id for t, _ in due] == ["globex"]
    due, _ = due_tenants(loaded, datetime(2026, 3, 2, 8, 6, tzinfo=UTC), cursor)
    assert due == []


def test_partitions_follow_active_tenants_except_dedicated_locations(tmp_path):
    entries = (
        "  - {id: globex, name: G, source_env: TENANT_GLOBEX_DB_URL, owners: [team:platform]}\n"
        "  - {id: initech, name: I, source_env: TENANT_INITECH_DB_URL, owners: [team:platform], isolation: dedicated_location}\n"
    )
    _, loaded = registry(tmp_path, entries)
    assert partition_changes(loaded, ["acme", "gone"]) == (["globex"], ["gone"])


def test_owners_are_alerted_only_when_the_retry_failed_too(tmp_path):
    _, loaded = registry(tmp_path, "")
    first = dg.DagsterRun(
        job_name="tenant_sync_job",
        run_id="r1",
        tags={"dagster/partition": "acme", "dagster/max_retries": "1"},
    )
    assert alert_for_failed_run(first, loaded, "boom") is None  # the run retry comes first
    retry = dg.DagsterRun(
        job_name="tenant_sync_job",
        run_id="r2",
        tags={
            "dagster/partition": "acme",
            "dagster/max_retries": "1",
            "dagster/retry_number": "1",
        },
    )
    alert = alert_for_failed_run(retry, loaded, "database unreachable")
    assert alert is not None
    assert alert.recipients == ("team:platform", "ops@acme.example.com")
    assert "after 2 attempt(s)" in alert.body and "backfill" in alert.body
    assert alert.scope == "tenant:acme" and alert.kind.value == "run_failure"


def test_the_postgres_registry_table_is_validated_the_same_way(tenant_postgres, monkeypatch):
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(tenant_postgres.url(), autocommit=True) as con, con.cursor() as cur:
        cur.execute("drop database if exists registry_test with (force)")
        cur.execute("create database registry_test")
    url = tenant_postgres.url("registry_test")
    with adbc.connect(url, autocommit=True) as con, con.cursor() as cur:
        cur.execute(REGISTRY_TABLE_DDL)
        cur.execute(
            "insert into tenant_registry (tenant_id, name, source_env, owners, is_active, cron) "
            "values ('acme', 'Acme', 'TENANT_ACME_DB_URL', 'team:platform', true, '0 3 * * *'), "
            "('globex', 'Globex', 'TENANT_GLOBEX_DB_URL', 'team:platform', false, '0 3 * * *'), "
            "('Bad', 'Bad', 'TENANT_BAD_DB_URL', 'team:platform', true, '0 3 * * *')"
        )
    loaded = load_registry(Path("/nonexistent.yaml"), {**ENV, REGISTRY_URL_VAR: url})
    assert [t.id for t in loaded.active] == ["acme"]
    assert [t.id for t in loaded.tenants] == ["acme", "globex"]
    (problem,) = loaded.problems
    assert problem.source == "postgres table tenant_registry" and problem.tenant == "Bad"


def test_seeding_points_exactly_the_seeded_sample_tenants_at_their_databases():
    from mesh_tooling.sample.tenant_databases import point_sample_sources

    environ = {"TENANT_T003_DB_URL": "postgresql://old/t003", "OTHER_DB_URL": "kept"}
    point_sample_sources({"t001": "postgresql://new/t001"}, environ)
    assert environ == {"TENANT_T001_DB_URL": "postgresql://new/t001", "OTHER_DB_URL": "kept"}


@pytest.mark.parametrize(
    "value",
    # Assembled at run time so the repository never holds a password-shaped literal.
    ["postgresql://sync:" + "hunter2" + "@127.0.0.1:1/acme", "hunter2" + "-a-password-not-a-url"],
)
def test_a_connection_error_never_repeats_the_connection_string_or_the_value(value):
    from platform_core.tenancy.source import SourceUnavailable, connect

    unreachable = pytest.raises(
        SourceUnavailable, match="Tenant 'acme': its database is unreachable"
    )
    with unreachable as e, connect(value, "acme"):
        pass
    assert "hunter2" not in str(e.value) and "Fix:" in str(e.value)
    with pytest.raises(ConfigurationError, match="cannot be read") as e:
        load_registry(Path("/nonexistent.yaml"), {REGISTRY_URL_VAR: value})
    assert "hunter2" not in str(e.value)
