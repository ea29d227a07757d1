"""Build and run deployment/Dockerfile's images with podman (tests/test_location_image.py,
bench/bench_images.py).

For machines without a Docker daemon or a reachable image registry: podman runs with
deployment/podman/containers.conf (runc, cgroupfs, no default ulimits) and host networking, and
the base image is a Debian bookworm root bootstrapped by mmdebstrap (python3 3.11) and imported.
Builds hold a machine-wide file lock: parallel sessions (xdist workers, other clones) take turns
and the second finds every layer cached.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
CONTAINERS_CONF = REPO_ROOT / "deployment" / "podman" / "containers.conf"
DOCKERFILE = REPO_ROOT / "deployment" / "Dockerfile"
IGNORE_FILE = REPO_ROOT / "deployment" / "Dockerfile.dockerignore"
# Bootstrapped here unless MESH_BASE_IMAGE names one to pull (python:3.11-slim-bookworm where a
# registry is reachable).
BASE_IMAGE = os.environ.get("MESH_BASE_IMAGE") or "localhost/mesh-base:bookworm-python"
# python3-venv: the Dockerfile installs uv from its PyPI wheel through a throwaway venv.
BASE_PACKAGES = "python3,python3-venv,ca-certificates"
# The host's trust store, so downloads inside a build work behind a TLS-inspecting proxy too.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
LOCK = Path(tempfile.gettempdir()) / "mesh-images.lock"


class ContainerRuntimeError(Exception):
    pass


@dataclass(frozen=True)
class Build:
    image_id: str
    seconds: float


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["podman", *args], env=podman_env(), capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise ContainerRuntimeError(
            f"podman {' '.join(args[:3])} ... failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def runtime_problem() -> str | None:
    """Why podman cannot build and run images here, or None when it can."""
    tools = ["podman", "runc"] + ([] if os.environ.get("MESH_BASE_IMAGE") else ["mmdebstrap"])
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not installed (.ci/container-runtime installs them)"
    info = podman("info", "--format", "{{.Host.OCIRuntime.Name}}", check=False)
    if info.returncode != 0:
        return f"`podman info` failed: {info.stderr.strip()[-500:]}"
    return None


@contextmanager
def machine_lock() -> Iterator[None]:
    with LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_base_image() -> float:
    """Bootstrap the bookworm base once per machine; seconds spent (0 when it was there)."""
    with machine_lock():
        if podman("image", "exists", BASE_IMAGE, check=False).returncode == 0:
            return 0.0
        if os.environ.get("MESH_BASE_IMAGE"):
            started = time.monotonic()
            podman("pull", BASE_IMAGE, timeout=600)
            return time.monotonic() - started
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="mesh-base-") as scratch:
            tar = Path(scratch) / "base.tar"
            command = ["mmdebstrap", "--quiet", "--variant=apt", f"--include={BASE_PACKAGES}"]
            if HOST_CA_BUNDLE.is_file():
                command.append(f"--customize-hook=copy-in {HOST_CA_BUNDLE} /etc/ssl/certs")
            result = subprocess.run(
                [*command, "bookworm", str(tar)], capture_output=True, text=True, timeout=900
            )
            if result.returncode != 0:
                raise ContainerRuntimeError(f"mmdebstrap failed:\n{result.stderr[-3000:]}")
            podman("import", str(tar), BASE_IMAGE, timeout=300)
        return time.monotonic() - started


def build_image(
    *, location: str | None, log_dir: Path, context: Path = REPO_ROOT, no_cache: bool = False
) -> Build:
    """deployment/Dockerfile's location image (or the instance image for None); its id.
    Run by id: a parallel session from another clone may move the tag."""
    target = "location" if location else "instance"
    name = location or "instance"
    iid = log_dir / f"{name}.iid"
    args = [
        "build", "--network=host", "-f", str(DOCKERFILE), "--ignorefile", str(IGNORE_FILE),
        "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "--target", target, "--iidfile", str(iid),
        "--tag", f"localhost/data-mesh/{name}:test",  # for people; the tests run the id
    ]  # fmt: skip
    if location:
        args += ["--build-arg", f"LOCATION={location}"]
    if no_cache:
        args.append("--no-cache")
    with machine_lock():
        started = time.monotonic()
        result = podman(*args, str(context), timeout=1500, check=False)
        seconds = time.monotonic() - started
    (log_dir / f"build-{name}.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise ContainerRuntimeError(
            f"building the {name} image failed; log: {log_dir / f'build-{name}.log'}\n"
            f"{(result.stdout + result.stderr)[-3000:]}"
        )
    return Build(iid.read_text().strip(), seconds)


@contextmanager
def running(image_id: str, *, env: dict[str, str]) -> Iterator[str]:
    """The image's own command in a detached container on the host network; its id."""
    flags = [f"--env={key}={value}" for key, value in env.items()]
    container = podman("run", "--detach", "--network=host", *flags, image_id).stdout.strip()
    try:
        yield container
    finally:
        podman("rm", "--force", "--time", "5", container, check=False, timeout=60)


def is_running(container: str) -> bool:
    state = podman("inspect", "--format", "{{.State.Running}}", container, check=False)
    return state.stdout.strip() == "true"


def logs(container: str) -> str:
    result = podman("logs", container, check=False)
    return (result.stdout + result.stderr)[-4000:]


def prebuild(names: list[str], log_dir: Path) -> None:
    """The base and the named images (a location, or `instance`), so that a later build of the
    same tree finds every layer cached (.ci/run starts this before its other steps)."""
    print(f"base image: {ensure_base_image():.0f} s", flush=True)
    for name in names:
        build = build_image(location=None if name == "instance" else name, log_dir=log_dir)
        print(f"{name} image: {build.seconds:.0f} s", flush=True)


if __name__ == "__main__":  # stdlib only: runs before the project's environment exists
    import sys

    problem = runtime_problem()
    if problem:
        sys.exit(f"images: podman unusable: {problem}")
    # Kept under .mesh/ (git-ignored): a failed build's message names its log, read after CI.
    build_logs = REPO_ROOT / ".mesh" / "prebuild"
    build_logs.mkdir(parents=True, exist_ok=True)
    prebuild(sys.argv[1:], build_logs)
