"""The ports `./mesh up` listens on, checked before anything starts."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from platform_core.errors import ConfigurationError


@dataclass(frozen=True)
class Port:
    what: str  # "the Dagster UI"
    host: str
    port: int
    flag: str  # the option that moves it, e.g. "--port"


def is_free(host: str, port: int) -> bool:
    """True if we could listen on host:port now (what the server will do next)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # As servers do: a port in TIME_WAIT after the last session is free to listen on.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def check_ports(ports: list[Port], hint: str = "") -> None:
    """Raise one sentence for the first taken port: which one, and what to pass instead."""
    for port in ports:
        if not is_free(port.host, port.port):
            suggestion = _next_free(port)
            raise ConfigurationError(
                f"port {port.port} ({port.what}) is already in use on {port.host}. Fix: stop "
                f"what listens there, or run `./mesh up {port.flag} {suggestion}`{hint}."
            )


def _next_free(port: Port) -> int:
    for candidate in range(port.port + 1, min(port.port + 100, 65535)):
        if is_free(port.host, candidate):
            return candidate
    return free_port(port.host)
