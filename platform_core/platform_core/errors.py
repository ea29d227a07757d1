"""Errors users see. Each names the thing at fault, the rule it broke and the fix."""

from __future__ import annotations

import re


class MeshError(Exception):
    """Base class for every error platform_core raises on purpose."""


class ConfigurationError(MeshError):
    """An environment variable or setting is missing or wrong."""


class UnsafeIdentifierError(MeshError):
    """A name that would reach SQL is not a plain identifier."""


class ProductDeclarationError(MeshError):
    """A data product declaration is invalid; raised while loading definitions."""

    def __init__(self, where: str, problem: str, fix: str) -> None:
        self.where = where
        self.problem = problem
        self.fix = fix
        super().__init__(f"{where}: {problem}\n  Fix: {fix}")


class DbtProjectError(MeshError):
    """The dbt project cannot be parsed or breaks a mesh rule; names the domain and the fix.

    `domain`/`owners`: the domain at fault and who can fix it, when dbt's message names one."""

    def __init__(
        self, message: str, domain: str | None = None, owners: tuple[str, ...] = ()
    ) -> None:
        self.domain = domain
        self.owners = owners
        super().__init__(message)


_CONNECTION_STRING = re.compile(r"[a-z][a-z0-9+.\-]*://\S+", re.IGNORECASE)
_KEY_VALUE_SECRET = re.compile(r"(password|passwd|pwd|token|secret)\s*=\s*\S+", re.IGNORECASE)


def scrub(text: str, *secrets: str) -> str:
    """`text` (a driver's error, say) without connection strings, password=... pairs or any of
    `secrets` (and their URL parts), so it can reach logs, alerts and exceptions."""
    from urllib.parse import unquote, urlsplit

    parts: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        parts.add(secret)
        try:
            split = urlsplit(secret)
            parts.update(p for p in (split.password, split.username, split.netloc) if p)
            if split.password:
                parts.add(unquote(split.password))
        except ValueError:
            pass
    for part in sorted(parts, key=len, reverse=True):
        if len(part) >= 3:  # a one-letter user name would blank out the whole message
            text = text.replace(part, "***")
    text = _CONNECTION_STRING.sub("<connection string>", text)
    return _KEY_VALUE_SECRET.sub(r"\1=***", text)
