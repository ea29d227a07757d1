"""Errors users see. Each names the thing at fault, the rule it broke and the fix."""

from __future__ import annotations


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
