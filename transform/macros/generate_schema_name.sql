{# dbt: use the custom schema verbatim (staging / intermediate / marts), as Landfall does. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name is not none else target.schema }}
{%- endmacro %}
