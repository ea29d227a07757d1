"""The mesh's dbt project, sliced per domain: the one place dbt becomes Dagster definitions.

Modules: project (folder, targets, the `DbtProject`, prepared manifest, quarantine, parse
errors), preparer (dagster-dbt's `DagsterDbtProjectPreparer`, the mesh's way), executable
(`mesh-dbt`, the dbt dagster-dbt runs), nodes (reading manifest nodes), translator (dbt ->
mesh asset specs), resource (the dbt CLI resource), assets (a domain's slice), catalog (dbt
models as catalog entries). Import them directly: importing dagster_dbt costs ~1.7 s, and the
catalog needs only `project` and `nodes`.
"""
