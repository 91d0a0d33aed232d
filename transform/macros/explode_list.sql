{#
  One row per item of a Python-list string such as "['drama', 'sport']".
  Renders a join clause adding `<alias>.<name>`; the list syntax cannot be parsed the same way
  on both engines, so this is the one place that dispatches on target.type.
#}
{% macro explode_python_list(column, alias, name) -%}
{%- if target.type == 'snowflake' -%}
    , lateral (
        select lower(trim(f.value::string)) as {{ name }}
        from table(flatten(input => parse_json(replace({{ column }}, '''', '"')))) f
    ) {{ alias }}
{%- else -%}
    , unnest(regexp_extract_all({{ column }}, '''([^'']+)''', 1)) as {{ alias }}({{ name }})
{%- endif -%}
{%- endmacro %}
