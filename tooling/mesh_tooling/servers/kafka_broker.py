"""The local Kafka-protocol broker: noida-db (a PyPI wheel), for `./mesh up`, tests and benches.

Production points `MESH_KAFKA_BOOTSTRAP_SERVERS` at a real Kafka; nothing else changes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path

from platform_core.errors import ConfigurationError

LOCAL_PORT = 19092


def broker_binary() -> Path:
    try:
        binary = Path(str(files("noida_db").joinpath("noida-db")))
    except ModuleNotFoundError as error:
        raise ConfigurationError(
            "The local Kafka broker needs the `noida-db` package. Fix: `uv sync` in the repository "
            "root (it is a root dependency), or point MESH_KAFKA_BOOTSTRAP_SERVERS at a broker."
        ) from error
    binary.chmod(0o755)  # wheels do not always keep the executable bit
    return binary


def broker_command(data_dir: Path, port: int) -> list[str]:
    return [
        str(broker_binary()), "start", "--only", "kafka",
        "--kafka-port", str(port), "--data-dir", str(data_dir),
    ]  # fmt: skip


def listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _default_signals() -> None:
    # A non-interactive parent may have SIGINT/SIGTERM ignored; the broker must obey them.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def start_broker(
    data_dir: Path, port: int = LOCAL_PORT, log: Path | None = None
) -> subprocess.Popen:
    """Start noida-db's Kafka service in its own process group and wait until it listens."""
    if listening(port):
        raise ConfigurationError(
            f"Port {port} is already taken. Fix: stop what listens there, or pick another port."
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    out = (log or data_dir / "broker.log").open("ab")
    process = subprocess.Popen(
        broker_command(data_dir, port), stdout=out, stderr=subprocess.STDOUT,
        preexec_fn=_default_signals, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not listening(port):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_broker(process)
            raise ConfigurationError(
                f"The local Kafka broker did not start on port {port}; see {out.name}."
            )
        time.sleep(0.1)
    return process


def stop_broker(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=wait)
            return
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue


@contextmanager
def local_broker(data_dir: Path, port: int = LOCAL_PORT) -> Iterator[str]:
    """A running broker for the block; yields its bootstrap address."""
    process = start_broker(data_dir, port)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop_broker(process)
