"""The mesh's dbt project, sliced per domain: the one place dbt becomes Dagster definitions.

Modules: project (folder, targets, prepared manifest, parse errors), nodes (reading manifest
nodes), translator (dbt -> mesh asset specs), resource (the dbt CLI resource), assets (a
domain's slice), catalog (dbt models as catalog entries). Import them directly: importing
dagster_dbt costs ~1.7 s, and the catalog needs only `nodes`.
"""
