"""Debian's chromium for browser tests (playwright cannot download its own browser here)."""

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# GitHub's Ubuntu runners ship Chrome (Ubuntu's chromium package is only a snap stub).
OTHER_BROWSERS = (Path("/usr/bin/google-chrome"),)
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-extensions",
]


def ensure_chromium() -> Path:
    """Install Debian's chromium if it is missing (idempotent; .ci/run does the same)."""
    for browser in (CHROMIUM, *OTHER_BROWSERS):
        if browser.exists():
            return browser
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError(
            "chromium is not installed and cannot be installed from here. "
            "Fix: `apt-get install -y chromium` (Debian) as root, or run .ci/run."
        )
    subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=600)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],
        check=True,
        timeout=1200,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    return CHROMIUM
