"""What a running location needs of the deployment: the per-pull-request Snowflake clone.

- `clones`: create, drop and clean up the branch deployment's clone.
- `clone_lifecycle`: what the platform location registers around it per environment;
  `clone_jobs`: those jobs (production only); `pull_requests`: which PRs are closed.

Rendering the deployment manifests and previewing a branch are tooling (`mesh_tooling`).
"""
