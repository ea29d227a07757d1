"""The mesh's catalog: every declared product of every location, and every dbt model.

Built from the locations' declaration files (found through dg.toml and
platform_core.declarations) and the prepared dbt manifest, never by importing another domain's
code. A domain whose declarations fail to load (or the dbt project, when it fails to parse) is
recorded in `Catalog.broken` instead of failing every location.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from platform_core.dbt.catalog import dbt_product_declarations
from platform_core.dbt.project import PROJECT_FOLDER, mesh_dbt_project
from platform_core.declaration_yaml import declaration_documents
from platform_core.environment import current_environment
from platform_core.errors import DbtProjectError, ProductDeclarationError
from platform_core.products.catalog import DBT_SOURCE, BrokenDomain, Catalog
from platform_core.products.declaration import ProductDeclaration, load_domain_products
from platform_core.workspace import find_mesh_root, read_locations


def _declared_owners(path: Path, fallback: str) -> tuple[str, ...]:
    """Owners named anywhere in a declaration file that does not validate (best effort)."""
    try:
        documents = declaration_documents(path.read_text())
    except (OSError, yaml.YAMLError):
        documents = []
    owners = {
        str(owner)
        for doc in documents
        for product in (doc.get("products") or [])
        if isinstance(product, dict)
        for owner in (product.get("owners") or [])
    }
    return tuple(sorted(owners)) or (f"team:{fallback}",)


@cache
def load_catalog(root: Path) -> Catalog:
    """Every product declared in the mesh rooted at `root` (cached per process); domains whose
    declarations fail to load are in `broken`."""
    declarations: list[ProductDeclaration] = []
    broken: list[BrokenDomain] = []
    for location in read_locations(root):
        for path in location.declaration_files:
            try:
                declarations.extend(load_domain_products(path).products)
            except ProductDeclarationError as error:
                owners = _declared_owners(path, location.name)
                broken.append(BrokenDomain(location.name, str(path), str(error), owners))
    try:
        dbt_declarations, quarantined = _dbt_declarations(root)
        declarations.extend(dbt_declarations)
        broken.extend(quarantined)
    except DbtProjectError as error:
        domain = error.domain or "dbt"
        broken.append(BrokenDomain(domain, DBT_SOURCE, str(error), error.owners))
    return Catalog.from_declarations(declarations, broken)


def _dbt_declarations(root: Path) -> tuple[list[ProductDeclaration], list[BrokenDomain]]:
    """The mesh's dbt models, from the prepared manifest (none if the mesh has no dbt project),
    and the domains with a model the preparation had to disable."""
    if not (root / PROJECT_FOLDER / "dbt_project.yml").is_file():
        return [], []
    env = current_environment()
    project = mesh_dbt_project(env, root)
    if project.needs_preparation(env):
        # dagster_dbt (~1.7 s) is imported only when dbt must parse; then dbt costs more.
        from platform_core.dbt.preparer import prepare

        prepare(project, env)
    manifest = project.read_manifest(env)
    quarantined = [
        BrokenDomain(domain, DBT_SOURCE, model.message, model.owners)
        for domain, model in project.quarantine().items()
    ]
    return dbt_product_declarations(manifest, project.project_dir), quarantined


def catalog_for(path: Path) -> Catalog:
    """The catalog of the mesh that contains `path` (a declaration file or any file in it)."""
    return load_catalog(find_mesh_root(path.parent if path.is_file() else path))
