"""What a running location needs of the deployment: the per-pull-request Snowflake clone.

- `clones`: create, drop and clean up the branch deployment's clone.
- `clone_jobs`: the platform location's jobs around it; `pull_requests`: which PRs are closed.

Rendering the deployment manifests and previewing a branch are tooling (`mesh_tooling`).
"""
