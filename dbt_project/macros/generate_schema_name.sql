{#
  A model lands in its domain's schema in every environment: the schema is the model's dbt
  group (= the domain), never the target's default schema. Same layout as the Python products
  (<domain>.<name>), so both kinds of product sit side by side.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if node.config.get('group') -%}
        {{ node.config.get('group') | trim }}
    {%- elif custom_schema_name is not none -%}
        {{ custom_schema_name | trim }}
    {%- else -%}
        {{ target.schema }}
    {%- endif -%}
{%- endmacro %}
