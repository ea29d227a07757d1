"""No credential or password-bearing connection string in code or config.

Credentials come from the environment (dg.EnvVar, os.environ); a literal in the repository is
a leak waiting to happen, so the gate refuses it wherever it is (tests included)."""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

from governance.ruleset import GateContext, Severity, Violation, rule

SCANNED_SUFFIXES = {
    ".py", ".yaml", ".yml", ".toml", ".json", ".cfg", ".ini", ".env", ".sql", ".sh", ".txt",
}  # fmt: skip
MAX_BYTES = 1_000_000

# name = "literal" where the name says it is a secret
_ASSIGNED = re.compile(
    r"""(?i)\b([\w.-]*(password|passwd|secret|token|api_?key|private_?key)[\w.-]*)["']?\s*"""
    r"""[:=]\s*["']([^"'\s]{6,})["']"""
)
# key: value / KEY=value with the value unquoted (YAML, .env, shell, ini): in Python an
# unquoted right-hand side is an expression, so this form is not applied to .py files.
_UNQUOTED = re.compile(
    r"""(?i)^\s*(?:-\s*)?(?:export\s+)?["']?([\w.-]*(password|passwd|secret|token|api_?key|"""
    r"""private_?key)[\w.-]*)["']?\s*[:=]\s*([^\s"'#|>&*!\[{][^\s#]{5,})\s*(?:#.*)?$"""
)
# A Kubernetes/cloud object's name ("mesh-snowflake"): what a *_SECRET setting usually holds.
_OBJECT_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)+$")
# scheme://user:password@host
_URL = re.compile(r"""\b[a-z][a-z0-9+.-]*://[^\s:/@'"]+:([^\s@/'"]+)@[^\s'"]+""")
_SHAPES = {
    "an AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "a private key": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"),
    "a Slack token": re.compile(r"\bxox[abprs]-[0-9A-Za-z-]{10,}"),
    "a GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
}
# Each pattern above needs one of these words on its line: a line (or a whole file) without
# any is skipped without running the patterns (most of them; the scan reads the whole repo).
_CANDIDATE = re.compile(
    r"(?i)passw|secret|token|api_?key|private_?key|private key|://|akia|xox[abprs]-|gh[pousr]_"
)

_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")  # "SNOWFLAKE_PASSWORD": names the variable
_DOC_WORDS = {"password", "passwd", "pass", "secret", "token", "pwd"}  # user:password@host


def _is_reference(value: str, placeholders: list[str]) -> bool:
    """An environment reference, template or an obvious placeholder, not a secret."""
    lowered = value.lower()
    return (
        bool(_ENV_NAME.match(value))
        or lowered in _DOC_WORDS
        or value.startswith(("$", "{", "<", "%", "*", "!"))
        or "://" in value  # a URL: _URL judges whether it carries a password
        or "{{" in value
        or "env(" in lowered
        or any(word in lowered for word in placeholders)
    )


def _files(root: Path, skip_dirs: list[str]) -> list[Path]:
    """Tracked and new files (git's view, so ignored build output is skipped)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root, capture_output=True, check=True, text=True,
        ).stdout.split("\0")  # fmt: skip
        files = [root / name for name in listed if name]
    except (subprocess.CalledProcessError, FileNotFoundError):
        files = [p for p in root.rglob("*") if p.is_file()]
    skipped = set(skip_dirs)
    return [
        f
        for f in files
        if (f.suffix in SCANNED_SUFFIXES or f.name.startswith("."))  # .env, .env.local, .pgpass
        and f.is_file()
        and not skipped.intersection(f.relative_to(root).parts)
        and f.stat().st_size <= MAX_BYTES
    ]


def find_secrets(
    text: str, placeholders: list[str], unquoted: bool = False
) -> Iterator[tuple[int, str]]:
    """(line, what) of every secret-looking literal; `unquoted` also judges `key: value`
    lines whose value has no quotes (every file but Python)."""
    if not _CANDIDATE.search(text):
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not _CANDIDATE.search(line):
            continue
        matches = list(_ASSIGNED.finditer(line))
        if unquoted and not matches:
            matches = list(_UNQUOTED.finditer(line))
        for match in matches:
            key, word, value = match.group(1), match.group(2).lower(), match.group(3)
            if key.lower().endswith("name") or _is_reference(value, placeholders):
                continue  # postgresqlSecretName: "...", password = "${DB_PASSWORD}"
            if word != "password" and _OBJECT_NAME.match(value):
                continue  # SNOWFLAKE_SECRET = "mesh-snowflake" names the secret object
            yield number, f"a literal {word}"
        for match in _URL.finditer(line):
            if not _is_reference(match.group(1), placeholders):
                yield number, "a connection string with a password"
        for what, pattern in _SHAPES.items():
            if pattern.search(line):
                yield number, what


@rule("GOV080", "secrets/no-literal-credentials", Severity.ERROR, "no credentials in the repo")
def no_secrets(context: GateContext) -> Iterator[Violation]:
    policy = context.config.policy.secrets
    for file in _files(context.root, policy.skip_dirs):
        try:
            text = file.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        relative = str(file.relative_to(context.root))
        lines = text.splitlines()
        unquoted = file.suffix != ".py"
        for line, what in find_secrets(text, policy.placeholders, unquoted):
            # The offending line's text, not its number: the alert survives edits above it.
            offending = hashlib.blake2b(lines[line - 1].strip().encode(), digest_size=8)
            yield Violation(
                "GOV080", Severity.ERROR, relative,
                f"{relative}:{line} contains {what}",
                "remove it (and rotate it: it is in git history), read it from an environment "
                "variable (dg.EnvVar('NAME')) instead",
                relative, line, subject=f"{what}:{offending.hexdigest()}",
            )  # fmt: skip
