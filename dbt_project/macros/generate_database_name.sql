{#
  Every model lands in the target's database: a branch builds in its clone, production in
  production, whatever a model's config says. A `database=` / `+database` override is ignored
  outside local development (and rejected by the governance gate, rule GOV092), so no dbt
  config can make a branch build write to the production database.
#}
{% macro generate_database_name(custom_database_name=none, node=none) -%}
    {%- if custom_database_name is none or target.name != 'duckdb' -%}
        {{ target.database }}
    {%- else -%}
        {{ custom_database_name | trim }}
    {%- endif -%}
{%- endmacro %}
