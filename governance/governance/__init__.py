"""The mesh's governance gate: load every code location as Dagster does, build the global
graph, evaluate rules with stable ids, and report for people, machines and pull requests."""
