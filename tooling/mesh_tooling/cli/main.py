"""`meshctl`: the platform's command line (seed sample data, run the mesh, list products)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from platform_core.environment import current_environment
from platform_core.errors import MeshError
from platform_core.workspace import find_mesh_root

from mesh_tooling.sample.data import Scale, write_landing

DEFAULT_SCALE = Scale()
LOCAL_BROKER_PORT = 19092  # mesh_tooling.servers.kafka_broker.LOCAL_PORT, without importing Kafka


def _dagster_home(root: Path) -> Path:
    """The local instance under .mesh/, configured from deployment/local/dagster.yaml."""
    configured = os.environ.get("DAGSTER_HOME")
    home = Path(configured) if configured else current_environment().mesh_home / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    template = root / "deployment" / "local" / "dagster.yaml"
    if not configured and template.is_file():
        shutil.copyfile(template, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _scale(args: argparse.Namespace) -> Scale:
    return Scale(tenants=args.tenants, orders_per_tenant=args.orders_per_tenant, seed=args.seed)


def cmd_seed(args: argparse.Namespace) -> int:
    _seed(args)
    return 0


def _seed(args: argparse.Namespace, db_port: int | None = None) -> None:
    env = current_environment()
    written = write_landing(env.landing_dir, _scale(args))
    state = "wrote" if written else "kept (already at this scale)"
    print(f"sample sources {state}: {env.landing_dir}  [{_scale(args)}]")
    _tenant_databases(args, db_port)


# The local PostgreSQL of the tenant databases, when this process started it (stopped at exit).
_STARTED_POSTGRES: list = []
_tenant_server: list = []  # the server this process uses, started here or not


def _tenant_databases(args: argparse.Namespace, port: int | None = None) -> None:
    """Start the local tenant PostgreSQL (one database per tenant) and point TENANT_*_DB_URL at it."""
    from mesh_tooling.sample.local_tenants import start_local_tenant_databases

    server, started = start_local_tenant_databases(current_environment(), _scale(args), port)
    _tenant_server[:] = [server]
    if started:
        _STARTED_POSTGRES.append(server)
    print(f"tenant databases: PostgreSQL on 127.0.0.1:{server.port} ({server.data_dir})")


def _stop_started_postgres() -> None:
    while _STARTED_POSTGRES:
        _STARTED_POSTGRES.pop().stop()


def cmd_materialize(args: argparse.Namespace, db_port: int | None = None) -> int:
    import dagster as dg

    from mesh_tooling.runner import materialize_mesh

    root = find_mesh_root()
    _seed(args, db_port)
    _dagster_home(root)
    select = [dg.AssetKey.from_user_string(k) for k in args.select] if args.select else None
    with dg.DagsterInstance.get() as instance:
        summary = materialize_mesh(root, instance, select=select)
    print(summary.render(), flush=True)
    return 0 if summary.success else 1


def cmd_dev(args: argparse.Namespace) -> int:
    """Seed, materialize once so the UI opens on data, then run `dagster dev` (see dev/up.py)."""
    from platform_core.streaming.resource import BOOTSTRAP_ENV

    from mesh_tooling.dev.up import UpOptions, run_up

    root = find_mesh_root()
    env = current_environment()
    if not env.is_local:
        print(f"meshctl dev runs the local mesh only; this environment is {env.name}.")
        return 2

    def prepare(db_port: int) -> None:
        if args.materialize and not env.duckdb_path.exists():
            status = cmd_materialize(args, db_port=db_port)
            if status:
                raise MeshError("the first materialization failed (see the summary above)")
        else:
            _seed(args, db_port=db_port)
        # This session owns the home: a server an ended session left running is ours to stop.
        _STARTED_POSTGRES[:] = [_tenant_server[0]]

    options = UpOptions(
        host=args.host,
        port=args.port,
        stream=args.stream,
        broker_port=args.broker_port,
        stream_rate=args.stream_rate,
        external_broker=bool(os.environ.get(BOOTSTRAP_ENV)),
    )
    return run_up(root, env, options, prepare, lambda: _dagster_home(root))


def cmd_products(args: argparse.Namespace) -> int:
    from platform_core.catalog import load_catalog

    catalog = load_catalog(find_mesh_root())
    for ref, product in sorted(catalog.products.items()):
        if args.public and not product.is_public:
            continue
        print(
            f"{ref:<32} {product.visibility.value:<9} tier {product.tier}  {', '.join(product.owners)}"
        )
    return 0


def cmd_dbt_prepare(args: argparse.Namespace) -> int:
    """Parse the dbt project once for this environment's target; every location reuses it."""
    from platform_core.dbt.__main__ import prepare_for_environment

    return prepare_for_environment(find_mesh_root())


def cmd_tenants(args: argparse.Namespace) -> int:
    """Tenant registry and tenant sync chores: check, new-location, backfill-failed."""
    from platform_core.tenancy.registry import load_registry, registry_path

    root = find_mesh_root()
    if args.action == "check":
        registry = load_registry(registry_path(root=root))
        for tenant in registry.tenants:
            state = "enabled" if tenant.enabled else "disabled"
            print(
                f"{tenant.id:<12} {state:<9} {tenant.cron:<14} {tenant.timezone:<18} {tenant.name}"
            )
        for problem in registry.problems:
            print(f"SKIPPED {problem}")
        return 1 if registry.problems else 0
    if args.action == "new-location":
        from mesh_tooling.scaffold.tenant_location import tenant_location

        location = tenant_location(root, args.tenant)
        status = _scaffold(root, location, args.sync)
        if status == 0:
            print(
                f"Next: set `isolation: dedicated_location` for {args.tenant} in the registry, "
                f"then ./mesh check and ./mesh test {location.folder}"
            )
        return status
    # backfill-failed: re-run, in this process, every tenant whose latest sync failed.
    import dagster as dg
    from platform_core.tenancy.partitions import backfill_failed_tenants
    from platform_core.workspace import read_locations

    _tenant_databases(args)
    _dagster_home(root)
    location = next(loc for loc in read_locations(root) if loc.name == "tenant_sync")
    job = location.load_definitions().resolve_job_def("tenant_sync_job")
    with dg.DagsterInstance.get() as instance:
        results = backfill_failed_tenants(instance, job)
    for tenant_id, ok in results.items():
        print(f"{tenant_id:<12} {'synced' if ok else 'FAILED again'}")
    print(f"{len(results)} failed tenant partition(s) re-run")
    return 0 if all(results.values()) else 1


def _scaffold(root: Path, location, sync: bool) -> int:
    from platform_core.errors import MeshError

    from mesh_tooling.scaffold.location import scaffold_location

    try:
        written = scaffold_location(root, location, sync=sync)
    except MeshError as exc:
        print(f"meshctl: {exc}", file=sys.stderr)
        return 2
    print(f"location '{location.name}' scaffolded; files written or updated:")
    for path in written:
        print(f"  {path}")
    return 0


def cmd_new_domain(args: argparse.Namespace) -> int:
    """A new domain location, registered in every manifest (the gate and its test pass)."""
    from mesh_tooling.scaffold.location import domain_location

    location = domain_location(args.name, args.owner, args.codeowner, args.contact)
    status = _scaffold(find_mesh_root(), location, args.sync)
    if status == 0:
        print(f"next: ./mesh check  (the gate) and ./mesh test {location.folder}")
    return status


def cmd_health(args: argparse.Namespace) -> int:
    """Print the mesh's health and write it as HTML pages (overview, per domain, per tenant)."""
    import dagster as dg
    from platform_core.catalog import load_catalog
    from platform_core.monitoring.storage import monitoring_warehouse
    from platform_core.tenancy.directory import default_tenant_directory

    from mesh_tooling.health_report import collect_health, render_text, write_html

    root = find_mesh_root()
    env = current_environment()
    _dagster_home(root)
    output = Path(args.output) if args.output else env.mesh_home / "health"
    warehouse = monitoring_warehouse(env, "monitoring")
    with dg.DagsterInstance.get() as instance:
        health = collect_health(
            instance, load_catalog(root), warehouse, default_tenant_directory(root / "dg.toml")
        )
    print(render_text(health))
    pages = write_html(health, output)
    print(f"\nHTML: {pages[0]} (+{len(pages) - 1} pages per domain and tenant)")
    return 0


def cmd_waive(args: argparse.Namespace) -> int:
    """Accept a failed blocking check's data as it is: releases the hold, recorded with a reason."""
    import getpass

    import dagster as dg
    from platform_core.monitoring.waivers import waive_check

    _dagster_home(find_mesh_root())
    with dg.DagsterInstance.get() as instance:
        waive_check(instance, args.asset, args.check, args.reason, args.by or getpass.getuser())
    print(f"waived {args.asset} {args.check}: {args.reason}")
    return 0


def _add_scale(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenants", type=int, default=DEFAULT_SCALE.tenants)
    parser.add_argument("--orders-per-tenant", type=int, default=DEFAULT_SCALE.orders_per_tenant)
    parser.add_argument("--seed", type=int, default=DEFAULT_SCALE.seed)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meshctl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    seed = sub.add_parser("seed", help="write the deterministic sample sources")
    _add_scale(seed)
    seed.set_defaults(func=cmd_seed)

    materialize = sub.add_parser("materialize", help="materialize the whole mesh headlessly")
    _add_scale(materialize)
    materialize.add_argument("--select", nargs="*", help="asset keys (domain/name) to run")
    materialize.set_defaults(func=cmd_materialize)

    dev = sub.add_parser("dev", help="seed, materialize once and start dagster dev")
    _add_scale(dev)
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000, help="the Dagster UI's port")
    dev.add_argument("--no-materialize", dest="materialize", action="store_false")
    dev.add_argument(
        "--no-stream", dest="stream", action="store_false", help="no local Kafka broker/producer"
    )
    dev.add_argument("--stream-rate", type=float, default=20.0, help="click events per second")
    dev.add_argument(
        "--broker-port", type=int, default=LOCAL_BROKER_PORT, help="the local Kafka broker's port"
    )
    dev.set_defaults(func=cmd_dev, select=None)

    dbt_prepare = sub.add_parser(
        "dbt-prepare", help="parse the dbt project once for this environment (deploy builds)"
    )
    dbt_prepare.set_defaults(func=cmd_dbt_prepare)

    products = sub.add_parser("products", help="list the mesh's data products")
    products.add_argument("--public", action="store_true", help="only public products")
    products.set_defaults(func=cmd_products)

    from mesh_tooling.cli.streaming import add_stream_commands

    add_stream_commands(sub)

    from mesh_tooling.cli.deploy import add_deploy_commands

    add_deploy_commands(sub)  # deploy render, changes, clone, preview

    tenants = sub.add_parser("tenants", help="tenant registry and tenant sync chores")
    tenants.add_argument("action", choices=["check", "new-location", "backfill-failed"])
    tenants.add_argument("tenant", nargs="?", help="tenant id (new-location)")
    tenants.add_argument("--no-sync", dest="sync", action="store_false", help="skip uv lock/sync")
    _add_scale(tenants)
    tenants.set_defaults(func=cmd_tenants)

    new_domain = sub.add_parser("new-domain", help="scaffold a new domain location, registered")
    new_domain.add_argument("name")
    new_domain.add_argument("--owner", action="append", required=True, help="team:<name> or e-mail")
    new_domain.add_argument("--codeowner", action="append", help="GitHub @org/team for CODEOWNERS")
    new_domain.add_argument("--contact", help="the team's channel, e.g. #data-sales")
    new_domain.add_argument(
        "--no-sync", dest="sync", action="store_false", help="skip uv lock/sync"
    )
    new_domain.set_defaults(func=cmd_new_domain)

    health = sub.add_parser("health", help="print the mesh health report and write it as HTML")
    health.add_argument("--output", help="folder for the HTML pages (default .mesh/health)")
    health.set_defaults(func=cmd_health)

    waive = sub.add_parser("waive", help="waive a failed blocking check (releases the hold)")
    waive.add_argument("asset", help="asset key, domain/name")
    waive.add_argument("check", help="check name, e.g. row_count_drop")
    waive.add_argument("--reason", required=True, help="why the data is acceptable")
    waive.add_argument("--by", help="who waives it (default: the current user)")
    waive.set_defaults(func=cmd_waive)
    _register_plugins(sub)
    return parser


def _register_plugins(sub: argparse._SubParsersAction) -> None:
    """Subcommands other platform packages contribute (e.g. the governance gate's `check`),
    through the `meshctl.commands` entry point: one CLI, no import of them from here."""
    from importlib.metadata import entry_points

    for entry in entry_points(group="meshctl.commands"):
        entry.load()(sub)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MeshError as error:
        # Set-up problems are the user's to fix: one message naming cause and fix, no traceback.
        print(f"mesh: {error}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("mesh: stopped.", file=sys.stderr, flush=True)
        return 130
    finally:
        _stop_started_postgres()


if __name__ == "__main__":
    sys.exit(main())
