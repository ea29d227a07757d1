"""Deployment of the mesh beyond one machine: Dagster+ (hybrid) and open-source Dagster.

- `topology`: every deployment manifest (dagster_cloud.yaml, Helm values, docker-compose,
  the OSS dagster.yaml) rendered from the workspace manifests, so location lists cannot drift.
- `image_context`: what goes into one location's image (stdlib only; runs inside `docker build`).
- `clones`: the per-pull-request Snowflake clone (create, drop, clean up stale ones).
- `changes` / `preview`: what a branch changed, and a local preview of it on a warehouse copy.
"""
