"""Reading a tenant database: one snapshot for the rows, the counts and the checksums."""

import adbc_driver_postgresql.dbapi as adbc
from mesh_tooling.sample.tenant_databases import create_tenant_database
from platform_core.tenancy.source import connect, source_columns, source_fingerprint


def _fetch(connection, sql: str):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def test_a_sync_connection_does_not_see_writes_committed_after_its_first_read(tenant_postgres):
    url = create_tenant_database(tenant_postgres, "snap")
    with adbc.connect(url, autocommit=True) as writer, writer.cursor() as cursor:
        cursor.execute("create table orders (order_id bigint primary key, status text)")
        cursor.execute("insert into orders values (1, 'placed'), (2, 'completed')")
    with connect(url, "snap") as source:
        assert _fetch(source, "select current_setting('transaction_isolation')") == [
            ("repeatable read",)
        ]
        columns = source_columns(source, "orders")
        before = source_fingerprint(source, "orders", columns)
        with adbc.connect(url, autocommit=True) as writer, writer.cursor() as cursor:
            cursor.execute("insert into orders values (3, 'placed')")  # committed meanwhile
            cursor.execute("update orders set status = 'refunded' where order_id = 2")
        assert source_fingerprint(source, "orders", columns) == before
        assert _fetch(source, "select count(*) from orders") == [(2,)]
    with connect(url, "snap") as fresh:  # a new sync sees the new state
        assert _fetch(fresh, "select count(*) from orders") == [(3,)]
        assert source_fingerprint(fresh, "orders", columns) != before
