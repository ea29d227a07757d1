"""`meshctl` commands for deployment: render manifests, changed locations, clones, preview.

Registered into `meshctl` by `add_deploy_commands`; every heavy import happens inside a command.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from platform_core.workspace import find_mesh_root, read_locations

# Identifies the mesh's impact comment on a pull request, so it is updated, not repeated.
COMMENT_MARKER = "<!-- mesh-impact -->"


def cmd_render(args: argparse.Namespace) -> int:
    from mesh_tooling.manifests.topology import stale_manifests, write_manifests

    root = find_mesh_root()
    if args.check:
        problems = stale_manifests(root)
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    for path in write_manifests(root):
        print(f"wrote {path.relative_to(root)}")
    return 0


def cmd_changes(args: argparse.Namespace) -> int:
    from mesh_tooling.preview.changes import ChangeSet, detect_changes

    root = find_mesh_root()
    if args.all:
        every = {loc.name for loc in read_locations(root)}
        changes = ChangeSet(base="(all)", files=[], everything=True, locations=every)
    else:
        changes = detect_changes(root, args.base)
    if args.format == "locations":
        print(json.dumps(sorted(changes.locations)))
    else:  # asset-level impact: `meshctl impact` (governance.impact, the one impact model)
        print(json.dumps(changes.as_json(), indent=2))
    if args.github_output:
        # A workflow's job outputs; location names come from dg.toml (validated identifiers).
        with open(args.github_output, "a") as out:
            out.write(f"locations={json.dumps(sorted(changes.locations))}\n")
            out.write(f"any={'true' if changes.locations else 'false'}\n")
    return 0


def cmd_clone(args: argparse.Namespace) -> int:
    """The clone of the pull request given by the environment (as in a branch deployment)."""
    from platform_core.deploy import clones
    from platform_core.deploy.pull_requests import GitHubPullRequests
    from platform_core.environment import current_environment, snowflake_branch_role
    from platform_core.warehouse.resources import clone_admin_warehouse

    env = current_environment()
    if env.is_local:
        print(
            "meshctl clone: the local environment has no Snowflake clone. Fix: run it with the "
            "branch deployment's variables (DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT=1, "
            "DAGSTER_CLOUD_PULL_REQUEST_ID, SNOWFLAKE_DATABASE) or, for cleanup, MESH_ENV=prod.",
            file=sys.stderr,
        )
        return 2
    # The pull-request workflow (or production's clean-up), not the branch deployment: the
    # platform's privileged identity creates/drops the clone and grants the branch role on it.
    warehouse = clone_admin_warehouse(env)
    with warehouse.process_config_and_initialize().account_session() as session:
        if args.action == "create":
            result: object = clones.create_clone(session, env, snowflake_branch_role())
        elif args.action == "drop":
            result = clones.drop_clone(session, env)
        else:
            states = GitHubPullRequests.from_environment(os.environ)
            result = clones.cleanup_stale_clones(session, env, states, args.days)
    print(result)
    return 0


def cmd_comment(args: argparse.Namespace) -> int:
    from platform_core.deploy.pull_requests import GitHubPullRequests

    github = GitHubPullRequests.from_environment(os.environ)
    body = args.body_file.read_text()
    print(github.upsert_comment(args.pull_request, body, COMMENT_MARKER))
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    if args.in_clone:
        from mesh_tooling.preview.clone_preview import run_clone_preview

        report = run_clone_preview(find_mesh_root(), base=args.base, use_cache=not args.no_cache)
    else:
        from mesh_tooling.preview.branch import run_preview

        report = run_preview(
            find_mesh_root(),
            base=args.base,
            branch=args.branch,
            select=args.select,
            use_cache=not args.no_cache,
        )
    if args.format == "markdown":
        text = report.render_markdown()
    elif args.format == "json":
        text = json.dumps(report.as_json(), indent=2, default=str)
    else:
        text = report.render()
    if args.output:
        Path(args.output).write_text(text)
    else:
        print(text)
    return 0 if report.success else 1


def add_deploy_commands(sub: argparse._SubParsersAction) -> None:
    deploy = sub.add_parser("deploy", help="deployment manifests")
    deploy_sub = deploy.add_subparsers(dest="deploy_command", required=True)
    render = deploy_sub.add_parser(
        "render", help="write dagster_cloud.yaml, Helm values, docker-compose from dg.toml"
    )
    render.add_argument("--check", action="store_true", help="fail if a committed file differs")
    render.set_defaults(func=cmd_render)
    comment = deploy_sub.add_parser(
        "comment", help="create or update the impact comment on a pull request (GitHub API)"
    )
    comment.add_argument("--pull-request", type=int, required=True)
    comment.add_argument("--body-file", type=Path, required=True)
    comment.set_defaults(func=cmd_comment)

    changes = sub.add_parser("changes", help="locations and assets changed against a git ref")
    changes.add_argument("--base", default="origin/main", help="git ref to compare with")
    changes.add_argument("--format", choices=["locations", "json"], default="locations")
    changes.add_argument("--github-output", type=Path, help="append job outputs to this file")
    changes.add_argument(
        "--all", action="store_true", help="every location (a first deploy, a manual run)"
    )
    changes.set_defaults(func=cmd_changes)

    clone = sub.add_parser(
        "clone",
        help="create/drop the branch deployment's Snowflake clone; cleanup (production) drops "
        "clones of pull requests closed more than --days ago",
    )
    clone.add_argument("action", choices=["create", "drop", "cleanup"])
    clone.add_argument("--days", type=int, default=7, help="cleanup: closed for more than N days")
    clone.set_defaults(func=cmd_clone)

    preview = sub.add_parser(
        "preview", help="run what this branch changed on a copy of the local warehouse"
    )
    preview.add_argument("--base", default="main", help="git ref the branch is compared with")
    preview.add_argument("--branch", help="name of the preview (default: the current git branch)")
    preview.add_argument(
        "--select", nargs="*", help="asset keys to treat as changed (default: from git)"
    )
    preview.add_argument(
        "--in-clone",
        action="store_true",
        help="in a branch deployment: rebuild and diff inside the pull request's Snowflake clone",
    )
    preview.add_argument(
        "--no-cache",
        action="store_true",
        help="load the base and head graphs afresh (the base is cached per base commit)",
    )
    preview.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    preview.add_argument("--output", help="write the report to this file instead of stdout")
    preview.set_defaults(func=cmd_preview)
