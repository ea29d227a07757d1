"""mesh_tooling: what people and CI run, never installed in a location image.

- `cli/`: the `meshctl` command line (`main`, plus `deploy` and `streaming` subcommands).
- `runner`: the headless mesh run (every location in dependency order, one process).
- `sample/`: deterministic sample data, tenant databases (seeded, on the local server), clicks.
- `servers/`: local servers for `./mesh up` and the tests (PostgreSQL, Kafka broker).
- `manifests/`: the deployment manifests rendered from dg.toml, and each image's context.
- `preview/`: what a branch changes (`changes`) and its local preview (`branch`).
- `health_report`: the mesh health report (terminal and HTML).
- `scaffold/`: new code locations from templates.
"""
