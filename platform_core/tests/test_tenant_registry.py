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

ENV = {"ACME_DB_URL": "postgresql://acme@localhost/acme", "GLOBEX_DB_URL": "postgresql://g@h/g"}
GOOD = """
  - id: acme
    name: Acme
    source_env: ACME_DB_URL
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
        "- {id: Globex-1, name: G, source_env: GLOBEX_DB_URL, owners: [team:platform]}",
        "Globex-1",
        "id",
        "only lower-case letters",
    ),
    "sql in id": (
        "- {id: 'g; drop schema x', name: G, source_env: GLOBEX_DB_URL, owners: [team:platform]}",
        "g; drop schema x",
        "id",
        "ids reach SQL",
    ),
    "unknown field": (
        "- {id: globex, name: G, source_env: GLOBEX_DB_URL, owners: [team:platform], pasword: x}",
        "globex",
        "pasword",
        "check its spelling",
    ),
    "bad cron": (
        "- {id: globex, name: G, source_env: GLOBEX_DB_URL, owners: [team:platform], cron: '61 * * * *'}",
        "globex",
        "cron",
        "5-field cron",
    ),
    "bad time zone": (
        "- {id: globex, name: G, source_env: GLOBEX_DB_URL, owners: [team:platform], timezone: Mars/Base}",
        "globex",
        "timezone",
        "IANA time zone",
    ),
    "missing variable": (
        "- {id: globex, name: G, source_env: GLOBEX_MISSING_URL, owners: [team:platform]}",
        "globex",
        "source_env",
        "GLOBEX_MISSING_URL is not set",
    ),
    "url instead of a variable name": (
        "- {id: globex, name: G, source_env: 'postgresql://u:secret@h/db', owners: [team:platform]}",
        "globex",
        "source_env",
        "never the URL or a password",
    ),
    "missing owners": (
        "- {id: globex, name: G, source_env: GLOBEX_DB_URL}",
        "globex",
        "owners",
        "add the field",
    ),
    "bad max run time": (
        "- {id: globex, name: G, source_env: GLOBEX_DB_URL, owners: [team:platform], sla: {max_runtime: soon}}",
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
    dup = "  - {id: acme, name: Acme again, source_env: GLOBEX_DB_URL, owners: [team:platform]}\n"
    _, loaded = registry(tmp_path, dup)
    assert loaded.tenants == ()
    (problem,) = loaded.problems
    assert problem.tenant == "acme" and "appears 2 times" in problem.problem
    assert "exactly one entry" in problem.fix


def test_a_disabled_tenant_needs_no_variable_and_is_not_active(tmp_path):
    entry = "  - {id: globex, name: G, source_env: UNSET_URL, owners: [team:platform], enabled: false}\n"
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
    }
    with pytest.raises(ConfigurationError, match="'nobody' is not in the registry"):
        loaded.get("nobody")


def test_each_tenant_runs_on_its_own_cron_in_its_own_time_zone(tmp_path):
    entry = "  - {id: globex, name: G, source_env: GLOBEX_DB_URL, owners: [team:platform], cron: '0 3 * * *', timezone: America/New_York}\n"
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
        "  - {id: globex, name: G, source_env: GLOBEX_DB_URL, owners: [team:platform]}\n"
        "  - {id: initech, name: I, source_env: GLOBEX_DB_URL, owners: [team:platform], isolation: dedicated_location}\n"
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
            "values ('acme', 'Acme', 'ACME_DB_URL', 'team:platform', true, '0 3 * * *'), "
            "('globex', 'Globex', 'GLOBEX_DB_URL', 'team:platform', false, '0 3 * * *'), "
            "('Bad', 'Bad', 'ACME_DB_URL', 'team:platform', true, '0 3 * * *')"
        )
    loaded = load_registry(Path("/nonexistent.yaml"), {**ENV, REGISTRY_URL_VAR: url})
    assert [t.id for t in loaded.active] == ["acme"]
    assert [t.id for t in loaded.tenants] == ["acme", "globex"]
    (problem,) = loaded.problems
    assert problem.source == "postgres table tenant_registry" and problem.tenant == "Bad"


def test_seeding_points_exactly_the_seeded_sample_tenants_at_their_databases():
    from mesh_tooling.sample.tenant_databases import point_sample_sources

    environ = {"TENANT_T003_DB_URL": "postgresql://old/t003", "ACME_DB_URL": "kept"}
    point_sample_sources({"t001": "postgresql://new/t001"}, environ)
    assert environ == {"TENANT_T001_DB_URL": "postgresql://new/t001", "ACME_DB_URL": "kept"}
